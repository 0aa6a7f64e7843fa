//! The model: it predicts every result, checks every handler and timer callback call and every
//! drop as they happen, and checks at the end of each batch and turn what must have happened.
//!
//! Timers use two durations only, zero and far (an hour), so the model needs no clock: a turn
//! that reads the clock gives every timer armed or reset since the last reading its deadline,
//! and every zero one must then fire in that turn, before its wait; a far one never fires.

use super::alloc::starved;
use super::fds::no_fds;
use super::remote;
use super::subscriber::FuzzSub;
use super::timer;
use super::{
    Action, Input, Kind, Mode, NewSub, NewTimer, Op, Sched, TimerAction, MAX_SUBS, MAX_TIMED_TURNS,
    MAX_TIMERS, WAIT,
};
use barepoll::sys::{self, AsFd, AsRawFd, OwnedFd, RawFd};
use barepoll::{interest, Error, Event, Interest, Key, Ops, Reactor, Timer, TimerKey};
use std::any::Any;
use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::time::{Duration, Instant};

pub use owned::Extra;
use owned::Open;

/// The payload of every panic the input plants.
pub const PLANTED: &str = "planted panic";

/// A far deadline or period: no input runs this long.
const FAR: Duration = Duration::from_secs(3600);

fn timer_of(sched: Sched) -> Timer {
    let timer = Timer::after(if sched.far { FAR } else { Duration::ZERO });
    if sched.periodic {
        timer.every(FAR)
    } else {
        timer
    }
}

pub type Shared = Rc<RefCell<Model>>;

pub fn is_planted(payload: &(dyn Any + Send)) -> bool {
    payload.downcast_ref::<&str>() == Some(&PLANTED)
}

/// A disagreement with the model: abort, so that no `catch_unwind` can swallow it.
pub fn violation(msg: std::fmt::Arguments<'_>) -> ! {
    eprintln!("model violation: {msg}");
    super::fds::lift_limit();
    std::process::abort()
}

macro_rules! check {
    ($cond:expr, $($fmt:tt)*) => {
        if !$cond {
            violation(format_args!($($fmt)*))
        }
    };
}

#[path = "owned.rs"]
mod owned;
#[cfg(feature = "tasks")]
#[path = "tasks.rs"]
pub mod tasks;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum State {
    Live,
    Deleted,
    /// Its registration was refused.
    Refused,
}

/// What an operation through a key must give.
#[derive(Clone, Copy, Debug)]
pub enum Expect {
    Is(Result<(), Error>),
    /// A live subscriber whose fd was closed behind the reactor's back before an epoll-set
    /// rebuild: the rebuild registered whatever file its number named then, if any.
    Wild,
}

impl Expect {
    fn allows(self, result: Result<(), Error>) -> bool {
        match self {
            Expect::Is(want) => result == want,
            Expect::Wild => matches!(
                result,
                Ok(())
                    | Err(Error::Os(
                        sys::Errno::ENOENT | sys::Errno::EBADF | sys::Errno::EINVAL
                    ))
            ),
        }
    }
}

pub struct Sub {
    key: Option<Key>,
    fd: RawFd,
    kind: Kind,
    mode: Mode,
    state: State,
    script: usize,
    panic_on_drop: bool,
    /// The eventfd counter, or the bytes in the pipe.
    level: u64,
    /// The eventfd (a dup) or the pipe's write end, for making it ready.
    writer: Option<OwnedFd>,
    /// The subscriber still owns its fd.
    fd_open: bool,
    /// A dup of a pipe's read end the driver keeps after closing the subscriber's.
    kept: Option<OwnedFd>,
    edge: Arming,
    oneshot: Arming,
    registered_batch: u64,
    ready_at_wait: bool,
    mode_at_wait: Mode,
    fired: bool,
    /// Deleted or modified since the batch's wait.
    touched: bool,
    /// Its fd was closed behind the reactor's back and then the epoll set was rebuilt: what
    /// the kernel reports for it, if anything, is no longer predicted.
    wild: bool,
    /// Live at the batch's wait and able to report then (ready, or wild): what bounds the
    /// batch's count.
    reportable_at_wait: bool,
    /// Its file was ready at the batch's wait, or it is wild (for a ghost: it may have
    /// reported).
    ghost_ready_at_wait: bool,
    /// The batch it became a ghost in (if it did).
    ghost_batch: u64,
    drops: u32,
    /// Its extra registrations (removed ones too), in the order they were made.
    extras: Vec<Extra>,
}

impl Sub {
    fn file_alive(&self) -> bool {
        self.kind == Kind::EventFd || self.fd_open || self.kept.is_some()
    }

    fn ready(&self) -> bool {
        self.file_alive() && (self.level > 0 || (self.kind == Kind::Pipe && self.writer.is_none()))
    }

    fn arm(&mut self) {
        self.edge.arm();
        self.oneshot.arm();
    }
}

/// Whether an edge-triggered or oneshot registration may report: armed by registration,
/// modify or re-arm (and for edges by new data or a hang-up); firing consumes only what was
/// armed before the batch's wait, since arming during the batch queues for the next wait.
/// Deliberately permissive: it may say armed when the kernel would not report, never the
/// reverse.
#[derive(Clone, Copy)]
struct Arming {
    armed: bool,
    since_wait: bool,
}

impl Arming {
    fn armed() -> Arming {
        Arming {
            armed: true,
            since_wait: true,
        }
    }

    fn arm(&mut self) {
        *self = Arming::armed();
    }

    fn wait(&mut self) {
        self.since_wait = false;
    }

    /// Fires; returns whether it was armed.
    fn fire(&mut self) -> bool {
        let was = self.armed;
        self.armed = self.since_wait;
        was
    }
}

/// Where a timer is in its life.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    /// Armed or reset since the last clock reading, which gives it its deadline.
    Pending(Sched),
    /// Its deadline has come: it fires in this clock-reading turn or, if a callback panics out
    /// of the turn first, in the next one.
    Due { periodic: bool },
    /// Its deadline is an hour away or more: it never fires during an input.
    Far,
    /// Its callback runs or, if `panicked`, panicked out of a turn and waits for the next clock
    /// reading to be finished as if it had returned.
    Running {
        periodic: bool,
        cancelled: bool,
        reset: Option<Sched>,
        panicked: bool,
    },
    /// Finished (a one-shot timer that fired), cancelled, or refused: no key names it.
    Gone,
}

pub struct Tmr {
    key: Option<TimerKey>,
    phase: Phase,
    script: usize,
    drops: u32,
    /// Its callback must have been dropped by now: once it is gone, the next callback or
    /// handler call and the end of the turn find it dropped.
    drop_due: bool,
    /// The subscriber that owns it (`arm_own`): it fires to that subscriber's handler, tagged
    /// [`owned::OWNED_TAG`] plus its index; its callback is the reactor's (no drop to watch).
    owner: Option<usize>,
}

pub struct Model {
    subs: Vec<Sub>,
    scripts: Vec<Vec<Action>>,
    timers: Vec<Tmr>,
    timer_scripts: Vec<Vec<TimerAction>>,
    batch: u64,
    in_turn: bool,
    pub in_handler: Option<usize>,
    /// The timer whose callback is running.
    in_timer: Option<usize>,
    /// A cancel that must drop this timer's callback at once is running.
    cancelling: Option<usize>,
    /// An arm that must fail for want of memory (dropping the callback) is running.
    arming: Option<usize>,
    /// This turn's clock reading is accounted for: the panicked callback finished, pending
    /// timers given their deadlines.
    clock_read: bool,
    /// The clock was read again after the turn's batch (the alarm rang in it: the timers due
    /// then fire at the batch's end, after a reading of their own).
    read_after_batch: bool,
    /// This turn's wait is accounted for: its batch began.
    waited: bool,
    /// A timer callback asked to stop in this turn: it returns before it waits.
    timer_stop: bool,
    timer_panicked: bool,
    timer_fires: usize,
    /// A handler panicked out of the batch and the reactor holds the rest of it.
    remainder: bool,
    handler_panicked: bool,
    /// A destructor panicked while the graveyard of an earlier batch was freed.
    leftover_drop_panicked: bool,
    /// This turn starts afresh rather than finishing a batch a handler panicked out of: it reads
    /// the clock (if timers are armed) and fires the due timers, then waits for a new batch
    /// unless a callback stopped it or panicked. Both its clock reading and its wait are
    /// accounted for lazily, at the first sign of them (a callback or handler call, a drop, the
    /// end of the turn): nothing the model could tell apart happens in between.
    began_batch: bool,
    /// The reactor's alarm may ring in a batch: a task slept at some wait of this input (its
    /// sleep set the alarm). Then the timers due may fire at the end of a batch a panic left,
    /// in the turn that finishes it.
    pub(crate) alarm_may_ring: bool,
    fires: usize,
    stop: bool,
    /// `Reactor::delete` is running for this subscriber outside any batch.
    deleting: Option<usize>,
    /// A registration that may fail for want of memory is running for this subscriber.
    adding: Option<usize>,
    dropping_reactor: bool,
    /// Deleted subscribers whose DEL the kernel refused and whose epoll-set rebuild failed:
    /// the kernel may still report their file under the old number. With whether it certainly
    /// still does (no rebuild may have happened since).
    ghosts: Vec<(usize, bool)>,
    /// The operation running has no descriptor left (see `fds::no_fds`).
    no_fds: bool,
    /// A descriptor was closed during the operation or turn running: a number below the limit
    /// is free again, so a rebuild may succeed after all.
    fd_closed: bool,
    /// A ghost reported in the last turn and could not be rebuilt away: the next turn that
    /// begins a batch backs off before it waits.
    owed_backoff: bool,
    /// The operation running has every allocation failing.
    starved: bool,
    timed_turns: usize,
    /// The subscribers lent by `Ops::with` calls running now, outermost first.
    lent: Vec<usize>,
    /// The owned timer whose owner's handler runs now.
    owned_running: Option<usize>,
    /// The owned timer whose owner's handler returned: its callback returns next (what it
    /// deleted meanwhile is dropped first), then it is finished.
    owned_returning: Option<usize>,
    /// A timer callback's `Ops::with` is running: what it deleted is dropped as it returns.
    timer_with: bool,
    /// The executor's tasks.
    #[cfg(feature = "tasks")]
    tasks: tasks::Tasks,
}

/// What an attempt to rebuild the epoll set did, as far as the model can tell.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Rebuild {
    Done,
    Failed,
    Maybe,
}

fn interest_of(mode: Mode) -> Interest {
    match mode {
        Mode::Level => interest().read(),
        Mode::Edge => interest().read().edge(),
        Mode::Oneshot => interest().read().oneshot(),
    }
}

fn fd_is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD only asks whether the number is open.
    unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
}

impl Model {
    fn pick(&self, i: u8) -> Option<usize> {
        (!self.subs.is_empty()).then(|| i as usize % self.subs.len())
    }

    /// What a delete through `id`'s key must give, or `None` if it has no key. A DEL the
    /// kernel refuses (the fd was closed behind the reactor's back) is recovered by rebuilding
    /// the epoll set, so a live subscriber's delete always succeeds.
    fn predict_delete(&self, id: usize) -> Option<(Key, Expect)> {
        let s = &self.subs[id];
        let key = s.key?;
        let result = if s.state != State::Live {
            Err(Error::StaleKey(key))
        } else {
            Ok(())
        };
        Some((key, Expect::Is(result)))
    }

    /// What a modify (or re-arm) through `id`'s key must give, or `None` if it has no key.
    fn predict_modify(&self, id: usize) -> Option<(Key, Expect)> {
        let s = &self.subs[id];
        let key = s.key?;
        let result = if s.state != State::Live {
            Err(Error::StaleKey(key))
        } else if s.fd_open {
            Ok(())
        } else if s.wild {
            return Some((key, Expect::Wild));
        } else if fd_is_open(s.fd) {
            Err(Error::Os(sys::Errno::ENOENT)) // the number names another file now
        } else {
            Err(Error::Os(sys::Errno::EBADF))
        };
        Some((key, Expect::Is(result)))
    }

    fn predict_add(&self, fd: RawFd) -> Result<(), Error> {
        let at = |state| {
            self.subs
                .iter()
                .any(|s| s.state == state && s.key.map(|k| k.fd()) == Some(fd))
        };
        if at(State::Live) || self.held_by_extra(fd) {
            Err(Error::AlreadyRegistered(fd))
        } else {
            Ok(())
        }
    }

    /// Records a delete's effect. `fd_was_open`: the subscriber owned its fd when the delete
    /// began (a delete outside a batch drops it, closing its fd, before it returns); if not,
    /// the kernel refused the DEL and the epoll set was rebuilt.
    fn after_delete(&mut self, id: usize, result: Result<(), Error>, open: Open) {
        if result.is_err() {
            return; // stale, or no memory: nothing changed
        }
        let s = &mut self.subs[id];
        s.state = State::Deleted;
        s.touched = true;
        self.owner_deleted(id);
        if open.main && !open.all {
            // An extra descriptor closed behind the reactor's back, its file gone with its
            // registration: the kernel refused its DEL, the registry tried a rebuild. Nothing
            // of it can report again: no ghost.
            let outcome = self.rebuild_now();
            self.rebuild_attempted(outcome);
        }
        if !open.main {
            // The kernel refused the DEL: the registry rebuilt the set, or, if it could not,
            // retired the node (a ghost), whose value goes all the same.
            let outcome = self.rebuild_now();
            self.rebuild_attempted(outcome);
            // A wild one's registration names whatever file its number named at the last
            // rebuild: whether it reports is not predicted.
            let certain = outcome == Rebuild::Failed && !self.subs[id].wild;
            self.subs[id].ghost_batch = self.batch;
            if outcome != Rebuild::Done {
                self.ghosts.push((id, certain));
            }
        }
    }

    /// What a rebuild tried now does: it needs a descriptor (the new epoll instance) and, while
    /// a batch is open, memory for the graveyard.
    fn rebuild_now(&self) -> Rebuild {
        match (self.no_fds, self.fd_closed, self.starved) {
            (true, false, _) => Rebuild::Failed,
            (true, true, _) | (false, _, true) => Rebuild::Maybe,
            (false, _, false) => Rebuild::Done,
        }
    }

    /// A rebuild was tried: done, every ghost is gone; maybe done, none is certain any more.
    fn rebuild_attempted(&mut self, outcome: Rebuild) {
        match outcome {
            Rebuild::Done => {
                self.rebuilt();
                self.ghosts.clear();
            }
            Rebuild::Failed => {}
            Rebuild::Maybe => {
                self.rebuilt();
                for ghost in &mut self.ghosts {
                    ghost.1 = false;
                }
            }
        }
    }

    /// A turn is over: if a ghost reported in it, the registry tried a rebuild. A ghost
    /// certainly reports at a wait if it is certainly still registered, level-triggered and
    /// ready; it may if it is ready. A remainder may hold ghost events of the earlier wait.
    fn ghosts_after_turn(&mut self, panicked: bool) {
        if self.ghosts.is_empty() {
            return;
        }
        let (certain, may) = if panicked || !self.began_batch {
            (false, true)
        } else if self.waited {
            // Ghosts made in this batch were not ghosts at its wait: their events skip.
            let (subs, batch) = (&self.subs, self.batch);
            let ready = |&(id, _): &(usize, bool)| {
                subs[id].ghost_ready_at_wait && subs[id].ghost_batch < batch
            };
            let certain = self
                .ghosts
                .iter()
                .any(|g| g.1 && ready(g) && subs[g.0].mode == Mode::Level);
            (certain, self.ghosts.iter().any(ready))
        } else {
            (false, false) // stopped before its wait
        };
        if certain {
            self.rebuild_attempted(self.rebuild_now());
        } else if may {
            let outcome = match self.rebuild_now() {
                Rebuild::Failed => Rebuild::Failed,
                _ => Rebuild::Maybe,
            };
            self.rebuild_attempted(outcome);
        }
    }

    /// Nothing can end a wait early: no batch remainder, no timer due or waiting for a clock
    /// reading, no live subscriber that may report, no ghost that may report.
    fn wait_is_whole(&self) -> bool {
        let timers_quiet = self
            .timers
            .iter()
            .all(|t| matches!(t.phase, Phase::Far | Phase::Gone));
        let subs_quiet = self.subs.iter().all(|s| {
            s.state != State::Live
                || !(s.ready() || s.wild || s.extras.iter().any(Extra::may_report))
        });
        let ghosts_quiet = self.ghosts.iter().all(|&(id, _)| {
            let s = &self.subs[id];
            !(s.ready() || s.wild)
        });
        #[cfg(feature = "tasks")]
        if self.tasks.may_end_wait() {
            return false;
        }
        // Its eventfd is readable while jobs wait, and may be after they ran (a wake that
        // came as they ran).
        if remote::exists() {
            return false;
        }
        !self.remainder && timers_quiet && subs_quiet && ghosts_quiet
    }

    /// A ghost will certainly report at the next wait (and no timer can shorten the turn's
    /// timeout): if no rebuild can be made, the turn must back off.
    fn ghost_will_report(&self) -> bool {
        let timers_quiet = self
            .timers
            .iter()
            .all(|t| matches!(t.phase, Phase::Far | Phase::Gone));
        let reports = self.ghosts.iter().any(|&(id, certain)| {
            let s = &self.subs[id];
            certain && s.mode == Mode::Level && s.ready()
        });
        !self.remainder && timers_quiet && reports
    }

    /// At the end of a turn that finished its batch: every deleted subscriber has been dropped
    /// (a destructor panic while the graveyard was emptied leaves the rest to this turn, even
    /// an idle one).
    fn check_deleted_dropped(&self) {
        for (id, s) in self.subs.iter().enumerate() {
            check!(
                s.state != State::Deleted || s.drops == 1,
                "sub {id}: deleted, not dropped by the end of the turn"
            );
        }
    }

    /// The reactor rebuilt its epoll set: every live registration is added afresh (so edge and
    /// oneshot ones are armed again), and those whose fd was closed behind the reactor's back
    /// now register whatever their number names, if anything.
    fn rebuilt(&mut self) {
        #[cfg(feature = "tasks")]
        {
            self.tasks.dirty = true; // the Async eventfds are registered afresh: an edge
        }
        for s in self.subs.iter_mut().filter(|s| s.state == State::Live) {
            s.arm();
            if !s.fd_open {
                s.wild = true;
            }
            for x in s.extras.iter_mut().filter(|x| x.registered) {
                x.rebuilt();
            }
        }
    }

    fn after_modify(&mut self, id: usize, result: Result<(), Error>, mode: Mode) {
        if result.is_ok() {
            let s = &mut self.subs[id];
            s.mode = mode;
            s.touched = true;
            s.arm();
        }
    }

    /// A handler is called for `id`: it must be allowed to run now. Returns its script.
    pub fn on_fire(&mut self, id: usize, event: Event) -> Vec<Action> {
        check!(
            self.in_turn && self.in_handler.is_none() && self.in_timer.is_none(),
            "sub {id}: handler outside dispatch or nested ({event:?})"
        );
        check!(
            self.lent.is_empty() && self.owned_running.is_none(),
            "sub {id}: handler called while a value is lent or an owned timer's handler runs"
        );
        self.settle_owned();
        if event.is_timer() {
            return self.on_owned_fire(id, event.tag());
        }
        if event.tag() != 0 {
            return self.on_extra_fire(id, event.tag());
        }
        if self.began_batch {
            self.wait();
        }
        self.check_dropped();
        let batch = self.batch;
        let s = &mut self.subs[id];
        check!(
            s.state == State::Live,
            "sub {id}: handler ran while {:?}",
            s.state
        );
        check!(
            s.registered_batch < batch,
            "sub {id}: fired in the batch it was registered in"
        );
        check!(
            s.ready_at_wait || s.wild,
            "sub {id}: fired but its fd was not ready at the wait"
        );
        match s.mode_at_wait {
            _ if s.wild => check!(!s.fired, "sub {id}: fired twice in one batch"),
            Mode::Level => check!(
                !s.fired,
                "sub {id}: level-triggered, fired twice in one batch"
            ),
            Mode::Edge => check!(
                s.edge.fire(),
                "sub {id}: edge-triggered, fired with no new edge"
            ),
            Mode::Oneshot => check!(s.oneshot.fire(), "sub {id}: oneshot, fired again unarmed"),
        }
        s.fired = true;
        self.fires += 1;
        self.in_handler = Some(id);
        let script = self.subs[id].script;
        self.scripts.get(script).cloned().unwrap_or_default()
    }

    /// `id` is being dropped: it must be dropped now, and only once. Returns whether it panics.
    pub fn on_drop(&mut self, id: usize) -> bool {
        let (in_turn, handler, timer) = (self.in_turn, self.in_handler, self.in_timer);
        let (deleting, dropping, remainder) =
            (self.deleting, self.dropping_reactor, self.remainder);
        let adding = self.adding == Some(id);
        check!(
            !self.lent.contains(&id) && handler != Some(id),
            "sub {id}: dropped while its value is lent or its handler runs"
        );
        let fd_was_open = self.open_of(id);
        let s = &mut self.subs[id];
        s.drops += 1;
        check!(s.drops == 1, "sub {id}: dropped {} times", s.drops);
        s.fd_open = false;
        for x in &mut s.extras {
            if x.fd_open {
                x.fd_open = false;
                self.fd_closed = true;
            }
        }
        if fd_was_open.main {
            self.fd_closed = true;
        }
        let timer_with = self.timer_with;
        let s = &mut self.subs[id];
        let allowed = match s.state {
            State::Refused => true,
            // Recorded as deleted only once the delete returns; outside a batch (between turns,
            // or by a timer callback) it drops at once unless a batch remainder may still
            // point at it. A registration refused for want of memory drops it before
            // returning.
            State::Live => dropping || adding || (deleting == Some(id) && !remainder),
            // Deleted during a batch: freed only once no handler or callback runs. Between
            // turns, only if no batch remainder may point at it: what a destructor panic left
            // of the graveyard or the ghosts' values is the next turn's to drop, unless a
            // rebuild between turns (a registration's) releases those ghosts first.
            // A timer callback's `with` holds the registry: what is deleted in it is dropped
            // as it returns (not lent by then: checked above).
            State::Deleted => {
                dropping
                    || (in_turn && handler.is_none() && timer.is_none())
                    || (!in_turn && !remainder)
                    || (in_turn && handler.is_none() && timer.is_some() && timer_with)
            }
        };
        check!(
            allowed,
            "sub {id}: dropped too early ({:?}, in turn {in_turn}, handler {handler:?})",
            s.state
        );
        let panics = s.panic_on_drop;
        let was_live = s.state == State::Live;
        if panics && in_turn && handler.is_none() {
            if let Some(timer) = timer {
                // Deleted by a timer callback, so dropped inside it: the panic leaves through
                // the callback, which never sees its delete return.
                self.deleting = None;
                if was_live {
                    self.after_delete(id, Ok(()), fd_was_open);
                }
                self.timer_with = false;
                self.lent.clear();
                self.timer_panics(timer);
            } else if let Some(timer) = self.owned_returning.take() {
                // Deleted by an owned timer's handler, dropped as its callback returns: the
                // panic leaves through that callback.
                self.timer_panics(timer);
            } else {
                // A turn that starts afresh first frees what the previous batch (which a
                // handler panicked out of) left in the graveyard; a destructor panic there
                // ends the turn before it reads the clock or waits. Later in such a turn, only
                // handlers can fill the graveyard (timer callbacks delete at once), so a drop
                // before any handler or callback ran is that one.
                self.leftover_drop_panicked =
                    self.began_batch && self.fires == 0 && self.timer_fires == 0;
            }
        }
        panics
    }

    fn pick_timer(&self, i: u8) -> Option<usize> {
        (!self.timers.is_empty()).then(|| i as usize % self.timers.len())
    }

    /// What a cancel or reset through `id`'s key must give, or `None` if it has no key. A
    /// running timer (or one that panicked and is not finished yet) is still armed, unless it
    /// was cancelled: then its key names no timer.
    fn predict_timer(&self, id: usize) -> Option<(TimerKey, Result<(), Error>)> {
        let t = &self.timers[id];
        let key = t.key?;
        let stale = matches!(
            t.phase,
            Phase::Gone
                | Phase::Running {
                    cancelled: true,
                    ..
                }
        );
        let result = if stale {
            Err(Error::StaleTimer(key))
        } else {
            Ok(())
        };
        Some((key, result))
    }

    /// A callback returned, or panicked and is finished by a later clock reading: cancelled,
    /// it is dropped; reset, it waits for the next clock reading; periodic, its next deadline
    /// is far; otherwise it is done, and dropped.
    fn finish(&mut self, id: usize) {
        let t = &mut self.timers[id];
        let Phase::Running {
            periodic,
            cancelled,
            reset,
            ..
        } = t.phase
        else {
            violation(format_args!("timer {id}: finished while {:?}", t.phase))
        };
        t.phase = match reset {
            Some(sched) if !cancelled => Phase::Pending(sched),
            None if periodic && !cancelled => Phase::Far,
            _ => {
                t.drop_due = true;
                Phase::Gone
            }
        };
    }

    /// The turn's clock reading: the callback that panicked in an earlier turn is finished,
    /// then every pending timer gets its deadline (zero ones are due now).
    /// A timer fires: if after the batch, the alarm rang in it, and the reactor read the clock
    /// again (the resets made in the batch are filed by that reading).
    pub(super) fn read_clock_to_fire(&mut self) {
        if self.waited && !self.read_after_batch {
            self.read_after_batch = true;
            self.clock_read = false;
        }
        self.read_clock();
    }

    pub(super) fn read_clock(&mut self) {
        if self.clock_read {
            return;
        }
        self.clock_read = true;
        let panicked = |t: &Tmr| matches!(t.phase, Phase::Running { panicked: true, .. });
        if let Some(id) = self.timers.iter().position(panicked) {
            self.finish(id);
        }
        for t in &mut self.timers {
            if let Phase::Pending(sched) = t.phase {
                t.phase = if sched.far {
                    Phase::Far
                } else {
                    Phase::Due {
                        periodic: sched.periodic,
                    }
                };
            }
        }
    }

    /// The turn's wait, after every due timer fired: the batch begins.
    fn wait(&mut self) {
        self.settle_owned();
        if self.waited {
            return;
        }
        check!(
            !self.timer_stop,
            "the turn waited after a timer callback asked to stop"
        );
        self.read_clock();
        self.check_no_due();
        self.waited = true;
        self.begin_batch();
    }

    /// The timers of a clock reading have all fired.
    fn check_no_due(&self) {
        for (id, t) in self.timers.iter().enumerate() {
            check!(
                !matches!(t.phase, Phase::Due { .. }),
                "timer {id}: due, never fired"
            );
        }
    }

    /// Every callback that is done has been dropped.
    fn check_dropped(&self) {
        for (id, t) in self.timers.iter().enumerate() {
            check!(
                !t.drop_due || t.drops == 1,
                "timer {id}: done, its callback not dropped"
            );
        }
    }

    fn timer_panics(&mut self, id: usize) {
        if let Phase::Running { panicked, .. } = &mut self.timers[id].phase {
            *panicked = true;
        }
        self.in_timer = None;
        self.timer_panicked = true;
    }

    /// Timer `id`'s callback is called with `key` from `Ops::timer`: it must be due, in the
    /// turn's timer phase. Returns its script.
    pub fn on_timer_fire(&mut self, id: usize, key: Option<TimerKey>) -> Vec<TimerAction> {
        check!(
            self.in_turn && self.in_handler.is_none() && self.in_timer.is_none(),
            "timer {id}: callback outside a turn or nested"
        );
        // Before the wait, or after a batch in which the alarm rang (the timers due then fire
        // at the batch's end): in a turn that finishes a batch a panic left only if the alarm
        // may have rung in it.
        check!(
            self.began_batch || self.alarm_may_ring,
            "timer {id}: fired in a turn that finishes a batch"
        );
        self.settle_owned();
        self.read_clock_to_fire();
        self.check_dropped();
        let t = &mut self.timers[id];
        check!(
            key.is_some() && key == t.key,
            "timer {id}: Ops::timer gives {key:?}, its key is {:?}",
            t.key
        );
        let Phase::Due { periodic } = t.phase else {
            violation(format_args!("timer {id}: fired while {:?}", t.phase))
        };
        t.phase = Phase::Running {
            periodic,
            cancelled: false,
            reset: None,
            panicked: false,
        };
        self.timer_fires += 1;
        self.in_timer = Some(id);
        let script = self.timers[id].script;
        self.timer_scripts.get(script).cloned().unwrap_or_default()
    }

    /// Timer `id`'s callback returns.
    pub fn on_timer_return(&mut self, id: usize) {
        self.in_timer = None;
        self.finish(id);
    }

    /// Timer `id`'s callback is being dropped: it must be dropped now, only once, and never
    /// while it runs.
    pub fn on_timer_drop(&mut self, id: usize) {
        // A clock-reading turn finishes a callback that panicked in an earlier turn before it
        // fires anything: the drop may be the first sign of the reading.
        let quiet = self.fires == 0 && self.timer_fires == 0 && self.in_handler.is_none();
        if self.in_turn && self.began_batch && quiet && self.in_timer.is_none() {
            self.read_clock();
        }
        let t = &mut self.timers[id];
        t.drops += 1;
        check!(t.drops == 1, "timer {id}: dropped {} times", t.drops);
        check!(
            self.in_timer != Some(id),
            "timer {id}: callback dropped while it runs"
        );
        let allowed = self.dropping_reactor
            || self.cancelling == Some(id)
            || self.arming == Some(id)
            || t.drop_due;
        check!(
            allowed,
            "timer {id}: callback dropped too early ({:?}, in turn {})",
            t.phase,
            self.in_turn
        );
    }

    /// The wait of a new batch: snapshot what the kernel will report.
    fn begin_batch(&mut self) {
        self.batch += 1;
        for s in &mut self.subs {
            s.ready_at_wait = s.state == State::Live && s.ready();
            s.reportable_at_wait = s.state == State::Live && (s.ready() || s.wild);
            s.ghost_ready_at_wait = s.ready() || s.wild;
            s.mode_at_wait = s.mode;
            s.edge.wait();
            s.oneshot.wait();
            s.fired = false;
            s.touched = false;
            let live = s.state == State::Live;
            for x in &mut s.extras {
                x.begin_batch(live);
            }
        }
    }

    /// The batch is done: every untouched level-triggered subscriber that was ready fired.
    fn end_batch(&self) {
        for (id, s) in self.subs.iter().enumerate() {
            let due = s.ready_at_wait
                && !s.wild
                && s.mode_at_wait == Mode::Level
                && s.registered_batch < self.batch;
            check!(
                !due || s.touched || s.fired,
                "sub {id}: level-triggered and ready, never fired"
            );
            for x in &s.extras {
                check!(
                    !x.due(self.batch) || s.touched,
                    "sub {id}: extra tag {}: level-triggered and ready, never fired",
                    x.tag
                );
            }
        }
    }
}

/// Creates the fd of a new subscriber, records it in the model and predicts its registration.
fn new_sub(model: &Shared, spec: NewSub) -> Option<(FuzzSub, Interest, Result<(), Error>)> {
    let mut m = model.borrow_mut();
    if m.subs.len() >= MAX_SUBS {
        return None;
    }
    let (fd, writer, level) = match spec.kind {
        Kind::EventFd => {
            let fd = sys::eventfd(spec.ready as u32, sys::EFD_NONBLOCK).ok()?;
            let writer = try_dup(&fd)?; // none with no descriptor left
            (fd, writer, spec.ready as u64)
        }
        Kind::Pipe => {
            let (r, w) = sys::pipe(sys::O_NONBLOCK).ok()?;
            if spec.ready {
                sys::write(w.as_fd(), b"x").ok()?;
            }
            (r, w, spec.ready as u64)
        }
    };
    let raw = fd.as_raw_fd();
    let predicted = m.predict_add(raw);
    let id = m.subs.len();
    let batch = m.batch;
    let scripts = m.scripts.len().max(1);
    // At most one destructor may panic per drop of a list (a second one aborts), so at most
    // one subscriber at a time is planted with a panicking destructor.
    let panic_on_drop = spec.panic_on_drop
        && predicted.is_ok()
        && !m.subs.iter().any(|s| s.panic_on_drop && s.drops == 0);
    m.subs.push(Sub {
        key: None,
        fd: raw,
        kind: spec.kind,
        mode: spec.mode,
        state: if predicted.is_ok() {
            State::Live
        } else {
            State::Refused
        },
        script: spec.script as usize % scripts,
        panic_on_drop,
        level,
        writer: Some(writer),
        fd_open: true,
        kept: None,
        edge: Arming::armed(),
        oneshot: Arming::armed(),
        registered_batch: batch,
        ready_at_wait: false,
        mode_at_wait: spec.mode,
        fired: false,
        touched: false,
        wild: false,
        reportable_at_wait: false,
        ghost_ready_at_wait: false,
        ghost_batch: 0,
        drops: 0,
        extras: Vec::new(),
    });
    let sub = FuzzSub {
        id,
        fd: Some(fd),
        extras: Vec::new(),
        model: model.clone(),
    };
    Some((sub, interest_of(spec.mode), predicted))
}

/// A dup of `fd`, or `None` if no descriptor is left.
fn try_dup(fd: &OwnedFd) -> Option<OwnedFd> {
    // SAFETY: dup of an open fd; the new number is owned by the result.
    let raw = unsafe { libc::dup(fd.as_raw_fd()) };
    // SAFETY: `raw` was just returned by dup and nothing else owns it.
    (raw >= 0).then(|| unsafe { <OwnedFd as sys::FromRawFd>::from_raw_fd(raw) })
}

/// `fd` again under the number `at`, which is free.
fn dup_to(fd: &OwnedFd, at: RawFd) -> OwnedFd {
    // SAFETY: dup2 of an open fd onto a number nothing owns (checked free by the caller); the
    // number is owned by the result.
    let raw = unsafe { libc::dup2(fd.as_raw_fd(), at) };
    check!(raw == at, "dup2 to {at} failed");
    // SAFETY: `raw` was just returned by dup2 and nothing else owns it.
    unsafe { <OwnedFd as sys::FromRawFd>::from_raw_fd(raw) }
}

fn record_add(
    model: &Shared,
    id: usize,
    result: Result<barepoll::Key, Error>,
    predicted: Result<(), Error>,
) {
    let mut m = model.borrow_mut();
    check!(
        result.map(drop) == predicted,
        "sub {id}: register gave {result:?}, model says {predicted:?}"
    );
    if let Ok(key) = result {
        check!(
            key.fd() == m.subs[id].fd,
            "sub {id}: key {key:?} for fd {}",
            m.subs[id].fd
        );
        m.subs[id].key = Some(key);
    }
}

fn poke(model: &Shared, id: usize) {
    let mut m = model.borrow_mut();
    let s = &mut m.subs[id];
    let (Some(writer), true) = (&s.writer, s.file_alive()) else {
        return;
    };
    let bytes: &[u8] = if s.kind == Kind::EventFd {
        &[1, 0, 0, 0, 0, 0, 0, 0]
    } else {
        b"x"
    };
    check!(
        sys::write(writer.as_fd(), bytes).is_ok(),
        "sub {id}: poke failed"
    );
    s.level += 1;
    s.edge.arm();
}

fn read_all(fd: sys::BorrowedFd<'_>) {
    let mut buf = [0u8; 64];
    while let Ok(n) = sys::read(fd, &mut buf) {
        if n == 0 {
            break;
        }
    }
}

/// One action of a running handler.
pub fn perform(me: &mut FuzzSub, action: Action, ops: &mut Ops<'_>) {
    let model = me.model.clone();
    // An owned timer's handler runs in the timer phase, outside any batch: the ghost
    // bookkeeping is the batches', so those actions are left to dispatched handlers.
    let ghostly = matches!(
        action,
        Action::GhostSelf { .. }
            | Action::PutBack(..)
            | Action::DeleteNoFds(_)
            | Action::DeleteStarved(_)
    );
    if ghostly && model.borrow().owned_running.is_some() {
        return;
    }
    let pick = |i: u8| model.borrow().pick(i);
    let pick_timer = |i: u8| model.borrow().pick_timer(i);
    match action {
        Action::DeleteSelf => delete_in_handler(&model, me.id, ops),
        Action::DeleteNoFds(i) => {
            if let Some(id) = pick(i) {
                without_fds(&model, || delete_in_handler(&model, id, ops));
            }
        }
        Action::GhostSelf { put_back: again } => {
            // Closes its own fd behind the reactor's back (a dup keeping the file), deletes
            // itself with no descriptor left: a ghost, retired while the batch is open.
            if !close_behind_back(&model, me.id, &mut me.fd, true) {
                return;
            }
            without_fds(&model, || delete_in_handler(&model, me.id, ops));
            if let Some(mode) = again {
                let script = me.id as u8;
                put_back(&model, me.id, mode, script, |sub, interest| {
                    ops.add(sub, interest)
                });
            }
        }
        Action::PutBack(i, mode) => {
            if let Some(id) = pick(i) {
                let script = me.id as u8; // any: the model takes it modulo the scripts
                put_back(&model, id, mode, script, |sub, interest| {
                    ops.add(sub, interest)
                });
            }
        }
        Action::DeleteOther(i) => {
            if let Some(id) = pick(i) {
                delete_in_handler(&model, id, ops)
            }
        }
        Action::DeleteStarved(i) => {
            let Some(id) = pick(i) else { return };
            let predicted = model.borrow().predict_delete(id);
            let Some((key, predicted)) = predicted else {
                return;
            };
            let open = model.borrow().open_of(id);
            let result = starved(|| ops.delete(key));
            let refused = result == Err(Error::Os(sys::Errno::ENOMEM));
            check!(
                predicted.allows(result) || (refused && predicted.allows(Ok(()))),
                "sub {id}: starved delete gave {result:?}, model says {predicted:?} or ENOMEM"
            );
            let mut m = model.borrow_mut();
            m.starved = true; // its rebuild, if any, may have failed for want of memory
            m.after_delete(id, result, open);
            m.starved = false;
        }
        Action::Add(spec) => {
            if let Some((sub, interest, predicted)) = new_sub(&model, spec) {
                let id = sub.id;
                let result = ops.add(sub, interest);
                record_add(&model, id, result, predicted);
            }
        }
        Action::ModifySelf(mode) => modify_checked(&model, me.id, mode, |k, i| ops.modify(k, i)),
        Action::ModifyOther(i, mode) => {
            if let Some(id) = pick(i) {
                modify_checked(&model, id, mode, |k, i| ops.modify(k, i))
            }
        }
        Action::Rearm => {
            let predicted = model.borrow().predict_modify(me.id);
            let Some((_, predicted)) = predicted else {
                return;
            };
            let result = ops.rearm();
            check!(
                predicted.allows(result),
                "sub {}: rearm gave {result:?}, model says {predicted:?}",
                me.id
            );
            let mode = model.borrow().subs[me.id].mode;
            model.borrow_mut().after_modify(me.id, result, mode);
        }
        Action::Stop => {
            ops.stop();
            remote::stop_seen();
            let mut m = model.borrow_mut();
            m.stop = true;
            // An owned timer's handler runs in its timer's callback: the turn stops before
            // its wait.
            m.timer_stop |= m.owned_running.is_some();
        }
        Action::AddFd(new) => {
            let added =
                owned::add_fd_checked(&model, me.id, new, |fd, tag, i| ops.add_fd(fd, tag, i));
            me.extras.extend(added);
        }
        Action::ModifyFd { tag, mode } => {
            owned::modify_fd_checked(&model, me.id, tag, mode, |t, i| ops.modify_fd(t, i))
        }
        Action::RemoveFd(tag) => owned::remove_fd_checked(&model, me.id, tag, |t| ops.remove_fd(t)),
        Action::DrainFd(i) => owned::drain_own(&model, me, i),
        Action::PokeFd { sub, fd } => {
            if let Some(id) = pick(sub) {
                owned::poke_fd(&model, id, fd)
            }
        }
        Action::CloseFd(i) => owned::close_fd(&model, me.id, &mut me.extras, i),
        Action::ArmOwn(sched) => {
            owned::arm_own_checked(&model, me.id, sched, |t, tag| ops.arm_own(t, tag))
        }
        Action::With(i, step) => {
            if let Some(id) = pick(i) {
                owned::with_checked(&model, Some(me.id), id, step, ops)
            }
        }
        #[cfg(feature = "tasks")]
        Action::Spawn(new) => tasks::spawn_in_ops(&model, new, ops),
        #[cfg(feature = "tasks")]
        Action::WakeTask(w) => tasks::wake_in_turn(&model, w),
        Action::DrainSelf => {
            if let Some(fd) = &me.fd {
                read_all(fd.as_fd());
                model.borrow_mut().subs[me.id].level = 0;
            }
        }
        Action::PokeOther(i) => {
            if let Some(id) = pick(i) {
                poke(&model, id)
            }
        }
        Action::Panic => owned::planted_panic(&model),
        Action::Arm(spec) => arm_checked(&model, spec, |t, id| {
            ops.arm(t, timer::callback(id, model.clone()))
        }),
        Action::Cancel(i) => {
            if let Some(id) = pick_timer(i) {
                cancel_checked(&model, id, false, |key| ops.cancel(key))
            }
        }
        Action::Reset(i, sched) => {
            if let Some(id) = pick_timer(i) {
                reset_checked(&model, id, sched, |key, timer| ops.reset(key, timer))
            }
        }
    }
}

/// One action of a running timer callback (timer `me`).
pub fn perform_timer(model: &Shared, me: usize, action: TimerAction, ops: &mut Ops<'_>) {
    let pick = |i: u8| model.borrow().pick(i);
    let pick_timer = |i: u8| model.borrow().pick_timer(i);
    match action {
        TimerAction::Arm(spec) => arm_checked(model, spec, |t, id| {
            ops.arm(t, timer::callback(id, model.clone()))
        }),
        TimerAction::CancelSelf => {
            let me_key = ops.timer().expect("a callback's Ops names its timer");
            cancel_checked(model, me, false, |key| {
                check!(key == me_key, "timer {me}: Ops::timer changed");
                ops.cancel(me_key)
            })
        }
        TimerAction::Cancel(i) => {
            if let Some(id) = pick_timer(i) {
                cancel_checked(model, id, false, |key| ops.cancel(key))
            }
        }
        TimerAction::ResetSelf(sched) => {
            let me_key = ops.timer().expect("a callback's Ops names its timer");
            reset_checked(model, me, sched, |key, timer| {
                check!(key == me_key, "timer {me}: Ops::timer changed");
                ops.reset(me_key, timer)
            })
        }
        TimerAction::Reset(i, sched) => {
            if let Some(id) = pick_timer(i) {
                reset_checked(model, id, sched, |key, timer| ops.reset(key, timer))
            }
        }
        TimerAction::Delete(i) => {
            if let Some(id) = pick(i) {
                delete_in_timer(model, id, ops)
            }
        }
        TimerAction::Add(spec) => {
            if let Some((sub, interest, predicted)) = new_sub(model, spec) {
                let id = sub.id;
                let result = ops.add(sub, interest);
                record_add(model, id, result, predicted);
            }
        }
        TimerAction::Poke(i) => {
            if let Some(id) = pick(i) {
                poke(model, id)
            }
        }
        TimerAction::Stop => {
            ops.stop();
            remote::stop_seen();
            let mut m = model.borrow_mut();
            m.stop = true;
            m.timer_stop = true;
        }
        TimerAction::Panic => owned::planted_panic(model),
        TimerAction::With(i, step) => {
            if let Some(id) = pick(i) {
                model.borrow_mut().timer_with = true;
                owned::with_checked(model, None, id, step, ops);
                model.borrow_mut().timer_with = false;
            }
        }
        TimerAction::OwnNothing => owned::own_nothing(ops),
        #[cfg(feature = "tasks")]
        TimerAction::Spawn(new) => tasks::spawn_in_ops(model, new, ops),
        #[cfg(feature = "tasks")]
        TimerAction::WakeTask(w) => tasks::wake_in_turn(model, w),
    }
}

/// A subscriber deleted by a timer callback: no batch is open, so it is dropped at once (and
/// if its destructor panics, the panic leaves through the callback: see `on_drop`).
fn delete_in_timer(model: &Shared, id: usize, ops: &mut Ops<'_>) {
    let predicted = model.borrow().predict_delete(id);
    let Some((key, predicted)) = predicted else {
        return;
    };
    let open = {
        let mut m = model.borrow_mut();
        m.deleting = Some(id);
        m.open_of(id)
    };
    let result = ops.delete(key);
    let mut m = model.borrow_mut();
    m.deleting = None;
    check!(
        predicted.allows(result),
        "sub {id}: delete gave {result:?}, model says {predicted:?}"
    );
    m.after_delete(id, result, open);
    check!(
        result.is_err() || m.subs[id].drops == 1,
        "sub {id}: deleted outside a batch, not dropped"
    );
}

/// Records a new timer in the model; returns its id and schedule.
fn new_timer(model: &Shared, spec: NewTimer) -> Option<(usize, Timer)> {
    let mut m = model.borrow_mut();
    if m.timers.len() >= MAX_TIMERS {
        return None;
    }
    let scripts = m.timer_scripts.len().max(1);
    m.timers.push(Tmr {
        key: None,
        phase: Phase::Pending(spec.sched),
        script: spec.script as usize % scripts,
        drops: 0,
        drop_due: false,
        owner: None,
    });
    Some((m.timers.len() - 1, timer_of(spec.sched)))
}

/// Arms a timer through `arm` (the reactor's or an `Ops`'s, given the schedule and the new
/// timer's id): it must succeed, with a key no other timer had, and wait for the next clock
/// reading.
fn arm_checked(
    model: &Shared,
    spec: NewTimer,
    arm: impl FnOnce(Timer, usize) -> Result<TimerKey, Error>,
) {
    let Some((id, schedule)) = new_timer(model, spec) else {
        return;
    };
    let result = arm(schedule, id);
    let mut m = model.borrow_mut();
    let key = result.unwrap_or_else(|e| violation(format_args!("timer {id}: arm gave {e:?}")));
    check!(
        m.timers.iter().all(|t| t.key != Some(key)),
        "timer {id}: armed with {key:?}, another timer's key"
    );
    m.timers[id].key = Some(key);
}

/// Cancels timer `id` through `cancel` and checks the result. An idle timer's callback is
/// dropped during the cancel; a running one's once it is finished. One that panicked in an
/// earlier turn is finished by the next clock reading, or at once by `Reactor::cancel`
/// (`outside`: no turn is running).
fn cancel_checked(
    model: &Shared,
    id: usize,
    outside: bool,
    cancel: impl FnOnce(TimerKey) -> Result<(), Error>,
) {
    let predicted = model.borrow().predict_timer(id);
    let Some((key, predicted)) = predicted else {
        return;
    };
    let idle = {
        let mut m = model.borrow_mut();
        let running = matches!(m.timers[id].phase, Phase::Running { .. });
        let idle = predicted.is_ok() && (outside || !running);
        if idle {
            m.cancelling = Some(id);
        }
        idle
    };
    let result = cancel(key);
    let mut m = model.borrow_mut();
    m.cancelling = None;
    check!(
        result == predicted,
        "timer {id}: cancel gave {result:?}, model says {predicted:?}"
    );
    let t = &mut m.timers[id];
    if result.is_ok() {
        match &mut t.phase {
            Phase::Running { cancelled, .. } if !outside => *cancelled = true,
            phase => *phase = Phase::Gone,
        }
    }
    check!(
        !idle || t.drops == 1,
        "timer {id}: cancelled, its callback not dropped"
    );
}

/// Resets timer `id` to `sched` through `reset` and checks the result: it waits for the next
/// clock reading, or for its callback to return if it is running (or panicked).
fn reset_checked(
    model: &Shared,
    id: usize,
    sched: Sched,
    reset: impl FnOnce(TimerKey, Timer) -> Result<(), Error>,
) {
    let predicted = model.borrow().predict_timer(id);
    let Some((key, predicted)) = predicted else {
        return;
    };
    let result = reset(key, timer_of(sched));
    let mut m = model.borrow_mut();
    check!(
        result == predicted,
        "timer {id}: reset gave {result:?}, model says {predicted:?}"
    );
    if result.is_ok() {
        let t = &mut m.timers[id];
        if let Phase::Running { reset, .. } = &mut t.phase {
            *reset = Some(sched);
        } else {
            t.phase = Phase::Pending(sched);
        }
    }
}

fn delete_in_handler(model: &Shared, id: usize, ops: &mut Ops<'_>) {
    let predicted = model.borrow().predict_delete(id);
    let Some((key, predicted)) = predicted else {
        return;
    };
    let open = model.borrow().open_of(id);
    let result = ops.delete(key);
    check!(
        predicted.allows(result),
        "sub {id}: delete gave {result:?}, model says {predicted:?}"
    );
    model.borrow_mut().after_delete(id, result, open);
}

/// Modifies `id`'s registration through `modify` (the reactor's or a handler's `Ops`) and
/// checks the result against the model.
fn modify_checked(
    model: &Shared,
    id: usize,
    mode: Mode,
    modify: impl FnOnce(Key, Interest) -> Result<(), Error>,
) {
    let predicted = model.borrow().predict_modify(id);
    let Some((key, predicted)) = predicted else {
        return;
    };
    let result = modify(key, interest_of(mode));
    check!(
        predicted.allows(result),
        "sub {id}: modify gave {result:?}, model says {predicted:?}"
    );
    model.borrow_mut().after_modify(id, result, mode);
}

/// Runs `f` with no descriptor left (the model knows), then restores the limit.
fn without_fds<R>(model: &Shared, f: impl FnOnce() -> R) -> R {
    let limit = no_fds();
    let outer = {
        let mut m = model.borrow_mut();
        let outer = (m.no_fds, m.fd_closed);
        (m.no_fds, m.fd_closed) = (true, false);
        outer
    };
    let r = f();
    drop(limit);
    let mut m = model.borrow_mut();
    m.no_fds = outer.0;
    m.fd_closed |= outer.1;
    r
}

/// Deletes `id` through `Reactor::delete` and checks the result; outside a batch it is
/// dropped before the delete returns, unless a batch remainder may still point at it.
fn delete_checked(reactor: &mut Reactor, model: &Shared, id: usize) {
    let predicted = model.borrow().predict_delete(id);
    let Some((key, predicted)) = predicted else {
        return;
    };
    let open = {
        let mut m = model.borrow_mut();
        m.deleting = Some(id);
        m.open_of(id)
    };
    let result = catch_unwind(AssertUnwindSafe(|| reactor.delete(key)));
    model.borrow_mut().deleting = None;
    let result = result.unwrap_or_else(|p| {
        check!(is_planted(&*p), "unexpected panic in delete");
        Ok(()) // a planted destructor panic after a successful delete
    });
    check!(
        predicted.allows(result),
        "sub {id}: delete gave {result:?}, model says {predicted:?}"
    );
    let mut m = model.borrow_mut();
    m.after_delete(id, result, open);
    check!(
        result.is_err() || m.remainder || m.subs[id].drops == 1,
        "sub {id}: deleted outside a batch, not dropped"
    );
}

/// Closes live subscriber `id`'s fd behind the reactor's back (through `get_mut`), a dup
/// keeping the file alive if `keep_file` (an eventfd's is kept by the driver's writer anyway).
/// Returns whether it did.
fn close_early(reactor: &mut Reactor, model: &Shared, id: usize, keep_file: bool) -> bool {
    let key = {
        let m = model.borrow();
        let s = &m.subs[id];
        if s.state != State::Live || !s.fd_open {
            return false;
        }
        s.key.expect("live")
    };
    let sub = reactor.get_mut::<FuzzSub>(key).expect("live sub");
    close_behind_back(model, id, &mut sub.fd, keep_file)
}

/// Closes `fd`, subscriber `id`'s own, behind the reactor's back, and records it; with
/// `keep_file`, a dup of a pipe's read end keeps its file alive (if no descriptor is left
/// for the dup, nothing is closed). Returns whether it closed it.
fn close_behind_back(model: &Shared, id: usize, fd: &mut Option<OwnedFd>, keep_file: bool) -> bool {
    let mut m = model.borrow_mut();
    let s = &mut m.subs[id];
    let Some(open) = fd.as_ref() else {
        return false;
    };
    if keep_file && s.kind == Kind::Pipe {
        let Some(kept) = try_dup(open) else {
            return false;
        };
        s.kept = Some(kept);
    }
    drop(fd.take());
    s.fd_open = false;
    m.fd_closed = true;
    true
}

/// Puts the file of deleted subscriber `id` back under its old number and registers it anew
/// through `register` (the reactor's or a handler's `Ops`): see `Op::PutBack`.
fn put_back(
    model: &Shared,
    id: usize,
    mode: Mode,
    script: u8,
    register: impl FnOnce(FuzzSub, Interest) -> Result<Key, Error>,
) {
    let mut m = model.borrow_mut();
    let s = &m.subs[id];
    // With no descriptor left, neither the number nor the rebuild could be had.
    let unfit = s.state != State::Deleted || s.fd_open || fd_is_open(s.fd) || m.no_fds;
    if unfit || m.subs.len() >= MAX_SUBS {
        return;
    }
    let source = match s.kind {
        Kind::EventFd => s.writer.as_ref(),
        Kind::Pipe => s.kept.as_ref(),
    };
    let Some(source) = source else { return };
    let fd = dup_to(source, s.fd);
    let raw = s.fd;
    // A ghost of this very file under this number makes the kernel refuse the ADD: the
    // registry rebuilds the set first.
    let ghost = m.ghosts.iter().find(|g| g.0 == id).copied();
    let predicted = m.predict_add(raw);
    let new = m.subs.len();
    let batch = m.batch;
    let scripts = m.scripts.len().max(1);
    let old = &mut m.subs[id];
    let (kind, writer, level) = (old.kind, old.writer.take(), std::mem::take(&mut old.level));
    drop(old.kept.take()); // the file lives on under its number
    m.subs.push(Sub {
        key: None,
        fd: raw,
        kind,
        mode,
        state: if predicted.is_ok() {
            State::Live
        } else {
            State::Refused
        },
        script: script as usize % scripts,
        panic_on_drop: false,
        level,
        writer,
        fd_open: true,
        kept: None,
        edge: Arming::armed(),
        oneshot: Arming::armed(),
        registered_batch: batch,
        ready_at_wait: false,
        mode_at_wait: mode,
        fired: false,
        touched: false,
        wild: false,
        reportable_at_wait: false,
        ghost_ready_at_wait: false,
        ghost_batch: 0,
        drops: 0,
        extras: Vec::new(),
    });
    drop(m);
    let sub = FuzzSub {
        id: new,
        fd: Some(fd),
        extras: Vec::new(),
        model: model.clone(),
    };
    let result = register(sub, interest_of(mode));
    if predicted.is_ok() {
        let mut m = model.borrow_mut();
        match ghost {
            Some((_, true)) => m.rebuild_attempted(Rebuild::Done),
            Some((_, false)) => m.rebuild_attempted(Rebuild::Maybe),
            None => {}
        }
        // Registered under its own number: no ghost of it is left.
        m.ghosts.retain(|g| g.0 != id);
    }
    record_add(model, new, result, predicted);
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, Iterator::count)
}

/// Runs one input against a fresh reactor and the model.
pub fn run(input: Input) {
    let baseline = open_fds();
    let scripts = input
        .scripts
        .into_iter()
        .take(8)
        .map(|s| s.into_iter().take(6).collect())
        .collect();
    let timer_scripts = input
        .timer_scripts
        .into_iter()
        .take(8)
        .map(|s| s.into_iter().take(6).collect())
        .collect();
    let model: Shared = Rc::new(RefCell::new(Model {
        subs: Vec::new(),
        scripts,
        timers: Vec::new(),
        timer_scripts,
        batch: 0,
        in_turn: false,
        in_handler: None,
        in_timer: None,
        cancelling: None,
        arming: None,
        clock_read: false,
        read_after_batch: false,
        waited: false,
        timer_stop: false,
        timer_panicked: false,
        timer_fires: 0,
        remainder: false,
        handler_panicked: false,
        leftover_drop_panicked: false,
        began_batch: false,
        alarm_may_ring: false,
        fires: 0,
        stop: false,
        deleting: None,
        adding: None,
        dropping_reactor: false,
        ghosts: Vec::new(),
        no_fds: false,
        fd_closed: false,
        owed_backoff: false,
        starved: false,
        timed_turns: 0,
        lent: Vec::new(),
        owned_running: None,
        owned_returning: None,
        timer_with: false,
        #[cfg(feature = "tasks")]
        tasks: tasks::Tasks::new(input.task_scripts),
    }));
    remote::begin();
    let mut reactor = Reactor::with_capacity(4 * MAX_SUBS).expect("reactor");
    #[cfg(feature = "tasks")]
    tasks::setup(&mut reactor, &model);
    for op in input.ops.into_iter().take(256) {
        step(&mut reactor, &model, op);
    }
    // The jobs still queued run within a few turns that reach their wait (a timer callback
    // that stops every turn, re-arming itself to fire at once, ends each turn before it: then
    // nothing is dispatched, jobs included).
    if remote::queued() {
        let mut every_turn_waited = true;
        for _ in 0..64 {
            if !remote::queued() {
                break;
            }
            turn(&mut reactor, &model, None);
            every_turn_waited &= model.borrow().waited;
        }
        if every_turn_waited {
            remote::check_drained();
        }
    }
    model.borrow_mut().dropping_reactor = true;
    if let Err(p) = catch_unwind(AssertUnwindSafe(|| drop(reactor))) {
        check!(is_planted(&*p), "unexpected panic dropping the reactor");
    }
    #[cfg(feature = "tasks")]
    tasks::after_reactor(&model);
    remote::finish();
    let mut m = model.borrow_mut();
    for (id, s) in m.subs.iter().enumerate() {
        check!(s.drops == 1, "sub {id}: dropped {} times in all", s.drops);
    }
    for (id, t) in m.timers.iter().enumerate() {
        check!(
            t.drops == 1,
            "timer {id}: callback dropped {} times in all",
            t.drops
        );
    }
    m.subs.clear(); // the writers and kept dups
    drop(m);
    check!(
        open_fds() == baseline,
        "fds leaked: {} open, {baseline} at the start",
        open_fds()
    );
}

fn step(reactor: &mut Reactor, model: &Shared, op: Op) {
    let pick = |i: u8| model.borrow().pick(i);
    let pick_timer = |i: u8| model.borrow().pick_timer(i);
    match op {
        Op::Add(spec) => {
            if let Some((sub, interest, predicted)) = new_sub(model, spec) {
                let id = sub.id;
                let result = catch_unwind(AssertUnwindSafe(|| reactor.register(sub, interest)));
                let result =
                    result.unwrap_or_else(|_| violation(format_args!("register panicked")));
                record_add(model, id, result, predicted);
            }
        }
        Op::AddStarved(mut spec) => {
            spec.panic_on_drop = false; // a refused one drops, and a panic would need memory
            if let Some((sub, interest, predicted)) = new_sub(model, spec) {
                let id = sub.id;
                model.borrow_mut().adding = Some(id);
                let result = starved(|| reactor.register(sub, interest));
                let mut m = model.borrow_mut();
                m.adding = None;
                if result == Err(Error::Os(sys::Errno::ENOMEM)) && predicted.is_ok() {
                    check!(m.subs[id].drops == 1, "sub {id}: refused but not dropped");
                    m.subs[id].state = State::Refused;
                    return;
                }
                drop(m);
                record_add(model, id, result, predicted);
            }
        }
        Op::Poke(i) => {
            if let Some(id) = pick(i) {
                poke(model, id)
            }
        }
        Op::Drain(i) => {
            let Some(id) = pick(i) else { return };
            let through_reactor = {
                let m = model.borrow();
                let s = &m.subs[id];
                if let (Kind::EventFd, Some(writer)) = (s.kind, &s.writer) {
                    read_all(writer.as_fd()); // the same eventfd
                    None
                } else if let Some(kept) = &s.kept {
                    read_all(kept.as_fd());
                    None
                } else if s.state == State::Live && s.fd_open {
                    s.key
                } else {
                    return; // a pipe whose read end is closed: nothing to drain
                }
            };
            if let Some(key) = through_reactor {
                let sub = reactor.get::<FuzzSub>(key).expect("live sub");
                read_all(sub.fd.as_ref().expect("open").as_fd());
            }
            model.borrow_mut().subs[id].level = 0;
        }
        Op::CloseWriter(i) => {
            let Some(id) = pick(i) else { return };
            let mut m = model.borrow_mut();
            let s = &mut m.subs[id];
            if s.kind == Kind::Pipe && s.writer.take().is_some() {
                s.edge.arm();
            }
        }
        Op::Modify(i, mode) => {
            if let Some(id) = pick(i) {
                modify_checked(model, id, mode, |k, i| reactor.modify(k, i));
            }
        }
        Op::Delete(i) => {
            if let Some(id) = pick(i) {
                delete_checked(reactor, model, id);
            }
        }
        Op::DeleteNoFds(i) => {
            if let Some(id) = pick(i) {
                without_fds(model, || delete_checked(reactor, model, id));
            }
        }
        Op::PutBack { sub, mode, script } => {
            if let Some(id) = pick(sub) {
                put_back(model, id, mode, script, |sub, interest| {
                    let result = catch_unwind(AssertUnwindSafe(|| reactor.register(sub, interest)));
                    result.unwrap_or_else(|_| violation(format_args!("register panicked")))
                });
            }
        }
        Op::CloseEarly { sub, keep_file } => {
            if let Some(id) = pick(sub) {
                close_early(reactor, model, id, keep_file);
            }
        }
        Op::Ghost(i) => {
            if let Some(id) = pick(i) {
                if close_early(reactor, model, id, true) {
                    without_fds(model, || delete_checked(reactor, model, id));
                }
            }
        }
        Op::Turn => turn(reactor, model, None),
        Op::TimedTurn { no_fds } => {
            let timed = {
                let mut m = model.borrow_mut();
                m.timed_turns += 1;
                m.timed_turns <= MAX_TIMED_TURNS
            };
            turn(reactor, model, timed.then_some(no_fds));
        }
        Op::Arm(spec) => arm_checked(model, spec, |t, id| {
            reactor.arm(t, timer::callback(id, model.clone()))
        }),
        Op::ArmNoFds(spec) => without_fds(model, || {
            arm_checked(model, spec, |t, id| {
                reactor.arm(t, timer::callback(id, model.clone()))
            })
        }),
        Op::ArmStarved(spec) => {
            let Some((id, schedule)) = new_timer(model, spec) else {
                return;
            };
            model.borrow_mut().arming = Some(id);
            let callback = timer::callback(id, model.clone());
            let result = starved(|| reactor.arm(schedule, callback));
            let mut m = model.borrow_mut();
            m.arming = None;
            check!(
                matches!(result, Err(Error::Os(sys::Errno::ENOMEM))),
                "timer {id}: arm with no memory gave {result:?}"
            );
            check!(m.timers[id].drops == 1, "timer {id}: refused, not dropped");
            m.timers[id].phase = Phase::Gone;
        }
        Op::Cancel(i) => {
            if let Some(id) = pick_timer(i) {
                cancel_checked(model, id, true, |key| reactor.cancel(key))
            }
        }
        Op::Reset(i, sched) => {
            if let Some(id) = pick_timer(i) {
                reset_checked(model, id, sched, |key, t| reactor.reset(key, t))
            }
        }
        Op::AddFd { sub, new } => {
            if let Some(id) = pick(sub) {
                owned::add_fd_outside(reactor, model, id, new);
            }
        }
        Op::ModifyFd { sub, tag, mode } => {
            if let Some(id) = pick(sub) {
                let Some(key) = model.borrow().subs[id].key else {
                    return;
                };
                owned::modify_fd_checked(model, id, tag, mode, |t, i| reactor.modify_fd(key, t, i));
            }
        }
        Op::RemoveFd { sub, tag } => {
            if let Some(id) = pick(sub) {
                let Some(key) = model.borrow().subs[id].key else {
                    return;
                };
                owned::remove_fd_checked(model, id, tag, |t| reactor.remove_fd(key, t));
            }
        }
        Op::PokeFd { sub, fd } => {
            if let Some(id) = pick(sub) {
                owned::poke_fd(model, id, fd)
            }
        }
        Op::DrainFd { sub, fd } => {
            if let Some(id) = pick(sub) {
                owned::drain_fd(model, id, fd)
            }
        }
        Op::CloseFd { sub, fd } => {
            if let Some(id) = pick(sub) {
                owned::close_fd_outside(reactor, model, id, fd)
            }
        }
        Op::ArmOwn { sub, sched } => {
            if let Some(id) = pick(sub) {
                let Some(key) = model.borrow().subs[id].key else {
                    return;
                };
                owned::arm_own_checked(model, id, sched, |t, tag| reactor.arm_own(key, t, tag));
            }
        }
        #[cfg(feature = "tasks")]
        Op::Spawn(_)
        | Op::SpawnMany { .. }
        | Op::SpawnStarved(_)
        | Op::Wake { .. }
        | Op::BlockingWake(_)
        | Op::LateWake(_)
        | Op::DropWaker(_)
        | Op::DropHandle(_)
        | Op::TakeJoin(_)
        | Op::PokeAsync(_)
        | Op::DrainAsync(_) => tasks::step(reactor, model, op),
        Op::Post(kind) => remote::post_one(reactor, kind, false),
        Op::PostStarved(kind) => remote::post_one(reactor, kind, true),
        Op::PostMany(n) => remote::post_many(reactor, n),
        Op::PostFromThread(n) => remote::post_from_thread(reactor, n),
    }
}

/// One turn: `run_once(Some(Duration::ZERO))`, or, `timed`, `run_once(Some(WAIT))` (with no
/// descriptor left if `Some(true)`).
fn turn(reactor: &mut Reactor, model: &Shared, timed: Option<bool>) {
    turn_with(reactor, model, timed, false)
}

/// One turn with no timeout (`run_once(None)`): it blocks until something happens.
#[cfg(feature = "tasks")]
fn turn_blocking(reactor: &mut Reactor, model: &Shared) {
    turn_with(reactor, model, None, true)
}

/// A turn, `blocking` (no timeout) or as `turn` says.
fn turn_with(reactor: &mut Reactor, model: &Shared, timed: Option<bool>, blocking: bool) {
    let (whole, backs_off, owed) = {
        let m = model.borrow();
        (
            m.wait_is_whole(),
            m.ghost_will_report(),
            m.owed_backoff && !m.remainder,
        )
    };
    let pending_before = reactor.pending();
    {
        let mut m = model.borrow_mut();
        m.fd_closed = false;
        m.began_batch = !m.remainder;
        m.in_turn = true;
        m.fires = 0;
        m.timer_fires = 0;
        m.clock_read = false;
        m.read_after_batch = false;
        m.waited = false;
        m.timer_stop = false;
        if m.began_batch {
            m.stop = false; // a stop asked for in a batch survives a panic until it is done
        }
        m.handler_panicked = false;
        m.timer_panicked = false;
        m.leftover_drop_panicked = false;
        #[cfg(feature = "tasks")]
        tasks::turn_begins(&mut m);
    }
    // A stop that survives a panicked batch is asked for before any job of this turn.
    remote::turn_begins(model.borrow().stop);
    let limit = (timed == Some(true)).then(no_fds);
    model.borrow_mut().no_fds = limit.is_some();
    let timeout = if timed.is_some() {
        WAIT
    } else {
        Duration::ZERO
    };
    let timeout = (!blocking).then_some(timeout);
    let start = Instant::now();
    let result = catch_unwind(AssertUnwindSafe(|| reactor.run_once(timeout)));
    let elapsed = start.elapsed();
    if remote::stopped() {
        model.borrow_mut().stop = true;
    }
    drop(limit);
    let pending = reactor.pending();
    let mut m = model.borrow_mut();
    m.settle_owned();
    m.owned_running = None;
    m.lent.clear();
    m.timer_with = false;
    m.in_turn = false;
    m.in_handler = None;
    m.in_timer = None;
    // A task's planted panic leaves the turn after it ran to its end but for the task phase:
    // the turn is accounted for as one that returned, with no count.
    #[cfg(feature = "tasks")]
    let task_panicked = m.tasks.panicked;
    #[cfg(not(feature = "tasks"))]
    let task_panicked = false;
    let result = match result {
        Err(p) if task_panicked => {
            check!(is_planted(&*p), "unexpected panic in a task");
            Ok(Ok(None))
        }
        Ok(r) => Ok(r.map(Some)),
        Err(p) => Err(p),
    };
    match result {
        Ok(Ok(n)) => {
            if m.began_batch {
                m.read_clock();
                if m.timer_stop {
                    // It returns before its wait, once every due timer has fired.
                    m.check_no_due();
                } else {
                    m.wait();
                }
            }
            // The task phase's polls count, and so do the events of the executor's own
            // eventfds (its inbox, the `Async` ones).
            #[cfg(feature = "tasks")]
            let waited = m.began_batch && m.waited;
            #[cfg(feature = "tasks")]
            let (polls, own) = tasks::turn_ends(&mut m, n.is_some(), waited);
            #[cfg(not(feature = "tasks"))]
            let (polls, own) = (0, 0);
            // The remote's eventfd counts too.
            let own = own + usize::from(remote::exists());
            m.check_dropped();
            if let Some(n) = n {
                check!(
                    !(m.began_batch && m.timer_stop) || n == m.timer_fires + polls,
                    "a turn stopped by a timer callback gave {n}, {} callbacks ran, {polls} \
                     polls",
                    m.timer_fires
                );
                check!(
                    m.fires + m.timer_fires <= n,
                    "{} handlers and {} callbacks ran for a count of {n}",
                    m.fires,
                    m.timer_fires
                );
            }
            check!(
                pending == 0,
                "{pending} events pending after a complete turn"
            );
            check!(reactor.stop_requested() == m.stop, "stop flag disagrees");
            // Ghost events (and the alarm's) are never counted; the timers a sleep's alarm
            // rung in the panicked batch lets fire as it ends are.
            if let (Some(n), false) = (n, m.began_batch) {
                let fired = if m.alarm_may_ring { m.timer_fires } else { 0 };
                check!(
                    n <= pending_before + polls + fired,
                    "a turn that finished a remainder of {pending_before} events gave {n}"
                );
            } else if let (Some(n), true) = (n, m.waited) {
                let reportable = m.subs.iter().filter(|s| s.reportable_at_wait).count()
                    + m.subs
                        .iter()
                        .map(|s| s.extras.iter().filter(|x| x.reportable_at_wait).count())
                        .sum::<usize>();
                check!(
                    n <= reportable + m.timer_fires + polls + own,
                    "a turn gave {n}: {reportable} subscribers could report and {} callbacks \
                     ran, {polls} polls (a ghost counted?)",
                    m.timer_fires
                );
            }
            m.remainder = false;
            if m.waited || !m.began_batch {
                m.end_batch();
            }
            m.check_deleted_dropped();
            if timed.is_some() {
                check!(
                    !whole || elapsed >= WAIT,
                    "a wait nothing could end early returned after {elapsed:?} (a ghost still \
                     registered?)"
                );
                check!(
                    !owed || elapsed >= WAIT,
                    "a ghost reported and could not be rebuilt away, yet the next turn \
                     returned after {elapsed:?}: no back-off"
                );
            }
            if m.began_batch {
                m.owed_backoff = false; // taken by this turn
            }
            if backs_off && timed == Some(true) && !m.fd_closed {
                m.owed_backoff = true;
            }
            m.ghosts_after_turn(false);
        }
        Ok(Err(e)) => violation(format_args!("run_once failed: {e}")),
        Err(p) => {
            check!(is_planted(&*p), "unexpected panic in run_once");
            #[cfg(feature = "tasks")]
            tasks::turn_ends(&mut m, false, false);
            if m.began_batch {
                m.owed_backoff = false; // taken before the wait, whatever panicked after
            }
            m.ghosts_after_turn(true);
            if m.handler_panicked {
                m.remainder = pending > 0;
                if !m.remainder {
                    m.end_batch();
                }
            } else if m.timer_panicked {
                // It ends before its wait; the due timers that did not fire stay due.
                check!(
                    pending == 0,
                    "{pending} events pending after a timer callback panicked"
                );
                m.check_dropped();
                m.remainder = false;
            } else if m.leftover_drop_panicked {
                // It ends before it reads the clock or waits.
                check!(
                    pending == 0,
                    "{pending} events pending after an aborted turn"
                );
                m.remainder = false;
            } else {
                // A destructor panicked when the batch was done: handlers of this batch
                // deleted it, so the turn had waited.
                check!(
                    pending == 0,
                    "{pending} events pending after a destructor panic"
                );
                check!(
                    m.waited || !m.began_batch,
                    "a destructor panicked at the end of a batch that never began"
                );
                m.remainder = false;
                m.end_batch();
            }
        }
    }
    // The turn's rebuilds, if any, were accounted for with its descriptors.
    m.no_fds = false;
}
