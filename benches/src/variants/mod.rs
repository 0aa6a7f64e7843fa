//! The variants side by side. Each builds the same two harnesses over the same fds:
//! - dispatch: `ready` never-drained level-triggered eventfds plus `idle` ones that never fire;
//!   one turn is one wait and the dispatch of its events, whose handlers bump a counter;
//! - churn: one always-ready driver whose handler does [`PAIRS`] add+delete pair(s) of a
//!   subscriber on another eventfd (a handler like the dispatch ones: it would bump a shared
//!   counter); one turn is one wait and that handler.
//!
//! Every harness runs its turns through a function with a stable symbol (`bench_<kind>_<id>`),
//! which is what callgrind's `--toggle-collect` names.

use std::os::fd::BorrowedFd;

pub mod barepoll;
pub mod event_manager;
pub mod eventp;
pub mod floor;
pub mod mio;
pub mod polling;

/// Harnesses borrow their fds; the pools in `setup` own them for the life of the process.
pub type Fd = BorrowedFd<'static>;

/// Add+delete pairs per churn handler call. One: the figure per pair then includes one wait
/// and one dispatch, which the dispatch N=1 figure gives alone.
pub const PAIRS: u64 = 1;

/// Events per wait for the churn harnesses (each library's default).
pub const CHURN_CAPACITY: usize = 256;

/// A built harness: `run` goes through the measured function, `warm` does not.
pub trait Runner {
    fn warm(&mut self, turns: u64);
    fn run(&mut self, turns: u64);
    /// Handler calls (dispatch) or add+delete pairs (churn) so far.
    fn done(&self) -> u64;
}

pub struct Variant {
    /// The symbol suffix and the command-line name.
    pub id: &'static str,
    pub label: &'static str,
    pub dispatch: fn(ready: &[Fd], idle: &[Fd]) -> Box<dyn Runner>,
    pub churn: fn(driver: Fd, churned: Fd) -> Box<dyn Runner>,
}

macro_rules! variant {
    ($module:ident, $label:literal) => {
        Variant {
            id: stringify!($module),
            label: $label,
            dispatch: |ready, idle| Box::new($module::Dispatch::new(ready, idle)),
            churn: |driver, churned| Box::new($module::Churn::new(driver, churned)),
        }
    };
}

/// The floor first: every ratio is to it.
pub const ALL: [Variant; 6] = [
    variant!(floor, "raw floor"),
    variant!(barepoll, "barepoll"),
    variant!(eventp, "eventp 1"),
    variant!(event_manager, "event-manager 0.4"),
    variant!(mio, "mio 1 + slab"),
    variant!(polling, "polling 3"),
];

/// Makes a harness type (with `turn(&mut self)` and `done(&self) -> u64`) a [`Runner`] whose
/// `run` is the measured function `$symbol`.
macro_rules! measured {
    ($harness:ty, $symbol:ident) => {
        #[no_mangle]
        #[inline(never)]
        pub fn $symbol(harness: &mut $harness, turns: u64) {
            for _ in 0..turns {
                harness.turn();
            }
        }

        impl $crate::variants::Runner for $harness {
            fn warm(&mut self, turns: u64) {
                for _ in 0..turns {
                    self.turn();
                }
            }
            fn run(&mut self, turns: u64) {
                $symbol(self, turns)
            }
            fn done(&self) -> u64 {
                <$harness>::done(self)
            }
        }
    };
}
pub(crate) use measured;
