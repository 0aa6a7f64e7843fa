//! The run loop with a hook between turns (before each wait): where code outside the handlers
//! reaches the reactor itself while it runs.

use super::Reactor;
use crate::error::Result;
use crate::threads::Threads;
use core::ops::ControlFlow;

impl<D, T: Threads> Reactor<D, T> {
    /// [`run_with`](Reactor::run_with), calling `before_wait` before every turn (the first
    /// included), between turns, with the reactor and the state: a before-sleep hook. There it
    /// may do what a handler cannot: register, arm or take with the reactor itself, flush what
    /// the turn's handlers buffered, look at [`len`](Reactor::len) or
    /// [`pending`](Reactor::pending). `ControlFlow::Break` ends the run, as a stop does
    /// ([`Ops::stop`](crate::Ops::stop), a [`StopHandle`](crate::StopHandle)), which still
    /// ends it after the turn that asked.
    ///
    /// # Errors
    /// As [`run_once`](Reactor::run_once).
    ///
    /// ```
    /// use barepoll::{Ops, Reactor, Timer};
    /// use std::ops::ControlFlow;
    /// use std::time::Duration;
    ///
    /// let mut reactor = Reactor::builder().state::<Vec<u32>>().build()?;
    /// let tick = Timer::after(Duration::ZERO).every(Duration::from_millis(1));
    /// reactor.arm(tick, |ops: &mut Ops<'_, Vec<u32>>| ops.data().push(1))?;
    /// let (mut flushed, mut buffered) = (0, Vec::new());
    /// reactor.run_with_hook(&mut buffered, |_reactor, buffered| {
    ///     flushed += buffered.drain(..).count(); // before the reactor sleeps
    ///     if flushed >= 3 {
    ///         return ControlFlow::Break(());
    ///     }
    ///     ControlFlow::Continue(())
    /// })?;
    /// assert!(flushed >= 3 && buffered.is_empty());
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn run_with_hook<F>(&mut self, data: &mut D, mut before_wait: F) -> Result<()>
    where
        F: FnMut(&mut Reactor<D, T>, &mut D) -> ControlFlow<()>,
    {
        loop {
            // The hook runs while the run holds the reactor: no other thread can run it, so a
            // blocking remote call from the hook is refused, as from a handler.
            #[cfg(feature = "std")]
            let running = self.mark_running();
            let flow = before_wait(self, data);
            #[cfg(feature = "std")]
            drop(running);
            if flow.is_break() {
                return Ok(());
            }
            self.run_once_slow(None, data)?;
            if self.core.registry.stop_requested() {
                return Ok(());
            }
        }
    }
}
