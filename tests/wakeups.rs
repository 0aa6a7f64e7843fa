//! Waking a reactor from other threads: the coalescing waker (counting its `write` syscalls
//! through /proc), and remote calls, fire-and-forget and blocking, with their errors.
#![cfg(feature = "std")]
mod common;

use barepoll::{Error, Ops, Reactor, Sendable, Waker};
use common::*;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Write syscalls made so far by the calling thread (`syscw` in /proc/thread-self/io), if the
/// kernel tells, and if they are the thread's own: under valgrind they also count the tool's
/// writes to the pipe it schedules threads with.
fn writes_by_this_thread() -> Option<u64> {
    let preload = std::env::var("LD_PRELOAD").unwrap_or_default();
    if preload.contains("vgpreload") {
        return None;
    }
    let io = std::fs::read_to_string("/proc/thread-self/io").ok()?;
    io.lines()
        .find_map(|l| l.strip_prefix("syscw: "))
        .and_then(|n| n.trim().parse().ok())
}

#[test]
#[cfg_attr(miri, ignore = "a million wakes")]
fn a_million_wakes_cost_a_write_per_turn_not_per_wake() {
    let _fds = fd_check();
    const WAKES: u64 = 1_000_000;
    let mut r = Reactor::new().unwrap();
    let turns = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let (t, d) = (turns.clone(), done.clone());
    let waker = Waker::new(&mut r, move |ops: &mut Ops<'_>| {
        t.fetch_add(1, Ordering::Relaxed);
        if d.load(Ordering::Acquire) {
            ops.stop();
        }
    })
    .unwrap();
    let w = waker.clone();
    let d = done.clone();
    let waking = std::thread::spawn(move || {
        let before = writes_by_this_thread();
        for _ in 0..WAKES {
            w.wake();
        }
        let after = writes_by_this_thread();
        d.store(true, Ordering::Release);
        w.wake(); // the last one, after `done`, is the one the loop stops on
        before.zip(after).map(|(b, a)| a - b)
    });
    r.run().unwrap();
    let writes = waking.join().unwrap();
    let turns = turns.load(Ordering::Relaxed);
    eprintln!("{WAKES} wakes: {writes:?} write syscalls, {turns} callback runs");
    assert!((1..=WAKES + 1).contains(&turns));
    if let Some(writes) = writes {
        // Each write is followed by a callback run before the next can happen.
        assert!(writes <= turns, "{writes} writes for {turns} turns");
        assert!(
            writes < WAKES / 10,
            "{writes} writes: wakes do not coalesce"
        );
    }
    drop(r);
    waker.wake(); // the reactor is gone: harmless
}

#[test]
fn a_waker_wakes_a_sendable_reactor_on_another_thread() {
    let _fds = fd_check();
    let mut r = Reactor::builder()
        .state::<u32>()
        .sendable()
        .build()
        .unwrap();
    let waker = Waker::new(&mut r, |ops: &mut Ops<'_, u32, Sendable>| {
        *ops.data() += 1;
        ops.stop();
    })
    .unwrap();
    let runner = std::thread::spawn(move || {
        let mut woken = 0;
        r.run_with(&mut woken).unwrap();
        woken
    });
    std::thread::sleep(Duration::from_millis(20));
    waker.wake();
    assert_eq!(runner.join().unwrap(), 1);
}

#[test]
fn posts_from_many_threads_all_run_in_order_per_thread() {
    let _fds = fd_check();
    const THREADS: usize = 4;
    // Fewer under Miri, which runs the threads' interleavings a thousand times slower.
    const POSTS: usize = if cfg!(miri) { 200 } else { 10_000 };
    let mut r = Reactor::builder()
        .state::<Vec<Vec<usize>>>()
        .build()
        .unwrap();
    let remote = r.remote().unwrap();
    let posters: Vec<_> = (0..THREADS)
        .map(|t| {
            let remote = remote.clone();
            std::thread::spawn(move || {
                for i in 0..POSTS {
                    remote
                        .post(move |ops: &mut Ops<'_, Vec<Vec<usize>>>| ops.data()[t].push(i))
                        .unwrap();
                }
            })
        })
        .collect();
    for p in posters {
        p.join().unwrap();
    }
    remote
        .post(|ops: &mut Ops<'_, Vec<Vec<usize>>>| ops.stop())
        .unwrap();
    let mut seen = vec![Vec::new(); THREADS];
    r.run_with(&mut seen).unwrap();
    for per_thread in &seen {
        assert_eq!(*per_thread, (0..POSTS).collect::<Vec<_>>());
    }
}

#[test]
fn blocking_calls_return_values_and_refuse_what_would_hang() {
    let _fds = fd_check();
    let mut r = Reactor::builder().state::<u64>().build().unwrap();
    let remote = r.remote().unwrap();
    let caller = {
        let remote = remote.clone();
        std::thread::spawn(move || {
            let mut sum = 0;
            for i in 1..=10 {
                sum = remote
                    .call(move |ops: &mut Ops<'_, u64>| {
                        *ops.data() += i;
                        *ops.data()
                    })
                    .unwrap();
            }
            remote.call(|ops: &mut Ops<'_, u64>| ops.stop()).unwrap();
            sum
        })
    };
    let mut total = 0;
    r.run_with(&mut total).unwrap();
    assert_eq!((caller.join().unwrap(), total), (55, 55));

    // From a handler on the reactor's own thread: an error, not a hang.
    let inner = remote.clone();
    remote
        .post(move |ops: &mut Ops<'_, u64>| {
            assert_eq!(
                inner.call(|_: &mut Ops<'_, u64>| 1),
                Err(Error::WouldDeadlock)
            );
            ops.stop();
        })
        .unwrap();
    r.run_with(&mut total).unwrap();

    // A caller waiting when the reactor drops, and callers after: `Closed`.
    let waiting = {
        let remote = remote.clone();
        std::thread::spawn(move || remote.call(|_: &mut Ops<'_, u64>| 7))
    };
    std::thread::sleep(Duration::from_millis(50));
    drop(r);
    assert_eq!(waiting.join().unwrap(), Err(Error::Closed));
    assert_eq!(remote.call(|_: &mut Ops<'_, u64>| 7), Err(Error::Closed));
    assert_eq!(remote.post(|_: &mut Ops<'_, u64>| {}), Err(Error::Closed));
}

#[test]
fn a_panicking_job_leaves_the_rest_for_the_next_turn() {
    let _fds = fd_check();
    let mut r = Reactor::builder().state::<Vec<u32>>().build().unwrap();
    let remote = r.remote().unwrap();
    remote
        .post(|ops: &mut Ops<'_, Vec<u32>>| ops.data().push(1))
        .unwrap();
    remote
        .post(|_: &mut Ops<'_, Vec<u32>>| panic!("job panic (planted by the test)"))
        .unwrap();
    remote
        .post(|ops: &mut Ops<'_, Vec<u32>>| ops.data().push(3))
        .unwrap();
    remote
        .post(|ops: &mut Ops<'_, Vec<u32>>| ops.stop())
        .unwrap();
    let mut log = Vec::new();
    let first = catch_unwind(AssertUnwindSafe(|| r.run_with(&mut log)));
    assert!(first.is_err());
    assert_eq!(log, [1]);
    r.run_with(&mut log).unwrap();
    assert_eq!(log, [1, 3]);
}
