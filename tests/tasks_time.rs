//! Timer futures: sleeps never end early, bound the reactor's wait, are cancelled by their
//! drop and reset in place; a timeout gives the future's output or `Elapsed`.
#![cfg(all(feature = "tasks", feature = "std"))]

use barepoll::task::{yield_now, Elapsed, Sleep};
use barepoll::{Instant, Reactor};
use std::cell::RefCell;
use std::pin::pin;
use std::rc::Rc;
use std::time::Duration;

const MS: Duration = Duration::from_millis(1);

#[test]
fn a_sleep_never_ends_early_and_bounds_an_infinite_wait() {
    let mut r = Reactor::new().unwrap();
    let spawner = r.spawner().unwrap();
    let start = Instant::now();
    let slept = r
        .spawn(async move {
            for _ in 0..3 {
                let before = Instant::now();
                spawner.sleep(5 * MS).await.unwrap();
                assert!(before.elapsed() >= 5 * MS);
            }
        })
        .unwrap();
    // Every turn waits with no timeout of its own: only the sleeps end the waits.
    r.block_on(slept).unwrap().unwrap();
    assert!(start.elapsed() >= 15 * MS);
}

#[test]
fn a_dropped_sleep_no_longer_cuts_the_wait_short() {
    let mut r = Reactor::new().unwrap();
    let spawner = r.spawner().unwrap();
    let done = r
        .spawn(async move {
            // Armed at the first poll, dropped when the yield ends first.
            spawner.timeout(20 * MS, yield_now()).await
        })
        .unwrap();
    assert_eq!(r.block_on(done).unwrap(), Ok(Ok(())));
    let start = Instant::now();
    r.run_once(Some(60 * MS)).unwrap();
    assert!(
        start.elapsed() >= 60 * MS,
        "the wait ended at {:?}: the cancelled sleep still bounded it",
        start.elapsed()
    );
}

// The same with the reactor's alarm set for the sleep before it was dropped (a wait came
// between): a wait with a timeout first moves the alarm, which would otherwise end it at the
// dropped sleep's deadline with nothing due.
#[test]
fn a_dropped_sleep_the_alarm_was_set_for_no_longer_cuts_the_wait_short() {
    use std::cell::{Cell, RefCell};
    use std::rc::Rc;
    use std::task::{Poll, Waker};
    let mut r = Reactor::new().unwrap();
    let spawner = r.spawner().unwrap();
    let open = Rc::new(Cell::new(false));
    let parked: Rc<RefCell<Option<Waker>>> = Rc::default();
    let (o, p) = (open.clone(), parked.clone());
    let gate = std::future::poll_fn(move |cx| {
        if o.get() {
            return Poll::Ready(());
        }
        *p.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    });
    let done = r
        .spawn(async move { spawner.timeout(300 * MS, gate).await })
        .unwrap();
    r.run_once(Some(Duration::ZERO)).unwrap(); // polls it: the 300-ms sleep is armed
    r.run_once(Some(Duration::ZERO)).unwrap(); // before this wait, the alarm is set for it
    open.set(true);
    parked.borrow_mut().take().unwrap().wake();
    // The gate wins and the sleep is dropped; on a machine too slow to open the gate within
    // 300 ms (Miri), the sleep ends first, which may leave the alarm's expiry unread: the
    // wait below must last all the same.
    assert!(r.block_on(done).unwrap().is_ok());
    let start = Instant::now();
    r.run_once(Some(600 * MS)).unwrap();
    assert!(
        start.elapsed() >= 600 * MS,
        "the wait ended at {:?}: the dropped sleep's alarm still bounded it",
        start.elapsed()
    );
}

#[test]
fn a_timeout_gives_the_output_or_elapsed() {
    let mut r = Reactor::new().unwrap();
    let spawner = r.spawner().unwrap();
    let s = spawner.clone();
    let both = r
        .spawn(async move {
            let quick = s.timeout(Duration::from_secs(60), async { 1 }).await;
            let start = Instant::now();
            let slow = s.timeout(3 * MS, s.sleep(Duration::from_secs(60))).await;
            (quick, slow.map(|r| r.unwrap()), start.elapsed())
        })
        .unwrap();
    let (quick, slow, took) = r.block_on(both).unwrap().unwrap();
    assert_eq!(quick, Ok(1));
    assert_eq!(slow, Err(Elapsed));
    assert!(took >= 3 * MS);
}

#[test]
fn a_reset_moves_the_deadline_both_ways() {
    let mut r = Reactor::new().unwrap();
    let spawner = r.spawner().unwrap();
    let task = r
        .spawn(async move {
            let start = Instant::now();
            let mut sleep = Box::pin(spawner.sleep(Duration::from_secs(60)));
            // Armed, then sooner.
            assert!(spawner.timeout(MS, sleep.as_mut()).await.is_err());
            sleep.as_mut().reset(Instant::now() + 4 * MS);
            sleep.as_mut().await.unwrap();
            assert!(start.elapsed() >= 4 * MS);
            // Ended, then later again.
            let again = Instant::now() + 3 * MS;
            sleep.as_mut().reset(again);
            sleep.as_mut().await.unwrap();
            assert!(Instant::now() >= again);
        })
        .unwrap();
    r.block_on(task).unwrap().unwrap();
}

#[test]
fn many_sleeps_each_end_after_their_own_deadline() {
    let mut r = Reactor::new().unwrap();
    let spawner = r.spawner().unwrap();
    let mut handles = Vec::new();
    for i in 0..20u32 {
        let s = spawner.clone();
        handles.push(
            r.spawn(async move {
                let start = Instant::now();
                let d = Duration::from_micros(500 * u64::from(i % 7));
                s.sleep(d).await.unwrap();
                start.elapsed() >= d
            })
            .unwrap(),
        );
    }
    for h in handles {
        assert_eq!(r.block_on(h).unwrap(), Ok(true));
    }
}

#[test]
fn a_timeout_holds_its_future_in_place_and_pinned() {
    let mut r = Reactor::new().unwrap();
    let spawner = r.spawner().unwrap();
    // A future that is not `Unpin` (it borrows its own buffer across an await) and is large.
    let big = async {
        let buf = [7u8; 512];
        let view = &buf;
        yield_now().await;
        view.iter().map(|&b| u32::from(b)).sum::<u32>()
    };
    let timed = spawner.timeout(Duration::from_secs(60), big);
    // Held in place, not boxed: the timeout is at least as large as its future.
    assert!(std::mem::size_of_val(&timed) >= 512);
    let handle = r.spawn(timed).unwrap();
    assert_eq!(r.block_on(handle).unwrap(), Ok(Ok(512 * 7)));
}

#[test]
fn a_sleep_pushed_later_while_armed_ends_at_its_new_deadline_never_before() {
    let mut r = Reactor::new().unwrap();
    let spawner = r.spawner().unwrap();
    let slept = r
        .spawn(async move {
            let mut sleep = std::pin::pin!(spawner.sleep(2 * MS));
            // Armed by a first poll, then pushed later again and again (an idle timeout).
            assert!(futures_poll_once(sleep.as_mut()).await);
            let mut deadline = Instant::now();
            for _ in 0..5 {
                deadline = Instant::now() + 10 * MS;
                sleep.as_mut().reset(deadline);
                yield_now().await;
            }
            sleep.await.unwrap();
            assert!(Instant::now() >= deadline, "ended before its new deadline");
        })
        .unwrap();
    r.block_on(slept).unwrap().unwrap();
}

/// Polls `future` once: whether it was pending.
async fn futures_poll_once<F: std::future::Future>(mut future: std::pin::Pin<&mut F>) -> bool {
    std::future::poll_fn(|cx| std::task::Poll::Ready(future.as_mut().poll(cx).is_pending())).await
}

#[test]
fn one_sleep_bounds_futures_in_turn_and_stays_armed_between_them() {
    let mut r = Reactor::new().unwrap();
    let spawner = r.spawner().unwrap();
    let s = spawner.clone();
    let done = r
        .spawn(async move {
            let start = Instant::now();
            let mut deadline = spawner.sleep(200 * MS);
            // Quick futures end first: each gives its output, the sleep goes on.
            for k in 0..3u32 {
                assert_eq!(deadline.within(async { k }).await, Ok(k));
                assert_eq!(deadline.within(yield_now()).await, Ok(()));
            }
            let armed_at = deadline.deadline().expect("armed by the first poll");
            assert!(armed_at >= start + 200 * MS);
            // A future that never ends meets the same deadline, never before it.
            let never = s.sleep(Duration::from_secs(3600));
            assert_eq!(deadline.within(never).await, Err(Elapsed));
            assert!(Instant::now() >= armed_at, "ended before its deadline");
            // Once passed, the deadline bounds the next future at once (a ready one still
            // wins), until it is pushed later.
            assert_eq!(deadline.within(yield_now()).await, Err(Elapsed));
            assert_eq!(deadline.within(async { 9 }).await, Ok(9));
            let later = Instant::now() + 5 * MS;
            deadline.reset(later);
            assert_eq!(deadline.within(async { 10 }).await, Ok(10));
            assert_eq!(
                deadline.within(s.sleep(3600 * 1000 * MS)).await,
                Err(Elapsed)
            );
            assert!(Instant::now() >= later, "ended before its new deadline");
        })
        .unwrap();
    r.block_on(done).unwrap().unwrap();
}

#[test]
fn an_idle_deadline_pushed_later_at_each_message_ends_only_after_the_last_one() {
    let mut r = Reactor::new().unwrap();
    let spawner = r.spawner().unwrap();
    let s = spawner.clone();
    let idle = 15 * MS;
    let served = r
        .spawn(async move {
            let mut deadline = spawner.sleep(idle);
            let mut last = Instant::now();
            let mut served = 0u32;
            loop {
                // Ten messages 3 ms apart (30 ms in all, twice the idle time), then silence.
                let gap = if served < 10 {
                    3 * MS
                } else {
                    3600 * 1000 * MS
                };
                match deadline.within(s.sleep(gap)).await {
                    Ok(slept) => slept.unwrap(),
                    Err(Elapsed) => {
                        assert!(Instant::now() >= last + idle, "idle before its time");
                        return served;
                    }
                }
                served += 1;
                last = Instant::now();
                deadline.reset(last + idle);
            }
        })
        .unwrap();
    // On a loaded machine a gap may outlast the idle time and end it sooner; never later.
    let served = r.block_on(served).unwrap().unwrap();
    assert!(served <= 10, "{served} served");
}

#[test]
fn a_future_bounded_by_a_borrowed_sleep_is_held_in_place() {
    let mut r = Reactor::new().unwrap();
    let spawner = r.spawner().unwrap();
    let done = r
        .spawn(async move {
            let mut deadline = spawner.sleep(Duration::from_secs(60));
            let big = async {
                let buf = [3u8; 256];
                let view = &buf;
                yield_now().await;
                view.iter().map(|&b| u32::from(b)).sum::<u32>()
            };
            let within = deadline.within(big);
            assert!(std::mem::size_of_val(&within) >= 256, "not boxed");
            within.await
        })
        .unwrap();
    assert_eq!(r.block_on(done).unwrap(), Ok(Ok(768)));
}

/// A `within` dropped while pending leaves its sleep armed with the waker of the task that
/// polled it; the task that awaits the sleep next (here another one, the first has ended) is
/// the one its deadline wakes, never before it.
#[test]
fn a_sleep_left_by_a_dropped_within_wakes_the_task_that_awaits_it_next() {
    let mut r = Reactor::new().unwrap();
    let spawner = r.spawner().unwrap();
    let handed: Rc<RefCell<Option<Sleep>>> = Rc::default();
    let (give, take) = (handed.clone(), handed);
    let s = spawner.clone();
    let first = r
        .spawn(async move {
            let mut deadline = s.sleep(20 * MS);
            let armed = {
                let within = pin!(deadline.within(std::future::pending::<()>()));
                futures_poll_once(within).await
            };
            assert!(armed, "pending, its sleep armed");
            let at = deadline.deadline().expect("armed");
            *give.borrow_mut() = Some(deadline);
            at
        })
        .unwrap();
    let next = r
        .spawn(async move {
            let mut deadline = loop {
                if let Some(sleep) = take.borrow_mut().take() {
                    break sleep;
                }
                yield_now().await;
            };
            let forever = std::future::pending::<()>();
            let bounded = spawner.timeout(3600 * 1000 * MS, deadline.within(forever));
            (bounded.await, Instant::now())
        })
        .unwrap();
    let (bounded, ended) = r.block_on(next).unwrap().unwrap();
    let at = r.block_on(first).unwrap().unwrap();
    assert_eq!(bounded, Ok(Err(Elapsed)), "woken by the deadline");
    assert!(ended >= at, "ended before its deadline");
}

/// A sleep whose deadline came while no `within` awaited it (the task awaited something
/// else) bounds the next future at once; pushed later, it bounds the one after at its new
/// deadline, never before.
#[test]
fn a_deadline_that_came_while_not_awaited_bounds_the_next_future_at_once() {
    let mut r = Reactor::new().unwrap();
    let spawner = r.spawner().unwrap();
    let s = spawner.clone();
    let done = r
        .spawn(async move {
            let mut deadline = s.sleep(5 * MS);
            assert_eq!(
                deadline.within(yield_now()).await,
                Ok(()),
                "armed meanwhile"
            );
            let at = deadline.deadline().expect("armed");
            s.sleep(20 * MS).await.unwrap(); // the deadline fires meanwhile
            let forever = std::future::pending::<()>();
            let bounded = s.timeout(3600 * 1000 * MS, deadline.within(forever)).await;
            assert_eq!(bounded, Ok(Err(Elapsed)));
            assert!(Instant::now() >= at);
            let later = Instant::now() + 10 * MS;
            deadline.reset(later);
            let forever = std::future::pending::<()>();
            let bounded = s.timeout(3600 * 1000 * MS, deadline.within(forever)).await;
            assert_eq!(bounded, Ok(Err(Elapsed)));
            assert!(Instant::now() >= later, "ended before its new deadline");
        })
        .unwrap();
    r.block_on(done).unwrap().unwrap();
}
