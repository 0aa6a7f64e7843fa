//! The variants side by side. Each builds the same two harnesses over the same fds:
//! - dispatch: `ready` never-drained level-triggered eventfds plus `idle` ones that never fire;
//!   one turn is one wait (no timeout) and the dispatch of its events, whose handlers bump
//!   their own fd's counter;
//! - churn: one always-ready driver whose handler does [`PAIRS`] add+delete pair(s) of a
//!   subscriber (a [`Conn`] like the dispatch ones) on another eventfd; one turn is one wait
//!   and that handler.
//!
//! and a memory probe that registers idle fds into an empty reactor. Every harness runs its
//! turns through a function with a stable symbol (`bench_<kind>_<id>`), which is what
//! callgrind's `--toggle-collect` names.
//!
//! The variants with timers (`timers/`) and with remote calls (`remote/`) have harnesses for
//! those cases too.

use crate::count::Count;
use crate::memory::Footprint;
use std::os::fd::{AsFd, BorrowedFd};

pub mod barepoll;
pub mod barepoll_sub;
pub mod calloop;
pub mod event_manager;
pub mod eventp;
pub mod index;
pub mod mio;
pub mod mio_boxed;
pub mod polling;
pub mod polling_boxed;
pub mod remote;
pub mod thin;
pub mod timers;

/// Harnesses borrow their fds; the pool in `setup` owns them for the life of the process.
pub type Fd = BorrowedFd<'static>;

/// What every variant keeps per fd, whatever holds it (a slab, a node, a closure's captures):
/// the fd and its own counter. Its size is the "user's value" of the memory table.
pub struct Conn {
    pub fd: Fd,
    pub count: Count,
}

impl Conn {
    pub fn new(fd: Fd) -> Conn {
        Conn {
            fd,
            count: Count::new(),
        }
    }
}

impl AsFd for Conn {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd
    }
}

/// Add+delete pairs per churn handler call. One: the figure per pair then includes one wait
/// and one dispatch, which the dispatch N=1 figure gives alone.
pub const PAIRS: u64 = 1;

/// Events per wait for the churn harnesses (barepoll's default; calloop's is fixed at 1024).
pub const CHURN_CAPACITY: usize = 256;

/// A built harness: `run` goes through the measured function, `warm` does not. What it did is
/// told by dropping it (see `count`).
pub trait Runner {
    fn warm(&mut self, turns: u64);
    fn run(&mut self, turns: u64);
    /// `write` syscalls its other threads made so far (warm-up included), where it counts
    /// them: the remote harnesses' posting threads.
    fn writes(&self) -> Option<u64> {
        None
    }
}

pub struct Variant {
    /// The symbol suffix and the command-line name.
    pub id: &'static str,
    pub label: &'static str,
    pub dispatch: fn(ready: &[Fd], idle: &[Fd]) -> Box<dyn Runner>,
    pub churn: fn(driver: Fd, churned: Fd) -> Box<dyn Runner>,
    /// Registers every fd into an empty reactor; returns the heap growth.
    pub memory: fn(fds: &[Fd]) -> Footprint,
    /// The timer harnesses, for a variant with timers.
    pub timers: Option<&'static timers::Harnesses>,
    /// The remote-call harness, for a variant with remote calls.
    pub remote: Option<fn() -> Box<dyn Runner>>,
}

macro_rules! variant {
    ($module:ident, $label:literal) => {
        Variant {
            id: stringify!($module),
            label: $label,
            dispatch: |ready, idle| Box::new($module::Dispatch::new(ready, idle)),
            churn: |driver, churned| Box::new($module::Churn::new(driver, churned)),
            memory: $module::memory,
            timers: None,
            remote: None,
        }
    };
}

/// The index loop first: every ratio is to it.
pub const ALL: [Variant; 11] = [
    variant!(index, "index loop"),
    variant!(thin, "thin-pointer loop"),
    variant!(barepoll_sub, "barepoll (Subscriber)"),
    Variant {
        timers: Some(&timers::barepoll::HARNESSES),
        remote: Some(remote::barepoll::harness),
        ..variant!(barepoll, "barepoll (closure)")
    },
    variant!(mio, "mio + plain slab"),
    Variant {
        remote: Some(remote::mio::harness),
        ..variant!(mio_boxed, "mio + boxed closures")
    },
    variant!(polling, "polling + plain slab"),
    variant!(polling_boxed, "polling + boxed closures"),
    Variant {
        remote: Some(remote::eventp::harness),
        ..variant!(eventp, "eventp")
    },
    Variant {
        remote: Some(remote::event_manager::harness),
        ..variant!(event_manager, "event-manager")
    },
    Variant {
        timers: Some(&timers::calloop::HARNESSES),
        ..variant!(calloop, "calloop")
    },
];

pub fn find(id: &str) -> Option<&'static Variant> {
    ALL.iter().find(|v| v.id == id)
}

/// The position of `id` in [`ALL`].
pub fn position(id: &str) -> usize {
    ALL.iter()
        .position(|v| v.id == id)
        .expect("a known variant")
}

/// Makes a harness type (with `turn(&mut self)`) a [`Runner`] whose `run` is the measured
/// function `$symbol`.
macro_rules! measured {
    ($harness:ty, $symbol:ident) => {
        #[no_mangle]
        #[inline(never)]
        pub fn $symbol(harness: &mut $harness, turns: u64) {
            // Tells identical bodies apart, so that LLVM does not merge two measured functions
            // into one symbol (callgrind would then name only one of them). Once per call.
            std::hint::black_box(stringify!($symbol));
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
        }
    };
}
pub(crate) use measured;
