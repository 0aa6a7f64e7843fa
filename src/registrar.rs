//! Registering from other threads (`std`): a [`Registrar`] adds `Send` subscribers to a
//! [`Sendable`] reactor's epoll set on the calling thread and returns their keys at once, with
//! no round trip through the reactor's turn (what [`Remote`](crate::remote::Remote) costs:
//! `remote.call(|ops| ops.add(..))` waits for the reactor). This is the reactor's answer to
//! mio's `Registry`.
//!
//! The subscriber's node is made on the calling thread, put in the reactor's inbox, then added
//! to the kernel's set, all under one lock. The reactor takes the inbox in after each wait,
//! before it dispatches that wait's events, and before any operation of its own that looks a
//! key up ([`Reactor::delete`](crate::Reactor::delete),
//! [`modify`](crate::Reactor::modify), [`get_mut`](crate::Reactor::get_mut),
//! [`arm_own`](crate::Reactor::arm_own), and those of a
//! handler's [`Ops`](crate::Ops)): a key a registrar returned works there at once, through a
//! [`Remote`](crate::remote::Remote) job or in a handler. (The reactor's `&self` views,
//! [`interest`](crate::Reactor::interest), [`get`](crate::Reactor::get),
//! [`len`](crate::Reactor::len), [`key_of`](crate::Reactor::key_of) and
//! [`keys`](crate::Reactor::keys), see a registrar's subscriber once the reactor took it in: at
//! its next turn or its next operation above.) From then on such a subscriber is like any
//! other: deleted by key, from its handler, dropped with the reactor, its handler's panics
//! handled the same.
//!
//! If the reactor cannot take a node in (no memory to grow its table of fd numbers, or the
//! number still belongs to a live subscriber whose fd was closed and the number reused behind
//! its back), it takes the node out of the kernel's set, drops the subscriber, and the turn
//! returns the error ([`Error::AlreadyRegistered`](crate::Error::AlreadyRegistered) or
//! `ENOMEM`), as one a handler reports with [`Ops::fail`](crate::Ops::fail).
//!
//! A reactor with a registrar leaves its fast path on every turn (a flag test, a load of the
//! inbox's flag after the wait); one without pays a flag test per delete.
//!
//! No subscriber's code runs under the registrars' lock: a subscriber's destructor, like any
//! other code on the reactor's thread, may register through a registrar of its own reactor.
//!
//! ```
//! use barepoll::{sys, Ops, Reactor, Sendable};
//! use std::sync::atomic::{AtomicUsize, Ordering};
//! use std::sync::Arc;
//!
//! let mut reactor: Reactor<(), Sendable> = Reactor::builder().sendable().build()?;
//! let registrar = reactor.registrar()?;
//! let seen = Arc::new(AtomicUsize::new(0));
//! let workers: Vec<_> = (0..3)
//!     .map(|_| {
//!         let (registrar, seen) = (registrar.clone(), seen.clone());
//!         std::thread::spawn(move || {
//!             barepoll::interest().read()
//!                 .with_fd(sys::eventfd(1, sys::EFD_NONBLOCK).unwrap())
//!                 .with_handler(move |ops: &mut Ops<'_, (), Sendable>| {
//!                     seen.fetch_add(1, Ordering::Relaxed);
//!                     ops.delete_self().unwrap();
//!                 })
//!                 .register_into(&mut registrar.clone())
//!                 .unwrap()
//!         })
//!     })
//!     .collect();
//! for w in workers {
//!     w.join().unwrap();
//! }
//! assert_eq!(reactor.run_once(None)?, 3); // each readable eventfd once
//! assert_eq!(seen.load(Ordering::Relaxed), 3);
//! assert!(reactor.is_empty());
//! # Ok::<(), barepoll::Error>(())
//! ```

use crate::error::Result;
use crate::handler::Register;
use crate::interest::Interest;
use crate::key::Key;
use crate::subscriber::Subscriber;
use crate::thin::{Desk, SharedBox};
use crate::threads::{Admit, Sendable};
use core::fmt;

/// A handle that registers `Send` subscribers into a [`Sendable`] reactor from any thread, at
/// once; `Clone + Send + Sync`. Made by [`Reactor::registrar`](crate::Reactor::registrar).
///
/// ```
/// use barepoll::{registrar::Registrar, sys, Reactor, Sendable};
///
/// fn is_shareable<T: Clone + Send + Sync>(_: &T) {}
///
/// let mut reactor: Reactor<(), Sendable> = Reactor::builder().sendable().build()?;
/// let registrar: Registrar = reactor.registrar()?;
/// is_shareable(&registrar);
/// let key = std::thread::spawn(move || {
///     barepoll::interest().read()
///         .with_fd(sys::eventfd(0, sys::EFD_NONBLOCK).unwrap())
///         .with_handler(|| {})
///         .register_into(&mut registrar.clone())
/// })
/// .join()
/// .unwrap()?;
/// reactor.delete(key)?; // the key works at once
/// # Ok::<(), barepoll::Error>(())
/// ```
pub struct Registrar<D = ()> {
    desk: SharedBox<Desk<D, Sendable>>,
}

impl<D> Registrar<D> {
    pub(crate) fn new(desk: SharedBox<Desk<D, Sendable>>) -> Registrar<D> {
        Registrar { desk }
    }

    /// Registers `subscriber` for `interest` on the calling thread and returns its key. The
    /// subscriber's fd is read once, now, and used for every later `epoll_ctl`; from the
    /// reactor's next wait on, its events are dispatched like any subscriber's. The closure
    /// form is `barepoll::interest()...with_handler(..).register_into(&mut registrar)`
    /// ([`Register`]).
    ///
    /// # Errors
    /// [`Error::Closed`](crate::Error::Closed) if the reactor was dropped;
    /// [`Error::Inherited`](crate::Error::Inherited) in a process that inherited the
    /// registrar through `fork()`; [`Error::Invalid`](crate::Error::Invalid) for a subscriber
    /// with an [`init`](Subscriber::init) (one whose [`has_init`](Subscriber::has_init) is
    /// `true`, the default of a hand-written one: `init` runs on the reactor's thread, so
    /// register it there, or say `false`); otherwise as
    /// [`Reactor::register`](crate::Reactor::register):
    /// [`Error::AlreadyRegistered`](crate::Error::AlreadyRegistered) if the kernel has the fd
    /// in the set already, `ENOMEM`, or the kernel's error (`EPERM` for a regular file). On
    /// any error the subscriber is dropped and nothing is left in the kernel's set.
    ///
    /// ```
    /// use barepoll::{sys, Error, Event, Ops, Reactor, Sendable, Subscriber};
    ///
    /// struct Tick(sys::OwnedFd);
    /// impl sys::AsFd for Tick {
    ///     fn as_fd(&self) -> sys::BorrowedFd<'_> { self.0.as_fd() }
    /// }
    /// impl Subscriber<(), Sendable> for Tick {
    ///     fn has_init(&self) -> bool { false }
    ///     fn handle(&mut self, _: Event, ops: &mut Ops<'_, (), Sendable>) { ops.stop() }
    /// }
    ///
    /// let mut reactor: Reactor<(), Sendable> = Reactor::builder().sendable().build()?;
    /// let registrar = reactor.registrar()?;
    /// let key = registrar.register(Tick(sys::eventfd(1, 0)?), barepoll::interest().read())?;
    /// reactor.run()?;
    /// reactor.delete(key)?;
    /// drop(reactor);
    /// let refused = registrar.register(Tick(sys::eventfd(1, 0)?), barepoll::interest().read());
    /// assert_eq!(refused, Err(Error::Closed));
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn register<S>(&self, subscriber: S, interest: Interest) -> Result<Key>
    where
        S: Subscriber<D, Sendable>,
        Sendable: Admit<S>,
    {
        self.desk.register(subscriber, interest)
    }
}

/// The closure form: `interest().read().with_fd(fd).with_handler(h).register_into(&mut r)`.
///
/// ```
/// use barepoll::{sys, Ops, Reactor, Sendable};
///
/// let mut reactor: Reactor<(), Sendable> = Reactor::builder().sendable().build()?;
/// let mut registrar = reactor.registrar()?;
/// let key = barepoll::interest().read()
///     .with_fd(sys::eventfd(1, sys::EFD_NONBLOCK)?)
///     .with_handler(|ops: &mut Ops<'_, (), Sendable>| ops.stop())
///     .register_into(&mut registrar)?;
/// reactor.run()?;
/// assert!(reactor.interest(key)?.is_read());
/// # Ok::<(), barepoll::Error>(())
/// ```
impl<D> Register<D, Sendable> for Registrar<D> {
    fn register<S>(&mut self, subscriber: S, interest: Interest) -> Result<Key>
    where
        S: Subscriber<D, Sendable>,
        Sendable: Admit<S>,
    {
        Registrar::register(self, subscriber, interest)
    }
}

impl<D> Clone for Registrar<D> {
    fn clone(&self) -> Self {
        Registrar {
            desk: self.desk.clone(),
        }
    }
}

impl<D> fmt::Debug for Registrar<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registrar").finish_non_exhaustive()
    }
}
