//! Setting, reaching and taking back a reactor's observer (see [`crate::observe`]). Nothing
//! here runs in a turn.

use super::Reactor;
use crate::error::{Error, Result};
use crate::observe::{Observer, Watch};
use crate::sys::Errno;
use crate::thin::OBSERVED;
use crate::threads::{Admit, Threads};

impl<D, T: Threads> Reactor<D, T> {
    /// Gives the reactor an observer, told of every turn from the next one on (in place of
    /// one set before, which is dropped). Every turn then leaves the fast path and reads the
    /// clock two to four times (through the vDSO: no syscall); without an observer nothing
    /// of it runs. A [`Sendable`](crate::Sendable) reactor takes only a `Send` observer.
    ///
    /// # Errors
    /// `ENOMEM` if memory for it cannot be had (the observer is dropped, and one set before
    /// stays).
    ///
    /// ```
    /// use barepoll::observe::{Observer, Turn};
    /// use barepoll::Reactor;
    /// use std::time::Duration;
    ///
    /// struct Turns(u32);
    /// impl Observer for Turns {
    ///     fn turn(&mut self, _: &Turn) { self.0 += 1 }
    /// }
    /// let mut reactor = Reactor::new()?;
    /// reactor.observe(Turns(0))?;
    /// reactor.run_once(Some(Duration::ZERO))?;
    /// reactor.run_once(Some(Duration::ZERO))?;
    /// assert_eq!(reactor.observer_mut::<Turns>().unwrap().0, 2);
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn observe<O: Observer>(&mut self, observer: O) -> Result<()>
    where
        T: Admit<O>,
    {
        let held = crate::thin::try_box(observer)
            .ok()
            .ok_or(Error::Os(Errno::ENOMEM))?;
        let mut watch = Watch::new(held);
        watch.rebuilds = self.core.registry.rebuilds;
        self.core.watch = Some(watch);
        self.core.registry.flag(OBSERVED, true);
        self.observed_turn = Some(Reactor::run_once_observed);
        Ok(())
    }

    /// The observer, if it is an `O`.
    ///
    /// ```
    /// # use barepoll::{observe::Observer, Reactor};
    /// struct Quiet;
    /// impl Observer for Quiet {}
    /// let mut reactor = Reactor::new()?;
    /// assert!(reactor.observer_mut::<Quiet>().is_none());
    /// reactor.observe(Quiet)?;
    /// assert!(reactor.observer_mut::<Quiet>().is_some());
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn observer_mut<O: Observer>(&mut self) -> Option<&mut O> {
        self.core.watch.as_mut()?.held.as_any().downcast_mut::<O>()
    }

    /// Takes the observer back if it is an `O` (then turns are no longer watched, and take
    /// the fast path again); `None`, and the observer stays, if it is not.
    ///
    /// ```
    /// # use barepoll::{observe::Observer, Reactor};
    /// struct Quiet;
    /// impl Observer for Quiet {}
    /// let mut reactor = Reactor::new()?;
    /// reactor.observe(Quiet)?;
    /// let _quiet: Quiet = reactor.take_observer().unwrap();
    /// assert!(reactor.take_observer::<Quiet>().is_none());
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn take_observer<O: Observer>(&mut self) -> Option<O> {
        self.observer_mut::<O>()?;
        let watch = self.core.watch.take()?;
        self.core.registry.flag(OBSERVED, false);
        self.observed_turn = None;
        watch.held.into_any().downcast::<O>().ok().map(|o| *o)
    }
}
