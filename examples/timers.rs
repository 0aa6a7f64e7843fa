//! Timers in the reactor: a periodic tick, one-shot timers armed from a callback, a timeout
//! reset by activity, a cancel; then the lateness of 1000 one-millisecond timers.
//!
//! ```text
//! cargo run --release --example timers
//! ```
//!
//! Arming, resetting and cancelling cost no syscall. A timer never fires early: it fires at
//! its deadline, late by however long the loop was busy plus the kernel's wake-up (the
//! reactor's timerfd is set to the earliest deadline; without one, the wait's timeout:
//! nanoseconds with `epoll_pwait2`, a millisecond on older kernels).

use barepoll::{Instant, Ops, Reactor, Timer};
use std::time::Duration;

/// What the callbacks share.
#[derive(Default)]
pub struct Log {
    pub lines: Vec<String>,
    pub ticks: u32,
    /// How long after its arming each measured timer fired, in nanoseconds.
    pub fired_after: Vec<u64>,
}

type LOps<'a> = Ops<'a, Log>;

/// A tick every 10 ms; the third one arms a one-shot timer and cancels a far one; a timeout
/// that activity keeps postponing; the run ends when the timeout finally fires.
pub fn demo() -> barepoll::Result<Log> {
    let mut reactor = Reactor::builder().state::<Log>().build()?;
    let start = Instant::now();
    let far = reactor.arm(
        Timer::after(Duration::from_secs(3600)),
        |_: &mut LOps<'_>| unreachable!("cancelled long before"),
    )?;
    let idle = reactor.arm(
        Timer::after(Duration::from_millis(25)),
        move |ops: &mut LOps<'_>| {
            let ms = start.elapsed().as_millis();
            ops.data()
                .lines
                .push(format!("{ms:>3} ms  idle timeout: done"));
            ops.stop();
        },
    )?;
    reactor.arm(
        Timer::after(Duration::from_millis(10)).every(Duration::from_millis(10)),
        move |ops: &mut LOps<'_>| {
            ops.data().ticks += 1;
            let (tick, ms) = (ops.data().ticks, start.elapsed().as_millis());
            ops.data().lines.push(format!("{ms:>3} ms  tick {tick}"));
            if tick <= 5 {
                // Activity: the idle timeout moves 25 ms ahead again.
                ops.reset(idle, Timer::after(Duration::from_millis(25)))
                    .unwrap();
            }
            if tick == 3 {
                ops.cancel(far).unwrap();
                ops.arm(
                    Timer::after(Duration::from_millis(5)),
                    move |ops: &mut LOps<'_>| {
                        let ms = start.elapsed().as_millis();
                        ops.data()
                            .lines
                            .push(format!("{ms:>3} ms  one-shot, armed at tick 3"));
                    },
                )
                .unwrap();
            }
        },
    )?;
    let mut log = Log::default();
    reactor.run_with(&mut log)?;
    Ok(log)
}

/// Arms `count` one-millisecond timers, one after another, and records how long after its
/// arming each one fired (never less than a millisecond: nothing fires early).
pub fn fired_after(count: usize) -> barepoll::Result<Vec<u64>> {
    let mut reactor = Reactor::builder().state::<Log>().build()?;
    let mut log = Log::default();
    for _ in 0..count {
        let armed = Instant::now();
        reactor.arm(
            Timer::after(Duration::from_millis(1)),
            move |ops: &mut LOps<'_>| {
                let after = armed.elapsed().as_nanos() as u64;
                ops.data().fired_after.push(after);
            },
        )?;
        // One at a time: the next is armed once this one fired.
        let before = log.fired_after.len();
        while log.fired_after.len() == before {
            reactor.run_once_with(None, &mut log)?;
        }
    }
    Ok(log.fired_after)
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[cfg_attr(test, allow(dead_code))]
fn main() -> barepoll::Result<()> {
    for line in demo()?.lines {
        println!("{line}");
    }
    let mut late: Vec<u64> = fired_after(1000)?.iter().map(|ns| ns - 1_000_000).collect();
    late.sort_unstable();
    println!(
        "1000 one-millisecond timers, lateness: p50 {} µs, p99 {} µs, max {} µs",
        percentile(&late, 0.5) / 1000,
        percentile(&late, 0.99) / 1000,
        late[late.len() - 1] / 1000
    );
    Ok(())
}
