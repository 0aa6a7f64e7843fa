//! What is measured: the cases, their units, and how many turns each measurement runs.
//!
//! The fd cases (dispatch, churn) run every variant. The timer cases run the variants that
//! have timers (barepoll and calloop), the remote case those with remote calls (barepoll,
//! eventp, event-manager); each group has tables of its own.

use crate::setup::Pool;
use crate::variants::timers::IDLE_WAIT;
use crate::variants::{Runner, Variant, PAIRS};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Dispatch,
    Churn,
    /// One ready fd and `timers` armed timers that never fire: per wait.
    TimerWait,
    /// A ready driver whose handler arms and cancels a timer ([`PAIRS`] times): per pair.
    TimerPair,
    /// A ready driver whose handler resets one armed timer ([`PAIRS`] times): per reset.
    TimerReset,
    /// `ready` connections (ready fds), each with an idle timer that its handler resets on
    /// every event; one turn is one wait of [`IDLE_WAIT`] events: per event.
    IdleReset,
    /// `timers` one-shot timers due evenly over one second, armed and run until all fired;
    /// one turn is all of it: per timer.
    Spread,
    /// Fire-and-forget calls from another thread, run until all have run: per call.
    Remote,
}

/// Which tables a case goes in.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Group {
    Fds,
    Timers,
    Spread,
    Remote,
}

pub struct Case {
    /// The command-line name and the file-name stem.
    pub name: &'static str,
    pub label: &'static str,
    pub kind: Kind,
    /// Ready eventfds (never drained), and idle eventfds registered beside them.
    pub ready: usize,
    pub idle: usize,
    /// Armed timers (timer waits) or timers armed per turn (spread).
    pub timers: usize,
}

const fn case(name: &'static str, label: &'static str, kind: Kind, ready: usize) -> Case {
    Case {
        name,
        label,
        kind,
        ready,
        idle: 0,
        timers: 0,
    }
}

const fn dispatch(name: &'static str, label: &'static str, ready: usize, idle: usize) -> Case {
    Case {
        idle,
        ..case(name, label, Kind::Dispatch, ready)
    }
}

const fn timers(name: &'static str, label: &'static str, kind: Kind, timers: usize) -> Case {
    let ready = if matches!(kind, Kind::Spread) { 0 } else { 1 };
    Case {
        timers,
        ..case(name, label, kind, ready)
    }
}

pub const CASES: [Case; 18] = [
    dispatch("dispatch-1", "per wait, N=1", 1, 0),
    dispatch("dispatch-64", "per event, N=64", 64, 0),
    dispatch("dispatch-1024", "per event, N=1024", 1024, 0),
    Case {
        idle: 1,
        ..case("churn", "add+delete pair from a handler", Kind::Churn, 1)
    },
    dispatch("scale-1k", "per wait, 1 ready + 1k idle", 1, 1_000),
    dispatch("scale-10k", "per wait, 1 ready + 10k idle", 1, 10_000),
    dispatch("scale-100k", "per wait, 1 ready + 100k idle", 1, 100_000),
    timers(
        "timers-0",
        "per wait, 1 ready, no timers",
        Kind::TimerWait,
        0,
    ),
    timers(
        "timers-1",
        "per wait, 1 ready + 1 armed timer",
        Kind::TimerWait,
        1,
    ),
    timers(
        "timers-1k",
        "per wait, 1 ready + 1k armed timers",
        Kind::TimerWait,
        1_000,
    ),
    timers(
        "timers-100k",
        "per wait, 1 ready + 100k armed timers",
        Kind::TimerWait,
        100_000,
    ),
    timers(
        "timer-pair",
        "arm+cancel pair from a handler",
        Kind::TimerPair,
        0,
    ),
    timers(
        "timer-reset",
        "reset of an armed timer from a handler",
        Kind::TimerReset,
        1,
    ),
    case(
        "idle-10k",
        "per event, 10k connections, each event resets its idle timer",
        Kind::IdleReset,
        10_000,
    ),
    timers("spread-10k", "10k timers", Kind::Spread, 10_000),
    timers("spread-100k", "100k timers", Kind::Spread, 100_000),
    timers("spread-1m", "1M timers", Kind::Spread, 1_000_000),
    case(
        "remote",
        "fire-and-forget call from another thread",
        Kind::Remote,
        0,
    ),
];

pub fn find(name: &str) -> Option<&'static Case> {
    CASES.iter().find(|c| c.name == name)
}

/// Interleaved wall-time rounds of the fd and timer cases (full run, quick run).
pub const ROUNDS: (usize, usize) = (201, 31);

impl Case {
    pub fn group(&self) -> Group {
        match self.kind {
            Kind::Dispatch | Kind::Churn => Group::Fds,
            Kind::TimerWait | Kind::TimerPair | Kind::TimerReset | Kind::IdleReset => Group::Timers,
            Kind::Spread => Group::Spread,
            Kind::Remote => Group::Remote,
        }
    }

    /// Fds the case holds at once.
    pub fn fds(&self) -> usize {
        self.ready + self.idle
    }

    /// Whether `variant` has a harness for this case (a column in its tables).
    pub fn applies(&self, variant: &Variant) -> bool {
        match self.group() {
            Group::Fds => true,
            Group::Timers | Group::Spread => variant.timers.is_some(),
            Group::Remote => variant.remote.is_some(),
        }
    }

    /// Whether `variant` is measured in this case, natively or under callgrind: where it
    /// applies, except spreads larger than the variant runs in reasonable time.
    pub fn measures(&self, variant: &Variant, callgrind: bool) -> bool {
        let most = match variant.timers {
            Some(t) if self.kind == Kind::Spread && callgrind => t.spread_max.1,
            Some(t) if self.kind == Kind::Spread => t.spread_max.0,
            _ => usize::MAX,
        };
        self.applies(variant) && self.timers <= most
    }

    /// Events (dispatch, idle reset), add+delete pairs (churn), timer pairs or resets, waits,
    /// timers (spread) or calls (remote) per turn: the unit of every figure.
    pub fn per_turn(&self) -> u64 {
        match self.kind {
            Kind::Dispatch | Kind::TimerWait => self.ready as u64,
            Kind::Churn | Kind::TimerPair | Kind::TimerReset => PAIRS,
            Kind::IdleReset => IDLE_WAIT as u64,
            Kind::Spread => self.timers as u64,
            Kind::Remote => 1,
        }
    }

    /// Turns per timed round: about a millisecond or two, or one spread (a second or more),
    /// or a million remote calls.
    pub fn wall_turns(&self) -> u64 {
        match self.kind {
            Kind::Dispatch | Kind::TimerWait => (4096 / self.ready as u64).max(8),
            Kind::Churn | Kind::TimerPair | Kind::TimerReset => (1024 / PAIRS).max(8),
            Kind::IdleReset => 4,
            Kind::Spread => 1,
            Kind::Remote => 1_000_000,
        }
    }

    /// Turns before the first timed round (`wall`) or before the counted run.
    pub fn warm_turns(&self, wall: bool) -> u64 {
        match self.kind {
            Kind::IdleReset => 2,
            Kind::Spread => 0,
            Kind::Remote => 10_000,
            _ if wall => self.wall_turns(),
            _ => 16,
        }
    }

    /// Interleaved wall-time rounds: fewer for the cases whose rounds are long.
    pub fn rounds(&self, quick: bool) -> usize {
        let (full, short) = match self.kind {
            Kind::IdleReset => (31, 11),
            Kind::Spread => (3, 1),
            Kind::Remote => (5, 1),
            _ => ROUNDS,
        };
        if quick {
            short
        } else {
            full
        }
    }

    /// Turns for the instruction count, `scale` being 1 (or less for a quick run).
    pub fn callgrind_turns(&self, scale: f64) -> u64 {
        let turns = match self.kind {
            Kind::Dispatch | Kind::TimerWait => (16384 / self.ready as u64).max(64),
            Kind::Churn | Kind::TimerPair | Kind::TimerReset => (4096 / PAIRS).max(64),
            Kind::IdleReset => return 4,
            Kind::Spread => return 1,
            Kind::Remote => 100_000,
        };
        ((turns as f64 * scale) as u64).max(16)
    }

    /// The harness of `variant` over fds taken from `pool`. The churn driver is the first
    /// ready fd, the churned fd the first idle one.
    pub fn build(&self, variant: &Variant, pool: &Pool) -> Box<dyn Runner> {
        let (ready, idle) = pool.take(self.ready, self.idle);
        match self.group() {
            Group::Fds if self.kind == Kind::Churn => (variant.churn)(ready[0], idle[0]),
            Group::Fds => (variant.dispatch)(ready, idle),
            Group::Timers | Group::Spread => {
                (variant.timers.expect("a variant with timers").build)(self, ready)
            }
            Group::Remote => (variant.remote.expect("a variant with remote calls"))(),
        }
    }
}
