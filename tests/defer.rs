//! Callbacks deferred to the end of the turn: after every event of the batch and the timers
//! due, in order, once; one deferred again waits for the next turn; a panic leaves the rest
//! for the next turn.
mod common;

use barepoll::{Ops, Reactor, Timer};
use common::*;
use std::time::Duration;

type Log = Vec<String>;
const NOW: Option<Duration> = Some(Duration::ZERO);

fn reactor() -> Reactor<Log> {
    Reactor::builder().state::<Log>().build().unwrap()
}

#[test]
fn deferred_from_handlers_run_once_after_the_whole_batch_in_order() {
    let _fds = fd_check();
    let mut r = reactor();
    for i in 0..3 {
        barepoll::interest()
            .read()
            .with_fd(eventfd(1))
            .with_handler(move |ops: &mut Ops<'_, Log>| {
                ops.data().push("event".into());
                ops.defer(move |ops: &mut Ops<'_, Log>| ops.data().push(format!("deferred {i}")))
                    .unwrap();
            })
            .register_into(&mut r)
            .unwrap();
    }
    let mut log = Log::new();
    assert_eq!(r.run_once_with(NOW, &mut log).unwrap(), 3, "not counted");
    assert_eq!(&log[..3], ["event", "event", "event"]);
    let mut deferred = log[3..].to_vec();
    deferred.sort();
    assert_eq!(deferred, ["deferred 0", "deferred 1", "deferred 2"]);
}

#[test]
#[cfg_attr(miri, ignore = "real time")]
fn deferred_from_a_timer_runs_at_the_end_of_its_turn() {
    let _fds = fd_check();
    let mut r = reactor();
    r.arm(Timer::after(Duration::ZERO), |ops: &mut Ops<'_, Log>| {
        ops.data().push("timer".into());
        ops.defer(|ops: &mut Ops<'_, Log>| ops.data().push("deferred".into()))
            .unwrap();
    })
    .unwrap();
    let mut log = Log::new();
    while log.is_empty() {
        r.run_once_with(Some(Duration::from_millis(1)), &mut log)
            .unwrap();
    }
    assert_eq!(log, ["timer", "deferred"]);
}

/// Defers itself again, `left` more times.
fn again(left: u32) -> impl FnOnce(&mut Ops<'_, Log>) + 'static {
    move |ops: &mut Ops<'_, Log>| {
        ops.data().push(format!("run {left}"));
        if left > 0 {
            ops.defer(again(left - 1)).unwrap();
        }
    }
}

#[test]
fn a_callback_that_defers_itself_runs_once_a_turn() {
    let _fds = fd_check();
    let mut r = reactor();
    r.defer(again(2)).unwrap();
    let mut log = Log::new();
    for turn in 1..=4 {
        // Never blocks while one waits: a `None` timeout returns.
        r.run_once_with(if turn < 4 { None } else { NOW }, &mut log)
            .unwrap();
        assert_eq!(log.len(), turn.min(3), "turn {turn}: {log:?}");
    }
    assert_eq!(log, ["run 2", "run 1", "run 0"]);
}

#[test]
fn a_panicking_deferred_callback_leaves_the_rest_to_the_next_turn() {
    let _fds = fd_check();
    let mut r = reactor();
    r.defer(|_: &mut Ops<'_, Log>| panic!("planted")).unwrap();
    r.defer(|ops: &mut Ops<'_, Log>| ops.data().push("second".into()))
        .unwrap();
    let mut log = Log::new();
    let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        r.run_once_with(NOW, &mut log)
    }));
    assert!(unwound.is_err());
    assert!(log.is_empty());
    r.run_once_with(None, &mut log).unwrap(); // does not block: one waits
    assert_eq!(log, ["second"]);
    r.run_once_with(NOW, &mut log).unwrap();
    assert_eq!(log, ["second"], "ran twice");
}
