//! What is measured: the cases, their units, and how many turns each measurement runs.

use crate::setup::Pool;
use crate::variants::{Runner, Variant, PAIRS};

#[derive(Clone, Copy, PartialEq)]
pub enum Kind {
    Dispatch,
    Churn,
}

pub struct Case {
    /// The command-line name and the file-name stem.
    pub name: &'static str,
    pub label: &'static str,
    pub kind: Kind,
    /// Never-drained ready eventfds (dispatch), idle eventfds registered beside them.
    pub ready: usize,
    pub idle: usize,
}

const fn dispatch(name: &'static str, label: &'static str, ready: usize, idle: usize) -> Case {
    Case {
        name,
        label,
        kind: Kind::Dispatch,
        ready,
        idle,
    }
}

pub const CASES: [Case; 7] = [
    dispatch("dispatch-1", "per wait, N=1", 1, 0),
    dispatch("dispatch-64", "per event, N=64", 64, 0),
    dispatch("dispatch-1024", "per event, N=1024", 1024, 0),
    Case {
        name: "churn",
        label: "add+delete pair from a handler",
        kind: Kind::Churn,
        ready: 1,
        idle: 1,
    },
    dispatch("scale-1k", "per wait, 1 ready + 1k idle", 1, 1_000),
    dispatch("scale-10k", "per wait, 1 ready + 10k idle", 1, 10_000),
    dispatch("scale-100k", "per wait, 1 ready + 100k idle", 1, 100_000),
];

pub fn find(name: &str) -> Option<&'static Case> {
    CASES.iter().find(|c| c.name == name)
}

impl Case {
    /// Fds the case holds at once.
    pub fn fds(&self) -> usize {
        self.ready + self.idle
    }

    /// Events (dispatch) or add+delete pairs (churn) per turn: the unit of every figure.
    pub fn per_turn(&self) -> u64 {
        match self.kind {
            Kind::Dispatch => self.ready as u64,
            Kind::Churn => PAIRS,
        }
    }

    /// Turns per timed round: about a millisecond or two.
    pub fn wall_turns(&self) -> u64 {
        match self.kind {
            Kind::Dispatch => (4096 / self.ready as u64).max(8),
            Kind::Churn => (1024 / PAIRS).max(8),
        }
    }

    /// Turns for the instruction count, `scale` being 1 (or less for a quick run).
    pub fn callgrind_turns(&self, scale: f64) -> u64 {
        let turns = match self.kind {
            Kind::Dispatch => (16384 / self.ready as u64).max(64),
            Kind::Churn => (4096 / PAIRS).max(64),
        };
        ((turns as f64 * scale) as u64).max(16)
    }

    /// The harness of `variant` over fds taken from `pool`. The churn driver is the first
    /// ready fd, the churned fd the first idle one.
    pub fn build(&self, variant: &Variant, pool: &Pool) -> Box<dyn Runner> {
        let (ready, idle) = pool.take(self.ready, self.idle);
        match self.kind {
            Kind::Dispatch => (variant.dispatch)(ready, idle),
            Kind::Churn => (variant.churn)(ready[0], idle[0]),
        }
    }
}
