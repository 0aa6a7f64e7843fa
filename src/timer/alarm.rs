//! How a reactor wakes for its timers.
//!
//! With an *alarm* (feature `alarm`, on by default): one timerfd per reactor, made at the
//! first arm and registered like a subscriber (edge-triggered; `len` does not count it), set
//! to the earliest deadline whenever that moves earlier. A turn with timers armed but none
//! due and none changed is then an ordinary turn: no clock reading, no timeout, no timer
//! code. The clock is read when the alarm rings, or when timers were armed or reset since
//! the last reading (their relative deadlines count from it). A deadline that moves later
//! leaves the alarm where it is: it rings early, the turn finds nothing due, and sets it
//! again. The kernel's timer has no slack, so timers are not late by the wait's granularity
//! either.
//!
//! Without one (the feature off, or `timerfd_create` refused at the first arm: a seccomp
//! filter, an emulator that lacks it, no descriptor or memory left): every turn with timers
//! armed reads the clock and waits until the earliest deadline at the latest, nanoseconds
//! through `epoll_pwait2`, milliseconds rounded up on its fallback.

use super::Timers;
use crate::thin::Registry;
use crate::threads::Threads;

/// How the timers wake the reactor.
#[derive(Clone, Copy)]
pub(crate) enum Wake {
    /// No timer was ever armed: nothing chosen yet.
    #[cfg(feature = "alarm")]
    Unset,
    /// The alarm, registered under `key`, set to ring at `set` (nanoseconds on the monotonic
    /// clock; `u64::MAX` when it is not set).
    #[cfg(feature = "alarm")]
    Alarm { key: crate::key::Key, set: u64 },
    /// No alarm: the wait's timeout.
    Timeout,
}

/// Before the first timer is armed: an alarm if one can be had, else waits with timeouts.
/// Never fails: the fallback always works.
#[cfg_attr(feature = "alarm", inline(never))]
pub(crate) fn prepare<D, T: Threads>(registry: &mut Registry<D, T>, timers: &mut Timers<D, T>) {
    #[cfg(feature = "alarm")]
    {
        if !matches!(timers.wake, Wake::Unset) {
            return;
        }
        timers.wake = Wake::Timeout;
        #[cfg(test)]
        if tests::FORCE_TIMEOUT.with(core::cell::Cell::get) {
            return;
        }
        let alarm = super::TimerFd::new().ok().and_then(|fd| {
            let edge = crate::interest::interest().read().edge();
            registry.insert_internal(on::Alarm(fd), edge).ok()
        });
        if let Some(key) = alarm {
            timers.wake = Wake::Alarm { key, set: u64::MAX };
        }
    }
    #[cfg(not(feature = "alarm"))]
    let _ = (registry, timers);
}

/// After a clock reading and the firing it allowed (no handler running): with an alarm, sets
/// it to the earliest deadline if that is sooner than where it is set, and clears `TIMERS`
/// unless timers still wait for a clock reading (armed by the callbacks that just ran).
/// Returns whether the wait must not block (those timers). Without one, does nothing: the
/// caller computes the wait's timeout.
pub(crate) fn set<D, T: Threads>(registry: &mut Registry<D, T>, timers: &mut Timers<D, T>) -> bool {
    #[cfg(feature = "alarm")]
    if let Wake::Alarm { key, set } = timers.wake {
        return on::set(registry, timers, key, set);
    }
    let _ = (registry, timers);
    false
}

/// For the executor's sleeps (feature `tasks`), before the wait: makes sure the alarm rings
/// by `deadline` (nanoseconds on the monotonic clock), making it first if no timer has;
/// returns whether it will, so that the wait needs no timeout for the sleeps (then a turn
/// with sleeps armed but none due waits as a turn without them: no hrtimer in the kernel,
/// set and cancelled at every wait). A deadline no earlier than where the alarm is set makes
/// no syscall. `false` without an alarm: the caller waits with a timeout.
#[cfg(feature = "tasks")]
pub(crate) fn ring_by<D, T: Threads>(
    registry: &mut Registry<D, T>,
    timers: &mut Timers<D, T>,
    deadline: u64,
) -> bool {
    #[cfg(feature = "alarm")]
    {
        prepare(registry, timers);
        if let Wake::Alarm { key, set } = timers.wake {
            return on::ring_by(registry, timers, key, set, deadline);
        }
    }
    let _ = (registry, timers, deadline);
    false
}

/// For the executor's sleeps, before a wait that must not end early (a finite timeout): an
/// alarm set sooner than what the sleeps (`deadline`, the earliest one's) and the timers now
/// ask for is moved to that, or disarmed if nothing asks, so that it cannot end the wait early
/// with nothing due. It is stale when the sleep it was set for was dropped, or fired while
/// the alarm's expiry was still unread. One syscall, only then. (A wait with no timeout
/// leaves it: its ring is one more turn, as a cancelled timer's is.)
#[cfg(feature = "tasks")]
pub(crate) fn unstale<D, T: Threads>(
    registry: &mut Registry<D, T>,
    timers: &mut Timers<D, T>,
    deadline: Option<u64>,
) {
    #[cfg(feature = "alarm")]
    if let Wake::Alarm { key, set } = timers.wake {
        if set == u64::MAX || timers.pending() {
            return; // not set, or timers wait for a clock reading (the wait will not block)
        }
        let wanted = match (deadline, timers.next_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if wanted.map_or(true, |at| at > set) {
            on::set_to(registry, timers, key, wanted);
        }
    }
    #[cfg(not(feature = "alarm"))]
    let _ = (registry, timers, deadline);
}

#[cfg(feature = "alarm")]
mod on {
    use super::Wake;
    use crate::interest::Event;
    use crate::key::Key;
    use crate::ops::Ops;
    use crate::subscriber::Subscriber;
    use crate::sys::{AsFd, BorrowedFd};
    use crate::thin::{Registry, TIMERS};
    use crate::threads::Threads;
    use crate::timer::{Instant, TimerFd, Timers};

    /// The alarm's subscriber: a timerfd. Its handler tells the turn it rang.
    pub(super) struct Alarm(pub(super) TimerFd);

    impl AsFd for Alarm {
        fn as_fd(&self) -> BorrowedFd<'_> {
            self.0.as_fd()
        }
    }

    impl<D, T: Threads> Subscriber<D, T> for Alarm {
        fn has_init(&self) -> bool {
            false
        }

        fn handle(&mut self, _: Event, ops: &mut Ops<'_, D, T>) {
            // Edge-triggered, and set again before it can ring again (which clears its
            // count): nothing to read.
            ops.alarm_rang();
        }
    }

    /// The alarm rang (its handler, during dispatch): it is no longer set, and the timers
    /// due fire once the batch is done.
    pub(crate) fn rang<D, T: Threads>(registry: &mut Registry<D, T>, timers: &mut Timers<D, T>) {
        if let Wake::Alarm { set, .. } = &mut timers.wake {
            *set = u64::MAX;
            registry.alarm_rang();
        }
    }

    pub(super) fn set<D, T: Threads>(
        registry: &mut Registry<D, T>,
        timers: &mut Timers<D, T>,
        key: Key,
        set: u64,
    ) -> bool {
        if timers.pending() {
            return true;
        }
        registry.flag(TIMERS, false);
        let Some(next) = timers.next_deadline() else {
            return false;
        };
        if next < set {
            set_to(registry, timers, key, Some(next));
        }
        false
    }

    /// [`ring_by`](super::ring_by) with the alarm under `key`, set to ring at `set`.
    #[cfg(feature = "tasks")]
    pub(super) fn ring_by<D, T: Threads>(
        registry: &mut Registry<D, T>,
        timers: &mut Timers<D, T>,
        key: Key,
        set: u64,
        deadline: u64,
    ) -> bool {
        deadline >= set || set_to(registry, timers, key, Some(deadline))
    }

    /// Sets the alarm to ring at `at`, or disarms it (`None`); whether that took. Outside
    /// dispatch: no handler holds the alarm. Should it fail (it cannot, for a valid timerfd
    /// and time), timeouts take over rather than lose a deadline.
    pub(super) fn set_to<D, T: Threads>(
        registry: &mut Registry<D, T>,
        timers: &mut Timers<D, T>,
        key: Key,
        at: Option<u64>,
    ) -> bool {
        let done = registry.get_mut::<Alarm>(key).map(|alarm| match at {
            Some(at) => alarm.0.set_at(Instant(at), None).is_ok(),
            None => alarm.0.disarm().is_ok(),
        });
        if let Ok(true) = done {
            let set = at.unwrap_or(u64::MAX);
            timers.wake = Wake::Alarm { key, set };
            true
        } else {
            timers.wake = Wake::Timeout;
            registry.flag(TIMERS, true);
            false
        }
    }
}

#[cfg(feature = "alarm")]
pub(crate) use on::rang;

#[cfg(all(test, feature = "alarm"))]
pub(crate) mod tests {
    use crate::sys::{self, AsFd, OwnedFd};
    use crate::{interest, Ops, Reactor, Timer};
    use core::cell::Cell;
    use core::time::Duration;
    use std::time::Instant;

    std::thread_local! {
        /// Makes reactors of this thread that have not armed a timer yet wake by timeouts
        /// (tests of that mode).
        pub(crate) static FORCE_TIMEOUT: Cell<bool> = const { Cell::new(false) };
    }

    const NOW: Option<Duration> = Some(Duration::ZERO);

    fn ready(r: &mut Reactor) -> std::sync::Arc<OwnedFd> {
        let efd = std::sync::Arc::new(sys::eventfd(0, sys::EFD_NONBLOCK).unwrap());
        interest()
            .read()
            .with_fd(efd.clone())
            .with_handler(|fd: &mut std::sync::Arc<OwnedFd>| {
                sys::read(fd.as_fd(), &mut [0; 8]).unwrap();
            })
            .register_into(r)
            .unwrap();
        efd
    }

    // With an alarm, armed timers that are not due cost a turn nothing: once a turn has read
    // the clock and set the alarm, the next turns take the fast path (no clock reading, no
    // timeout), and the alarm is neither counted by `len` nor by `run_once`.
    #[test]
    #[cfg_attr(miri, ignore = "Miri has no timerfd")]
    fn armed_timers_not_due_leave_turns_on_the_fast_path() {
        let mut r = Reactor::new().unwrap();
        let efd = ready(&mut r);
        for i in 0..1000 {
            let after = Duration::from_secs(60 + i);
            r.arm(Timer::after(after), |_: &mut Ops<'_>| unreachable!())
                .unwrap();
        }
        assert!(
            r.has_alarm() && r.len() == 1,
            "the alarm is not a subscriber"
        );
        assert!(
            !r.nothing_to_attend(),
            "armed timers wait for a clock reading"
        );
        assert_eq!(r.run_once(NOW).unwrap(), 0);
        assert!(
            r.nothing_to_attend(),
            "a turn with timers armed, none due, is not quiet"
        );
        for _ in 0..3 {
            sys::write(efd.as_fd(), &1u64.to_ne_bytes()).unwrap();
            assert_eq!(r.run_once(NOW).unwrap(), 1);
            assert!(r.nothing_to_attend());
        }
        // A timer due soon rings the alarm: its event is not counted, the callbacks are.
        // (Soon, but not so soon that a loaded machine under valgrind passes it before the
        // next turn.)
        let start = Instant::now();
        for _ in 0..3 {
            let soon = Timer::after(Duration::from_millis(100));
            r.arm(soon, |_: &mut Ops<'_>| {}).unwrap();
        }
        assert_eq!(r.run_once(NOW).unwrap(), 0); // sets the alarm
        assert_eq!(r.run_once(None).unwrap(), 3);
        assert!(start.elapsed() >= Duration::from_millis(100));
        assert!(
            r.nothing_to_attend(),
            "the 1000 left do not keep turns off the fast path"
        );
    }

    // The executor's sleeps ring the alarm too (made by the first sleep if no timer made it):
    // a turn with a sleep armed but not due waits with no timeout, as one without it does,
    // and the sleep still ends, never early. A deadline pushed later leaves the alarm where
    // it is (it rings early, the sleep is filed again, the alarm set again).
    #[test]
    #[cfg(feature = "tasks")]
    #[cfg_attr(miri, ignore = "Miri has no timerfd")]
    fn sleeps_ring_the_alarm_so_turns_wait_with_no_timeout() {
        use crate::Instant as At;
        let mut r = Reactor::new().unwrap();
        let spawner = r.spawner().unwrap();
        let start = Instant::now();
        let s = spawner.clone();
        let slept = r
            .spawn(async move {
                let _ = s.sleep(Duration::from_secs(60)).await; // dropped with the reactor
            })
            .unwrap();
        drop(slept);
        let s = spawner.clone();
        let done = r
            .spawn(async move {
                let mut sleep = s.sleep_until(At::now() + Duration::from_secs(1));
                let first = sleep.deadline().unwrap();
                core::future::poll_fn(|cx| {
                    let _ = core::future::Future::poll(core::pin::Pin::new(&mut sleep), cx);
                    core::task::Poll::Ready(())
                })
                .await;
                sleep.reset(first + Duration::from_millis(200)); // later: only written down
                sleep.await
            })
            .unwrap();
        assert!(!r.has_alarm(), "no timer, no sleep polled yet");
        r.run_once(NOW).unwrap(); // polls both tasks: their sleeps are armed
        r.run_once(NOW).unwrap(); // the wait before which the alarm is set
        let set = r.alarm_set().expect("the sleeps set no alarm");
        let soonest = At::now() + Duration::from_secs(1);
        assert!(
            set <= soonest.as_nanos(),
            "set for {set}, after the soonest sleep"
        );
        while !done.is_finished() {
            r.run_once(None).unwrap(); // no timeout: only the alarm can end these waits
        }
        assert_eq!(r.block_on(done).unwrap(), Ok(Ok(())));
        assert!(
            start.elapsed() >= Duration::from_millis(1200),
            "ended early"
        );
    }

    // Where the first sleep cannot make an alarm, turns wait with a timeout until the
    // earliest sleep's deadline: the sleep still ends, never early.
    #[test]
    #[cfg(feature = "tasks")]
    fn without_an_alarm_the_wait_times_out_for_the_sleeps() {
        let mut r = Reactor::new().unwrap();
        let spawner = r.spawner().unwrap();
        let start = Instant::now();
        let at = Duration::from_millis(50);
        let slept = r.spawn(async move { spawner.sleep(at).await }).unwrap();
        FORCE_TIMEOUT.with(|f| f.set(true));
        r.run_once(NOW).unwrap(); // polls the task, and before the wait tries for an alarm
        r.run_once(NOW).unwrap();
        FORCE_TIMEOUT.with(|f| f.set(false));
        assert!(!r.has_alarm());
        while !slept.is_finished() {
            r.run_once(None).unwrap(); // only the timeout can end these waits
        }
        assert_eq!(r.block_on(slept).unwrap(), Ok(Ok(())));
        assert!(start.elapsed() >= at);
    }

    // A clock the kernel refuses to read (a seccomp policy allowing only the vDSO does this)
    // is an error from the turn, never time 0: a timer armed then never fires early, and the
    // loop does not spin on an alarm set for a deadline near 0.
    #[test]
    #[cfg_attr(miri, ignore = "Miri has no timerfd")]
    fn a_refused_clock_is_an_error_not_time_zero() {
        use crate::sys::time::REFUSE_CLOCK;
        let mut r = Reactor::new().unwrap();
        let fired = std::rc::Rc::new(Cell::new(false));
        let f = fired.clone();
        r.arm(
            Timer::after(Duration::from_secs(60)),
            move |_: &mut Ops<'_>| f.set(true),
        )
        .unwrap();
        REFUSE_CLOCK.with(|c| c.set(true));
        let refused = r.run_once(NOW);
        let again = r.run_once(NOW);
        REFUSE_CLOCK.with(|c| c.set(false));
        assert_eq!(refused, Err(crate::Error::Os(sys::Errno::EINVAL)));
        assert_eq!(again, Err(crate::Error::Os(sys::Errno::EINVAL)));
        assert!(crate::Instant::try_now().is_ok());
        assert!(!fired.get(), "a timer fired on a clock read as 0");
        // The clock is back: the turn reads it and waits for the deadline, 60 s away.
        assert_eq!(r.run_once(NOW).unwrap(), 0);
        assert!(!fired.get());
    }

    // A deadline that moves later leaves the alarm set early: it rings, nothing is due, and it
    // is set again; the timer fires once, not before its new deadline.
    // The idle timeout that every read pushes later: a reset to a later deadline leaves the
    // next turn with nothing to attend (no clock reading, no timer code); one to an earlier
    // deadline does not, since the alarm must move.
    #[test]
    #[cfg_attr(miri, ignore = "Miri has no timerfd")]
    fn a_reset_later_leaves_the_next_turn_quiet() {
        let mut r = Reactor::new().unwrap();
        let key = r
            .arm(
                Timer::after(Duration::from_secs(60)),
                |_: &mut Ops<'_>| unreachable!(),
            )
            .unwrap();
        assert_eq!(r.run_once(NOW).unwrap(), 0);
        assert!(r.nothing_to_attend());
        for i in 1..=3 {
            r.reset(key, Timer::after(Duration::from_secs(60 + i)))
                .unwrap();
            assert!(
                r.nothing_to_attend(),
                "a later reset made work for the turn"
            );
            assert_eq!(r.run_once(NOW).unwrap(), 0);
        }
        r.reset(key, Timer::after(Duration::from_secs(30))).unwrap();
        assert!(!r.nothing_to_attend(), "the alarm must move earlier");
        assert_eq!(r.run_once(NOW).unwrap(), 0);
        assert!(r.nothing_to_attend());
        r.cancel(key).unwrap();
    }

    #[test]
    #[cfg_attr(miri, ignore = "Miri has no timerfd")]
    fn an_alarm_that_rings_early_is_set_again() {
        let mut r = Reactor::new().unwrap();
        let fired = std::rc::Rc::new(core::cell::Cell::new(0));
        let f = fired.clone();
        let start = Instant::now();
        // Margins wide enough for a loaded machine or an emulator: the first turn must come
        // before the first deadline.
        let (first, later) = (Duration::from_millis(150), Duration::from_millis(300));
        let key = r
            .arm(Timer::after(first), move |_: &mut Ops<'_>| {
                f.set(f.get() + 1)
            })
            .unwrap();
        assert_eq!(r.run_once(NOW).unwrap(), 0); // the alarm is set for `first`
        r.reset(key, Timer::after(later)).unwrap();
        while fired.get() == 0 {
            r.run_once(None).unwrap();
        }
        let waited = start.elapsed();
        assert!(waited >= later, "fired early: {waited:?}");
        assert_eq!(fired.get(), 1);
    }

    // Without a timerfd (refused by a seccomp filter, absent under an emulator, no descriptor
    // left), timers wake the reactor through the wait's timeout, and still never early.
    #[test]
    #[cfg_attr(miri, ignore = "real time")]
    fn without_an_alarm_the_wait_times_out_for_the_timers() {
        FORCE_TIMEOUT.with(|f| f.set(true));
        let mut r = Reactor::new().unwrap();
        let start = Instant::now();
        let at = Duration::from_millis(3);
        r.arm(Timer::after(at), |ops: &mut Ops<'_>| ops.stop())
            .unwrap();
        FORCE_TIMEOUT.with(|f| f.set(false));
        assert!(!r.has_alarm());
        r.run().unwrap();
        assert!(start.elapsed() >= at);
        let efd = ready(&mut r);
        r.arm(Timer::after(Duration::from_secs(60)), |_: &mut Ops<'_>| {})
            .unwrap();
        sys::write(efd.as_fd(), &1u64.to_ne_bytes()).unwrap();
        assert_eq!(r.run_once(NOW).unwrap(), 1);
        assert!(
            !r.nothing_to_attend(),
            "timeouts need the clock every turn while timers are armed"
        );
    }

    // Without an alarm, a wait that ends in its timeout stands for a clock reading at the
    // deadline; a wait that a signal cuts short does not. Here the process is stopped and
    // continued (a job-control stop: the blocked wait returns `EINTR`, no handler needed)
    // long before the deadline, and the timer must not fire then.
    #[test]
    #[cfg_attr(miri, ignore = "signals and processes")]
    fn without_an_alarm_an_interrupted_wait_fires_nothing_early() {
        FORCE_TIMEOUT.with(|f| f.set(true));
        let mut r = Reactor::new().unwrap();
        let at = Duration::from_millis(400);
        let fired_at = std::rc::Rc::new(Cell::new(None));
        let f = fired_at.clone();
        let start = Instant::now();
        r.arm(Timer::after(at), move |ops: &mut Ops<'_>| {
            f.set(Some(start.elapsed()));
            ops.stop();
        })
        .unwrap();
        FORCE_TIMEOUT.with(|f| f.set(false));
        assert!(!r.has_alarm());
        let pid = std::format!("{}", std::process::id());
        let mut stopper = std::process::Command::new("sh")
            .args([
                "-c",
                "sleep 0.1; kill -STOP $0; sleep 0.01; kill -CONT $0",
                &pid,
            ])
            .spawn()
            .unwrap();
        r.run().unwrap();
        assert!(stopper.wait().unwrap().success());
        let fired_at = fired_at.get().unwrap();
        assert!(
            fired_at >= at,
            "fired {fired_at:?} after arming, before {at:?}"
        );
    }
}
