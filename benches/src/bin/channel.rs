//! Values from one thread to the loop: `channel [VALUES] [ROUNDS]` sends VALUES `u64`s (a
//! million by default) from a spawned thread to a loop on this thread through a channel of
//! 1024 slots, blocking while it is full, and prints the wall time from the spawn to the
//! last value summed on the loop's thread, the median of ROUNDS (5) rounds, the variants
//! interleaved round by round. Variants:
//!
//! - `barepoll`: `channel::bounded` + `Receiver::on_message` on a `Reactor`, `Sender::send`;
//! - `std+mio`: `std::sync::mpsc::sync_channel(1024)` and a `mio::Waker` the sender wakes
//!   after every send (as mio's docs show), the loop draining with `try_recv` at each wake;
//! - `std+mio (flag)`: the same, the sender waking only when an `AtomicBool` says no wake is
//!   under way (the loop clears it before draining): one `write` per turn, as barepoll's.
//!
//! The sender's `write` syscalls are counted from `/proc/thread-self/io` (`syscw`).

use barepoll_benches::syscalls;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::sync_channel;
use std::sync::Arc;
use std::time::{Duration, Instant};

const CAPACITY: usize = 1024;

/// Wall time and the sender's writes.
type Round = (Duration, Option<u64>);

fn barepoll_round(values: u64) -> Round {
    let mut reactor = barepoll::Reactor::builder()
        .state::<(u64, u64)>()
        .build()
        .unwrap();
    let (tx, rx) = barepoll::channel::bounded::<u64>(CAPACITY).unwrap();
    rx.on_message(|v: u64, ops: &mut barepoll::Ops<'_, (u64, u64)>| {
        let (sum, seen) = ops.data();
        *sum = sum.wrapping_add(v);
        *seen += 1;
    })
    .register_into(&mut reactor)
    .unwrap();
    let start = Instant::now();
    let sender = std::thread::spawn(move || {
        let before = syscalls::thread_writes();
        for v in 0..values {
            tx.send(v).unwrap();
        }
        Some(syscalls::thread_writes()? - before?)
    });
    let mut state = (0u64, 0u64);
    while state.1 < values {
        reactor.run_once_with(None, &mut state).unwrap();
    }
    let took = start.elapsed();
    assert_eq!(state.0, (0..values).sum::<u64>());
    (took, sender.join().unwrap())
}

fn mio_round(values: u64, coalesce: bool) -> Round {
    const WAKE: mio::Token = mio::Token(0);
    let mut poll = mio::Poll::new().unwrap();
    let waker = Arc::new(mio::Waker::new(poll.registry(), WAKE).unwrap());
    let pending = Arc::new(AtomicBool::new(false));
    let (tx, rx) = sync_channel::<u64>(CAPACITY);
    let start = Instant::now();
    let sender = {
        let (waker, pending) = (waker.clone(), pending.clone());
        std::thread::spawn(move || {
            let before = syscalls::thread_writes();
            for v in 0..values {
                tx.send(v).unwrap();
                if !coalesce || !pending.swap(true, Ordering::AcqRel) {
                    waker.wake().unwrap();
                }
            }
            Some(syscalls::thread_writes()? - before?)
        })
    };
    let mut events = mio::Events::with_capacity(64);
    let (mut sum, mut seen) = (0u64, 0u64);
    while seen < values {
        poll.poll(&mut events, None).unwrap();
        for event in events.iter() {
            if event.token() != WAKE {
                continue;
            }
            if coalesce {
                pending.swap(false, Ordering::AcqRel);
            }
            // Until `Empty` (or `Disconnected`, once the sender is done).
            while let Ok(v) = rx.try_recv() {
                sum = sum.wrapping_add(v);
                seen += 1;
            }
        }
    }
    let took = start.elapsed();
    assert_eq!(sum, (0..values).sum::<u64>());
    (took, sender.join().unwrap())
}

fn main() {
    let mut args = std::env::args().skip(1);
    let values: u64 = args.next().map_or(1_000_000, |a| a.parse().unwrap());
    let rounds: usize = args.next().map_or(5, |a| a.parse().unwrap());
    let names = ["barepoll", "std+mio", "std+mio (flag)"];
    let mut results: Vec<Vec<Round>> = vec![Vec::new(); names.len()];
    for _ in 0..rounds {
        results[0].push(barepoll_round(values));
        results[1].push(mio_round(values, false));
        results[2].push(mio_round(values, true));
    }
    println!("{values} values, channel of {CAPACITY}, median of {rounds} rounds");
    for (name, mut rounds) in names.iter().zip(results) {
        rounds.sort_by_key(|r| r.0);
        let (took, writes) = rounds[rounds.len() / 2];
        let per = took.as_nanos() as f64 / values as f64;
        let writes = writes.map_or("?".to_string(), |w| w.to_string());
        println!("{name:>16}: {took:>10.2?} ({per:.1} ns a value), sender's writes {writes}");
    }
}
