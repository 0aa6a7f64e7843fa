//! Watching the loop without editing it: an [`Observer`] given to
//! [`Reactor::observe`](crate::Reactor::observe) is told of every turn (events dispatched,
//! timer callbacks run, time in the wait and in the whole turn, rebuilds of the epoll set) and
//! of every error a turn returns (a handler's failure, a panic). Feed it to `log`, `tracing` or
//! counters: the crate takes no logging dependency. With no observer, none of this runs: a
//! turn keeps its fast path and its instruction count.
//!
//! ```
//! use barepoll::observe::{Observer, Turn};
//! use barepoll::{sys, Error, Ops, Reactor};
//! use std::time::Duration;
//!
//! #[derive(Default)]
//! struct Tally { turns: u32, events: usize, errors: u32 }
//!
//! impl Observer for Tally {
//!     fn turn(&mut self, turn: &Turn) {
//!         self.turns += 1;
//!         self.events += turn.events;
//!     }
//!     fn failed(&mut self, _: &Error) {
//!         self.errors += 1;
//!     }
//! }
//!
//! let mut reactor = Reactor::new()?;
//! reactor.observe(Tally::default())?;
//! barepoll::interest()
//!     .read()
//!     .with_fd(sys::eventfd(1, 0)?)
//!     .with_handler(|ops: &mut Ops<'_>| ops.stop())
//!     .register_into(&mut reactor)?;
//! reactor.run()?;
//! let tally: Tally = reactor.take_observer().unwrap();
//! assert_eq!((tally.turns, tally.events, tally.errors), (1, 1, 0));
//! # Ok::<(), barepoll::Error>(())
//! ```

use crate::error::Error;
use alloc::boxed::Box;
use core::any::Any;
use core::time::Duration;

/// What one turn did: given to [`Observer::turn`] after it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Turn {
    /// Events dispatched to subscribers (the reactor's own, such as its timers' alarm, not
    /// counted).
    pub events: usize,
    /// Timer callbacks that ran.
    pub timers: usize,
    /// How long the turn's wait took (zero when it did not wait: a batch's rest, or a stop
    /// asked for by a timer).
    pub waited: Duration,
    /// How long the whole turn took, the wait included.
    pub took: Duration,
    /// Rebuilds of the epoll set since the turn before: in this turn, or by a `delete`
    /// between them (a descriptor closed behind its subscriber's back, which the kernel
    /// keeps reporting until the set is made again; see the technical chapter).
    pub rebuilds: u32,
}

/// Told what a reactor does; see the [module](self). Every method has a default that does
/// nothing, and runs on the reactor's thread, after the turn, with no access to the reactor
/// (it cannot change what it watches). The clock readings it needs (two or four a turn) are
/// made only while an observer is set.
///
/// ```
/// use barepoll::observe::{Observer, Turn};
///
/// struct Slow(std::time::Duration);
/// impl Observer for Slow {
///     fn turn(&mut self, turn: &Turn) {
///         if turn.took - turn.waited > self.0 {
///             eprintln!("a turn spent {:?} in handlers", turn.took - turn.waited);
///         }
///     }
/// }
/// # let _ = Slow(std::time::Duration::from_millis(10));
/// ```
pub trait Observer: 'static {
    /// After every turn, whatever it returns.
    ///
    /// ```
    /// use barepoll::observe::{Observer, Turn};
    /// struct Count(u64);
    /// impl Observer for Count {
    ///     fn turn(&mut self, turn: &Turn) { self.0 += turn.events as u64 }
    /// }
    /// # let mut c = Count(0);
    /// # c.turn(&Turn::default());
    /// ```
    fn turn(&mut self, turn: &Turn) {
        let _ = turn;
    }

    /// A turn returns an error: a handler or callback failed (`Ops::fail`, a handler's
    /// `Err`), one panicked ([`Error::Panicked`]), or the wait or the clock was refused.
    /// Called after [`turn`](Observer::turn).
    ///
    /// ```
    /// use barepoll::{observe::Observer, Error};
    /// struct Errors(Vec<Error>);
    /// impl Observer for Errors {
    ///     fn failed(&mut self, error: &Error) { self.0.push(*error) }
    /// }
    /// # let mut e = Errors(Vec::new());
    /// # e.failed(&Error::Panicked);
    /// ```
    fn failed(&mut self, error: &Error) {
        let _ = error;
    }

    /// A handler, callback or destructor panicked out of the last turn (the panic went on
    /// to `run_once`'s caller, and the reactor stayed usable). Told at the start of the next
    /// turn, never while unwinding; that turn's [`turn`](Observer::turn) follows as usual.
    ///
    /// ```
    /// use barepoll::observe::Observer;
    /// struct Panics(u32);
    /// impl Observer for Panics {
    ///     fn panicked(&mut self) { self.0 += 1 }
    /// }
    /// # let mut p = Panics(0);
    /// # p.panicked();
    /// ```
    fn panicked(&mut self) {}
}

/// An observer as the reactor holds it: callable, and given back as its own type.
pub(crate) trait Held {
    fn observer(&mut self) -> &mut dyn Observer;
    fn as_any(&mut self) -> &mut dyn Any;
    fn into_any(self: Box<Self>) -> Box<dyn Any>;
}

impl<O: Observer> Held for O {
    fn observer(&mut self) -> &mut dyn Observer {
        self
    }
    fn as_any(&mut self) -> &mut dyn Any {
        self
    }
    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }
}

/// The observer a reactor holds, with the readings of the turn under way.
pub(crate) struct Watch {
    pub(crate) held: Box<dyn Held>,
    /// Nanoseconds in the current turn's wait.
    pub(crate) waited: u64,
    /// A turn began and has not ended: it panicked.
    pub(crate) open: bool,
    /// The registry's count of rebuilds at the last turn's report.
    pub(crate) rebuilds: u32,
    /// The clock that times the waits (named here, so a program with no observer and no
    /// timers links no clock).
    pub(crate) clock: fn() -> core::result::Result<u64, crate::sys::Errno>,
}

impl Watch {
    /// Watches with `held` (boxed by the caller, where memory failures are handled).
    pub(crate) fn new(held: Box<dyn Held>) -> Watch {
        Watch {
            held,
            waited: 0,
            clock: crate::sys::monotonic_ns,
            open: false,
            rebuilds: 0,
        }
    }
}
