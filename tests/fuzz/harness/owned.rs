//! The model's part for what a subscriber owns besides its fd: extra registrations (each a
//! tagged eventfd the subscriber owns), timers of its own (`arm_own`: they fire to its
//! handler), and values lent by `Ops::with`. It predicts every result of those operations and
//! checks every tagged event, every owned timer's event and every loan; the batches, timers
//! and drops themselves stay the model's.

use super::super::subscriber::FuzzSub;
use super::super::{Action, Mode, NewFd, Sched, WithStep, MAX_TIMERS};
use super::{
    delete_in_handler, fd_is_open, interest_of, read_all, timer_of, try_dup, violation, Arming,
    Expect, Model, Phase, Shared, State, Tmr, PLANTED,
};
use barepoll::sys::{self, AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use barepoll::{interest, Error, Interest, Ops, Timer, TimerKey};

/// The tag of owned timer `i`'s events is `OWNED_TAG + i`: the model knows which one fired.
pub const OWNED_TAG: u32 = 100;
/// Most extra registrations (removed ones included) one subscriber may make.
const MAX_EXTRAS: usize = 8;

/// One extra registration of a subscriber.
pub struct Extra {
    pub(super) tag: u32,
    fd: RawFd,
    mode: Mode,
    /// In the registry: added, and neither removed nor gone with its owner. Its number is its
    /// own meanwhile, even once it is closed behind the reactor's back.
    pub(super) registered: bool,
    /// The subscriber still owns the fd.
    pub(super) fd_open: bool,
    /// A dup of the eventfd, for making it ready; dropped with the subscriber's fd when that is
    /// closed behind the reactor's back, so the file dies.
    writer: Option<OwnedFd>,
    level: u64,
    edge: Arming,
    oneshot: Arming,
    registered_batch: u64,
    ready_at_wait: bool,
    pub(super) reportable_at_wait: bool,
    mode_at_wait: Mode,
    fired: bool,
    /// Modified or removed since the batch's wait.
    touched: bool,
    /// Its fd was closed behind the reactor's back and then the epoll set was rebuilt: it
    /// registers whatever its number names now, if anything.
    wild: bool,
}

impl Extra {
    fn ready(&self) -> bool {
        self.writer.is_some() && self.level > 0
    }

    pub(super) fn may_report(&self) -> bool {
        self.registered && (self.ready() || self.wild)
    }

    fn arm(&mut self) {
        self.edge.arm();
        self.oneshot.arm();
    }

    /// The epoll set was rebuilt: added afresh.
    pub(super) fn rebuilt(&mut self) {
        self.arm();
        if !self.fd_open {
            self.wild = true;
        }
    }

    pub(super) fn begin_batch(&mut self, owner_live: bool) {
        self.ready_at_wait = owner_live && self.registered && self.ready();
        self.reportable_at_wait = owner_live && self.may_report();
        self.mode_at_wait = self.mode;
        self.edge.wait();
        self.oneshot.wait();
        self.fired = false;
        self.touched = false;
    }

    /// Level-triggered, ready at the wait and left alone: it must have fired by the batch's end.
    pub(super) fn due(&self, batch: u64) -> bool {
        self.ready_at_wait
            && !self.wild
            && self.mode_at_wait == Mode::Level
            && self.registered_batch < batch
            && !self.touched
            && !self.fired
    }
}

/// Whether a subscriber's registrations were open when its delete began: a closed one's DEL
/// is refused by the kernel.
#[derive(Clone, Copy)]
pub struct Open {
    pub main: bool,
    pub all: bool,
}

fn tag_of(tag: u8) -> u32 {
    u32::from(tag % 4)
}

/// Results agree (the text of `Error::Invalid` is not the model's business).
fn same(result: Result<(), Error>, predicted: Result<(), Error>) -> bool {
    match (result, predicted) {
        (Err(Error::Invalid(_)), Err(Error::Invalid(_))) => true,
        _ => result == predicted,
    }
}

impl Model {
    pub(super) fn open_of(&self, id: usize) -> Open {
        let s = &self.subs[id];
        let extras = s.extras.iter().all(|x| !x.registered || x.fd_open);
        Open {
            main: s.fd_open,
            all: s.fd_open && extras,
        }
    }

    /// Whether a registered extra descriptor, open or closed behind the reactor's back, has
    /// number `fd`: the number is its own (its DEL names it), nothing else registers under it.
    pub(super) fn held_by_extra(&self, fd: RawFd) -> bool {
        self.subs
            .iter()
            .any(|s| s.extras.iter().any(|x| x.registered && x.fd == fd))
    }

    /// Whether `fd` is the number of a ghost: the harness stays clear.
    fn number_unsettled(&self, fd: RawFd) -> bool {
        self.ghosts.iter().any(|&(id, _)| self.subs[id].fd == fd)
    }

    /// Whether `fd` is a live subscriber's own number or a registered extra one's (its fd may
    /// have been closed behind its back, and the number taken by a new file): its DEL will
    /// name that number, so nothing else may register under it.
    fn number_owned(&self, fd: RawFd) -> bool {
        let main = self
            .subs
            .iter()
            .any(|s| s.state == State::Live && s.key.map(|k| k.fd()) == Some(fd));
        main || self.held_by_extra(fd)
    }

    /// Subscriber `id` was deleted: its timers are cancelled, its open extra registrations gone.
    pub(super) fn owner_deleted(&mut self, id: usize) {
        for t in self.timers.iter_mut().filter(|t| t.owner == Some(id)) {
            match &mut t.phase {
                Phase::Running { cancelled, .. } => *cancelled = true,
                phase => *phase = Phase::Gone,
            }
        }
        for x in &mut self.subs[id].extras {
            x.registered = false;
        }
    }

    /// The handler that was called returns.
    pub fn handler_returns(&mut self) {
        self.in_handler = None;
        if let Some(t) = self.owned_running.take() {
            self.owned_returning = Some(t);
        }
    }

    /// The owned timer whose handler returned has returned from its callback too.
    pub(super) fn settle_owned(&mut self) {
        if let Some(t) = self.owned_returning.take() {
            self.finish(t);
        }
    }

    /// Subscriber `id`'s handler is called for its own timer, tagged `tag`: it must be due, in
    /// the turn's timer phase, and its owner live.
    pub(super) fn on_owned_fire(&mut self, id: usize, tag: u32) -> Vec<Action> {
        // Before the wait, or after a batch in which the alarm rang (the timers due then fire
        // at the batch's end): in a turn that finishes a batch a panic left only if the alarm
        // may have rung in it (a sleep's).
        check!(
            self.began_batch || self.alarm_may_ring,
            "sub {id}: timer event tagged {tag} in a turn that finishes a batch"
        );
        self.read_clock_to_fire();
        self.check_dropped();
        let t = tag.wrapping_sub(OWNED_TAG) as usize;
        check!(
            t < self.timers.len() && self.timers[t].owner == Some(id),
            "sub {id}: timer event tagged {tag}: none of its timers has that tag"
        );
        check!(
            self.subs[id].state == State::Live,
            "sub {id}: its timer {t} fired while it is {:?}",
            self.subs[id].state
        );
        let Phase::Due { periodic } = self.timers[t].phase else {
            violation(format_args!(
                "timer {t}: owned by sub {id}, fired while {:?}",
                self.timers[t].phase
            ))
        };
        self.timers[t].phase = Phase::Running {
            periodic,
            cancelled: false,
            reset: None,
            panicked: false,
        };
        self.timer_fires += 1;
        self.in_handler = Some(id);
        self.owned_running = Some(t);
        self.script_of(id)
    }

    /// Subscriber `id`'s handler is called for its extra registration tagged `tag`.
    pub(super) fn on_extra_fire(&mut self, id: usize, tag: u32) -> Vec<Action> {
        if self.began_batch {
            self.wait();
        }
        self.check_dropped();
        let batch = self.batch;
        let s = &mut self.subs[id];
        check!(
            s.state == State::Live,
            "sub {id}: event tagged {tag} while {:?}",
            s.state
        );
        let Some(x) = s.extras.iter_mut().find(|x| x.registered && x.tag == tag) else {
            violation(format_args!(
                "sub {id}: event tagged {tag}, and none of its registrations has that tag \
                 (a removed one's event must be skipped)"
            ))
        };
        check!(
            x.registered_batch < batch,
            "sub {id}: tag {tag} fired in the batch it was added in"
        );
        check!(
            x.ready_at_wait || x.wild,
            "sub {id}: tag {tag} fired but its fd was not ready at the wait"
        );
        let fresh = match x.mode_at_wait {
            _ if x.wild => !x.fired,
            Mode::Level => !x.fired,
            Mode::Edge => x.edge.fire(),
            Mode::Oneshot => x.oneshot.fire(),
        };
        check!(
            fresh,
            "sub {id}: tag {tag} ({:?}) fired again with nothing new",
            x.mode_at_wait
        );
        x.fired = true;
        self.fires += 1;
        self.in_handler = Some(id);
        self.script_of(id)
    }

    fn script_of(&self, id: usize) -> Vec<Action> {
        let script = self.subs[id].script;
        self.scripts.get(script).cloned().unwrap_or_default()
    }

    fn predict_add_fd(&self, id: usize, tag: u32) -> Option<Result<(), Error>> {
        let s = &self.subs[id];
        let key = s.key?;
        Some(if tag == 0 {
            Err(Error::Invalid("tag 0"))
        } else if s.state != State::Live {
            Err(Error::StaleKey(key))
        } else if s.extras.iter().any(|x| x.registered && x.tag == tag) {
            Err(Error::Invalid("tag taken"))
        } else {
            Ok(())
        })
    }

    /// What a modify or remove of `id`'s registration tagged `tag` must give, and that
    /// registration's index if it has one.
    fn predict_fd_op(&self, id: usize, tag: u32) -> Option<(Result<(), Error>, Option<usize>)> {
        let s = &self.subs[id];
        let key = s.key?;
        if s.state != State::Live {
            return Some((Err(Error::StaleKey(key)), None));
        }
        match s.extras.iter().position(|x| x.registered && x.tag == tag) {
            Some(at) => Some((Ok(()), Some(at))),
            None => Some((Err(Error::Invalid("no such tag")), None)),
        }
    }

    fn predict_with(&self, id: usize, running: Option<usize>) -> Option<Result<(), Error>> {
        let s = &self.subs[id];
        let key = s.key?;
        Some(if s.state != State::Live {
            Err(Error::StaleKey(key))
        } else if running == Some(id) || self.lent.contains(&id) {
            Err(Error::Busy(key))
        } else {
            Ok(())
        })
    }
}

/// A planted panic from a handler (an owned timer's included), a timer callback, or a closure
/// lent a value.
pub fn planted_panic(model: &Shared) -> ! {
    let mut m = model.borrow_mut();
    m.lent.clear();
    m.timer_with = false;
    if let Some(t) = m.owned_running.take() {
        m.in_handler = None;
        m.timer_panics(t);
    } else if m.in_handler.is_some() {
        m.handler_panicked = true;
        m.in_handler = None;
    } else if let Some(t) = m.in_timer {
        m.timer_panics(t);
    }
    drop(m);
    std::panic::panic_any(PLANTED)
}

/// Makes an eventfd and registers it for subscriber `id` under `new.tag` through `add`;
/// returns it, with its index among the subscriber's extras, for the subscriber to own.
pub fn add_fd_checked(
    model: &Shared,
    id: usize,
    new: NewFd,
    add: impl FnOnce(BorrowedFd<'_>, u32, Interest) -> Result<(), Error>,
) -> Option<(usize, OwnedFd)> {
    if model.borrow().subs[id].extras.len() >= MAX_EXTRAS {
        return None;
    }
    let fd = sys::eventfd(new.ready as u32, sys::EFD_NONBLOCK).ok()?;
    let writer = try_dup(&fd)?;
    let tag = tag_of(new.tag);
    let predicted = {
        let m = model.borrow();
        let raw = fd.as_raw_fd();
        if m.number_unsettled(raw) {
            return None;
        }
        match m.predict_add_fd(id, tag)? {
            Ok(()) if m.number_owned(raw) => Err(Error::AlreadyRegistered(raw)),
            predicted => predicted,
        }
    };
    let result = add(fd.as_fd(), tag, interest_of(new.mode));
    check!(
        same(result, predicted),
        "sub {id}: add_fd tag {tag} gave {result:?}, model says {predicted:?}"
    );
    result.ok()?;
    let mut m = model.borrow_mut();
    let batch = m.batch;
    let extras = &mut m.subs[id].extras;
    extras.push(Extra {
        tag,
        fd: fd.as_raw_fd(),
        mode: new.mode,
        registered: true,
        fd_open: true,
        writer: Some(writer),
        level: new.ready as u64,
        edge: Arming::armed(),
        oneshot: Arming::armed(),
        registered_batch: batch,
        ready_at_wait: false,
        reportable_at_wait: false,
        mode_at_wait: new.mode,
        fired: false,
        touched: false,
        wild: false,
    });
    Some((extras.len() - 1, fd))
}

/// `Reactor::add_fd` for subscriber `id`, which then owns the new fd.
pub fn add_fd_outside(reactor: &mut barepoll::Reactor, model: &Shared, id: usize, new: NewFd) {
    let Some(key) = model.borrow().subs[id].key else {
        return;
    };
    let added = add_fd_checked(model, id, new, |fd, tag, i| reactor.add_fd(key, fd, tag, i));
    if let Some(extra) = added {
        let sub = reactor.get_mut::<FuzzSub>(key);
        let sub = sub.unwrap_or_else(|e| violation(format_args!("sub {id}: get_mut {e}")));
        sub.extras.push(extra);
    }
}

pub fn modify_fd_checked(
    model: &Shared,
    id: usize,
    tag: u8,
    mode: Mode,
    modify: impl FnOnce(u32, Interest) -> Result<(), Error>,
) {
    let tag = tag_of(tag);
    let Some((predicted, at)) = model.borrow().predict_fd_op(id, tag) else {
        return;
    };
    // Closed behind the reactor's back: its number names nothing (EBADF), or another file,
    // unregistered (ENOENT) or the reactor's own (its alarm, or a rebuilt epoll set): wild.
    let closed = at.map(|at| {
        let x = &model.borrow().subs[id].extras[at];
        (x.fd_open, x.wild, x.fd)
    });
    let expect = match closed {
        Some((false, wild, fd)) if wild || fd_is_open(fd) => Expect::Wild,
        Some((false, ..)) => Expect::Is(Err(Error::Os(sys::Errno::EBADF))),
        _ => Expect::Is(predicted),
    };
    let result = modify(tag, interest_of(mode));
    let agrees = match expect {
        Expect::Is(want) => same(result, want),
        wild => wild.allows(result),
    };
    check!(
        agrees,
        "sub {id}: modify_fd tag {tag} gave {result:?}, model says {expect:?}"
    );
    if let (Ok(()), Some(at)) = (result, at) {
        let x = &mut model.borrow_mut().subs[id].extras[at];
        x.mode = mode;
        x.touched = true;
        x.arm();
    }
}

pub fn remove_fd_checked(
    model: &Shared,
    id: usize,
    tag: u8,
    remove: impl FnOnce(u32) -> Result<(), Error>,
) {
    let tag = tag_of(tag);
    let Some((predicted, at)) = model.borrow().predict_fd_op(id, tag) else {
        return;
    };
    let result = remove(tag);
    check!(
        same(result, predicted),
        "sub {id}: remove_fd tag {tag} gave {result:?}, model says {predicted:?}"
    );
    let (Ok(()), Some(at)) = (result, at) else {
        return;
    };
    let mut m = model.borrow_mut();
    let x = &mut m.subs[id].extras[at];
    x.registered = false;
    x.touched = true;
    if !x.fd_open {
        // The kernel refused its DEL: the registry rebuilt the epoll set.
        let outcome = m.rebuild_now();
        m.rebuild_attempted(outcome);
    }
}

/// The index of the extra `pick` chooses among subscriber `id`'s that the model can still
/// make ready (their file lives).
fn pick_alive(m: &Model, id: usize, pick: u8) -> Option<usize> {
    let alive: Vec<usize> = (m.subs[id].extras.iter().enumerate())
        .filter(|(_, x)| x.writer.is_some())
        .map(|(at, _)| at)
        .collect();
    (!alive.is_empty()).then(|| alive[pick as usize % alive.len()])
}

pub fn poke_fd(model: &Shared, id: usize, pick: u8) {
    let mut m = model.borrow_mut();
    let Some(at) = pick_alive(&m, id, pick) else {
        return;
    };
    let x = &mut m.subs[id].extras[at];
    let writer = x.writer.as_ref().expect("alive");
    let written = sys::write(writer.as_fd(), &1u64.to_ne_bytes());
    check!(written.is_ok(), "sub {id}: poking tag {} failed", x.tag);
    x.level += 1;
    x.edge.arm();
}

pub fn drain_fd(model: &Shared, id: usize, pick: u8) {
    let mut m = model.borrow_mut();
    let Some(at) = pick_alive(&m, id, pick) else {
        return;
    };
    let x = &mut m.subs[id].extras[at];
    read_all(x.writer.as_ref().expect("alive").as_fd());
    x.level = 0;
}

/// The running subscriber reads one of its extra descriptors dry, through its own fd.
pub fn drain_own(model: &Shared, me: &FuzzSub, pick: u8) {
    if me.extras.is_empty() {
        return;
    }
    let (at, fd) = &me.extras[pick as usize % me.extras.len()];
    read_all(fd.as_fd());
    model.borrow_mut().subs[me.id].extras[*at].level = 0;
}

/// Closes one of subscriber `id`'s extra descriptors (`extras`, its own) behind the reactor's
/// back; the driver's dup goes too, so the file dies.
pub fn close_fd(model: &Shared, id: usize, extras: &mut Vec<(usize, OwnedFd)>, pick: u8) {
    if extras.is_empty() {
        return;
    }
    let (at, fd) = extras.remove(pick as usize % extras.len());
    drop(fd);
    let mut m = model.borrow_mut();
    let x = &mut m.subs[id].extras[at];
    x.fd_open = false;
    x.writer = None;
    m.fd_closed = true;
}

pub fn close_fd_outside(reactor: &mut barepoll::Reactor, model: &Shared, id: usize, pick: u8) {
    let key = {
        let m = model.borrow();
        let s = &m.subs[id];
        match (s.state, s.key) {
            (State::Live, Some(key)) => key,
            _ => return,
        }
    };
    let sub = reactor.get_mut::<FuzzSub>(key);
    let sub = sub.unwrap_or_else(|e| violation(format_args!("sub {id}: get_mut {e}")));
    close_fd(model, id, &mut sub.extras, pick);
}

/// Arms a timer subscriber `id` owns through `arm` (given the schedule and the tag): it must
/// succeed while the subscriber is live, and fire to its handler.
pub fn arm_own_checked(
    model: &Shared,
    id: usize,
    sched: Sched,
    arm: impl FnOnce(Timer, u32) -> Result<TimerKey, Error>,
) {
    let (t, predicted) = {
        let mut m = model.borrow_mut();
        let s = &m.subs[id];
        let Some(key) = s.key else { return };
        if m.timers.len() >= MAX_TIMERS {
            return;
        }
        let predicted = if s.state == State::Live {
            Ok(())
        } else {
            Err(Error::StaleKey(key))
        };
        m.timers.push(Tmr {
            key: None,
            phase: Phase::Gone,
            script: 0,
            drops: 1, // its callback is the reactor's
            drop_due: false,
            owner: Some(id),
        });
        (m.timers.len() - 1, predicted)
    };
    let result = arm(timer_of(sched), OWNED_TAG + t as u32);
    let mut m = model.borrow_mut();
    check!(
        result.map(drop) == predicted,
        "sub {id}: arm_own gave {result:?}, model says {predicted:?}"
    );
    if let Ok(key) = result {
        check!(
            m.timers.iter().all(|t| t.key != Some(key)),
            "timer {t}: armed with {key:?}, another timer's key"
        );
        m.timers[t].key = Some(key);
        m.timers[t].phase = Phase::Pending(sched);
    }
}

/// `Ops::with` on subscriber `id` (`running`: the subscriber whose handler runs, if any),
/// doing `step` with the value and the `Ops` it is lent.
pub fn with_checked(
    model: &Shared,
    running: Option<usize>,
    id: usize,
    step: WithStep,
    ops: &mut Ops<'_>,
) {
    with_then(model, running, id, ops, |inner| {
        with_step(model, running, id, step, inner)
    });
}

fn with_then(
    model: &Shared,
    running: Option<usize>,
    id: usize,
    ops: &mut Ops<'_>,
    then: impl FnOnce(&mut Ops<'_>),
) {
    let Some(predicted) = model.borrow().predict_with(id, running) else {
        return;
    };
    let key = model.borrow().subs[id].key.expect("predicted");
    let result = ops.with(key, |lent: &mut FuzzSub, inner: &mut Ops<'_>| {
        check!(
            lent.id == id,
            "with({key:?}) lent sub {}, not sub {id}",
            lent.id
        );
        check!(
            predicted.is_ok(),
            "sub {id}: with lent it, model says {predicted:?} (running {running:?}, lent {:?})",
            model.borrow().lent
        );
        model.borrow_mut().lent.push(id);
        then(inner);
        model.borrow_mut().lent.pop();
    });
    check!(
        result == predicted,
        "sub {id}: with gave {result:?}, model says {predicted:?}"
    );
}

fn with_step(
    model: &Shared,
    running: Option<usize>,
    id: usize,
    step: WithStep,
    inner: &mut Ops<'_>,
) {
    let pick = |i: u8| model.borrow().pick(i);
    match step {
        WithStep::Nothing => {}
        WithStep::Running => {
            if let Some(r) = running {
                with_then(model, running, r, inner, |_| {})
            }
        }
        WithStep::Again => with_then(model, running, id, inner, |_| {}),
        WithStep::Nested(i) => {
            let Some(other) = pick(i) else { return };
            with_then(model, running, other, inner, |inner| {
                with_then(model, running, id, inner, |_| {});
                if let Some(r) = running {
                    with_then(model, running, r, inner, |_| {})
                }
            })
        }
        WithStep::Delete(i) => {
            if let Some(victim) = pick(i) {
                delete_in_handler(model, victim, inner)
            }
        }
        WithStep::Panic => planted_panic(model),
    }
}

/// From a timer callback (no subscriber runs), `add_fd` and `arm_own` are refused as stale.
pub fn own_nothing(ops: &mut Ops<'_>) {
    if let Ok(fd) = sys::eventfd(0, sys::EFD_NONBLOCK) {
        let result = ops.add_fd(fd.as_fd(), 1, interest().read());
        check!(
            matches!(result, Err(Error::StaleKey(_))),
            "add_fd from a timer callback gave {result:?}"
        );
    }
    let far = timer_of(Sched {
        far: true,
        periodic: false,
    });
    let result = ops.arm_own(far, OWNED_TAG);
    check!(
        matches!(result, Err(Error::StaleKey(_))),
        "arm_own from a timer callback gave {result:?}"
    );
}
