//! epoll: create, control, wait. Crate-private: only the pointer boundary registers `data` words.

use super::fd::AsRawFd;
use super::{arch, k, nr, owned, BorrowedFd, Errno, OwnedFd, RawFd, KERNEL_SIGSET_SIZE};
use core::sync::atomic::{AtomicBool, Ordering};
use core::time::Duration;

/// The kernel's `struct epoll_event`: packed (12 bytes) on x86_64, 16 bytes on aarch64.
pub(crate) type EpollEvent = k::epoll_event;

#[cfg(target_arch = "x86_64")]
static_assertions::assert_eq_size!(EpollEvent, [u8; 12]);
#[cfg(target_arch = "aarch64")]
static_assertions::assert_eq_size!(EpollEvent, [u8; 16]);

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

/// Waits for events on `epfd`, filling `buf` from its start. Returns the kernel's answer as
/// is: how many events it filled, or `-errno` (decode it with [`Errno::result`]); callers
/// test `> 0` first, which is one compare on the hot path. `None` waits forever. Uses
/// `epoll_pwait2` while the kernel has it, else `epoll_pwait`.
#[inline(always)]
pub(crate) fn epoll_wait(
    epfd: BorrowedFd<'_>,
    buf: &mut [EpollEvent],
    timeout: Option<Duration>,
) -> isize {
    if PWAIT2.load(Ordering::Relaxed) {
        let raw = epoll_pwait2(epfd, buf, timeout);
        if raw >= 0 || !fallback(raw) {
            return raw;
        }
    }
    epoll_pwait(epfd, buf, timeout)
}

/// Whether a failed `epoll_pwait2` means the kernel (or a seccomp filter) lacks it: then
/// every later wait uses `epoll_pwait`.
#[cold]
fn fallback(raw: isize) -> bool {
    let lacking = matches!(
        Errno::result(raw as usize),
        Err(Errno::ENOSYS | Errno::EPERM)
    );
    if lacking {
        PWAIT2.store(false, Ordering::Relaxed);
    }
    lacking
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

/// `epoll_pwait2` with a nanosecond timeout and no signal mask; the raw answer.
#[inline(always)]
fn epoll_pwait2(epfd: BorrowedFd<'_>, buf: &mut [EpollEvent], timeout: Option<Duration>) -> isize {
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
    raw as isize
}

/// `epoll_pwait` with a millisecond timeout (rounded up, clamped) and no signal mask; the raw
/// answer.
#[inline(always)]
fn epoll_pwait(epfd: BorrowedFd<'_>, buf: &mut [EpollEvent], timeout: Option<Duration>) -> isize {
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
    raw as isize
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
    use crate::sys::AsFd;

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
    fn bad_descriptors_give_errno() {
        let (r, w) = crate::sys::pipe(0).unwrap();
        drop(w);
        let ep = epoll_create1().unwrap();
        assert_eq!(
            epoll_ctl(ep.as_fd(), Ctl::Delete, r.as_raw_fd(), 0, 0),
            Err(Errno::ENOENT)
        );
    }
}
