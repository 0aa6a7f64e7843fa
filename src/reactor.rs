//! `Reactor`: the public face of the registry and the run loop.
//!
//! It holds no pointers itself; every node lives behind `thin::Registry`.

use crate::error::Result;
use crate::interest::Interest;
use crate::key::Key;
use crate::subscriber::Subscriber;
use crate::thin::{Events, Registry};
use core::fmt;
use core::time::Duration;

/// An epoll reactor: subscribers in, events dispatched to their handlers.
///
/// ```
/// use barepoll::{sys, sys::AsFd, Event, Ops, Reactor};
/// use std::time::Duration;
///
/// let mut reactor = Reactor::new()?;
/// let efd = sys::eventfd(0, sys::EFD_NONBLOCK)?;
/// let key = barepoll::interest().read()
///     .with_fd(efd)
///     .with_handler(|fd: &mut sys::OwnedFd, ev: Event, ops: &mut Ops<'_>| {
///         assert!(ev.is_readable());
///         let mut buf = [0u8; 8];
///         sys::read(fd.as_fd(), &mut buf).unwrap();
///         ops.stop();
///     })
///     .register_into(&mut reactor)?;
///
/// assert_eq!(reactor.run_once(Some(Duration::ZERO))?, 0); // nothing ready yet
/// reactor.delete(key)?;
/// assert!(reactor.is_empty());
/// # Ok::<(), barepoll::Error>(())
/// ```
pub struct Reactor {
    registry: Registry,
    events: Events,
}

/// How many events one wait can return unless [`Reactor::with_capacity`] says otherwise.
pub const DEFAULT_CAPACITY: usize = 256;

impl Reactor {
    /// A reactor whose waits return up to [`DEFAULT_CAPACITY`] events.
    pub fn new() -> Result<Reactor> {
        Reactor::with_capacity(DEFAULT_CAPACITY)
    }

    /// A reactor whose waits return up to `capacity` events, bounded to
    /// `1..=`[`MAX_CAPACITY`](crate::MAX_CAPACITY). More ready fds than that are reported by
    /// the following waits.
    pub fn with_capacity(capacity: usize) -> Result<Reactor> {
        let events = Events::new(capacity)?;
        Ok(Reactor {
            registry: Registry::new()?,
            events,
        })
    }

    /// Registers `subscriber` for `interest` and returns its key.
    ///
    /// Fails with [`Error::AlreadyRegistered`](crate::Error::AlreadyRegistered) if its fd number already has a subscriber here,
    /// or with the kernel's error (`EPERM` for regular files, `EBADF`, …). On failure the
    /// subscriber is dropped.
    pub fn register<S: Subscriber>(&mut self, subscriber: S, interest: Interest) -> Result<Key> {
        self.registry.insert(subscriber, interest)
    }

    /// Changes the interest of the subscriber of `key`.
    pub fn modify(&mut self, key: Key, interest: Interest) -> Result<()> {
        self.registry.modify(key, interest)
    }

    /// Deletes and drops the subscriber of `key`. A stale key gives [`Error::StaleKey`](crate::Error::StaleKey) and
    /// touches nothing.
    ///
    /// If the kernel refuses the `EPOLL_CTL_DEL` (the subscriber's fd was closed or replaced
    /// behind the reactor's back, perhaps while another fd keeps the file open and so the
    /// kernel's registration alive), the reactor moves every other registration to a new
    /// epoll instance and closes the old one, which removes the registration it can no longer
    /// name; the delete then succeeds. This costs one `epoll_ctl` per registration. Visible
    /// effect: edge-triggered and oneshot registrations are armed afresh, so each may report
    /// once more. Only if the new instance cannot be made (out of descriptors or memory) is
    /// that error returned; the subscriber is then dead but kept, and its fd number is refused
    /// with [`Error::FdRetired`](crate::Error::FdRetired) until a later rebuild succeeds.
    ///
    /// If a handler panicked out of a batch whose remaining events are not yet dispatched
    /// ([`pending`](Reactor::pending) is non-zero), the drop waits until the next `run_once`
    /// has dispatched them: subscribers deleted meanwhile keep their fds and memory until then.
    pub fn delete(&mut self, key: Key) -> Result<()> {
        self.registry.remove(key)
    }

    /// Deletes the subscriber of `key` and hands it back, if it is an `S` (else
    /// [`Error::WrongType`](crate::Error::WrongType), and nothing changes): to move a connection to another reactor,
    /// say. Like [`delete`](Reactor::delete) otherwise.
    pub fn take<S: Subscriber>(&mut self, key: Key) -> Result<S> {
        self.registry.take(key)
    }

    /// The interest the subscriber of `key` is registered with.
    pub fn interest(&self, key: Key) -> Result<Interest> {
        self.registry.interest(key)
    }

    /// The subscriber of `key`, if it is an `S`.
    pub fn get<S: Subscriber>(&self, key: Key) -> Result<&S> {
        self.registry.get(key)
    }

    /// The subscriber of `key`, mutably, if it is an `S`.
    pub fn get_mut<S: Subscriber>(&mut self, key: Key) -> Result<&mut S> {
        self.registry.get_mut(key)
    }

    /// How many subscribers are registered.
    pub fn len(&self) -> usize {
        self.registry.len()
    }

    /// Whether no subscriber is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Waits once (up to `timeout`; `None` waits forever) and dispatches what the wait
    /// returned. Returns the number of events the wait returned; an event whose subscriber
    /// was deleted earlier in the same batch is counted but reaches no handler.
    ///
    /// A signal that interrupts the wait (`EINTR`) gives `Ok(0)`. Timeouts are precise to the
    /// nanosecond where the kernel has `epoll_pwait2`, else rounded *up* to milliseconds.
    ///
    /// If a handler panics, the panic propagates and the reactor stays consistent and usable:
    /// the next `run_once` first dispatches the rest of that batch (without waiting) and
    /// returns its count, so no event is lost; the panicking event is not dispatched again.
    #[inline]
    pub fn run_once(&mut self, timeout: Option<Duration>) -> Result<usize> {
        self.events.turn(&mut self.registry, timeout)
    }

    /// Dispatches until a handler calls [`Ops::stop`](crate::Ops::stop), finishing that batch.
    /// Interrupted waits are retried.
    pub fn run(&mut self) -> Result<()> {
        loop {
            self.run_once(None)?;
            if self.registry.stop_requested() {
                return Ok(());
            }
        }
    }

    /// Events of a batch that a handler panicked out of, not yet dispatched. The next
    /// `run_once` dispatches them (without waiting) before it waits again; until it does,
    /// subscribers deleted with [`delete`](Reactor::delete) are dropped only then.
    pub fn pending(&self) -> usize {
        self.events.pending()
    }

    /// Whether a handler called [`Ops::stop`](crate::Ops::stop) during the last `run_once`.
    pub fn stop_requested(&self) -> bool {
        self.registry.stop_requested()
    }
}

impl fmt::Debug for Reactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reactor")
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

/// The `epoll_pwait` fallback (kernels < 5.11, qemu-user), forced here on any kernel so both
/// wait paths run everywhere. Forcing is process-wide, so later unit tests use it too.
#[cfg(test)]
mod fallback_tests {
    use super::*;
    use crate::sys::{self, AsFd, OwnedFd};
    use crate::Ops;
    use std::sync::Arc;
    use std::time::Instant;

    #[test]
    fn epoll_pwait_fallback_dispatches_and_times_out() {
        sys::forget_pwait2();
        let mut r = Reactor::new().unwrap();
        assert!(!sys::uses_pwait2());
        // Zero timeout: returns at once.
        assert_eq!(r.run_once(Some(Duration::ZERO)).unwrap(), 0);
        // Sub-millisecond: rounded up to 1 ms, never a busy poll.
        let t = Instant::now();
        assert_eq!(r.run_once(Some(Duration::from_micros(300))).unwrap(), 0);
        assert!(t.elapsed() >= Duration::from_millis(1), "{:?}", t.elapsed());
        // Long: waits the whole time.
        let t = Instant::now();
        assert_eq!(r.run_once(Some(Duration::from_millis(60))).unwrap(), 0);
        assert!(t.elapsed() >= Duration::from_millis(60));
        // Infinite, woken by another thread; the event is dispatched.
        let efd = Arc::new(sys::eventfd(0, sys::EFD_NONBLOCK).unwrap());
        let writer = efd.clone();
        crate::interest()
            .read()
            .edge() // drained by its handler, so edge and level behave alike; Miri needs edge
            .with_fd(efd)
            .with_handler(|fd: &mut Arc<OwnedFd>, ops: &mut Ops<'_>| {
                let mut buf = [0u8; 8];
                sys::read(fd.as_fd(), &mut buf).unwrap();
                ops.stop();
            })
            .register_into(&mut r)
            .unwrap();
        let th = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            sys::write(writer.as_fd(), &1u64.to_ne_bytes()).unwrap();
        });
        r.run().unwrap();
        th.join().unwrap();
        assert!(!sys::uses_pwait2());
    }
}
