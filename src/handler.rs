//! The builder: `interest().read().with_fd(fd).with_handler(f).register_into(&mut r)`.
//!
//! A handler is any `FnMut` taking a subset of `&mut Fd`, [`Event`], [`Interest`] and
//! `&mut Ops`, in any order. The marker types in [`arg`] tell the impls apart; you never name
//! them.
//!
//! It returns `()` or `Result<(), E>` with `E: Into<barepoll::Error>` (an [`Outcome`]): an
//! `Err` is reported as [`Ops::fail`] does (the rest of the batch is dispatched, then `run`
//! returns the error).
//!
//! A handler that takes something else does not compile. The usual slips are `&Fd` for
//! `&mut Fd`, the fd's type not matching the one given to `with_fd`, and a return value that
//! is not an outcome (a `Result` with a value, or an error type `barepoll::Error` cannot be made
//! from, such as `std::io::Error`):
//!
//! ```compile_fail
//! use barepoll::{sys, Reactor};
//!
//! let mut reactor = Reactor::new().unwrap();
//! barepoll::interest().read()
//!     .with_fd(sys::eventfd(0, 0).unwrap())
//!     .with_handler(|fd: &sys::OwnedFd| { let _ = fd; }) // `&`, not `&mut`
//!     .register_into(&mut reactor)
//!     .unwrap();
//! ```
//!
//! ```compile_fail
//! use barepoll::{sys, Reactor};
//!
//! let mut reactor = Reactor::new().unwrap();
//! barepoll::interest().read()
//!     .with_fd(sys::eventfd(0, 0).unwrap())
//!     .with_handler(|_: &mut sys::OwnedFd| -> std::io::Result<()> { Ok(()) }) // io::Error
//!     .register_into(&mut reactor)
//!     .unwrap();
//! ```
//!
//! The fixes: take `&mut`, and return `()` (handling errors inside the handler) or
//! `Result<(), E>` with an error `barepoll::Error` can be made from:
//!
//! ```
//! use barepoll::{sys, sys::AsFd, Ops, Reactor};
//!
//! let mut reactor = Reactor::new()?;
//! barepoll::interest().read()
//!     .with_fd(sys::eventfd(0, 0)?)
//!     .with_handler(|fd: &mut sys::OwnedFd, ops: &mut Ops<'_>| {
//!         if let Err(e) = sys::read(fd.as_fd(), &mut [0; 8]) {
//!             eprintln!("read: {e}");
//!             let _ = ops.delete_self();
//!         }
//!     })
//!     .register_into(&mut reactor)?;
//! barepoll::interest().read()
//!     .with_fd(sys::eventfd(1, 0)?)
//!     .with_handler(|fd: &mut sys::OwnedFd| -> Result<(), sys::Errno> {
//!         sys::read(fd.as_fd(), &mut [0; 8])?; // an `Errno` is a `barepoll::Error`
//!         Err(sys::Errno::EIO) // ends `run` with it, after the batch
//!     })
//!     .register_into(&mut reactor)?;
//! assert_eq!(reactor.run(), Err(barepoll::Error::Os(sys::Errno::EIO)));
//! # Ok::<(), barepoll::Error>(())
//! ```

use crate::error::{Error, Result};
use crate::interest::{Event, Interest};
use crate::key::Key;
use crate::ops::Ops;
use crate::subscriber::Subscriber;
use crate::sys::{AsFd, BorrowedFd};
use crate::threads::{Admit, Local, Threads};
use core::marker::PhantomData;

/// Marker types naming a handler's parameters, one per kind.
pub mod arg {
    /// `&mut Fd`: the registered fd.
    pub enum Fd {}
    /// [`Event`](crate::Event): what the kernel reported.
    pub enum Ev {}
    /// [`Interest`](crate::Interest): the current interest.
    pub enum It {}
    /// `&mut Ops`: what the handler may do to the reactor.
    pub enum Op {}
}

/// A closure usable as a handler for an fd of type `Fd` in a reactor of state `D` and thread
/// mode `T`; `Args` is a tuple of [`arg`] markers.
#[cfg_attr(
    barepoll_diagnostics,
    diagnostic::on_unimplemented(
        message = "this closure cannot be a handler for an fd of type `{Fd}`",
        label = "not a handler for `{Fd}`",
        note = "a handler is an `FnMut` that returns `()` or `Result<(), E>` with `E: Into<barepoll::Error>` and takes, in any order, any of: `&mut {Fd}` (the fd given to `with_fd`), `barepoll::Event`, `barepoll::Interest`, `&mut barepoll::Ops<'_, {D}, {T}>`",
        note = "common slips: `&{Fd}` for `&mut {Fd}`, another fd type than the one given to `with_fd`, a closure that returns a value, or an error `barepoll::Error` has no `From` for (`std::io::Error`)"
    )
)]
pub trait Handler<Fd, D, T: Threads, Args>: 'static {
    /// Calls the closure with the parameters it asked for.
    fn call(&mut self, fd: &mut Fd, event: Event, ops: &mut Ops<'_, D, T>);
}

/// What a handler may return: `()`, or `Result<(), E>` with `E: Into<barepoll::Error>`, whose
/// `Err` is reported as [`Ops::fail`] does. Sealed: implemented for those only.
///
/// ```
/// fn outcome<O: barepoll::handler::Outcome>(_: O) {}
/// outcome(());
/// outcome(Ok::<(), barepoll::sys::Errno>(()));
/// ```
pub trait Outcome: sealed::Sealed {
    /// Reports the outcome through `ops`.
    ///
    /// ```
    /// # use barepoll::{sys, handler::Outcome, Ops, Reactor};
    /// # let mut reactor = Reactor::new()?;
    /// barepoll::interest().read()
    ///     .with_fd(sys::eventfd(1, 0)?)
    ///     .with_handler(|ops: &mut Ops<'_>| Err::<(), _>(sys::Errno::EIO).report(ops))
    ///     .register_into(&mut reactor)?;
    /// assert!(reactor.run().is_err());
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    fn report<D, T: Threads>(self, ops: &mut Ops<'_, D, T>);
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for () {}
    impl<E: Into<crate::Error>> Sealed for Result<(), E> {}
}

impl Outcome for () {
    #[inline(always)]
    fn report<D, T: Threads>(self, _: &mut Ops<'_, D, T>) {}
}

impl<E: Into<Error>> Outcome for core::result::Result<(), E> {
    #[inline]
    fn report<D, T: Threads>(self, ops: &mut Ops<'_, D, T>) {
        if let Err(e) = self {
            ops.fail(e.into());
        }
    }
}

macro_rules! ty {
    (fd) => { &mut Fd };
    (ev) => { Event };
    (it) => { Interest };
    (op) => { &mut Ops<'_, D, T> };
}

macro_rules! marker {
    (fd) => {
        arg::Fd
    };
    (ev) => {
        arg::Ev
    };
    (it) => {
        arg::It
    };
    (op) => {
        arg::Op
    };
}

// The parameter names come from the invocation so that they and `$a` share one hygiene context.
macro_rules! handlers {
    ([$fd:ident $ev:ident $it:ident $op:ident] $(($($a:ident),*);)*) => {$(
        impl<Fd, D, T: Threads, F, R> Handler<Fd, D, T, ($(marker!($a),)*)> for F
        where
            F: FnMut($(ty!($a)),*) -> R + 'static,
            R: Outcome,
        {
            #[inline(always)]
            #[allow(unused_variables)]
            fn call(&mut self, $fd: &mut Fd, $ev: Event, $op: &mut Ops<'_, D, T>) {
                let $it = $op.interest();
                self($($a),*).report($op)
            }
        }
    )*};
}

handlers! {
    [fd ev it op]
    ();
    (fd);
    (ev);
    (it);
    (op);
    (fd, ev);
    (fd, it);
    (fd, op);
    (ev, fd);
    (ev, it);
    (ev, op);
    (it, fd);
    (it, ev);
    (it, op);
    (op, fd);
    (op, ev);
    (op, it);
    (fd, ev, it);
    (fd, ev, op);
    (fd, it, ev);
    (fd, it, op);
    (fd, op, ev);
    (fd, op, it);
    (ev, fd, it);
    (ev, fd, op);
    (ev, it, fd);
    (ev, it, op);
    (ev, op, fd);
    (ev, op, it);
    (it, fd, ev);
    (it, fd, op);
    (it, ev, fd);
    (it, ev, op);
    (it, op, fd);
    (it, op, ev);
    (op, fd, ev);
    (op, fd, it);
    (op, ev, fd);
    (op, ev, it);
    (op, it, fd);
    (op, it, ev);
    (fd, ev, it, op);
    (fd, ev, op, it);
    (fd, it, ev, op);
    (fd, it, op, ev);
    (fd, op, ev, it);
    (fd, op, it, ev);
    (ev, fd, it, op);
    (ev, fd, op, it);
    (ev, it, fd, op);
    (ev, it, op, fd);
    (ev, op, fd, it);
    (ev, op, it, fd);
    (it, fd, ev, op);
    (it, fd, op, ev);
    (it, ev, fd, op);
    (it, ev, op, fd);
    (it, op, fd, ev);
    (it, op, ev, fd);
    (op, fd, ev, it);
    (op, fd, it, ev);
    (op, ev, fd, it);
    (op, ev, it, fd);
    (op, it, fd, ev);
    (op, it, ev, fd);
}

/// Something a subscriber can be registered into: a [`Reactor`](crate::Reactor), or the [`Ops`] of a running
/// handler.
pub trait Register<D = (), T: Threads = Local> {
    /// Registers `subscriber` for `interest`.
    ///
    /// # Errors
    /// As [`Reactor::register`](crate::Reactor::register).
    fn register<S>(&mut self, subscriber: S, interest: Interest) -> Result<Key>
    where
        S: Subscriber<D, T>,
        T: Admit<S>;
}

impl<D, T: Threads> Register<D, T> for Ops<'_, D, T> {
    fn register<S>(&mut self, subscriber: S, interest: Interest) -> Result<Key>
    where
        S: Subscriber<D, T>,
        T: Admit<S>,
    {
        self.add(subscriber, interest)
    }
}

impl Interest {
    /// Names the fd to watch; the subscriber will own it.
    ///
    /// ```
    /// let pending = barepoll::interest().read().with_fd(barepoll::sys::eventfd(0, 0)?);
    /// # drop(pending);
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn with_fd<Fd: AsFd + 'static>(self, fd: Fd) -> WithFd<Fd> {
        WithFd { interest: self, fd }
    }
}

/// An interest and an fd, waiting for a handler.
#[must_use = "nothing is registered until `.with_handler(..).register_into(..)`"]
pub struct WithFd<Fd> {
    interest: Interest,
    fd: Fd,
}

impl<Fd: AsFd + 'static> WithFd<Fd> {
    /// Names the handler; see [`Handler`] for the parameters it may take.
    ///
    /// ```
    /// use barepoll::{sys, Event, Ops};
    ///
    /// let pending = barepoll::interest().read()
    ///     .with_fd(sys::eventfd(0, 0)?)
    ///     .with_handler(|fd: &mut sys::OwnedFd, ev: Event, ops: &mut Ops<'_>| {
    ///         let _ = (fd, ev, ops);
    ///     });
    /// # drop(pending.into_subscriber());
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn with_handler<F, A, D, T>(self, handler: F) -> WithHandler<Fd, F, A, D, T>
    where
        F: Handler<Fd, D, T, A>,
        A: 'static,
        T: Threads,
    {
        WithHandler {
            interest: self.interest,
            subscriber: FnSubscriber {
                fd: self.fd,
                handler,
                _args: PhantomData,
            },
            _state: PhantomData,
        }
    }
}

/// A complete registration, waiting for [`register_into`](WithHandler::register_into).
#[must_use = "nothing is registered until `.register_into(..)`"]
pub struct WithHandler<Fd, F, A, D, T> {
    interest: Interest,
    subscriber: FnSubscriber<Fd, F, A, T>,
    /// The reactor's state the handler takes (the subscriber does not name it, so that it is
    /// `'static` whatever the state borrows).
    _state: PhantomData<fn(&mut D)>,
}

impl<Fd, F, A, D, T> WithHandler<Fd, F, A, D, T>
where
    Fd: AsFd + 'static,
    F: Handler<Fd, D, T, A>,
    A: 'static,
    T: Threads,
{
    /// Registers into a [`Reactor`](crate::Reactor) or, from inside a handler, into its [`Ops`].
    ///
    /// # Errors
    /// As [`Reactor::register`](crate::Reactor::register).
    ///
    /// ```
    /// # use barepoll::{sys, Reactor};
    /// let mut reactor = Reactor::new()?;
    /// let key = barepoll::interest().read()
    ///     .with_fd(sys::eventfd(0, 0)?)
    ///     .with_handler(|| {})
    ///     .register_into(&mut reactor)?;
    /// assert_eq!(reactor.interest(key)?, barepoll::interest().read());
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn register_into<R>(self, target: &mut R) -> Result<Key>
    where
        R: Register<D, T> + ?Sized,
        T: Admit<FnSubscriber<Fd, F, A, T>>,
    {
        target.register(self.subscriber, self.interest)
    }

    /// The subscriber this would register, without registering it: to keep it in a
    /// `Box<dyn Subscriber>`, or to call it from a test with `testing::Recorder` (feature
    /// `testing`). The subscriber does not name the reactor's state (so that it is `'static`
    /// whatever the state borrows): a handler that takes no `Ops` leaves the state open, so
    /// name it in the closure's parameters (as here) or register with
    /// [`register_into`](Self::register_into), whose target names it.
    ///
    /// ```
    /// use barepoll::{sys, Ops, Subscriber};
    ///
    /// let sub: Box<dyn Subscriber> = Box::new(
    ///     barepoll::interest().read()
    ///         .with_fd(sys::eventfd(0, 0)?)
    ///         .with_handler(|_: &mut Ops<'_>| {})
    ///         .into_subscriber(),
    /// );
    /// # drop(sub);
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn into_subscriber(self) -> FnSubscriber<Fd, F, A, T> {
        self.subscriber
    }
}

/// The subscriber the builder makes: an fd and a closure. It names the handler's parameters
/// (`A`) and the thread mode, not the reactor's state, which may borrow from the caller's
/// stack: a subscriber itself is `'static`.
pub struct FnSubscriber<Fd, F, A, T> {
    fd: Fd,
    handler: F,
    _args: PhantomData<fn(A, T)>,
}

impl<Fd: AsFd, F, A, T> AsFd for FnSubscriber<Fd, F, A, T> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl<Fd, F, A, D, T> Subscriber<D, T> for FnSubscriber<Fd, F, A, T>
where
    Fd: AsFd + 'static,
    F: Handler<Fd, D, T, A>,
    A: 'static,
    T: Threads,
{
    fn has_init(&self) -> bool {
        false
    }

    #[inline(always)]
    fn handle(&mut self, event: Event, ops: &mut Ops<'_, D, T>) {
        self.handler.call(&mut self.fd, event, ops)
    }
}
