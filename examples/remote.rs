//! A worker thread hands results back to the loop: remote calls, fire-and-forget and blocking.
//!
//! ```text
//! cargo run --release --example remote
//! ```
//!
//! The worker computes primes and posts each one to the reactor's thread, where a closure
//! adds it to the state the loop owns; then it asks, with a blocking call, how many the loop
//! has, and tells it to stop. No locks in user code, no `unsafe`, no channels to poll.

use barepoll::{Ops, Reactor};

/// What the loop owns; only closures run on its thread touch it.
#[derive(Default)]
pub struct Results {
    pub primes: Vec<u64>,
}

type ROps<'a> = Ops<'a, Results>;

fn is_prime(n: u64) -> bool {
    n >= 2 && (2..).take_while(|d| d * d <= n).all(|d| n % d != 0)
}

/// Runs the loop while a worker finds the primes below `limit`; returns them, in order, and
/// what the worker's blocking call got back.
pub fn run(limit: u64) -> barepoll::Result<(Vec<u64>, usize)> {
    let mut reactor = Reactor::builder().state::<Results>().build()?;
    let remote = reactor.remote()?;
    let worker = std::thread::spawn(move || -> barepoll::Result<usize> {
        for n in (2..limit).filter(|&n| is_prime(n)) {
            remote.post(move |ops: &mut ROps<'_>| ops.data().primes.push(n))?;
        }
        // Runs after every post before it (one thread's posts run in order).
        remote.call(|ops: &mut ROps<'_>| {
            ops.stop();
            ops.data().primes.len()
        })
    });
    let mut results = Results::default();
    reactor.run_with(&mut results)?;
    let counted = worker.join().expect("worker panicked")?;
    Ok((results.primes, counted))
}

#[cfg_attr(test, allow(dead_code))]
fn main() -> barepoll::Result<()> {
    let (primes, counted) = run(100_000)?;
    println!(
        "the loop received {} primes below 100000 (the worker's call counted {counted}); last {:?}",
        primes.len(),
        primes.last()
    );
    Ok(())
}
