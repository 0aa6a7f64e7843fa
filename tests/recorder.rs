//! The recording test double (`barepoll::testing`, feature `testing`): a handler called with
//! synthetic events, its requests asserted, with no reactor.
#![cfg(feature = "testing")]
mod common;

use barepoll::sys::Errno;
use barepoll::sys::{self, AsFd, BorrowedFd, OwnedFd};
use barepoll::testing::{Op, Recorder, Request};
use barepoll::{Error, Event, Ops, Subscriber, Timer};
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

// --- keys and timer keys are checked as the reactor checks them -----------------------------

/// An echo handler with a planted bug: it deletes itself when a read reaches end-of-file, and
/// again when the event says the peer closed; with `rdhup` both come in one event, so the
/// second delete names a subscriber that is gone. It notes the first error it gets.
#[cfg(feature = "std")]
struct TwiceDeletingEcho {
    stream: std::net::TcpStream,
    error: std::rc::Rc<std::cell::Cell<Option<barepoll::Error>>>,
}

#[cfg(feature = "std")]
impl TwiceDeletingEcho {
    fn note(&self, result: barepoll::Result<()>) {
        if let (Err(e), None) = (result, self.error.get()) {
            self.error.set(Some(e));
        }
    }
}

#[cfg(feature = "std")]
impl AsFd for TwiceDeletingEcho {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.stream.as_fd()
    }
}

#[cfg(feature = "std")]
impl Subscriber for TwiceDeletingEcho {
    fn handle(&mut self, ev: Event, ops: &mut Ops<'_>) {
        use std::io::{Read, Write};
        let mut buf = [0u8; 64];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => {
                    self.note(ops.delete_self());
                    break;
                }
                Ok(n) => self.stream.write_all(&buf[..n]).unwrap(),
                Err(_) => break,
            }
        }
        if ev.is_read_closed() {
            self.note(ops.delete_self()); // the bug: deleted above already
        }
    }
}

/// A connected loopback pair whose client shut its writing half, and the server's side once
/// the end-of-file is there to read (a blocking peek waits for it, however slow the machine),
/// non-blocking again.
#[cfg(feature = "std")]
fn peer_closed() -> (std::net::TcpStream, std::net::TcpStream) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    client.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(server.peek(&mut [0u8; 1]).unwrap(), 0, "end-of-file first");
    server.set_nonblocking(true).unwrap();
    (client, server)
}

/// The planted bug, caught by the test double: the second delete names a stale key.
#[cfg(feature = "std")]
#[test]
#[cfg_attr(miri, ignore = "Miri has no sockets")]
fn the_recorder_catches_a_handler_that_deletes_itself_twice() {
    let _fds = fd_check();
    let (client, server) = peer_closed();
    let error = std::rc::Rc::new(std::cell::Cell::new(None));
    let mut echo = TwiceDeletingEcho {
        stream: server,
        error: error.clone(),
    };
    let mut rec = Recorder::new();
    let me = rec.key_of(&echo);
    let read_closed = Event::from_bits(Event::readable().bits() | 0x2000); // IN | RDHUP
    rec.deliver(&mut echo, read_closed);
    assert!(rec.deleted(me));
    assert_eq!(error.get(), Some(barepoll::Error::StaleKey(me)));
    drop((echo, client));
}

/// The same handler under a real reactor gets the same refusal: the double tells the truth.
#[cfg(feature = "std")]
#[test]
#[cfg_attr(miri, ignore = "Miri has no sockets")]
fn the_reactor_refuses_the_second_delete_the_same_way() {
    let _fds = fd_check();
    let (client, server) = peer_closed();
    let error = std::rc::Rc::new(std::cell::Cell::new(None));
    let echo = TwiceDeletingEcho {
        stream: server,
        error: error.clone(),
    };
    let mut reactor = barepoll::Reactor::new().unwrap();
    let key = reactor
        .register(echo, barepoll::interest().read().rdhup())
        .unwrap();
    while !reactor.is_empty() {
        reactor.run_once(None).unwrap();
    }
    assert_eq!(error.get(), Some(barepoll::Error::StaleKey(key)));
    drop(client);
}

#[test]
fn a_key_from_another_recorder_is_stale() {
    let _fds = fd_check();
    let fd = sys::eventfd(0, 0).unwrap();
    let other = Recorder::new();
    let foreign = other.key_of(&fd);
    let mut rec = Recorder::new();
    let mut results = Vec::new();
    rec.fire(&mut |ops: &mut Ops<'_>| {
        results.push(ops.modify(foreign, barepoll::interest().write()));
        results.push(ops.delete(foreign));
    });
    let stale = Err(barepoll::Error::StaleKey(foreign));
    assert_eq!(results, [stale, stale]);
    assert!(rec.requests().is_empty(), "{:?}", rec.requests());
}

#[test]
fn a_deleted_key_is_stale_for_modify_and_delete() {
    let _fds = fd_check();
    let mut sub = barepoll::interest()
        .read()
        .with_fd(sys::eventfd(0, 0).unwrap())
        .with_handler(move |ops: &mut Ops<'_>| {
            ops.delete_self().unwrap();
            let me = ops.key();
            assert_eq!(
                ops.modify_self(barepoll::interest()),
                Err(barepoll::Error::StaleKey(me))
            );
            assert_eq!(ops.rearm(), Err(barepoll::Error::StaleKey(me)));
            assert_eq!(ops.delete_self(), Err(barepoll::Error::StaleKey(me)));
        })
        .into_subscriber();
    let mut rec = Recorder::new();
    rec.deliver(&mut sub, Event::readable());
    let me = rec.key_of(&sub);
    assert!(matches!(rec.requests(), [Request::Delete { key }] if *key == me));
}

#[test]
fn a_timer_key_from_another_recorder_is_stale_and_a_second_cancel_too() {
    let mut other = Recorder::new();
    other.fire(&mut |ops: &mut Ops<'_>| {
        ops.arm(Timer::after(Duration::from_secs(1)), |_: &mut Ops<'_>| {})
            .unwrap();
    });
    let (foreign, _) = other.armed().next().unwrap();
    let mut rec = Recorder::new();
    rec.fire(&mut |ops: &mut Ops<'_>| {
        let stale = Err(barepoll::Error::StaleTimer(foreign));
        assert_eq!(ops.cancel(foreign), stale);
        assert_eq!(ops.reset(foreign, Timer::after(Duration::ZERO)), stale);
        let mine = ops
            .arm(Timer::after(Duration::from_secs(1)), |_: &mut Ops<'_>| {})
            .unwrap();
        ops.cancel(mine).unwrap();
        assert_eq!(ops.cancel(mine), Err(barepoll::Error::StaleTimer(mine)));
        assert_eq!(
            ops.reset(mine, Timer::after(Duration::ZERO)),
            Err(barepoll::Error::StaleTimer(mine))
        );
    });
    assert_eq!(rec.requests().len(), 2, "{:?}", rec.requests()); // the arm, one cancel
}

#[test]
fn an_fd_number_with_a_live_subscriber_cannot_be_added_twice_and_a_re_add_gets_a_new_key() {
    // Subscribers that borrow standard input: two of them can share its number. The recorder
    // never touches their fds.
    let stdin = || {
        barepoll::interest()
            .read()
            .with_fd(sys::stdin())
            .with_handler(|| {})
    };
    let mut rec = Recorder::new();
    let mut first = stdin().into_subscriber();
    rec.deliver(&mut first, Event::readable()); // now live in this recorder
    let me = rec.key_of(&first);
    let mut again = None;
    rec.fire(&mut |ops: &mut Ops<'_>| {
        assert_eq!(
            stdin().register_into(ops),
            Err(Error::AlreadyRegistered(me.fd()))
        );
        ops.delete(me).unwrap();
        again = Some(stdin().register_into(ops).unwrap());
    });
    let again = again.unwrap();
    assert_ne!(again, me, "a new registration gets a new key");
    assert_eq!(rec.key_of(&first), again, "key_of names the newest");
    assert!(matches!(
        rec.requests(),
        [Request::Delete { .. }, Request::Add { key, .. }] if *key == again
    ));
}

#[test]
fn each_kind_of_operation_can_be_made_to_fail_once_in_order() {
    let mut rec = Recorder::new();
    let peer = rec.key();
    let idle = rec.timer_key();
    let enomem = Error::Os(Errno::ENOMEM);
    for op in [
        Op::Add,
        Op::Modify,
        Op::Delete,
        Op::Arm,
        Op::Cancel,
        Op::Reset,
    ] {
        rec.fail_next(op, enomem);
    }
    rec.fail_next(Op::Modify, Error::Os(Errno::EBADF)); // the second modify's
    let soon = Timer::after(Duration::from_secs(1));
    let attempt = |ops: &mut Ops<'_>| {
        [
            barepoll::interest()
                .read()
                .with_fd(sys::stdin())
                .with_handler(|| {})
                .register_into(ops)
                .map(drop),
            ops.modify(peer, barepoll::interest().write()),
            ops.delete(peer),
            ops.arm(soon, |_: &mut Ops<'_>| {}).map(drop),
            ops.reset(idle, soon),
            ops.cancel(idle),
        ]
    };
    let mut first = Vec::new();
    rec.fire(&mut |ops: &mut Ops<'_>| first = attempt(ops).to_vec());
    assert_eq!(first, vec![Err(enomem); 6]);
    assert!(
        rec.requests().is_empty(),
        "a refused operation records nothing"
    );
    // The keys were left as they were: the same operations now succeed, but the second
    // modify gets the failure queued after the first one.
    let mut second = Vec::new();
    rec.fire(&mut |ops: &mut Ops<'_>| {
        assert_eq!(
            ops.modify(peer, barepoll::interest()),
            Err(Error::Os(Errno::EBADF))
        );
        second = attempt(ops).to_vec();
    });
    assert_eq!(second, vec![Ok(()); 6], "{:?}", rec.requests());
}

#[test]
fn a_stale_key_is_refused_before_an_injected_failure_is_used() {
    let mut rec = Recorder::new();
    let gone = rec.key();
    rec.fire(&mut |ops: &mut Ops<'_>| ops.delete(gone).unwrap());
    rec.fail_next(Op::Delete, Error::Os(Errno::ENOMEM));
    let live = rec.key();
    rec.fire(&mut |ops: &mut Ops<'_>| {
        assert_eq!(ops.delete(gone), Err(Error::StaleKey(gone)));
        assert_eq!(ops.delete(live), Err(Error::Os(Errno::ENOMEM)));
        ops.delete(live).unwrap();
    });
}

#[test]
fn minted_keys_are_live_until_deleted_or_cancelled() {
    let mut rec = Recorder::new();
    let (a, b) = (rec.key(), rec.key());
    assert_ne!(a, b);
    let (t, u) = (rec.timer_key(), rec.timer_key());
    assert_ne!(t, u);
    rec.fire(&mut |ops: &mut Ops<'_>| {
        ops.modify(a, barepoll::interest().read()).unwrap();
        ops.delete(b).unwrap();
        ops.reset(t, Timer::after(Duration::from_millis(5)))
            .unwrap();
        ops.cancel(u).unwrap();
    });
    rec.fire(&mut |ops: &mut Ops<'_>| {
        ops.delete(a).unwrap();
        assert_eq!(ops.delete(b), Err(Error::StaleKey(b)));
        ops.cancel(t).unwrap();
        assert_eq!(ops.cancel(u), Err(Error::StaleTimer(u)));
    });
}

#[test]
fn a_fired_one_shot_timer_is_stale_after_its_callback_unless_it_reset_itself() {
    let mut rec = Recorder::new();
    let mut seen = None;
    rec.fire(&mut |ops: &mut Ops<'_>| {
        let me = ops.timer().unwrap();
        ops.reset(me, Timer::after(Duration::ZERO)).unwrap(); // live while it runs
        seen = Some(me);
    });
    let kept = seen.unwrap();
    rec.fire(&mut |ops: &mut Ops<'_>| seen = ops.timer());
    let done = seen.unwrap();
    rec.fire(&mut |ops: &mut Ops<'_>| {
        ops.cancel(kept).unwrap(); // reset, so still armed
        assert_eq!(ops.cancel(done), Err(Error::StaleTimer(done)));
        assert_eq!(ops.delete(ops.key()), Err(Error::StaleKey(ops.key())));
    });
}

#[test]
fn recorded_subscribers_and_callbacks_come_back_by_value() {
    let _fds = fd_check();
    let mut rec = Recorder::new();
    rec.fire(&mut |ops: &mut Ops<'_>| {
        barepoll::interest()
            .read()
            .with_fd(sys::eventfd(0, 0).unwrap())
            .with_handler(|ops: &mut Ops<'_>| ops.delete_self().unwrap())
            .register_into(ops)
            .unwrap();
        ops.arm(Timer::after(Duration::from_secs(9)), |ops: &mut Ops<'_>| {
            ops.stop()
        })
        .unwrap();
    });
    let mut requests = rec.take_requests().into_iter();
    assert!(rec.requests().is_empty());
    let add = requests.next().unwrap();
    let Request::Add { key, .. } = add else {
        panic!("{add:?}")
    };
    let mut sub = add.into_subscriber().unwrap();
    let mut callback = requests.next().unwrap().into_callback().unwrap();
    assert!(requests.next().is_none());
    // The subscriber it added is live under the key `add` returned: it may delete itself.
    assert_eq!(rec.key_of(&sub), key);
    rec.deliver(&mut sub, Event::readable());
    assert!(rec.deleted(key));
    rec.fire(&mut callback);
    assert!(rec.stopped());
    assert!(Request::<()>::Stop.into_callback().is_none());
    assert!(Request::<()>::Stop.into_subscriber().is_none());
}

#[test]
fn a_delivery_after_a_delete_stands_for_a_new_registration() {
    // Two subscribers that borrow standard input share its number, as a closed fd's number is
    // shared by the next one opened: the second is not refused for the first one's delete.
    let stdin = || {
        barepoll::interest()
            .read()
            .with_fd(sys::stdin())
            .with_handler(|ops: &mut Ops<'_>| ops.delete_self().unwrap())
            .into_subscriber()
    };
    let mut rec = Recorder::new();
    let mut first = stdin();
    rec.deliver(&mut first, Event::hangup());
    let gone = rec.key_of(&first);
    assert!(rec.deleted(gone));
    let mut second = stdin();
    rec.deliver(&mut second, Event::hangup()); // would panic on a stale key
    let new = rec.key_of(&second);
    assert_ne!(new, gone);
    assert!(rec.deleted(new));
}

// A subscriber's further descriptors belong to a live subscriber: the reactor refuses
// `add_fd`, `modify_fd` and `remove_fd` once it is deleted, and from a timer callback (no
// subscriber runs), with `StaleKey`. The double records them all.
#[test]
fn further_descriptors_need_a_live_subscriber_in_the_double_as_in_the_reactor() {
    use std::cell::RefCell;
    use std::rc::Rc;
    type Answers = Rc<RefCell<Vec<barepoll::Result<()>>>>;
    let _fds = fd_check();
    let extra = Rc::new(eventfd(0));
    // Deletes itself, then adds, modifies and removes a further descriptor.
    fn handler(extra: Rc<OwnedFd>, answers: Answers) -> impl FnMut(&mut Ops<'_>) {
        move |ops: &mut Ops<'_>| {
            ops.delete_self().unwrap();
            let mut answers = answers.borrow_mut();
            answers.push(ops.add_fd(extra.as_fd(), 1, barepoll::interest().read()));
            answers.push(ops.modify_fd(1, barepoll::interest().write()));
            answers.push(ops.remove_fd(1));
        }
    }
    // From a timer callback: modifies the running subscriber's descriptor (there is none).
    fn callback(answers: Answers) -> impl FnMut(&mut Ops<'_>) {
        move |ops: &mut Ops<'_>| {
            answers
                .borrow_mut()
                .push(ops.modify_fd(0, barepoll::interest().read()));
        }
    }
    let (real, real_in_callback) = (Answers::default(), Answers::default());
    let mut reactor = barepoll::Reactor::new().unwrap();
    let me = barepoll::interest()
        .read()
        .with_fd(eventfd(1))
        .with_handler(handler(extra.clone(), real.clone()))
        .register_into(&mut reactor)
        .unwrap();
    reactor
        .arm(
            Timer::after(Duration::ZERO),
            callback(real_in_callback.clone()),
        )
        .unwrap();
    while real.borrow().is_empty() || real_in_callback.borrow().is_empty() {
        reactor.run_once(None).unwrap();
    }
    assert_eq!(real.borrow()[..], [Err(Error::StaleKey(me)); 3]);
    assert!(matches!(
        real_in_callback.borrow()[..],
        [Err(Error::StaleKey(_))]
    ));

    let (recorded, recorded_in_callback) = (Answers::default(), Answers::default());
    let mut sub = barepoll::interest()
        .read()
        .with_fd(eventfd(0))
        .with_handler(handler(extra, recorded.clone()))
        .into_subscriber();
    let mut rec = Recorder::new();
    rec.deliver(&mut sub, Event::readable());
    let me = rec.key_of(&sub);
    rec.fire(&mut callback(recorded_in_callback.clone()));
    assert_eq!(recorded.borrow()[..], [Err(Error::StaleKey(me)); 3]);
    assert!(matches!(
        recorded_in_callback.borrow()[..],
        [Err(Error::StaleKey(_))]
    ));
}

// A further descriptor's tag names one registration of a live subscriber: the reactor refuses
// tag 0 (the subscriber's own fd), a tag taken already, and `modify_fd` or `remove_fd` of a
// tag no registration has (here: removed), each with its own `Invalid`. The double answers
// each as the reactor does. (A tag it never saw added it takes on trust: the subscriber may
// have added it in `init`, under a reactor.)
#[test]
fn further_descriptors_tags_are_refused_in_the_double_as_in_the_reactor() {
    use std::cell::RefCell;
    use std::rc::Rc;
    type Answers = Rc<RefCell<Vec<barepoll::Result<()>>>>;
    let _fds = fd_check();
    let (one, two) = (Rc::new(eventfd(0)), Rc::new(eventfd(0)));
    fn handler(one: Rc<OwnedFd>, two: Rc<OwnedFd>, answers: Answers) -> impl FnMut(&mut Ops<'_>) {
        move |ops: &mut Ops<'_>| {
            let read = barepoll::interest().read();
            let mut answers = answers.borrow_mut();
            answers.push(ops.add_fd(one.as_fd(), 0, read)); // the subscriber's own
            answers.push(ops.add_fd(one.as_fd(), 1, read));
            answers.push(ops.add_fd(two.as_fd(), 1, read)); // taken
            answers.push(ops.modify_fd(1, barepoll::interest().write()));
            answers.push(ops.remove_fd(1));
            answers.push(ops.modify_fd(1, read)); // removed
            answers.push(ops.remove_fd(1));
            answers.push(ops.add_fd(two.as_fd(), 1, read)); // free again
            ops.delete_self().unwrap();
        }
    }
    let real = Answers::default();
    let mut reactor = barepoll::Reactor::new().unwrap();
    barepoll::interest()
        .read()
        .with_fd(eventfd(1))
        .with_handler(handler(one.clone(), two.clone(), real.clone()))
        .register_into(&mut reactor)
        .unwrap();
    while real.borrow().is_empty() {
        reactor.run_once(None).unwrap();
    }
    let refused = |why| Err(Error::Invalid(why));
    let no_tag = refused("no registration has this tag");
    assert_eq!(
        real.borrow()[..],
        [
            refused("tag 0 is the subscriber's own fd"),
            Ok(()),
            refused("a registration of this subscriber has this tag"),
            Ok(()),
            Ok(()),
            no_tag,
            no_tag,
            Ok(()),
        ]
    );

    let recorded = Answers::default();
    let mut sub = barepoll::interest()
        .read()
        .with_fd(eventfd(0))
        .with_handler(handler(one, two, recorded.clone()))
        .into_subscriber();
    Recorder::new().deliver(&mut sub, Event::readable());
    assert_eq!(recorded.borrow()[..], real.borrow()[..]);
}
