//! Deferring a callback to the end of the next turn from outside the reactor's turns (from a
//! handler: `Ops::defer`).

use super::Reactor;
use crate::error::Result;
use crate::ops::Ops;
use crate::threads::{Admit, Threads};

impl<D, T: Threads> Reactor<D, T> {
    /// Runs `callback` at the end of the next turn, after its events and timers (see
    /// [`Ops::defer`](crate::Ops::defer)); that turn does not block in its wait.
    ///
    /// # Errors
    /// `ENOMEM` if memory for it cannot be had (it is dropped).
    ///
    /// ```
    /// use barepoll::{Ops, Reactor};
    /// use std::time::Duration;
    ///
    /// let mut reactor = Reactor::builder().state::<u32>().build()?;
    /// reactor.defer(|ops: &mut Ops<'_, u32>| *ops.data() += 1)?;
    /// let mut runs = 0;
    /// reactor.run_once_with(None, &mut runs)?; // returns at once: the callback waits
    /// assert_eq!(runs, 1);
    /// reactor.run_once_with(Some(Duration::ZERO), &mut runs)?;
    /// assert_eq!(runs, 1);
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn defer<F>(&mut self, callback: F) -> Result<()>
    where
        F: FnOnce(&mut Ops<'_, D, T>) + 'static,
        T: Admit<F>,
    {
        self.core.timers.defer(callback)?;
        self.core.registry.defer();
        Ok(())
    }
}
