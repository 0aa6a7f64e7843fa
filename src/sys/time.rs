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

/// `CLOCK_MONOTONIC` as seconds and nanoseconds (below 10^9): through the vDSO where the
/// kernel offers one (no syscall), else, or if that call fails, with the syscall.
#[inline]
fn clock() -> Result<(u64, u32), Errno> {
    // Tests: no vDSO, and a syscall a seccomp policy refuses.
    #[cfg(all(test, feature = "std"))]
    if REFUSE_CLOCK.with(core::cell::Cell::get) {
        return Err(Errno::EINVAL);
    }
    #[cfg(all(feature = "vdso", not(miri)))]
    if let Some(reading) = clock_vdso() {
        return Ok(reading);
    }
    clock_syscall()
}

/// A reading through the vDSO; `None` if it has no `clock_gettime` or the call refused
/// (its result is checked: a failed call's `timespec` is not a reading).
#[cfg(all(feature = "vdso", not(miri)))]
#[inline]
fn clock_vdso() -> Option<(u64, u32)> {
    reading_from(super::vdso::clock_gettime()?)
}

/// A `CLOCK_MONOTONIC` reading from `f`, checked: `None` if it failed or wrote no valid time.
#[cfg(feature = "vdso")]
#[cfg_attr(miri, allow(dead_code))]
#[inline]
fn reading_from(f: super::vdso::ClockGettime) -> Option<(u64, u32)> {
    let mut ts = timespec(Duration::ZERO);
    // SAFETY: `f` is the vDSO's clock_gettime (see `vdso::clock_gettime`) or a stand-in with
    // its contract; it writes one timespec into `ts`, which is ours to write.
    let r = unsafe { f(k::CLOCK_MONOTONIC as i32, &mut ts) };
    let nanos = u32::try_from(ts.tv_nsec)
        .ok()
        .filter(|&n| n < 1_000_000_000);
    match (r, u64::try_from(ts.tv_sec), nanos) {
        (0, Ok(secs), Some(nanos)) => Some((secs, nanos)),
        _ => None,
    }
}

/// A reading with the `clock_gettime` syscall.
fn clock_syscall() -> Result<(u64, u32), Errno> {
    let mut ts = timespec(Duration::ZERO);
    let ptr = core::ptr::addr_of_mut!(ts) as usize;
    // SAFETY: the kernel writes one timespec into `ts`, which is ours to write.
    let raw =
        unsafe { arch::syscall2(nr(k::__NR_clock_gettime), k::CLOCK_MONOTONIC as usize, ptr) };
    // Checked: a seccomp policy or an emulator can refuse even this call, and `ts` is then
    // not a reading.
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

    /// Readings alternate between the two paths: each is never before the one taken before
    /// it, whichever path took it.
    #[test]
    #[cfg(feature = "vdso")]
    #[cfg_attr(miri, ignore = "Miri has no vDSO: the syscall is the only path")]
    fn the_vdso_and_the_syscall_agree_and_move_forward() {
        #[cfg(not(miri))]
        {
            if super::super::vdso::clock_gettime().is_none() {
                std::println!("no vDSO clock_gettime here: the syscall path only");
            }
            let mut last = clock_syscall().unwrap();
            for i in 0..1000 {
                let now = if i % 2 == 0 {
                    clock_vdso().map_or_else(clock_syscall, Ok).unwrap()
                } else {
                    clock_syscall().unwrap()
                };
                assert!(now >= last, "{now:?} before {last:?} (reading {i})");
                assert!(now.1 < 1_000_000_000);
                last = now;
            }
        }
    }

    /// A vDSO call that fails, or writes no valid time, is no reading: the caller then
    /// makes the syscall.
    #[test]
    #[cfg(feature = "vdso")]
    fn a_refused_or_odd_vdso_reading_is_none() {
        unsafe extern "C" fn refuses(_: i32, ts: *mut k::__kernel_timespec) -> i32 {
            // SAFETY: the caller passes a writable timespec.
            unsafe { (*ts).tv_sec = 5 };
            -Errno::EINVAL.raw()
        }
        unsafe extern "C" fn odd(_: i32, ts: *mut k::__kernel_timespec) -> i32 {
            // SAFETY: the caller passes a writable timespec.
            unsafe { (*ts).tv_nsec = 1_000_000_000 };
            0
        }
        unsafe extern "C" fn negative(_: i32, ts: *mut k::__kernel_timespec) -> i32 {
            // SAFETY: the caller passes a writable timespec.
            unsafe { (*ts).tv_sec = -1 };
            0
        }
        unsafe extern "C" fn good(clock: i32, ts: *mut k::__kernel_timespec) -> i32 {
            assert_eq!(clock, k::CLOCK_MONOTONIC as i32);
            // SAFETY: the caller passes a writable timespec.
            unsafe { *ts = timespec(Duration::new(3, 7)) };
            0
        }
        assert_eq!(reading_from(refuses), None);
        assert_eq!(reading_from(odd), None);
        assert_eq!(reading_from(negative), None);
        assert_eq!(reading_from(good), Some((3, 7)));
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
