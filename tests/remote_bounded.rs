//! Remote calls against a bounded queue (`Builder::remote_capacity`): `try_post` gives the job
//! back when full, `post` and `call` wait for room (never from the reactor's own thread), a
//! dropped reactor releases waiting posters; `call_timeout` bounds the wait, and a job whose
//! caller gave up before it started never runs.
#![cfg(feature = "std")]
mod common;

use barepoll::{Error, Ops, Reactor};
use common::*;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const NOW: Option<Duration> = Some(Duration::ZERO);

fn bounded(jobs: usize) -> Reactor {
    Reactor::builder().remote_capacity(jobs).build().unwrap()
}

/// Sleeps a little at a time until `flag` is set (a hang guard of a minute).
fn until(flag: &AtomicBool) {
    for _ in 0..60_000 {
        if flag.load(Ordering::Acquire) {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    panic!("waited a minute");
}

#[test]
fn a_full_queue_refuses_try_post_and_gives_the_job_back() {
    let _fds = fd_check();
    let mut r = bounded(2);
    let remote = r.remote().unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    let job = |ran: &Arc<AtomicUsize>| {
        let ran = ran.clone();
        move |_: &mut Ops<'_>| {
            ran.fetch_add(1, Ordering::Relaxed);
        }
    };
    remote.try_post(job(&ran)).unwrap();
    remote.post(job(&ran)).unwrap();
    let refused = remote.try_post(job(&ran)).unwrap_err();
    assert_eq!(refused.error, Error::Full);
    r.run_once(NOW).unwrap();
    assert_eq!(ran.load(Ordering::Relaxed), 2);
    remote.try_post(refused.job).unwrap(); // the very job, unrun until now
    r.run_once(NOW).unwrap();
    assert_eq!(ran.load(Ordering::Relaxed), 3);
}

#[test]
fn post_waits_for_room_until_the_reactor_takes_the_queue() {
    let _fds = fd_check();
    let mut r = bounded(1);
    let remote = r.remote().unwrap();
    let (first, second) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let ran = Arc::new(AtomicUsize::new(0));
    let producer = {
        let (first, second, ran) = (first.clone(), second.clone(), ran.clone());
        std::thread::spawn(move || {
            for i in 0..50 {
                let ran = ran.clone();
                remote
                    .post(move |_: &mut Ops<'_>| {
                        ran.fetch_add(1, Ordering::Relaxed);
                    })
                    .unwrap();
                match i {
                    0 => first.store(true, Ordering::Release),
                    1 => second.store(true, Ordering::Release),
                    _ => {}
                }
            }
        })
    };
    until(&first);
    std::thread::sleep(Duration::from_millis(50));
    assert!(
        !second.load(Ordering::Acquire),
        "a second job was queued beside the first: the queue holds one"
    );
    while ran.load(Ordering::Relaxed) < 50 {
        r.run_once(Some(Duration::from_millis(100))).unwrap();
    }
    producer.join().unwrap();
    assert_eq!(ran.load(Ordering::Relaxed), 50);
}

#[test]
fn from_the_reactors_own_thread_a_full_queue_is_refused_not_waited_for() {
    let _fds = fd_check();
    let mut r = bounded(1);
    let remote = r.remote().unwrap();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (inner, s) = (remote.clone(), seen.clone());
    remote
        .post(move |_: &mut Ops<'_>| {
            let mut seen = s.lock().unwrap();
            seen.push(inner.post(|_: &mut Ops<'_>| {}).err()); // room: the queue was taken
            seen.push(inner.post(|_: &mut Ops<'_>| {}).err()); // full, and only this thread
            seen.push(inner.try_post(|_: &mut Ops<'_>| {}).err().map(|r| r.error));
        })
        .unwrap();
    r.run_once(NOW).unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        [None, Some(Error::WouldDeadlock), Some(Error::Full)]
    );
}

#[test]
fn a_dropped_reactor_releases_a_poster_waiting_for_room() {
    let _fds = fd_check();
    let mut r = bounded(1);
    let remote = r.remote().unwrap();
    remote.post(|_: &mut Ops<'_>| {}).unwrap();
    let waiting = Arc::new(AtomicBool::new(false));
    let poster = {
        let (remote, waiting) = (remote.clone(), waiting.clone());
        std::thread::spawn(move || {
            waiting.store(true, Ordering::Release);
            remote.post(|_: &mut Ops<'_>| {})
        })
    };
    until(&waiting);
    std::thread::sleep(Duration::from_millis(20));
    drop(r);
    assert_eq!(poster.join().unwrap(), Err(Error::Closed));
}

#[test]
fn a_call_that_times_out_before_its_job_starts_never_runs_it() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let remote = r.remote().unwrap();
    let ran = Arc::new(AtomicBool::new(false));
    let job_ran = ran.clone();
    let caller = std::thread::spawn(move || {
        remote.call_timeout(Duration::from_millis(10), move |_: &mut Ops<'_>| {
            job_ran.store(true, Ordering::Release);
            7
        })
    });
    // Nobody runs the reactor until the caller gave up.
    assert_eq!(caller.join().unwrap(), Err(Error::TimedOut));
    for _ in 0..3 {
        r.run_once(NOW).unwrap();
    }
    assert!(!ran.load(Ordering::Acquire), "the abandoned job ran");
}

#[test]
fn a_call_in_time_gives_its_result() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let remote = r.remote().unwrap();
    let caller = std::thread::spawn(move || {
        remote.call_timeout(Duration::from_secs(60), |ops: &mut Ops<'_>| {
            ops.stop();
            "answer"
        })
    });
    r.run().unwrap();
    assert_eq!(caller.join().unwrap(), Ok("answer"));
}

/// Counts its drops.
struct Dropped(Arc<AtomicUsize>);
impl Drop for Dropped {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

#[test]
fn a_started_job_whose_caller_gave_up_finishes_and_its_result_is_dropped_once() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let remote = r.remote().unwrap();
    let drops = Arc::new(AtomicUsize::new(0));
    // The job runs until its caller has given up. Where the reactor is too slow to start it
    // before the caller's wait ends (valgrind), the caller gives up first and the job never
    // runs: then again, with a longer wait.
    for wait in [20, 200, 2_000, 20_000].map(Duration::from_millis) {
        let started = Arc::new(AtomicBool::new(false));
        let gave_up = Arc::new(AtomicBool::new(false));
        let (d, s, g) = (drops.clone(), started.clone(), gave_up.clone());
        let (remote, gave_up) = (remote.clone(), gave_up.clone());
        let caller = std::thread::spawn(move || {
            let result = remote.call_timeout(wait, move |_: &mut Ops<'_>| {
                s.store(true, Ordering::Release);
                while !g.load(Ordering::Acquire) {
                    std::thread::sleep(Duration::from_millis(1)); // until the caller gave up
                }
                Dropped(d)
            });
            gave_up.store(true, Ordering::Release);
            result.map(|_| ())
        });
        while !started.load(Ordering::Acquire) && !caller.is_finished() {
            r.run_once(Some(Duration::from_millis(10))).unwrap();
        }
        let ran = started.load(Ordering::Acquire);
        assert_eq!(caller.join().unwrap(), Err(Error::TimedOut));
        if ran {
            drop(r);
            assert_eq!(drops.load(Ordering::Relaxed), 1);
            return;
        }
        assert_eq!(drops.load(Ordering::Relaxed), 0, "a job that never started");
    }
    panic!("the reactor never started the job before its caller gave up");
}

#[test]
fn call_timeout_bounds_the_wait_for_room_too() {
    let _fds = fd_check();
    let mut r = bounded(1);
    let remote = r.remote().unwrap();
    remote.post(|_: &mut Ops<'_>| {}).unwrap(); // full
    let ran = Arc::new(AtomicBool::new(false));
    let job_ran = ran.clone();
    let caller = std::thread::spawn(move || {
        remote.call_timeout(Duration::from_millis(10), move |_: &mut Ops<'_>| {
            job_ran.store(true, Ordering::Release);
        })
    });
    assert_eq!(caller.join().unwrap(), Err(Error::TimedOut));
    for _ in 0..3 {
        r.run_once(NOW).unwrap();
    }
    assert!(!ran.load(Ordering::Acquire), "queued after all");
}

/// Runs `scenario` on a thread of its own (where its reactor lives) and gives its result, or
/// panics if it has not returned within a minute: a blocking call it makes that should have
/// been refused hangs there, and the test reports the hang instead of hanging.
fn returns<R: Send + 'static>(scenario: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(scenario());
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("a blocking call on the reactor's own thread hung instead of being refused")
}

/// A task runs on the reactor's thread, in its turn: a full queue, which only that thread can
/// empty, is refused to it (`WouldDeadlock`), never waited for; a `call` likewise.
#[cfg(feature = "tasks")]
#[test]
fn from_a_task_a_full_queue_and_a_call_are_refused_not_waited_for() {
    let _fds = fd_check();
    let seen = returns(|| {
        let mut r = bounded(1);
        let inner = r.remote().unwrap();
        let task = r
            .spawn(async move {
                // The turn took the queue before its tasks: fill it from here.
                while inner.try_post(|_: &mut Ops<'_>| {}).is_ok() {}
                let posted = inner.post(|_: &mut Ops<'_>| {}).err();
                let called = inner.call(|_: &mut Ops<'_>| ()).err();
                (posted, called)
            })
            .unwrap();
        r.block_on(task).unwrap().unwrap()
    });
    assert_eq!(
        seen,
        (Some(Error::WouldDeadlock), Some(Error::WouldDeadlock))
    );
}

/// The hook of `run_with_hook` runs on the reactor's thread between its turns, while the run
/// holds the reactor: no other thread can run it, so a full queue and a `call` are refused to
/// the hook, never waited for.
#[test]
fn from_the_run_hook_a_full_queue_and_a_call_are_refused_not_waited_for() {
    let _fds = fd_check();
    let seen = returns(|| {
        let mut r = bounded(1);
        let remote = r.remote().unwrap();
        remote.post(|_: &mut Ops<'_>| {}).unwrap(); // full
        let mut seen = None;
        r.run_with_hook(&mut (), |_, _| {
            let posted = remote.post(|_: &mut Ops<'_>| {}).err();
            let called = remote.call(|_: &mut Ops<'_>| ()).err();
            seen = Some((posted, called));
            std::ops::ControlFlow::Break(())
        })
        .unwrap();
        seen
    });
    assert_eq!(
        seen,
        Some((Some(Error::WouldDeadlock), Some(Error::WouldDeadlock)))
    );
}

/// A `Local` reactor only ever runs on the thread that made it: from that thread, while it does
/// not run (outside its loop, or in a handler of another reactor that thread runs), a full
/// queue or a `call` could only be served by the very thread that would wait, so both are
/// refused, never waited for.
#[test]
fn from_the_thread_of_a_local_reactor_that_is_not_running_a_full_queue_and_a_call_are_refused() {
    let _fds = fd_check();
    let seen = returns(|| {
        let mut idle = bounded(1);
        let remote = idle.remote().unwrap();
        remote.post(|_: &mut Ops<'_>| {}).unwrap(); // full
        let outside = (
            remote.post(|_: &mut Ops<'_>| {}).err(),
            remote.call(|_: &mut Ops<'_>| ()).err(),
        );
        // The same thread runs a second reactor, whose job posts to the first.
        let mut other = Reactor::new().unwrap();
        let nested = Arc::new(std::sync::Mutex::new(None));
        let n = nested.clone();
        other
            .remote()
            .unwrap()
            .post(move |ops: &mut Ops<'_>| {
                *n.lock().unwrap() = Some((
                    remote.post(|_: &mut Ops<'_>| {}).err(),
                    remote.call(|_: &mut Ops<'_>| ()).err(),
                ));
                ops.stop();
            })
            .unwrap();
        other.run().unwrap();
        let nested = nested.lock().unwrap().take();
        (outside, nested)
    });
    let refused = (Some(Error::WouldDeadlock), Some(Error::WouldDeadlock));
    assert_eq!(seen, (refused, Some(refused)));
}

/// A value whose destructor posts a job (which holds a `Dropped`) to `remote`, and records
/// what the post gave.
struct PostsWhenDropped {
    remote: barepoll::remote::Remote,
    drops: Arc<AtomicUsize>,
    refused: Arc<std::sync::Mutex<Vec<Option<Error>>>>,
}

impl Drop for PostsWhenDropped {
    fn drop(&mut self) {
        let inner = Dropped(self.drops.clone());
        let got = self.remote.post(move |_: &mut Ops<'_>| drop(inner)).err();
        self.refused.lock().unwrap().push(got);
        self.drops.fetch_add(1, Ordering::Relaxed);
    }
}

/// Jobs dropped unrun with a full queue when the reactor drops, whose destructors post again:
/// every post is refused (`Closed`) at once, and every value is dropped exactly once.
#[test]
fn jobs_dropped_with_a_full_queue_whose_destructors_post_are_refused_and_dropped_once() {
    let _fds = fd_check();
    let got = returns(|| {
        let mut r = bounded(2);
        let remote = r.remote().unwrap();
        let drops = Arc::new(AtomicUsize::new(0));
        let refused = Arc::new(std::sync::Mutex::new(Vec::new()));
        for _ in 0..2 {
            let guard = PostsWhenDropped {
                remote: remote.clone(),
                drops: drops.clone(),
                refused: refused.clone(),
            };
            remote.post(move |_: &mut Ops<'_>| drop(guard)).unwrap();
        }
        // Full; a poster on another thread waits for room, and its job posts when dropped.
        let waiting = {
            let guard = PostsWhenDropped {
                remote: remote.clone(),
                drops: drops.clone(),
                refused: refused.clone(),
            };
            let remote = remote.clone();
            std::thread::spawn(move || remote.post(move |_: &mut Ops<'_>| drop(guard)).err())
        };
        std::thread::sleep(Duration::from_millis(20));
        drop(r);
        let waited = waiting.join().unwrap();
        drop(remote);
        let refused = refused.lock().unwrap().clone();
        (waited, refused, drops.load(Ordering::Relaxed))
    });
    // Three guards and three inner jobs' values, each dropped once; every post refused.
    assert_eq!(got, (Some(Error::Closed), vec![Some(Error::Closed); 3], 6));
}

/// Callers on several threads race short timeouts against a bounded reactor that serves them:
/// every call's result is either handed back (`Ok`, its job ran) or `TimedOut`; a job runs at
/// most once; every result a job made is dropped exactly once, handed back or not.
#[test]
fn call_timeouts_racing_the_jobs_start_run_each_job_at_most_once_and_drop_each_result_once() {
    let _fds = fd_check();
    let mut r = bounded(4);
    let remote = r.remote().unwrap();
    let (ran, drops, done) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
    );
    const CALLS: u64 = if cfg!(miri) { 10 } else { 200 };
    let callers: Vec<_> = (0..4)
        .map(|t| {
            let (remote, ran, drops, done) =
                (remote.clone(), ran.clone(), drops.clone(), done.clone());
            std::thread::spawn(move || {
                let (mut ok, mut timed_out) = (0, 0);
                for i in 0..CALLS {
                    let (ran, drops) = (ran.clone(), drops.clone());
                    let timeout = Duration::from_micros((i * 7 + t) % 300);
                    match remote.call_timeout(timeout, move |_: &mut Ops<'_>| {
                        ran.fetch_add(1, Ordering::Relaxed);
                        Dropped(drops)
                    }) {
                        Ok(result) => {
                            ok += 1;
                            drop(result);
                        }
                        Err(Error::TimedOut) => timed_out += 1,
                        Err(e) => panic!("{e:?}"),
                    }
                }
                done.fetch_add(1, Ordering::Release);
                (ok, timed_out)
            })
        })
        .collect();
    while done.load(Ordering::Acquire) < 4 {
        r.run_once(Some(Duration::from_millis(1))).unwrap();
    }
    let (mut ok, mut timed_out) = (0, 0);
    for caller in callers {
        let (o, t) = caller.join().unwrap();
        (ok, timed_out) = (ok + o, timed_out + t);
    }
    // The jobs still queued when their callers gave up: taken, and skipped, by these turns.
    for _ in 0..3 {
        r.run_once(NOW).unwrap();
    }
    drop(r);
    let ran = ran.load(Ordering::Relaxed) as u64;
    assert_eq!(ok + timed_out, 4 * CALLS);
    assert!(ran >= ok && ran <= 4 * CALLS, "ran {ran}, ok {ok}");
    let drops = drops.load(Ordering::Relaxed) as u64;
    assert_eq!(drops, ran, "a result dropped twice or never");
}

/// Posters race a bounded queue against a reactor that keeps going idle: each round a
/// poster queues a job with `try_post` (trying again while full), one with `post` (waiting
/// for room), and now and then makes a `call`, then waits until its jobs have run; now and
/// then a job panics, leaving the rest of its batch for a wake of its own. A job left in the
/// queue with no wake to come hangs here.
#[test]
fn bounded_posts_racing_the_reactor_going_idle_and_panicking_jobs_are_never_lost() {
    use barepoll::Sendable;
    const POSTERS: usize = 3;
    const ROUNDS: usize = if cfg!(miri) { 8 } else { 2_000 };
    const PANIC_EVERY: usize = 997;
    let total = returns(|| {
        let _fds = fd_check();
        let mut r = Reactor::builder()
            .state::<usize>()
            .sendable()
            .remote_capacity(2)
            .build()
            .unwrap();
        let remote = r.remote().unwrap();
        let posters: Vec<_> = (0..POSTERS)
            .map(|_| {
                let remote = remote.clone();
                std::thread::spawn(move || {
                    let ran = Arc::new(AtomicUsize::new(0));
                    let job = |ran: &Arc<AtomicUsize>| {
                        let ran = ran.clone();
                        move |ops: &mut Ops<'_, usize, Sendable>| {
                            *ops.data() += 1;
                            ran.fetch_add(1, Ordering::Release);
                            if *ops.data() % PANIC_EVERY == 0 {
                                panic!("a job's planted panic");
                            }
                        }
                    };
                    let mut want = 0;
                    for round in 0..ROUNDS {
                        let mut queued = job(&ran);
                        while let Err(refused) = remote.try_post(queued) {
                            assert_eq!(refused.error, Error::Full);
                            queued = refused.job;
                            std::thread::yield_now();
                        }
                        remote.post(job(&ran)).unwrap();
                        want += 2;
                        if round % 8 == 0 {
                            let seen =
                                remote.call(|ops: &mut Ops<'_, usize, Sendable>| *ops.data());
                            assert!(seen.unwrap() >= 1);
                        }
                        while ran.load(Ordering::Acquire) < want {
                            std::thread::yield_now();
                        }
                    }
                })
            })
            .collect();
        let watcher = {
            let remote = remote.clone();
            std::thread::spawn(move || {
                // Once every poster is through, one last job stops the reactor.
                for poster in posters {
                    poster.join().unwrap();
                }
                remote
                    .post(|ops: &mut Ops<'_, usize, Sendable>| ops.stop())
                    .unwrap();
            })
        };
        let mut count = 0;
        // A planted panic comes out of `run_with`; the reactor runs on.
        while std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| r.run_with(&mut count)))
            .map(Result::unwrap)
            .is_err()
        {}
        watcher.join().unwrap();
        count
    });
    assert_eq!(total, POSTERS * 2 * ROUNDS);
}
