//! The model's part for the executor (`barepoll::task`): tasks spawned from outside the loop,
//! from handlers and timer callbacks (`Ops::spawn`) and from inside tasks, whose futures park
//! on wakers the harness keeps, yield, panic, read one of the harness's `Async` eventfds, or
//! sleep; wakes from the loop's thread and from other threads (joined before the operation
//! ends, or let go only once the reactor is dropped); join handles kept, dropped or taken;
//! cancellation when the reactor is dropped. It checks every poll (never after the task is
//! done, never outside a turn, never more than `BUDGET` in a turn, never for nothing), every
//! join result, every drop of a future and of an output (exactly once), and that every task
//! scheduled is polled within a bounded number of turns. The turns, subscribers and timers
//! stay the model's.

use super::super::Op;
use super::{violation, Model, Shared, PLANTED, WAIT};
use arbitrary::Arbitrary;
use barepoll::sys::{self, AsFd, OwnedFd};
use barepoll::task::{Async, JoinHandle, Sleep, Spawner, BUDGET};
use barepoll::{Error, Ops, Reactor};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// Most tasks one input may spawn (refused spawns included).
const MAX_TASKS: usize = 400;
/// Most tasks one operation spawns at once: more than a turn's budget.
const MAX_BATCH: usize = 100;
/// How many eventfds the harness makes `Async` for tasks to read.
const ASYNC_FDS: usize = 2;
/// Most threads one input leaves holding a waker until the reactor is dropped.
const MAX_LATE: usize = 4;
/// Most turns one `Op::BlockingWake` runs.
const MAX_BLOCKING_TURNS: usize = 16;
/// The bound of a task scheduled during a turn, until the turn ends.
const DUE_AT_END: u64 = u64::MAX;
/// The bound of a task scheduled between turns, until the next turn begins.
const DUE_AT_BEGIN: u64 = u64::MAX - 1;
/// A sleep that ends during an input.
const SHORT: Duration = WAIT;
/// A sleep that never does.
const FAR: Duration = Duration::from_secs(3600);

/// What a task's future does, step by step; after its last step it finishes, its output its
/// own number.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Step {
    /// Parks on a waker the harness keeps (`Op::Wake` and the like wake it).
    Park,
    /// Wakes itself and returns `Pending`: polled again by the next turn.
    Yield,
    /// Panics in this poll.
    Panic,
    /// Reads one of the harness's `Async` eventfds (`Op::PokeAsync` makes it readable).
    Read(u8),
    /// Sleeps a millisecond, or an hour (cancelled with the reactor).
    Sleep { far: bool },
    /// Spawns a task running task script `n` (its join handle goes to the harness).
    Spawn(u8),
    /// Awaits the join handle of task `n` among all spawned so far (taken from the harness;
    /// nothing if it has none any more): woken when that task ends.
    Join(u8),
}

/// A task to spawn.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub struct NewTask {
    /// Which of the input's task scripts its future runs.
    pub script: u8,
    /// Dropping its join handle at once detaches it.
    pub detach: bool,
}

/// How a waker the harness keeps is woken.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum WakeHow {
    ByRef,
    /// A clone, woken by value.
    Clone,
    /// On another thread, joined before the operation ends.
    ThreadByRef,
    /// A clone moved to another thread, woken there by value.
    ThreadClone,
}

/// Where a task stands, as the model sees it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Run {
    /// Being spawned (a starved spawn may refuse it).
    Spawning,
    Running,
    Finished,
    Panicked,
    Cancelled,
    Refused,
}

struct Task {
    run: Run,
    /// Parked on a kept waker: its next poll must follow a wake of one of its wakers.
    parked: bool,
    /// One of its wakers was woken since its last poll.
    woken: bool,
    /// It awaited an `Async` or a sleep: the wakers those keep are not the model's.
    exempt: bool,
    /// Scheduled and not polled since: polled at the latest by the end of this task phase.
    due_phase: Option<u64>,
    /// The `Async` eventfd it is parked reading.
    reading: Option<usize>,
    /// A short sleep it is parked in, and when that is certainly over.
    sleeping: Option<Instant>,
    /// The task whose join handle it awaits.
    joining: Option<usize>,
    /// Polls so far.
    polls: u64,
    /// A wake from another thread may have scheduled it after its last poll: it may end a
    /// wait early.
    maybe_scheduled: bool,
    future_drops: u32,
    output_drops: u32,
    /// Its output was given by its join handle.
    taken: bool,
    detached: bool,
}

struct AsyncFd {
    io: Rc<Async<OwnedFd>>,
    /// The eventfd's counter is not zero.
    level: bool,
    /// Readable while a reader is parked on it: some reader must read it by the end of this
    /// waited turn.
    owed: Option<u64>,
}

/// The executor's part of the model.
pub struct Tasks {
    spawner: Option<Spawner>,
    scripts: Vec<Vec<Step>>,
    list: Vec<Task>,
    handles: Vec<Option<JoinHandle<Output>>>,
    /// Wakers kept from parked polls, with their task.
    wakers: Vec<(usize, Option<Waker>)>,
    asyncs: Vec<AsyncFd>,
    /// Threads that wake a waker once the reactor is dropped (sent a message then).
    late: Vec<(mpsc::Sender<()>, std::thread::JoinHandle<()>)>,
    /// Task phases completed (turns that returned).
    phases: u64,
    /// Of those, the turns that waited.
    waits: u64,
    polls_in_turn: usize,
    /// A task's planted panic is unwinding out of the turn.
    pub panicked: bool,
    /// Something may end the next wait early: an `Async` edge (registration, write or read),
    /// or an epoll-set rebuild that registers the eventfds afresh.
    pub dirty: bool,
    /// `dirty` as the turn running began: its wait takes those edges.
    dirty_before: bool,
    /// The tasks parked reading an `Async` eventfd as a turn that takes an edge begins, with
    /// their polls then: the edge wakes them all, and those the turn's budget leaves unpolled
    /// stay scheduled for the turns after it.
    edge_readers: Vec<(usize, u64)>,
    in_turn: bool,
}

impl Tasks {
    pub fn new(scripts: Vec<Vec<Step>>) -> Tasks {
        let scripts = scripts
            .into_iter()
            .take(8)
            .map(|s| s.into_iter().take(6).collect())
            .collect();
        Tasks {
            spawner: None,
            scripts,
            list: Vec::new(),
            handles: Vec::new(),
            wakers: Vec::new(),
            asyncs: Vec::new(),
            late: Vec::new(),
            phases: 0,
            waits: 0,
            polls_in_turn: 0,
            panicked: false,
            dirty: true,
            dirty_before: false,
            edge_readers: Vec::new(),
            in_turn: false,
        }
    }

    fn running(&self) -> usize {
        self.list.iter().filter(|t| t.run == Run::Running).count()
    }

    /// Task `id` is scheduled now: polled by the next task phase, or later by as many phases
    /// as the budget needs for the tasks ahead of it. Between turns, the tasks spawned after
    /// it until the turn may be ahead of it (a wake waits in the inbox, which the phase drains
    /// behind the run queue), so its bound is set when the next turn begins (`DUE_AT_BEGIN`);
    /// during a turn (a yield, a spawn, a sleep fired), those spawned later in the phase may
    /// be, so its bound is set when the turn ends (`DUE_AT_END`).
    fn schedule(&mut self, id: usize) {
        let by = if self.in_turn {
            DUE_AT_END
        } else {
            DUE_AT_BEGIN
        };
        let t = &mut self.list[id];
        if t.run == Run::Running && t.due_phase.is_none() {
            t.due_phase = Some(by);
        }
    }

    /// Whether the turn's wait may end early because of tasks.
    pub fn may_end_wait(&self) -> bool {
        self.dirty
            || self.list.iter().any(|t| {
                let scheduled = t.due_phase.is_some() || t.maybe_scheduled;
                t.run == Run::Running && (scheduled || t.sleeping.is_some())
            })
    }

    fn new_task(&mut self, detach: bool) -> Option<usize> {
        if self.list.len() >= MAX_TASKS {
            return None;
        }
        self.list.push(Task {
            run: Run::Spawning,
            parked: false,
            woken: false,
            exempt: false,
            due_phase: None,
            reading: None,
            sleeping: None,
            joining: None,
            polls: 0,
            maybe_scheduled: false,
            future_drops: 0,
            output_drops: 0,
            taken: false,
            detached: detach,
        });
        self.handles.push(None);
        Some(self.list.len() - 1)
    }

    fn pick_waker(&self, i: u8) -> Option<usize> {
        (!self.wakers.is_empty()).then(|| i as usize % self.wakers.len())
    }

    fn pick_task(&self, i: u8) -> Option<usize> {
        (!self.list.is_empty()).then(|| i as usize % self.list.len())
    }

    fn pick_async(&self, i: u8) -> Option<usize> {
        (!self.asyncs.is_empty()).then(|| i as usize % self.asyncs.len())
    }

    /// A harness wake of one of task `id`'s wakers.
    fn woken(&mut self, id: usize) {
        if self.list[id].run == Run::Running {
            self.list[id].woken = true;
            self.schedule(id);
        }
    }

    /// Task `id` finished or panicked: the tasks awaiting its join handle are woken.
    fn ended(&mut self, id: usize) {
        let joiners: Vec<usize> = (self.list.iter().enumerate())
            .filter(|(_, t)| t.run == Run::Running && t.joining == Some(id))
            .map(|(j, _)| j)
            .collect();
        for j in joiners {
            self.schedule(j);
        }
    }

    fn update_owed(&mut self, k: usize) {
        let readers = self
            .list
            .iter()
            .any(|t| t.run == Run::Running && t.reading == Some(k));
        // Tasks spawned later may be ahead of the reader once the edge wakes it: as many
        // phases as the budget needs for all there may be.
        let by = self.waits + 3 + (MAX_TASKS / BUDGET) as u64;
        let fd = &mut self.asyncs[k];
        if !(fd.level && readers) {
            fd.owed = None;
        } else if fd.owed.is_none() {
            fd.owed = Some(by);
        }
    }
}

/// A task's output: reports its drop.
pub struct Output {
    id: usize,
    model: Shared,
}

impl Drop for Output {
    fn drop(&mut self) {
        let mut m = self.model.borrow_mut();
        let t = &mut m.tasks.list[self.id];
        t.output_drops += 1;
        check!(
            t.output_drops == 1,
            "task {}: output dropped twice",
            self.id
        );
        check!(
            t.run == Run::Finished,
            "task {}: an output while {:?}",
            self.id,
            t.run
        );
    }
}

/// A read of an `Async` eventfd.
type Reading = Pin<Box<dyn Future<Output = barepoll::Result<usize>>>>;

/// What a task awaits across polls.
enum Inner {
    Read(usize, Reading),
    Join(usize, JoinHandle<Output>),
    Sleep {
        sleep: Pin<Box<Sleep>>,
        start: Instant,
        far: bool,
    },
}

/// A task's future: runs its script, reporting every poll and its drop to the model.
struct FuzzTask {
    id: usize,
    model: Shared,
    spawner: Spawner,
    steps: Vec<Step>,
    at: usize,
    parked: bool,
    yielded: bool,
    inner: Option<Inner>,
    done: bool,
}

impl Future for FuzzTask {
    type Output = Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Output> {
        let this = &mut *self;
        let id = this.id;
        this.model.borrow_mut().on_task_poll(id, this.done);
        loop {
            let Some(&step) = this.steps.get(this.at) else {
                this.done = true;
                let mut m = this.model.borrow_mut();
                m.tasks.list[id].run = Run::Finished;
                m.tasks.ended(id);
                drop(m);
                let model = this.model.clone();
                return Poll::Ready(Output { id, model });
            };
            match step {
                Step::Park if this.parked => this.parked = false,
                Step::Park => {
                    this.parked = true;
                    let mut m = this.model.borrow_mut();
                    m.tasks.list[id].parked = true;
                    m.tasks.wakers.push((id, Some(cx.waker().clone())));
                    return Poll::Pending;
                }
                Step::Yield if this.yielded => this.yielded = false,
                Step::Yield => {
                    this.yielded = true;
                    cx.waker().wake_by_ref();
                    this.model.borrow_mut().tasks.schedule(id);
                    return Poll::Pending;
                }
                Step::Panic => {
                    let mut m = this.model.borrow_mut();
                    m.tasks.list[id].run = Run::Panicked;
                    m.tasks.ended(id);
                    m.tasks.panicked = true;
                    drop(m);
                    std::panic::panic_any(PLANTED);
                }
                Step::Spawn(script) => spawn_checked(&this.model, &this.spawner, script, false),
                Step::Read(_) | Step::Sleep { .. } | Step::Join(_) => {
                    if this.inner.is_none() {
                        let Some(inner) = inner_of(&this.model, &this.spawner, step) else {
                            this.at += 1;
                            continue;
                        };
                        this.inner = Some(inner);
                        this.model.borrow_mut().tasks.list[id].exempt = true;
                    }
                    if poll_inner(&this.model, id, this.inner.as_mut().expect("set"), cx) {
                        return Poll::Pending;
                    }
                    this.inner = None;
                }
            }
            this.at += 1;
        }
    }
}

fn inner_of(model: &Shared, spawner: &Spawner, step: Step) -> Option<Inner> {
    Some(match step {
        Step::Read(k) => {
            let m = model.borrow();
            let k = m.tasks.pick_async(k).expect("the harness's eventfds");
            let io = m.tasks.asyncs[k].io.clone();
            Inner::Read(
                k,
                Box::pin(async move {
                    let mut buf = [0u8; 8];
                    io.read(&mut buf).await
                }),
            )
        }
        Step::Sleep { far } => Inner::Sleep {
            sleep: Box::pin(spawner.sleep(if far { FAR } else { SHORT })),
            start: Instant::now(),
            far,
        },
        Step::Join(n) => {
            let mut m = model.borrow_mut();
            let target = m.tasks.pick_task(n)?;
            Inner::Join(target, m.tasks.handles[target].take()?)
        }
        _ => unreachable!("not awaited"),
    })
}

/// Polls what task `id` awaits; `true` while it is pending.
fn poll_inner(model: &Shared, id: usize, inner: &mut Inner, cx: &mut Context<'_>) -> bool {
    match inner {
        Inner::Join(target, handle) => {
            let target = *target;
            let Poll::Ready(result) = Pin::new(handle).poll(cx) else {
                model.borrow_mut().tasks.list[id].joining = Some(target);
                return true;
            };
            let mut m = model.borrow_mut();
            m.tasks.list[id].joining = None;
            let run = m.tasks.list[target].run;
            match (&result, run) {
                (Ok(out), Run::Finished) => {
                    check!(
                        out.id == target,
                        "task {id}: joined task {}'s output",
                        out.id
                    );
                    m.tasks.list[target].taken = true;
                }
                (Err(Error::Panicked), Run::Panicked) => {}
                _ => violation(format_args!(
                    "task {id}: joining task {target} gave {:?} while it is {run:?}",
                    result.as_ref().map(|o| o.id)
                )),
            }
            drop(m);
            drop(result);
            false
        }
        Inner::Read(k, read) => {
            let k = *k;
            let polled = read.as_mut().poll(cx);
            let mut m = model.borrow_mut();
            match polled {
                Poll::Pending => {
                    m.tasks.list[id].reading = Some(k);
                    m.tasks.update_owed(k);
                    true
                }
                Poll::Ready(result) => {
                    check!(
                        result == Ok(8),
                        "task {id}: reading async eventfd {k} gave {result:?}"
                    );
                    m.tasks.list[id].reading = None;
                    m.tasks.asyncs[k].level = false;
                    m.tasks.dirty = true; // the read is an edge for writing
                    m.tasks.update_owed(k);
                    false
                }
            }
        }
        Inner::Sleep { sleep, start, far } => {
            let polled = sleep.as_mut().poll(cx);
            let mut m = model.borrow_mut();
            match polled {
                Poll::Pending => {
                    // Certainly due once a millisecond passed after this poll.
                    let t = &mut m.tasks.list[id];
                    if !*far && t.sleeping.is_none() {
                        t.sleeping = Some(Instant::now() + SHORT);
                    }
                    true
                }
                Poll::Ready(result) => {
                    check!(result.is_ok(), "task {id}: sleep gave {result:?}");
                    check!(!*far, "task {id}: an hour's sleep ended");
                    let slept = start.elapsed();
                    check!(
                        slept >= SHORT,
                        "task {id}: sleep ended early, after {slept:?}"
                    );
                    m.tasks.list[id].sleeping = None;
                    false
                }
            }
        }
    }
}

impl Drop for FuzzTask {
    fn drop(&mut self) {
        // What it awaits goes first (a sleep gives its entry back, a read its waker, a join
        // handle its task: detached).
        if let Some(Inner::Join(target, _)) = &self.inner {
            self.model.borrow_mut().tasks.list[*target].detached = true;
        }
        drop(self.inner.take());
        let mut m = self.model.borrow_mut();
        let dropping_reactor = m.dropping_reactor;
        let t = &mut m.tasks.list[self.id];
        t.future_drops += 1;
        check!(
            t.future_drops == 1,
            "task {}: future dropped twice",
            self.id
        );
        t.run = match t.run {
            Run::Finished | Run::Panicked => t.run,
            Run::Spawning => Run::Refused,
            Run::Running if dropping_reactor => Run::Cancelled,
            run => violation(format_args!(
                "task {}: future dropped while {run:?}",
                self.id
            )),
        };
        t.reading = None;
        t.sleeping = None;
        t.joining = None;
    }
}

impl Model {
    /// A poll of task `id` (`done`: its future returned `Ready` before).
    fn on_task_poll(&mut self, id: usize, done: bool) {
        let tasks = &mut self.tasks;
        check!(
            tasks.in_turn,
            "task {id}: polled outside a turn of its reactor"
        );
        let t = &mut tasks.list[id];
        check!(
            t.run == Run::Running && !done,
            "task {id}: polled while {:?}",
            t.run
        );
        check!(
            !t.parked || t.woken || t.exempt,
            "task {id}: polled while parked on a waker nobody woke"
        );
        t.parked = false;
        t.woken = false;
        t.polls += 1;
        t.maybe_scheduled = false;
        t.due_phase = None;
        t.sleeping = None;
        tasks.polls_in_turn += 1;
        check!(
            tasks.polls_in_turn <= BUDGET,
            "{} polls in one turn: more than the budget",
            tasks.polls_in_turn
        );
    }
}

/// The future of a new task running `script`, and its number (`None` past the limit).
fn new_future(model: &Shared, spawner: &Spawner, script: u8, detach: bool) -> Option<FuzzTask> {
    let mut m = model.borrow_mut();
    let script = script as usize % m.tasks.scripts.len().max(1);
    let steps = m.tasks.scripts.get(script).cloned().unwrap_or_default();
    let id = m.tasks.new_task(detach)?;
    Some(FuzzTask {
        id,
        model: model.clone(),
        spawner: spawner.clone(),
        steps,
        at: 0,
        parked: false,
        yielded: false,
        inner: None,
        done: false,
    })
}

/// Records a spawn's result: it must succeed while the reactor lives.
fn record_spawn(model: &Shared, id: usize, result: barepoll::Result<JoinHandle<Output>>) {
    let handle = result.unwrap_or_else(|e| violation(format_args!("task {id}: spawn gave {e}")));
    let detach = {
        let mut m = model.borrow_mut();
        m.tasks.list[id].run = Run::Running;
        m.tasks.schedule(id);
        m.tasks.list[id].detached
    };
    if detach {
        drop(handle);
    } else {
        model.borrow_mut().tasks.handles[id] = Some(handle);
    }
}

fn spawn_checked(model: &Shared, spawner: &Spawner, script: u8, detach: bool) {
    if let Some(future) = new_future(model, spawner, script, detach) {
        let id = future.id;
        record_spawn(model, id, spawner.spawn(future));
    }
}

/// `Ops::spawn`, from a handler or a timer callback.
pub fn spawn_in_ops(model: &Shared, new: NewTask, ops: &mut Ops<'_>) {
    let Some(spawner) = model.borrow().tasks.spawner.clone() else {
        return;
    };
    if let Some(future) = new_future(model, &spawner, new.script, new.detach) {
        let id = future.id;
        record_spawn(model, id, ops.spawn(future));
    }
}

/// A wake of a kept waker by a handler or a timer callback, on the loop's thread.
pub fn wake_in_turn(model: &Shared, waker: u8) {
    let picked = {
        let m = model.borrow();
        (m.tasks.pick_waker(waker)).and_then(|w| {
            let (id, waker) = &m.tasks.wakers[w];
            waker.clone().map(|waker| (*id, waker))
        })
    };
    if let Some((id, waker)) = picked {
        model.borrow_mut().tasks.woken(id);
        waker.wake();
    }
}

/// Makes the executor and the `Async` eventfds before anything else, so that their numbers
/// are never a subscriber's.
pub fn setup(reactor: &mut Reactor, model: &Shared) {
    let spawner = reactor.spawner().expect("spawner");
    let mut m = model.borrow_mut();
    for _ in 0..ASYNC_FDS {
        let fd = sys::eventfd(0, sys::EFD_NONBLOCK).expect("eventfd");
        let io = Async::new(&spawner, fd).expect("Async::new");
        m.tasks.asyncs.push(AsyncFd {
            io: Rc::new(io),
            level: false,
            owed: None,
        });
    }
    m.tasks.spawner = Some(spawner);
}

fn wake_with(waker: &Waker, how: WakeHow) {
    match how {
        WakeHow::ByRef => waker.wake_by_ref(),
        WakeHow::Clone => {
            // `wake` by value: the clone's count is given up by the wake.
            let clone = waker.clone();
            clone.wake()
        }
        WakeHow::ThreadByRef => std::thread::scope(|s| {
            s.spawn(|| waker.wake_by_ref());
        }),
        WakeHow::ThreadClone => {
            let clone = waker.clone();
            std::thread::spawn(move || clone.wake())
                .join()
                .unwrap_or_else(|_| violation(format_args!("a waking thread panicked")));
        }
    }
}

/// One executor operation of the test driver.
pub fn step(reactor: &mut Reactor, model: &Shared, op: Op) {
    let Some(spawner) = model.borrow().tasks.spawner.clone() else {
        return;
    };
    match op {
        Op::Spawn(new) => spawn_checked(model, &spawner, new.script, new.detach),
        Op::SpawnMany { count, new } => {
            for _ in 0..(count as usize % (MAX_BATCH + 1)) {
                spawn_checked(model, &spawner, new.script, new.detach);
            }
        }
        Op::SpawnStarved(script) => {
            let Some(future) = new_future(model, &spawner, script, false) else {
                return;
            };
            let id = future.id;
            let result = super::starved(|| spawner.spawn(future).map(drop));
            let m = model.borrow();
            check!(
                result == Err(Error::Os(sys::Errno::ENOMEM)),
                "task {id}: spawn with no memory gave {result:?}"
            );
            let t = &m.tasks.list[id];
            check!(
                t.run == Run::Refused && t.future_drops == 1,
                "task {id}: refused, future not dropped once ({:?})",
                t.run
            );
        }
        Op::Wake { waker, how } => {
            let Some(w) = model.borrow().tasks.pick_waker(waker) else {
                return;
            };
            let (id, waker) = {
                let m = model.borrow();
                let (id, waker) = &m.tasks.wakers[w];
                (*id, waker.clone())
            };
            if let Some(waker) = waker {
                model.borrow_mut().tasks.woken(id);
                wake_with(&waker, how);
            }
        }
        Op::BlockingWake(waker) => blocking_wake(reactor, model, waker),
        Op::LateWake(waker) => {
            let mut m = model.borrow_mut();
            let Some(w) = m.tasks.pick_waker(waker) else {
                return;
            };
            if m.tasks.late.len() >= MAX_LATE {
                return;
            }
            let Some(waker) = m.tasks.wakers[w].1.clone() else {
                return;
            };
            let (tx, rx) = mpsc::channel::<()>();
            let thread = std::thread::spawn(move || {
                if rx.recv().is_ok() {
                    waker.wake();
                }
            });
            m.tasks.late.push((tx, thread));
        }
        Op::DropWaker(waker) => {
            let Some(w) = model.borrow().tasks.pick_waker(waker) else {
                return;
            };
            let waker = model.borrow_mut().tasks.wakers[w].1.take();
            drop(waker);
        }
        Op::DropHandle(i) => {
            let Some(id) = model.borrow().tasks.pick_task(i) else {
                return;
            };
            let handle = model.borrow_mut().tasks.handles[id].take();
            let had = handle.is_some();
            if had {
                model.borrow_mut().tasks.list[id].detached = true;
            }
            drop(handle);
            let m = model.borrow();
            let t = &m.tasks.list[id];
            // A finished task's output goes with its handle, unless it was taken. (No handle
            // here: a joining task took it, or it was dropped before; nothing to check.)
            check!(
                !had || t.run != Run::Finished || t.taken || t.output_drops == 1,
                "task {id}: its output was not dropped with its handle"
            );
        }
        Op::TakeJoin(i) => {
            let Some(id) = model.borrow().tasks.pick_task(i) else {
                return;
            };
            take_checked(model, id, false);
        }
        Op::PokeAsync(k) => {
            let mut m = model.borrow_mut();
            let Some(k) = m.tasks.pick_async(k) else {
                return;
            };
            let written = sys::write(m.tasks.asyncs[k].io.get_ref().as_fd(), &1u64.to_ne_bytes());
            check!(written.is_ok(), "poking async eventfd {k} failed");
            m.tasks.asyncs[k].level = true;
            m.tasks.dirty = true;
            m.tasks.update_owed(k);
        }
        Op::DrainAsync(k) => {
            let mut m = model.borrow_mut();
            let Some(k) = m.tasks.pick_async(k) else {
                return;
            };
            let fd = m.tasks.asyncs[k].io.get_ref().as_fd();
            if sys::read(fd, &mut [0u8; 8]).is_ok() {
                m.tasks.dirty = true;
            }
            m.tasks.asyncs[k].level = false;
            m.tasks.update_owed(k);
        }
        _ => unreachable!("not an executor operation"),
    }
}

/// `try_take` and `is_finished` on task `id`'s handle, if it has one; `closed`: the reactor
/// is gone.
fn take_checked(model: &Shared, id: usize, closed: bool) {
    let handle = model.borrow_mut().tasks.handles[id].take();
    let Some(handle) = handle else { return };
    let run = model.borrow().tasks.list[id].run;
    let finished = handle.is_finished();
    check!(
        finished == (run != Run::Running),
        "task {id}: is_finished {finished} while {run:?}"
    );
    check!(
        !closed || run != Run::Running,
        "task {id}: still running once its reactor was dropped"
    );
    // The output is given once; an error as often as asked.
    for _ in 0..2 {
        let taken = model.borrow().tasks.list[id].taken;
        let result = handle.try_take();
        match (&result, run, taken) {
            (None, Run::Running, _) | (None, Run::Finished, true) => {}
            (Some(Ok(out)), Run::Finished, false) => {
                check!(out.id == id, "task {id}: gave task {}'s output", out.id);
                model.borrow_mut().tasks.list[id].taken = true;
            }
            (Some(Err(Error::Panicked)), Run::Panicked, _) => {}
            (Some(Err(Error::Closed)), Run::Cancelled, _) => {}
            _ => violation(format_args!(
                "task {id}: try_take gave {:?} while {run:?} (output taken {taken})",
                result.as_ref().map(|r| r.as_ref().map(|o| o.id))
            )),
        }
        drop(result);
    }
    model.borrow_mut().tasks.handles[id] = Some(handle);
}

/// Another thread wakes a parked task while the loop runs turns that may block for ever:
/// the task must be polled (a wake lost while the reactor sleeps hangs the fuzzer).
fn blocking_wake(reactor: &mut Reactor, model: &Shared, waker: u8) {
    let picked = {
        let m = model.borrow();
        m.tasks.pick_waker(waker).and_then(|w| {
            let (id, waker) = &m.tasks.wakers[w];
            let live = m.tasks.list[*id].run == Run::Running;
            waker.clone().filter(|_| live).map(|waker| (*id, waker))
        })
    };
    let Some((id, waker)) = picked else { return };
    // When the wake lands, against the turns, is the thread's: the task's polls are not
    // checked against wakes any more, nor bounded in phases from this one.
    model.borrow_mut().tasks.list[id].exempt = true;
    let waking = Arc::new(AtomicBool::new(false));
    let flag = waking.clone();
    let thread = std::thread::spawn(move || {
        flag.store(true, Ordering::SeqCst);
        waker.wake();
    });
    // Turns with no timeout while the wake is certainly still to come: the task is running,
    // so whenever the reactor blocks, the task is parked and the wake must end the wait. Once
    // the thread is about to wake, turns that do not block (a poll may take the wake and park
    // the task again before the thread is done); once it is done, until a poll after the
    // wake (or the turns run out:
    // the wake may have been taken by a poll the loop cannot tell from an earlier one, and
    // panics out of turns, a handler's every turn say, may keep the task phase from running).
    let mut polls_at_wake = None;
    for _ in 0..MAX_BLOCKING_TURNS {
        let (polls, running) = {
            let t = &model.borrow().tasks.list[id];
            (t.polls, t.run == Run::Running)
        };
        if polls_at_wake.is_none() && thread.is_finished() {
            polls_at_wake = Some(polls);
        }
        match polls_at_wake {
            _ if !running => break,
            Some(at) if polls > at => break,
            _ if waking.load(Ordering::SeqCst) => super::turn(reactor, model, None),
            _ => super::turn_blocking(reactor, model),
        }
    }
    {
        let t = &mut model.borrow_mut().tasks.list[id];
        // Not polled since the wake (or the wake's time unknown): it may still be scheduled.
        let polled_since = matches!(polls_at_wake, Some(at) if t.polls > at);
        if !polled_since {
            t.maybe_scheduled = true;
        }
    }
    thread
        .join()
        .unwrap_or_else(|_| violation(format_args!("a waking thread panicked")));
}

/// Before a turn.
pub fn turn_begins(m: &mut Model) {
    let now = Instant::now();
    // A sleep armed at a wait may have set the reactor's alarm, which may ring in any later
    // batch (a dropped sleep's too, until a wait with a timeout moves it).
    if m.tasks.list.iter().any(|t| t.sleeping.is_some()) {
        m.alarm_may_ring = true;
    }
    let tasks = &mut m.tasks;
    tasks.polls_in_turn = 0;
    tasks.panicked = false;
    tasks.in_turn = true;
    tasks.dirty_before = std::mem::take(&mut tasks.dirty);
    tasks.edge_readers.clear();
    if tasks.dirty_before {
        let readers = tasks.list.iter().enumerate();
        let readers = readers.filter(|(_, t)| t.run == Run::Running && t.reading.is_some());
        let readers: Vec<_> = readers.map(|(id, t)| (id, t.polls)).collect();
        tasks.edge_readers = readers;
    }
    // Sleeps certainly over are fired by this turn's task phase.
    let over: Vec<usize> = (tasks.list.iter().enumerate())
        .filter(|(_, t)| t.run == Run::Running && t.sleeping.is_some_and(|at| at <= now))
        .map(|(id, _)| id)
        .collect();
    for id in over {
        tasks.schedule(id);
    }
    let by = tasks.phases + 1 + (tasks.running() / BUDGET) as u64;
    for t in tasks.list.iter_mut() {
        if t.due_phase == Some(DUE_AT_BEGIN) {
            t.due_phase = Some(by);
        }
    }
}

/// After a turn (`completed`: its task phase ran to its end; `waited`: it waited for
/// events): what its task phase must have done. Returns what its count may have besides the
/// subscribers' and timers': the polls, and at most how many events of the executor's own
/// nodes (its inbox, the `Async` eventfds).
pub fn turn_ends(m: &mut Model, completed: bool, waited: bool) -> (usize, usize) {
    let tasks = &mut m.tasks;
    tasks.in_turn = false;
    if !waited {
        tasks.dirty |= tasks.dirty_before;
    } else {
        // The wait took the edges: the readers it woke that the budget left are scheduled.
        for (id, polls) in std::mem::take(&mut tasks.edge_readers) {
            let t = &mut tasks.list[id];
            if t.run == Run::Running && t.polls == polls {
                t.maybe_scheduled = true;
            }
        }
    }
    if completed {
        tasks.phases += 1;
        if waited {
            tasks.waits += 1;
        }
    }
    let by = tasks.phases + 1 + (tasks.running() / BUDGET) as u64;
    for t in tasks.list.iter_mut() {
        if t.due_phase == Some(DUE_AT_END) {
            t.due_phase = Some(by);
        }
    }
    if completed {
        for (id, t) in tasks.list.iter().enumerate() {
            if let Some(by) = t.due_phase.filter(|_| t.run == Run::Running) {
                check!(
                    tasks.phases < by,
                    "task {id}: scheduled, not polled by task phase {by}"
                );
            }
        }
        for (k, fd) in tasks.asyncs.iter().enumerate() {
            if let Some(by) = fd.owed {
                check!(
                    tasks.waits < by,
                    "async eventfd {k}: readable with a reader parked, not read by wait {by}"
                );
            }
        }
    }
    for (id, t) in tasks.list.iter().enumerate() {
        let gone = !matches!(t.run, Run::Running | Run::Spawning);
        check!(
            t.future_drops == u32::from(gone),
            "task {id}: {:?}, its future dropped {} times",
            t.run,
            t.future_drops
        );
        if t.run == Run::Finished {
            check!(
                t.output_drops == u32::from(t.detached || t.taken),
                "task {id}: finished (detached {}, taken {}), output dropped {} times",
                t.detached,
                t.taken,
                t.output_drops
            );
        }
    }
    (tasks.polls_in_turn, 1 + tasks.asyncs.len())
}

/// Once the reactor is dropped: every task cancelled, its handle gives `Closed`; every future
/// and output dropped once; the kept wakers and the threads holding some are let go.
pub fn after_reactor(model: &Shared) {
    let n = model.borrow().tasks.list.len();
    for id in 0..n {
        take_checked(model, id, true);
    }
    let spawner = model.borrow_mut().tasks.spawner.take();
    if let Some(spawner) = spawner {
        let refused = spawner.spawn(async {}).map(drop);
        check!(
            refused == Err(Error::Closed),
            "spawn after the reactor was dropped gave {refused:?}"
        );
    }
    // Wakes after the end: nothing to schedule.
    let wakers = std::mem::take(&mut model.borrow_mut().tasks.wakers);
    for (at, (_, waker)) in wakers.iter().enumerate() {
        if let Some(waker) = waker.as_ref().filter(|_| at % 2 == 0) {
            waker.wake_by_ref();
        }
    }
    let late = std::mem::take(&mut model.borrow_mut().tasks.late);
    for (tx, thread) in late {
        let _ = tx.send(());
        thread
            .join()
            .unwrap_or_else(|_| violation(format_args!("a late waking thread panicked")));
    }
    drop(wakers);
    let handles = std::mem::take(&mut model.borrow_mut().tasks.handles);
    drop(handles);
    let asyncs = std::mem::take(&mut model.borrow_mut().tasks.asyncs);
    drop(asyncs);
    let m = model.borrow();
    for (id, t) in m.tasks.list.iter().enumerate() {
        check!(
            t.future_drops == 1,
            "task {id}: {:?}, future dropped {} times in all",
            t.run,
            t.future_drops
        );
        let outputs = u32::from(t.run == Run::Finished);
        check!(
            t.output_drops == outputs,
            "task {id}: {:?}, output dropped {} times in all",
            t.run,
            t.output_drops
        );
    }
}
