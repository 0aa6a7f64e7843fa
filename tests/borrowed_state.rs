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
