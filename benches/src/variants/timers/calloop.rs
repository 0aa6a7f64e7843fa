//! calloop 0.14's timers as its docs show: a `Timer` event source per timer
//! (`Timer::from_duration`, `Timer::from_deadline`) with its callback, inserted with
//! `LoopHandle::insert_source` and removed with `LoopHandle::remove`. A reset gives a
//! registered timer a new deadline (`Timer::set_duration`, through the `Dispatcher` it was
//! registered with) and re-registers it (`LoopHandle::update`), as `set_duration`'s docs
//! say. Fds are `Generic` sources in level mode, as the dispatch harness has them; the loop
//! handle is kept in the loop's shared data, as calloop programs do.

use super::{far, spread, Harnesses, CYCLED, IDLE, MS, STANDING};
use crate::cases::{Case, Kind};
use crate::count::Count;
use crate::memory::Footprint;
use crate::variants::{measured, Fd, Runner, PAIRS};
use calloop::generic::Generic;
use calloop::timer::{TimeoutAction, Timer};
use calloop::{Dispatcher, EventLoop, EventSource, Interest, LoopHandle, Mode, PostAction};
use std::time::{Duration, Instant};

pub const HARNESSES: Harnesses = Harnesses {
    build,
    lateness,
    cycles,
    spread_max: (100_000, 10_000),
    why: "calloop finds a slot for each new source by a linear scan of its source list \
          (`SourceList::vacant_entry`), and unregisters each fired one-shot timer by a scan of \
          its timer heap (`TimerWheel::cancel`), so arming and firing N timers take time in \
          proportion to N²",
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

/// The loop's shared data where handlers need the loop.
pub struct State {
    handle: LoopHandle<'static, State>,
}

type Loop = EventLoop<'static, State>;

fn new_loop() -> (Loop, State) {
    let event_loop = EventLoop::try_new().unwrap();
    let state = State {
        handle: event_loop.handle(),
    };
    (event_loop, state)
}

/// Inserts `source` with `callback`.
fn insert<S, F, D>(
    handle: &LoopHandle<'static, D>,
    source: S,
    callback: F,
) -> calloop::RegistrationToken
where
    S: EventSource + 'static,
    F: FnMut(S::Event, &mut S::Metadata, &mut D) -> S::Ret + 'static,
{
    handle
        .insert_source(source, callback)
        .map_err(|e| e.error)
        .unwrap()
}

/// Inserts `fd` (level mode) with `handler`, which gets the loop's shared data.
fn insert_fd(
    handle: &LoopHandle<'static, State>,
    fd: Fd,
    mut handler: impl FnMut(&mut State) + 'static,
) {
    let source = Generic::new(fd, Interest::READ, Mode::Level);
    insert(handle, source, move |_, _, state: &mut State| {
        handler(state);
        Ok(PostAction::Continue)
    });
}

/// The callback of a timer that must not fire: it would bump its own counter.
fn must_not_fire<D>() -> impl FnMut(Instant, &mut (), &mut D) -> TimeoutAction + 'static {
    let mut fired = Count::new();
    move |_, _, _| {
        fired.bump();
        TimeoutAction::Drop
    }
}

pub struct Wait {
    event_loop: Loop,
    state: State,
}

impl Wait {
    fn new(fd: Fd, timers: usize) -> Wait {
        let (event_loop, state) = new_loop();
        let mut count = Count::new();
        insert_fd(&state.handle, fd, move |_| count.bump());
        for i in 0..timers {
            let timer = Timer::from_duration(far(i, timers));
            insert(&state.handle, timer, must_not_fire());
        }
        Wait { event_loop, state }
    }

    #[inline(always)]
    fn turn(&mut self) {
        self.event_loop.dispatch(None, &mut self.state).unwrap();
    }
}

measured!(Wait, bench_timer_wait_calloop);

pub struct Pair {
    event_loop: Loop,
    state: State,
}

impl Pair {
    fn new(driver: Fd) -> Pair {
        let (event_loop, state) = new_loop();
        let mut pairs = Count::new();
        insert_fd(&state.handle, driver, move |state| {
            for _ in 0..PAIRS {
                let timer = Timer::from_duration(IDLE);
                let token = insert(&state.handle, timer, must_not_fire());
                state.handle.remove(token);
                pairs.bump();
            }
        });
        Pair { event_loop, state }
    }

    #[inline(always)]
    fn turn(&mut self) {
        self.event_loop.dispatch(None, &mut self.state).unwrap();
    }
}

measured!(Pair, bench_timer_pair_calloop);

/// Registers a timer due after [`IDLE`] that must not fire; returns a function that resets
/// it to [`IDLE`] from now, calloop's way.
fn idle_timer(handle: &LoopHandle<'static, State>) -> impl FnMut(&mut State) + 'static {
    let timer = Dispatcher::new(Timer::from_duration(IDLE), must_not_fire());
    let token = handle.register_dispatcher(timer.clone()).unwrap();
    move |state: &mut State| {
        timer.as_source_mut().set_duration(IDLE);
        state.handle.update(&token).unwrap();
    }
}

pub struct Reset {
    event_loop: Loop,
    state: State,
}

impl Reset {
    fn new(driver: Fd) -> Reset {
        let (event_loop, state) = new_loop();
        let mut reset = idle_timer(&state.handle);
        let mut resets = Count::new();
        insert_fd(&state.handle, driver, move |state| {
            for _ in 0..PAIRS {
                reset(state);
                resets.bump();
            }
        });
        Reset { event_loop, state }
    }

    #[inline(always)]
    fn turn(&mut self) {
        self.event_loop.dispatch(None, &mut self.state).unwrap();
    }
}

measured!(Reset, bench_timer_reset_calloop);

pub struct Idle {
    event_loop: Loop,
    state: State,
}

impl Idle {
    fn new(conns: &[Fd]) -> Idle {
        let (event_loop, state) = new_loop();
        for &fd in conns {
            let mut reset = idle_timer(&state.handle);
            let mut count = Count::new();
            insert_fd(&state.handle, fd, move |state| {
                reset(state);
                count.bump();
            });
        }
        Idle { event_loop, state }
    }

    #[inline(always)]
    fn turn(&mut self) {
        self.event_loop.dispatch(None, &mut self.state).unwrap();
    }
}

measured!(Idle, bench_idle_reset_calloop);

/// libuv's million-timers shape: the timers bump the loop's shared count as they fire.
pub struct Spread {
    event_loop: EventLoop<'static, u64>,
    timers: usize,
    fired: Count,
}

impl Spread {
    fn new(timers: usize) -> Spread {
        Spread {
            event_loop: EventLoop::try_new().unwrap(),
            timers,
            fired: Count::new(),
        }
    }

    #[inline(always)]
    fn turn(&mut self) {
        let (n, start, handle) = (self.timers, Instant::now(), self.event_loop.handle());
        for i in 0..n {
            let timer = Timer::from_deadline(start + spread(i, n));
            insert(&handle, timer, |_, _, fired: &mut u64| {
                *fired += 1;
                TimeoutAction::Drop
            });
        }
        let mut fired = 0;
        while fired < n as u64 {
            self.event_loop.dispatch(None, &mut fired).unwrap();
        }
        self.fired.add(fired);
    }
}

measured!(Spread, bench_spread_calloop);

/// The lateness probe's state: timers still to arm, when the running one was armed, the
/// lateness of each so far, and the loop.
struct Probe {
    left: usize,
    armed: Instant,
    late: Vec<u64>,
    handle: LoopHandle<'static, Probe>,
}

fn tick(_: Instant, _: &mut (), probe: &mut Probe) -> TimeoutAction {
    let now = Instant::now();
    let late = now.saturating_duration_since(probe.armed + MS);
    probe.late.push(late.as_nanos() as u64);
    probe.left -= 1;
    if probe.left != 0 {
        probe.armed = Instant::now();
        insert(&probe.handle, Timer::from_duration(MS), tick);
    }
    TimeoutAction::Drop
}

fn lateness(n: usize) -> Vec<u64> {
    let mut event_loop: EventLoop<'static, Probe> = EventLoop::try_new().unwrap();
    let mut probe = Probe {
        left: n,
        armed: Instant::now(),
        late: Vec::with_capacity(n),
        handle: event_loop.handle(),
    };
    insert(&probe.handle, Timer::from_duration(MS), tick);
    while probe.left != 0 {
        event_loop.dispatch(None, &mut probe).unwrap();
    }
    probe.late
}

/// The memory probe's loop state: a type of its own, so that the fd harness's
/// `EventLoop<()>` keeps the callers it has (see `barepoll.rs` in this directory).
pub struct OfCycles;

fn cycles(after: &[u64]) -> Vec<Footprint> {
    let mut held = Vec::with_capacity(after.len());
    let start = Footprint::now();
    let mut event_loop: EventLoop<'static, OfCycles> = EventLoop::try_new().unwrap();
    let handle = event_loop.handle();
    let never = |_, _: &mut (), _: &mut OfCycles| -> TimeoutAction {
        panic!("a timer of the memory probe fired")
    };
    insert(&handle, Timer::from_duration(STANDING), never);
    let mut done = 0;
    for &upto in after {
        while done < upto {
            let token = insert(&handle, Timer::from_duration(CYCLED), never);
            event_loop
                .dispatch(Some(Duration::ZERO), &mut OfCycles)
                .unwrap();
            handle.remove(token);
            done += 1;
        }
        held.push(Footprint::now().since(start));
    }
    held
}
