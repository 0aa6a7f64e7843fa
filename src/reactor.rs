//! `Reactor`: the public face of the registry, the timers and the run loop.
//!
//! It holds no pointers itself; every node lives behind `thin::Registry`. A turn is: finish a
//! batch a handler panicked out of, or else fire due timers (one clock reading, only when
//! timers changed or are due) and set the timers' alarm, wait, dispatch, and fire the timers
//! the alarm rang for.

use crate::error::Result;
use crate::interest::Interest;
use crate::key::Key;
use crate::subscriber::Subscriber;
use crate::sys;
use crate::thin::{waited, Core, Events, DEFERRED, OBSERVED, OPEN, TIMERS};
use crate::threads::{Admit, Local, Sendable, Threads};
use crate::timer::alarm::Wake;
use crate::timer::{self, Timer, TimerKey};
use core::fmt;
use core::marker::PhantomData;
use core::time::Duration;

mod defer;
mod find;
mod hook;
mod owned;
mod register;
#[cfg(feature = "std")]
mod registrar;
#[cfg(feature = "tasks")]
mod tasks;
mod watch;

/// An epoll reactor: subscribers and timers in, events dispatched to their handlers.
///
/// `D` is the state its handlers share, handed to [`run_with`](Reactor::run_with) and reached
/// through [`Ops::data`](crate::Ops::data) (`()` by default: [`run`](Reactor::run)). `T` is its
/// [thread mode](crate::threads): a `Reactor<D, Local>` (the default) takes any subscriber and
/// is not `Send`; a `Reactor<D, Sendable>` takes only `Send` subscribers and timer callbacks,
/// and is `Send`, so it can be built on one thread and run on another.
///
/// ```
/// use barepoll::{sys, sys::AsFd, Event, Ops, Reactor};
/// use std::time::Duration;
///
/// let mut reactor = Reactor::new()?;
/// let efd = sys::eventfd(0, sys::EFD_NONBLOCK)?;
/// let key = barepoll::interest().read()
///     .with_fd(efd)
///     .with_handler(|fd: &mut sys::OwnedFd, ev: Event, ops: &mut Ops<'_>| {
///         assert!(ev.is_readable());
///         let mut buf = [0u8; 8];
///         sys::read(fd.as_fd(), &mut buf).unwrap();
///         ops.stop();
///     })
///     .register_into(&mut reactor)?;
///
/// assert_eq!(reactor.run_once(Some(Duration::ZERO))?, 0); // nothing ready yet
/// reactor.delete(key)?;
/// assert!(reactor.is_empty());
/// # Ok::<(), barepoll::Error>(())
/// ```
pub struct Reactor<D = (), T: 'static = Local> {
    core: Core<D, T>,
    events: Events,
    /// While an observer is set, [`run_once_observed`](Self::run_once_observed): named only
    /// by [`observe`](Self::observe), so a program that never sets an observer links none of
    /// the observed turn's code.
    observed_turn: Option<Turn<D, T>>,
    /// The remote handle, once one was asked for.
    #[cfg(feature = "std")]
    remote: Option<crate::remote::Remote<D, T>>,
    /// The most jobs its remote queue holds ([`Builder::remote_capacity`]).
    #[cfg(feature = "std")]
    remote_capacity: usize,
}

/// A turn off the fast path, given a timeout in nanoseconds and the handlers' state.
type Turn<D, T> = fn(&mut Reactor<D, T>, Option<u64>, &mut D) -> Result<usize>;

/// How many events one wait can return unless [`Builder::capacity`] says otherwise.
pub const DEFAULT_CAPACITY: usize = 256;

/// Makes a [`Reactor`] of any state type and thread mode: [`Reactor::builder`].
///
/// ```
/// use barepoll::{Reactor, Sendable};
///
/// struct Chat { users: Vec<String> }
///
/// let reactor: Reactor<Chat, Sendable> =
///     Reactor::builder().capacity(1024).state::<Chat>().sendable().build()?;
/// # drop(reactor);
/// # Ok::<(), barepoll::Error>(())
/// ```
#[must_use = "a builder makes nothing until `build`"]
pub struct Builder<D = (), T = Local> {
    capacity: usize,
    remote_capacity: usize,
    _types: PhantomData<fn() -> (D, T)>,
}

impl<D, T: Threads> Builder<D, T> {
    /// Events one wait can return (default [`DEFAULT_CAPACITY`]), bounded to
    /// `1..=`[`MAX_CAPACITY`](crate::MAX_CAPACITY). More ready fds than that are reported by
    /// the following waits.
    ///
    /// ```
    /// let reactor = barepoll::Reactor::builder().capacity(16).build()?;
    /// # drop(reactor);
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn capacity(self, capacity: usize) -> Builder<D, T> {
        Builder { capacity, ..self }
    }

    /// The state type the handlers share (`()` unless named here). It is lent to every
    /// callback for the length of a [`run_with`](Reactor::run_with) or
    /// [`run_once_with`](Reactor::run_once_with), never kept, so it may borrow from the
    /// caller's stack: the reactor then lives inside that borrow. (The subscribers themselves
    /// are `'static`, so none can keep a borrow past the call that lent it; remote calls,
    /// whose jobs are made on other threads, need a `'static` state.)
    ///
    /// ```
    /// let reactor = barepoll::Reactor::builder().state::<Vec<u8>>().build()?;
    /// # drop(reactor);
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    ///
    /// A state that borrows a log from the caller:
    ///
    /// ```
    /// use barepoll::{sys, Ops, Reactor};
    ///
    /// struct Ctx<'a> {
    ///     log: &'a mut Vec<u64>,
    /// }
    ///
    /// let mut log = Vec::new();
    /// {
    ///     let mut reactor = Reactor::builder().state::<Ctx<'_>>().build()?;
    ///     barepoll::interest().read()
    ///         .with_fd(sys::eventfd(7, 0)?)
    ///         .with_handler(|fd: &mut sys::OwnedFd, ops: &mut Ops<'_, Ctx<'_>>| {
    ///             let mut buf = [0u8; 8];
    ///             sys::read(sys::AsFd::as_fd(fd), &mut buf).unwrap();
    ///             ops.data().log.push(u64::from_ne_bytes(buf));
    ///             ops.stop();
    ///         })
    ///         .register_into(&mut reactor)?;
    ///     reactor.run_with(&mut Ctx { log: &mut log })?;
    /// }
    /// assert_eq!(log, [7]);
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    ///
    /// A subscriber cannot keep the borrow (subscribers are `'static`):
    ///
    /// ```compile_fail,E0478
    /// use barepoll::{sys, Event, Ops, Reactor, Subscriber};
    ///
    /// struct Keeps<'a> {
    ///     fd: sys::OwnedFd,
    ///     kept: Option<&'a mut Vec<u64>>,
    /// }
    /// impl sys::AsFd for Keeps<'_> {
    ///     fn as_fd(&self) -> sys::BorrowedFd<'_> {
    ///         self.fd.as_fd()
    ///     }
    /// }
    /// impl<'a> Subscriber<&'a mut Vec<u64>> for Keeps<'a> {
    ///     fn handle(&mut self, _: Event, _: &mut Ops<'_, &'a mut Vec<u64>>) {}
    /// }
    /// ```
    ///
    /// Nor can a timer's callback (`'static` too) keep it past the run that lent it:
    ///
    /// ```compile_fail,E0521
    /// use barepoll::{Ops, Reactor, Timer};
    /// use std::{cell::Cell, rc::Rc, time::Duration};
    ///
    /// struct Ctx<'a> {
    ///     log: &'a Vec<u64>,
    /// }
    /// fn keep<'a>(reactor: &mut Reactor<Ctx<'a>>, kept: Rc<Cell<Option<&'a Vec<u64>>>>) {
    ///     let keeps = move |ops: &mut Ops<'_, Ctx<'a>>| kept.set(Some(ops.data().log));
    ///     reactor.arm(Timer::after(Duration::ZERO), keeps).unwrap();
    /// }
    /// ```
    ///
    /// nor a deferred one:
    ///
    /// ```compile_fail,E0521
    /// use barepoll::{Ops, Reactor};
    /// use std::{cell::Cell, rc::Rc};
    ///
    /// struct Ctx<'a> {
    ///     log: &'a Vec<u64>,
    /// }
    /// fn keep<'a>(reactor: &mut Reactor<Ctx<'a>>, kept: Rc<Cell<Option<&'a Vec<u64>>>>) {
    ///     let keeps = move |ops: &mut Ops<'_, Ctx<'a>>| kept.set(Some(ops.data().log));
    ///     reactor.defer(keeps).unwrap();
    /// }
    /// ```
    ///
    /// Both compile when the callback keeps a copy instead (`Option<Vec<u64>>`,
    /// `ops.data().log.clone()`). And a reactor of a longer borrow is no reactor of a shorter
    /// one (its subscribers may count on the longer borrow):
    ///
    /// ```compile_fail
    /// use barepoll::Reactor;
    ///
    /// fn shorten<'s>(reactor: Reactor<&'static mut Vec<u8>>) -> Reactor<&'s mut Vec<u8>> {
    ///     reactor
    /// }
    /// ```
    pub fn state<D2>(self) -> Builder<D2, T> {
        Builder {
            capacity: self.capacity,
            remote_capacity: self.remote_capacity,
            _types: PhantomData,
        }
    }

    /// A [`Sendable`] reactor: `Send`, taking only `Send` subscribers and callbacks.
    ///
    /// ```
    /// let reactor = barepoll::Reactor::builder().sendable().build()?;
    /// std::thread::spawn(move || drop(reactor)).join().unwrap();
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn sendable(self) -> Builder<D, Sendable> {
        Builder {
            capacity: self.capacity,
            remote_capacity: self.remote_capacity,
            _types: PhantomData,
        }
    }

    /// The most jobs the reactor's [`remote`](Reactor::remote) queue holds before the reactor
    /// takes them (it takes all of them at the start of the turn that serves them): then
    /// [`Remote::post`](crate::remote::Remote::post) and
    /// [`call`](crate::remote::Remote::call) wait for room, and
    /// [`try_post`](crate::remote::Remote::try_post) gives the job back with
    /// [`Error::Full`](crate::Error::Full). Unbounded unless set; 0 is taken as 1. A bounded
    /// queue is a list under a lock; an unbounded one takes posts in a lock-free ring first.
    ///
    /// ```
    /// use barepoll::{Error, Ops, Reactor};
    ///
    /// let mut reactor = Reactor::builder().remote_capacity(2).build()?;
    /// let remote = reactor.remote()?;
    /// remote.post(|_: &mut Ops<'_>| {})?;
    /// remote.post(|_: &mut Ops<'_>| {})?;
    /// let refused = remote.try_post(|_: &mut Ops<'_>| {}).unwrap_err();
    /// assert_eq!(refused.error, Error::Full); // `refused.job` is the job, unrun
    /// reactor.run_once(None)?; // takes both: room again
    /// assert!(remote.try_post(|_: &mut Ops<'_>| {}).is_ok());
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    #[cfg(feature = "std")]
    #[cfg_attr(docsrs, doc(cfg(feature = "std")))]
    pub fn remote_capacity(self, jobs: usize) -> Builder<D, T> {
        Builder {
            remote_capacity: jobs.max(1),
            ..self
        }
    }

    /// Makes the reactor: an epoll instance, an event buffer, and (where the kernel wipes
    /// pages on fork) one page for the fork guard.
    ///
    /// # Errors
    /// The kernel's error from `epoll_create1` (`EMFILE`, `ENFILE`, `ENOMEM`), or `ENOMEM` if
    /// the event buffer cannot be had.
    ///
    /// ```
    /// let reactor: barepoll::Reactor<u32> = barepoll::Reactor::builder().state().build()?;
    /// # drop(reactor);
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn build(self) -> Result<Reactor<D, T>> {
        let events = Events::new(self.capacity)?;
        Ok(Reactor {
            core: Core::new()?,
            events,
            observed_turn: None,
            #[cfg(feature = "std")]
            remote: None,
            #[cfg(feature = "std")]
            remote_capacity: self.remote_capacity,
        })
    }
}

impl Reactor {
    /// A reactor with no shared state whose waits return up to [`DEFAULT_CAPACITY`] events.
    ///
    /// # Errors
    /// As [`Builder::build`].
    ///
    /// ```
    /// let reactor = barepoll::Reactor::new()?;
    /// assert!(reactor.is_empty());
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn new() -> Result<Reactor> {
        Reactor::builder().build()
    }

    /// A reactor with no shared state whose waits return up to `capacity` events, bounded to
    /// `1..=`[`MAX_CAPACITY`](crate::MAX_CAPACITY). More ready fds than that are reported by
    /// the following waits.
    ///
    /// # Errors
    /// As [`Builder::build`].
    ///
    /// ```
    /// let reactor = barepoll::Reactor::with_capacity(usize::MAX)?; // bounded, not 2 GiB
    /// # drop(reactor);
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn with_capacity(capacity: usize) -> Result<Reactor> {
        Reactor::builder().capacity(capacity).build()
    }

    /// A builder for a reactor of any state type ([`Builder::state`]) and thread mode
    /// ([`Builder::sendable`]).
    ///
    /// ```
    /// use barepoll::{Reactor, Sendable};
    ///
    /// let plain: Reactor = Reactor::builder().capacity(64).build()?;
    /// let shared: Reactor<String, Sendable> =
    ///     Reactor::builder().state::<String>().sendable().build()?;
    /// # drop((plain, shared));
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn builder() -> Builder {
        Builder {
            capacity: DEFAULT_CAPACITY,
            remote_capacity: usize::MAX,
            _types: PhantomData,
        }
    }
}

impl<T: Threads> Reactor<(), T> {
    /// Fires the timers that are due, waits once for events (up to `timeout`; `None` waits
    /// for ever, or until the next timer's deadline) and dispatches what the wait returned,
    /// then fires the timers whose deadline the wait ran into. Returns how many events and
    /// timer callbacks it dispatched. If timers fired before the wait, it does not block.
    ///
    /// A signal that interrupts the wait (`EINTR`) is zero events, not an error. Timeouts are
    /// precise to the nanosecond where the kernel has `epoll_pwait2`, else rounded *up* to
    /// milliseconds. If a timer callback asks to stop, it returns without waiting.
    ///
    /// If a handler panics, the panic propagates and the reactor stays consistent and usable:
    /// the next `run_once` first dispatches the rest of that batch (without waiting) and
    /// returns its count, so no event is lost; the panicking event is not dispatched again. A
    /// timer callback that panics is finished by the next turn as if it had returned.
    ///
    /// # Errors
    /// [`Error::Inherited`](crate::Error::Inherited) in a process that inherited the reactor
    /// through `fork()`; the kernel's error if the wait fails otherwise (`EBADF`, `EINVAL`).
    ///
    /// ```
    /// use std::time::Duration;
    /// let mut reactor = barepoll::Reactor::new()?;
    /// assert_eq!(reactor.run_once(Some(Duration::from_millis(1)))?, 0);
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    #[inline(always)]
    pub fn run_once(&mut self, timeout: Option<Duration>) -> Result<usize> {
        self.run_once_with(timeout, &mut ())
    }

    /// Dispatches until a handler or timer callback calls [`Ops::stop`](crate::Ops::stop),
    /// finishing that batch. Interrupted waits are retried.
    ///
    /// # Errors
    /// As [`run_once`](Reactor::run_once).
    ///
    /// ```
    /// use barepoll::{Ops, Timer};
    /// use std::time::Duration;
    ///
    /// let mut reactor = barepoll::Reactor::new()?;
    /// reactor.arm(Timer::after(Duration::from_millis(1)), |ops: &mut Ops<'_>| ops.stop())?;
    /// reactor.run()?;
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn run(&mut self) -> Result<()> {
        self.run_with(&mut ())
    }
}

impl<D, T: Threads> Reactor<D, T> {
    /// [`run_once`](Reactor::run_once), with `data` as the handlers' shared state
    /// ([`Ops::data`](crate::Ops::data)).
    ///
    /// # Errors
    /// As [`run_once`](Reactor::run_once).
    ///
    /// ```
    /// use barepoll::{sys, Ops, Reactor};
    ///
    /// let mut reactor = Reactor::builder().state::<Vec<&str>>().build()?;
    /// barepoll::interest().read()
    ///     .with_fd(sys::eventfd(1, sys::EFD_NONBLOCK)?)
    ///     .with_handler(|ops: &mut Ops<'_, Vec<&str>>| ops.data().push("ready"))
    ///     .register_into(&mut reactor)?;
    /// let mut log = Vec::new();
    /// reactor.run_once_with(None, &mut log)?;
    /// assert_eq!(log, ["ready"]);
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    #[inline(always)]
    pub fn run_once_with(&mut self, timeout: Option<Duration>, data: &mut D) -> Result<usize> {
        // The fast path: no timers, no remote, no stop to clear, nothing left by a panic, and
        // the fork guard's word as its owner wrote it (one load, one compare). Then a turn is
        // a wait and a dispatch.
        let timeout = timeout.map(timer::nanos);
        if !self.core.registry.quiet() {
            return self.run_once_slow(timeout, data);
        }
        let Reactor { core, events, .. } = self;
        let raw = events.wait(&core.registry, timeout);
        if raw > 0 {
            events.dispatch(raw as usize, core, data);
            if core.registry.after() != OPEN {
                // Handlers deleted subscribers, the alarm rang, or a ghost reported.
                return self.after_batch(raw as usize, data);
            }
            return Ok(raw as usize);
        }
        waited(raw)
    }

    /// A turn with something to attend to: a fork check that needs more than the word, the
    /// rest of a batch a handler panicked out of, timers, remote calls.
    /// A turn off the fast path; if a handler or callback failed in it, its error.
    #[inline(never)]
    fn run_once_slow(&mut self, timeout: Option<u64>, data: &mut D) -> Result<usize> {
        // The whole turn runs on this thread: its handlers and callbacks, its tasks, its
        // observer. A blocking remote call from any of them is refused.
        #[cfg(feature = "std")]
        let _running = self.mark_running();
        if self.core.registry.flags() & OBSERVED != 0 {
            if let Some(observed_turn) = self.observed_turn {
                return observed_turn(self, timeout, data);
            }
        }
        self.run_once_told(timeout, data)
    }

    /// A turn off the fast path, with its failure.
    fn run_once_told(&mut self, timeout: Option<u64>, data: &mut D) -> Result<usize> {
        #[cfg(feature = "tasks")]
        self.settle_task_io();
        let n = self.run_once_slower(timeout, data);
        // The tasks last: those woken by this turn's events and timers run in it.
        #[cfg(feature = "tasks")]
        let n = match n {
            Ok(n) if self.core.registry.flags() & crate::thin::TASKS != 0 => {
                let polled = crate::task::run_ready(&self.core.registry);
                self.settle_task_io();
                polled.map(|polled| n + polled)
            }
            n => n,
        };
        match self.core.registry.take_failure() {
            Some(e) => Err(e),
            None => n,
        }
    }

    /// A turn an observer watches: tells it of a panic out of the turn before, runs the
    /// turn, then tells it what the turn did and the error it returns.
    pub(crate) fn run_once_observed(
        &mut self,
        timeout: Option<u64>,
        data: &mut D,
    ) -> Result<usize> {
        let fired = self.core.timers.fired;
        if let Some(watch) = &mut self.core.watch {
            if core::mem::replace(&mut watch.open, true) {
                watch.held.observer().panicked();
            }
            watch.waited = 0;
        }
        // A refused clock makes these zero; the turn reports the refusal if it needs the clock.
        let start = sys::monotonic_ns().unwrap_or(0);
        let result = self.run_once_told(timeout, data);
        let took = sys::monotonic_ns().unwrap_or(start).saturating_sub(start);
        let core = &mut self.core;
        let timers = core.timers.fired.wrapping_sub(fired);
        let rebuilds = core.registry.rebuilds;
        let turn = crate::observe::Turn {
            events: result.as_ref().map_or(0, |n| n.saturating_sub(timers)),
            timers,
            waited: Duration::from_nanos(core.watch.as_ref().map_or(0, |w| w.waited)),
            took: Duration::from_nanos(took),
            rebuilds: core
                .watch
                .as_ref()
                .map_or(0, |w| rebuilds.wrapping_sub(w.rebuilds)),
        };
        if let Some(watch) = &mut core.watch {
            watch.open = false;
            watch.rebuilds = rebuilds;
            watch.held.observer().turn(&turn);
            if let Err(e) = &result {
                watch.held.observer().failed(e);
            }
        }
        result
    }

    /// Marks this thread as running the reactor (see `remote::Running`) until the mark drops.
    #[cfg(feature = "std")]
    pub(crate) fn mark_running(&self) -> Option<crate::remote::Running<D, T>> {
        self.remote
            .as_ref()
            .map(|r| crate::remote::Running::enter(r.shared()))
    }

    fn run_once_slower(&mut self, timeout: Option<u64>, data: &mut D) -> Result<usize> {
        let Reactor { core, events, .. } = self;
        core.registry.check_owner()?;
        if events.pending() != 0 {
            let n = events.dispatch_rest(core, data);
            return self.after_batch(n, data);
        }
        // No batch is open. Left over if a handler panicked out of the last event, or a
        // destructor out of the graveyard:
        core.registry.settle();
        core.registry.bury();
        // Retired nodes a rebuild released that the operation asking for it left (one that
        // registers, or one a destructor's panic cut short).
        core.registry.dispose_released();
        let backoff = core.registry.new_batch();
        if backoff != 0 {
            // A ghost the epoll set could not be rebuilt without keeps reporting: no busy loop.
            // An interrupted or refused nap is a shorter back-off, nothing more: the next turn
            // that sees the ghost backs off again, doubling.
            if sys::nap(timeout.map_or(backoff, |t| t.min(backoff))).is_err() {}
        }
        let mut fired = 0;
        let mut timeout = timeout;
        let mut limit = None;
        if core.registry.flags() & TIMERS != 0 {
            if !core.timers.active() {
                core.registry.flag(TIMERS, false); // cancelled, or fired: nothing to attend
            } else {
                let now = timer::now(core)?;
                fired = timer::fire_due(core, data, now);
                if core.registry.stop_requested() {
                    timer::run_deferred(core, data);
                    return Ok(fired);
                }
                // With an alarm, `set` sets it; timers that callbacks armed, or work done,
                // mean: look for events, but do not block.
                if timer::alarm::set(&mut core.registry, &mut core.timers) || fired != 0 {
                    timeout = Some(0);
                } else if matches!(core.timers.wake, Wake::Timeout) {
                    (timeout, limit) = wait_for_timers(core, now, timeout);
                }
            }
        }
        #[cfg(feature = "tasks")]
        if core.registry.flags() & crate::thin::TASKS != 0 {
            use crate::task::Wait;
            // The sleeps' deadline goes to the alarm if there is one (the wait then needs no
            // timeout for it); without one, the wait ends by it. A wait that must last its
            // timeout first moves an alarm set for a sleep that no longer asks for it.
            let finite = matches!(timeout, Some(t) if t != 0);
            let most = match crate::task::wait_for(&core.registry) {
                None => {
                    if finite {
                        timer::alarm::unstale(&mut core.registry, &mut core.timers, None);
                    }
                    None
                }
                Some(Wait::Now) => Some(0),
                Some(Wait::By(deadline)) => {
                    if finite {
                        let (registry, timers) = (&mut core.registry, &mut core.timers);
                        timer::alarm::unstale(registry, timers, Some(deadline));
                    }
                    if timer::alarm::ring_by(&mut core.registry, &mut core.timers, deadline) {
                        None
                    } else {
                        Some(deadline.saturating_sub(sys::monotonic_ns()?))
                    }
                }
            };
            if let Some(most) = most {
                if timeout.map_or(true, |t| t > most) {
                    (timeout, limit) = (Some(most), None);
                }
            }
        }
        if core.registry.flags() & DEFERRED != 0 {
            timeout = Some(0); // callbacks wait for this turn's end: look, but do not block
        }
        let observed = core.registry.flags() & OBSERVED != 0;
        let start = match &core.watch {
            Some(watch) if observed => (watch.clock)().ok(),
            _ => None,
        };
        let raw = events.wait(&core.registry, timeout);
        // What registrars added is taken in before the wait's events are dispatched.
        #[cfg(feature = "std")]
        if core.registry.registrars() {
            core.registry.take_in_after_wait(raw > 0);
        }
        #[cfg(feature = "tasks")]
        crate::task::awake(&core.registry);
        if let (Some(start), Some(watch)) = (start, &mut core.watch) {
            watch.waited = (watch.clock)().map_or(0, |end| end.saturating_sub(start));
        }
        let n = if raw > 0 { raw as usize } else { waited(raw)? };
        if n != 0 {
            events.dispatch_range(0, n, core, data);
            return Ok(self.after_batch(n, data)? + fired);
        }
        if let (Some(limit), 0) = (limit, raw) {
            // The wait ran until the earliest deadline: no clock reading is needed to know it.
            // (Not so if a signal cut it short: then the next turn reads the clock.)
            fired += timer::fire_due(core, data, limit);
        }
        // The turn's end: what was deferred to it (by timer callbacks, or before the turn).
        timer::run_deferred(core, data);
        Ok(fired)
    }

    /// After a batch that left a flag: recycles what its handlers deleted; then, for the
    /// events of the reactor's own, [`after_own`](Self::after_own). Returns the count of the
    /// batch and the timers fired.
    #[inline(always)]
    fn after_batch(&mut self, n: usize, data: &mut D) -> Result<usize> {
        // The batch is done (a handler may have panicked out of the remainder just run, though:
        // then this is not reached).
        self.core.registry.settle();
        // If a destructor panics here, the rest of the graveyard waits for the next turn.
        self.core.registry.bury();
        if self.core.registry.after() != 0 {
            return self.after_own(n, data);
        }
        Ok(n)
    }

    /// After a batch with events of the reactor's own (not counted): a retired node reported
    /// (the registry tries to rebuild its epoll set; if it cannot, the next turn backs off
    /// before it waits, so a ghost never makes a busy loop); the alarm rang (the timers due
    /// fire now, unless a handler asked to stop; then the next turn fires them).
    #[inline(never)]
    fn after_own(&mut self, n: usize, data: &mut D) -> Result<usize> {
        let core = &mut self.core;
        let n = n.saturating_sub(core.registry.take_skipped());
        core.registry.after_ghosts();
        #[cfg(feature = "alarm")]
        let n = self.after_alarm(n, data);
        #[cfg(not(feature = "alarm"))]
        let n = Ok(n);
        // Callbacks deferred to the end of the turn, after the timers the batch let fire.
        timer::run_deferred(&mut self.core, data);
        // A handler or callback failed in the batch (`FAILED` sent the turn here): its error.
        match self.core.registry.take_failure() {
            Some(e) => Err(e),
            None => n,
        }
    }

    /// [`after_own`](Self::after_own) for the alarm.
    #[cfg(feature = "alarm")]
    fn after_alarm(&mut self, n: usize, data: &mut D) -> Result<usize> {
        let core = &mut self.core;
        if !core.registry.take_alarm() || core.registry.stop_requested() {
            return Ok(n);
        }
        let fired = timer::fire_due(core, data, timer::now(core)?);
        if !core.registry.stop_requested() {
            timer::alarm::set(&mut core.registry, &mut core.timers);
        }
        Ok(n + fired)
    }

    /// [`run`](Reactor::run), with `data` as the handlers' shared state
    /// ([`Ops::data`](crate::Ops::data)).
    ///
    /// # Errors
    /// As [`run_once`](Reactor::run_once).
    ///
    /// ```
    /// use barepoll::{Ops, Reactor, Timer};
    /// use std::time::Duration;
    ///
    /// let mut reactor = Reactor::builder().state::<u32>().build()?;
    /// reactor.arm(Timer::after(Duration::ZERO).every(Duration::from_millis(1)), |ops: &mut Ops<'_, u32>| {
    ///     *ops.data() += 1;
    ///     if *ops.data() == 3 {
    ///         ops.stop();
    ///     }
    /// })?;
    /// let mut ticks = 0;
    /// reactor.run_with(&mut ticks)?;
    /// assert_eq!(ticks, 3);
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn run_with(&mut self, data: &mut D) -> Result<()> {
        loop {
            self.run_once_slow(None, data)?;
            if self.core.registry.stop_requested() {
                return Ok(());
            }
        }
    }

    /// Registers `subscriber` for `interest` and returns its key. The subscriber's fd is read
    /// once, now, and used for every later `epoll_ctl`.
    ///
    /// # Errors
    /// [`Error::AlreadyRegistered`](crate::Error::AlreadyRegistered) if its fd number already
    /// has a subscriber or a further registration here (even one whose fd was closed behind
    /// the reactor's back: the number is its own until it goes); [`Error::Inherited`](crate::Error::Inherited) after
    /// `fork()`; `ENOMEM` if memory for it cannot be had; or the kernel's error (`EPERM` for
    /// a regular file, `EBADF`, `EINVAL` for a refused combination of interest bits). On any
    /// error the subscriber is dropped and nothing reached the kernel. Then its
    /// [`init`](Subscriber::init) runs (if [`has_init`](Subscriber::has_init) says it has
    /// one): if that fails, the registration is undone (every
    /// registration it made removed, its timers cancelled, the subscriber dropped) and its
    /// error returned.
    ///
    /// ```
    /// use barepoll::{sys, Event, Ops, Reactor, Subscriber};
    ///
    /// struct Tick(sys::OwnedFd);
    /// impl sys::AsFd for Tick {
    ///     fn as_fd(&self) -> sys::BorrowedFd<'_> { self.0.as_fd() }
    /// }
    /// impl Subscriber for Tick {
    ///     fn handle(&mut self, _: Event, ops: &mut Ops<'_>) { ops.stop() }
    /// }
    ///
    /// let mut reactor = Reactor::new()?;
    /// reactor.register(Tick(sys::eventfd(1, 0)?), barepoll::interest().read())?;
    /// reactor.run()?;
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn register<S>(&mut self, subscriber: S, interest: Interest) -> Result<Key>
    where
        S: Subscriber<D, T>,
        T: Admit<S>,
    {
        self.settle();
        let has_init = subscriber.has_init();
        let key = self.core.registry.insert(subscriber, interest)?;
        if has_init {
            crate::thin::init_outside(&mut self.core, key)?;
        }
        Ok(key)
    }

    /// Changes the interest of the subscriber of `key`.
    ///
    /// # Errors
    /// [`Error::StaleKey`](crate::Error::StaleKey) if the key names no live subscriber;
    /// [`Error::Inherited`](crate::Error::Inherited) after `fork()`; the kernel's error
    /// (`EINVAL` for an exclusive registration, `EBADF`/`ENOENT` if its fd was closed behind
    /// the reactor's back).
    ///
    /// ```
    /// # use barepoll::{sys, Reactor};
    /// let mut reactor = Reactor::new()?;
    /// let key = barepoll::interest().read()
    ///     .with_fd(sys::eventfd(0, 0)?)
    ///     .with_handler(|| {})
    ///     .register_into(&mut reactor)?;
    /// reactor.modify(key, barepoll::interest().write())?;
    /// assert!(reactor.interest(key)?.is_write());
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn modify(&mut self, key: Key, interest: Interest) -> Result<()> {
        self.core.registry.modify(key, interest)
    }

    /// Deletes and drops the subscriber of `key`. A stale key gives
    /// [`Error::StaleKey`](crate::Error::StaleKey) and touches nothing.
    ///
    /// If the kernel refuses the `EPOLL_CTL_DEL` (the subscriber's fd was closed or replaced
    /// behind the reactor's back, perhaps while another fd keeps the file open and so the
    /// kernel's registration alive), the reactor moves every other registration to a new
    /// epoll instance and closes the old one, which removes the registration it can no longer
    /// name; the delete then succeeds. This costs one `epoll_ctl` per registration. Visible
    /// effect: edge-triggered and oneshot registrations are armed afresh, so each may report
    /// once more.
    ///
    /// If a handler panicked out of a batch whose remaining events are not yet dispatched
    /// ([`pending`](Reactor::pending) is non-zero), the drop waits until the next `run_once`
    /// has dispatched them: subscribers deleted meanwhile keep their fds and memory until then.
    ///
    /// # Errors
    /// [`Error::StaleKey`](crate::Error::StaleKey); [`Error::Inherited`](crate::Error::Inherited)
    /// after `fork()`; `ENOMEM` if the subscriber must be kept until a batch remainder is
    /// dispatched and memory for that cannot be had (it stays registered, untouched).
    ///
    /// If the new epoll instance for a refused DEL cannot be made (out of descriptors or
    /// memory), the delete still succeeds: the subscriber is dropped (its fd closed), its key
    /// is stale and its number free; only its node's memory is kept while the kernel may
    /// report it, and a turn that sees such a report tries the rebuild again, backing off if it
    /// still cannot (see the technical chapter, "A DEL the kernel refuses").
    ///
    /// ```
    /// # use barepoll::{sys, Reactor};
    /// let mut reactor = Reactor::new()?;
    /// let key = barepoll::interest().read()
    ///     .with_fd(sys::eventfd(0, 0)?)
    ///     .with_handler(|| {})
    ///     .register_into(&mut reactor)?;
    /// reactor.delete(key)?; // the eventfd is closed here
    /// assert!(reactor.delete(key).is_err()); // stale
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn delete(&mut self, key: Key) -> Result<()> {
        self.settle();
        let Core {
            registry,
            timers,
            running,
            ..
        } = &mut self.core;
        registry.remove(key, |owned| cancel_owned(timers, running, owned))
    }

    /// Deletes the subscriber of `key` and hands it back, if it is an `S`: to move a
    /// connection to another reactor, say. Like [`delete`](Reactor::delete) otherwise.
    ///
    /// # Errors
    /// [`Error::WrongType`](crate::Error::WrongType) if it is not an `S` (nothing changes);
    /// otherwise as [`delete`](Reactor::delete).
    ///
    /// ```
    /// use barepoll::{sys, Event, Ops, Reactor, Subscriber};
    ///
    /// struct Conn(sys::OwnedFd);
    /// impl sys::AsFd for Conn {
    ///     fn as_fd(&self) -> sys::BorrowedFd<'_> { self.0.as_fd() }
    /// }
    /// impl Subscriber for Conn {
    ///     fn handle(&mut self, _: Event, _: &mut Ops<'_>) {}
    /// }
    ///
    /// let (mut one, mut two) = (Reactor::new()?, Reactor::new()?);
    /// let key = one.register(Conn(sys::eventfd(0, 0)?), barepoll::interest().read())?;
    /// let conn: Conn = one.take(key)?;
    /// two.register(conn, barepoll::interest().read())?;
    /// assert_eq!((one.len(), two.len()), (0, 1));
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn take<S: Subscriber<D, T>>(&mut self, key: Key) -> Result<S> {
        self.settle();
        let (value, owned) = self.core.registry.take(key)?;
        let Core {
            timers, running, ..
        } = &mut self.core;
        cancel_owned(timers, running, owned);
        Ok(value)
    }

    /// The interest the subscriber of `key` is registered with.
    ///
    /// # Errors
    /// [`Error::StaleKey`](crate::Error::StaleKey) if the key names no live subscriber.
    ///
    /// ```
    /// # use barepoll::{sys, Reactor};
    /// let mut reactor = Reactor::new()?;
    /// let key = barepoll::interest().read().edge()
    ///     .with_fd(sys::eventfd(0, 0)?)
    ///     .with_handler(|| {})
    ///     .register_into(&mut reactor)?;
    /// assert!(reactor.interest(key)?.is_edge());
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn interest(&self, key: Key) -> Result<Interest> {
        self.core.registry.interest(key)
    }

    /// The subscriber of `key`, if it is an `S`.
    ///
    /// # Errors
    /// [`Error::StaleKey`](crate::Error::StaleKey), or
    /// [`Error::WrongType`](crate::Error::WrongType) if it is not an `S`.
    ///
    /// ```
    /// use barepoll::{sys, Event, Ops, Reactor, Subscriber};
    ///
    /// struct Named(sys::OwnedFd, &'static str);
    /// impl sys::AsFd for Named {
    ///     fn as_fd(&self) -> sys::BorrowedFd<'_> { self.0.as_fd() }
    /// }
    /// impl Subscriber for Named {
    ///     fn handle(&mut self, _: Event, _: &mut Ops<'_>) {}
    /// }
    ///
    /// let mut reactor = Reactor::new()?;
    /// let key = reactor.register(Named(sys::eventfd(0, 0)?, "a"), barepoll::interest().read())?;
    /// assert_eq!(reactor.get::<Named>(key)?.1, "a");
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn get<S: Subscriber<D, T>>(&self, key: Key) -> Result<&S> {
        self.core.registry.get(key)
    }

    /// The subscriber of `key`, mutably, if it is an `S`.
    ///
    /// # Errors
    /// As [`get`](Reactor::get).
    ///
    /// ```
    /// # use barepoll::{sys, Event, Ops, Reactor, Subscriber};
    /// # struct Named(sys::OwnedFd, &'static str);
    /// # impl sys::AsFd for Named {
    /// #     fn as_fd(&self) -> sys::BorrowedFd<'_> { self.0.as_fd() }
    /// # }
    /// # impl Subscriber for Named {
    /// #     fn handle(&mut self, _: Event, _: &mut Ops<'_>) {}
    /// # }
    /// let mut reactor = Reactor::new()?;
    /// let key = reactor.register(Named(sys::eventfd(0, 0)?, "a"), barepoll::interest().read())?;
    /// reactor.get_mut::<Named>(key)?.1 = "b";
    /// assert_eq!(reactor.get::<Named>(key)?.1, "b");
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn get_mut<S: Subscriber<D, T>>(&mut self, key: Key) -> Result<&mut S> {
        self.core.registry.get_mut(key)
    }

    /// How many subscribers are registered (the reactor's own, such as the timers' alarm and
    /// the one serving remote calls, are not counted).
    ///
    /// ```
    /// assert_eq!(barepoll::Reactor::new()?.len(), 0);
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn len(&self) -> usize {
        // The reactor's own subscribers (the timers' alarm, the remote's queue) are not counted.
        self.core.registry.len()
    }

    /// Whether no subscriber is registered.
    ///
    /// ```
    /// assert!(barepoll::Reactor::new()?.is_empty());
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Events of a batch that a handler panicked out of, not yet dispatched. The next
    /// `run_once` dispatches them (without waiting) before it waits again; until it does,
    /// subscribers deleted with [`delete`](Reactor::delete) are dropped only then.
    ///
    /// ```
    /// assert_eq!(barepoll::Reactor::new()?.pending(), 0);
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn pending(&self) -> usize {
        self.events.pending()
    }

    /// Whether a handler or timer callback called [`Ops::stop`](crate::Ops::stop) in the
    /// current batch (the last one, between turns).
    ///
    /// ```
    /// assert!(!barepoll::Reactor::new()?.stop_requested());
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn stop_requested(&self) -> bool {
        self.core.registry.stop_requested()
    }

    /// Arms a timer; its callback runs on the reactor's thread with an
    /// [`Ops`](crate::Ops). Makes no syscall.
    ///
    /// # Errors
    /// [`Error::Invalid`](crate::Error::Invalid) for a periodic timer with a zero period;
    /// `ENOMEM` if memory for it cannot be had.
    ///
    /// ```
    /// use barepoll::{Instant, Ops, Reactor, Timer};
    /// use std::time::Duration;
    ///
    /// let mut reactor = Reactor::new()?;
    /// let start = Instant::now();
    /// reactor.arm(Timer::after(Duration::from_millis(5)), |ops: &mut Ops<'_>| ops.stop())?;
    /// reactor.run()?;
    /// assert!(start.elapsed() >= Duration::from_millis(5)); // never early
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn arm<F>(&mut self, timer: Timer, callback: F) -> Result<TimerKey>
    where
        F: FnMut(&mut crate::Ops<'_, D, T>) + 'static,
        T: Admit<F>,
    {
        let Core {
            registry, timers, ..
        } = &mut self.core;
        // Nothing here makes a kernel call but the alarm's first registration; refused in an
        // inherited reactor all the same, like every operation that could.
        registry.check_owner()?;
        if self.events.pending() == 0 {
            registry.settle(); // see `settle`
        }
        timer::alarm::prepare(registry, timers);
        let key = timers.arm(timer, callback)?;
        registry.flag(TIMERS, true);
        Ok(key)
    }

    /// A handle (`Clone + Send + Sync`) that runs closures on this reactor's thread, from any
    /// thread: see [`Remote`](crate::remote::Remote). Every call gives a handle to the same
    /// channel; the first registers its subscriber (one eventfd) and, unless the queue is
    /// bounded ([`Builder::remote_capacity`](crate::Builder::remote_capacity)), allocates its
    /// ring of 1,024 jobs (24 KiB on 64-bit targets). The state must be `'static` (the
    /// closures, made on other threads, name it).
    ///
    /// # Errors
    /// The kernel's error from `eventfd2`; `ENOMEM` if memory for the channel cannot be had;
    /// or what registering gives. Nothing is left registered or open on error.
    ///
    /// ```
    /// use barepoll::{Ops, Reactor};
    /// let mut reactor = Reactor::new()?;
    /// let remote = reactor.remote()?;
    /// std::thread::spawn(move || remote.post(|ops: &mut Ops<'_>| ops.stop()).unwrap());
    /// reactor.run()?;
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    #[cfg(feature = "std")]
    #[cfg_attr(docsrs, doc(cfg(feature = "std")))]
    pub fn remote(&mut self) -> Result<crate::remote::Remote<D, T>>
    where
        D: 'static,
        T: Admit<crate::remote::Serve<D, T>>,
    {
        if let Some(remote) = &self.remote {
            return Ok(remote.clone());
        }
        let (remote, serve) = crate::remote::Remote::open(self.remote_capacity)?;
        // The reactor's own: not counted by `len`.
        let read = crate::interest::interest().read();
        self.settle();
        self.core.registry.insert_internal(serve, read)?;
        self.remote = Some(remote.clone());
        self.core.registry.flag(crate::thin::REMOTE, true);
        Ok(remote)
    }

    /// Cancels the timer of `key`: it will not fire again, and its callback is dropped (at once,
    /// even if it panicked in an earlier turn and waits to be finished).
    ///
    /// # Errors
    /// [`Error::StaleTimer`](crate::Error::StaleTimer) if the key names no armed timer (a
    /// one-shot timer that fired, or one cancelled already).
    ///
    /// ```
    /// use barepoll::{Ops, Reactor, Timer};
    /// use std::time::Duration;
    ///
    /// let mut reactor = Reactor::new()?;
    /// let key = reactor.arm(Timer::after(Duration::from_secs(60)), |_: &mut Ops<'_>| {})?;
    /// reactor.cancel(key)?;
    /// assert!(reactor.cancel(key).is_err());
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn cancel(&mut self, key: TimerKey) -> Result<()> {
        let Core {
            timers, running, ..
        } = &mut self.core;
        cancel_timer(timers, running, key)
    }

    /// Gives the timer of `key` a new schedule, keeping its callback; a relative one counts
    /// from now. Makes no syscall where the clock is read through the vDSO (see
    /// [`Ops::reset`](crate::Ops::reset)).
    ///
    /// # Errors
    /// [`Error::StaleTimer`](crate::Error::StaleTimer) if the key names no armed timer;
    /// [`Error::Invalid`](crate::Error::Invalid) for a zero period.
    ///
    /// ```
    /// use barepoll::{Ops, Reactor, Timer};
    /// use std::time::Duration;
    ///
    /// let mut reactor = Reactor::new()?;
    /// let key = reactor.arm(Timer::after(Duration::from_secs(60)), |ops: &mut Ops<'_>| ops.stop())?;
    /// reactor.reset(key, Timer::after(Duration::from_millis(1)))?; // sooner
    /// reactor.run()?;
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn reset(&mut self, key: TimerKey, timer: Timer) -> Result<()> {
        if self.core.timers.reset(key, timer)? {
            self.core.registry.flag(TIMERS, true);
        }
        Ok(())
    }
}

#[cfg(feature = "tasks")]
impl<D, T: Threads> Reactor<D, T> {
    /// The registry, for the rooms that extend the reactor (tasks).
    pub(crate) fn registry_mut(&mut self) -> &mut crate::thin::Registry<D, T> {
        &mut self.core.registry
    }

    /// Registers and deletes the I/O sources tasks made and dropped (outside any batch).
    fn settle_task_io(&mut self) {
        if self.core.registry.flags() & crate::thin::TASKS != 0 && self.events.pending() == 0 {
            self.core.registry.settle();
            crate::task::settle_io(&mut self.core.registry);
        }
    }
}

/// The callback of the timer that is running, or that panicked and waits for the next turn.
type Running<D, T> = Option<(TimerKey, timer::Callback<D, T>)>;

/// Cancels the timer of `key` from outside any turn. A callback that panicked is kept until the
/// next turn finishes it: cancelled from outside, it is finished (dropped) now.
fn cancel_timer<D, T: Threads>(
    timers: &mut timer::Timers<D, T>,
    running: &mut Running<D, T>,
    key: TimerKey,
) -> Result<()> {
    timers.cancel(key)?;
    if matches!(running, Some((running, _)) if *running == key) {
        if let Some((key, callback)) = running.take() {
            timers.finish(key, callback, 0);
        }
    }
    Ok(())
}

/// Cancels the timers a deleted subscriber owned.
fn cancel_owned<D, T: Threads>(
    timers: &mut timer::Timers<D, T>,
    running: &mut Running<D, T>,
    owned: crate::thin::Owned<D, T>,
) {
    if let Some(owned) = owned {
        for &key in owned.timers() {
            let _ = cancel_timer(timers, running, key); // fired or cancelled since
        }
    }
}

impl<D, T: Threads> Reactor<D, T> {
    /// Tells the registry that no batch is open, if none is: no handler runs (`&mut self` is
    /// here) and no remainder of a batch a handler panicked out of waits. Called before the
    /// operations that may free a node; the registry decides from that state alone.
    fn settle(&mut self) {
        if self.events.pending() == 0 {
            self.core.registry.settle();
        }
    }
}

/// The wait's timeout given the timers (read at `now`): zero while some wait for a clock
/// reading, else until the earliest deadline if that is sooner than `timeout`; with the
/// deadline the wait will have reached if it times out.
#[inline]
fn wait_for_timers<D, T: Threads>(
    core: &Core<D, T>,
    now: u64,
    timeout: Option<u64>,
) -> (Option<u64>, Option<u64>) {
    if core.timers.pending() {
        return (Some(0), None);
    }
    let Some(next) = core.timers.next_deadline() else {
        return (timeout, None);
    };
    let until = next.saturating_sub(now);
    match timeout {
        Some(t) if t <= until => (timeout, None),
        _ => (Some(until), Some(next.max(now))),
    }
}

#[cfg(all(test, feature = "alarm"))]
impl<D, T: Threads> Reactor<D, T> {
    /// Whether the next turn has nothing to attend to: no flag set, so it takes the fast path
    /// wherever the fork guard is a wiped page (not under qemu-user, which ignores
    /// `MADV_WIPEONFORK`; there every turn asks `getpid()` and the flags alone tell).
    pub(crate) fn nothing_to_attend(&self) -> bool {
        self.core.registry.flags() == 0
    }

    /// Whether the timers wake the reactor through the alarm.
    pub(crate) fn has_alarm(&self) -> bool {
        matches!(self.core.timers.wake, Wake::Alarm { .. })
    }

    /// When the alarm is set to ring (nanoseconds on the monotonic clock), if it is set.
    #[cfg(feature = "tasks")]
    pub(crate) fn alarm_set(&self) -> Option<u64> {
        match self.core.timers.wake {
            Wake::Alarm { set, .. } if set != u64::MAX => Some(set),
            _ => None,
        }
    }
}

/// The remote's queue closes first, before any subscriber drops: a blocking call from a
/// subscriber's `Drop` gets [`Error::Closed`](crate::Error::Closed) rather than waiting for a
/// reactor that will never run again.
#[cfg(feature = "std")]
impl<D, T: 'static> Drop for Reactor<D, T> {
    fn drop(&mut self) {
        if let Some(remote) = &self.remote {
            remote.close();
        }
    }
}

impl<D, T: Threads> fmt::Debug for Reactor<D, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reactor")
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

/// The `epoll_pwait` fallback (kernels < 5.11, qemu-user), forced here on any kernel so both
/// wait paths run everywhere. Forcing is process-wide, so later unit tests use it too.
#[cfg(test)]
mod fallback_tests {
    use super::*;
    use crate::sys::{self, AsFd, OwnedFd};
    use crate::Ops;
    use std::sync::Arc;
    use std::time::Instant;

    #[test]
    fn epoll_pwait_fallback_dispatches_and_times_out() {
        sys::forget_pwait2();
        let mut r = Reactor::new().unwrap();
        assert!(!sys::uses_pwait2());
        // Zero timeout: returns at once.
        assert_eq!(r.run_once(Some(Duration::ZERO)).unwrap(), 0);
        // Sub-millisecond: rounded up to 1 ms, never a busy poll.
        let t = Instant::now();
        assert_eq!(r.run_once(Some(Duration::from_micros(300))).unwrap(), 0);
        assert!(t.elapsed() >= Duration::from_millis(1), "{:?}", t.elapsed());
        // Long: waits the whole time.
        let t = Instant::now();
        assert_eq!(r.run_once(Some(Duration::from_millis(60))).unwrap(), 0);
        assert!(t.elapsed() >= Duration::from_millis(60));
        // A timer's deadline, rounded up: never early.
        let t = Instant::now();
        r.arm(
            Timer::after(Duration::from_micros(1500)),
            |ops: &mut Ops<'_>| ops.stop(),
        )
        .unwrap();
        r.run().unwrap();
        assert!(
            t.elapsed() >= Duration::from_micros(1500),
            "{:?}",
            t.elapsed()
        );
        // Infinite, woken by another thread; the event is dispatched.
        let efd = Arc::new(sys::eventfd(0, sys::EFD_NONBLOCK).unwrap());
        let writer = efd.clone();
        crate::interest()
            .read()
            .edge() // drained by its handler, so edge and level behave alike; Miri needs edge
            .with_fd(efd)
            .with_handler(|fd: &mut Arc<OwnedFd>, ops: &mut Ops<'_>| {
                let mut buf = [0u8; 8];
                sys::read(fd.as_fd(), &mut buf).unwrap();
                ops.stop();
            })
            .register_into(&mut r)
            .unwrap();
        let th = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            sys::write(writer.as_fd(), &1u64.to_ne_bytes()).unwrap();
        });
        r.run().unwrap();
        th.join().unwrap();
        assert!(!sys::uses_pwait2());
    }
}
