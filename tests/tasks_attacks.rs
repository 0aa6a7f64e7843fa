//! Tasks attacked from safe code: destructors that panic, spawn, wake or clone wakers; wakers
//! racing the task's end and the reactor's drop on other threads; join handles awaited from
//! another reactor, dropped from inside their own task, polled after their end. Each test
//! states the promise it guards: no freed memory reached, no leak, no lost wake, no hang.
#![cfg(all(feature = "tasks", feature = "std"))]

use barepoll::task::{yield_now, JoinHandle};
use barepoll::{Error, Reactor};
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

const NOW: Option<Duration> = Some(Duration::ZERO);

/// Runs turns that do not block, each in `catch_unwind`, until `done` or `turns` are run;
/// returns how many of them panicked.
fn turns(r: &mut Reactor, turns: usize, done: impl Fn() -> bool) -> usize {
    let mut panics = 0;
    for _ in 0..turns {
        if done() {
            break;
        }
        if catch_unwind(AssertUnwindSafe(|| r.run_once(NOW))).is_err() {
            panics += 1;
        }
    }
    panics
}

/// Pending at its first poll (waking itself), `Ready(7)` at its second; its destructor
/// panics.
struct ReadyThenPanicOnDrop {
    polled: bool,
}

impl Future for ReadyThenPanicOnDrop {
    type Output = u32;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u32> {
        if self.polled {
            return Poll::Ready(7);
        }
        self.polled = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

impl Drop for ReadyThenPanicOnDrop {
    fn drop(&mut self) {
        panic!("a future's destructor panics");
    }
}

#[test]
fn a_joiner_is_woken_when_the_finished_futures_destructor_panics() {
    let mut r = Reactor::new().unwrap();
    let spawner = r.spawner().unwrap();
    let inner = spawner
        .spawn(ReadyThenPanicOnDrop { polled: false })
        .unwrap();
    let outer = spawner.spawn(inner).unwrap();
    // Turn 1: the inner task parks (woken again), the outer awaits it. Turn 2: the inner one
    // ends and its destructor panics out of the turn. The outer task must still be woken.
    let panics = turns(&mut r, 20, || outer.is_finished());
    assert_eq!(panics, 1);
    assert!(outer.is_finished(), "the joiner was never woken");
    assert_eq!(outer.try_take(), Some(Ok(Ok(7))));
}

/// Pending for ever; its destructor panics.
struct ParkedPanicOnDrop;

impl Future for ParkedPanicOnDrop {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        Poll::Pending
    }
}

impl Drop for ParkedPanicOnDrop {
    fn drop(&mut self) {
        panic!("a parked future's destructor panics");
    }
}

#[test]
fn a_reactor_dropped_cancels_every_task_when_one_futures_destructor_panics() {
    let mut r = Reactor::new().unwrap();
    let held = Rc::new(());
    let first = r.spawn(ParkedPanicOnDrop).unwrap();
    let mut others = Vec::new();
    for _ in 0..3 {
        let h = held.clone();
        others.push(
            r.spawn(async move {
                let _h = h;
                std::future::pending::<()>().await
            })
            .unwrap(),
        );
    }
    r.run_once(NOW).unwrap();
    assert_eq!(Rc::strong_count(&held), 4);
    let dropped = catch_unwind(AssertUnwindSafe(move || drop(r)));
    assert!(
        dropped.is_err(),
        "the destructor's panic goes on out of the drop"
    );
    assert_eq!(
        Rc::strong_count(&held),
        1,
        "every other task's future is dropped"
    );
    assert_eq!(first.try_take(), Some(Err(Error::Closed)));
    for other in others {
        assert_eq!(other.try_take(), Some(Err(Error::Closed)));
    }
}

#[test]
fn a_join_handle_of_another_reactor_wakes_its_awaiting_task() {
    let mut a = Reactor::new().unwrap();
    let mut b = Reactor::new().unwrap();
    let inner = a
        .spawn(async {
            yield_now().await;
            5
        })
        .unwrap();
    let outer = b.spawn(inner).unwrap();
    b.run_once(NOW).unwrap(); // the outer task parks on a's handle
    assert!(!outer.is_finished());
    a.run_once(NOW).unwrap();
    a.run_once(NOW).unwrap(); // the inner task ends: its joiner, b's task, is woken
                              // A blocking turn of b returns: the wake wrote b's eventfd.
    b.run_once(None).unwrap();
    let panics = turns(&mut b, 4, || outer.is_finished());
    assert_eq!(panics, 0);
    assert_eq!(outer.try_take(), Some(Ok(Ok(5))));
}

#[test]
fn a_task_dropping_its_own_join_handle_while_polled_runs_on_and_drops_its_output_once() {
    let mut r = Reactor::new().unwrap();
    let own: Rc<RefCell<Option<JoinHandle<Rc<()>>>>> = Rc::new(RefCell::new(None));
    let out = Rc::new(());
    let (o, w) = (own.clone(), out.clone());
    let handle = r
        .spawn(async move {
            yield_now().await;
            drop(o.borrow_mut().take()); // its own handle, while it is being polled
            yield_now().await;
            w
        })
        .unwrap();
    *own.borrow_mut() = Some(handle);
    let panics = turns(&mut r, 10, || Rc::strong_count(&out) == 1);
    assert_eq!(panics, 0);
    assert_eq!(Rc::strong_count(&out), 1, "the detached output is dropped");
    assert!(own.borrow().is_none());
}

#[test]
fn a_task_that_owns_its_own_join_handle_is_freed_with_its_reactor() {
    let mut r = Reactor::new().unwrap();
    let own: Rc<RefCell<Option<JoinHandle<()>>>> = Rc::new(RefCell::new(None));
    let held = Rc::new(());
    let (o, h) = (own.clone(), held.clone());
    let handle = r
        .spawn(async move {
            let _h = h;
            let mine = o.borrow_mut().take().unwrap();
            mine.await.ok(); // awaits itself: never ends
        })
        .unwrap();
    *own.borrow_mut() = Some(handle);
    r.run_once(NOW).unwrap();
    r.run_once(NOW).unwrap();
    assert_eq!(Rc::strong_count(&held), 2);
    drop(r);
    assert_eq!(Rc::strong_count(&held), 1);
}

#[test]
#[should_panic(expected = "polled after it gave its output")]
fn a_join_handle_polled_after_its_output_panics_and_does_not_hang() {
    let mut r = Reactor::new().unwrap();
    let spawner = r.spawner().unwrap();
    let inner = spawner.spawn(async { 1 }).unwrap();
    let outer = spawner
        .spawn(async move {
            let mut inner = inner;
            let first = (&mut inner).await;
            let second = (&mut inner).await;
            (first, second)
        })
        .unwrap();
    let _ = r.block_on(outer);
}

/// A future whose destructor spawns, wakes the waker it kept, and leaves a clone of it in
/// `kept`, for after the reactor is gone.
struct MischiefOnDrop {
    spawner: barepoll::task::Spawner,
    waker: Option<Waker>,
    kept: Arc<Mutex<Vec<Waker>>>,
    spawned: Rc<Cell<Option<bool>>>,
}

impl Future for MischiefOnDrop {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for MischiefOnDrop {
    fn drop(&mut self) {
        let outcome = self.spawner.spawn(async {});
        self.spawned.set(Some(outcome.is_ok()));
        drop(outcome);
        if let Some(w) = self.waker.take() {
            w.wake_by_ref();
            self.kept.lock().unwrap().push(w.clone());
            w.wake();
        }
    }
}

#[test]
fn a_futures_destructor_that_spawns_and_wakes_during_the_reactors_drop_is_refused_harmlessly() {
    let mut r = Reactor::new().unwrap();
    let kept = Arc::new(Mutex::new(Vec::new()));
    let spawned = Rc::new(Cell::new(None));
    let spawner = r.spawner().unwrap();
    let handle = r
        .spawn(MischiefOnDrop {
            spawner,
            waker: None,
            kept: kept.clone(),
            spawned: spawned.clone(),
        })
        .unwrap();
    r.run_once(NOW).unwrap();
    drop(r);
    assert_eq!(
        spawned.get(),
        Some(false),
        "a spawn during the drop is refused"
    );
    assert_eq!(handle.try_take(), Some(Err(Error::Closed)));
    let wakers = std::mem::take(&mut *kept.lock().unwrap());
    assert_eq!(wakers.len(), 1);
    std::thread::spawn(move || wakers.into_iter().for_each(Waker::wake))
        .join()
        .unwrap();
}

#[test]
fn a_futures_destructor_that_spawns_on_a_running_reactor_gets_its_task_run() {
    let mut r = Reactor::new().unwrap();
    let spawned = Rc::new(Cell::new(None));
    let spawner = r.spawner().unwrap();
    let ran = Rc::new(Cell::new(false));
    struct SpawnOnDrop(
        barepoll::task::Spawner,
        Rc<Cell<bool>>,
        Rc<Cell<Option<bool>>>,
    );
    impl Future for SpawnOnDrop {
        type Output = ();
        fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
            Poll::Ready(())
        }
    }
    impl Drop for SpawnOnDrop {
        fn drop(&mut self) {
            let ran = self.1.clone();
            let spawned = self.0.spawn(async move { ran.set(true) });
            self.2.set(Some(spawned.is_ok()));
        }
    }
    let handle = spawner
        .spawn(SpawnOnDrop(spawner.clone(), ran.clone(), spawned.clone()))
        .unwrap();
    assert_eq!(r.block_on(handle).unwrap(), Ok(()));
    assert_eq!(spawned.get(), Some(true));
    let panics = turns(&mut r, 4, || ran.get());
    assert_eq!(panics, 0);
    assert!(ran.get(), "the task spawned from a destructor runs");
}

#[test]
fn a_task_that_keeps_spawning_lets_every_turn_return() {
    let mut r = Reactor::new().unwrap();
    let spawner = r.spawner().unwrap();
    let count = Rc::new(Cell::new(0u32));
    fn chain(spawner: barepoll::task::Spawner, count: Rc<Cell<u32>>) {
        let s = spawner.clone();
        let task = async move {
            count.set(count.get() + 1);
            chain(s.clone(), count.clone());
            chain(s, count);
        };
        if let Ok(handle) = spawner.spawn(task) {
            drop(handle);
        }
    }
    chain(spawner, count.clone());
    for _ in 0..6 {
        r.run_once(NOW).unwrap();
    }
    // Each turn polls at most the budget: six turns, at most 6 * 64 polls, and they return.
    assert!(count.get() > 6 && count.get() <= 6 * barepoll::task::BUDGET as u32);
    drop(r); // cancels the thousands left, each once
}

/// Pending until `flag`, leaving a clone of its waker in `slot` at every poll.
struct Flagged {
    flag: Arc<AtomicUsize>,
    slot: Arc<Mutex<Option<Waker>>>,
}

impl Future for Flagged {
    type Output = Arc<()>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Arc<()>> {
        *self.slot.lock().unwrap() = Some(cx.waker().clone());
        if self.flag.load(Ordering::Acquire) != 0 {
            return Poll::Ready(Arc::new(()));
        }
        Poll::Pending
    }
}

#[test]
#[cfg_attr(
    miri,
    ignore = "hundreds of rounds of real threads: too slow under Miri"
)]
fn wakers_on_other_threads_race_the_tasks_end_and_the_reactors_drop() {
    rounds(300);
}

#[test]
fn wakers_on_other_threads_race_the_tasks_end_and_the_reactors_drop_briefly() {
    rounds(4);
}

/// Each round: a parked task whose waker two threads clone, wake (by value and by reference)
/// and drop, while this thread finishes the task, then drops the reactor, then the handle.
fn rounds(n: usize) {
    let held = Arc::new(());
    for round in 0..n {
        let mut r = Reactor::new().unwrap();
        let flag = Arc::new(AtomicUsize::new(0));
        let slot = Arc::new(Mutex::new(None));
        let future = Flagged {
            flag: flag.clone(),
            slot: slot.clone(),
        };
        let h = held.clone();
        let handle = r
            .spawn(async move {
                let _h = h;
                future.await
            })
            .unwrap();
        r.run_once(NOW).unwrap();
        let waker: Waker = slot.lock().unwrap().clone().unwrap();
        let start = Arc::new(Barrier::new(3));
        let threads: Vec<_> = (0..2)
            .map(|t| {
                let (w, start) = (waker.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    for i in 0..20 {
                        let c = w.clone();
                        match (t + i) % 3 {
                            0 => c.wake(),
                            1 => c.wake_by_ref(),
                            _ => drop(c),
                        }
                    }
                    w.wake();
                })
            })
            .collect();
        drop(waker);
        start.wait();
        flag.store(1, Ordering::Release);
        for _ in 0..3 {
            r.run_once(NOW).unwrap();
        }
        if round % 2 == 0 {
            drop(r);
            drop(handle);
        } else {
            drop(handle);
            drop(r);
        }
        for t in threads {
            t.join().unwrap();
        }
        drop(slot.lock().unwrap().take());
        assert_eq!(
            Arc::strong_count(&held),
            1,
            "round {round}: the future was dropped"
        );
    }
}

/// Output whose destructor panics.
struct PanicOnDropOutput;

impl Drop for PanicOnDropOutput {
    fn drop(&mut self) {
        panic!("an output's destructor panics");
    }
}

#[test]
fn an_outputs_destructor_panicking_in_the_join_handles_drop_leaves_the_reactor_usable() {
    let mut r = Reactor::new().unwrap();
    let handle = r.spawn(async { PanicOnDropOutput }).unwrap();
    r.run_once(NOW).unwrap();
    assert!(handle.is_finished());
    assert!(catch_unwind(AssertUnwindSafe(move || drop(handle))).is_err());
    let detached = r.spawn(async { PanicOnDropOutput }).unwrap();
    drop(detached);
    assert_eq!(
        turns(&mut r, 1, || false),
        1,
        "dropped as it comes, in the turn"
    );
    let again = r.spawn(async { 3 }).unwrap();
    assert_eq!(r.block_on(again).unwrap(), Ok(3));
}

#[test]
fn a_poll_that_panics_after_leaving_its_waker_elsewhere_leaves_it_harmless() {
    let mut r = Reactor::new().unwrap();
    let kept: Rc<RefCell<Option<Waker>>> = Rc::new(RefCell::new(None));
    let k = kept.clone();
    let handle = r
        .spawn(std::future::poll_fn(
            move |cx: &mut Context<'_>| -> Poll<()> {
                *k.borrow_mut() = Some(cx.waker().clone());
                panic!("after leaving the waker")
            },
        ))
        .unwrap();
    assert_eq!(turns(&mut r, 1, || false), 1);
    assert_eq!(handle.try_take(), Some(Err(Error::Panicked)));
    let waker = kept.borrow_mut().take().unwrap();
    waker.wake_by_ref();
    r.run_once(NOW).unwrap();
    drop(r);
    drop(handle);
    std::thread::spawn(move || waker.wake()).join().unwrap();
}

#[test]
fn a_sleep_of_a_dropped_reactor_ends_with_closed_instead_of_hanging() {
    let mut a = Reactor::new().unwrap();
    let unpolled = a.spawner().unwrap().sleep(Duration::from_millis(1));
    let parked = a.spawner().unwrap().sleep(Duration::from_secs(600));
    let mut b = Reactor::new().unwrap();
    let parked = b.spawn(parked).unwrap();
    b.run_once(NOW).unwrap(); // armed on a's wheel, with b's task's waker
    assert!(!parked.is_finished());
    drop(a);
    // A blocking turn returns: the reactor's drop woke the parked sleep's task.
    b.run_once(None).unwrap();
    let unpolled = b.spawn(unpolled).unwrap();
    let panics = turns(&mut b, 6, || parked.is_finished() && unpolled.is_finished());
    assert_eq!(panics, 0);
    assert_eq!(parked.try_take(), Some(Ok(Err(Error::Closed))));
    assert_eq!(unpolled.try_take(), Some(Ok(Err(Error::Closed))));
}

#[test]
fn an_async_source_of_a_dropped_reactor_ends_its_waits_with_closed_instead_of_hanging() {
    use barepoll::{sys, task::Async};
    let mut a = Reactor::new().unwrap();
    let spawner = a.spawner().unwrap();
    let (r1, w1) = sys::pipe(0).unwrap();
    let (r2, w2) = sys::pipe(0).unwrap();
    let registered = Async::new(&spawner, r1).unwrap();
    a.run_once(NOW).unwrap(); // registers it
    let unregistered = Async::new(&spawner, r2).unwrap();
    let mut b = Reactor::new().unwrap();
    let parked = b
        .spawn(async move { registered.read(&mut [0u8; 4]).await })
        .unwrap();
    b.run_once(NOW).unwrap(); // parks on a's source, with b's task's waker
    assert!(!parked.is_finished());
    drop(a);
    b.run_once(None).unwrap(); // returns: the reactor's drop woke the parked task
    let later = b
        .spawn(async move { unregistered.read(&mut [0u8; 4]).await })
        .unwrap();
    let panics = turns(&mut b, 6, || parked.is_finished() && later.is_finished());
    assert_eq!(panics, 0);
    assert_eq!(parked.try_take(), Some(Ok(Err(Error::Closed))));
    assert_eq!(later.try_take(), Some(Ok(Err(Error::Closed))));
    drop((w1, w2));
}

#[test]
fn a_join_handle_awaited_from_another_reactor_ends_with_closed_when_its_reactor_goes() {
    let mut a = Reactor::new().unwrap();
    let inner = a.spawn(std::future::pending::<()>()).unwrap();
    let mut b = Reactor::new().unwrap();
    let outer = b.spawn(inner).unwrap();
    b.run_once(NOW).unwrap(); // parks on a's task
    a.run_once(NOW).unwrap();
    drop(a); // cancels the inner task: its joiner, b's task, is woken
    b.run_once(None).unwrap(); // returns: the wake wrote b's eventfd
    let panics = turns(&mut b, 4, || outer.is_finished());
    assert_eq!(panics, 0);
    assert_eq!(outer.try_take(), Some(Ok(Err(Error::Closed))));
}

/// Runs `scenario` on a thread of its own (tasks stay on their reactor's thread) and gives its
/// result, or panics if it has not returned within a minute: a turn that blocks with a task
/// ready hangs there, and the test reports it instead of hanging.
fn returns<R: Send + 'static>(scenario: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(scenario());
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("a turn blocked in its wait with a task ready")
}

/// Pending at its first poll, after another thread woke it *during* that poll (the wake is
/// done, joined, before the poll returns); `Ready` at its second.
struct WokenFromElsewhereWhilePolled {
    polled: bool,
}

impl Future for WokenFromElsewhereWhilePolled {
    type Output = &'static str;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<&'static str> {
        if self.polled {
            return Poll::Ready("woken");
        }
        self.polled = true;
        let waker = cx.waker().clone();
        std::thread::spawn(move || waker.wake()).join().unwrap();
        Poll::Pending
    }
}

#[test]
fn a_wake_from_another_thread_during_the_tasks_own_poll_is_not_lost_nor_slept_through() {
    let got = returns(|| {
        let mut r = Reactor::new().unwrap();
        let task = r
            .spawn(WokenFromElsewhereWhilePolled { polled: false })
            .unwrap();
        r.run_once(NOW).unwrap(); // the first poll: the wake lands in it (a yield)
        assert!(!task.is_finished(), "a wake in its own poll waits a turn");
        // The next turn must not block: the task is ready.
        r.run_once(None).unwrap();
        task.try_take()
    });
    assert_eq!(got, Some(Ok("woken")));
}

#[test]
fn a_yield_before_another_tasks_panic_in_the_same_phase_is_kept_for_the_next_turn() {
    let got = returns(|| {
        let mut r = Reactor::new().unwrap();
        let yielder = r
            .spawn(async {
                yield_now().await;
                yield_now().await; // in the phase that panics
                "after the panic"
            })
            .unwrap();
        let other = Rc::new(Cell::new(false));
        let o = other.clone();
        // Woken by the panicking task before it panics: polled by a later turn all the same.
        let woken = r
            .spawn(async move {
                yield_now().await;
                o.set(true);
            })
            .unwrap();
        let panics = r
            .spawn(async {
                yield_now().await;
                panic!("after a yield of another task, in the same phase");
            })
            .unwrap();
        // First phase: all three yield. Second: the yielder yields again, `woken` ends, the
        // third panics: the yield is kept through the unwind.
        let mut panicked = 0;
        while !(yielder.is_finished() && woken.is_finished() && panics.is_finished()) {
            if catch_unwind(AssertUnwindSafe(|| r.run_once(None))).is_err() {
                panicked += 1;
            }
        }
        (yielder.try_take(), other.get(), panics.try_take(), panicked)
    });
    assert_eq!(
        got,
        (
            Some(Ok("after the panic")),
            true,
            Some(Err(Error::Panicked)),
            1
        )
    );
}

/// Wakes itself, wakes `other`, spawns a task, then panics: all in one poll.
#[test]
fn a_poll_that_wakes_itself_and_another_and_spawns_then_panics_loses_nothing() {
    let got = returns(|| {
        let mut r = Reactor::new().unwrap();
        let spawner = r.spawner().unwrap();
        let parked: Rc<RefCell<Option<Waker>>> = Rc::default();
        let p = parked.clone();
        let woke = Rc::new(Cell::new(0));
        let w = woke.clone();
        let other = r
            .spawn(std::future::poll_fn(move |cx| {
                w.set(w.get() + 1);
                if w.get() == 1 {
                    *p.borrow_mut() = Some(cx.waker().clone());
                    return Poll::Pending;
                }
                Poll::Ready(())
            }))
            .unwrap();
        r.run_once(NOW).unwrap(); // `other` parks its waker
        let spawned_ran = Rc::new(Cell::new(false));
        let s = spawned_ran.clone();
        let bomb = r
            .spawn(std::future::poll_fn(move |cx| -> Poll<()> {
                cx.waker().wake_by_ref();
                parked.borrow_mut().take().unwrap().wake();
                let s = s.clone();
                drop(spawner.spawn(async move { s.set(true) }).unwrap());
                panic!("after waking itself and another, and spawning");
            }))
            .unwrap();
        let mut panicked = 0;
        for _ in 0..10 {
            if catch_unwind(AssertUnwindSafe(|| r.run_once(None))).is_err() {
                panicked += 1;
            }
            if other.is_finished() && spawned_ran.get() {
                break;
            }
        }
        (
            other.try_take(),
            spawned_ran.get(),
            bomb.try_take(),
            woke.get(),
            panicked,
        )
    });
    assert_eq!(got, (Some(Ok(())), true, Some(Err(Error::Panicked)), 2, 1));
}

/// Tasks that wake each other forever: each turn polls at most `BUDGET` of them, and an
/// event gets through within a turn or two.
#[test]
fn tasks_waking_each_other_forever_poll_at_most_a_budget_per_turn_and_let_io_in() {
    let got = returns(|| {
        let mut r = Reactor::new().unwrap();
        let polls = Rc::new(Cell::new(0usize));
        let wakers: Rc<RefCell<Vec<Option<Waker>>>> = Rc::new(RefCell::new(vec![None; 100]));
        for me in 0..100 {
            let (polls, wakers) = (polls.clone(), wakers.clone());
            drop(
                r.spawn(std::future::poll_fn(move |cx| -> Poll<()> {
                    polls.set(polls.get() + 1);
                    wakers.borrow_mut()[me] = Some(cx.waker().clone());
                    let next = wakers.borrow_mut()[(me + 1) % 100].take();
                    if let Some(next) = next {
                        next.wake();
                    }
                    Poll::Pending
                }))
                .unwrap(),
            );
        }
        let seen = Rc::new(Cell::new(0));
        let s = seen.clone();
        let fd = barepoll::sys::eventfd(0, barepoll::sys::EFD_NONBLOCK).unwrap();
        let writer = fd.try_clone().unwrap();
        barepoll::interest()
            .read()
            .with_fd(fd)
            .with_handler(move |fd: &mut barepoll::sys::OwnedFd| {
                let _ = barepoll::sys::read(fd.as_fd(), &mut [0u8; 8]);
                s.set(s.get() + 1);
            })
            .register_into(&mut r)
            .unwrap();
        use barepoll::sys::AsFd;
        let mut most = 0;
        let mut turns_to_io = None;
        for turn in 0..50 {
            if turn == 10 {
                barepoll::sys::write(writer.as_fd(), &1u64.to_ne_bytes()).unwrap();
            }
            let before = polls.get();
            r.run_once(None).unwrap(); // never blocks: tasks are always ready
            most = most.max(polls.get() - before);
            if turns_to_io.is_none() && seen.get() == 1 {
                turns_to_io = Some(turn - 10);
            }
        }
        (most, turns_to_io)
    });
    assert!(got.0 <= barepoll::task::BUDGET, "{got:?}");
    assert_eq!(got.1, Some(0), "the event waited behind the tasks");
}

/// A task of reactor `a` owns reactor `b`, whose task holds a sleep, a spawner and a join
/// handle of `a`: when the task of `a` ends, in `a`'s task phase, its future's destructor drops
/// `b`, which
/// cancels `b`'s task there and then; the things of `a` it held are dropped in `a`'s phase,
/// a spawn into `a` from that destructor runs, and `a` goes on.
#[test]
fn a_reactor_dropped_by_a_futures_destructor_in_another_reactors_phase_leaves_it_usable() {
    struct SpawnsWhenDropped(barepoll::task::Spawner, Rc<Cell<bool>>);
    impl Drop for SpawnsWhenDropped {
        fn drop(&mut self) {
            let ran = self.1.clone();
            drop(self.0.spawn(async move { ran.set(true) }).unwrap());
        }
    }
    let got = returns(|| {
        let mut a = Reactor::new().unwrap();
        let a_spawner = a.spawner().unwrap();
        let parked = a.spawn(std::future::pending::<()>()).unwrap();
        let mut b = Reactor::new().unwrap();
        let ran = Rc::new(Cell::new(false));
        let held = (
            a_spawner.sleep(Duration::from_secs(60)),
            SpawnsWhenDropped(a_spawner.clone(), ran.clone()),
            parked,
        );
        let b_task = b
            .spawn(async move {
                let mut held = held;
                (&mut held.0).await.unwrap();
            })
            .unwrap();
        b.run_once(NOW).unwrap(); // arms `a`'s sleep from `b`'s task
                                  // Ready at its second poll; `b` goes with the future, dropped in place by `a`.
        let mut polled = false;
        let owner = a
            .spawn(std::future::poll_fn(move |cx| {
                let _owned = (&b, &b_task);
                if polled {
                    return Poll::Ready("dropped");
                }
                polled = true;
                cx.waker().wake_by_ref();
                Poll::Pending
            }))
            .unwrap();
        let first = a.block_on(owner).unwrap();
        for _ in 0..3 {
            a.run_once(NOW).unwrap();
        }
        (first, ran.get())
    });
    assert_eq!(got, (Ok("dropped"), true));
}
