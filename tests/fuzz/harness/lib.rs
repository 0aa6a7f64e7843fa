//! The registry fuzz harness: an input is a list of operations on a real `Reactor` with real
//! eventfds, pipes and timers, including operations that handlers and timer callbacks perform
//! while they run: subscribers with several tagged registrations and timers of their own, and
//! values lent to other subscribers' handlers by `Ops::with`. A model predicts every result and checks every handler and callback call
//! and every drop; a disagreement aborts the process (so no `catch_unwind` can hide it). Shared by the fuzz target and by the
//! crate's `tests/fuzz_regressions.rs`, which replays the committed corpus.

use arbitrary::Arbitrary;

#[path = "alloc.rs"]
mod alloc;
#[path = "fds.rs"]
mod fds;
#[path = "model.rs"]
mod model;
#[path = "remote.rs"]
mod remote;
#[path = "subscriber.rs"]
mod subscriber;
#[path = "timer.rs"]
mod timer;

pub use model::run;
#[cfg(feature = "tasks")]
pub use model::tasks::{NewTask, Step, WakeHow};

/// Most subscribers one input may create (fds stay well below any limit).
pub const MAX_SUBS: usize = 48;
/// Most timers one input may arm.
pub const MAX_TIMERS: usize = 48;
/// Most turns one input may run with a timeout (the others wait for nothing): each lasts up to
/// [`WAIT`].
pub const MAX_TIMED_TURNS: usize = 6;
/// The timeout of a timed turn, and the least it must last when nothing can end its wait early
/// (or when a ghost that cannot be rebuilt away makes it back off).
pub const WAIT: std::time::Duration = std::time::Duration::from_millis(1);

/// What kind of fd a subscriber watches.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    EventFd,
    Pipe,
}

/// How a subscriber is registered (always for reading).
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Level,
    Edge,
    Oneshot,
}

/// A subscriber to create.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub struct NewSub {
    pub kind: Kind,
    pub mode: Mode,
    pub ready: bool,
    pub panic_on_drop: bool,
    /// Which of the input's scripts its handler runs.
    pub script: u8,
}

/// What a handler does, in order, each time it runs. `u8`s pick a subscriber among all
/// created so far (deleted ones included: their keys are stale).
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Action {
    DeleteSelf,
    DeleteOther(u8),
    /// Deletes with every allocation failing: it succeeds, or fails with ENOMEM and leaves
    /// the subscriber registered and intact.
    DeleteStarved(u8),
    /// Deletes with no descriptor left (the soft fd limit is the lowest free number): a DEL the
    /// kernel refuses (the fd was closed behind the reactor's back) cannot be recovered by a
    /// rebuild, so the subscriber becomes a ghost: deleted all the same, dropped when the
    /// batch is done.
    DeleteNoFds(u8),
    /// As `Op::PutBack`, through the handler's `Ops`: while the batch is open, the ghost the
    /// rebuild releases must wait for the batch to be done.
    PutBack(u8, Mode),
    /// Closes its own fd behind the reactor's back (a dup keeps the file alive) and deletes
    /// itself with no descriptor left: a ghost retired while the batch is open; then, with
    /// `put_back`, puts its file back under its number and registers it anew (the rebuild
    /// that takes the ghost away must leave its memory to the end of the batch).
    GhostSelf {
        put_back: Option<Mode>,
    },
    Add(NewSub),
    ModifySelf(Mode),
    ModifyOther(u8, Mode),
    Rearm,
    Stop,
    DrainSelf,
    PokeOther(u8),
    Panic,
    Arm(NewTimer),
    /// `u8`s here pick a timer among all armed so far (cancelled and finished ones included:
    /// their keys are stale).
    Cancel(u8),
    Reset(u8, Sched),
    /// Registers a new eventfd of its own under tag `tag % 4` (0 is refused: its own fd's).
    AddFd(NewFd),
    ModifyFd {
        tag: u8,
        mode: Mode,
    },
    RemoveFd(u8),
    /// Reads its own extra descriptor (picked among those it still owns) dry.
    DrainFd(u8),
    /// Makes an extra descriptor of any subscriber ready.
    PokeFd {
        sub: u8,
        fd: u8,
    },
    /// Closes its own extra descriptor (picked among those it still owns) behind the
    /// reactor's back; the driver lets go of the file too, so it dies, and with it the
    /// kernel's registration.
    CloseFd(u8),
    /// Arms a timer of its own (`Ops::arm_own`): it fires to this handler, tagged.
    ArmOwn(Sched),
    /// `Ops::with` on a subscriber (the running one, or one lent further up, is `Busy`).
    With(u8, WithStep),
    /// `Ops::spawn`: first polled by this turn's task phase.
    #[cfg(feature = "tasks")]
    Spawn(NewTask),
    /// Wakes a waker the harness kept (as `Op::Wake`): the task runs in this turn's task
    /// phase.
    #[cfg(feature = "tasks")]
    WakeTask(u8),
}

/// An extra descriptor to register (always an eventfd, watched for reading).
#[derive(Arbitrary, Debug, Clone, Copy)]
pub struct NewFd {
    pub tag: u8,
    pub mode: Mode,
    pub ready: bool,
}

/// What a closure lent a subscriber by `Ops::with` does with the `Ops` it is given.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum WithStep {
    Nothing,
    /// `with` on the running subscriber: `Busy`.
    Running,
    /// `with` on the lent one again: `Busy`.
    Again,
    /// `with` on another one, and inside it on the first lent one and the running one.
    Nested(u8),
    /// Deletes a subscriber (the lent one too): never dropped while lent or running.
    Delete(u8),
    Panic,
}

/// A timer's schedule, made of two durations only so that the model needs no clock: zero (due
/// at the next turn that reads the clock, so it fires in that turn) and far (an hour: never due
/// during an input).
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sched {
    /// The first deadline is an hour away rather than now.
    pub far: bool,
    /// Fires again every hour after the first deadline: at most once during an input.
    pub periodic: bool,
}

/// A timer to arm.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub struct NewTimer {
    pub sched: Sched,
    /// Which of the input's timer scripts its callback runs.
    pub script: u8,
}

/// What a timer callback does, in order, each time it runs. `u8`s pick a timer among all armed
/// so far, or a subscriber among all created so far (stale ones included).
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum TimerAction {
    Arm(NewTimer),
    /// Cancels the running timer through `Ops::timer`: its callback is dropped once it returns.
    CancelSelf,
    Cancel(u8),
    /// Gives the running timer a new schedule, applied once it returns.
    ResetSelf(Sched),
    Reset(u8, Sched),
    /// Deletes a subscriber: no batch is open, so it is dropped at once (and a panicking
    /// destructor panics out of the callback).
    Delete(u8),
    Add(NewSub),
    /// Makes a subscriber ready before the turn's wait.
    Poke(u8),
    Stop,
    Panic,
    /// `Ops::with` with no subscriber running: only one lent further up is `Busy`.
    With(u8, WithStep),
    /// `Ops::add_fd` and `Ops::arm_own` with no subscriber running: refused as stale.
    OwnNothing,
    /// `Ops::spawn` from a timer callback.
    #[cfg(feature = "tasks")]
    Spawn(NewTask),
    /// As `Action::WakeTask`.
    #[cfg(feature = "tasks")]
    WakeTask(u8),
}

/// What the test driver does between turns.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Op {
    Add(NewSub),
    /// Registers with every allocation failing: it succeeds (a spare node is reused), or fails
    /// with ENOMEM before the kernel sees anything.
    AddStarved(NewSub),
    Poke(u8),
    Drain(u8),
    CloseWriter(u8),
    Modify(u8, Mode),
    Delete(u8),
    /// Deletes with no descriptor left: a refused DEL leaves a ghost (the kernel may go on
    /// reporting the file under its old number), the subscriber is dropped at once all the same
    /// (when the batch remainder is done, if one waits), its number free.
    DeleteNoFds(u8),
    /// Closes the subscriber's fd behind the reactor's back (through `get_mut`); with
    /// `keep_file` a dup keeps the file, and so its epoll registration, alive (an eventfd's
    /// file is always kept alive by the driver's writer).
    CloseEarly {
        sub: u8,
        keep_file: bool,
    },
    /// `CloseEarly` (keeping the file) then `DeleteNoFds`: a ghost in one step.
    Ghost(u8),
    /// Puts the file of a deleted subscriber whose fd was closed behind the reactor's back (and
    /// that the driver keeps open) back under its old number, and registers it as a new
    /// subscriber: if a ghost of it is still in the epoll set, the kernel refuses the ADD
    /// (`EEXIST`) and the registry rebuilds the set first.
    PutBack {
        sub: u8,
        mode: Mode,
        script: u8,
    },
    /// `run_once(Some(Duration::ZERO))`.
    Turn,
    /// `run_once(Some(WAIT))`, with no descriptor left if `no_fds`: a turn whose wait nothing
    /// can end early must last `WAIT`; one in which a ghost reports and cannot be rebuilt away
    /// must back off for `WAIT`. At most [`MAX_TIMED_TURNS`] an input; then a plain `Turn`.
    TimedTurn {
        no_fds: bool,
    },
    Arm(NewTimer),
    /// Arms with no descriptor left: if it is the reactor's first timer, its alarm (a timerfd)
    /// cannot be made and the timers wake the reactor by timeouts; the arm succeeds.
    ArmNoFds(NewTimer),
    /// Arms with every allocation failing: it fails with ENOMEM, and the callback is dropped
    /// before it returns.
    ArmStarved(NewTimer),
    Cancel(u8),
    Reset(u8, Sched),
    /// `Reactor::add_fd`: a new eventfd the subscriber then owns.
    AddFd {
        sub: u8,
        new: NewFd,
    },
    ModifyFd {
        sub: u8,
        tag: u8,
        mode: Mode,
    },
    RemoveFd {
        sub: u8,
        tag: u8,
    },
    PokeFd {
        sub: u8,
        fd: u8,
    },
    DrainFd {
        sub: u8,
        fd: u8,
    },
    /// As `Action::CloseFd`, through `get_mut`.
    CloseFd {
        sub: u8,
        fd: u8,
    },
    /// `Reactor::arm_own`.
    ArmOwn {
        sub: u8,
        sched: Sched,
    },
    /// Spawns a task from outside the loop (the executor's operations follow; their model is
    /// `model/tasks.rs`). Task ops pick tasks and wakers among all made so far, and `Async`
    /// eventfds among the harness's.
    #[cfg(feature = "tasks")]
    Spawn(NewTask),
    /// Spawns up to a hundred tasks at once: more than a turn's budget.
    #[cfg(feature = "tasks")]
    SpawnMany {
        count: u8,
        new: NewTask,
    },
    /// Spawns with every allocation failing: `ENOMEM`, the future dropped once.
    #[cfg(feature = "tasks")]
    SpawnStarved(u8),
    /// Wakes a waker the harness kept from a parked poll (its task may be done).
    #[cfg(feature = "tasks")]
    Wake {
        waker: u8,
        how: WakeHow,
    },
    /// Another thread wakes a kept waker while the loop runs turns with no timeout until its
    /// task is polled: a wake while the reactor sleeps must wake it.
    #[cfg(feature = "tasks")]
    BlockingWake(u8),
    /// A clone of a kept waker goes to a thread that wakes and drops it once the reactor is
    /// dropped.
    #[cfg(feature = "tasks")]
    LateWake(u8),
    #[cfg(feature = "tasks")]
    DropWaker(u8),
    /// Drops a task's join handle: it is detached.
    #[cfg(feature = "tasks")]
    DropHandle(u8),
    /// `JoinHandle::try_take` and `is_finished`.
    #[cfg(feature = "tasks")]
    TakeJoin(u8),
    /// Makes one of the harness's `Async` eventfds readable.
    #[cfg(feature = "tasks")]
    PokeAsync(u8),
    /// Reads one of them dry from outside.
    #[cfg(feature = "tasks")]
    DrainAsync(u8),
    /// `Remote::post` from the driver (the reactor's remote is made at the first post).
    Post(JobKind),
    /// A burst of a thousand posts or more: past the remote queue's ring, into its list.
    PostMany(u8),
    /// Posts from another thread, which the driver waits for.
    PostFromThread(u8),
    /// Posts with every allocation failing: refused with ENOMEM, the job dropped once.
    PostStarved(JobKind),
}

/// What a posted job does when it runs (besides checking its order).
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    Plain,
    /// Stops the reactor: the turn's last job.
    Stop,
    /// Posts another job.
    Post,
}

#[derive(Arbitrary, Debug, Clone)]
pub struct Input {
    /// Subscribers' handler scripts.
    pub scripts: Vec<Vec<Action>>,
    /// Timer callbacks' scripts.
    pub timer_scripts: Vec<Vec<TimerAction>>,
    /// Tasks' scripts.
    #[cfg(feature = "tasks")]
    pub task_scripts: Vec<Vec<Step>>,
    pub ops: Vec<Op>,
}

/// Before the first input: quiets planted panics, and makes the main thread's thread-locals
/// that spawning, scoping and joining threads register (with the C library's list of their
/// destructors, kept until the thread exits), so that the leak check after an input never
/// counts them as that input's.
pub fn init() {
    quiet_planted_panics();
    let _ = std::thread::current();
    std::thread::scope(|s| {
        s.spawn(|| ());
    });
    #[cfg(feature = "tasks")]
    {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let waiter = std::thread::spawn(move || rx.recv().is_ok());
        let _ = tx.send(());
        let _ = waiter.join();
    }
}

/// Planted panics (handlers, timer callbacks, destructors) are part of the input; keep them
/// quiet, and leave every other panic loud. Also replaces any hook that would abort on a planted panic.
pub fn quiet_planted_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !model::is_planted(info.payload()) {
            default(info);
        }
    }));
}
