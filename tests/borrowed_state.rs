//! A reactor whose shared state borrows from the caller's stack: the state type has a
//! lifetime, the reactor lives inside it, and every kind of callback (hand-written subscribers,
//! closure handlers, timers, deferred calls, wakers, the stop handle) reaches the borrowed data
//! through `Ops::data`, on real eventfds. Once the reactor is gone, the borrow is over and the
//! caller reads what the callbacks wrote.
mod common;

use barepoll::sys::{AsFd, BorrowedFd, OwnedFd};
use barepoll::{Event, Ops, Reactor, StopHandle, Subscriber, Timer, Waker};
use common::{drain, fd_check, poke, readable};
use std::time::Duration;

/// The state: borrows a log and a counter that live on the test's stack.
struct Ctx<'a> {
    log: &'a mut Vec<String>,
    events: &'a mut u32,
}

/// A hand-written subscriber of a reactor whose state borrows: it is `'static` itself (it
/// names no lifetime of the state) and writes into the borrowed log.
struct Counter {
    fd: OwnedFd,
}

impl AsFd for Counter {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl<'a> Subscriber<Ctx<'a>> for Counter {
    fn handle(&mut self, _: Event, ops: &mut Ops<'_, Ctx<'a>>) {
        let n = drain(self.fd.as_fd());
        let ctx = ops.data();
        *ctx.events += 1;
        ctx.log.push(format!("counter {n}"));
    }
}

#[test]
#[cfg_attr(miri, ignore = "real time (a timer)")]
fn every_kind_of_callback_reaches_state_borrowed_from_the_stack() {
    let _fds = fd_check();
    let mut log = Vec::new();
    let mut events = 0u32;
    {
        let mut reactor = Reactor::builder().state::<Ctx<'_>>().build().unwrap();
        let counted = common::eventfd(2);
        reactor
            .register(Counter { fd: counted }, readable())
            .unwrap();
        let by_closure = common::eventfd(5);
        barepoll::interest()
            .read()
            .with_fd(by_closure)
            .with_handler(|fd: &mut OwnedFd, ops: &mut Ops<'_, Ctx<'_>>| {
                let n = drain(fd.as_fd());
                ops.data().log.push(format!("closure {n}"));
                ops.defer(|ops: &mut Ops<'_, Ctx<'_>>| ops.data().log.push("deferred".into()))
                    .unwrap();
            })
            .register_into(&mut reactor)
            .unwrap();
        reactor
            .arm(
                Timer::after(Duration::from_millis(1)),
                |ops: &mut Ops<'_, Ctx<'_>>| ops.data().log.push("timer".into()),
            )
            .unwrap();
        let waker = Waker::new(&mut reactor, |ops: &mut Ops<'_, Ctx<'_>>| {
            ops.data().log.push("woken".into())
        })
        .unwrap();
        waker.wake();
        let stop = StopHandle::new(&mut reactor).unwrap();
        let mut ctx = Ctx {
            log: &mut log,
            events: &mut events,
        };
        // Until the timer has fired (never early: at least 1 ms from now), then stop.
        while !ctx.log.iter().any(|l| l == "timer") {
            reactor
                .run_once_with(Some(Duration::from_millis(50)), &mut ctx)
                .unwrap();
        }
        stop.stop();
        reactor.run_with(&mut ctx).unwrap();
        drop(reactor);
    }
    // The reactor is gone: the borrow is over.
    for line in ["counter 2", "closure 5", "deferred", "timer", "woken"] {
        assert!(log.iter().any(|l| l == line), "{line} in {log:?}");
    }
    assert_eq!(events, 1);
    let deferred = log.iter().position(|l| l == "deferred").unwrap();
    let closure = log.iter().position(|l| l == "closure 5").unwrap();
    assert!(
        closure < deferred,
        "deferred runs after the handler that asked: {log:?}"
    );
}

/// The state may hold a `&mut` to a value the caller goes on using after the reactor: the
/// reactor is dropped inside the borrow, and a poke after its drop reaches nothing.
#[test]
fn a_reactor_inside_a_borrow_ends_with_it() {
    let _fds = fd_check();
    let mut total = 0u64;
    let efd = std::sync::Arc::new(common::eventfd(0));
    for round in 1..=3u64 {
        struct Sum<'a>(&'a mut u64);
        let mut reactor = Reactor::builder().state::<Sum<'_>>().build().unwrap();
        let fd = efd.clone();
        barepoll::interest()
            .read()
            .with_fd(common::dup(&efd))
            .with_handler(move |ops: &mut Ops<'_, Sum<'_>>| {
                *ops.data().0 += drain(fd.as_fd());
                ops.stop();
            })
            .register_into(&mut reactor)
            .unwrap();
        for _ in 0..round {
            poke(efd.as_fd());
        }
        reactor.run_with(&mut Sum(&mut total)).unwrap();
        drop(reactor);
        assert_eq!(total, round * (round + 1) / 2);
    }
}

/// A subscriber with further fds (records, one per tag): its `init` adds them and writes to
/// the state when the state is lent (a registration from a handler), and every event, from
/// its own fd or a record's, lands in the borrowed log under its tag.
struct Multi {
    fd: OwnedFd,
    extra: Vec<OwnedFd>,
    /// Events seen (tag, value drained), also kept here to check against the state's log.
    seen: Vec<(u32, u64)>,
}

impl AsFd for Multi {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// A second state type, so that two reactors of different states run side by side.
struct Tally<'a> {
    seen: &'a mut Vec<(u32, u64)>,
}

fn multi_init<D>(m: &mut Multi, ops: &mut Ops<'_, D>) -> barepoll::Result<()> {
    for (i, fd) in m.extra.iter().enumerate() {
        ops.add_fd(fd.as_fd(), i as u32 + 1, readable())?;
    }
    Ok(())
}

fn multi_event(m: &mut Multi, event: Event) -> (u32, u64) {
    let tag = event.tag();
    let fd = match tag {
        0 => m.fd.as_fd(),
        t => m.extra[t as usize - 1].as_fd(),
    };
    let got = (tag, drain(fd));
    m.seen.push(got);
    got
}

impl<'a> Subscriber<Ctx<'a>> for Multi {
    fn init(&mut self, ops: &mut Ops<'_, Ctx<'a>>) -> barepoll::Result<()> {
        multi_init(self, ops)
    }
    fn handle(&mut self, event: Event, ops: &mut Ops<'_, Ctx<'a>>) {
        let (tag, n) = multi_event(self, event);
        let ctx = ops.data();
        *ctx.events += 1;
        ctx.log.push(format!("multi {tag} {n}"));
    }
}

impl<'a> Subscriber<Tally<'a>> for Multi {
    fn init(&mut self, ops: &mut Ops<'_, Tally<'a>>) -> barepoll::Result<()> {
        multi_init(self, ops)
    }
    fn handle(&mut self, event: Event, ops: &mut Ops<'_, Tally<'a>>) {
        let got = multi_event(self, event);
        ops.data().seen.push(got);
    }
}

fn multi(values: [u32; 4]) -> Multi {
    Multi {
        fd: common::eventfd(values[0]),
        extra: values[1..].iter().map(|&v| common::eventfd(v)).collect(),
        seen: Vec::new(),
    }
}

fn sorted<T: Ord + Clone>(v: &[T]) -> Vec<T> {
    let mut v = v.to_vec();
    v.sort();
    v
}

/// Records (several fds of one subscriber, each its own registration) relay their events to
/// their owner, whose handler writes them into state borrowed from the stack.
#[test]
fn records_of_one_subscriber_reach_state_borrowed_from_the_stack() {
    let _fds = fd_check();
    let mut log = Vec::new();
    let mut events = 0u32;
    let seen;
    {
        let mut reactor = Reactor::builder().state::<Ctx<'_>>().build().unwrap();
        let key = reactor.register(multi([1, 2, 3, 4]), readable()).unwrap();
        let mut ctx = Ctx {
            log: &mut log,
            events: &mut events,
        };
        while *ctx.events < 4 {
            reactor
                .run_once_with(Some(Duration::from_secs(5)), &mut ctx)
                .unwrap();
        }
        seen = reactor.get::<Multi>(key).unwrap().seen.clone();
    }
    assert_eq!(sorted(&seen), [(0, 1), (1, 2), (2, 3), (3, 4)]);
    assert_eq!(events, 4);
    assert_eq!(
        sorted(&log),
        ["multi 0 1", "multi 1 2", "multi 2 3", "multi 3 4"]
    );
}

/// Two reactors of different borrowed state types hold the same subscriber type with
/// records: each record relays to its own reactor's owner, which writes only its own state.
#[test]
fn records_of_two_reactors_of_different_states_stay_apart() {
    let _fds = fd_check();
    let (mut log, mut events, mut tally) = (Vec::new(), 0u32, Vec::new());
    {
        let mut a = Reactor::builder().state::<Ctx<'_>>().build().unwrap();
        let mut b = Reactor::builder().state::<Tally<'_>>().build().unwrap();
        let ka = a.register(multi([1, 2, 3, 4]), readable()).unwrap();
        let kb = b.register(multi([10, 20, 30, 40]), readable()).unwrap();
        let mut ctx = Ctx {
            log: &mut log,
            events: &mut events,
        };
        let mut t = Tally { seen: &mut tally };
        while *ctx.events < 4 || t.seen.len() < 4 {
            a.run_once_with(Some(Duration::ZERO), &mut ctx).unwrap();
            b.run_once_with(Some(Duration::ZERO), &mut t).unwrap();
        }
        // Neither reactor reaches the other's subscriber by its key as a `Multi`.
        assert!(a.get::<Multi>(kb).is_err());
        assert!(b.get::<Multi>(ka).is_err());
        assert_eq!(a.get::<Multi>(ka).unwrap().seen.len(), 4);
        assert_eq!(b.get::<Multi>(kb).unwrap().seen.len(), 4);
    }
    assert_eq!(
        sorted(&log),
        ["multi 0 1", "multi 1 2", "multi 2 3", "multi 3 4"]
    );
    assert_eq!(sorted(&tally), [(0, 10), (1, 20), (2, 30), (3, 40)]);
}

/// A handler registers a subscriber with records (its `init` runs with the state lent) and
/// lends another subscriber's value with `Ops::with`, which reaches the state too.
#[test]
fn init_and_ops_with_reach_state_borrowed_from_the_stack() {
    let _fds = fd_check();
    let mut log = Vec::new();
    let mut events = 0u32;
    let (added, lent);
    {
        let mut reactor = Reactor::builder().state::<Ctx<'_>>().build().unwrap();
        // Waits for its first event (the counter is 0) until the handler below pokes it.
        let waiting = Multi {
            fd: common::eventfd(0),
            extra: Vec::new(),
            seen: Vec::new(),
        };
        let waiting_fd = common::dup(&waiting.fd);
        let other = reactor.register(waiting, readable()).unwrap();
        let new_key = std::rc::Rc::new(std::cell::Cell::new(None));
        let kept = new_key.clone();
        barepoll::interest()
            .read()
            .with_fd(common::eventfd(1))
            .with_handler(move |fd: &mut OwnedFd, ops: &mut Ops<'_, Ctx<'_>>| {
                drain(fd.as_fd());
                let key = ops.add(multi([5, 6, 7, 8]), readable()).unwrap();
                kept.set(Some(key));
                let n = ops
                    .with(other, |m: &mut Multi, ops: &mut Ops<'_, Ctx<'_>>| {
                        m.seen.push((99, 99));
                        ops.data().log.push("lent".into());
                        poke(waiting_fd.as_fd());
                        m.seen.len()
                    })
                    .unwrap();
                ops.data().log.push(format!("with gave {n}"));
                ops.delete(ops.key()).unwrap();
            })
            .register_into(&mut reactor)
            .unwrap();
        let mut ctx = Ctx {
            log: &mut log,
            events: &mut events,
        };
        // The registering handler, then the new subscriber's four fds and the poked one.
        while *ctx.events < 5 {
            reactor
                .run_once_with(Some(Duration::from_secs(5)), &mut ctx)
                .unwrap();
        }
        added = reactor
            .get::<Multi>(new_key.get().unwrap())
            .unwrap()
            .seen
            .clone();
        lent = reactor.get::<Multi>(other).unwrap().seen.clone();
    }
    assert_eq!(sorted(&added), [(0, 5), (1, 6), (2, 7), (3, 8)]);
    assert_eq!(lent, [(99, 99), (0, 1)]);
    assert_eq!(events, 5);
    let lent_at = log.iter().position(|l| l == "lent").unwrap();
    let gave_at = log.iter().position(|l| l == "with gave 1").unwrap();
    assert!(lent_at < gave_at, "{log:?}");
    assert!(log.iter().any(|l| l == "multi 0 1"), "{log:?}");
}

/// A subscriber whose own timer (armed in `init`, tagged) reaches the borrowed state through
/// the `Ops` its owned-timer events come with.
struct OwnTicker {
    fd: OwnedFd,
    ticks: u32,
}

impl AsFd for OwnTicker {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl<'a> Subscriber<Ctx<'a>> for OwnTicker {
    fn init(&mut self, ops: &mut Ops<'_, Ctx<'a>>) -> barepoll::Result<()> {
        let every = Duration::from_millis(1);
        ops.arm_own(Timer::after(every).every(every), 9)?;
        Ok(())
    }
    fn handle(&mut self, event: Event, ops: &mut Ops<'_, Ctx<'a>>) {
        assert!(event.is_timer() && event.tag() == 9, "{event:?}");
        self.ticks += 1;
        let ctx = ops.data();
        *ctx.events += 1;
        ctx.log.push(format!("tick {}", self.ticks));
        if self.ticks == 3 {
            ops.stop();
        }
    }
}

#[test]
fn owned_timers_reach_state_borrowed_from_the_stack() {
    let _fds = fd_check();
    let mut log = Vec::new();
    let mut events = 0u32;
    {
        let mut reactor = Reactor::builder().state::<Ctx<'_>>().build().unwrap();
        let ticker = OwnTicker {
            fd: common::eventfd(0),
            ticks: 0,
        };
        let key = reactor.register(ticker, readable()).unwrap();
        reactor
            .run_with(&mut Ctx {
                log: &mut log,
                events: &mut events,
            })
            .unwrap();
        assert_eq!(reactor.get::<OwnTicker>(key).unwrap().ticks, 3);
        reactor.delete(key).unwrap();
    }
    assert_eq!(events, 3);
    assert_eq!(log, ["tick 1", "tick 2", "tick 3"]);
}
