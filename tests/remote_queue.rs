//! The remote queue under load: posts go to a lock-free ring and, when it is full or jobs
//! wait past it, to a list under a lock. These attack the seams: each thread's order across
//! ring and list, a wake never lost while the reactor is busy, jobs never stranded when the
//! reactor closes the queue under a stream of posts.
#![cfg(feature = "std")]
mod common;

use barepoll::{Error, Ops, Reactor, Sendable};
use common::*;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Each poster's jobs check, as they run, that they come in the order posted; the reactor
/// stalls now and then so the ring fills and posts spill into the list, and catches up in
/// between, so the list empties and posts go back to the ring.
#[test]
fn each_threads_jobs_run_in_order_across_the_ring_and_the_list() {
    const THREADS: usize = 3;
    // Fewer under Miri and valgrind, which run the threads a hundred times slower or more.
    let posts: u64 = if cfg!(miri) {
        300
    } else if under_valgrind() {
        4_000
    } else if cfg!(target_arch = "aarch64") {
        20_000 // under qemu-user, here
    } else {
        60_000
    };
    let stall_every = posts.div_ceil(12).max(100);
    let (ran, stalls) = within_a_minute(move || {
        let _fds = fd_check();
        let mut r = Reactor::builder()
            .state::<(Vec<u64>, u64)>()
            .sendable()
            .build()
            .unwrap();
        let remote = r.remote().unwrap();
        let posters: Vec<_> = (0..THREADS)
            .map(|t| {
                let remote = remote.clone();
                std::thread::spawn(move || {
                    for i in 0..posts {
                        remote
                            .post(move |ops: &mut Ops<'_, (Vec<u64>, u64), Sendable>| {
                                let (next, stalls) = ops.data();
                                assert_eq!(next[t], i, "thread {t}'s job {i} out of order");
                                next[t] += 1;
                                if i % stall_every == stall_every - 1 {
                                    // Long enough for the poster to fill the ring.
                                    std::thread::sleep(Duration::from_millis(2));
                                    *stalls += 1;
                                }
                                if next.iter().all(|&n| n == posts) {
                                    ops.stop();
                                }
                            })
                            .unwrap();
                    }
                })
            })
            .collect();
        let mut state = (vec![0; THREADS], 0);
        r.run_with(&mut state).unwrap();
        for poster in posters {
            poster.join().unwrap();
        }
        state
    });
    assert_eq!(ran, vec![posts; THREADS]);
    assert_eq!(stalls, THREADS as u64 * (posts / stall_every));
}

/// Counts a job as run or as dropped unrun, once.
struct Tally {
    ran: AtomicU64,
    dropped: AtomicU64,
}

struct Counted(Arc<Tally>, bool);

impl Drop for Counted {
    fn drop(&mut self) {
        let which = if self.1 { &self.0.ran } else { &self.0.dropped };
        which.fetch_add(1, Ordering::Relaxed);
    }
}

/// Posters post without pause while the reactor runs a few turns and drops. Every job a post
/// accepted is run or dropped, once, by the time the posts are refused: none is left in the
/// queue where nothing would ever run or drop it (the posters still hold the handles).
#[test]
fn closing_under_a_stream_of_posts_strands_no_job() {
    const THREADS: usize = 4;
    /// Posts a poster makes at full speed.
    const FLOOD: u64 = 3_000;
    let rounds = if cfg!(miri) {
        3
    } else if under_valgrind() {
        20
    } else if cfg!(target_arch = "aarch64") {
        200 // under qemu-user, here
    } else {
        1_000
    };
    within_a_minute(move || {
        let _fds = fd_check();
        for round in 0..rounds {
            let tally = Arc::new(Tally {
                ran: AtomicU64::new(0),
                dropped: AtomicU64::new(0),
            });
            let mut r = Reactor::builder().state::<()>().sendable().build().unwrap();
            let remote = r.remote().unwrap();
            let posters: Vec<_> = (0..THREADS)
                .map(|_| {
                    let (remote, tally) = (remote.clone(), tally.clone());
                    std::thread::spawn(move || {
                        let mut accepted = 0u64;
                        loop {
                            let counted = Counted(tally.clone(), false);
                            let job = move |_: &mut Ops<'_, (), Sendable>| {
                                let mut counted = counted;
                                counted.1 = true;
                            };
                            match remote.post(job) {
                                Ok(()) => accepted += 1,
                                Err(Error::Closed) => break,
                                Err(e) => panic!("{e:?}"),
                            }
                            if accepted > FLOOD {
                                // Past the ring and into the list: now slowly, so a reactor
                                // thread the scheduler leaves waiting (valgrind runs one
                                // thread at a time) is not buried under jobs to drop.
                                std::thread::sleep(Duration::from_micros(200));
                            }
                        }
                        // Refused now: every accepted job has been run or dropped.
                        let (ran, dropped) = (&tally.ran, &tally.dropped);
                        (
                            accepted,
                            remote,
                            ran.load(Ordering::Relaxed),
                            dropped.load(Ordering::Relaxed),
                        )
                    })
                })
                .collect();
            for _ in 0..(round % 7) {
                r.run_once_with(Some(Duration::ZERO), &mut ()).unwrap();
            }
            drop(r);
            let mut accepted = 0;
            let mut handles = Vec::new();
            for poster in posters {
                let (a, handle, _, _) = poster.join().unwrap();
                accepted += a;
                handles.push(handle);
            }
            // The handles live: nothing has been dropped with the queue's memory.
            let (ran, dropped) = (
                tally.ran.load(Ordering::Relaxed),
                tally.dropped.load(Ordering::Relaxed),
            );
            // Each poster's last job was refused (and dropped) too.
            let refused = THREADS as u64;
            assert_eq!(
                ran + dropped,
                accepted + refused,
                "round {round}: a job was stranded"
            );
            drop(handles);
            drop(remote);
            let total = tally.ran.load(Ordering::Relaxed) + tally.dropped.load(Ordering::Relaxed);
            assert_eq!(total, accepted + THREADS as u64);
        }
    });
}

/// A stop asked for by a handler before the jobs run does not end them: a subscriber that
/// stops every turn must not hold the queue back to one job a turn.
#[test]
fn a_stop_asked_for_before_the_jobs_does_not_hold_them_back() {
    let _fds = fd_check();
    let mut r = Reactor::builder().state::<Vec<u32>>().build().unwrap();
    let remote = r.remote().unwrap();
    // Ready before the remote's eventfd: first in the batch (the kernel reports in the order
    // fds became ready).
    barepoll::interest()
        .read()
        .with_fd(barepoll::sys::eventfd(1, 0).unwrap())
        .with_handler(|ops: &mut Ops<'_, Vec<u32>>| ops.stop())
        .register_into(&mut r)
        .unwrap();
    for i in 0..100 {
        remote
            .post(move |ops: &mut Ops<'_, Vec<u32>>| ops.data().push(i))
            .unwrap();
    }
    let mut ran = Vec::new();
    r.run_once_with(Some(Duration::ZERO), &mut ran).unwrap();
    assert!(r.stop_requested());
    assert_eq!(
        ran,
        (0..100).collect::<Vec<_>>(),
        "the handler's stop held the jobs back"
    );
}
