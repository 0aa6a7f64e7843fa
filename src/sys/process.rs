//! The process: its id, and telling whether a value was inherited through `fork()`.
//!
//! A [`ForkGuard`] is made by the process that owns a reactor. After `fork()` the child has a
//! copy of the reactor (and of its guard) but shares the epoll instance with the parent; the
//! guard tells the copy apart. Where the kernel honours `MADV_WIPEONFORK` (Linux 4.14+), the
//! guard is one word on a page of its own that the kernel zeroes in the child: checking it is
//! a load and a compare. Where it does not (older kernels, or qemu-user, which accepts any
//! advice and ignores it), the guard compares `getpid()` with the owner's pid: a syscall.

use super::{arch, k, nr, Errno};
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU64, AtomicU8, Ordering};

/// The id of the calling process.
pub fn getpid() -> u32 {
    // SAFETY: getpid takes no arguments and cannot fail.
    unsafe { arch::syscall0(nr(k::__NR_getpid)) as u32 }
}

/// The id of the calling thread.
pub fn gettid() -> u32 {
    // SAFETY: gettid takes no arguments and cannot fail.
    unsafe { arch::syscall0(nr(k::__NR_gettid)) as u32 }
}

/// Ends the process (every thread) with `status`, running no destructor.
pub fn exit_group(status: i32) -> ! {
    loop {
        // SAFETY: exit_group takes no pointers and does not return.
        unsafe { arch::syscall1(nr(k::__NR_exit_group), status as usize) };
    }
}

const PAGE: usize = 4096;
/// The guard word's value in the process that made it; a fork's child reads 0 on a page.
const OWNER: u64 = 0x6261_7265_706f_6c6c;

/// Whether `madvise` answers honestly: a real kernel refuses advice it does not know, an
/// emulator that ignores advice accepts anything. 0 unknown, 1 honest, 2 not.
static MADVISE_HONEST: AtomicU8 = AtomicU8::new(0);

/// Tells the process that made it from a child that inherited it through `fork()`.
pub(crate) struct ForkGuard {
    /// On a wipe-on-fork page, or (fallback) [`UNGUARDED`].
    word: NonNull<AtomicU64>,
    on_page: bool,
    pid: u32,
}

// SAFETY: the guard owns its page exclusively (unmapped once, in `drop`) or points to a
// static; the word is an atomic, so reading it from any thread is sound.
unsafe impl Send for ForkGuard {}

impl ForkGuard {
    /// A guard for the calling process. It allocates nothing from the heap.
    pub(crate) fn new() -> ForkGuard {
        let pid = getpid();
        if let Some(word) = wipe_on_fork_page() {
            word_of(word).store(OWNER, Ordering::Relaxed);
            return ForkGuard {
                word,
                on_page: true,
                pid,
            };
        }
        ForkGuard {
            word: NonNull::from(&UNGUARDED),
            on_page: false,
            pid,
        }
    }

    /// Whether this guard was inherited through `fork()` by the calling process: a load and a
    /// compare where the kernel wipes pages on fork, `getpid()` where it does not.
    #[inline(always)]
    pub(crate) fn inherited(&self) -> bool {
        word_of(self.word).load(Ordering::Relaxed) != OWNER && self.inherited_slow()
    }

    #[cold]
    #[inline(never)]
    fn inherited_slow(&self) -> bool {
        self.on_page || getpid() != self.pid
    }
}

/// The fallback guard word: always 0, so every check asks `getpid()`.
static UNGUARDED: AtomicU64 = AtomicU64::new(0);

fn word_of<'a>(word: NonNull<AtomicU64>) -> &'a AtomicU64 {
    // SAFETY: callers pass the word of a live guard (its mapped page, or a static), which
    // stays valid until the guard drops; an `AtomicU64` is only ever shared.
    unsafe { word.as_ref() }
}

impl Drop for ForkGuard {
    fn drop(&mut self) {
        if self.on_page {
            // SAFETY: the page was mapped by `wipe_on_fork_page` with this length and is
            // used by nothing else.
            unsafe { arch::syscall2(nr(k::__NR_munmap), self.word.as_ptr() as usize, PAGE) };
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
    fn a_new_guard_is_not_inherited() {
        let guard = ForkGuard::new();
        assert!(!guard.inherited());
        assert_eq!(guard.pid, getpid());
        if guard.on_page {
            // A wiped page (what the child sees) is told apart.
            word_of(guard.word).store(0, Ordering::Relaxed);
            assert!(guard.inherited());
        }
    }
}
