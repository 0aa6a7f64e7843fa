//! The recording test double (`barepoll::testing`, feature `testing`): a handler called with
//! synthetic events, its requests asserted, with no reactor.
#![cfg(feature = "testing")]
mod common;

use barepoll::sys::{self, AsFd, BorrowedFd, OwnedFd};
use barepoll::testing::{Recorder, Request};
use barepoll::{Event, Ops, Subscriber, Timer};
use common::*;
use std::time::Duration;

/// The echo-style handler under test: reads, asks for write interest while it has a
/// backlog, deletes itself on hang-up, and resets its idle timer on activity.
struct Echoish {
    fd: OwnedFd,
    backlog: usize,
    idle: Option<barepoll::TimerKey>,
}

impl AsFd for Echoish {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Subscriber for Echoish {
    fn handle(&mut self, ev: Event, ops: &mut Ops<'_>) {
        if ev.is_hangup() {
            ops.delete_self().unwrap();
            if let Some(t) = self.idle.take() {
                ops.cancel(t).unwrap();
            }
            return;
        }
        self.backlog += 1;
        if self.backlog > 1 {
            ops.modify_self(barepoll::interest().read().write())
                .unwrap();
        }
        match self.idle {
            Some(t) => ops.reset(t, Timer::after(Duration::from_secs(30))).unwrap(),
            None => {
                let t = ops.arm(
                    Timer::after(Duration::from_secs(30)),
                    |ops: &mut Ops<'_>| ops.stop(),
                );
                self.idle = Some(t.unwrap());
            }
        }
    }
}

#[test]
fn the_recorder_sees_what_a_handler_asks_for() {
    let _fds = fd_check();
    let mut sub = Echoish {
        fd: sys::eventfd(0, 0).unwrap(),
        backlog: 0,
        idle: None,
    };
    let mut rec = Recorder::new();
    let me = rec.key_of(&sub);
    rec.deliver(&mut sub, Event::readable());
    let armed: Vec<_> = rec.armed().collect();
    assert_eq!(armed.len(), 1);
    assert_eq!(armed[0].1, Timer::after(Duration::from_secs(30)));
    assert_eq!(rec.modified(me), None);
    rec.clear();
    rec.deliver(&mut sub, Event::readable());
    assert_eq!(rec.modified(me), Some(barepoll::interest().read().write()));
    assert!(matches!(rec.requests().last(), Some(Request::Reset { .. })));
    rec.clear();
    rec.deliver(&mut sub, Event::hangup());
    assert!(rec.deleted(me));
    assert!(matches!(
        rec.requests(),
        [Request::Delete { .. }, Request::Cancel { .. }]
    ));
    assert!(!rec.stopped());
}
