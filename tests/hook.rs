//! The before-wait hook of `run_with_hook`: called before every turn (the first included) with
//! the reactor and the state, it sees what the turn before it did, may register with the
//! reactor itself, and ends the run with `Break`; a stop still ends the run after its turn.
mod common;

use barepoll::sys::{AsFd, OwnedFd};
use barepoll::{Ops, Reactor, StopHandle};
use common::*;
use std::ops::ControlFlow;

type Log = Vec<&'static str>;

fn reactor() -> Reactor<Log> {
    Reactor::builder().state::<Log>().build().unwrap()
}

/// Registers an eventfd whose handler drains it and logs `name`; returns a writer for it.
fn logger(r: &mut Reactor<Log>, name: &'static str) -> OwnedFd {
    let fd = eventfd(0);
    let writer = dup(&fd);
    barepoll::interest()
        .read()
        .with_fd(fd)
        .with_handler(move |fd: &mut OwnedFd, ops: &mut Ops<'_, Log>| {
            drain(fd.as_fd());
            ops.data().push(name);
        })
        .register_into(r)
        .unwrap();
    writer
}

#[test]
fn the_hook_runs_before_every_turn_and_sees_what_the_last_one_did() {
    let _fds = fd_check();
    let mut r = reactor();
    let writer = logger(&mut r, "event");
    let (mut calls, mut log) = (0, Log::new());
    r.run_with_hook(&mut log, |_, log| {
        calls += 1;
        // One turn ran between any two calls, and it handled the one poke.
        assert_eq!(log.len(), calls - 1, "call {calls}: {log:?}");
        if calls == 5 {
            return ControlFlow::Break(());
        }
        poke(writer.as_fd()); // the next turn's event (its wait would block for ever without)
        ControlFlow::Continue(())
    })
    .unwrap();
    assert_eq!((calls, log.len()), (5, 4));
}

#[test]
fn a_break_before_the_first_turn_runs_no_turn() {
    let _fds = fd_check();
    let mut r = reactor();
    let writer = logger(&mut r, "event");
    poke(writer.as_fd());
    let mut log = Log::new();
    r.run_with_hook(&mut log, |_, _| ControlFlow::Break(()))
        .unwrap();
    assert!(log.is_empty(), "a turn ran");
    assert_eq!(
        r.run_once_with(None, &mut log).unwrap(),
        1,
        "the event waits"
    );
}

#[test]
fn the_hook_registers_with_the_reactor_itself() {
    let _fds = fd_check();
    let mut r = reactor();
    let first = logger(&mut r, "first");
    poke(first.as_fd());
    let mut later: Option<OwnedFd> = None;
    let mut log = Log::new();
    r.run_with_hook(&mut log, |reactor, log| {
        if log.contains(&"later") {
            return ControlFlow::Break(());
        }
        if log.contains(&"first") && later.is_none() {
            // What a handler could not do: the reactor itself, between turns.
            let writer = logger(reactor, "later");
            poke(writer.as_fd());
            later = Some(writer);
        }
        ControlFlow::Continue(())
    })
    .unwrap();
    assert_eq!(log, ["first", "later"]);
    assert_eq!(r.len(), 2);
}

#[test]
fn a_stop_ends_the_run_after_its_turn_and_the_hook_is_not_called_again() {
    let _fds = fd_check();
    let mut r = reactor();
    let writer = logger(&mut r, "event");
    let stop = StopHandle::new(&mut r).unwrap();
    let (mut calls, mut log) = (0, Log::new());
    r.run_with_hook(&mut log, |_, _| {
        calls += 1;
        if calls == 3 {
            stop.stop(); // as another thread would
        }
        poke(writer.as_fd());
        ControlFlow::Continue(())
    })
    .unwrap();
    assert_eq!(calls, 3, "called again after the stop");
    assert_eq!(log.len(), 3, "the turn after the stop's call did not run");
}
