//! The syscall boundary: the only place that talks to the kernel.
//!
//! `arch/` holds one `asm!` template per arity; this file turns them into typed, safe
//! wrappers. Every descriptor created here is close-on-exec. The epoll calls are crate-private:
//! only `thin.rs` may register a `data` word with the kernel.
//!
//! The public part (`eventfd`, `pipe`, `read`, `write`, the fd types and [`Errno`]) is what a
//! program without libc needs to make descriptors for the reactor to watch.

mod errno;
mod fd;

// Miri cannot run `asm!`: under it the same templates are answered by the libc functions it
// emulates (see arch/miri.rs), so every wrapper below is still the code Miri checks.
#[cfg_attr(all(not(miri), target_arch = "x86_64"), path = "arch/x86_64.rs")]
#[cfg_attr(all(not(miri), target_arch = "aarch64"), path = "arch/aarch64.rs")]
#[cfg_attr(miri, path = "arch/miri.rs")]
mod arch;

pub use errno::Errno;
pub use fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};

use core::sync::atomic::{AtomicBool, Ordering};
use core::time::Duration;
use linux_raw_sys::general as k;

/// `eventfd` flag: reads and writes never block (they fail with [`Errno::EAGAIN`]).
pub const EFD_NONBLOCK: u32 = k::EFD_NONBLOCK;
/// `eventfd` flag: each read takes 1 from the counter instead of draining it.
pub const EFD_SEMAPHORE: u32 = k::EFD_SEMAPHORE;
/// `pipe` flag: reads and writes never block (they fail with [`Errno::EAGAIN`]).
pub const O_NONBLOCK: u32 = k::O_NONBLOCK;

/// The kernel's `struct epoll_event`: packed (12 bytes) on x86_64, 16 bytes on aarch64.
pub(crate) type EpollEvent = k::epoll_event;

#[cfg(target_arch = "x86_64")]
static_assertions::assert_eq_size!(EpollEvent, [u8; 12]);
#[cfg(target_arch = "aarch64")]
static_assertions::assert_eq_size!(EpollEvent, [u8; 16]);
// The node address is stored in the 64-bit `data` word and read back as a pointer.
static_assertions::assert_eq_size!(usize, u64);
static_assertions::assert_eq_size!(RawFd, i32);
// The kernel's signal set, passed as `sigsetsize`, is 8 bytes on both arches (not glibc's 128).
const KERNEL_SIGSET_SIZE: usize = 8;
static_assertions::const_assert_eq!(
    linux_raw_sys::general::_NSIG as usize / 8,
    KERNEL_SIGSET_SIZE
);

#[inline(always)]
fn nr(n: u32) -> usize {
    n as usize
}

fn owned(raw: usize) -> OwnedFd {
    // SAFETY: called only on a descriptor the kernel has just returned to us; nobody else
    // knows the number yet, so this value becomes its only owner.
    unsafe { OwnedFd::from_raw_fd(raw as RawFd) }
}

/// Closes `fd`, ignoring the result; `close` is never retried (the number may already be reused).
///
/// # Safety
/// The caller owns `fd` and never uses the number again.
#[cfg_attr(feature = "std", allow(dead_code))]
pub(crate) unsafe fn close(fd: RawFd) {
    // SAFETY: close takes no pointers; the caller gives up ownership of `fd`.
    let _ = unsafe { arch::syscall1(nr(k::__NR_close), fd as usize) };
}

/// Creates an eventfd with counter `initval`; `flags` may hold [`EFD_NONBLOCK`] and
/// [`EFD_SEMAPHORE`]. The descriptor is always close-on-exec.
pub fn eventfd(initval: u32, flags: u32) -> Result<OwnedFd, Errno> {
    let flags = (flags | k::EFD_CLOEXEC) as usize;
    // SAFETY: eventfd2 takes no pointers.
    let raw = unsafe { arch::syscall2(nr(k::__NR_eventfd2), initval as usize, flags) };
    Errno::result(raw).map(owned)
}

/// Creates a pipe and returns `(read end, write end)`; `flags` may hold [`O_NONBLOCK`]. Both
/// ends are close-on-exec.
pub fn pipe(flags: u32) -> Result<(OwnedFd, OwnedFd), Errno> {
    let mut fds = [0i32; 2];
    let flags = (flags | k::O_CLOEXEC) as usize;
    // SAFETY: `fds` is a writable array of two ints, as pipe2 requires.
    let raw = unsafe { arch::syscall2(nr(k::__NR_pipe2), fds.as_mut_ptr() as usize, flags) };
    Errno::result(raw)?;
    Ok((owned(fds[0] as usize), owned(fds[1] as usize)))
}

/// Reads into `buf`; returns the number of bytes read (0 at end of file).
pub fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> Result<usize, Errno> {
    let (ptr, len) = (buf.as_mut_ptr() as usize, buf.len());
    // SAFETY: the kernel writes at most `len` bytes into `buf`, which is ours to write.
    let raw = unsafe { arch::syscall3(nr(k::__NR_read), fd.as_raw_fd() as usize, ptr, len) };
    Errno::result(raw)
}

/// Writes from `buf`; returns the number of bytes written.
pub fn write(fd: BorrowedFd<'_>, buf: &[u8]) -> Result<usize, Errno> {
    let (ptr, len) = (buf.as_ptr() as usize, buf.len());
    let fd = fd.as_raw_fd() as usize;
    // SAFETY: the kernel reads at most `len` bytes from `buf`, which stays borrowed meanwhile.
    let raw = unsafe { arch::syscall3_readonly(nr(k::__NR_write), fd, ptr, len) };
    Errno::result(raw)
}

/// Creates a close-on-exec epoll instance.
pub(crate) fn epoll_create1() -> Result<OwnedFd, Errno> {
    let flags = k::EPOLL_CLOEXEC as usize;
    // SAFETY: epoll_create1 takes no pointers.
    let raw = unsafe { arch::syscall1(nr(k::__NR_epoll_create1), flags) };
    Errno::result(raw).map(owned)
}

/// The three `epoll_ctl` operations.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Ctl {
    Add = k::EPOLL_CTL_ADD as isize,
    Modify = k::EPOLL_CTL_MOD as isize,
    Delete = k::EPOLL_CTL_DEL as isize,
}

/// `epoll_ctl(epfd, op, fd, {events, data})`. `fd` is a raw number because the registry
/// deletes with the number it captured at registration (invariant 7).
pub(crate) fn epoll_ctl(
    epfd: BorrowedFd<'_>,
    op: Ctl,
    fd: RawFd,
    events: u32,
    data: u64,
) -> Result<(), Errno> {
    let event = EpollEvent { events, data };
    let (epfd, fd) = (epfd.as_raw_fd() as usize, fd as usize);
    let ev = core::ptr::addr_of!(event) as usize;
    // SAFETY: `event` is a live, initialised epoll_event that the kernel only reads.
    let raw = unsafe { arch::syscall4_readonly(nr(k::__NR_epoll_ctl), epfd, op as usize, fd, ev) };
    Errno::result(raw).map(drop)
}

/// `false` once `epoll_pwait2` answered `ENOSYS` (kernel < 5.11, qemu-user) or `EPERM` (a
/// seccomp filter that predates it; the call itself never fails with EPERM): from then on
/// every wait in this process uses `epoll_pwait`.
static PWAIT2: AtomicBool = AtomicBool::new(true);

/// Waits for events on `epfd`, filling `buf` from its start; returns how many it filled.
/// `None` waits forever. Uses `epoll_pwait2` while the kernel has it, else `epoll_pwait`.
#[inline]
pub(crate) fn epoll_wait(
    epfd: BorrowedFd<'_>,
    buf: &mut [EpollEvent],
    timeout: Option<Duration>,
) -> Result<usize, Errno> {
    if PWAIT2.load(Ordering::Relaxed) {
        match epoll_pwait2(epfd, buf, timeout) {
            Err(Errno::ENOSYS | Errno::EPERM) => PWAIT2.store(false, Ordering::Relaxed),
            done => return done,
        }
    }
    epoll_pwait(epfd, buf, timeout)
}

/// Forces the `epoll_pwait` fallback for the rest of the process (tests of the fallback).
#[cfg(test)]
pub(crate) fn forget_pwait2() {
    PWAIT2.store(false, Ordering::Relaxed);
}

/// Whether waits currently go through `epoll_pwait2`.
#[cfg(test)]
pub(crate) fn uses_pwait2() -> bool {
    PWAIT2.load(Ordering::Relaxed)
}

/// The kernel's `EP_MAX_EVENTS`: more than this many events per wait is `EINVAL`. Event
/// buffers are sized within it once, when made (`thin::Events::new`), not on every wait; a
/// longer one would only be refused (the kernel reads `maxevents` as an `int`, so a length
/// that does not fit can only shrink or turn negative, never exceed the buffer).
pub(crate) const MAX_EVENTS: usize = i32::MAX as usize / core::mem::size_of::<EpollEvent>();

/// `epoll_pwait2` with a nanosecond timeout and no signal mask.
#[inline]
pub(crate) fn epoll_pwait2(
    epfd: BorrowedFd<'_>,
    buf: &mut [EpollEvent],
    timeout: Option<Duration>,
) -> Result<usize, Errno> {
    let ts = timeout.map(|d| k::__kernel_timespec {
        tv_sec: d.as_secs().min(i64::MAX as u64) as i64,
        tv_nsec: d.subsec_nanos() as i64,
    });
    let ts_ptr = ts.as_ref().map_or(0, |t| t as *const _ as usize);
    let (epfd, events, max) = (
        epfd.as_raw_fd() as usize,
        buf.as_mut_ptr() as usize,
        buf.len(),
    );
    // SAFETY: the kernel writes at most `max` events into `buf`; `ts_ptr` is null or points to
    // a live timespec it only reads; the signal mask is null.
    let raw = unsafe {
        arch::syscall6(
            nr(k::__NR_epoll_pwait2),
            epfd,
            events,
            max,
            ts_ptr,
            0,
            KERNEL_SIGSET_SIZE,
        )
    };
    Errno::result(raw)
}

/// `epoll_pwait` with a millisecond timeout (rounded up, clamped) and no signal mask.
#[inline]
pub(crate) fn epoll_pwait(
    epfd: BorrowedFd<'_>,
    buf: &mut [EpollEvent],
    timeout: Option<Duration>,
) -> Result<usize, Errno> {
    let ms = timeout.map_or(-1, millis_rounded_up) as isize as usize;
    let (epfd, events, max) = (
        epfd.as_raw_fd() as usize,
        buf.as_mut_ptr() as usize,
        buf.len(),
    );
    // SAFETY: the kernel writes at most `max` events into `buf`; the signal mask is null.
    let raw = unsafe {
        arch::syscall6(
            nr(k::__NR_epoll_pwait),
            epfd,
            events,
            max,
            ms,
            0,
            KERNEL_SIGSET_SIZE,
        )
    };
    Errno::result(raw)
}

/// Milliseconds for `epoll_pwait`: rounded up so a short timeout never becomes a busy poll,
/// clamped to `i32::MAX`.
fn millis_rounded_up(d: Duration) -> i32 {
    // (`div_ceil` is newer than the MSRV; a Duration's nanoseconds cannot overflow u128 here.)
    let ms = (d.as_nanos() + 999_999) / 1_000_000;
    ms.min(i32::MAX as u128) as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milliseconds_round_up_and_clamp() {
        assert_eq!(millis_rounded_up(Duration::ZERO), 0);
        assert_eq!(millis_rounded_up(Duration::from_nanos(1)), 1);
        assert_eq!(millis_rounded_up(Duration::from_micros(300)), 1);
        assert_eq!(millis_rounded_up(Duration::from_millis(5)), 5);
        assert_eq!(millis_rounded_up(Duration::from_micros(5_001)), 6);
        assert_eq!(millis_rounded_up(Duration::from_secs(u64::MAX)), i32::MAX);
    }

    #[test]
    fn eventfd_and_pipe_round_trip() {
        let efd = eventfd(0, EFD_NONBLOCK).unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(read(efd.as_fd(), &mut buf), Err(Errno::EAGAIN));
        assert_eq!(write(efd.as_fd(), &3u64.to_ne_bytes()), Ok(8));
        assert_eq!(read(efd.as_fd(), &mut buf), Ok(8));
        assert_eq!(u64::from_ne_bytes(buf), 3);

        let (r, w) = pipe(O_NONBLOCK).unwrap();
        assert_eq!(write(w.as_fd(), b"abc"), Ok(3));
        assert_eq!(read(r.as_fd(), &mut buf), Ok(3));
        assert_eq!(&buf[..3], b"abc");
        drop(w);
        assert_eq!(read(r.as_fd(), &mut buf), Ok(0));
    }

    #[test]
    fn bad_descriptors_give_errno() {
        let (r, w) = pipe(0).unwrap();
        drop(w);
        // An eventfd takes 8-byte writes only.
        let efd = eventfd(0, 0).unwrap();
        assert_eq!(write(efd.as_fd(), b"x"), Err(Errno::EINVAL));
        let ep = epoll_create1().unwrap();
        assert_eq!(
            epoll_ctl(ep.as_fd(), Ctl::Delete, r.as_raw_fd(), 0, 0),
            Err(Errno::ENOENT)
        );
    }
}
