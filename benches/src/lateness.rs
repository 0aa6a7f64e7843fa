//! Timer lateness, in wall time: how long after its deadline each of a run of one-millisecond
//! timers runs its callback, each armed by the callback of the one before (`Timer::after(1 ms)`
//! in barepoll, `Timer::from_duration(1 ms)` in calloop). The deadline is taken as the moment
//! of the arm (read just before it) plus a millisecond, for both.
//!
//! Beside them, the kernel's two ways of waiting a millisecond with nothing around them: an
//! epoll wait with a timeout (as barepoll waits for its earliest deadline), and a timerfd
//! armed before each wait and watched by an epoll wait with no timeout (as polling, calloop's
//! poller, waits). Runs in this process, in rounds of [`ROUND`] timers per probe, the probes
//! taking turns, so that all see the same load.

use crate::raw::{self, Epoll};
use crate::variants::{Fd, ALL};
use barepoll::sys::{self, AsFd, OwnedFd};
use std::time::{Duration, Instant};

/// Timers per round.
pub const ROUND: usize = 100;

const MS: Duration = Duration::from_millis(1);

/// One probe's lateness, microseconds.
#[derive(Clone, Copy, Debug)]
pub struct Lateness {
    pub timers: usize,
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

/// Every variant's with timers (in `ALL` order, `None` for the others), and the kernel's.
pub struct Table {
    pub variants: Vec<Option<Lateness>>,
    pub floors: Vec<(&'static str, Lateness)>,
}

pub const FLOORS: [&str; 2] = [
    "kernel: epoll wait with a 1 ms timeout",
    "kernel: 1 ms timerfd, epoll wait with no timeout",
];

/// Nanoseconds from `armed` + 1 ms to now.
fn late(armed: Instant) -> u64 {
    Instant::now()
        .saturating_duration_since(armed + MS)
        .as_nanos() as u64
}

fn epoll_timeout(epoll: &Epoll, n: usize) -> Vec<u64> {
    let mut buf = raw::events(1);
    (0..n)
        .map(|_| {
            let armed = Instant::now();
            assert_eq!(epoll.wait_for(&mut buf, MS), 0, "nothing is registered");
            late(armed)
        })
        .collect()
}

fn timerfd(epoll: &Epoll, tfd: Fd, n: usize) -> Vec<u64> {
    let mut buf = raw::events(1);
    (0..n)
        .map(|_| {
            let armed = Instant::now();
            sys::timerfd_settime(tfd, 0, MS, Duration::ZERO).expect("timerfd_settime");
            assert_eq!(epoll.wait(&mut buf), 1, "the timerfd expired");
            let late = late(armed);
            sys::read(tfd, &mut [0u8; 8]).expect("an expiration");
            late
        })
        .collect()
}

/// The lateness of `total` timers of each probe (rounded down to whole rounds).
pub fn measure(total: usize) -> Table {
    let with: Vec<usize> = (0..ALL.len())
        .filter(|&v| ALL[v].timers.is_some())
        .collect();
    let (empty, watching) = (Epoll::new(), Epoll::new());
    let owned: &'static OwnedFd = Box::leak(Box::new(sys::timerfd(sys::TFD_NONBLOCK).unwrap()));
    let tfd = owned.as_fd();
    watching.add(tfd, 0);
    let probes = with.len() + FLOORS.len();
    let mut late: Vec<Vec<u64>> = vec![Vec::new(); probes];
    for round in 0..(total / ROUND).max(1) {
        for k in 0..probes {
            let p = (round + k) % probes;
            let got = match with.get(p) {
                Some(&v) => (ALL[v].timers.expect("a variant with timers").lateness)(ROUND),
                None if p == with.len() => epoll_timeout(&empty, ROUND),
                None => timerfd(&watching, tfd, ROUND),
            };
            assert_eq!(got.len(), ROUND, "every timer fired once");
            late[p].extend(got);
        }
    }
    let mut stats = late.into_iter().map(stats);
    let mut variants = vec![None; ALL.len()];
    for &v in &with {
        variants[v] = stats.next();
    }
    let floors = FLOORS.iter().zip(stats).map(|(&f, l)| (f, l)).collect();
    Table { variants, floors }
}

fn stats(mut ns: Vec<u64>) -> Lateness {
    ns.sort_unstable();
    let at = |q: f64| ns[((ns.len() as f64 * q).ceil() as usize).clamp(1, ns.len()) - 1];
    let us = |ns: u64| ns as f64 / 1000.0;
    Lateness {
        timers: ns.len(),
        p50: us(at(0.50)),
        p99: us(at(0.99)),
        max: us(at(1.0)),
    }
}
