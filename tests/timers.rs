//! Timers in the reactor, with the real clock: never early, one-shot and periodic, cancel and
//! reset from anywhere (their own callback included), panics, drops, stale keys.
mod common;

use barepoll::{Error, Instant, Ops, Reactor, Timer, TimerKey};
use common::*;
use std::cell::{Cell, RefCell};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::time::Duration;

const MS: Duration = Duration::from_millis(1);

/// Counts the drops of the callback that captures it.
#[derive(Clone, Default)]
struct DropCount(Rc<Cell<u32>>);
impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}
impl DropCount {
    /// Drops of the clones handed to callbacks (this one excluded).
    fn dropped(&self) -> u32 {
        self.0.get()
    }
}

/// Runs turns for `d`. What it shows is what did *not* happen meanwhile: a loaded machine may
/// run fewer turns than asked, never more, so a test waits for what must happen with
/// `run_until`, then runs for a while to see nothing more does.
fn run_for(r: &mut Reactor, d: Duration) {
    let end = Instant::now() + d;
    while Instant::now() < end {
        r.run_once(Some(end - Instant::now())).unwrap();
    }
}

/// Runs turns until `done()`, however long a loaded machine takes (a minute at most: past
/// that, something that must happen never did).
fn run_until(r: &mut Reactor, what: &str, done: impl Fn() -> bool) {
    let start = std::time::Instant::now();
    while !done() {
        assert!(start.elapsed() < Duration::from_secs(60), "never: {what}");
        r.run_once(Some(100 * MS)).unwrap();
    }
}

#[test]
#[cfg_attr(miri, ignore = "real time")]
fn a_one_shot_timer_fires_once_and_never_early() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let fired: Rc<RefCell<Vec<Instant>>> = Rc::default();
    let start = Instant::now();
    for ms in [3u64, 1, 7, 0] {
        let f = fired.clone();
        let d = Duration::from_millis(ms);
        r.arm(Timer::after(d), move |_: &mut Ops<'_>| {
            let now = Instant::now();
            assert!(
                now - start >= d,
                "fired {:?} after arming, asked {d:?}",
                now - start
            );
            f.borrow_mut().push(now);
        })
        .unwrap();
    }
    run_until(&mut r, "every timer fired", || fired.borrow().len() == 4);
    run_for(&mut r, 10 * MS);
    let fired = fired.borrow();
    assert_eq!(fired.len(), 4, "every timer fires exactly once");
    assert!(fired.windows(2).all(|w| w[0] <= w[1]), "fired out of order");
}

#[test]
fn run_once_waits_for_the_next_timer_and_fires_it() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let hits = Rc::new(Cell::new(0));
    let h = hits.clone();
    let start = Instant::now();
    r.arm(Timer::after(5 * MS), move |_: &mut Ops<'_>| {
        h.set(h.get() + 1)
    })
    .unwrap();
    // An infinite wait ends at the deadline, and the same call fires the timer.
    assert_eq!(r.run_once(None).unwrap(), 1);
    assert_eq!(hits.get(), 1);
    assert!(start.elapsed() >= 5 * MS);
    // A user timeout shorter than the deadline wins.
    r.arm(Timer::after(Duration::from_secs(60)), |_: &mut Ops<'_>| {})
        .unwrap();
    let t = Instant::now();
    assert_eq!(r.run_once(Some(2 * MS)).unwrap(), 0);
    assert!(t.elapsed() < Duration::from_secs(30));
}

#[test]
fn absolute_deadlines_in_the_past_fire_at_once() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let hits = Rc::new(Cell::new(0));
    let h = hits.clone();
    let past = Instant::now();
    std::thread::sleep(MS);
    r.arm(Timer::at(past), move |_: &mut Ops<'_>| h.set(h.get() + 1))
        .unwrap();
    let t = Instant::now();
    assert_eq!(r.run_once(None).unwrap(), 1);
    assert_eq!(hits.get(), 1);
    assert!(t.elapsed() < Duration::from_secs(30), "not at once: a hang");
    let h = hits.clone();
    let at = Instant::now() + 4 * MS;
    r.arm(Timer::at(at), move |_: &mut Ops<'_>| {
        assert!(Instant::now() >= at);
        h.set(h.get() + 1)
    })
    .unwrap();
    assert_eq!(r.run_once(None).unwrap(), 1);
    assert_eq!(hits.get(), 2);
}

#[test]
#[cfg_attr(miri, ignore = "real time")]
fn periodic_timers_skip_missed_ticks() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let ticks: Rc<RefCell<Vec<Instant>>> = Rc::default();
    let t = ticks.clone();
    let start = Instant::now();
    let key = r
        .arm(
            Timer::after(2 * MS).every(2 * MS),
            move |_: &mut Ops<'_>| t.borrow_mut().push(Instant::now()),
        )
        .unwrap();
    run_until(&mut r, "five ticks", || ticks.borrow().len() >= 5);
    for (i, at) in ticks.borrow().iter().enumerate() {
        assert!(*at - start >= (2 * MS) * (i as u32 + 1), "tick {i} early");
    }
    // Fall behind by many periods: one tick, not a burst.
    std::thread::sleep(20 * MS);
    let before = ticks.borrow().len();
    r.run_once(Some(Duration::ZERO)).unwrap();
    assert_eq!(
        ticks.borrow().len(),
        before + 1,
        "missed ticks were bunched"
    );
    r.cancel(key).unwrap();
    assert_eq!(r.cancel(key), Err(Error::StaleTimer(key)));
}

#[test]
fn cancel_and_reset_from_other_callbacks_in_the_same_turn() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let log: Rc<RefCell<Vec<&str>>> = Rc::default();
    let victim: Rc<Cell<Option<TimerKey>>> = Rc::default();
    let moved: Rc<Cell<Option<TimerKey>>> = Rc::default();
    // All three are due in the same turn; due timers fire in deadline order, so `first` runs
    // before the other two and cancels one and postpones the other.
    let base = Instant::now();
    std::thread::sleep(4 * MS);
    let (l, v, m) = (log.clone(), victim.clone(), moved.clone());
    r.arm(Timer::at(base), move |ops: &mut Ops<'_>| {
        l.borrow_mut().push("first");
        ops.cancel(v.get().unwrap()).unwrap();
        ops.reset(m.get().unwrap(), Timer::after(10 * MS)).unwrap();
    })
    .unwrap();
    let (l, drops) = (log.clone(), DropCount::default());
    let d = drops.clone();
    victim.set(Some(
        r.arm(Timer::at(base + MS), move |_: &mut Ops<'_>| {
            let _ = &d;
            l.borrow_mut().push("victim");
        })
        .unwrap(),
    ));
    let l = log.clone();
    moved.set(Some(
        r.arm(Timer::at(base + 2 * MS), move |_: &mut Ops<'_>| {
            l.borrow_mut().push("moved")
        })
        .unwrap(),
    ));
    let start = Instant::now();
    assert_eq!(
        r.run_once(Some(Duration::ZERO)).unwrap(),
        1,
        "only `first` fires now"
    );
    assert_eq!(
        drops.dropped(),
        1,
        "the cancelled callback was not dropped at once"
    );
    run_until(&mut r, "`moved` fired", || log.borrow().len() == 2);
    run_for(&mut r, 5 * MS);
    assert_eq!(*log.borrow(), ["first", "moved"]);
    assert!(start.elapsed() >= 10 * MS);
    assert_eq!(drops.dropped(), 1);
}

#[test]
#[cfg_attr(miri, ignore = "real time")]
fn a_timer_cancels_or_resets_itself_from_its_callback() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let hits = Rc::new(Cell::new(0u32));
    let drops = DropCount::default();
    let (h, d) = (hits.clone(), drops.clone());
    // Periodic, but cancels itself on its third tick; its callback is dropped once it returns.
    r.arm(Timer::after(MS).every(MS), move |ops: &mut Ops<'_>| {
        let _ = &d;
        h.set(h.get() + 1);
        if h.get() == 3 {
            ops.cancel(ops.timer().unwrap()).unwrap();
            let me = ops.timer().unwrap();
            assert_eq!(
                ops.cancel(me),
                Err(Error::StaleTimer(me)),
                "cancelled once, it names no armed timer"
            );
        }
    })
    .unwrap();
    run_until(&mut r, "three ticks", || hits.get() == 3);
    run_for(&mut r, 5 * MS);
    assert_eq!(hits.get(), 3);
    assert_eq!(drops.dropped(), 1);

    // One-shot, resets itself twice, then lets go.
    let hits = Rc::new(Cell::new(0u32));
    let h = hits.clone();
    let key = r
        .arm(Timer::after(Duration::ZERO), move |ops: &mut Ops<'_>| {
            h.set(h.get() + 1);
            if h.get() < 3 {
                ops.reset(ops.timer().unwrap(), Timer::after(MS)).unwrap();
            }
        })
        .unwrap();
    run_until(&mut r, "three runs", || hits.get() == 3);
    run_for(&mut r, 5 * MS);
    assert_eq!(hits.get(), 3);
    assert_eq!(r.cancel(key), Err(Error::StaleTimer(key)));
}

#[test]
fn a_panicking_callback_leaves_the_reactor_usable() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let hits = Rc::new(Cell::new(0u32));
    let (once, periodic) = (DropCount::default(), DropCount::default());
    let d = once.clone();
    let bomb = r
        .arm(Timer::after(Duration::ZERO), move |_: &mut Ops<'_>| {
            let _ = &d;
            panic!("timer panic (planted by the test)");
        })
        .unwrap();
    let (h, d) = (hits.clone(), periodic.clone());
    r.arm(
        Timer::after(Duration::ZERO).every(MS),
        move |_: &mut Ops<'_>| {
            let _ = &d;
            h.set(h.get() + 1);
            if h.get() == 1 {
                panic!("timer panic (planted by the test)");
            }
        },
    )
    .unwrap();
    let others = Rc::new(Cell::new(0u32));
    for _ in 0..3 {
        let o = others.clone();
        r.arm(Timer::after(Duration::ZERO), move |_: &mut Ops<'_>| {
            o.set(o.get() + 1)
        })
        .unwrap();
    }
    let mut panics = 0;
    for _ in 0..20 {
        match catch_unwind(AssertUnwindSafe(|| r.run_once(Some(MS)))) {
            Ok(result) => {
                result.unwrap();
            }
            Err(p) => {
                assert!(p.downcast_ref::<&str>().unwrap().contains("planted"));
                panics += 1;
            }
        }
    }
    assert_eq!(panics, 2, "each planted panic exactly once");
    assert_eq!(others.get(), 3, "a due timer was lost to a panic");
    assert!(
        hits.get() >= 3,
        "the periodic timer stopped after its panic"
    );
    assert_eq!(
        once.dropped(),
        1,
        "the one-shot panicking callback was not dropped"
    );
    assert_eq!(r.cancel(bomb), Err(Error::StaleTimer(bomb)));
    assert_eq!(periodic.dropped(), 0);
    drop(r);
    assert_eq!(periodic.dropped(), 1);
}

#[test]
fn dropping_the_reactor_drops_every_callback_once() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let drops = DropCount::default();
    let mut keys = Vec::new();
    for i in 0..100u64 {
        let d = drops.clone();
        let timer = if i % 2 == 0 {
            Timer::after(Duration::from_secs(i + 1))
        } else {
            Timer::after(Duration::from_secs(i)).every(Duration::from_secs(1))
        };
        keys.push(
            r.arm(timer, move |_: &mut Ops<'_>| {
                let _ = &d;
            })
            .unwrap(),
        );
    }
    for k in keys.iter().step_by(3) {
        r.cancel(*k).unwrap();
    }
    assert_eq!(drops.dropped(), 34);
    r.run_once(Some(Duration::ZERO)).unwrap(); // gives them deadlines
    for k in keys.iter().skip(1).step_by(3) {
        r.reset(*k, Timer::after(Duration::from_secs(3))).unwrap();
    }
    drop(r);
    assert_eq!(drops.dropped(), 100);
}

#[test]
fn stale_and_foreign_timer_keys_touch_nothing() {
    let _fds = fd_check();
    let mut a = Reactor::new().unwrap();
    let mut b = Reactor::new().unwrap();
    let ka = a
        .arm(Timer::after(Duration::from_secs(60)), |_: &mut Ops<'_>| {})
        .unwrap();
    let kb = b
        .arm(Timer::after(Duration::from_secs(60)), |_: &mut Ops<'_>| {})
        .unwrap();
    assert_eq!(b.cancel(ka), Err(Error::StaleTimer(ka)), "a foreign key");
    assert_eq!(
        b.reset(ka, Timer::after(Duration::ZERO)),
        Err(Error::StaleTimer(ka))
    );
    b.cancel(kb).unwrap();
    a.cancel(ka).unwrap();
    let again = a
        .arm(Timer::after(Duration::from_secs(60)), |_: &mut Ops<'_>| {})
        .unwrap();
    assert_ne!(again, ka);
    assert_eq!(
        a.cancel(ka),
        Err(Error::StaleTimer(ka)),
        "reused entry, old key"
    );
    assert!(Error::StaleTimer(ka).to_string().contains("no armed timer"));
    let zero = Timer::after(Duration::ZERO).every(Duration::ZERO);
    let err = a.arm(zero, |_: &mut Ops<'_>| {}).unwrap_err();
    assert!(matches!(err, Error::Invalid(_)), "{err}");
    assert!(matches!(a.reset(again, zero), Err(Error::Invalid(_))));
}

#[test]
fn callbacks_and_handlers_arm_add_delete_and_stop() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let (probe, c) = Probe::new(eventfd(0));
    let key = r.register(probe, readable()).unwrap();
    let steps: Rc<RefCell<Vec<&str>>> = Rc::default();
    let s = steps.clone();
    r.arm(Timer::after(MS), move |ops: &mut Ops<'_>| {
        s.borrow_mut().push("timer");
        // Arm another from the callback: relative to the next clock reading, so the loop
        // does not sleep past it.
        let s = s.clone();
        ops.arm(Timer::after(2 * MS), move |ops: &mut Ops<'_>| {
            s.borrow_mut().push("nested");
            ops.delete(key).unwrap();
            let s = s.clone();
            readable()
                .with_fd(eventfd(1))
                .with_handler(move |ops: &mut Ops<'_>| {
                    s.borrow_mut().push("handler");
                    ops.delete_self().unwrap();
                    let s = s.clone();
                    ops.arm(Timer::after(MS), move |ops: &mut Ops<'_>| {
                        s.borrow_mut().push("last");
                        ops.stop();
                    })
                    .unwrap();
                })
                .register_into(ops)
                .unwrap();
        })
        .unwrap();
    })
    .unwrap();
    r.run().unwrap();
    assert_eq!(*steps.borrow(), ["timer", "nested", "handler", "last"]);
    assert_eq!(c.drops(), 1);
    assert!(r.is_empty());
}

#[test]
#[cfg_attr(miri, ignore = "real time")]
fn resetting_an_idle_timeout_on_every_event_postpones_it() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let fired = Rc::new(Cell::new(None));
    let f = fired.clone();
    let armed = Instant::now(); // its deadline is 10 ms after this, or later
    let idle = r
        .arm(Timer::after(10 * MS), move |_: &mut Ops<'_>| {
            f.set(Some(Instant::now()))
        })
        .unwrap();
    // Activity every 2 ms or so, each event resetting the 10 ms idle timeout. (A loaded
    // machine may leave a gap of 10 ms or more: then the timeout fires during the activity,
    // rightly, and later resets find it gone.)
    let resets: Rc<RefCell<Vec<Instant>>> = Rc::default();
    let log = resets.clone();
    let writer = eventfd(0);
    let w = dup(&writer);
    readable()
        .with_fd(writer)
        .with_handler(move |fd: &mut barepoll::sys::OwnedFd, ops: &mut Ops<'_>| {
            drain(barepoll::sys::AsFd::as_fd(fd));
            let at = Instant::now(); // the new deadline is 10 ms after this, or later
            match ops.reset(idle, Timer::after(10 * MS)) {
                Ok(()) => log.borrow_mut().push(at),
                Err(Error::StaleTimer(_)) => {} // it fired in a gap
                Err(e) => panic!("reset: {e}"),
            }
        })
        .register_into(&mut r)
        .unwrap();
    let poker = std::thread::spawn(move || {
        for _ in 0..15 {
            std::thread::sleep(2 * MS);
            poke(barepoll::sys::AsFd::as_fd(&w));
        }
    });
    run_until(&mut r, "the idle timeout fired", || fired.get().is_some());
    poker.join().unwrap();
    let fired = fired.get().unwrap();
    // Never early: 10 ms after its last reset (after its arming if none came before it).
    let resets = resets.borrow();
    let last = resets.iter().copied().filter(|&at| at < fired).max();
    let from = last.unwrap_or(armed);
    assert!(
        fired - from >= 10 * MS,
        "fired {:?} after its last reset, {} resets",
        fired - from,
        resets.len()
    );
}

// Defect: a timer that cancelled itself in its callback still took a reset from that same
// callback (`Ok`, then silently dropped) and a second cancel (`Ok`). Once cancelled, its key
// names no armed timer: both are refused with `StaleTimer`, and the callback is dropped once.
#[test]
fn a_cancelled_running_timer_refuses_reset_and_cancel() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let drops = DropCount::default();
    let d = drops.clone();
    let results: Rc<RefCell<Vec<Result<(), Error>>>> = Rc::default();
    let out = results.clone();
    let key = r
        .arm(Timer::after(Duration::ZERO), move |ops: &mut Ops<'_>| {
            let _ = &d;
            let me = ops.timer().unwrap();
            out.borrow_mut().push(ops.cancel(me));
            out.borrow_mut()
                .push(ops.reset(me, Timer::after(Duration::ZERO)));
            out.borrow_mut().push(ops.cancel(me));
        })
        .unwrap();
    assert_eq!(r.run_once(Some(Duration::ZERO)).unwrap(), 1);
    assert_eq!(
        *results.borrow(),
        [
            Ok(()),
            Err(Error::StaleTimer(key)),
            Err(Error::StaleTimer(key))
        ]
    );
    assert_eq!(drops.dropped(), 1);
    assert_eq!(
        r.run_once(Some(Duration::ZERO)).unwrap(),
        0,
        "it fired again"
    );
}

// Defect: cancelling a timer whose callback had panicked returned `Ok` but kept the callback
// until the next turn that read the clock; a second cancel returned `Ok` again and a reset was
// accepted and ignored. Cancelling it from outside drops the callback at once.
#[test]
fn cancelling_a_timer_whose_callback_panicked_drops_it_at_once() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let drops = DropCount::default();
    let d = drops.clone();
    let key = r
        .arm(
            Timer::after(Duration::ZERO).every(MS),
            move |_: &mut Ops<'_>| {
                let _ = &d;
                panic!("timer panic (planted by the test)");
            },
        )
        .unwrap();
    let panicked = catch_unwind(AssertUnwindSafe(|| r.run_once(Some(Duration::ZERO))));
    assert!(panicked.is_err());
    assert_eq!(r.cancel(key), Ok(()));
    assert_eq!(drops.dropped(), 1, "the callback outlived its cancel");
    assert_eq!(r.cancel(key), Err(Error::StaleTimer(key)));
    assert_eq!(
        r.reset(key, Timer::after(Duration::ZERO)),
        Err(Error::StaleTimer(key))
    );
    assert_eq!(r.run_once(Some(Duration::ZERO)).unwrap(), 0);
    drop(r);
    assert_eq!(drops.dropped(), 1);
}

/// A reactor whose first timer is armed from inside a turn (a handler's `arm`, or its
/// `arm_own`), with no timer or deferred callback before it: the turn reads the clock for it
/// (never time 0), so it fires, and never early.
#[test]
#[cfg_attr(miri, ignore = "real time")]
fn a_first_timer_armed_from_a_handler_fires_never_early() {
    use barepoll::{Event, Subscriber};
    let _fds = fd_check();
    // A handler's `arm`.
    let mut r = Reactor::new().unwrap();
    let armed_at: Rc<Cell<Option<Instant>>> = Rc::default();
    let fired_at: Rc<Cell<Option<Instant>>> = Rc::default();
    let (at, fired) = (armed_at.clone(), fired_at.clone());
    readable()
        .with_fd(eventfd(1))
        .with_handler(move |ops: &mut Ops<'_>| {
            ops.delete_self().unwrap();
            at.set(Some(Instant::now()));
            let fired = fired.clone();
            ops.arm(Timer::after(5 * MS), move |_: &mut Ops<'_>| {
                fired.set(Some(Instant::now()))
            })
            .unwrap();
        })
        .register_into(&mut r)
        .unwrap();
    run_until(&mut r, "the handler's timer", || fired_at.get().is_some());
    assert!(fired_at.get().unwrap() >= armed_at.get().unwrap() + 5 * MS);

    // A handler's `arm_own`, its first event's doing (not `init`'s).
    struct Owner {
        fd: barepoll::sys::OwnedFd,
        armed_at: Option<Instant>,
        fired_at: Rc<Cell<Option<Duration>>>,
    }
    impl barepoll::sys::AsFd for Owner {
        fn as_fd(&self) -> barepoll::sys::BorrowedFd<'_> {
            self.fd.as_fd()
        }
    }
    impl Subscriber for Owner {
        fn handle(&mut self, event: Event, ops: &mut Ops<'_>) {
            if event.is_timer() {
                assert_eq!(event.tag(), 3);
                let armed_at = self.armed_at.unwrap();
                self.fired_at.set(Some(Instant::now() - armed_at));
                return;
            }
            drain(barepoll::sys::AsFd::as_fd(&self.fd));
            self.armed_at = Some(Instant::now());
            ops.arm_own(Timer::after(5 * MS), 3).unwrap();
        }
    }
    let mut r = Reactor::new().unwrap();
    let fired_after: Rc<Cell<Option<Duration>>> = Rc::default();
    let owner = Owner {
        fd: eventfd(1),
        armed_at: None,
        fired_at: fired_after.clone(),
    };
    r.register(owner, readable()).unwrap();
    run_until(&mut r, "the owned timer", || fired_after.get().is_some());
    assert!(fired_after.get().unwrap() >= 5 * MS);
}
