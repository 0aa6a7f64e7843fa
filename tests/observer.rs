//! An observer is told what every turn did, the errors turns return, a panic out of the turn
//! before, and rebuilds of the epoll set; taken back, it is told nothing more.
mod common;

use barepoll::observe::{Observer, Turn};
use barepoll::sys::{self, AsFd, OwnedFd};
use barepoll::{Error, Ops, Reactor, Timer};
use common::*;
use std::time::Duration;

const NOW: Option<Duration> = Some(Duration::ZERO);

#[derive(Default)]
struct Log {
    turns: Vec<Turn>,
    errors: Vec<Error>,
    panics: u32,
}

impl Observer for Log {
    fn turn(&mut self, turn: &Turn) {
        self.turns.push(*turn);
    }
    fn failed(&mut self, error: &Error) {
        self.errors.push(*error);
    }
    fn panicked(&mut self) {
        self.panics += 1;
    }
}

fn log(r: &mut Reactor) -> &mut Log {
    r.observer_mut::<Log>().expect("the observer")
}

#[test]
#[cfg_attr(miri, ignore = "real time")]
fn every_turn_is_told_its_events_timers_and_times() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    r.observe(Log::default()).unwrap();
    let ready: Vec<OwnedFd> = (0..3).map(|_| eventfd(1)).collect();
    for fd in &ready {
        interest_read(&mut r, fd);
    }
    assert_eq!(r.run_once(NOW).unwrap(), 3);
    // Nothing ready: the wait takes its timeout (never less).
    for fd in &ready {
        sys::read(fd.as_fd(), &mut [0; 8]).unwrap();
    }
    let timeout = Duration::from_millis(5);
    assert_eq!(r.run_once(Some(timeout)).unwrap(), 0);
    // A timer's callback counts as a timer, not an event.
    r.arm(Timer::after(Duration::ZERO), |_: &mut Ops<'_>| {})
        .unwrap();
    assert_eq!(r.run_once(NOW).unwrap(), 1);
    let turns = &log(&mut r).turns;
    assert_eq!(turns.len(), 3);
    assert_eq!((turns[0].events, turns[0].timers), (3, 0));
    assert_eq!((turns[1].events, turns[1].timers), (0, 0));
    assert!(turns[1].waited >= timeout, "{:?}", turns[1]);
    assert!(turns.iter().all(|t| t.took >= t.waited));
    assert_eq!((turns[2].events, turns[2].timers), (0, 1));
    // Taken back: no more reports; the observer is the one given.
    let taken: Log = r.take_observer().unwrap();
    assert_eq!(taken.turns.len(), 3);
    r.run_once(NOW).unwrap();
    assert!(r.observer_mut::<Log>().is_none());
}

fn interest_read(r: &mut Reactor, fd: &OwnedFd) {
    let fd = dup(fd);
    barepoll::interest()
        .read()
        .with_fd(fd)
        .with_handler(|| {})
        .register_into(r)
        .unwrap();
}

#[test]
fn a_failed_turn_is_told_with_its_error() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    r.observe(Log::default()).unwrap();
    barepoll::interest()
        .read()
        .with_fd(eventfd(1))
        .with_handler(|ops: &mut Ops<'_>| ops.fail(Error::Invalid("refused by the test")))
        .register_into(&mut r)
        .unwrap();
    let err = r.run_once(NOW).unwrap_err();
    assert_eq!(log(&mut r).errors, [err]);
    assert_eq!(log(&mut r).turns.len(), 1);
}

#[test]
fn a_panic_out_of_a_turn_is_told_at_the_next() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    r.observe(Log::default()).unwrap();
    let key = barepoll::interest()
        .read()
        .with_fd(eventfd(1))
        .with_handler(|| -> () { panic!("planted") })
        .register_into(&mut r)
        .unwrap();
    let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| r.run_once(NOW)));
    assert!(unwound.is_err());
    assert_eq!(log(&mut r).panics, 0, "told while unwinding");
    r.delete(key).unwrap();
    r.run_once(NOW).unwrap();
    let log = log(&mut r);
    assert_eq!((log.panics, log.turns.len()), (1, 1));
}

/// A subscriber whose fd a test can swap behind the reactor's back.
struct Swappable(OwnedFd);

impl AsFd for Swappable {
    fn as_fd(&self) -> sys::BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl barepoll::Subscriber for Swappable {
    fn handle(&mut self, _: barepoll::Event, _: &mut Ops<'_>) {}
}

// A descriptor closed behind its subscriber's back while a dup keeps the file: the delete
// rebuilds the epoll set, and the next turn reports it.
#[test]
fn a_rebuild_is_told_with_the_next_turn() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    r.observe(Log::default()).unwrap();
    let fd = eventfd(0);
    let keeper = dup(&fd);
    let key = r.register(Swappable(fd), readable()).unwrap();
    r.run_once(NOW).unwrap();
    // The old fd is closed; the kernel keeps its registration while `keeper` holds the file.
    r.get_mut::<Swappable>(key).unwrap().0 = eventfd(0);
    r.delete(key).unwrap();
    poke(keeper.as_fd());
    assert_eq!(r.run_once(NOW).unwrap(), 0, "the old registration reported");
    let turns = &log(&mut r).turns;
    assert_eq!(turns.iter().map(|t| t.rebuilds).collect::<Vec<_>>(), [0, 1]);
}

// A second observer replaces the first, which is dropped with what it saw.
#[test]
fn an_observer_set_again_replaces_the_first() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    r.observe(Log::default()).unwrap();
    r.run_once(NOW).unwrap();
    r.observe(Log::default()).unwrap();
    r.run_once(NOW).unwrap();
    assert_eq!(log(&mut r).turns.len(), 1);
}
