//! Timers in the reactor: relative and absolute, one-shot and periodic, cancelled and reset
//! through a [`TimerKey`], from the reactor and from any handler or timer callback.
//!
//! Arming, cancelling and resetting make no syscall: they link and unlink an entry in a
//! hierarchical timing wheel (`wheel.rs`), in O(1). The reactor reads the monotonic clock at
//! most once per turn, before it waits, and only when timers changed or are due: it fires what
//! is due, then sets its alarm (`alarm.rs`: a timerfd) to the earliest deadline, or, without
//! one, waits until that deadline at the latest.
//!
//! A relative deadline ([`Timer::after`]) counts from that clock reading in the turn after the
//! arm: so it never fires early, and needs no clock reading of its own. It may fire late by
//! the rest of the turn it was armed in, plus the kernel's wake-up.

pub(crate) mod alarm;
mod fd;
#[cfg(feature = "tasks")]
mod sleeps;
mod wheel;

pub use fd::TimerFd;
#[cfg(feature = "tasks")]
pub(crate) use sleeps::Sleeps;

use crate::error::{Error, Result};
use crate::grow;
use crate::key::Key;
pub use crate::key::TimerKey;
use crate::ops::Ops;
use crate::sys;
use crate::thin::{try_box, Core};
use crate::threads::{Admit, Threads};
use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::fmt;
use core::ops::{Add, Sub};
use core::time::Duration;
use wheel::{ns_of, tick_of, Wheel, NIL, TICK_SHIFT};

/// A point on the monotonic clock (`CLOCK_MONOTONIC`), to the nanosecond.
///
/// ```
/// use barepoll::Instant;
/// use std::time::Duration;
///
/// let start = Instant::now();
/// let later = start + Duration::from_millis(5);
/// assert!(later > start);
/// assert_eq!(later - start, Duration::from_millis(5));
/// assert_eq!(start - later, Duration::ZERO); // saturates
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Instant(u64);

impl Instant {
    /// Reads the monotonic clock.
    ///
    /// # Panics
    /// If the kernel refuses to read the clock (a seccomp filter can), as `std`'s
    /// `Instant::now` does. [`try_now`](Instant::try_now) reports that instead; the reactor
    /// itself only ever uses `try_now`, so its turns report the error rather than panic.
    ///
    /// ```
    /// let a = barepoll::Instant::now();
    /// assert!(barepoll::Instant::now() >= a);
    /// ```
    pub fn now() -> Instant {
        match Instant::try_now() {
            Ok(now) => now,
            Err(e) => panic!("the monotonic clock cannot be read: {e}"),
        }
    }

    /// Reads the monotonic clock, or reports why it cannot be read.
    ///
    /// # Errors
    /// The kernel's error from `clock_gettime` (a seccomp filter may refuse it).
    ///
    /// ```
    /// let a = barepoll::Instant::try_now()?;
    /// assert!(barepoll::Instant::try_now()? >= a);
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn try_now() -> Result<Instant> {
        Ok(Instant(sys::monotonic_ns()?))
    }

    /// Nanoseconds since the clock's epoch (usually boot).
    ///
    /// ```
    /// let t = barepoll::Instant::now();
    /// assert!(t.as_nanos() > 0);
    /// ```
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// The instant `ns` nanoseconds after the clock's epoch.
    #[cfg(feature = "tasks")]
    pub(crate) const fn from_nanos(ns: u64) -> Instant {
        Instant(ns)
    }

    /// How long ago this was; zero if it is in the future.
    ///
    /// ```
    /// use std::time::Duration;
    /// let t = barepoll::Instant::now();
    /// std::thread::sleep(Duration::from_millis(1));
    /// assert!(t.elapsed() >= Duration::from_millis(1));
    /// ```
    pub fn elapsed(self) -> Duration {
        Instant::now() - self
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    /// Saturates at the end of the clock's range (about 584 years after its epoch).
    fn add(self, d: Duration) -> Instant {
        Instant(self.0.saturating_add(nanos(d)))
    }
}

impl Sub for Instant {
    type Output = Duration;
    /// Saturates at zero.
    fn sub(self, earlier: Instant) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }
}

pub(crate) fn nanos(d: Duration) -> u64 {
    d.as_secs()
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::from(d.subsec_nanos()))
}

/// When a timer fires: a first deadline and, for a periodic timer, a period.
///
/// ```
/// use barepoll::{Instant, Timer};
/// use std::time::Duration;
///
/// let once = Timer::after(Duration::from_millis(10));
/// let tick = Timer::after(Duration::from_secs(1)).every(Duration::from_secs(1));
/// let at = Timer::at(Instant::now() + Duration::from_secs(5));
/// assert_eq!(tick.period(), Some(Duration::from_secs(1)));
/// assert_eq!(once.period(), None);
/// # let _ = at;
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Timer {
    first: When,
    /// Nanoseconds; `None` for a one-shot timer.
    period: Option<u64>,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum When {
    /// Nanoseconds after the reactor's next clock reading.
    After(u64),
    At(u64),
}

impl Timer {
    /// Fires once, `d` after it is armed (counted from the reactor's first clock reading after
    /// the arm, so never early).
    ///
    /// ```
    /// use barepoll::{Ops, Reactor, Timer};
    /// use std::time::Duration;
    /// let mut reactor = Reactor::new()?;
    /// reactor.arm(Timer::after(Duration::from_millis(1)), |ops: &mut Ops<'_>| ops.stop())?;
    /// reactor.run()?;
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn after(d: Duration) -> Timer {
        Timer {
            first: When::After(nanos(d)),
            period: None,
        }
    }

    /// Fires once, at `deadline` (at once if that has passed).
    ///
    /// ```
    /// use barepoll::{Instant, Ops, Reactor, Timer};
    /// use std::time::Duration;
    /// let mut reactor = Reactor::new()?;
    /// let when = Instant::now() + Duration::from_millis(2);
    /// reactor.arm(Timer::at(when), move |ops: &mut Ops<'_>| {
    ///     assert!(Instant::now() >= when);
    ///     ops.stop();
    /// })?;
    /// reactor.run()?;
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn at(deadline: Instant) -> Timer {
        Timer {
            first: When::At(deadline.0),
            period: None,
        }
    }

    /// Fires again every `period` after the first deadline. If the reactor falls behind by
    /// several periods, the timer fires once and goes on at the next multiple of `period`
    /// still ahead: missed ticks are skipped, never bunched. A zero period is refused when the
    /// timer is armed.
    ///
    /// ```
    /// use barepoll::Timer;
    /// use std::time::Duration;
    /// let tick = Timer::after(Duration::ZERO).every(Duration::from_millis(10));
    /// assert_eq!(tick.period(), Some(Duration::from_millis(10)));
    /// ```
    pub fn every(self, period: Duration) -> Timer {
        Timer {
            period: Some(nanos(period)),
            ..self
        }
    }

    /// The period of a periodic timer.
    ///
    /// ```
    /// use barepoll::Timer;
    /// use std::time::Duration;
    /// assert_eq!(Timer::after(Duration::from_secs(1)).period(), None);
    /// ```
    pub fn period(&self) -> Option<Duration> {
        self.period.map(Duration::from_nanos)
    }

    /// The period in nanoseconds (0 for one-shot), or the refusal of a zero period.
    pub(crate) fn checked_period(&self) -> Result<u64> {
        match self.period {
            Some(0) => Err(Error::Invalid("a periodic timer's period must not be zero")),
            period => Ok(period.unwrap_or(0)),
        }
    }
}

impl fmt::Debug for Timer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("Timer");
        match self.first {
            When::After(ns) => s.field("after", &Duration::from_nanos(ns)),
            When::At(ns) => s.field("at", &Instant(ns)),
        };
        if let Some(p) = self.period() {
            s.field("every", &p);
        }
        s.finish()
    }
}

/// A timer's callback, boxed.
pub(crate) type Callback<D, T> = Box<dyn FnMut(&mut Ops<'_, D, T>)>;

enum State {
    Free {
        next: u32,
    },
    Armed,
    /// Its callback is running (or panicked and is kept in the core until the next turn).
    Running {
        cancelled: bool,
        reset: Option<Timer>,
    },
}

struct Entry<D, T: 'static> {
    callback: Option<Callback<D, T>>,
    generation: u64,
    /// While pending: what to make of the next clock reading. Once slotted: its deadline.
    when: When,
    period: u64,
    state: State,
}

impl<D, T> Entry<D, T> {
    /// Armed, or running without having been cancelled: its key still names a timer.
    fn is_armed(&self) -> bool {
        match self.state {
            State::Armed => true,
            State::Running { cancelled, .. } => !cancelled,
            State::Free { .. } => false,
        }
    }
}

/// The timers of one reactor.
pub(crate) struct Timers<D, T: 'static> {
    wheel: Wheel,
    entries: Vec<Entry<D, T>>,
    free: u32,
    /// Armed entries (slotted or pending) and those whose callback runs or panicked.
    armed: usize,
    /// How they wake the reactor.
    pub(crate) wake: alarm::Wake,
    /// Callbacks run so far (for an observer).
    pub(crate) fired: usize,
    /// Callbacks deferred to the end of the turn (`Ops::defer`), oldest first.
    pub(crate) deferred: VecDeque<Deferred<D, T>>,
    /// What a turn does for timers and deferred callbacks, from the first arm or defer on.
    work: Option<TimerWork<D, T>>,
}

/// The turn's work for timers and deferred callbacks, reached through these pointers: they
/// are named only where a timer is armed or a callback deferred, so a program that does
/// neither links none of that code (the turn still calls [`fire_due`] and [`run_deferred`],
/// which do nothing until then).
struct TimerWork<D, T: 'static> {
    fire_due: fn(&mut Core<D, T>, &mut D, u64) -> usize,
    run_deferred: fn(&mut Core<D, T>, &mut D),
    /// The clock (its vDSO lookup is linked only with timers, or where a program reads it).
    now: fn() -> core::result::Result<u64, crate::sys::Errno>,
}

impl<D, T> Clone for TimerWork<D, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<D, T> Copy for TimerWork<D, T> {}

/// A callback deferred to the end of the turn, boxed.
pub(crate) type Deferred<D, T> = Box<dyn FnOnce(&mut Ops<'_, D, T>)>;

impl<D, T: Threads> Timers<D, T> {
    pub(crate) fn new() -> Timers<D, T> {
        Timers {
            wheel: Wheel::new(),
            entries: Vec::new(),
            free: NIL,
            armed: 0,
            fired: 0,
            deferred: VecDeque::new(),
            work: None,
            #[cfg(feature = "alarm")]
            wake: alarm::Wake::Unset,
            #[cfg(not(feature = "alarm"))]
            wake: alarm::Wake::Timeout,
        }
    }

    /// Queues `callback` for the end of the turn.
    pub(crate) fn defer<F>(&mut self, callback: F) -> Result<()>
    where
        F: FnOnce(&mut Ops<'_, D, T>) + 'static,
        T: Admit<F>,
    {
        self.deferred
            .try_reserve(1)
            .map_err(|_| Error::Os(sys::Errno::ENOMEM))?;
        let callback: Deferred<D, T> = try_box(callback)
            .ok()
            .ok_or(Error::Os(sys::Errno::ENOMEM))?;
        self.deferred.push_back(callback); // within the room reserved
        self.work = Some(TimerWork::NOW);
        Ok(())
    }

    /// Whether the next turn must read the clock.
    #[inline(always)]
    pub(crate) fn active(&self) -> bool {
        self.armed != 0
    }

    pub(crate) fn arm<F>(&mut self, timer: Timer, callback: F) -> Result<TimerKey>
    where
        F: FnMut(&mut Ops<'_, D, T>) + 'static,
        T: Admit<F>,
    {
        self.arm_any(timer, callback)
    }

    /// [`arm`](Self::arm) for a callback of the reactor's own, `Send` whatever the thread mode.
    pub(crate) fn arm_send<F>(&mut self, timer: Timer, callback: F) -> Result<TimerKey>
    where
        F: FnMut(&mut Ops<'_, D, T>) + Send + 'static,
    {
        self.arm_any(timer, callback)
    }

    fn arm_any<F>(&mut self, timer: Timer, callback: F) -> Result<TimerKey>
    where
        F: FnMut(&mut Ops<'_, D, T>) + 'static,
    {
        let period = timer.checked_period()?;
        self.work = Some(TimerWork::NOW);
        let index = match self.free {
            NIL => self.entries.len(),
            free => free as usize,
        };
        let room = index < self.entries.len()
            || (index < NIL as usize
                && self.entries.try_reserve(1).is_ok()
                && self.wheel.reserve(index + 1));
        let Some(callback) = room.then(|| try_box(callback).ok()).flatten() else {
            return Err(Error::Os(sys::Errno::ENOMEM));
        };
        let callback: Callback<D, T> = callback;
        let entry = Entry {
            callback: Some(callback),
            generation: Key::next_generation(),
            when: timer.first,
            period,
            state: State::Armed,
        };
        match self.entries.get_mut(index) {
            Some(free) => {
                // The free list holds free entries only.
                if let State::Free { next } = free.state {
                    self.free = next;
                }
                // A free entry holds no callback (`release` took it): nothing to drop.
                core::mem::forget(core::mem::replace(free, entry));
            }
            // Room was reserved above; were it not, the entry would be refused, not lost.
            None => {
                if let Err(entry) = grow::push_within(&mut self.entries, entry) {
                    core::mem::forget(entry.callback); // cannot happen: no drop code for it
                    return Err(Error::Os(sys::Errno::ENOMEM));
                }
            }
        }
        let index = index as u32;
        self.wheel.pend(index);
        self.armed += 1;
        Ok(TimerKey {
            index,
            generation: self.entries[index as usize].generation,
        })
    }

    /// The entry of an armed timer (or of one whose callback runs and has not cancelled it).
    fn entry(&mut self, key: TimerKey) -> Result<&mut Entry<D, T>> {
        match self.entries.get_mut(key.index as usize) {
            Some(e) if e.generation == key.generation && e.is_armed() => Ok(e),
            _ => Err(Error::StaleTimer(key)),
        }
    }

    /// Whether `key` names an armed timer (or one running, not cancelled).
    pub(crate) fn is_armed(&self, key: TimerKey) -> bool {
        matches!(self.entries.get(key.index as usize),
            Some(e) if e.generation == key.generation && e.is_armed())
    }

    /// Cancels every timer of `keys` that is still armed (a deleted subscriber's own).
    pub(crate) fn cancel_all(&mut self, keys: &[TimerKey]) {
        for &key in keys {
            let _ = self.cancel(key); // fired or cancelled since: stale, nothing to do
        }
    }

    /// Cancels the timer of `key`: its callback is dropped now or, if it is running, when it
    /// returns.
    pub(crate) fn cancel(&mut self, key: TimerKey) -> Result<()> {
        let entry = self.entry(key)?;
        if let State::Running { cancelled, .. } = &mut entry.state {
            *cancelled = true;
            return Ok(());
        }
        self.wheel.remove(key.index);
        self.armed -= 1;
        let callback = self.release(key.index);
        drop(callback); // last: a destructor that panics finds everything in order
        Ok(())
    }

    /// Gives `timer` to the timer of `key` in place of its schedule (applied when it returns,
    /// if it is running). A relative schedule counts from now (a clock reading: through the
    /// vDSO, no syscall). Returns whether the turn must attend to the timers: not when the
    /// new deadline is no earlier than the slot the entry sits in. It then stays there
    /// (nothing moves, the alarm stays set), and is filed again when that slot comes, found
    /// not due: the idle timeout that every read pushes later costs a clock reading and a
    /// store. An earlier deadline waits on the pending list for the next clock reading.
    pub(crate) fn reset(&mut self, key: TimerKey, timer: Timer) -> Result<bool> {
        let period = timer.checked_period()?;
        let entry = self.entry(key)?;
        if let State::Running { reset, .. } = &mut entry.state {
            *reset = Some(timer);
            return Ok(true);
        }
        entry.period = period;
        // A deadline no later than the reading that set it has passed already: it goes to the
        // pending list below (fires in the next turn), never to the slot it sits in.
        let mut passed = false;
        let deadline = match timer.first {
            When::At(at) => at,
            When::After(after) => match sys::monotonic_ns() {
                Ok(now) => {
                    passed = after == 0;
                    now.saturating_add(after)
                }
                Err(_) => {
                    // The next turn reads the clock for it, and reports a refusal from there.
                    entry.when = timer.first;
                    self.wheel.remove(key.index);
                    self.wheel.pend(key.index);
                    return Ok(true);
                }
            },
        };
        entry.when = When::At(deadline);
        let tick = tick_of(deadline);
        match self.wheel.slotted_tick(key.index) {
            Some(slotted) if slotted <= tick && !passed => Ok(false),
            // Earlier than its slot, due, or pending: the next clock reading files it from its
            // new deadline (and moves the alarm earlier if it must), as for an armed timer: a
            // timer reset to a deadline already passed fires in the next turn, never in the
            // rest of this one.
            _ => {
                self.wheel.remove(key.index);
                self.wheel.pend(key.index);
                Ok(true)
            }
        }
    }

    /// Frees an entry; returns its callback for the caller to drop.
    fn release(&mut self, index: u32) -> Option<Callback<D, T>> {
        let entry = &mut self.entries[index as usize];
        entry.state = State::Free { next: self.free };
        entry.generation = u64::MAX;
        self.free = index;
        entry.callback.take()
    }

    /// Gives every pending entry its deadline, from the clock reading `now`.
    fn settle(&mut self, now: u64) {
        while let Some(i) = self.wheel.pop_pending() {
            let entry = &mut self.entries[i as usize];
            let deadline = match entry.when {
                When::After(d) => now.saturating_add(d),
                When::At(at) => at,
            };
            entry.when = When::At(deadline);
            // A deadline already reached is due now, whatever tick it would round up to.
            let tick = tick_of(deadline).min(if deadline <= now {
                now >> TICK_SHIFT
            } else {
                u64::MAX
            });
            self.wheel.insert(i, tick);
        }
    }

    /// Whether entries wait for a clock reading (armed or reset since the last one).
    pub(crate) fn pending(&self) -> bool {
        self.wheel.has_pending()
    }

    /// The earliest deadline (a lower bound, in nanoseconds) of the slotted entries.
    pub(crate) fn next_deadline(&self) -> Option<u64> {
        self.wheel.next_tick().map(ns_of)
    }

    /// The next entry due by `now`, taken out to run: its key and callback. An entry whose
    /// deadline a reset moved later than its slot is filed again from its deadline.
    fn start(&mut self, now: u64) -> Option<(TimerKey, Callback<D, T>)> {
        let (i, entry) = loop {
            let i = self.wheel.poll(now >> TICK_SHIFT)?;
            let entry = &mut self.entries[i as usize];
            match entry.when {
                // Later than `now`: its tick is later than `now`'s, so the wheel slots it.
                When::At(at) if at > now => self.wheel.insert(i, tick_of(at)),
                _ => break (i, entry),
            }
        };
        entry.state = State::Running {
            cancelled: false,
            reset: None,
        };
        let callback = entry.callback.take()?; // an armed entry has its callback
        let key = TimerKey {
            index: i,
            generation: entry.generation,
        };
        Some((key, callback))
    }

    /// A callback returned (or panicked): reschedule it or let it go.
    pub(crate) fn finish(&mut self, key: TimerKey, callback: Callback<D, T>, now: u64) {
        let entry = &mut self.entries[key.index as usize];
        // `finish` follows `start`, which made the entry `Running`.
        let (cancelled, reset) = match entry.state {
            State::Running { cancelled, reset } => (cancelled, reset),
            _ => (true, None),
        };
        if !cancelled {
            if let Some(timer) = reset {
                // Checked by `reset`.
                (entry.when, entry.period) = (timer.first, timer.period.unwrap_or(0));
                entry.state = State::Armed;
                entry.callback = Some(callback);
                self.wheel.pend(key.index);
                return;
            }
            // A fired entry has its deadline.
            let deadline = match entry.when {
                When::At(at) => at,
                When::After(_) => now,
            };
            // Periodic (a one-shot timer's period is 0): the first multiple of the period
            // after `now`; missed ticks are skipped.
            if let Some(behind) = now.saturating_sub(deadline).checked_div(entry.period) {
                let next = deadline.saturating_add(entry.period.saturating_mul(behind + 1));
                entry.when = When::At(next);
                entry.state = State::Armed;
                entry.callback = Some(callback);
                self.wheel.insert(key.index, tick_of(next));
                return;
            }
        }
        self.armed -= 1;
        self.release(key.index);
        drop(callback);
    }

    #[cfg(test)]
    fn place(&self, key: TimerKey) -> Option<wheel::Place> {
        self.wheel.place(key.index)
    }
}

/// Fires every timer due by `now` (a clock reading, nanoseconds): first finishes a callback
/// that panicked in an earlier turn, then gives pending timers their deadlines. Returns how
/// many callbacks ran. A callback that panics stays in the core and is finished as if it had
/// returned, by the next call; the other due timers stay due.
#[inline(always)]
pub(crate) fn fire_due<D, T: Threads>(core: &mut Core<D, T>, data: &mut D, now: u64) -> usize {
    match core.timers.work {
        Some(work) => (work.fire_due)(core, data, now),
        None => 0, // no timer was ever armed
    }
}

impl<D, T: Threads> TimerWork<D, T> {
    const NOW: TimerWork<D, T> = TimerWork {
        fire_due: fire_due_now,
        run_deferred: run_deferred_now,
        now: sys::monotonic_ns,
    };
}

/// The monotonic clock in nanoseconds, for the turn's timers: 0 if no timer was ever armed
/// (then nothing reads it).
///
/// # Errors
/// The clock's.
#[inline(always)]
pub(crate) fn now<D, T>(core: &Core<D, T>) -> Result<u64> {
    match core.timers.work {
        Some(work) => Ok((work.now)()?),
        None => Ok(0),
    }
}

fn fire_due_now<D, T: Threads>(core: &mut Core<D, T>, data: &mut D, now: u64) -> usize {
    if let Some((key, callback)) = core.running.take() {
        core.timers.finish(key, callback, now);
    }
    core.timers.settle(now);
    let mut fired = 0;
    while let Some(running) = core.timers.start(now) {
        let Core {
            registry,
            timers,
            running: slot,
            ..
        } = core;
        let (key, callback) = slot.insert(running);
        timers.fired = timers.fired.wrapping_add(1); // counted even if it panics
        callback(&mut Ops::for_timer(registry, timers, data, *key));
        // Put there above; a panic in the callback leaves it for the next call.
        if let Some((key, callback)) = core.running.take() {
            core.timers.finish(key, callback, now);
        }
        fired += 1;
    }
    fired
}

/// Runs the callbacks deferred to the end of the turn, those queued when it starts: one
/// that defers again runs at the end of the next turn. If one panics, the rest wait for the
/// next turn (marked before each runs).
#[inline(always)]
pub(crate) fn run_deferred<D, T: Threads>(core: &mut Core<D, T>, data: &mut D) {
    if let Some(work) = core.timers.work {
        (work.run_deferred)(core, data);
    } // else no callback was ever deferred
}

fn run_deferred_now<D, T: Threads>(core: &mut Core<D, T>, data: &mut D) {
    if !core.registry.take_defer() {
        return;
    }
    for _ in 0..core.timers.deferred.len() {
        let Some(callback) = core.timers.deferred.pop_front() else {
            break;
        };
        if !core.timers.deferred.is_empty() {
            core.registry.defer();
        }
        let Core {
            registry, timers, ..
        } = core;
        callback(&mut Ops::for_deferred(registry, timers, data));
    }
    if core.timers.deferred.is_empty() {
        core.registry.take_defer();
    } else {
        core.registry.defer();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::threads::Local;

    #[test]
    fn arm_cancel_reset_and_stale_keys() {
        let mut t: Timers<(), Local> = Timers::new();
        let a = t
            .arm(Timer::after(Duration::from_millis(5)), |_| {})
            .unwrap();
        let b = t.arm(Timer::at(Instant(1_000_000)), |_| {}).unwrap();
        assert!(t.active() && t.pending());
        assert_eq!(t.place(a), Some(wheel::Place::Pending));
        t.settle(10_000);
        assert!(!t.pending());
        assert_eq!(t.next_deadline(), Some(ns_of(tick_of(1_000_000))));
        t.cancel(b).unwrap();
        assert_eq!(t.cancel(b), Err(Error::StaleTimer(b)));
        assert_eq!(
            t.reset(b, Timer::after(Duration::ZERO)),
            Err(Error::StaleTimer(b))
        );
        // The freed entry is reused with a new generation: the old key stays stale.
        let c = t.arm(Timer::after(Duration::ZERO), |_| {}).unwrap();
        assert_eq!(c.index, b.index);
        assert_ne!(c, b);
        assert_eq!(t.cancel(b), Err(Error::StaleTimer(b)));
        // `a` is slotted (settled at 10 µs, due at 5 ms): a reset later leaves it in its slot;
        // one earlier waits for the next clock reading, which files it from its deadline.
        assert!(!t.reset(a, Timer::at(Instant(9_000_000))).unwrap());
        let slotted = t.place(a);
        assert!(matches!(slotted, Some(wheel::Place::Slot(_))));
        assert!(t.reset(a, Timer::at(Instant(2_000_000))).unwrap());
        assert_eq!(t.place(a), Some(wheel::Place::Pending));
        t.settle(10_000);
        assert_eq!(t.wheel.slotted_tick(a.index), Some(tick_of(2_000_000)));
        assert!(t.reset(a, Timer::at(Instant(0))).unwrap());
        assert_eq!(t.place(a), Some(wheel::Place::Pending));
        assert_eq!(t.armed, 2);
        let zero = Timer::after(Duration::ZERO).every(Duration::ZERO);
        assert!(matches!(t.arm(zero, |_| {}), Err(Error::Invalid(_))));
    }

    // A reset later than the entry's slot leaves it there; when the slot comes, the entry is
    // filed again, not fired; it fires at its new deadline, never before.
    #[test]
    fn a_timer_reset_later_is_filed_again_when_its_old_slot_comes() {
        let mut t: Timers<(), Local> = Timers::new();
        let key = t.arm(Timer::at(Instant(1_000_000)), |_| {}).unwrap();
        t.settle(0);
        assert!(!t.reset(key, Timer::at(Instant(5_000_000))).unwrap());
        assert_eq!(t.wheel.slotted_tick(key.index), Some(tick_of(1_000_000)));
        // Ticks round deadlines up: the old slot comes at the first nanosecond of its tick.
        let (old, new) = (ns_of(tick_of(1_000_000)), ns_of(tick_of(5_000_000)));
        assert!(t.start(old).is_none(), "fired at its old deadline");
        assert_eq!(t.wheel.slotted_tick(key.index), Some(tick_of(5_000_000)));
        assert_eq!(t.next_deadline(), Some(new));
        assert!(t.start(4_999_999).is_none(), "fired early");
        let (fired, callback) = t.start(new).expect("due");
        assert_eq!(fired, key);
        t.finish(fired, callback, new);
        assert!(!t.active());
    }
}
