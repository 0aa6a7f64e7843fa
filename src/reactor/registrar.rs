//! `Reactor::registrar` (feature `std`): the handle other threads register through.

use super::Reactor;
use crate::error::Result;
use crate::registrar::Registrar;
use crate::threads::Sendable;

impl<D> Reactor<D, Sendable> {
    /// A handle (`Clone + Send + Sync`) that registers `Send` subscribers into this reactor
    /// from any thread, at once, without waiting for a turn: see
    /// [`Registrar`]. Every call gives a handle to the same desk. From the first call on,
    /// every turn takes in what registrars added, after its wait and before it dispatches.
    ///
    /// # Errors
    /// [`Error::Inherited`](crate::Error::Inherited) after `fork()`; `ENOMEM` if memory for the
    /// desk (or a page for its fork guard) cannot be had.
    ///
    /// ```
    /// use barepoll::{sys, Ops, Reactor, Sendable};
    ///
    /// let mut reactor: Reactor<(), Sendable> = Reactor::builder().sendable().build()?;
    /// let registrar = reactor.registrar()?;
    /// std::thread::spawn(move || {
    ///     barepoll::interest().read()
    ///         .with_fd(sys::eventfd(1, sys::EFD_NONBLOCK).unwrap())
    ///         .with_handler(|ops: &mut Ops<'_, (), Sendable>| ops.stop())
    ///         .register_into(&mut registrar.clone())
    ///         .unwrap();
    /// })
    /// .join()
    /// .unwrap();
    /// reactor.run()?; // the eventfd is readable: its handler stops the reactor
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn registrar(&mut self) -> Result<Registrar<D>> {
        self.settle();
        let desk = self.core.registry.desk()?;
        Ok(Registrar::new(desk))
    }
}
