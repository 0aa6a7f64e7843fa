//! The `Subscriber` trait: a value that owns an fd and handles its events.

use crate::interest::Event;
use crate::ops::Ops;
use crate::sys::AsFd;

/// Something the reactor watches: it owns an fd and handles the events reported for it.
///
/// The fd is read through [`AsFd`] once, at registration; the reactor never asks again, so a
/// subscriber whose `as_fd` changes its answer cannot confuse it. The subscriber is dropped
/// exactly once: when it is deleted (when the batch is done if deleted during one; see
/// [`Ops::delete`]) or when the reactor drops.
///
/// ```
/// use barepoll::{sys, sys::AsFd, Event, Ops, Reactor, Subscriber};
///
/// struct Counter { fd: sys::OwnedFd, seen: u64 }
///
/// impl sys::AsFd for Counter {
///     fn as_fd(&self) -> sys::BorrowedFd<'_> { self.fd.as_fd() }
/// }
///
/// impl Subscriber for Counter {
///     fn handle(&mut self, _event: Event, ops: &mut Ops<'_>) {
///         let mut buf = [0u8; 8];
///         if sys::read(self.fd.as_fd(), &mut buf).is_ok() {
///             self.seen += u64::from_ne_bytes(buf);
///         }
///         ops.stop();
///     }
/// }
///
/// let mut reactor = Reactor::new()?;
/// let fd = sys::eventfd(3, sys::EFD_NONBLOCK)?;
/// let key = reactor.register(Counter { fd, seen: 0 }, barepoll::interest().read())?;
/// reactor.run()?;
/// assert_eq!(reactor.get::<Counter>(key)?.seen, 3);
/// # Ok::<(), barepoll::Error>(())
/// ```
pub trait Subscriber: AsFd + 'static {
    /// Handles one event. `ops` can change registrations, but never reaches `self` again.
    fn handle(&mut self, event: Event, ops: &mut Ops<'_>);
}
