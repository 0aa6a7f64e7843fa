//! Which threads a reactor may run on: its second type parameter.
//!
//! [`Local`] (the default) takes any subscriber and timer callback, `Rc`s and `RefCell`s
//! included, and so stays on the thread that made it. [`Sendable`] takes only `Send` ones, and
//! so is itself `Send`: build it on one thread, run it on another (one reactor per core).
//!
//! ```
//! use barepoll::{Reactor, Sendable};
//!
//! let reactor: Reactor<(), Sendable> = Reactor::builder().sendable().build()?;
//! std::thread::spawn(move || {
//!     let mut reactor = reactor;
//!     reactor.run_once(Some(std::time::Duration::ZERO)).unwrap();
//! })
//! .join()
//! .unwrap();
//! # Ok::<(), barepoll::Error>(())
//! ```
//!
//! A `Local` reactor is not `Send`:
//!
//! ```compile_fail
//! let reactor = barepoll::Reactor::new().unwrap();
//! std::thread::spawn(move || drop(reactor)); // `Reactor<(), Local>` cannot be sent
//! ```
//!
//! and a `Sendable` one refuses what is not `Send`, at compile time:
//!
//! ```compile_fail
//! use barepoll::{sys, Reactor, Sendable};
//! use std::rc::Rc;
//!
//! let mut reactor: Reactor<(), Sendable> = Reactor::builder().sendable().build().unwrap();
//! let shared = Rc::new(0);
//! barepoll::interest().read()
//!     .with_fd(sys::eventfd(0, 0).unwrap())
//!     .with_handler(move || drop(shared.clone())) // captures an `Rc`: not `Send`
//!     .register_into(&mut reactor)
//!     .unwrap();
//! ```

pub(crate) mod sealed {
    pub trait Sealed {
        /// The reactor never leaves the thread that made it (it is not `Send`).
        const STAYS: bool;
    }
    impl Sealed for super::Local {
        const STAYS: bool = true;
    }
    impl Sealed for super::Sendable {
        const STAYS: bool = false;
    }
}

/// The thread mode of a reactor: [`Local`] or [`Sendable`]. Sealed.
pub trait Threads: sealed::Sealed + 'static {}

/// The default thread mode: any subscriber, and the reactor stays on its thread.
#[derive(Debug)]
pub enum Local {}

/// `Send` subscribers and timer callbacks only, and the reactor is `Send`.
#[derive(Debug)]
pub enum Sendable {}

impl Threads for Local {}
impl Threads for Sendable {}

/// Whether a reactor of this thread mode takes an `X` (a subscriber or a timer callback):
/// [`Local`] takes anything, [`Sendable`] takes what is `Send`.
#[cfg_attr(
    barepoll_diagnostics,
    diagnostic::on_unimplemented(
        message = "a `Sendable` reactor takes only `Send` subscribers and callbacks, and `{X}` is not `Send`",
        label = "not `Send`",
        note = "use a `Local` reactor (the default), or make what the handler captures `Send` (`Arc` for `Rc`, `Mutex` for `RefCell`)"
    )
)]
pub trait Admit<X: ?Sized>: Threads {}

impl<X: ?Sized> Admit<X> for Local {}
impl<X: ?Sized + Send> Admit<X> for Sendable {}
