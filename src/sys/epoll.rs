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

/// Set once `epoll_pwait2` answered `ENOSYS` (kernel < 5.11, qemu-user) or `EPERM` (a
/// seccomp filter that predates it; the call itself never fails with EPERM): from then on
/// every wait in this process uses `epoll_pwait`. (Zero at start, so it takes no bytes in a
/// static binary's file.)
static NO_PWAIT2: AtomicBool = AtomicBool::new(false);

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
    let ts = timeout.map(|d| k::__kernel_timespec {
        tv_sec: d.as_secs().min(i64::MAX as u64) as i64,
        tv_nsec: d.subsec_nanos() as i64,
    });
    let (epfd, events, max) = (
        epfd.as_raw_fd() as usize,
        buf.as_mut_ptr() as usize,
        buf.len(),
    );
    loop {
        // The two calls differ only in their number and the timeout argument: a timespec
        // (null for ever), or milliseconds rounded up (-1 for ever). One call site serves both.
        let pwait2 = !NO_PWAIT2.load(Ordering::Relaxed);
        let (call, limit) = if pwait2 {
            let ts_ptr = ts.as_ref().map_or(0, |t| t as *const _ as usize);
            (k::__NR_epoll_pwait2, ts_ptr)
        } else {
            let ms = timeout.map_or(-1, millis_rounded_up);
            (k::__NR_epoll_pwait, ms as isize as usize)
        };
        // SAFETY: the kernel writes at most `max` events into `buf`; the timeout argument is
        // a number, or null or a pointer to a live timespec the kernel only reads; the signal
        // mask is null.
        let raw =
            unsafe { arch::syscall6(nr(call), epfd, events, max, limit, 0, KERNEL_SIGSET_SIZE) };
        let raw = raw as isize;
        if raw >= 0 || !pwait2 || !fallback(raw) {
            return raw;
        }
    }
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
        NO_PWAIT2.store(true, Ordering::Relaxed);
    }
    lacking
}

/// Forces the `epoll_pwait` fallback for the rest of the process (tests of the fallback).
#[cfg(test)]
pub(crate) fn forget_pwait2() {
    NO_PWAIT2.store(true, Ordering::Relaxed);
}

/// Whether waits currently go through `epoll_pwait2`.
#[cfg(test)]
pub(crate) fn uses_pwait2() -> bool {
    !NO_PWAIT2.load(Ordering::Relaxed)
}

/// Milliseconds for `epoll_pwait`: rounded up so a short timeout never becomes a busy poll,
/// clamped to `i32::MAX`.
fn millis_rounded_up(d: Duration) -> i32 {
    // In u64, not through `as_nanos()`: 128-bit division pulls a runtime routine into static
    // binaries. Seconds past the clamp are tested first, so the product cannot overflow.
    const MAX_SECS: u64 = i32::MAX as u64 / 1000;
    if d.as_secs() > MAX_SECS {
        return i32::MAX;
    }
    let ms = d.as_secs() * 1000 + (u64::from(d.subsec_nanos()) + 999_999) / 1_000_000;
    ms.min(i32::MAX as u64) as i32
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
        assert_eq!(millis_rounded_up(Duration::MAX), i32::MAX);
        // Around the clamp: 2_147_483.647 s is i32::MAX ms exactly.
        assert_eq!(
            millis_rounded_up(Duration::from_millis(i32::MAX as u64)),
            i32::MAX
        );
        assert_eq!(
            millis_rounded_up(Duration::from_millis(i32::MAX as u64 - 1)),
            i32::MAX - 1
        );
        assert_eq!(
            millis_rounded_up(Duration::new(2_147_483, 646_000_001)),
            i32::MAX
        );
        assert_eq!(
            millis_rounded_up(Duration::new(2_147_483, 999_999_999)),
            i32::MAX
        );
        assert_eq!(millis_rounded_up(Duration::new(2_147_484, 0)), i32::MAX);
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
