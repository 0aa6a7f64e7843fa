//! `barepoll::channel`: a bounded typed channel into a reactor, with real threads, a real
//! eventfd and a real epoll set. Order per sender, backpressure (`Full`, a blocked `send`),
//! `Closed` with the value back, drops counted, writes counted, a panicking callback.
#![cfg(feature = "std")]
mod common;

use barepoll::channel::{self, SendError, TryRecvError, TrySendError, BATCH};
use barepoll::{Error, Ops, Reactor, Sendable};
use common::*;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const NOW: Option<Duration> = Some(Duration::ZERO);

/// Counts its drops in a shared counter.
struct Counted(Arc<AtomicU32>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// Runs turns until `done` says so. Each turn waits for an event, so a lost wake is no spin:
/// it fails the test after a wait far longer than any scheduling delay.
fn run_until(r: &mut Reactor, done: impl Fn() -> bool) {
    while !done() {
        let events = r.run_once(Some(Duration::from_secs(60))).unwrap();
        assert!(events > 0, "no wake in a minute: one was lost");
    }
}

#[test]
fn values_from_each_sender_arrive_in_the_order_sent() {
    let _fds = fd_check();
    const SENDERS: u32 = 4;
    let per_sender: u32 = if cfg!(miri) { 20 } else { 5_000 };
    let mut r = Reactor::new().unwrap();
    let (tx, rx) = channel::bounded::<(u32, u32)>(8).unwrap();
    let next = Rc::new(RefCell::new(vec![0u32; SENDERS as usize]));
    let seen = Rc::new(Cell::new(0u32));
    let (n, s) = (next.clone(), seen.clone());
    rx.on_message(move |(sender, i): (u32, u32), _: &mut Ops<'_>| {
        let mut next = n.borrow_mut();
        assert_eq!(
            i, next[sender as usize],
            "sender {sender}'s values out of order"
        );
        next[sender as usize] += 1;
        s.set(s.get() + 1);
    })
    .register_into(&mut r)
    .unwrap();
    let senders: Vec<_> = (0..SENDERS)
        .map(|sender| {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for i in 0..per_sender {
                    tx.send((sender, i)).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    run_until(&mut r, || seen.get() == SENDERS * per_sender);
    for s in senders {
        s.join().unwrap();
    }
    assert_eq!(*next.borrow(), vec![per_sender; SENDERS as usize]);
}

#[test]
fn full_gives_the_value_back_and_a_send_after_the_reactor_drained_succeeds() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let (tx, rx) = channel::bounded::<u32>(4).unwrap();
    let got = Rc::new(RefCell::new(Vec::new()));
    let g = got.clone();
    rx.on_message(move |v: u32, _: &mut Ops<'_>| g.borrow_mut().push(v))
        .register_into(&mut r)
        .unwrap();
    for v in 0..4 {
        tx.try_send(v).unwrap();
    }
    assert_eq!(tx.len(), tx.capacity());
    assert_eq!(tx.try_send(4), Err(TrySendError::Full(4)));
    r.run_once(NOW).unwrap();
    assert_eq!(*got.borrow(), [0, 1, 2, 3]);
    assert!(tx.is_empty());
    tx.try_send(4).unwrap();
    r.run_once(NOW).unwrap();
    assert_eq!(*got.borrow(), [0, 1, 2, 3, 4]);
}

#[test]
fn a_blocked_send_resumes_once_the_reactor_drains() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let (tx, rx) = channel::bounded::<u32>(2).unwrap();
    let got = Rc::new(RefCell::new(Vec::new()));
    let g = got.clone();
    rx.on_message(move |v: u32, _: &mut Ops<'_>| g.borrow_mut().push(v))
        .register_into(&mut r)
        .unwrap();
    tx.try_send(0).unwrap();
    tx.try_send(1).unwrap();
    let sent = Arc::new(AtomicBool::new(false));
    let blocked = {
        let (tx, sent) = (tx.clone(), sent.clone());
        std::thread::spawn(move || {
            let result = tx.send(2);
            sent.store(true, Ordering::Release);
            result
        })
    };
    // The channel stays full until the reactor turns: the send cannot have finished.
    std::thread::sleep(Duration::from_millis(30));
    assert!(
        !sent.load(Ordering::Acquire),
        "a send into a full channel returned"
    );
    assert_eq!(tx.len(), 2);
    run_until(&mut r, || got.borrow().len() == 3);
    assert_eq!(blocked.join().unwrap(), Ok(()));
    assert_eq!(*got.borrow(), [0, 1, 2]);
}

#[test]
fn send_timeout_gives_the_value_back_never_early() {
    let _fds = fd_check();
    let (tx, _rx) = channel::bounded::<u32>(2).unwrap();
    tx.send(0).unwrap();
    tx.send(1).unwrap();
    let timeout = Duration::from_millis(20);
    let start = Instant::now();
    assert_eq!(tx.send_timeout(2, timeout), Err(SendError::Timeout(2)));
    assert!(start.elapsed() >= timeout, "gave up early");
}

#[test]
fn a_send_from_the_callback_into_its_full_channel_is_refused_not_hung() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let (tx, rx) = channel::bounded::<u32>(2).unwrap();
    let inside = tx.clone();
    let refused = Rc::new(Cell::new(None));
    let f = refused.clone();
    rx.on_message(move |v: u32, ops: &mut Ops<'_>| {
        if v == 0 {
            // Refill the channel from its own callback, then ask to wait for room.
            inside.try_send(10).unwrap();
            inside.try_send(11).unwrap();
            f.set(Some(inside.send(12)));
            ops.stop();
        }
    })
    .register_into(&mut r)
    .unwrap();
    tx.try_send(0).unwrap();
    r.run().unwrap();
    assert_eq!(refused.get(), Some(Err(SendError::WouldDeadlock(12))));
    // Outside the callback, on the same thread, the check does not refuse (it waits and then
    // gives up here).
    while tx.try_send(0).is_ok() {}
    let timeout = Duration::from_millis(1);
    assert_eq!(tx.send_timeout(13, timeout), Err(SendError::Timeout(13)));
}

#[test]
fn closed_after_the_subscriber_is_deleted_gives_the_value_back() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let (tx, rx) = channel::bounded::<String>(4).unwrap();
    let key = rx
        .on_message(|_: String, _: &mut Ops<'_>| {})
        .register_into(&mut r)
        .unwrap();
    tx.try_send("kept".into()).unwrap();
    assert!(!tx.is_closed());
    r.delete(key).unwrap();
    assert!(tx.is_closed());
    assert!(
        tx.is_empty(),
        "the values left were not dropped with the receiver"
    );
    let e = tx.try_send("back".into()).unwrap_err();
    assert!(e.is_closed());
    assert_eq!(e.into_inner(), "back");
    assert_eq!(
        tx.send("again".into()),
        Err(SendError::Closed("again".into()))
    );
}

#[test]
fn closed_after_the_reactor_drops_and_a_blocked_send_gets_its_value_back() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let (tx, rx) = channel::bounded::<u32>(2).unwrap();
    rx.on_message(|_: u32, _: &mut Ops<'_>| {})
        .register_into(&mut r)
        .unwrap();
    tx.try_send(0).unwrap();
    tx.try_send(1).unwrap();
    let blocked = {
        let tx = tx.clone();
        std::thread::spawn(move || tx.send(2))
    };
    std::thread::sleep(Duration::from_millis(20)); // most likely waiting by now; either way:
    drop(r);
    assert_eq!(blocked.join().unwrap(), Err(SendError::Closed(2)));
    assert_eq!(tx.try_send(3), Err(TrySendError::Closed(3)));
    assert_eq!(Error::from(TrySendError::Closed(())), Error::Closed);
}

#[test]
fn every_value_is_dropped_exactly_once() {
    let _fds = fd_check();
    let drops = Arc::new(AtomicU32::new(0));
    let made = Cell::new(0u32);
    let value = || {
        made.set(made.get() + 1);
        Counted(drops.clone())
    };
    // Taken by the callback, left in the channel when the reactor drops, given back as
    // `Full` and as `Closed`.
    let mut r = Reactor::new().unwrap();
    let (tx, rx) = channel::bounded::<Counted>(4).unwrap();
    let taken = Rc::new(Cell::new(0));
    let t = taken.clone();
    rx.on_message(move |v: Counted, _: &mut Ops<'_>| {
        t.set(t.get() + 1);
        drop(v);
    })
    .register_into(&mut r)
    .unwrap();
    for _ in 0..4 {
        assert!(tx.try_send(value()).is_ok());
    }
    r.run_once(NOW).unwrap();
    assert_eq!((taken.get(), drops.load(Ordering::Relaxed)), (4, 4));
    for _ in 0..4 {
        assert!(tx.try_send(value()).is_ok());
    }
    let full = tx.try_send(value()).unwrap_err();
    assert!(full.is_full());
    drop(full);
    assert_eq!(drops.load(Ordering::Relaxed), 5);
    drop(r); // the four left are dropped with the receiver
    assert_eq!(drops.load(Ordering::Relaxed), 9);
    drop(tx.try_send(value()).unwrap_err());
    drop(tx);
    assert_eq!(drops.load(Ordering::Relaxed), 10);
    // Never registered: values left go with the last handle, whichever drops last.
    let (tx, rx) = channel::bounded::<Counted>(4).unwrap();
    for _ in 0..3 {
        assert!(tx.try_send(value()).is_ok());
    }
    drop(tx);
    assert_eq!(drops.load(Ordering::Relaxed), 10);
    drop(rx);
    assert_eq!(drops.load(Ordering::Relaxed), 13);
    assert_eq!(made.get(), 13);
}

#[test]
fn values_sent_from_threads_are_each_dropped_once() {
    let _fds = fd_check();
    let drops = Arc::new(AtomicU32::new(0));
    let per_thread: u32 = if cfg!(miri) { 10 } else { 2_000 };
    let mut r = Reactor::new().unwrap();
    let (tx, rx) = channel::bounded::<Counted>(4).unwrap();
    let taken = Rc::new(Cell::new(0u32));
    let t = taken.clone();
    rx.on_message(move |_: Counted, _: &mut Ops<'_>| t.set(t.get() + 1))
        .register_into(&mut r)
        .unwrap();
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (tx, drops) = (tx.clone(), drops.clone());
            std::thread::spawn(move || {
                let mut given_back = 0;
                for _ in 0..per_thread {
                    if let Err(e) = tx.send(Counted(drops.clone())) {
                        drop(e);
                        given_back += 1;
                    }
                }
                given_back
            })
        })
        .collect();
    drop(tx);
    // Take some, then drop the reactor while the senders may still be sending.
    run_until(&mut r, || taken.get() >= per_thread / 2);
    drop(r);
    let given_back: u32 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(drops.load(Ordering::Relaxed), 2 * per_thread);
    assert!(taken.get() + given_back <= 2 * per_thread);
}

#[test]
#[cfg_attr(miri, ignore = "reads /proc")]
fn many_sends_between_two_turns_cost_at_most_one_write() {
    let _fds = fd_check();
    const ROUNDS: u32 = 10;
    const SENDS: u32 = 1000;
    let mut r = Reactor::new().unwrap();
    let (tx, rx) = channel::bounded::<u32>(1024).unwrap();
    let seen = Rc::new(Cell::new(0u32));
    let s = seen.clone();
    rx.on_message(move |_: u32, _: &mut Ops<'_>| s.set(s.get() + 1))
        .register_into(&mut r)
        .unwrap();
    for round in 1..=ROUNDS {
        let tx = tx.clone();
        let wrote = std::thread::spawn(move || {
            let before = writes_by_this_thread();
            for i in 0..SENDS {
                tx.try_send(i).unwrap();
            }
            before.zip(writes_by_this_thread()).map(|(b, a)| a - b)
        })
        .join()
        .unwrap();
        if let Some(wrote) = wrote {
            assert!(
                wrote <= 1,
                "{wrote} writes for {SENDS} sends between two turns"
            );
        }
        run_until(&mut r, || seen.get() == round * SENDS);
    }
}

#[test]
fn one_turn_takes_at_most_a_batch_and_the_rest_comes_next_turn() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let (tx, rx) = channel::bounded::<usize>(2 * BATCH + 10).unwrap();
    let seen = Rc::new(Cell::new(0usize));
    let s = seen.clone();
    rx.on_message(move |_: usize, _: &mut Ops<'_>| s.set(s.get() + 1))
        .register_into(&mut r)
        .unwrap();
    for i in 0..2 * BATCH + 10 {
        tx.try_send(i).unwrap();
    }
    r.run_once(NOW).unwrap();
    assert_eq!(seen.get(), BATCH);
    r.run_once(NOW).unwrap(); // woken by itself, with no sender's help
    assert_eq!(seen.get(), 2 * BATCH);
    r.run_once(NOW).unwrap();
    assert_eq!(seen.get(), 2 * BATCH + 10);
}

#[test]
fn a_panicking_callback_leaves_the_rest_for_the_next_turn() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let (tx, rx) = channel::bounded::<u32>(8).unwrap();
    let got = Rc::new(RefCell::new(Vec::new()));
    let g = got.clone();
    rx.on_message(move |v: u32, _: &mut Ops<'_>| {
        if v == 2 {
            panic!("value 2");
        }
        g.borrow_mut().push(v);
    })
    .register_into(&mut r)
    .unwrap();
    for v in 0..6 {
        tx.try_send(v).unwrap();
    }
    let turn = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| r.run_once(NOW)));
    assert!(turn.is_err());
    assert_eq!(*got.borrow(), [0, 1]);
    // No sender woke it again: the subscriber did, for the values after the one that panicked.
    r.run_once(NOW).unwrap();
    assert_eq!(*got.borrow(), [0, 1, 3, 4, 5]);
    tx.try_send(6).unwrap();
    r.run_once(NOW).unwrap();
    assert_eq!(*got.borrow(), [0, 1, 3, 4, 5, 6]);
}

#[test]
fn the_subscriber_hands_over_what_is_left_then_removes_itself_when_the_senders_are_gone() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let (tx, rx) = channel::bounded::<u32>(4).unwrap();
    let got = Rc::new(RefCell::new(Vec::new()));
    let g = got.clone();
    rx.on_message(move |v: u32, _: &mut Ops<'_>| g.borrow_mut().push(v))
        .register_into(&mut r)
        .unwrap();
    let tx2 = tx.clone();
    tx.try_send(1).unwrap();
    drop(tx);
    tx2.try_send(2).unwrap();
    std::thread::spawn(move || drop(tx2)).join().unwrap();
    run_until(&mut r, || got.borrow().len() == 2);
    r.run_once(NOW).unwrap();
    assert_eq!(*got.borrow(), [1, 2]);
    assert!(
        r.is_empty(),
        "the subscriber of a channel with no sender stayed"
    );
}

#[test]
fn try_recv_outside_a_reactor_sees_values_then_disconnection() {
    let _fds = fd_check();
    let (tx, mut rx) = channel::bounded::<u32>(2).unwrap();
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    let t = std::thread::spawn(move || {
        for v in 0..10 {
            tx.send(v).unwrap(); // waits for the loop below to make room
        }
    });
    let mut got = Vec::new();
    loop {
        match rx.try_recv() {
            Ok(v) => got.push(v),
            Err(TryRecvError::Empty) => std::thread::yield_now(),
            Err(TryRecvError::Disconnected) => break,
        }
    }
    t.join().unwrap();
    assert_eq!(got, (0..10).collect::<Vec<_>>());
}

#[test]
fn a_sendable_reactor_takes_the_subscriber_and_runs_on_another_thread() {
    let _fds = fd_check();
    let mut r: Reactor<(), Sendable> = Reactor::builder().sendable().build().unwrap();
    let (tx, rx) = channel::bounded::<Vec<u8>>(4).unwrap();
    rx.on_message(|v: Vec<u8>, ops: &mut Ops<'_, (), Sendable>| {
        if v.is_empty() {
            ops.stop();
        }
    })
    .register_into(&mut r)
    .unwrap();
    let runner = std::thread::spawn(move || r.run());
    tx.send(vec![1, 2]).unwrap();
    tx.send(Vec::new()).unwrap();
    runner.join().unwrap().unwrap();
}

#[test]
fn a_zero_capacity_is_refused_and_a_huge_one_is_bounded() {
    let _fds = fd_check();
    assert!(matches!(channel::bounded::<u8>(0), Err(Error::Invalid(_))));
    let (tx, _rx) = channel::bounded::<u8>(usize::MAX).unwrap();
    assert_eq!(tx.capacity(), channel::MAX_CAPACITY);
}

#[test]
fn a_receiver_registered_from_a_callback_gets_the_values_sent_before() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let (tx, rx) = channel::bounded::<u32>(4).unwrap();
    tx.try_send(1).unwrap();
    tx.try_send(2).unwrap();
    let got = Rc::new(RefCell::new(Vec::new()));
    let g = got.clone();
    let mut rx = Some(rx);
    let key = Rc::new(Cell::new(None));
    let k = key.clone();
    r.arm(
        barepoll::Timer::after(Duration::ZERO),
        move |ops: &mut Ops<'_>| {
            let g = g.clone();
            let key = rx
                .take()
                .unwrap()
                .on_message(move |v: u32, _: &mut Ops<'_>| g.borrow_mut().push(v))
                .register_into(ops)
                .unwrap();
            k.set(Some(key));
        },
    )
    .unwrap();
    run_until(&mut r, || got.borrow().len() == 2);
    assert_eq!(*got.borrow(), [1, 2]);
    r.delete(key.get().unwrap()).unwrap();
    assert!(tx.is_closed());
}
