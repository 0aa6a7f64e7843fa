//! The `Subscriber` trait: a value that owns an fd and handles its events.

use crate::error::Result;
use crate::interest::Event;
use crate::ops::Ops;
use crate::sys::AsFd;
use crate::threads::{Local, Threads};
use alloc::boxed::Box;

/// Something the reactor watches: it owns an fd and handles the events reported for it.
///
/// `D` is the state the reactor is run with (reached through [`Ops::data`]) and `T` its
/// [thread mode](crate::threads); most subscribers are written for the defaults,
/// `Subscriber<(), Local>`, or generically over `T`.
///
/// The fd is read through [`AsFd`] once, at registration; the reactor never asks again, so a
/// subscriber whose `as_fd` changes its answer cannot confuse it. The subscriber is dropped
/// exactly once: when it is deleted (when the batch is done if deleted during one; see
/// [`Ops::delete`]) or when the reactor drops, unless [`Reactor::take`](crate::Reactor::take)
/// hands it back.
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
///
/// Boxed subscribers are subscribers too, `Box<dyn Subscriber>` included (with the `std`
/// feature, from Rust 1.78), so one reactor can hold subscribers of types chosen at run time:
///
/// ```
/// # use barepoll::{sys, Event, Ops, Reactor, Subscriber};
/// # struct Counter { fd: sys::OwnedFd }
/// # impl sys::AsFd for Counter {
/// #     fn as_fd(&self) -> sys::BorrowedFd<'_> { self.fd.as_fd() }
/// # }
/// # impl Subscriber for Counter {
/// #     fn handle(&mut self, _: Event, ops: &mut Ops<'_>) { ops.stop() }
/// # }
/// let mut reactor = Reactor::new()?;
/// let boxed: Box<dyn Subscriber> = Box::new(Counter { fd: sys::eventfd(1, 0)? });
/// let key = reactor.register(boxed, barepoll::interest().read())?;
/// reactor.run()?;
/// let back: Box<dyn Subscriber> = reactor.take(key)?;
/// # drop(back);
/// # Ok::<(), barepoll::Error>(())
/// ```
pub trait Subscriber<D = (), T: Threads = Local>: AsFd + 'static {
    /// Handles one event. `ops` can change registrations and timers and reach the state, but
    /// never reaches `self` again.
    fn handle(&mut self, event: Event, ops: &mut Ops<'_, D, T>);

    /// Called once, right after registration (by [`Reactor::register`](crate::Reactor::register)
    /// or [`Ops::add`]), with an `Ops` whose [`key`](Ops::key) is this subscriber's: the place
    /// to register further descriptors ([`Ops::add_fd`]), arm timers of its own
    /// ([`Ops::arm_own`]) and keep its key. Does nothing by default.
    ///
    /// Skipped for a subscriber whose [`has_init`](Self::has_init) returns `false`.
    ///
    /// Called from `Reactor::register`, its `Ops` has no state to lend unless the state is
    /// zero-sized ([`Ops::data`] panics then).
    ///
    /// # Errors
    /// Whatever it returns: then the registration is undone (every registration it made
    /// removed, its timers cancelled, the subscriber dropped) and `register` or `add` returns
    /// the error.
    ///
    /// ```
    /// use barepoll::{sys, Event, Key, Ops, Reactor, Subscriber};
    ///
    /// struct Me { fd: sys::OwnedFd, key: Option<Key> }
    /// impl sys::AsFd for Me {
    ///     fn as_fd(&self) -> sys::BorrowedFd<'_> { self.fd.as_fd() }
    /// }
    /// impl Subscriber for Me {
    ///     fn init(&mut self, ops: &mut Ops<'_>) -> barepoll::Result<()> {
    ///         self.key = Some(ops.key());
    ///         Ok(())
    ///     }
    ///     fn handle(&mut self, _: Event, _: &mut Ops<'_>) {}
    /// }
    ///
    /// let mut reactor = Reactor::new()?;
    /// let key = reactor.register(Me { fd: sys::eventfd(0, 0)?, key: None }, barepoll::interest().read())?;
    /// assert_eq!(reactor.get::<Me>(key)?.key, Some(key));
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    fn init(&mut self, ops: &mut Ops<'_, D, T>) -> Result<()> {
        let _ = ops;
        Ok(())
    }

    /// Whether [`init`](Self::init) is to be called after registration: `true` by default,
    /// so an `init` always runs. A subscriber that keeps the default `init` may return
    /// `false`: its registrations then skip what `init` needs around it (its key looked up,
    /// the subscriber marked as lent, deletes held off until it returns), about 200
    /// instructions; a program that adds and deletes subscribers at a high rate wants that.
    /// Returning `false` from a subscriber that overrides `init` means its `init` never
    /// runs. Closures registered with `with_handler`, and the crate's own subscribers
    /// (wakers, signals, remote calls), return `false`.
    ///
    /// ```
    /// use barepoll::{sys, Event, Ops, Reactor, Subscriber};
    ///
    /// struct Conn { fd: sys::OwnedFd }
    /// impl sys::AsFd for Conn {
    ///     fn as_fd(&self) -> sys::BorrowedFd<'_> { self.fd.as_fd() }
    /// }
    /// impl Subscriber for Conn {
    ///     fn has_init(&self) -> bool { false } // no `init`: registered the short way
    ///     fn handle(&mut self, _: Event, _: &mut Ops<'_>) {}
    /// }
    ///
    /// let mut reactor = Reactor::new()?;
    /// let key = reactor.register(Conn { fd: sys::eventfd(0, 0)? }, barepoll::interest().read())?;
    /// reactor.delete(key)?;
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    #[inline(always)]
    fn has_init(&self) -> bool {
        true
    }
}

// `Box<dyn Subscriber>` needs `AsFd` for unsized boxes, which std has from Rust 1.78 (and
// barepoll's own fd types always); older compilers get boxes of sized subscribers.
#[cfg(any(barepoll_unsized_box, not(feature = "std")))]
impl<D, T: Threads, S: Subscriber<D, T> + ?Sized> Subscriber<D, T> for Box<S> {
    #[inline]
    fn handle(&mut self, event: Event, ops: &mut Ops<'_, D, T>) {
        (**self).handle(event, ops)
    }

    #[inline]
    fn init(&mut self, ops: &mut Ops<'_, D, T>) -> Result<()> {
        (**self).init(ops)
    }

    #[inline]
    fn has_init(&self) -> bool {
        (**self).has_init()
    }
}

#[cfg(not(any(barepoll_unsized_box, not(feature = "std"))))]
impl<D, T: Threads, S: Subscriber<D, T>> Subscriber<D, T> for Box<S> {
    #[inline]
    fn handle(&mut self, event: Event, ops: &mut Ops<'_, D, T>) {
        (**self).handle(event, ops)
    }

    #[inline]
    fn init(&mut self, ops: &mut Ops<'_, D, T>) -> Result<()> {
        (**self).init(ops)
    }

    #[inline]
    fn has_init(&self) -> bool {
        (**self).has_init()
    }
}
