//! Timers side by side: barepoll's timing wheel and calloop's `Timer` sources. Each module
//! builds the timer cases' harnesses (per wait with armed timers, arm+cancel and reset from a
//! handler, idle timers reset per event, timers spread over a second), and runs the lateness
//! probe and the arm+cancel memory probe.
//!
//! Every timer that should not fire keeps a counter that its callback would bump: a timer
//! that fired early shows up as work nobody asked for, and the check fails.

use crate::cases::Case;
use crate::memory::Footprint;
use crate::variants::{Fd, Runner};
use std::time::Duration;

pub mod barepoll;
pub mod calloop;

/// What a variant with timers offers.
pub struct Harnesses {
    /// The harness of a timer case (its `kind` says which) over its ready fds.
    pub build: fn(case: &Case, ready: &[Fd]) -> Box<dyn Runner>,
    /// Arms `n` one-millisecond timers one after another, each from the callback of the one
    /// before; returns each one's lateness in nanoseconds.
    pub lateness: fn(n: usize) -> Vec<u64>,
    /// Arm+cancel cycles (each: arm, one turn that does not block, cancel) into a loop with
    /// one standing timer; the heap held by the loop after each cumulative count in `after`.
    pub cycles: fn(after: &[u64]) -> Vec<Footprint>,
    /// The most spread timers it is measured with (natively, under callgrind), and why not
    /// more.
    pub spread_max: (usize, usize),
    pub why: &'static str,
}

/// Events per wait in the idle-reset case, for every variant (calloop's fixed buffer).
pub const IDLE_WAIT: usize = 1024;

/// The connections' idle timeout, and the deadline of the armed timers of the pair and reset
/// cases.
pub const IDLE: Duration = Duration::from_secs(30);

/// The lateness probe's timeout.
pub const MS: Duration = Duration::from_millis(1);

/// In the arm+cancel memory probe: the standing timer's deadline, and the cycled timers'
/// (later, so that calloop's cancel takes its general path, not the heap's top).
pub const STANDING: Duration = Duration::from_secs(600);
pub const CYCLED: Duration = Duration::from_secs(1200);

/// Deadline `i` of `n` armed timers that never fire: an hour ahead, spread over a minute so
/// that they fall in many wheel slots and heap positions. (64-bit arithmetic, exact for the
/// counts here: these run inside the measured functions.)
pub fn far(i: usize, n: usize) -> Duration {
    Duration::from_secs(3600) + Duration::from_nanos(60_000_000_000 * i as u64 / n as u64)
}

/// Deadline `i` of `n` spread timers: evenly over one second, from 1/n s to 1 s.
pub fn spread(i: usize, n: usize) -> Duration {
    Duration::from_nanos(1_000_000_000 * (i as u64 + 1) / n as u64)
}
