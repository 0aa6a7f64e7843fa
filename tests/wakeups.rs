//! Waking a reactor from other threads: the coalescing waker (counting its `write` syscalls
//! through /proc), and remote calls, fire-and-forget and blocking, with their errors.
#![cfg(feature = "std")]
mod common;

use barepoll::{Error, Ops, Reactor, Sendable, StopHandle, Waker};
use common::*;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

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
        // A write per wake would be a million; how many fewer depends on how the two threads
        // are scheduled (about 1 in 10 on a loaded qemu-user), so the bound is loose.
        assert!(writes < WAKES / 2, "{writes} writes: wakes do not coalesce");
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
    // Posted after the panic: runs after what the panic left, in order. The job that stops
    // is the turn's last: the one behind it waits for the next turn.
    remote
        .post(|ops: &mut Ops<'_, Vec<u32>>| ops.data().push(5))
        .unwrap();
    r.run_with(&mut log).unwrap();
    assert_eq!(log, [1, 3]);
    r.run_once_with(Some(Duration::ZERO), &mut log).unwrap();
    assert_eq!(log, [1, 3, 5]);
}

#[test]
fn a_job_posted_by_a_job_that_stops_runs_after_run_returns() {
    let _fds = fd_check();
    let mut r = Reactor::builder().state::<Vec<u32>>().build().unwrap();
    let remote = r.remote().unwrap();
    let again = remote.clone();
    remote
        .post(move |ops: &mut Ops<'_, Vec<u32>>| {
            ops.data().push(1);
            ops.stop();
            again
                .post(|ops: &mut Ops<'_, Vec<u32>>| ops.data().push(2))
                .unwrap();
        })
        .unwrap();
    let mut log = Vec::new();
    r.run_with(&mut log).unwrap();
    assert_eq!(
        log,
        [1],
        "a job posted after the stop ran before run returned"
    );
    r.run_once_with(Some(Duration::ZERO), &mut log).unwrap();
    assert_eq!(log, [1, 2]);
}

#[test]
#[cfg_attr(miri, ignore = "counts syscalls through /proc")]
fn posts_between_two_turns_cost_one_write() {
    let _fds = fd_check();
    let mut r = Reactor::builder().state::<u32>().build().unwrap();
    let remote = r.remote().unwrap();
    let post = |n: u32| {
        for _ in 0..n {
            remote
                .post(|ops: &mut Ops<'_, u32>| *ops.data() += 1)
                .unwrap();
        }
    };
    let Some(before) = writes_by_this_thread() else {
        return; // no per-thread counts here (valgrind, or no /proc)
    };
    let mut ran = 0;
    post(100);
    assert_eq!(writes_by_this_thread().unwrap() - before, 1);
    r.run_once_with(Some(Duration::ZERO), &mut ran).unwrap();
    assert_eq!(ran, 100);
    post(10); // the turn took the wake: the first of these writes again
    assert_eq!(writes_by_this_thread().unwrap() - before, 2);
    r.run_once_with(Some(Duration::ZERO), &mut ran).unwrap();
    assert_eq!(ran, 110);
    assert_eq!(
        r.run_once_with(Some(Duration::ZERO), &mut ran).unwrap(),
        0,
        "nothing posted, yet the remote reported"
    );
}

#[test]
fn a_post_racing_the_reactor_going_idle_is_never_lost() {
    // Posters post a few jobs at a time and wait until all of theirs have run, so the reactor
    // keeps going idle while posts arrive, and a post often finds another's wake under way: a
    // post left in the queue with no wake to come would hang here.
    const POSTERS: u64 = 3;
    const ROUNDS: u64 = if cfg!(miri) { 10 } else { 10_000 };
    const BURST: u64 = 2;
    let ran = within_a_minute(|| {
        let _fds = fd_check();
        let mut r = Reactor::builder()
            .state::<u64>()
            .sendable()
            .build()
            .unwrap();
        let remote = r.remote().unwrap();
        let posters: Vec<_> = (0..POSTERS)
            .map(|_| {
                let remote = remote.clone();
                std::thread::spawn(move || {
                    let ran = Arc::new(AtomicU64::new(0));
                    for round in 1..=ROUNDS {
                        for _ in 0..BURST {
                            let ran = ran.clone();
                            remote
                                .post(move |ops: &mut Ops<'_, u64, Sendable>| {
                                    *ops.data() += 1;
                                    ran.fetch_add(1, Ordering::Release);
                                    if *ops.data() == POSTERS * ROUNDS * BURST {
                                        ops.stop();
                                    }
                                })
                                .unwrap();
                        }
                        while ran.load(Ordering::Acquire) < round * BURST {
                            std::hint::spin_loop();
                        }
                    }
                })
            })
            .collect();
        let mut count = 0;
        r.run_with(&mut count).unwrap();
        for poster in posters {
            poster.join().unwrap();
        }
        count
    });
    assert_eq!(ran, POSTERS * ROUNDS * BURST);
}

// Defect: the "reactor running on this thread" marker was one slot, which a reactor run from a
// handler of another overwrote; a blocking call into the outer one then waited for ever.
#[test]
fn a_call_into_an_outer_reactor_from_a_nested_one_would_deadlock() {
    let _fds = fd_check();
    let got = within_a_minute(|| {
        let mut outer = Reactor::new().unwrap();
        let outer_remote = outer.remote().unwrap();
        let mut inner = Reactor::new().unwrap();
        let inner_remote = inner.remote().unwrap();
        let got = Arc::new(std::sync::Mutex::new(None));
        let g = got.clone();
        barepoll::interest()
            .read()
            .with_fd(eventfd(1))
            .with_handler(move |ops: &mut Ops<'_>| {
                // A handler of `outer` runs `inner` on this same thread ...
                let (o, g) = (outer_remote.clone(), g.clone());
                inner_remote
                    .post(move |ops: &mut Ops<'_>| {
                        // ... whose job calls into `outer`, which cannot run meanwhile.
                        *g.lock().unwrap() = Some(o.call(|_: &mut Ops<'_>| ()));
                        ops.stop();
                    })
                    .unwrap();
                inner.run().unwrap();
                ops.stop();
            })
            .register_into(&mut outer)
            .unwrap();
        outer.run().unwrap();
        let got = got.lock().unwrap().take();
        got
    });
    assert_eq!(got, Some(Err(Error::WouldDeadlock)));
}

/// A subscriber that makes a blocking remote call when it is dropped.
struct CallsWhenDropped {
    fd: barepoll::sys::OwnedFd,
    remote: barepoll::remote::Remote,
    got: Arc<std::sync::Mutex<Option<Result<u32, Error>>>>,
}

impl barepoll::sys::AsFd for CallsWhenDropped {
    fn as_fd(&self) -> barepoll::sys::BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl barepoll::Subscriber for CallsWhenDropped {
    fn handle(&mut self, _: barepoll::Event, _: &mut Ops<'_>) {}
}

impl Drop for CallsWhenDropped {
    fn drop(&mut self) {
        *self.got.lock().unwrap() = Some(self.remote.call(|_: &mut Ops<'_>| 7));
    }
}

// Defect: subscribers dropped with the reactor before its remote queue was closed, so a
// blocking call from a subscriber's `Drop` was queued to a reactor that would never run it.
#[test]
fn a_call_from_a_subscriber_dropped_with_the_reactor_is_closed() {
    let _fds = fd_check();
    let got = within_a_minute(|| {
        let mut r = Reactor::new().unwrap();
        // Its fd number is below the remote's eventfd, so it drops first.
        let fd = eventfd(0);
        let remote = r.remote().unwrap();
        let got = Arc::new(std::sync::Mutex::new(None));
        let sub = CallsWhenDropped {
            fd,
            remote,
            got: got.clone(),
        };
        r.register(sub, readable()).unwrap();
        drop(r);
        let got = got.lock().unwrap().take();
        got
    });
    assert_eq!(got, Some(Err(Error::Closed)));
}

// Defect: a call whose job panicked returned `Closed`, though the reactor lives on.
#[test]
fn a_call_whose_job_panics_reports_the_panic_and_the_reactor_lives_on() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let remote = r.remote().unwrap();
    let caller = {
        let remote = remote.clone();
        std::thread::spawn(move || {
            remote.call(|_: &mut Ops<'_>| -> u32 { panic!("job panic (planted by the test)") })
        })
    };
    let first = catch_unwind(AssertUnwindSafe(|| r.run()));
    assert!(
        first.is_err(),
        "the panic did not reach the reactor's thread"
    );
    let got = caller.join().unwrap();
    assert_ne!(
        got,
        Err(Error::Closed),
        "a panic reported as a closed reactor"
    );
    // The reactor is alive: calls go on.
    let caller = std::thread::spawn(move || {
        remote.call(|ops: &mut Ops<'_>| {
            ops.stop();
            5
        })
    });
    r.run().unwrap();
    assert_eq!(caller.join().unwrap(), Ok(5));
}

// Defect: the remote's own subscriber was counted, so `is_empty` was never true again.
#[test]
fn the_remote_is_not_counted_as_a_subscriber() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let _remote = r.remote().unwrap();
    assert_eq!(r.len(), 0);
    assert!(r.is_empty());
    let key = barepoll::interest()
        .read()
        .with_fd(eventfd(0))
        .with_handler(|| {})
        .register_into(&mut r)
        .unwrap();
    assert_eq!(r.len(), 1);
    r.delete(key).unwrap();
    assert!(r.is_empty());
}

// Defect: a wake whose eventfd write failed left the waker's flag set, so every later wake
// skipped its write and the reactor was never woken again. The CI runs this test under
// `strace -f -e inject=write:error=EINTR:when=1` (every thread's first write fails with
// EINTR); it passes without strace too. Each wake waits for the callback of the one before.
#[test]
fn wakes_survive_interrupted_writes() {
    let _fds = fd_check();
    // Fewer under Miri, which runs the threads' interleavings a thousand times slower.
    const WAKES: u64 = if cfg!(miri) { 20 } else { 200 };
    let mut r = Reactor::new().unwrap();
    let seen = Arc::new(AtomicU64::new(0));
    let s = seen.clone();
    let waker = Waker::new(&mut r, move |ops: &mut Ops<'_>| {
        if s.fetch_add(1, Ordering::AcqRel) + 1 == WAKES {
            ops.stop();
        }
    })
    .unwrap();
    let (s, gave_up) = (seen.clone(), Arc::new(AtomicBool::new(false)));
    let g = gave_up.clone();
    let waking = std::thread::spawn(move || {
        for i in 0..WAKES {
            waker.wake();
            let start = std::time::Instant::now();
            while s.load(Ordering::Acquire) <= i {
                if start.elapsed() > Duration::from_secs(60) {
                    g.store(true, Ordering::Release);
                    return i; // the wake never arrived
                }
                std::thread::sleep(Duration::from_micros(50));
            }
        }
        WAKES
    });
    while seen.load(Ordering::Acquire) < WAKES && !gave_up.load(Ordering::Acquire) {
        r.run_once(Some(Duration::from_millis(100))).unwrap();
    }
    let arrived = waking.join().unwrap();
    assert_eq!(arrived, WAKES, "{arrived} of {WAKES} wakes arrived");
}

/// Until handles could say they were gone, a waker's subscriber and its eventfd stayed
/// registered for the reactor's life after the last handle dropped.
#[test]
fn a_waker_whose_last_handle_drops_removes_itself() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let waker = Waker::new(&mut r, |_: &mut Ops<'_>| {}).unwrap();
    let clones: Vec<Waker> = (0..4).map(|_| waker.clone()).collect();
    drop(waker);
    assert_eq!(
        r.run_once(Some(Duration::ZERO)).unwrap(),
        0,
        "handles remain"
    );
    let threads: Vec<_> = clones
        .into_iter()
        .map(|w| std::thread::spawn(move || drop(w)))
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    assert_eq!(r.run_once(Some(Duration::ZERO)).unwrap(), 1);
    assert!(r.is_empty());
}

/// The close callback runs once, after the callback for a wake that came before the last
/// drop, and the subscriber is gone after it.
#[test]
fn the_close_notice_follows_the_last_wake() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let log = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (l, c) = (log.clone(), log.clone());
    let waker = Waker::with_close(
        &mut r,
        move |_: &mut Ops<'_>| l.lock().unwrap().push("wake"),
        move |ops: &mut Ops<'_>| {
            c.lock().unwrap().push("closed");
            ops.stop();
        },
    )
    .unwrap();
    let key = waker.key();
    assert!(r.interest(key).is_ok());
    std::thread::spawn(move || {
        waker.wake();
        drop(waker);
    })
    .join()
    .unwrap();
    r.run().unwrap();
    assert_eq!(*log.lock().unwrap(), ["wake", "closed"]);
    assert!(r.is_empty());
    assert_eq!(r.interest(key), Err(Error::StaleKey(key)));
}

/// A waker deleted through its key stays harmless to wake and to drop.
#[test]
fn a_waker_deleted_by_its_key_is_harmless() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let waker = Waker::with_close(
        &mut r,
        |_: &mut Ops<'_>| panic!("woken"),
        |_: &mut Ops<'_>| panic!("closed"),
    )
    .unwrap();
    r.delete(waker.key()).unwrap();
    waker.wake();
    drop(waker);
    assert_eq!(r.run_once(Some(Duration::ZERO)).unwrap(), 0);
}

/// Another thread stops a sendable reactor's `run` through a stop handle; the handle
/// outlives the reactor harmlessly.
#[test]
fn a_stop_handle_stops_run_from_another_thread() {
    let _fds = fd_check();
    let mut r = Reactor::builder().sendable().build().unwrap();
    let stop = StopHandle::new(&mut r).unwrap();
    let s = stop.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(10));
        s.stop();
    });
    r.run().unwrap();
    assert!(r.stop_requested());
    t.join().unwrap();
    let r: Reactor<(), Sendable> = r;
    drop(r);
    stop.stop();
}
