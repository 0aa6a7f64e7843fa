//! barepoll's timers as its docs show: `arm`, `cancel` and `reset` with `Timer::after` and
//! `Timer::at`, on the reactor or from a handler through `Ops`; a closure per timer. Fds are
//! registered with closures through the builder, as the dispatch harness does.
//!
//! Each harness's reactor has a state type of its own (a marker, or the state it needs), so
//! that each `run_once_with` has the callers it would have in a program with one loop: had
//! these harnesses shared the fd harnesses' `Reactor<()>`, the compiler would weigh inlining
//! that loop into its callers differently, and the fd figures would move.

use super::{far, spread, Harnesses, CYCLED, IDLE, IDLE_WAIT, MS, STANDING};
use crate::cases::{Case, Kind};
use crate::count::Count;
use crate::memory::Footprint;
use crate::variants::{measured, Fd, Runner, CHURN_CAPACITY, PAIRS};
use barepoll::{Ops, Reactor, Timer};
use std::time::{Duration, Instant};

pub const HARNESSES: Harnesses = Harnesses {
    build,
    lateness,
    cycles,
    spread_max: (usize::MAX, usize::MAX),
    why: "",
};

fn build(case: &Case, ready: &[Fd]) -> Box<dyn Runner> {
    match case.kind {
        Kind::TimerWait => Box::new(Wait::new(ready[0], case.timers)),
        Kind::TimerPair => Box::new(Pair::new(ready[0])),
        Kind::TimerReset => Box::new(Reset::new(ready[0])),
        Kind::IdleReset => Box::new(Idle::new(ready)),
        Kind::Spread => Box::new(Spread::new(case.timers)),
        kind => unreachable!("{kind:?} is not a timer case"),
    }
}

/// The markers: each harness's reactor state.
pub struct OfWait;
pub struct OfPair;
pub struct OfReset;
pub struct OfIdle;
pub struct OfCycles;

fn reactor<D: 'static>(capacity: usize) -> Reactor<D> {
    let builder = Reactor::builder().capacity(capacity);
    builder.state::<D>().build().unwrap()
}

/// The callback of a timer that must not fire: it would bump its own counter.
fn must_not_fire<D>() -> impl FnMut(&mut Ops<'_, D>) + 'static {
    let mut fired = Count::new();
    move |_| fired.bump()
}

/// Registers `fd` with `handler`, which is called with the handler's `Ops`.
fn register<D>(fd: Fd, reactor: &mut Reactor<D>, handler: impl FnMut(&mut Ops<'_, D>) + 'static) {
    barepoll::interest()
        .read()
        .with_fd(fd)
        .with_handler(handler)
        .register_into(reactor)
        .unwrap();
}

pub struct Wait {
    reactor: Reactor<OfWait>,
}

impl Wait {
    fn new(fd: Fd, timers: usize) -> Wait {
        let mut reactor = reactor(1);
        let mut count = Count::new();
        register(fd, &mut reactor, move |_| count.bump());
        for i in 0..timers {
            reactor
                .arm(Timer::after(far(i, timers)), must_not_fire())
                .unwrap();
        }
        Wait { reactor }
    }

    #[inline(always)]
    fn turn(&mut self) {
        self.reactor.run_once_with(None, &mut OfWait).unwrap();
    }
}

measured!(Wait, bench_timer_wait_barepoll);

pub struct Pair {
    reactor: Reactor<OfPair>,
}

impl Pair {
    fn new(driver: Fd) -> Pair {
        let mut reactor = reactor(CHURN_CAPACITY);
        let mut pairs = Count::new();
        register(driver, &mut reactor, move |ops| {
            for _ in 0..PAIRS {
                let key = ops.arm(Timer::after(IDLE), must_not_fire()).unwrap();
                ops.cancel(key).unwrap();
                pairs.bump();
            }
        });
        Pair { reactor }
    }

    #[inline(always)]
    fn turn(&mut self) {
        self.reactor.run_once_with(None, &mut OfPair).unwrap();
    }
}

measured!(Pair, bench_timer_pair_barepoll);

pub struct Reset {
    reactor: Reactor<OfReset>,
}

impl Reset {
    fn new(driver: Fd) -> Reset {
        let mut reactor = reactor(CHURN_CAPACITY);
        let key = reactor.arm(Timer::after(IDLE), must_not_fire()).unwrap();
        let mut resets = Count::new();
        register(driver, &mut reactor, move |ops| {
            for _ in 0..PAIRS {
                ops.reset(key, Timer::after(IDLE)).unwrap();
                resets.bump();
            }
        });
        Reset { reactor }
    }

    #[inline(always)]
    fn turn(&mut self) {
        self.reactor.run_once_with(None, &mut OfReset).unwrap();
    }
}

measured!(Reset, bench_timer_reset_barepoll);

pub struct Idle {
    reactor: Reactor<OfIdle>,
}

impl Idle {
    fn new(conns: &[Fd]) -> Idle {
        let mut reactor = reactor(IDLE_WAIT);
        for &fd in conns {
            let key = reactor.arm(Timer::after(IDLE), must_not_fire()).unwrap();
            let mut count = Count::new();
            register(fd, &mut reactor, move |ops| {
                ops.reset(key, Timer::after(IDLE)).unwrap();
                count.bump();
            });
        }
        Idle { reactor }
    }

    #[inline(always)]
    fn turn(&mut self) {
        self.reactor.run_once_with(None, &mut OfIdle).unwrap();
    }
}

measured!(Idle, bench_idle_reset_barepoll);

/// libuv's million-timers shape: the timers bump the loop's shared count as they fire.
pub struct Spread {
    reactor: Reactor<u64>,
    timers: usize,
    fired: Count,
}

impl Spread {
    fn new(timers: usize) -> Spread {
        Spread {
            reactor: Reactor::builder().state::<u64>().build().unwrap(),
            timers,
            fired: Count::new(),
        }
    }

    #[inline(always)]
    fn turn(&mut self) {
        let (n, start) = (self.timers, barepoll::Instant::now());
        for i in 0..n {
            let at = Timer::at(start + spread(i, n));
            self.reactor
                .arm(at, |ops: &mut Ops<'_, u64>| *ops.data() += 1)
                .unwrap();
        }
        let mut fired = 0;
        while fired < n as u64 {
            self.reactor.run_once_with(None, &mut fired).unwrap();
        }
        self.fired.add(fired);
    }
}

measured!(Spread, bench_spread_barepoll);

/// The lateness probe's state: timers still to arm, when the running one was armed, and the
/// lateness of each so far.
struct Probe {
    left: usize,
    armed: Instant,
    late: Vec<u64>,
}

fn tick(ops: &mut Ops<'_, Probe>) {
    let now = Instant::now();
    let probe = ops.data();
    let late = now.saturating_duration_since(probe.armed + MS);
    probe.late.push(late.as_nanos() as u64);
    probe.left -= 1;
    if probe.left == 0 {
        return ops.stop();
    }
    probe.armed = Instant::now();
    ops.arm(Timer::after(MS), tick).unwrap();
}

fn lateness(n: usize) -> Vec<u64> {
    let mut reactor = Reactor::builder().state::<Probe>().build().unwrap();
    let mut probe = Probe {
        left: n,
        armed: Instant::now(),
        late: Vec::with_capacity(n),
    };
    reactor.arm(Timer::after(MS), tick).unwrap();
    reactor.run_with(&mut probe).unwrap();
    probe.late
}

fn cycles(after: &[u64]) -> Vec<Footprint> {
    let mut held = Vec::with_capacity(after.len());
    let start = Footprint::now();
    let mut reactor = reactor::<OfCycles>(barepoll::DEFAULT_CAPACITY);
    let never = |_: &mut Ops<'_, OfCycles>| panic!("a timer of the memory probe fired");
    reactor.arm(Timer::after(STANDING), never).unwrap();
    let mut done = 0;
    for &upto in after {
        while done < upto {
            let key = reactor.arm(Timer::after(CYCLED), never).unwrap();
            reactor
                .run_once_with(Some(Duration::ZERO), &mut OfCycles)
                .unwrap();
            reactor.cancel(key).unwrap();
            done += 1;
        }
        held.push(Footprint::now().since(start));
    }
    held
}
