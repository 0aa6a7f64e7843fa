//! `Ops`: what a running handler may do to the reactor.
//!
//! It can add, modify and delete registrations (its own or others' by key), re-arm a oneshot
//! registration, and ask `run` to stop. It cannot reach the reactor itself, any subscriber's
//! value, or the running subscriber a second time (invariant 5): there is no `get`.

use crate::error::Result;
use crate::interest::Interest;
use crate::key::Key;
use crate::subscriber::Subscriber;
use crate::thin::Registry;

/// The handle a handler gets for the duration of one event.
///
/// ```
/// use barepoll::{Ops, Reactor, sys};
///
/// let mut reactor = Reactor::new()?;
/// let efd = sys::eventfd(1, sys::EFD_NONBLOCK)?;
/// barepoll::interest().read()
///     .with_fd(efd)
///     .with_handler(|ops: &mut Ops<'_>| {
///         ops.delete_self().unwrap(); // dropped (and its fd closed) when the batch ends
///         ops.stop();
///     })
///     .register_into(&mut reactor)?;
/// reactor.run()?;
/// assert!(reactor.is_empty());
/// # Ok::<(), barepoll::Error>(())
/// ```
///
/// A handler cannot hold on to the reactor, nor keep `Ops` past its call:
///
/// ```compile_fail
/// # use barepoll::{Ops, Reactor, sys};
/// fn attach(reactor: &mut Reactor, other: &Reactor) {
///     barepoll::interest().read()
///         .with_fd(sys::eventfd(0, 0).unwrap())
///         .with_handler(move |_: &mut Ops<'_>| { other.len(); }) // not 'static
///         .register_into(reactor)
///         .unwrap();
/// }
/// ```
///
/// ```compile_fail
/// # use barepoll::{Ops, Reactor, sys};
/// fn attach(reactor: &mut Reactor) {
///     let mut saved = None;
///     barepoll::interest().read()
///         .with_fd(sys::eventfd(0, 0).unwrap())
///         .with_handler(move |ops: &mut Ops<'_>| saved = Some(ops)) // Ops cannot escape
///         .register_into(reactor)
///         .unwrap();
/// }
/// ```
///
/// The same shapes compile when they keep to the rules:
///
/// ```
/// # use barepoll::{Ops, Reactor, sys};
/// fn attach(reactor: &mut Reactor) {
///     let mut saved = None;
///     barepoll::interest().read()
///         .with_fd(sys::eventfd(0, 0).unwrap())
///         .with_handler(move |ops: &mut Ops<'_>| saved = Some(ops.key()))
///         .register_into(reactor)
///         .unwrap();
/// }
/// ```
pub struct Ops<'a> {
    registry: &'a mut Registry,
    current: Key,
    interest: Interest,
}

impl<'a> Ops<'a> {
    #[inline(always)]
    pub(crate) fn new(registry: &'a mut Registry, current: Key, interest: Interest) -> Self {
        Ops {
            registry,
            current,
            interest,
        }
    }

    /// Registers a new subscriber. It can fire from the next wait on, never in this batch.
    pub fn add<S: Subscriber>(&mut self, subscriber: S, interest: Interest) -> Result<Key> {
        self.registry.insert(subscriber, interest)
    }

    /// Changes the interest of any live registration.
    pub fn modify(&mut self, key: Key, interest: Interest) -> Result<()> {
        self.registry.modify(key, interest)?;
        if key == self.current {
            self.interest = interest;
        }
        Ok(())
    }

    /// Deletes any live registration. Its later events in this batch are skipped; it is
    /// dropped when the batch is done. If a handler panics out of the batch, that is when the
    /// next `run_once` has dispatched the rest of it (at its start, if nothing was left), or
    /// when the reactor drops, whichever comes first; never during the unwinding.
    ///
    /// Fails with `ENOMEM` if memory to keep the subscriber until then cannot be had; the
    /// subscriber is then still registered, untouched. A DEL the kernel refuses is recovered
    /// as [`Reactor::delete`](crate::Reactor::delete) describes.
    pub fn delete(&mut self, key: Key) -> Result<()> {
        self.registry.remove(key)
    }

    /// The key of the subscriber whose handler is running.
    pub fn key(&self) -> Key {
        self.current
    }

    /// The running subscriber's interest (as it is now, after any `modify_self`).
    pub(crate) fn interest(&self) -> Interest {
        self.interest
    }

    /// Changes the running subscriber's interest.
    pub fn modify_self(&mut self, interest: Interest) -> Result<()> {
        self.modify(self.current, interest)
    }

    /// Deletes the running subscriber. The handler keeps its `&mut` until it returns; the
    /// subscriber is dropped when the batch is done (see [`delete`](Ops::delete)).
    pub fn delete_self(&mut self) -> Result<()> {
        self.delete(self.current)
    }

    /// Re-arms a oneshot registration with its current interest.
    pub fn rearm(&mut self) -> Result<()> {
        self.modify(self.current, self.interest)
    }

    /// Makes [`Reactor::run`](crate::Reactor::run) return once this batch is dispatched.
    pub fn stop(&mut self) {
        self.registry.request_stop();
    }
}
