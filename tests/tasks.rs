//! Tasks on the reactor: spawning and joining from outside, from handlers and from tasks;
//! wakes from other threads (coalesced), wakers that outlive their task and reactor, panics in
//! a poll, fairness against I/O, detaching, and cancellation when the reactor goes.
#![cfg(all(feature = "tasks", feature = "std"))]
mod common;

use barepoll::task::{yield_now, JoinHandle};
use barepoll::{sys, sys::AsFd, Error, Ops, Reactor};
use common::*;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

const NOW: Option<Duration> = Some(Duration::ZERO);

/// Parks until `flag` is set, leaving its waker in `slot` each time it parks.
struct Parked {
    flag: Arc<AtomicUsize>,
    slot: Arc<Mutex<Option<Waker>>>,
    polls: Rc<Cell<u32>>,
}

impl Future for Parked {
    type Output = usize;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
        self.polls.set(self.polls.get() + 1);
        *self.slot.lock().unwrap() = Some(cx.waker().clone());
        match self.flag.load(Ordering::Acquire) {
            0 => Poll::Pending,
            n => Poll::Ready(n),
        }
    }
}

/// A parked future, its flag, the slot its waker is left in, and its poll count.
type ParkedParts = (
    Parked,
    Arc<AtomicUsize>,
    Arc<Mutex<Option<Waker>>>,
    Rc<Cell<u32>>,
);

fn parked() -> ParkedParts {
    let flag = Arc::new(AtomicUsize::new(0));
    let slot = Arc::new(Mutex::new(None));
    let polls = Rc::new(Cell::new(0));
    let f = Parked {
        flag: flag.clone(),
        slot: slot.clone(),
        polls: polls.clone(),
    };
    (f, flag, slot, polls)
}

/// Counts its drops.
struct Drops(Rc<Cell<u32>>);
impl Drop for Drops {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

#[test]
fn spawn_and_join_from_outside_the_loop() {
    let mut r = Reactor::new().unwrap();
    let a = r.spawn(async { 1 }).unwrap();
    let b = r.spawn(async { "two" }).unwrap();
    assert!(!a.is_finished());
    assert_eq!(r.block_on(b).unwrap(), Ok("two"));
    assert_eq!(a.try_take(), Some(Ok(1)));
    assert_eq!(a.try_take(), None, "an output is taken once");
    assert!(r.is_empty(), "the executor's eventfd is the reactor's own");
}

#[test]
fn spawn_from_a_handler_and_join_from_a_task() {
    let mut r = Reactor::new().unwrap();
    let handles: Rc<Cell<Option<JoinHandle<u32>>>> = Rc::new(Cell::new(None));
    let h = handles.clone();
    barepoll::interest()
        .read()
        .with_fd(eventfd(1))
        .with_handler(move |ops: &mut Ops<'_>| {
            h.set(Some(ops.spawn(async { 40 }).unwrap()));
            ops.delete_self().unwrap();
        })
        .register_into(&mut r)
        .unwrap();
    r.run_once(None).unwrap();
    let inner = handles.take().expect("the handler spawned");
    let outer = r.spawn(async move { inner.await.unwrap() + 2 }).unwrap();
    assert_eq!(r.block_on(outer).unwrap(), Ok(42));
}

#[test]
fn spawn_from_inside_a_task_runs_in_the_same_turn() {
    let mut r = Reactor::new().unwrap();
    let spawner = r.spawner().unwrap();
    let order = Rc::new(Cell::new(0u32));
    let o = order.clone();
    let outer = r
        .spawn(async move {
            let o2 = o.clone();
            let inner = spawner
                .spawn(async move { o2.set(o2.get() * 10 + 2) })
                .unwrap();
            o.set(o.get() * 10 + 1);
            inner.await.unwrap();
            o.get()
        })
        .unwrap();
    r.run_once(NOW).unwrap();
    // The parent ran, then the child it spawned, then the parent again (the child's end woke
    // it): all in one turn.
    assert_eq!(order.get(), 12);
    assert_eq!(outer.try_take(), Some(Ok(12)));
}

/// Where two tasks pass a baton: `count` rounds so far; side `count % 2` holds it until
/// `rounds`, when both may go.
struct Court {
    rounds: u32,
    count: Cell<u32>,
    parked: [Cell<Option<Waker>>; 2],
}

/// Ready when it is `side`'s turn; else parks its waker on the court.
struct MyTurn(Rc<Court>, usize);

impl Future for MyTurn {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let count = self.0.count.get();
        if count % 2 == self.1 as u32 || count >= self.0.rounds {
            return Poll::Ready(());
        }
        self.0.parked[self.1].set(Some(cx.waker().clone()));
        Poll::Pending
    }
}

/// Two tasks passing a baton `rounds` times, each pass a wake of the other task.
fn ping_pong(r: &mut Reactor, rounds: u32) -> (Rc<Court>, [JoinHandle<()>; 2]) {
    let court = Rc::new(Court {
        rounds,
        count: Cell::new(0),
        parked: Default::default(),
    });
    let side = |me: usize| {
        let court = court.clone();
        async move {
            loop {
                MyTurn(court.clone(), me).await;
                if court.count.get() >= rounds {
                    if let Some(w) = court.parked[1 - me].take() {
                        w.wake();
                    }
                    return;
                }
                court.count.set(court.count.get() + 1);
                if let Some(w) = court.parked[1 - me].take() {
                    w.wake();
                }
            }
        }
    };
    let a = r.spawn(side(0)).unwrap();
    let b = r.spawn(side(1)).unwrap();
    (court, [a, b])
}

#[test]
fn a_task_woken_by_another_task_runs_in_the_same_turn() {
    let mut r = Reactor::new().unwrap();
    let (court, [a, b]) = ping_pong(&mut r, 20);
    r.run_once(NOW).unwrap();
    assert_eq!(court.count.get(), 20, "every pass within the one turn");
    assert!(a.is_finished() && b.is_finished());
}

#[test]
fn tasks_waking_each_other_let_io_in_after_the_budget() {
    let mut r = Reactor::new().unwrap();
    let (court, _handles) = ping_pong(&mut r, u32::MAX);
    let handled = Rc::new(Cell::new(0u32));
    let h = handled.clone();
    let efd = eventfd(0);
    let writer = dup(&efd);
    barepoll::interest()
        .read()
        .with_fd(efd)
        .with_handler(move |fd: &mut sys::OwnedFd| {
            drain(fd.as_fd());
            h.set(h.get() + 1);
        })
        .register_into(&mut r)
        .unwrap();
    let mut before = court.count.get();
    for turn in 1..=5 {
        poke(writer.as_fd());
        // `None`: a wait that would block for ever if the ready tasks did not make it zero.
        r.run_once(None).unwrap();
        assert_eq!(
            handled.get(),
            turn,
            "the subscriber waited behind the tasks"
        );
        let passes = court.count.get() - before;
        assert!(
            passes >= 1 && passes as usize <= barepoll::task::BUDGET,
            "{passes} passes in one turn"
        );
        before = court.count.get();
    }
}

#[test]
fn a_wake_from_another_thread_schedules_the_task() {
    let mut r = Reactor::new().unwrap();
    let (fut, flag, slot, polls) = parked();
    let handle = r.spawn(fut).unwrap();
    r.run_once(NOW).unwrap();
    assert_eq!(polls.get(), 1);
    let waking = std::thread::spawn(move || {
        let waker = loop {
            if let Some(w) = slot.lock().unwrap().take() {
                break w;
            }
            std::thread::yield_now();
        };
        flag.store(7, Ordering::Release);
        waker.wake();
    });
    // Blocks in the wait until the other thread's wake writes the eventfd (or lands before).
    assert_eq!(r.block_on(handle).unwrap(), Ok(7));
    waking.join().unwrap();
}

#[test]
#[cfg_attr(miri, ignore = "reads /proc")]
fn many_wakes_from_another_thread_cost_at_most_one_write_per_turn() {
    const ROUNDS: u64 = 20;
    const WAKES: u64 = 1000;
    let mut r = Reactor::new().unwrap();
    let (fut, flag, slot, _polls) = parked();
    let handle = r.spawn(fut).unwrap();
    r.run_once(NOW).unwrap(); // parked, its waker in the slot
    let waker = slot.lock().unwrap().take().unwrap();
    let mut writes = 0;
    for _ in 0..ROUNDS {
        let w = waker.clone();
        let waking = std::thread::spawn(move || {
            let before = writes_by_this_thread();
            for _ in 0..WAKES {
                w.wake_by_ref();
            }
            before.zip(writes_by_this_thread()).map(|(b, a)| a - b)
        });
        let wrote = waking.join().unwrap();
        if let Some(wrote) = wrote {
            assert!(wrote <= 1, "{wrote} writes for {WAKES} wakes in one turn");
            writes += wrote;
        }
        r.run_once(None).unwrap(); // the task is polled; never blocks: it was woken
        r.run_once(NOW).unwrap(); // the eventfd, if written, is emptied
    }
    eprintln!("{} wakes: {writes} writes", ROUNDS * WAKES);
    flag.store(1, Ordering::Release);
    waker.wake();
    assert_eq!(r.block_on(handle).unwrap(), Ok(1));
}

#[test]
#[cfg_attr(miri, ignore = "reads /proc")]
fn an_idle_reactor_with_parked_tasks_reads_and_writes_nothing() {
    let mut r = Reactor::new().unwrap();
    let mut parked_futures = Vec::new();
    for _ in 0..8 {
        let (fut, flag, slot, polls) = parked();
        parked_futures.push((r.spawn(fut).unwrap(), flag, slot, polls));
    }
    r.run_once(NOW).unwrap();
    let io = || std::fs::read_to_string("/proc/thread-self/io").unwrap();
    let field = |s: &str, k: &str| -> u64 {
        s.lines()
            .find_map(|l| l.strip_prefix(k))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    // Reading the counters costs reads of its own: measured first, between two readings.
    let (first, second) = (io(), io());
    for _ in 0..5 {
        assert_eq!(r.run_once(Some(Duration::from_millis(2))).unwrap(), 0);
    }
    let third = io();
    // Under valgrind the tool's own reads and writes count too: only the polls are checked.
    for k in ["syscr: ", "syscw: "]
        .into_iter()
        .filter(|_| !under_valgrind())
    {
        let own = field(&second, k) - field(&first, k);
        // A wait is neither a read nor a write: five idle turns made none of either.
        assert_eq!(field(&third, k) - field(&second, k), own, "{k}");
    }
    for (_, _, _, polls) in &parked_futures {
        assert_eq!(polls.get(), 1, "a parked task was polled again");
    }
}

#[test]
fn a_waker_outlives_its_task_and_its_reactor() {
    let mut r = Reactor::new().unwrap();
    let (fut, flag, slot, _) = parked();
    flag.store(1, Ordering::Release);
    let handle = r.spawn(fut).unwrap();
    assert_eq!(r.block_on(handle).unwrap(), Ok(1));
    let waker = slot.lock().unwrap().take().unwrap();
    waker.wake_by_ref(); // the task is done: nothing
    r.run_once(NOW).unwrap();
    drop(r);
    waker.wake_by_ref();
    let w = waker.clone();
    std::thread::spawn(move || w.wake()).join().unwrap();
    drop(waker);
}

#[test]
fn a_parked_task_is_cancelled_with_its_reactor_and_its_waker_stays_harmless() {
    let mut r = Reactor::new().unwrap();
    let drops = Rc::new(Cell::new(0));
    let (fut, _flag, slot, _) = parked();
    let d = Drops(drops.clone());
    let handle = r
        .spawn(async move {
            let _d = d;
            fut.await
        })
        .unwrap();
    r.run_once(NOW).unwrap();
    let waker = slot.lock().unwrap().take().unwrap();
    drop(r);
    assert_eq!(drops.get(), 1, "the future is dropped with the reactor");
    assert_eq!(handle.try_take(), Some(Err(Error::Closed)));
    std::thread::spawn(move || waker.wake()).join().unwrap();
    assert_eq!(drops.get(), 1);
}

#[test]
fn a_panic_in_a_poll_goes_out_of_run_once_and_drops_the_task_once() {
    let mut r = Reactor::new().unwrap();
    let drops = Rc::new(Cell::new(0));
    let d = Drops(drops.clone());
    let handle = r
        .spawn(async move {
            let _d = d;
            yield_now().await;
            panic!("in a task");
        })
        .unwrap();
    let calm = r.spawn(async { yield_now().await }).unwrap();
    r.run_once(NOW).unwrap();
    let outcome = catch_unwind(AssertUnwindSafe(|| r.run_once(NOW)));
    assert!(outcome.is_err(), "the panic went on out of run_once");
    assert_eq!(drops.get(), 1);
    assert_eq!(handle.try_take(), Some(Err(Error::Panicked)));
    // Usable: the other task finishes, new ones run.
    assert_eq!(r.block_on(calm).unwrap(), Ok(()));
    let again = r.spawn(async { 3 }).unwrap();
    assert_eq!(r.block_on(again).unwrap(), Ok(3));
    assert_eq!(drops.get(), 1);
}

#[test]
fn a_self_waking_task_cannot_starve_a_subscriber() {
    let mut r = Reactor::new().unwrap();
    let polls = Rc::new(Cell::new(0u32));
    let p = polls.clone();
    let spinner = r
        .spawn(async move {
            loop {
                p.set(p.get() + 1);
                yield_now().await;
            }
        })
        .unwrap();
    let handled = Rc::new(Cell::new(0u32));
    let h = handled.clone();
    let efd = eventfd(0);
    let writer = dup(&efd);
    barepoll::interest()
        .read()
        .with_fd(efd)
        .with_handler(move |fd: &mut sys::OwnedFd| {
            drain(fd.as_fd());
            h.set(h.get() + 1);
        })
        .register_into(&mut r)
        .unwrap();
    for turn in 1..=5 {
        poke(writer.as_fd());
        // `None`: a wait that would block for ever if ready tasks did not make it zero.
        r.run_once(None).unwrap();
        assert_eq!(handled.get(), turn, "the subscriber waited behind the task");
        assert_eq!(
            polls.get(),
            turn,
            "a self-wake runs on the next turn, not this one"
        );
    }
    drop(spinner); // detached: it still runs
    r.run_once(None).unwrap();
    assert_eq!(polls.get(), 6);
}

#[test]
fn a_turn_polls_at_most_the_budget() {
    let mut r = Reactor::new().unwrap();
    let polls = Rc::new(Cell::new(0usize));
    for _ in 0..barepoll::task::BUDGET + 10 {
        let p = polls.clone();
        drop(r.spawn(async move { p.set(p.get() + 1) }).unwrap());
    }
    r.run_once(NOW).unwrap();
    assert_eq!(polls.get(), barepoll::task::BUDGET);
    r.run_once(NOW).unwrap();
    assert_eq!(polls.get(), barepoll::task::BUDGET + 10);
}

#[test]
fn tasks_the_budget_left_run_before_those_that_yielded_each_in_order() {
    let mut r = Reactor::new().unwrap();
    let log = Rc::new(RefCell::new(Vec::new()));
    let budget = barepoll::task::BUDGET;
    for id in 0..budget + 5 {
        let log = log.clone();
        drop(
            r.spawn(async move {
                log.borrow_mut().push(id);
                yield_now().await;
                log.borrow_mut().push(id);
            })
            .unwrap(),
        );
    }
    r.run_once(NOW).unwrap();
    assert_eq!(*log.borrow(), (0..budget).collect::<Vec<_>>());
    log.borrow_mut().clear();
    // The five the budget left come first, then those that yielded, oldest first.
    r.run_once(NOW).unwrap();
    let expected: Vec<_> = (budget..budget + 5).chain(0..budget - 5).collect();
    assert_eq!(*log.borrow(), expected);
    log.borrow_mut().clear();
    r.run_once(NOW).unwrap();
    let expected: Vec<_> = (budget - 5..budget).chain(budget..budget + 5).collect();
    assert_eq!(*log.borrow(), expected);
}

/// A poll that panics ends the phase early: the tasks not polled yet run first in the next
/// turn, then those that yielded before the panic, each in order.
#[test]
fn after_a_panicking_poll_the_tasks_left_run_before_those_that_yielded() {
    let mut r = Reactor::new().unwrap();
    let log = Rc::new(RefCell::new(Vec::new()));
    for id in 0..2 {
        let log = log.clone();
        drop(
            r.spawn(async move {
                yield_now().await;
                log.borrow_mut().push(id);
            })
            .unwrap(),
        );
    }
    let panics = r
        .spawn(async { panic!("a poll panics (planted by the test)") })
        .unwrap();
    for id in 2..5 {
        let log = log.clone();
        drop(r.spawn(async move { log.borrow_mut().push(id) }).unwrap());
    }
    assert!(catch_unwind(AssertUnwindSafe(|| r.run_once(NOW))).is_err());
    assert!(log.borrow().is_empty(), "the phase ended at the panic");
    r.run_once(NOW).unwrap();
    assert_eq!(*log.borrow(), [2, 3, 4, 0, 1]);
    assert_eq!(panics.try_take(), Some(Err(Error::Panicked)));
}

#[test]
fn a_detached_task_runs_to_the_end_and_drops_its_output() {
    let mut r = Reactor::new().unwrap();
    let drops = Rc::new(Cell::new(0));
    let d = drops.clone();
    let handle = r
        .spawn(async move {
            yield_now().await;
            Drops(d)
        })
        .unwrap();
    r.run_once(NOW).unwrap();
    drop(handle);
    r.run_once(NOW).unwrap();
    assert_eq!(drops.get(), 1);
}

#[test]
fn a_join_handle_dropped_after_the_end_drops_the_output() {
    let mut r = Reactor::new().unwrap();
    let drops = Rc::new(Cell::new(0));
    let d = drops.clone();
    let handle = r.spawn(async move { Drops(d) }).unwrap();
    r.run_once(NOW).unwrap();
    assert_eq!(drops.get(), 0, "kept for the handle");
    drop(handle);
    assert_eq!(drops.get(), 1);
}

#[test]
fn tasks_wake_each_other_on_the_loop_thread_without_syscalls() {
    let mut r = Reactor::new().unwrap();
    let turn = Rc::new(Cell::new(0u32));
    let spawner = r.spawner().unwrap();
    let (t1, t2) = (turn.clone(), turn.clone());
    let a = spawner
        .spawn(async move {
            while t1.get() < 100 {
                if t1.get() % 2 == 0 {
                    t1.set(t1.get() + 1);
                }
                yield_now().await;
            }
        })
        .unwrap();
    let b = spawner
        .spawn(async move {
            while t2.get() < 100 {
                if t2.get() % 2 == 1 {
                    t2.set(t2.get() + 1);
                }
                yield_now().await;
            }
        })
        .unwrap();
    r.block_on(a).unwrap().unwrap();
    r.block_on(b).unwrap().unwrap();
    assert_eq!(turn.get(), 100);
}

/// Each of several parked tasks logs its number when polled with its flag set.
#[test]
fn tasks_woken_from_another_thread_are_polled_in_the_order_they_were_woken() {
    let mut r = Reactor::new().unwrap();
    let log = Rc::new(RefCell::new(Vec::new()));
    let mut parts = Vec::new();
    for i in 0..5usize {
        let (fut, flag, slot, _) = parked();
        let log = log.clone();
        drop(
            r.spawn(async move {
                fut.await;
                log.borrow_mut().push(i);
            })
            .unwrap(),
        );
        parts.push((flag, slot));
    }
    r.run_once(NOW).unwrap(); // every task parks
    assert!(log.borrow().is_empty());
    let order = [3, 1, 4, 0, 2];
    let wakers: Vec<_> = order
        .iter()
        .map(|&i| {
            parts[i].0.store(1, Ordering::Release);
            parts[i].1.lock().unwrap().take().expect("parked")
        })
        .collect();
    // One after the other, all before the reactor's next turn.
    std::thread::spawn(move || wakers.into_iter().for_each(Waker::wake))
        .join()
        .unwrap();
    r.run_once(NOW).unwrap();
    assert_eq!(*log.borrow(), order);
}
