//! `Ops`: what a running handler or timer callback may do to the reactor.
//!
//! It can add, modify and delete registrations (its own or others' by key), re-arm a oneshot
//! registration, arm, cancel and reset timers, reach the state passed to `run_with`, and ask
//! `run` to stop. It cannot reach the reactor itself, or the running subscriber a second time
//! (invariant 5): there is no `get`; another subscriber's value is lent only by `with`, which
//! refuses the running one and any lent further up the stack (invariant 12).

use crate::error::Result;
use crate::interest::Interest;
use crate::key::Key;
use crate::subscriber::Subscriber;
#[cfg(feature = "testing")]
use crate::testing::Recorder;
use crate::thin::{Registry, TIMERS};
use crate::threads::{Admit, Local, Threads};
use crate::timer::{Timer, TimerKey, Timers};

pub(crate) mod owned;

/// The handle a handler gets for the duration of one event, and a timer callback for one
/// firing: `Ops<'_>` for a reactor with no state, `Ops<'_, D>` for one whose handlers share a
/// `D`, `Ops<'_, D, Sendable>` for a [`Sendable`](crate::Sendable) one.
///
/// ```
/// use barepoll::{Ops, Reactor, sys};
///
/// let mut reactor = Reactor::new()?;
/// let efd = sys::eventfd(1, sys::EFD_NONBLOCK)?;
/// barepoll::interest().read()
///     .with_fd(efd)
///     .with_handler(|ops: &mut Ops<'_>| {
///         ops.delete_self().unwrap(); // dropped (and its fd closed) when the batch is done
///         ops.stop();
///     })
///     .register_into(&mut reactor)?;
/// reactor.run()?;
/// assert!(reactor.is_empty());
/// # Ok::<(), barepoll::Error>(())
/// ```
///
/// A handler cannot hold on to the reactor, nor keep `Ops` past its call:
///
/// ```compile_fail
/// # use barepoll::{Ops, Reactor, sys};
/// fn attach(reactor: &mut Reactor, other: &Reactor) {
///     barepoll::interest().read()
///         .with_fd(sys::eventfd(0, 0).unwrap())
///         .with_handler(move |_: &mut Ops<'_>| { other.len(); }) // not 'static
///         .register_into(reactor)
///         .unwrap();
/// }
/// ```
///
/// ```compile_fail
/// # use barepoll::{Ops, Reactor, sys};
/// fn attach(reactor: &mut Reactor) {
///     let mut saved = None;
///     barepoll::interest().read()
///         .with_fd(sys::eventfd(0, 0).unwrap())
///         .with_handler(move |ops: &mut Ops<'_>| saved = Some(ops)) // Ops cannot escape
///         .register_into(reactor)
///         .unwrap();
/// }
/// ```
///
/// The same shapes compile when they keep to the rules:
///
/// ```
/// # use barepoll::{Ops, Reactor, sys};
/// fn attach(reactor: &mut Reactor) {
///     let mut saved = None;
///     barepoll::interest().read()
///         .with_fd(sys::eventfd(0, 0).unwrap())
///         .with_handler(move |ops: &mut Ops<'_>| saved = Some(ops.key()))
///         .register_into(reactor)
///         .unwrap();
/// }
/// ```
pub struct Ops<'a, D = (), T: 'static = Local> {
    target: Target<'a, D, T>,
    /// `None` only in a `Subscriber::init` called from `Reactor::register` (no state lent).
    data: Option<&'a mut D>,
    current: Key,
    interest: Interest,
    timer: Option<TimerKey>,
}

enum Target<'a, D, T: 'static> {
    Live {
        registry: &'a mut Registry<D, T>,
        timers: &'a mut Timers<D, T>,
    },
    #[cfg(feature = "testing")]
    Record(&'a mut Recorder<D, T>),
}

impl<'a, D, T: Threads> Ops<'a, D, T> {
    #[inline(always)]
    pub(crate) fn for_event(
        registry: &'a mut Registry<D, T>,
        timers: &'a mut Timers<D, T>,
        data: &'a mut D,
        current: Key,
        interest: Interest,
    ) -> Self {
        Ops {
            target: Target::Live { registry, timers },
            data: Some(data),
            current,
            interest,
            timer: None,
        }
    }

    pub(crate) fn for_timer(
        registry: &'a mut Registry<D, T>,
        timers: &'a mut Timers<D, T>,
        data: &'a mut D,
        timer: TimerKey,
    ) -> Self {
        Ops {
            target: Target::Live { registry, timers },
            data: Some(data),
            current: Key::NONE,
            interest: Interest::empty(),
            timer: Some(timer),
        }
    }

    /// The `Ops` of a callback deferred to the end of the turn: no subscriber, no timer.
    pub(crate) fn for_deferred(
        registry: &'a mut Registry<D, T>,
        timers: &'a mut Timers<D, T>,
        data: &'a mut D,
    ) -> Self {
        Ops {
            target: Target::Live { registry, timers },
            data: Some(data),
            current: Key::NONE,
            interest: Interest::empty(),
            timer: None,
        }
    }

    #[cfg(feature = "testing")]
    pub(crate) fn recording(
        recorder: &'a mut Recorder<D, T>,
        data: &'a mut D,
        current: Key,
        interest: Interest,
        timer: Option<TimerKey>,
    ) -> Self {
        Ops {
            target: Target::Record(recorder),
            data: Some(data),
            current,
            interest,
            timer,
        }
    }

    /// The state the reactor was run with ([`Reactor::run_with`](crate::Reactor::run_with)):
    /// borrowed for as long as the returned reference is used, so it cannot outlive this call.
    ///
    /// ```
    /// use barepoll::{sys, Ops, Reactor};
    ///
    /// struct Stats { events: u32 }
    /// let mut reactor = Reactor::builder().state::<Stats>().build()?;
    /// barepoll::interest().read()
    ///     .with_fd(sys::eventfd(1, sys::EFD_NONBLOCK)?)
    ///     .with_handler(|ops: &mut Ops<'_, Stats>| {
    ///         ops.data().events += 1;
    ///         ops.stop();
    ///     })
    ///     .register_into(&mut reactor)?;
    /// let mut stats = Stats { events: 0 };
    /// reactor.run_with(&mut stats)?;
    /// assert_eq!(stats.events, 1);
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    ///
    /// # Panics
    /// In [`Subscriber::init`] called from [`Reactor::register`](crate::Reactor::register)
    /// with a state that is not zero-sized: no state is lent outside `run_with`.
    #[inline(always)]
    pub fn data(&mut self) -> &mut D {
        match &mut self.data {
            Some(data) => data,
            None => no_state(),
        }
    }

    /// The registry of a live reactor (`None` for a recorder).
    #[cfg(feature = "tasks")]
    pub(crate) fn live_registry(&mut self) -> Option<&mut Registry<D, T>> {
        match &mut self.target {
            Target::Live { registry, .. } => Some(registry),
            #[cfg(feature = "testing")]
            Target::Record(_) => None,
        }
    }

    /// The `Ops` lent to a `with` closure: the caller's, on the same reactor.
    pub(crate) fn for_with(
        registry: &'a mut Registry<D, T>,
        timers: &'a mut Timers<D, T>,
        data: Option<&'a mut D>,
        current: Key,
        interest: Interest,
        timer: Option<TimerKey>,
    ) -> Self {
        Ops {
            target: Target::Live { registry, timers },
            data,
            current,
            interest,
            timer,
        }
    }

    /// The `Ops` of a subscriber's `init`: `data` is `None` from `Reactor::register`.
    pub(crate) fn for_init(
        registry: &'a mut Registry<D, T>,
        timers: &'a mut Timers<D, T>,
        data: Option<&'a mut D>,
        current: Key,
        interest: Interest,
    ) -> Self {
        Ops {
            target: Target::Live { registry, timers },
            data,
            current,
            interest,
            timer: None,
        }
    }

    /// Registers a new subscriber. It can fire from the next wait on, never in this batch.
    ///
    /// # Errors
    /// As [`Reactor::register`](crate::Reactor::register).
    ///
    /// ```
    /// use barepoll::{sys, Ops, Reactor};
    ///
    /// let mut reactor = Reactor::new()?;
    /// barepoll::interest().read()
    ///     .with_fd(sys::eventfd(1, sys::EFD_NONBLOCK)?)
    ///     .with_handler(|ops: &mut Ops<'_>| {
    ///         // A second subscriber, registered from inside the first one's handler.
    ///         barepoll::interest().read()
    ///             .with_fd(sys::eventfd(1, sys::EFD_NONBLOCK).unwrap())
    ///             .with_handler(|ops: &mut Ops<'_>| ops.stop())
    ///             .register_into(ops)
    ///             .unwrap();
    ///         ops.delete_self().unwrap();
    ///     })
    ///     .register_into(&mut reactor)?;
    /// reactor.run()?;
    /// assert_eq!(reactor.len(), 1);
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn add<S>(&mut self, subscriber: S, interest: Interest) -> Result<Key>
    where
        S: Subscriber<D, T>,
        T: Admit<S>,
    {
        match &mut self.target {
            Target::Live { registry, timers } => {
                let has_init = subscriber.has_init();
                let key = registry.insert(subscriber, interest)?;
                if has_init {
                    let data = self.data.as_deref_mut();
                    crate::thin::init(registry, timers, data, key, self.current)?;
                }
                Ok(key)
            }
            #[cfg(feature = "testing")]
            Target::Record(r) => r.add(subscriber, interest),
        }
    }

    /// Changes the interest of any live registration.
    ///
    /// # Errors
    /// As [`Reactor::modify`](crate::Reactor::modify).
    ///
    /// ```
    /// # use barepoll::{sys, Ops, Reactor};
    /// # let mut reactor = Reactor::new()?;
    /// barepoll::interest().read()
    ///     .with_fd(sys::eventfd(1, sys::EFD_NONBLOCK)?)
    ///     .with_handler(|ops: &mut Ops<'_>| {
    ///         let me = ops.key();
    ///         ops.modify(me, barepoll::interest()).unwrap(); // no more readiness events
    ///         ops.stop();
    ///     })
    ///     .register_into(&mut reactor)?;
    /// reactor.run()?;
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn modify(&mut self, key: Key, interest: Interest) -> Result<()> {
        match &mut self.target {
            Target::Live { registry, .. } => registry.modify(key, interest)?,
            #[cfg(feature = "testing")]
            Target::Record(r) => r.modify(key, interest)?,
        }
        if key == self.current {
            self.interest = interest;
        }
        Ok(())
    }

    /// Deletes any live registration. Its later events in this batch are skipped; it is
    /// dropped when the batch is done. If a handler panics out of the batch, that is when the
    /// next `run_once` has dispatched the rest of it (at its start, if nothing was left), or
    /// when the reactor drops, whichever comes first; never during the unwinding. From a
    /// timer callback (no batch is open then), it is dropped at once.
    ///
    /// # Errors
    /// [`Error::StaleKey`](crate::Error::StaleKey) if the key names no live subscriber;
    /// `ENOMEM` if memory to keep the subscriber until the batch is done cannot be had (the
    /// subscriber is then still registered, untouched); otherwise as
    /// [`Reactor::delete`](crate::Reactor::delete), which also says how a DEL the kernel
    /// refuses is recovered.
    ///
    /// ```
    /// # use barepoll::{sys, Ops, Reactor};
    /// # let mut reactor = Reactor::new()?;
    /// let victim = barepoll::interest().read()
    ///     .with_fd(sys::eventfd(1, sys::EFD_NONBLOCK)?)
    ///     .with_handler(|| -> () { unreachable!("deleted before its event is dispatched") })
    ///     .register_into(&mut reactor)?;
    /// reactor.delete(victim)?; // outside any batch: dropped at once
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn delete(&mut self, key: Key) -> Result<()> {
        match &mut self.target {
            Target::Live { registry, timers } => registry.remove(key, |owned| {
                if let Some(owned) = owned {
                    timers.cancel_all(owned.timers());
                }
            }),
            #[cfg(feature = "testing")]
            Target::Record(r) => r.delete(key),
        }
    }

    /// The key of the subscriber whose handler is running. In a timer callback, a key that
    /// names no subscriber: operations on it give [`Error::StaleKey`](crate::Error::StaleKey).
    ///
    /// ```
    /// # use barepoll::{sys, Ops, Reactor};
    /// # let mut reactor = Reactor::new()?;
    /// let key = barepoll::interest().read()
    ///     .with_fd(sys::eventfd(1, sys::EFD_NONBLOCK)?)
    ///     .with_handler(|ops: &mut Ops<'_>| {
    ///         let me = ops.key();
    ///         ops.delete(me).unwrap();
    ///     })
    ///     .register_into(&mut reactor)?;
    /// reactor.run_once(None)?;
    /// assert!(reactor.interest(key).is_err()); // deleted
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn key(&self) -> Key {
        self.current
    }

    /// The running subscriber's interest (as it is now, after any `modify_self`); empty in a
    /// timer callback.
    ///
    /// ```
    /// # use barepoll::{sys, Ops, Reactor};
    /// # let mut reactor = Reactor::new()?;
    /// barepoll::interest().read().edge()
    ///     .with_fd(sys::eventfd(1, sys::EFD_NONBLOCK)?)
    ///     .with_handler(|ops: &mut Ops<'_>| assert!(ops.interest().is_edge()))
    ///     .register_into(&mut reactor)?;
    /// reactor.run_once(None)?;
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn interest(&self) -> Interest {
        self.interest
    }

    /// Changes the running subscriber's interest.
    ///
    /// # Errors
    /// As [`modify`](Ops::modify).
    ///
    /// ```
    /// # use barepoll::{sys, Ops, Reactor};
    /// # let mut reactor = Reactor::new()?;
    /// barepoll::interest().read()
    ///     .with_fd(sys::eventfd(1, sys::EFD_NONBLOCK)?)
    ///     .with_handler(|ops: &mut Ops<'_>| {
    ///         ops.modify_self(barepoll::interest().write()).unwrap();
    ///         assert!(ops.interest().is_write());
    ///     })
    ///     .register_into(&mut reactor)?;
    /// reactor.run_once(None)?;
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn modify_self(&mut self, interest: Interest) -> Result<()> {
        self.modify(self.current, interest)
    }

    /// Deletes the running subscriber. The handler keeps its `&mut` until it returns; the
    /// subscriber is dropped when the batch is done (see [`delete`](Ops::delete)).
    ///
    /// # Errors
    /// As [`delete`](Ops::delete).
    ///
    /// ```
    /// # use barepoll::{sys, Ops, Reactor};
    /// # let mut reactor = Reactor::new()?;
    /// barepoll::interest().read()
    ///     .with_fd(sys::eventfd(1, sys::EFD_NONBLOCK)?)
    ///     .with_handler(|ops: &mut Ops<'_>| ops.delete_self().unwrap())
    ///     .register_into(&mut reactor)?;
    /// reactor.run_once(None)?;
    /// assert!(reactor.is_empty());
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn delete_self(&mut self) -> Result<()> {
        self.delete(self.current)
    }

    /// Re-arms a oneshot registration with its current interest.
    ///
    /// # Errors
    /// As [`modify`](Ops::modify).
    ///
    /// ```
    /// # use barepoll::{sys, sys::AsFd, Ops, Reactor};
    /// # let mut reactor = Reactor::new()?;
    /// barepoll::interest().read().oneshot()
    ///     .with_fd(sys::eventfd(1, sys::EFD_NONBLOCK)?)
    ///     .with_handler(|ops: &mut Ops<'_>| ops.rearm().unwrap()) // fires again next wait
    ///     .register_into(&mut reactor)?;
    /// assert_eq!(reactor.run_once(None)?, 1);
    /// assert_eq!(reactor.run_once(None)?, 1);
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn rearm(&mut self) -> Result<()> {
        self.modify(self.current, self.interest)
    }

    /// Reports that this handler (or callback) failed: the first error of the batch is kept,
    /// `run` is asked to stop, the rest of the batch is still dispatched, and then
    /// [`Reactor::run`](crate::Reactor::run) or [`run_once`](crate::Reactor::run_once)
    /// returns `Err(error)`. Later turns run as usual. Handlers made with
    /// [`with_handler`](crate::handler::WithFd::with_handler) do this by returning `Err`.
    ///
    /// ```
    /// use barepoll::{sys, Error, Ops, Reactor};
    ///
    /// let mut reactor = Reactor::new()?;
    /// barepoll::interest().read()
    ///     .with_fd(sys::eventfd(1, sys::EFD_NONBLOCK)?)
    ///     .with_handler(|ops: &mut Ops<'_>| {
    ///         ops.fail(Error::Invalid("a message that makes no sense"));
    ///         let _ = ops.delete_self();
    ///     })
    ///     .register_into(&mut reactor)?;
    /// assert_eq!(reactor.run(), Err(Error::Invalid("a message that makes no sense")));
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn fail(&mut self, error: crate::Error) {
        match &mut self.target {
            Target::Live { registry, .. } => registry.fail(error),
            #[cfg(feature = "testing")]
            Target::Record(r) => r.fail(error),
        }
    }

    /// Makes [`Reactor::run`](crate::Reactor::run) return once this batch is dispatched. A
    /// stop survives a handler panicking later in the same batch.
    ///
    /// ```
    /// # use barepoll::{sys, Ops, Reactor};
    /// # let mut reactor = Reactor::new()?;
    /// barepoll::interest().read()
    ///     .with_fd(sys::eventfd(1, sys::EFD_NONBLOCK)?)
    ///     .with_handler(|ops: &mut Ops<'_>| ops.stop())
    ///     .register_into(&mut reactor)?;
    /// reactor.run()?; // returns after the first batch
    /// assert!(reactor.stop_requested());
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn stop(&mut self) {
        match &mut self.target {
            Target::Live { registry, .. } => registry.request_stop(),
            #[cfg(feature = "testing")]
            Target::Record(r) => r.stop(),
        }
    }

    /// Whether a stop was asked for in this turn (a recording `Ops` never stops early).
    #[cfg(feature = "std")]
    pub(crate) fn stop_requested(&self) -> bool {
        match &self.target {
            Target::Live { registry, .. } => registry.stop_requested(),
            #[cfg(feature = "testing")]
            Target::Record(_) => false,
        }
    }

    /// Runs `callback` at the end of this turn: after every event of the batch and the
    /// timers due, before `run_once` returns (calloop's idle callbacks; a zero-delay timer
    /// would run at the start of the next turn instead). Deferred callbacks run in the order
    /// they were deferred, with an `Ops` that names no subscriber; one deferred by a deferred
    /// callback runs at the end of the next turn, so a callback that defers itself never
    /// holds a turn. A pending one keeps the next wait from blocking. If one panics, the
    /// rest wait for the next turn. They are not counted in what `run_once` returns.
    ///
    /// # Errors
    /// `ENOMEM` if memory for it cannot be had (it is dropped);
    /// [`Error::Invalid`](crate::Error::Invalid) on a recording `Ops`.
    ///
    /// ```
    /// use barepoll::{sys, Ops, Reactor};
    ///
    /// let mut reactor = Reactor::builder().state::<Vec<&'static str>>().build()?;
    /// for _ in 0..2 {
    ///     barepoll::interest()
    ///         .read()
    ///         .with_fd(sys::eventfd(1, 0)?)
    ///         .with_handler(|ops: &mut Ops<'_, Vec<&'static str>>| {
    ///             ops.data().push("event");
    ///             if ops.data().len() == 1 {
    ///                 // Once the batch is done: both events are in.
    ///                 ops.defer(|ops: &mut Ops<'_, Vec<&'static str>>| ops.data().push("flush"))
    ///                     .unwrap();
    ///             }
    ///         })
    ///         .register_into(&mut reactor)?;
    /// }
    /// let mut log = Vec::new();
    /// reactor.run_once_with(Some(std::time::Duration::ZERO), &mut log)?;
    /// assert_eq!(log, ["event", "event", "flush"]);
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn defer<F>(&mut self, callback: F) -> Result<()>
    where
        F: FnOnce(&mut Ops<'_, D, T>) + 'static,
        T: Admit<F>,
    {
        match &mut self.target {
            Target::Live { registry, timers } => {
                timers.defer(callback)?;
                registry.defer();
                Ok(())
            }
            #[cfg(feature = "testing")]
            Target::Record(_) => Err(crate::Error::Invalid(
                "a recording Ops runs no deferred callbacks",
            )),
        }
    }

    /// Arms a timer whose callback gets an `Ops` like this one. Makes no syscall.
    ///
    /// # Errors
    /// [`Error::Invalid`](crate::Error::Invalid) for a periodic timer with a zero period;
    /// `ENOMEM` if memory for the timer cannot be had.
    ///
    /// ```
    /// use barepoll::{sys, Ops, Reactor, Timer};
    /// use std::time::Duration;
    ///
    /// let mut reactor = Reactor::new()?;
    /// barepoll::interest().read()
    ///     .with_fd(sys::eventfd(1, sys::EFD_NONBLOCK)?)
    ///     .with_handler(|ops: &mut Ops<'_>| {
    ///         ops.delete_self().unwrap();
    ///         ops.arm(Timer::after(Duration::from_millis(1)), |ops: &mut Ops<'_>| ops.stop())
    ///             .unwrap();
    ///     })
    ///     .register_into(&mut reactor)?;
    /// reactor.run()?; // the timer stops it
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn arm<F>(&mut self, timer: Timer, callback: F) -> Result<TimerKey>
    where
        F: FnMut(&mut Ops<'_, D, T>) + 'static,
        T: Admit<F>,
    {
        match &mut self.target {
            Target::Live { registry, timers } => {
                crate::timer::alarm::prepare(registry, timers);
                let key = timers.arm(timer, callback)?;
                registry.flag(TIMERS, true);
                Ok(key)
            }
            #[cfg(feature = "testing")]
            Target::Record(r) => r.arm(timer, callback),
        }
    }

    /// Cancels a timer: it will not fire again, and its callback is dropped (when it returns,
    /// if it is the one running; if it panicked in an earlier turn, when the next turn
    /// finishes it). Once cancelled, its key names no timer: a second cancel or a reset gives
    /// [`Error::StaleTimer`](crate::Error::StaleTimer), from its own callback too.
    ///
    /// # Errors
    /// [`Error::StaleTimer`](crate::Error::StaleTimer) if the key names no armed timer.
    ///
    /// ```
    /// use barepoll::{Ops, Reactor, Timer};
    /// use std::time::Duration;
    ///
    /// let mut reactor = Reactor::new()?;
    /// let bomb = reactor.arm(Timer::after(Duration::from_millis(5)), |_: &mut Ops<'_>| {
    ///     unreachable!("cancelled before it fired")
    /// })?;
    /// reactor.arm(Timer::after(Duration::ZERO), move |ops: &mut Ops<'_>| {
    ///     ops.cancel(bomb).unwrap();
    /// })?;
    /// reactor.run_once(Some(Duration::from_millis(20)))?;
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn cancel(&mut self, key: TimerKey) -> Result<()> {
        match &mut self.target {
            Target::Live { timers, .. } => timers.cancel(key),
            #[cfg(feature = "testing")]
            Target::Record(r) => r.cancel(key),
        }
    }

    /// Gives a timer a new schedule (its callback is kept); a relative one counts from now.
    /// Resetting an idle timeout on every read is cheap: a clock reading through the vDSO
    /// (no syscall; a `clock_gettime` syscall with the `vdso` feature off or where none is
    /// mapped) and, for a deadline later than before, a store: the timer stays where it is
    /// in the wheel until its old deadline comes.
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
    /// let mut fired = 0;
    /// reactor.arm(Timer::after(Duration::ZERO), move |ops: &mut Ops<'_>| {
    ///     fired += 1;
    ///     if fired < 3 {
    ///         let me = ops.timer().unwrap();
    ///         ops.reset(me, Timer::after(Duration::from_millis(1))).unwrap(); // again
    ///     } else {
    ///         ops.stop();
    ///     }
    /// })?;
    /// reactor.run()?;
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn reset(&mut self, key: TimerKey, timer: Timer) -> Result<()> {
        match &mut self.target {
            Target::Live {
                registry, timers, ..
            } => {
                if timers.reset(key, timer)? {
                    registry.flag(TIMERS, true);
                }
                Ok(())
            }
            #[cfg(feature = "testing")]
            Target::Record(r) => r.reset(key, timer),
        }
    }

    /// The timers' alarm rang (its handler).
    #[cfg(feature = "alarm")]
    pub(crate) fn alarm_rang(&mut self) {
        match &mut self.target {
            Target::Live {
                registry, timers, ..
            } => crate::timer::alarm::rang(registry, timers),
            #[cfg(feature = "testing")]
            Target::Record(_) => {}
        }
    }

    /// In a timer callback, the running timer's key; `None` in a handler.
    ///
    /// ```
    /// use barepoll::{Ops, Reactor, Timer};
    /// use std::time::Duration;
    ///
    /// let mut reactor = Reactor::new()?;
    /// let key = reactor.arm(Timer::after(Duration::ZERO), |ops: &mut Ops<'_>| {
    ///     assert!(ops.timer().is_some());
    ///     ops.stop();
    /// })?;
    /// reactor.run()?;
    /// assert!(reactor.cancel(key).is_err()); // a one-shot timer is done once it fired
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn timer(&self) -> Option<TimerKey> {
        self.timer
    }
}

#[cold]
#[inline(never)]
fn no_state() -> ! {
    panic!("no state is lent to a subscriber's init called from Reactor::register")
}
