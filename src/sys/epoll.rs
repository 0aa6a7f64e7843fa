//! epoll: create, control, wait. Crate-private: only the pointer boundary registers `data` words.

use super::fd::AsRawFd;
use super::{arch, k, nr, owned, BorrowedFd, Errno, OwnedFd, RawFd, KERNEL_SIGSET_SIZE};
use core::sync::atomic::{AtomicBool, Ordering};

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
    Errno::result(raw).and_then(owned)
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
/// test `> 0` first, which is one compare on the hot path. The timeout is in nanoseconds;
/// `None` waits forever. Uses `epoll_pwait2` while the kernel has it, else `epoll_pwait`.
#[inline(always)]
pub(crate) fn epoll_wait(
    epfd: BorrowedFd<'_>,
    buf: &mut [EpollEvent],
    timeout: Option<u64>,
) -> isize {
    let (epfd, events, max) = (
        epfd.as_raw_fd() as usize,
        buf.as_mut_ptr() as usize,
        buf.len(),
    );
    // `epoll_pwait` takes whole milliseconds: exact for an infinite wait, a poll, or a whole
    // number of milliseconds it can hold, so only the others need `epoll_pwait2` (and the
    // infinite waits of a busy loop skip the check).
    let exact_in_ms = timeout.map_or(true, |ns| ns % 1_000_000 == 0 && ns <= MAX_MS_IN_NS);
    if !exact_in_ms && !NO_PWAIT2.load(Ordering::Relaxed) {
        let ts = timeout.map(|ns| k::__kernel_timespec {
            tv_sec: (ns / NANOS_PER_SEC) as i64,
            tv_nsec: (ns % NANOS_PER_SEC) as i64,
        });
        let ts_ptr = ts.as_ref().map_or(0, |t| t as *const _ as usize);
        // SAFETY: the kernel writes at most `max` events into `buf`; `ts_ptr` is null or
        // points to a live timespec it only reads; the signal mask is null.
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
        } as isize;
        if raw >= 0 || !fallback(raw) {
            return raw;
        }
    }
    let ms = timeout.map_or(-1, millis_rounded_up) as isize as usize;
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

const NANOS_PER_SEC: u64 = 1_000_000_000;
/// The longest timeout `epoll_pwait` takes, in nanoseconds.
const MAX_MS_IN_NS: u64 = i32::MAX as u64 * 1_000_000;

/// Milliseconds for `epoll_pwait`: rounded up so a short timeout never becomes a busy poll,
/// clamped to `i32::MAX`.
fn millis_rounded_up(ns: u64) -> i32 {
    let ms = ns / 1_000_000 + u64::from(ns % 1_000_000 != 0);
    ms.min(i32::MAX as u64) as i32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::AsFd;
    use core::time::Duration;

    #[test]
    fn milliseconds_round_up_and_clamp() {
        let ms = |d: Duration| millis_rounded_up(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        assert_eq!(ms(Duration::ZERO), 0);
        assert_eq!(ms(Duration::from_nanos(1)), 1);
        assert_eq!(ms(Duration::from_micros(300)), 1);
        assert_eq!(ms(Duration::from_millis(5)), 5);
        assert_eq!(ms(Duration::from_micros(5_001)), 6);
        assert_eq!(ms(Duration::from_secs(u64::MAX)), i32::MAX);
        assert_eq!(ms(Duration::MAX), i32::MAX);
        // Around the clamp: 2_147_483.647 s is i32::MAX ms exactly.
        assert_eq!(ms(Duration::from_millis(i32::MAX as u64)), i32::MAX);
        assert_eq!(ms(Duration::from_millis(i32::MAX as u64 - 1)), i32::MAX - 1);
        assert_eq!(ms(Duration::new(2_147_483, 646_000_001)), i32::MAX);
        assert_eq!(ms(Duration::new(2_147_484, 0)), i32::MAX);
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
