//! The builder: `interest().read().with_fd(fd).with_handler(f).register_into(&mut r)`.
//!
//! A handler is any `FnMut` taking a subset of `&mut Fd`, [`Event`], [`Interest`] and
//! `&mut Ops`, in any order. The marker types in [`arg`] tell the impls apart; you never name
//! them.

use crate::error::Result;
use crate::interest::{Event, Interest};
use crate::key::Key;
use crate::ops::Ops;
use crate::reactor::Reactor;
use crate::subscriber::Subscriber;
use crate::sys::{AsFd, BorrowedFd};
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

/// A closure usable as a handler for an fd of type `Fd`; `Args` is a tuple of [`arg`] markers.
pub trait Handler<Fd, Args>: 'static {
    /// Calls the closure with the parameters it asked for.
    fn call(&mut self, fd: &mut Fd, event: Event, ops: &mut Ops<'_>);
}

macro_rules! ty {
    (fd) => { &mut Fd };
    (ev) => { Event };
    (it) => { Interest };
    (op) => { &mut Ops<'_> };
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
        impl<Fd, F> Handler<Fd, ($(marker!($a),)*)> for F
        where
            F: FnMut($(ty!($a)),*) + 'static,
        {
            #[inline(always)]
            #[allow(unused_variables)]
            fn call(&mut self, $fd: &mut Fd, $ev: Event, $op: &mut Ops<'_>) {
                let $it = $op.interest();
                self($($a),*)
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

/// Something a subscriber can be registered into: a [`Reactor`], or the [`Ops`] of a running
/// handler.
pub trait Register {
    /// Registers `subscriber` for `interest`.
    fn register<S: Subscriber>(&mut self, subscriber: S, interest: Interest) -> Result<Key>;
}

impl Register for Reactor {
    fn register<S: Subscriber>(&mut self, subscriber: S, interest: Interest) -> Result<Key> {
        Reactor::register(self, subscriber, interest)
    }
}

impl Register for Ops<'_> {
    fn register<S: Subscriber>(&mut self, subscriber: S, interest: Interest) -> Result<Key> {
        self.add(subscriber, interest)
    }
}

impl Interest {
    /// Names the fd to watch; the subscriber will own it.
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
    pub fn with_handler<F: Handler<Fd, A>, A: 'static>(self, handler: F) -> WithHandler<Fd, F, A> {
        WithHandler {
            interest: self.interest,
            subscriber: FnSubscriber::new(self.fd, handler),
        }
    }
}

/// A complete registration, waiting for [`register_into`](WithHandler::register_into).
#[must_use = "nothing is registered until `.register_into(..)`"]
pub struct WithHandler<Fd, F, A> {
    interest: Interest,
    subscriber: FnSubscriber<Fd, F, A>,
}

impl<Fd: AsFd + 'static, F: Handler<Fd, A>, A: 'static> WithHandler<Fd, F, A> {
    /// Registers into a [`Reactor`] or, from inside a handler, into its [`Ops`].
    pub fn register_into<R: Register + ?Sized>(self, target: &mut R) -> Result<Key> {
        target.register(self.subscriber, self.interest)
    }
}

/// The subscriber the builder makes: an fd and a closure.
pub struct FnSubscriber<Fd, F, A> {
    fd: Fd,
    handler: F,
    _args: PhantomData<fn(A)>,
}

impl<Fd, F, A> FnSubscriber<Fd, F, A> {
    fn new(fd: Fd, handler: F) -> Self {
        FnSubscriber {
            fd,
            handler,
            _args: PhantomData,
        }
    }
}

impl<Fd: AsFd, F, A> AsFd for FnSubscriber<Fd, F, A> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl<Fd: AsFd + 'static, F: Handler<Fd, A>, A: 'static> Subscriber for FnSubscriber<Fd, F, A> {
    #[inline(always)]
    fn handle(&mut self, event: Event, ops: &mut Ops<'_>) {
        self.handler.call(&mut self.fd, event, ops)
    }
}
