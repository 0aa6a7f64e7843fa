//! The process: its id ([`Pid`], which names one process and never a group), and telling
//! whether a value was inherited through `fork()`.
//!
//! A [`ForkGuard`] is made by the process that owns a reactor. After `fork()` the child has a
//! copy of the reactor (and of its guard) but shares the epoll instance with the parent; the
//! guard tells the copy apart. Where the kernel honours `MADV_WIPEONFORK` (Linux 4.14+), the
//! guard is one word on a page of its own that the kernel zeroes in the child: checking it is
//! a load and a compare. Where it does not (older kernels, or qemu-user, which accepts any
//! advice and ignores it), the guard compares `getpid()` with the owner's pid: a syscall.

use super::{arch, k, nr, Errno};
use alloc::alloc::{alloc, dealloc, Layout};
use core::fmt;
use core::num::NonZeroI32;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU64, AtomicU8, Ordering};

/// A process id that names exactly one process: always positive.
///
/// The kernel reads a pid argument of 0 as "my process group", -1 as "every process I may
/// signal" and any other negative value as "process group |pid|"; a `Pid` can hold none of
/// them, so [`kill`](super::kill) with a `Pid` reaches one process, and the group and
/// broadcast forms are separate functions with their own names.
///
/// ```
/// use barepoll::sys::Pid;
/// assert_eq!(Pid::new(1).map(Pid::as_raw), Some(1));
/// assert_eq!(Pid::new(0), None);
/// assert_eq!(Pid::new(-1), None);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Pid(NonZeroI32);

impl Pid {
    /// The pid `raw`, if it is positive.
    ///
    /// ```
    /// use barepoll::sys::Pid;
    /// assert!(Pid::new(i32::MAX).is_some());
    /// assert!(Pid::new(i32::MIN).is_none());
    /// ```
    pub const fn new(raw: i32) -> Option<Pid> {
        if raw > 0 {
            match NonZeroI32::new(raw) {
                Some(n) => Some(Pid(n)),
                None => None,
            }
        } else {
            None
        }
    }

    /// The pid from an unsigned number (as `std::process::Child::id` gives it), if it is a
    /// positive `i32`: `0` and values from 2^31 on are not pids.
    ///
    /// ```
    /// use barepoll::sys::Pid;
    /// assert_eq!(Pid::from_u32(7), Pid::new(7));
    /// assert_eq!(Pid::from_u32(u32::MAX), None);
    /// assert_eq!(Pid::from_u32(1 << 31), None);
    /// ```
    pub const fn from_u32(raw: u32) -> Option<Pid> {
        if raw > i32::MAX as u32 {
            None
        } else {
            Pid::new(raw as i32)
        }
    }

    /// The calling process's pid (the same as [`getpid`]).
    ///
    /// # Errors
    /// None on an ordinary system; a seccomp filter may refuse the call (`EPERM`, `ENOSYS`).
    ///
    /// ```
    /// use barepoll::sys::Pid;
    /// assert_eq!(Pid::this()?.as_raw() as u32, std::process::id());
    /// # Ok::<(), barepoll::sys::Errno>(())
    /// ```
    pub fn this() -> Result<Pid, Errno> {
        getpid()
    }

    /// The number, always positive.
    ///
    /// ```
    /// assert_eq!(barepoll::sys::Pid::new(42).unwrap().as_raw(), 42);
    /// ```
    pub const fn as_raw(self) -> i32 {
        self.0.get()
    }

    /// Decodes a raw syscall return that is a pid: an error stays an error, and a value that
    /// is not a positive pid (which the kernel does not give) is `EINVAL`, never a `Pid`.
    pub(crate) fn from_syscall(raw: usize) -> Result<Pid, Errno> {
        let raw = Errno::result(raw)?;
        i32::try_from(raw)
            .ok()
            .and_then(Pid::new)
            .ok_or(Errno::EINVAL)
    }
}

impl fmt::Display for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// The id of the calling process.
///
/// # Errors
/// None on an ordinary system; a seccomp filter may refuse the call (`EPERM`, `ENOSYS`), and
/// a refused call is reported, never read as a pid.
///
/// ```
/// assert_eq!(barepoll::sys::getpid()?.as_raw() as u32, std::process::id());
/// # Ok::<(), barepoll::sys::Errno>(())
/// ```
pub fn getpid() -> Result<Pid, Errno> {
    Pid::from_syscall(getpid_raw())
}

/// `getpid` as the kernel returned it: a pid, or `-errno` where it was refused (which equals
/// no pid, as a `usize`).
#[inline]
fn getpid_raw() -> usize {
    // SAFETY: getpid takes no arguments.
    unsafe { arch::syscall0(nr(k::__NR_getpid)) }
}

/// The id of the calling thread.
///
/// ```
/// let main = barepoll::sys::gettid();
/// let other = std::thread::spawn(barepoll::sys::gettid).join().unwrap();
/// assert_ne!(main, other);
/// ```
pub fn gettid() -> u32 {
    // SAFETY: gettid takes no arguments and cannot fail.
    unsafe { arch::syscall0(nr(k::__NR_gettid)) as u32 }
}

/// Ends the process (every thread) with `status`, running no destructor.
///
/// ```no_run
/// barepoll::sys::exit_group(0);
/// ```
pub fn exit_group(status: i32) -> ! {
    loop {
        // SAFETY: exit_group takes no pointers and does not return.
        unsafe { arch::syscall1(nr(k::__NR_exit_group), status as usize) };
    }
}

const PAGE: usize = 4096;
/// The word's tag on a wipe-on-fork page, in the process that made it; a child reads 0.
const OWNER: u64 = 0x100;
/// The word's tag where pages are not wiped: never quiet, so every turn asks `getpid()`.
const PID: u64 = 0x200;
/// The low byte: the owner's flags (see [`ForkGuard::set`]).
const FLAGS: u64 = 0xff;

/// Whether `madvise` answers honestly: a real kernel refuses advice it does not know, an
/// emulator that ignores advice accepts anything. 0 unknown, 1 honest, 2 not.
static MADVISE_HONEST: AtomicU8 = AtomicU8::new(0);

/// The word a reactor checks before every turn: the fork guard, plus eight flags of the
/// reactor's own (what the turn must attend to), so that a turn with nothing to attend to in
/// the process that made the reactor costs one load and one compare.
pub(crate) struct ForkGuard {
    /// `tag | flags`: on a wipe-on-fork page (tag [`OWNER`]), or in the heap (tag [`PID`]).
    word: NonNull<AtomicU64>,
    on_page: bool,
    /// The owner's `getpid`, as returned (checked to be a pid when the guard was made).
    pid: usize,
}

// SAFETY: the guard owns its word exclusively (a page unmapped once, or a heap word freed
// once, in `drop`); the word is an atomic, so using it from whichever thread owns the guard
// is sound.
unsafe impl Send for ForkGuard {}
// SAFETY: every access to the word is an atomic load or store, and `pid` is read only; a
// guard shared between threads (a registrar's) is only asked `inherited`, which reads.
unsafe impl Sync for ForkGuard {}

impl ForkGuard {
    /// A guard for the calling process.
    ///
    /// # Errors
    /// `ENOMEM` if neither a page nor a heap word can be had.
    pub(crate) fn new() -> Result<ForkGuard, Errno> {
        let pid = getpid_raw();
        Errno::result(pid)?;
        if let Some(word) = wipe_on_fork_page() {
            word_of(word).store(OWNER, Ordering::Relaxed);
            return Ok(ForkGuard {
                word,
                on_page: true,
                pid,
            });
        }
        // SAFETY: the layout of an `AtomicU64` is not zero-sized.
        let word = unsafe { alloc(Layout::new::<AtomicU64>()) }.cast::<AtomicU64>();
        let word = NonNull::new(word).ok_or(Errno::ENOMEM)?;
        // SAFETY: `word` is fresh memory for one `AtomicU64`, owned by this guard.
        unsafe { word.as_ptr().write(AtomicU64::new(PID)) };
        Ok(ForkGuard {
            word,
            on_page: false,
            pid,
        })
    }

    /// Whether no flag is set and the word shows the process that made the guard: a load and
    /// a compare. `false` says only that [`flags`](ForkGuard::flags) and
    /// [`inherited`](ForkGuard::inherited) are worth asking.
    #[inline(always)]
    pub(crate) fn quiet(&self) -> bool {
        word_of(self.word).load(Ordering::Relaxed) == OWNER
    }

    /// The flags set.
    #[inline(always)]
    pub(crate) fn flags(&self) -> u8 {
        (word_of(self.word).load(Ordering::Relaxed) & FLAGS) as u8
    }

    /// Sets `flags` (a turn stops being quiet until they are cleared).
    #[inline(always)]
    pub(crate) fn set(&self, flags: u8) {
        let word = word_of(self.word);
        word.store(
            word.load(Ordering::Relaxed) | u64::from(flags),
            Ordering::Relaxed,
        );
    }

    /// Clears `flags`.
    #[inline(always)]
    pub(crate) fn clear(&self, flags: u8) {
        let word = word_of(self.word);
        word.store(
            word.load(Ordering::Relaxed) & !u64::from(flags),
            Ordering::Relaxed,
        );
    }

    /// Whether this guard was inherited through `fork()` by the calling process: the page's
    /// tag is gone, or (where pages are not wiped) `getpid()` differs. A refused `getpid()`
    /// counts as inherited: the reactor then refuses to touch the epoll set, never the reverse.
    #[inline]
    pub(crate) fn inherited(&self) -> bool {
        let tag = word_of(self.word).load(Ordering::Relaxed) & !FLAGS;
        tag != OWNER && (self.on_page || getpid_raw() != self.pid)
    }
}

fn word_of<'a>(word: NonNull<AtomicU64>) -> &'a AtomicU64 {
    // SAFETY: callers pass the word of a live guard (its page or its heap word), which stays
    // valid until the guard drops; an `AtomicU64` is only ever shared.
    unsafe { word.as_ref() }
}

impl Drop for ForkGuard {
    fn drop(&mut self) {
        if self.on_page {
            // SAFETY: the page was mapped by `wipe_on_fork_page` with this length and is
            // used by nothing else.
            unsafe { arch::syscall2(nr(k::__NR_munmap), self.word.as_ptr() as usize, PAGE) };
        } else {
            // SAFETY: the word was allocated in `new` with this layout, and is freed once.
            unsafe { dealloc(self.word.as_ptr().cast(), Layout::new::<AtomicU64>()) };
        }
    }
}

/// A fresh private page the kernel will zero in a fork's child, or `None` where that cannot
/// be relied on.
fn wipe_on_fork_page() -> Option<NonNull<AtomicU64>> {
    if MADVISE_HONEST.load(Ordering::Relaxed) == 2 {
        return None;
    }
    let prot = (k::PROT_READ | k::PROT_WRITE) as usize;
    let flags = (k::MAP_PRIVATE | k::MAP_ANONYMOUS) as usize;
    // SAFETY: an anonymous private mapping chosen by the kernel touches no existing memory.
    let raw = unsafe { arch::syscall6(nr(k::__NR_mmap), 0, PAGE, prot, flags, usize::MAX, 0) };
    let page = Errno::result(raw).ok()?;
    let madvise = |advice: u32| {
        // SAFETY: advice on the page just mapped, which nothing else uses.
        let raw = unsafe { arch::syscall3(nr(k::__NR_madvise), page, PAGE, advice as usize) };
        Errno::result(raw)
    };
    let honest = match MADVISE_HONEST.load(Ordering::Relaxed) {
        1 => true,
        _ => {
            let honest = madvise(0xdead) == Err(Errno::EINVAL);
            MADVISE_HONEST.store(if honest { 1 } else { 2 }, Ordering::Relaxed);
            honest
        }
    };
    if honest && madvise(k::MADV_WIPEONFORK).is_ok() {
        return NonNull::new(page as *mut AtomicU64);
    }
    // SAFETY: unmaps the page mapped above, which nothing else uses.
    unsafe { arch::syscall2(nr(k::__NR_munmap), page, PAGE) };
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_guard_is_quiet_until_flagged_and_tells_a_wiped_page() {
        let guard = ForkGuard::new().unwrap();
        assert!(!guard.inherited());
        assert_eq!(Ok(guard.pid as i32), getpid().map(Pid::as_raw));
        assert_eq!(
            guard.quiet(),
            guard.on_page,
            "only a wiped-on-fork page is ever quiet"
        );
        guard.set(4 | 1);
        assert_eq!(guard.flags(), 5);
        assert!(!guard.quiet() && !guard.inherited());
        guard.clear(1);
        assert_eq!(guard.flags(), 4);
        guard.clear(4);
        assert_eq!(guard.quiet(), guard.on_page);
        if guard.on_page {
            // A wiped page (what the child sees) is told apart, flags or not.
            word_of(guard.word).store(0, Ordering::Relaxed);
            assert!(guard.inherited() && !guard.quiet());
            guard.set(2);
            assert!(guard.inherited() && !guard.quiet());
        }
    }
}
