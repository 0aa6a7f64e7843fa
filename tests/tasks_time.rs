//! Timer futures: sleeps never end early, bound the reactor's wait, are cancelled by their
//! drop and reset in place; a timeout gives the future's output or `Elapsed`.
#![cfg(all(feature = "tasks", feature = "std"))]

use barepoll::task::{yield_now, Elapsed};
use barepoll::{Instant, Reactor};
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
