//! `TimerFd`: a kernel timer as a descriptor, for programs that want a timer they can watch
//! like any other fd (or hand to another process). The reactor's own timers
//! ([`Timer`](crate::Timer)) cost no syscall to arm, cancel or reset, and one descriptor per
//! reactor however many there are; this one costs a syscall per change and a descriptor each.

use crate::sys::{self, AsFd, BorrowedFd, Errno, OwnedFd};
use crate::timer::Instant;
use core::time::Duration;

/// A timerfd on the monotonic clock, non-blocking and close-on-exec. Readable once expired.
///
/// ```
/// use barepoll::{Ops, Reactor, TimerFd};
/// use std::time::Duration;
///
/// let mut reactor = Reactor::new()?;
/// let mut tfd = TimerFd::new()?;
/// tfd.set_after(Duration::from_millis(2), None)?;
/// barepoll::interest().read()
///     .with_fd(tfd)
///     .with_handler(|t: &mut TimerFd, ops: &mut Ops<'_>| {
///         assert_eq!(t.expirations().unwrap(), 1);
///         ops.stop();
///     })
///     .register_into(&mut reactor)?;
/// reactor.run()?;
/// # Ok::<(), barepoll::Error>(())
/// ```
#[derive(Debug)]
pub struct TimerFd {
    fd: OwnedFd,
}

impl TimerFd {
    /// A disarmed timerfd.
    ///
    /// # Errors
    /// The kernel's error from `timerfd_create` (`EMFILE`, `ENOMEM`).
    ///
    /// ```
    /// let t = barepoll::TimerFd::new()?;
    /// # drop(t);
    /// # Ok::<(), barepoll::sys::Errno>(())
    /// ```
    pub fn new() -> Result<TimerFd, Errno> {
        Ok(TimerFd {
            fd: sys::timerfd(sys::TFD_NONBLOCK)?,
        })
    }

    /// Expires `first` from now (at once for zero), then every `period` if given.
    ///
    /// # Errors
    /// The kernel's error from `timerfd_settime`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let mut t = barepoll::TimerFd::new()?;
    /// t.set_after(Duration::from_secs(1), Some(Duration::from_secs(1)))?;
    /// # Ok::<(), barepoll::sys::Errno>(())
    /// ```
    pub fn set_after(&mut self, first: Duration, period: Option<Duration>) -> Result<(), Errno> {
        // A zero `it_value` would disarm: the smallest delay stands for "at once".
        let first = first.max(Duration::from_nanos(1));
        let period = period.unwrap_or(Duration::ZERO);
        sys::timerfd_settime(self.fd.as_fd(), 0, first, period)
    }

    /// Expires at `deadline` (at once if it has passed), then every `period` if given.
    ///
    /// # Errors
    /// The kernel's error from `timerfd_settime`.
    ///
    /// ```
    /// use barepoll::{Instant, TimerFd};
    /// use std::time::Duration;
    /// let mut t = TimerFd::new()?;
    /// t.set_at(Instant::now() + Duration::from_millis(5), None)?;
    /// # Ok::<(), barepoll::sys::Errno>(())
    /// ```
    pub fn set_at(&mut self, deadline: Instant, period: Option<Duration>) -> Result<(), Errno> {
        let at = Duration::from_nanos(deadline.as_nanos().max(1));
        let period = period.unwrap_or(Duration::ZERO);
        sys::timerfd_settime(self.fd.as_fd(), sys::TFD_TIMER_ABSTIME, at, period)
    }

    /// Disarms it; expirations not yet read are forgotten.
    ///
    /// # Errors
    /// The kernel's error from `timerfd_settime`.
    ///
    /// ```
    /// let mut t = barepoll::TimerFd::new()?;
    /// t.disarm()?;
    /// assert_eq!(t.expirations()?, 0);
    /// # Ok::<(), barepoll::sys::Errno>(())
    /// ```
    pub fn disarm(&mut self) -> Result<(), Errno> {
        sys::timerfd_settime(self.fd.as_fd(), 0, Duration::ZERO, Duration::ZERO)
    }

    /// How many times it expired since the last call (0 if none; the fd is readable while
    /// this would be non-zero).
    ///
    /// # Errors
    /// The kernel's error from `read`.
    ///
    /// ```
    /// let mut t = barepoll::TimerFd::new()?;
    /// assert_eq!(t.expirations()?, 0);
    /// # Ok::<(), barepoll::sys::Errno>(())
    /// ```
    pub fn expirations(&mut self) -> Result<u64, Errno> {
        let mut buf = [0u8; 8];
        match sys::read(self.fd.as_fd(), &mut buf) {
            Ok(_) => Ok(u64::from_ne_bytes(buf)),
            Err(Errno::EAGAIN) => Ok(0),
            Err(e) => Err(e),
        }
    }
}

impl AsFd for TimerFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
