//! Per-fd counters and the tally that checks them.
//!
//! Every variant keeps a [`Count`] in each fd's own state (no counter is shared between fds),
//! and its handler bumps it in place. A counter adds itself to the process-wide tally when it
//! is dropped, so dropping a harness tells how many events (or add+delete pairs) it handled,
//! whatever the library keeps its values in: a variant that skipped work shows up short.

use std::sync::atomic::{AtomicU64, Ordering};

static TALLY: AtomicU64 = AtomicU64::new(0);

/// One fd's own counter.
#[derive(Default)]
pub struct Count(u64);

impl Count {
    pub const fn new() -> Count {
        Count(0)
    }

    #[inline(always)]
    pub fn bump(&mut self) {
        self.0 += 1;
    }

    /// Counts `n` at once: work a harness checked and counted as a whole (a spread's fired
    /// timers, a round's remote calls).
    pub fn add(&mut self, n: u64) {
        self.0 += n;
    }
}

impl Drop for Count {
    fn drop(&mut self) {
        // Counters of churned subscribers never fire: dropping them costs one test.
        if self.0 != 0 {
            TALLY.fetch_add(self.0, Ordering::Relaxed);
        }
    }
}

/// What dropped counters have added up to so far.
pub fn tally() -> u64 {
    TALLY.load(Ordering::Relaxed)
}

/// What dropping `value` adds to the tally: the work done by everything it owns.
pub fn counted_by_drop<T>(value: T) -> u64 {
    let before = tally();
    drop(value);
    tally() - before
}
