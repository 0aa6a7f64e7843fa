//! The monotonic clock and timerfds.

use super::fd::AsRawFd;
use super::{arch, k, nr, owned, BorrowedFd, Errno, OwnedFd};
use core::time::Duration;

/// `timerfd` flag: reads never block (they fail with [`Errno::EAGAIN`] before an expiration).
pub const TFD_NONBLOCK: u32 = k::TFD_NONBLOCK;
/// `timerfd_settime` flag: `first` is a point on the monotonic clock, not a delay.
pub const TFD_TIMER_ABSTIME: u32 = k::TFD_TIMER_ABSTIME;

fn timespec(d: Duration) -> k::__kernel_timespec {
    k::__kernel_timespec {
        tv_sec: d.as_secs().min(i64::MAX as u64) as i64,
        tv_nsec: d.subsec_nanos() as i64,
    }
}

/// The monotonic clock (`CLOCK_MONOTONIC`): time since an unspecified start, usually boot.
///
/// # Errors
/// The kernel's error: none on an ordinary system, but a seccomp filter or an emulator may
/// refuse the call (`EPERM`, `ENOSYS`, `EINVAL`). A failed reading is never reported as a
/// time.
///
/// ```
/// let a = barepoll::sys::monotonic()?;
/// let b = barepoll::sys::monotonic()?;
/// assert!(b >= a);
/// # Ok::<(), barepoll::sys::Errno>(())
/// ```
pub fn monotonic() -> Result<Duration, Errno> {
    let (secs, nanos) = clock()?;
    Ok(Duration::new(secs, nanos))
}

/// The monotonic clock in nanoseconds (saturating after 584 years), or the kernel's error.
#[inline]
pub(crate) fn monotonic_ns() -> Result<u64, Errno> {
    let (secs, nanos) = clock()?;
    Ok(secs
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::from(nanos)))
}

/// `CLOCK_MONOTONIC` as seconds and nanoseconds (below 10^9).
fn clock() -> Result<(u64, u32), Errno> {
    let mut ts = timespec(Duration::ZERO);
    let ptr = core::ptr::addr_of_mut!(ts) as usize;
    // SAFETY: the kernel writes one timespec into `ts`, which is ours to write.
    let raw =
        unsafe { arch::syscall2(nr(k::__NR_clock_gettime), k::CLOCK_MONOTONIC as usize, ptr) };
    // Checked: a seccomp policy or an emulator can refuse even this call, and `ts` is then
    // not a reading.
    #[cfg(all(test, feature = "std"))]
    let raw = if REFUSE_CLOCK.with(core::cell::Cell::get) {
        (Errno::EINVAL.raw() as usize).wrapping_neg()
    } else {
        raw
    };
    Errno::result(raw)?;
    Ok((ts.tv_sec as u64, ts.tv_nsec as u32))
}

#[cfg(all(test, feature = "std"))]
std::thread_local! {
    /// Makes this thread's clock readings fail as a seccomp policy would (tests only).
    pub(crate) static REFUSE_CLOCK: core::cell::Cell<bool> = const { core::cell::Cell::new(false) };
}

/// Sleeps for `ns` nanoseconds on the monotonic clock (the reactor's back-off while a
/// registration it cannot remove keeps reporting). A signal may cut it short (`EINTR`).
pub(crate) fn nap(ns: u64) -> Result<(), Errno> {
    let ts = timespec(Duration::from_nanos(ns));
    let ptr = core::ptr::addr_of!(ts) as usize;
    let clock = k::CLOCK_MONOTONIC as usize;
    // SAFETY: the kernel only reads `ts`, a live timespec; the remainder pointer is null.
    let raw = unsafe { arch::syscall4_readonly(nr(k::__NR_clock_nanosleep), clock, 0, ptr, 0) };
    Errno::result(raw).map(drop)
}

/// Creates a timerfd on the monotonic clock; `flags` may hold [`TFD_NONBLOCK`]. Always
/// close-on-exec. It is readable once it expired: a read gives the number of expirations
/// since the last read, as a native-endian `u64`.
///
/// # Errors
/// The kernel's error (`EMFILE`, `ENFILE`, `ENOMEM`, `EINVAL` for unknown flags).
///
/// ```
/// use barepoll::sys::{self, AsFd, Errno};
/// let t = sys::timerfd(sys::TFD_NONBLOCK)?;
/// assert_eq!(sys::read(t.as_fd(), &mut [0; 8]), Err(Errno::EAGAIN)); // not armed
/// # Ok::<(), Errno>(())
/// ```
pub fn timerfd(flags: u32) -> Result<OwnedFd, Errno> {
    let flags = (flags | k::TFD_CLOEXEC) as usize;
    let clock = k::CLOCK_MONOTONIC as usize;
    // SAFETY: timerfd_create takes no pointers.
    let raw = unsafe { arch::syscall2(nr(k::__NR_timerfd_create), clock, flags) };
    Errno::result(raw).and_then(owned)
}

/// Arms `fd`: it expires `first` from now (or at `first` on the monotonic clock, with
/// [`TFD_TIMER_ABSTIME`]), then every `interval` (zero: once). A zero `first` disarms it.
/// Arming resets the count of expirations not yet read.
///
/// # Errors
/// The kernel's error (`EINVAL` for unknown flags or an out-of-range time, `EBADF`).
///
/// ```
/// use barepoll::sys::{self, AsFd};
/// use std::time::Duration;
/// let t = sys::timerfd(0)?;
/// sys::timerfd_settime(t.as_fd(), 0, Duration::from_millis(1), Duration::ZERO)?;
/// let mut buf = [0u8; 8];
/// sys::read(t.as_fd(), &mut buf)?; // blocks until it expires
/// assert_eq!(u64::from_ne_bytes(buf), 1);
/// # Ok::<(), sys::Errno>(())
/// ```
pub fn timerfd_settime(
    fd: BorrowedFd<'_>,
    flags: u32,
    first: Duration,
    interval: Duration,
) -> Result<(), Errno> {
    let spec = k::__kernel_itimerspec {
        it_interval: timespec(interval),
        it_value: timespec(first),
    };
    let (fd, spec) = (fd.as_raw_fd() as usize, core::ptr::addr_of!(spec) as usize);
    // SAFETY: the kernel only reads `spec`, a live itimerspec; the old value pointer is null.
    let raw = unsafe {
        arch::syscall4_readonly(nr(k::__NR_timerfd_settime), fd, flags as usize, spec, 0)
    };
    Errno::result(raw).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::{read, AsFd};

    #[test]
    fn the_monotonic_clock_moves_forward() {
        let a = monotonic().unwrap();
        let b = monotonic().unwrap();
        assert!(b >= a && a > Duration::ZERO);
    }

    #[test]
    #[cfg_attr(miri, ignore = "Miri has no timerfd")]
    fn timerfd_expires_and_counts() {
        let fd = timerfd(TFD_NONBLOCK).unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(read(fd.as_fd(), &mut buf), Err(Errno::EAGAIN));
        let start = monotonic().unwrap();
        timerfd_settime(fd.as_fd(), 0, Duration::from_millis(2), Duration::ZERO).unwrap();
        while read(fd.as_fd(), &mut buf) == Err(Errno::EAGAIN) {}
        assert!(monotonic().unwrap() - start >= Duration::from_millis(2));
        assert_eq!(u64::from_ne_bytes(buf), 1);
        // Absolute, already past: expires at once.
        timerfd_settime(fd.as_fd(), TFD_TIMER_ABSTIME, start, Duration::ZERO).unwrap();
        while read(fd.as_fd(), &mut buf) == Err(Errno::EAGAIN) {}
        assert_eq!(
            timerfd_settime(fd.as_fd(), 0xdead, start, Duration::ZERO),
            Err(Errno::EINVAL)
        );
    }
}
