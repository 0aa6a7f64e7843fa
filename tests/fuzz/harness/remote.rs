//! Remote posts in the model: jobs posted by the driver, by another thread and by jobs, in
//! bursts past the queue's lock-free ring (so they spill into its list), and with every
//! allocation failing. Each job checks as it runs that it is the oldest not yet run (posts
//! never overlap here, so the order is one); a job that stops the reactor is the turn's last;
//! every job is run or dropped exactly once; the jobs queued when the input ends get turns to
//! run in.

use super::alloc::starved;
use super::model::violation;
use super::JobKind;
use barepoll::remote::Remote;
use barepoll::{sys, Error, Ops, Reactor};
use std::collections::VecDeque;
use std::sync::Mutex;

/// Most jobs one input may post (bursts past the ring are a thousand or more).
const MAX_JOBS: u32 = 12_000;

/// What the jobs of the input under way did (one input at a time per process).
struct Log {
    remote: Option<Remote>,
    /// Jobs queued, oldest first.
    queued: VecDeque<u32>,
    /// Jobs made so far (their ids are `0..made`).
    made: u32,
    ran: u32,
    /// Dropped unrun: refused, or queued when the reactor dropped.
    dropped: u32,
    /// A job stopped the reactor in this turn, and no stop was asked for before it: no job
    /// may run after it in this turn.
    stopped: bool,
    /// A handler or timer callback asked for a stop in this turn (jobs then run on).
    other_stop: bool,
    /// A job asked for a stop in this turn.
    job_stop: bool,
}

static LOG: Mutex<Log> = Mutex::new(Log {
    remote: None,
    queued: VecDeque::new(),
    made: 0,
    ran: 0,
    dropped: 0,
    stopped: false,
    other_stop: false,
    job_stop: false,
});

macro_rules! check {
    ($cond:expr, $($fmt:tt)*) => {
        if !$cond {
            violation(format_args!($($fmt)*))
        }
    };
}

fn log() -> std::sync::MutexGuard<'static, Log> {
    LOG.lock().unwrap_or_else(|p| p.into_inner())
}

/// One posted closure's state: whether it ran (else its drop counts it as dropped unrun).
struct Job {
    id: u32,
    kind: JobKind,
    ran: bool,
}

impl Drop for Job {
    fn drop(&mut self) {
        if !self.ran {
            log().dropped += 1;
        }
    }
}

impl Job {
    fn run(mut self, ops: &mut Ops<'_>) {
        self.ran = true;
        let again = {
            let mut log = log();
            check!(
                !log.stopped,
                "job {} ran after a job stopped the turn",
                self.id
            );
            let oldest = log.queued.pop_front();
            check!(
                oldest == Some(self.id),
                "job {} ran, the oldest queued is {oldest:?}",
                self.id
            );
            log.ran += 1;
            match self.kind {
                JobKind::Plain => None,
                JobKind::Stop => {
                    log.stopped = !log.other_stop;
                    log.job_stop = true;
                    None
                }
                JobKind::Post => log.remote.clone(),
            }
        };
        if self.kind == JobKind::Stop {
            ops.stop();
        }
        if let Some(remote) = again {
            post(&remote, JobKind::Plain, false);
        }
    }
}

/// Posts one new job of `kind` (with every allocation failing if `starve`: its box cannot be
/// had, so it is refused with ENOMEM and dropped at once).
fn post(remote: &Remote, kind: JobKind, starve: bool) {
    let id = {
        let mut log = log();
        if log.made >= MAX_JOBS {
            return;
        }
        log.made += 1;
        log.made - 1
    };
    let job = Job {
        id,
        kind,
        ran: false,
    };
    let closure = move |ops: &mut Ops<'_>| job.run(ops);
    if starve {
        let dropped = log().dropped;
        let result = starved(|| remote.post(closure));
        check!(
            result == Err(Error::Os(sys::Errno::ENOMEM)),
            "a post with no memory for its job gave {result:?}"
        );
        check!(
            log().dropped == dropped + 1,
            "a refused job was not dropped once"
        );
        return;
    }
    match remote.post(closure) {
        Ok(()) => log().queued.push_back(id),
        Err(e) => violation(format_args!("post refused: {e:?}")),
    }
}

/// The reactor's remote, made at the first post; `None` if it cannot be made (no descriptor).
fn remote(reactor: &mut Reactor) -> Option<Remote> {
    if let Some(remote) = &log().remote {
        return Some(remote.clone());
    }
    let remote = reactor.remote().ok()?;
    log().remote = Some(remote.clone());
    Some(remote)
}

/// Before an input: nothing of the last one is left.
pub fn begin() {
    let mut log = log();
    check!(log.remote.is_none(), "the last input's remote is alive");
    log.queued.clear();
    (log.made, log.ran, log.dropped) = (0, 0, 0);
    (log.stopped, log.other_stop, log.job_stop) = (false, false, false);
}

/// The driver posts one job.
pub fn post_one(reactor: &mut Reactor, kind: JobKind, starve: bool) {
    if let Some(remote) = remote(reactor) {
        post(&remote, kind, starve);
    }
}

/// The driver posts a burst of `1000 + 16 * n` plain jobs: past the ring for most `n`.
pub fn post_many(reactor: &mut Reactor, n: u8) {
    if let Some(remote) = remote(reactor) {
        for _ in 0..1000 + 16 * u32::from(n) {
            post(&remote, JobKind::Plain, false);
        }
    }
}

/// Another thread posts `1 + 24 * n` plain jobs; the driver waits for it to exit (a join, not
/// a scope: a scope may return while the thread still runs its thread-locals' destructors, which
/// the leak check after the input would count).
pub fn post_from_thread(reactor: &mut Reactor, n: u8) {
    if let Some(remote) = remote(reactor) {
        let poster = std::thread::spawn(move || {
            for _ in 0..1 + 24 * u32::from(n) {
                post(&remote, JobKind::Plain, false);
            }
        });
        if poster.join().is_err() {
            violation(format_args!("the posting thread panicked"));
        }
    }
}

/// Whether the reactor has a remote (whose wake it may count in a turn).
pub fn exists() -> bool {
    log().remote.is_some()
}

/// At the start of a turn; `stopped`: a stop asked for in an earlier turn is still on (its
/// batch panicked before it was done).
pub fn turn_begins(stopped: bool) {
    let mut log = log();
    (log.stopped, log.other_stop, log.job_stop) = (false, stopped, false);
}

/// A handler or timer callback asked for a stop.
pub fn stop_seen() {
    log().other_stop = true;
}

/// Whether a job asked for a stop in the turn.
pub fn stopped() -> bool {
    log().job_stop
}

/// Whether jobs wait to run.
pub fn queued() -> bool {
    !log().queued.is_empty()
}

/// After the driver ran its turns to empty the queue: nothing is left.
pub fn check_drained() {
    let log = log();
    check!(
        log.queued.is_empty(),
        "{} jobs still queued after the draining turns, oldest {:?}",
        log.queued.len(),
        log.queued.front()
    );
}

/// After the reactor dropped: every job ran or was dropped, once; the handle goes.
pub fn finish() {
    let remote = log().remote.take();
    drop(remote);
    let log = log();
    check!(
        log.ran + log.dropped == log.made,
        "{} jobs made, {} ran, {} dropped unrun",
        log.made,
        log.ran,
        log.dropped
    );
}
