//! What one reading of the monotonic clock costs on this machine, both ways it is read here:
//! barepoll's (`barepoll::Instant::now`, through the vDSO by its own lookup, no libc) and std's
//! (glibc's `clock_gettime`, through the vDSO where the kernel offers one, as calloop and
//! polling read it). Under valgrind there is no vDSO, so both are syscalls there.

use std::hint::black_box;

/// Nanoseconds per reading, barepoll's then std's: medians of interleaved rounds.
pub fn reading_cost(rounds: usize) -> (f64, f64) {
    crate::raw::two_ways(
        rounds,
        2048,
        || {
            black_box(barepoll::Instant::now());
        },
        || {
            black_box(std::time::Instant::now());
        },
    )
}
