//! Remote calls (`std`): run closures on a reactor's thread from other threads, fire-and-forget
//! ([`Remote::post`]) or waiting for the result ([`Remote::call`]).
//!
//! Closures queue in a lock-free ring of 1,024 (a closure that captures nothing is not
//! allocated); past that, and behind any that waited there, in a list under a mutex, so the
//! closures each thread posts run in the order posted. A coalescing wake tells the reactor: a
//! post writes to an eventfd only if the reactor may be asleep, so a burst costs one `write`,
//! and posts that come while the reactor is running closures cost none (it looks again before
//! it waits). Its subscriber runs the queued closures with an [`Ops`], one at a time (a
//! closure that panics, or stops the reactor, leaves the rest queued for the next turn, and
//! nothing allocates on the way out). The reactor closes the queue first thing when it drops,
//! before its subscribers: closures not yet run are dropped, and callers, even from a
//! subscriber's `Drop`, get [`Error::Closed`].
//!
//! Every allocation a handle makes ([`Reactor::remote`](crate::Reactor::remote), `post`,
//! `call`) is fallible: out of memory is `Error::Os(ENOMEM)`, never an abort.
//!
//! A reactor built with a [`remote_capacity`](crate::Builder::remote_capacity) holds at most
//! that many jobs in the queue: `post` and `call` wait for room (the reactor takes every
//! queued job at the start of the turn that serves them), [`Remote::try_post`] gives the job
//! back. [`Remote::call_timeout`] bounds the whole wait; a job whose caller stopped waiting
//! before it started does not run.

use crate::error::{Error, Result};
use crate::interest::Event;
use crate::ops::Ops;
use crate::subscriber::Subscriber;
use crate::sys::{AsFd, BorrowedFd, Errno};
use crate::thin::try_box;
use crate::thin::{Ring, SharedBox};
use crate::threads::{Local, Threads};
use crate::waker::WakeFd;
use std::boxed::Box;
use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// A closure to run on the reactor's thread.
type Job<D, T> = Box<dyn FnOnce(&mut Ops<'_, D, T>) + Send>;

struct Queue<D, T: 'static> {
    jobs: VecDeque<Job<D, T>>,
    closed: bool,
}

pub(crate) struct Shared<D, T: 'static> {
    wake: WakeFd,
    /// An unbounded queue's first stop: posts go here with no lock, unless it is full or jobs
    /// wait in `queue` (`spilled`). `None` for a bounded queue, which is `queue` alone.
    ring: Option<Ring<Job<D, T>>>,
    /// Jobs of an unbounded queue wait in `queue` (set and cleared under its lock): later
    /// posts go there too, so each thread's jobs keep their order.
    spilled: AtomicBool,
    /// The queue is closed (also in `queue`, for posters under the lock).
    closed: AtomicBool,
    queue: Mutex<Queue<D, T>>,
    /// The most jobs `queue` holds (`usize::MAX`: unbounded).
    capacity: usize,
    /// Posters waiting for room (bounded queues only).
    room: Condvar,
    /// The thread running the reactor now ([`this_thread`]), or 0.
    running_on: AtomicUsize,
    /// The thread that made a `Local` reactor, the only one that can ever run it (0 for a
    /// `Sendable` one, and once the queue is closed: then calls get `Closed`).
    owner: AtomicUsize,
}

impl<D, T> Shared<D, T> {
    fn queue(&self) -> MutexGuard<'_, Queue<D, T>> {
        // A job never runs under the lock, so a poisoned lock only means a panic elsewhere.
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Refuses every later job and drops those queued (after the lock is let go: a job's
    /// destructor may post). Allocates nothing.
    fn close(&self) {
        self.closed.store(true, Ordering::Release);
        let mut queue = self.queue();
        queue.closed = true;
        self.owner.store(0, Ordering::Release);
        let jobs = std::mem::take(&mut queue.jobs);
        drop(queue);
        self.room.notify_all(); // posters waiting for room: refused now

        // Pairs with the fence of a post to the ring (`posted`): either this drain sees its
        // job, or it sees `closed` and drains. (If a job's destructor panics here, `jobs` is
        // still dropped, and the ring's rest with the last handle.)
        fence(Ordering::SeqCst);
        self.drop_ring();
        drop(jobs); // their replies are dropped unsent: waiting callers get `Error::Closed`
    }

    /// Drops every job in the ring (any thread may: the ring is for any number of poppers).
    fn drop_ring(&self) {
        if let Some(ring) = &self.ring {
            while let Some(job) = ring.pop() {
                drop(job);
            }
        }
    }

    /// Queues `job` in an unbounded queue: in the ring, or after the jobs that spilled (and
    /// there if the ring is full).
    fn push_unbounded(
        &self,
        ring: &Ring<Job<D, T>>,
        job: Job<D, T>,
    ) -> Result<(), (Error, Job<D, T>)> {
        if self.closed.load(Ordering::Acquire) {
            return Err((Error::Closed, job));
        }
        let job = if self.spilled.load(Ordering::Acquire) {
            job
        } else {
            match ring.push(job) {
                Ok(()) => {
                    self.posted();
                    return Ok(());
                }
                Err(job) => job,
            }
        };
        let mut queue = self.queue();
        if queue.closed {
            return Err((Error::Closed, job));
        }
        if queue.jobs.try_reserve(1).is_err() {
            return Err((out_of_memory(), job));
        }
        queue.jobs.push_back(job);
        self.spilled.store(true, Ordering::Release);
        drop(queue);
        self.posted();
        Ok(())
    }

    /// After a job was queued in an unbounded queue: drops it if the queue closed meanwhile,
    /// and wakes the reactor unless a wake is under way.
    fn posted(&self) {
        // Pairs with the fences of `close` and of the reactor's last look (`Serve::handle`):
        // either they see this job, or this sees `closed`, or the wake flag clear.
        fence(Ordering::SeqCst);
        if self.closed.load(Ordering::Relaxed) {
            self.drop_ring(); // its job and any others: nobody will run them
        }
        self.wake.wake_after_unlock();
    }

    /// Watches the queue for a moment (`LINGER` looks, no syscall) before the reactor lets the
    /// next post write: a poster that keeps posting finds it still serving, and makes no
    /// `write` (nor the reactor another wait). Whether a job came.
    fn linger(&self) -> bool {
        let Some(ring) = &self.ring else { return false };
        for _ in 0..LINGER {
            if ring.ready() || self.spilled.load(Ordering::Relaxed) {
                return true;
            }
            core::hint::spin_loop();
        }
        false
    }

    /// Whether this thread runs the reactor now, or is the only one that can (it cannot wait
    /// for the reactor).
    fn on_reactor_thread(&self) -> bool {
        let me = this_thread();
        self.owner.load(Ordering::Acquire) == me || self.running_on.load(Ordering::Acquire) == me
    }
}

impl<D, T: Threads> Shared<D, T> {
    /// Runs the jobs queued now. Those that spilled into the list are taken in one swap that
    /// notes where the ring ends and lets posts go to the ring again: the ring's jobs before
    /// that point are older and run first, then the list's, then (one lap at most) the ring's
    /// newer ones, so each thread's jobs run in the order posted. A job that stops the reactor
    /// (`stopped`: a stop was asked for before) is the last: the rest wait for the next turn
    /// (as do those a job's panic left, with the point they wait behind). Returns how many
    /// ran.
    fn serve(&self, taken: &mut Taken<D, T>, ops: &mut Ops<'_, D, T>, stopped: bool) -> usize {
        let ring = self.ring.as_ref();
        let spilled = ring.is_none() || self.spilled.load(Ordering::Acquire);
        if spilled && taken.jobs.is_empty() {
            let mut queue = self.queue();
            taken.behind = ring.map(Ring::tail);
            core::mem::swap(&mut queue.jobs, &mut taken.jobs);
            self.spilled.store(false, Ordering::Release);
            drop(queue);
            if self.capacity != usize::MAX {
                self.room.notify_all(); // the queue is empty again
            }
        }
        let mut ran = 0;
        if let (Some(ring), Some(end)) = (ring, taken.behind) {
            while let Some(job) = ring.pop_before(end) {
                ran += 1;
                job(ops);
                if stops(ops, stopped) {
                    return ran;
                }
            }
            if ring.before(end) {
                // A pusher claimed a slot before the point and has not written it yet: its
                // job is older than the list's, which wait (the turn wakes itself for them).
                return ran;
            }
        }
        while let Some(job) = taken.jobs.pop_front() {
            ran += 1;
            job(ops);
            if stops(ops, stopped) {
                return ran;
            }
        }
        taken.behind = None;
        if let Some(ring) = ring {
            for _ in 0..ring.capacity() {
                let Some(job) = ring.pop() else { break };
                ran += 1;
                job(ops);
                if stops(ops, stopped) {
                    break;
                }
            }
        }
        ran
    }
}

/// A job [`Remote::try_post`] did not queue, given back with the reason.
///
/// ```
/// use barepoll::{Error, Ops, Reactor};
///
/// let mut reactor = Reactor::new()?;
/// let remote = reactor.remote()?;
/// drop(reactor);
/// let flag = std::sync::Arc::new(());
/// let held = flag.clone();
/// let refused = remote.try_post(move |_: &mut Ops<'_>| drop(held)).unwrap_err();
/// assert_eq!(refused.error, Error::Closed);
/// assert_eq!(std::sync::Arc::strong_count(&flag), 2); // the job, given back unrun
/// drop(refused);
/// assert_eq!(std::sync::Arc::strong_count(&flag), 1);
/// # Ok::<(), barepoll::Error>(())
/// ```
pub struct Rejected<F> {
    /// [`Error::Full`], [`Error::Closed`], or `ENOMEM`.
    pub error: Error,
    /// The job, unrun.
    pub job: F,
}

/// The error only (a job is a closure, which has no `Debug`).
impl<F> fmt::Debug for Rejected<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rejected")
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

std::thread_local! {
    /// One byte per thread, whose address names the thread while it lives.
    static THREAD_MARK: u8 = const { 0 };
}

/// A number for the calling thread, unique among the threads alive (never 0), with no syscall
/// and no allocation.
fn this_thread() -> usize {
    THREAD_MARK.with(|mark| mark as *const u8 as usize)
}

/// Marks a reactor as running on this thread while it lives: blocking calls into it from this
/// thread are refused, even from a reactor that one of its handlers runs (each reactor has
/// its own mark, so any number of nested reactors are told apart).
pub(crate) struct Running<D, T: 'static> {
    shared: SharedBox<Shared<D, T>>,
    before: usize,
}

impl<D, T> Running<D, T> {
    pub(crate) fn enter(shared: &SharedBox<Shared<D, T>>) -> Running<D, T> {
        let before = shared.running_on.swap(this_thread(), Ordering::AcqRel);
        Running {
            shared: shared.clone(),
            before,
        }
    }
}

impl<D, T> Drop for Running<D, T> {
    fn drop(&mut self) {
        self.shared.running_on.store(self.before, Ordering::Release);
    }
}

fn out_of_memory() -> Error {
    Error::Os(Errno::ENOMEM)
}

/// A handle that runs closures on a reactor's thread; `Clone + Send + Sync`. Made by
/// [`Reactor::remote`](crate::Reactor::remote).
///
/// ```
/// use barepoll::{Ops, Reactor};
///
/// let mut reactor = Reactor::builder().state::<Vec<u32>>().build()?;
/// let remote = reactor.remote()?;
/// let worker = std::thread::spawn(move || {
///     for i in 0..10 {
///         remote.post(move |ops: &mut Ops<'_, Vec<u32>>| ops.data().push(i)).unwrap();
///     }
///     remote.call(|ops: &mut Ops<'_, Vec<u32>>| {
///         ops.stop();
///         ops.data().len()
///     })
/// });
/// let mut results = Vec::new();
/// reactor.run_with(&mut results)?;
/// assert_eq!(worker.join().unwrap()?, 10);
/// assert_eq!(results, (0..10).collect::<Vec<_>>());
/// # Ok::<(), barepoll::Error>(())
/// ```
pub struct Remote<D = (), T: 'static = Local> {
    shared: SharedBox<Shared<D, T>>,
}

impl<D, T> Clone for Remote<D, T> {
    fn clone(&self) -> Self {
        Remote {
            shared: self.shared.clone(),
        }
    }
}

impl<D, T> fmt::Debug for Remote<D, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Remote").finish_non_exhaustive()
    }
}

impl<D, T> Remote<D, T> {
    /// Closes the queue: what the reactor does first when it drops.
    pub(crate) fn close(&self) {
        self.shared.close();
    }
}

impl<D, T: Threads> Remote<D, T> {
    /// A new channel and the subscriber that serves it (to register in the reactor).
    pub(crate) fn open(capacity: usize) -> Result<(Remote<D, T>, Serve<D, T>)> {
        let ring = if capacity == usize::MAX {
            Some(Ring::with_capacity(RING).ok_or_else(out_of_memory)?)
        } else {
            None
        };
        let shared = SharedBox::new(Shared {
            wake: WakeFd::new()?,
            ring,
            spilled: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            queue: Mutex::new(Queue {
                jobs: VecDeque::new(),
                closed: false,
            }),
            capacity,
            room: Condvar::new(),
            running_on: AtomicUsize::new(0),
            // Opened by the reactor, on its thread.
            owner: AtomicUsize::new(if <T as crate::threads::sealed::Sealed>::STAYS {
                this_thread()
            } else {
                0
            }),
        })
        .ok_or_else(out_of_memory)?;
        let serve = Serve {
            shared: shared.clone(),
            taken: Taken {
                jobs: VecDeque::new(),
                behind: None,
            },
        };
        Ok((Remote { shared }, serve))
    }

    pub(crate) fn shared(&self) -> &SharedBox<Shared<D, T>> {
        &self.shared
    }

    /// Runs `job` on the reactor's thread, in its next turn; does not wait for it to run, only,
    /// in a bounded queue, for room. Jobs posted from one thread run in the order posted.
    ///
    /// # Errors
    /// [`Error::Closed`] if the reactor is gone; `ENOMEM` if memory for the job cannot be
    /// had; [`Error::WouldDeadlock`] if a bounded queue is full and this thread is running
    /// the reactor (in a handler, a callback, a task, or the hook of
    /// [`run_with_hook`](crate::Reactor::run_with_hook)), or made it and it is `Local`: only
    /// this thread could make room. On error
    /// `job` is dropped, unrun.
    ///
    /// ```
    /// use barepoll::{Ops, Reactor};
    ///
    /// let mut reactor = Reactor::new()?;
    /// let remote = reactor.remote()?;
    /// remote.post(|ops: &mut Ops<'_>| ops.stop())?;
    /// reactor.run()?;
    /// drop(reactor);
    /// assert!(remote.post(|_: &mut Ops<'_>| {}).is_err());
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn post<F>(&self, job: F) -> Result<()>
    where
        F: FnOnce(&mut Ops<'_, D, T>) + Send + 'static,
    {
        self.post_until(job, None)
    }

    /// [`post`](Remote::post), waiting for room in a bounded queue until `deadline` at most.
    fn post_until<F>(&self, job: F, deadline: Option<Instant>) -> Result<()>
    where
        F: FnOnce(&mut Ops<'_, D, T>) + Send + 'static,
    {
        let job: Job<D, T> = match try_box(job) {
            Ok(job) => job,
            Err(job) => {
                drop(job);
                return Err(out_of_memory());
            }
        };
        if let Some(ring) = &self.shared.ring {
            return self
                .shared
                .push_unbounded(ring, job)
                .map_err(|(error, job)| {
                    drop(job); // its destructor may post
                    error
                });
        }
        let mut queue = self.shared.queue();
        let refused = loop {
            if queue.closed {
                break Error::Closed;
            }
            if queue.jobs.len() < self.shared.capacity {
                if queue.jobs.try_reserve(1).is_err() {
                    break out_of_memory();
                }
                queue.jobs.push_back(job);
                drop(queue);
                self.shared.wake.wake_after_unlock();
                return Ok(());
            }
            if self.shared.on_reactor_thread() {
                break Error::WouldDeadlock; // the room would come from this thread
            }
            queue = match deadline {
                None => self
                    .shared
                    .room
                    .wait(queue)
                    .unwrap_or_else(|p| p.into_inner()),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        break Error::TimedOut;
                    }
                    let waited = self.shared.room.wait_timeout(queue, deadline - now);
                    waited.unwrap_or_else(|p| p.into_inner()).0
                }
            };
        };
        drop(queue);
        drop(job); // outside the lock: its destructor may post
        Err(refused)
    }

    /// [`post`](Remote::post) without waiting: a bounded queue with no room gives the job
    /// back with [`Error::Full`] (see [`Builder::remote_capacity`](crate::Builder::remote_capacity)).
    ///
    /// # Errors
    /// The job, unrun, with [`Error::Full`], [`Error::Closed`] if the reactor is gone, or
    /// `ENOMEM` if memory for it cannot be had.
    ///
    /// ```
    /// use barepoll::{Error, Ops, Reactor};
    ///
    /// let mut reactor = Reactor::builder().remote_capacity(1).build()?;
    /// let remote = reactor.remote()?;
    /// remote.try_post(|_: &mut Ops<'_>| {}).unwrap();
    /// let refused = remote.try_post(|ops: &mut Ops<'_>| ops.stop()).unwrap_err();
    /// assert_eq!(refused.error, Error::Full);
    /// reactor.run_once(None)?; // room again
    /// remote.try_post(refused.job).unwrap(); // the same job, queued now
    /// reactor.run()?; // it stops the reactor
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn try_post<F>(&self, job: F) -> core::result::Result<(), Rejected<F>>
    where
        F: FnOnce(&mut Ops<'_, D, T>) + Send + 'static,
    {
        let refused = |error, job| Err(Rejected { error, job });
        // An unbounded queue takes it after the jobs that spilled: a refusal can then give the
        // job back unboxed (the ring could not).
        let mut queue = self.shared.queue();
        if queue.closed {
            return refused(Error::Closed, job);
        }
        if queue.jobs.len() >= self.shared.capacity {
            return refused(Error::Full, job);
        }
        if queue.jobs.try_reserve(1).is_err() {
            return refused(out_of_memory(), job);
        }
        match try_box(job) {
            Ok(job) => queue.jobs.push_back(job),
            Err(job) => return refused(out_of_memory(), job),
        }
        self.shared.spilled.store(true, Ordering::Release);
        drop(queue);
        self.shared.posted();
        Ok(())
    }

    /// Runs `job` on the reactor's thread and waits for its result.
    ///
    /// # Errors
    /// [`Error::WouldDeadlock`] if called from a thread that is running this reactor (from
    /// one of its handlers, callbacks or tasks, the hook of
    /// [`run_with_hook`](crate::Reactor::run_with_hook), or a handler of another reactor run
    /// by one of them): that
    /// thread could never run the job. [`Error::Closed`] if the reactor is gone, or drops
    /// before running the job. [`Error::Panicked`] if `job` panicked (the panic itself
    /// carries on out of the reactor's `run`, on its thread, as a handler's would). `ENOMEM` if memory for
    /// the job or its reply cannot be had (nothing was queued). A `Local` reactor runs only on
    /// the thread that made it: from that thread a call is refused even while the reactor is
    /// not running. A call to a `Sendable` reactor from a thread that is not running it waits
    /// until some thread runs it.
    ///
    /// ```
    /// use barepoll::{Error, Ops, Reactor};
    ///
    /// let mut reactor = Reactor::new()?;
    /// let remote = reactor.remote()?;
    /// let inside = remote.clone();
    /// remote.post(move |ops: &mut Ops<'_>| {
    ///     // From the reactor's own thread a blocking call could never return.
    ///     assert_eq!(inside.call(|_: &mut Ops<'_>| ()), Err(Error::WouldDeadlock));
    ///     ops.stop();
    /// })?;
    /// reactor.run()?;
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn call<F, R>(&self, job: F) -> Result<R>
    where
        F: FnOnce(&mut Ops<'_, D, T>) -> R + Send + 'static,
        R: Send + 'static,
    {
        if self.shared.on_reactor_thread() {
            return Err(Error::WouldDeadlock);
        }
        let reply = SharedBox::new(Reply {
            slot: Mutex::new(Slot::Waiting),
            ready: Condvar::new(),
        })
        .ok_or_else(out_of_memory)?;
        let mut answer = Answer {
            reply: Some(reply.clone()),
            started: false,
        };
        self.post(move |ops: &mut Ops<'_, D, T>| {
            answer.started = true;
            let value = job(ops);
            answer.send(Slot::Done(value));
        })?;
        reply.wait(None)
    }

    /// [`call`](Remote::call), waiting at most `timeout` in all (for room in a bounded queue,
    /// then for the result). A job still queued when the time is up does not run; one that
    /// started runs to its end, and its result is dropped.
    ///
    /// # Errors
    /// [`Error::TimedOut`] when the time is up; else as [`call`](Remote::call).
    ///
    /// ```
    /// use barepoll::{Error, Ops, Reactor};
    /// use std::time::Duration;
    ///
    /// let mut reactor = Reactor::new()?;
    /// let remote = reactor.remote()?;
    /// let caller = std::thread::spawn(move || {
    ///     // Nobody runs the reactor yet: the call gives up, and its job will not run.
    ///     let late = remote.call_timeout(Duration::from_millis(5), |_: &mut Ops<'_>| 1);
    ///     assert_eq!(late, Err(Error::TimedOut));
    ///     remote.call_timeout(Duration::from_secs(60), |ops: &mut Ops<'_>| {
    ///         ops.stop();
    ///         2
    ///     })
    /// });
    /// std::thread::sleep(Duration::from_millis(20));
    /// reactor.run()?;
    /// assert_eq!(caller.join().unwrap(), Ok(2));
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn call_timeout<F, R>(&self, timeout: Duration, job: F) -> Result<R>
    where
        F: FnOnce(&mut Ops<'_, D, T>) -> R + Send + 'static,
        R: Send + 'static,
    {
        if self.shared.on_reactor_thread() {
            return Err(Error::WouldDeadlock);
        }
        // A deadline past what `Instant` holds: no deadline.
        let deadline = Instant::now().checked_add(timeout);
        let reply = SharedBox::new(Reply {
            slot: Mutex::new(Slot::Waiting),
            ready: Condvar::new(),
        })
        .ok_or_else(out_of_memory)?;
        let mut answer = Answer {
            reply: Some(reply.clone()),
            started: false,
        };
        self.post_until(
            move |ops: &mut Ops<'_, D, T>| {
                if answer.abandoned() {
                    return; // its caller stopped waiting before it started
                }
                answer.started = true;
                let value = job(ops);
                answer.send(Slot::Done(value));
            },
            deadline,
        )?;
        reply.wait(deadline)
    }
}

/// Where a call's result goes, and its caller waits.
struct Reply<R> {
    slot: Mutex<Slot<R>>,
    ready: Condvar,
}

enum Slot<R> {
    Waiting,
    Done(R),
    Failed(Error),
    /// The caller stopped waiting ([`Remote::call_timeout`]).
    Abandoned,
}

impl<R> Reply<R> {
    fn slot(&self) -> MutexGuard<'_, Slot<R>> {
        // Nothing runs under the lock that could panic.
        self.slot.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for the answer, until `deadline` if there is one: then the slot is abandoned
    /// (a job that has not started will not run) and the wait gives [`Error::TimedOut`].
    fn wait(&self, deadline: Option<Instant>) -> Result<R> {
        let mut slot = self.slot();
        loop {
            match std::mem::replace(&mut *slot, Slot::Waiting) {
                Slot::Waiting | Slot::Abandoned => {}
                Slot::Done(value) => return Ok(value),
                Slot::Failed(e) => return Err(e),
            }
            slot = match deadline {
                None => self.ready.wait(slot).unwrap_or_else(|p| p.into_inner()),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        *slot = Slot::Abandoned;
                        return Err(Error::TimedOut);
                    }
                    let waited = self.ready.wait_timeout(slot, deadline - now);
                    waited.unwrap_or_else(|p| p.into_inner()).0
                }
            };
        }
    }
}

/// The job's side of a [`Reply`], which it answers once. Dropped unsent, it answers for the
/// job: [`Error::Panicked`] if the job started (only a panic leaves it unsent then), else
/// [`Error::Closed`] (the job was dropped unrun with the queue). Allocates nothing.
struct Answer<R> {
    reply: Option<SharedBox<Reply<R>>>,
    started: bool,
}

impl<R> Answer<R> {
    /// Whether the caller stopped waiting: then nothing is sent (the job does not run).
    fn abandoned(&mut self) -> bool {
        let gone = self
            .reply
            .as_ref()
            .is_some_and(|reply| matches!(*reply.slot(), Slot::Abandoned));
        if gone {
            self.reply = None;
        }
        gone
    }

    fn send(&mut self, answer: Slot<R>) {
        if let Some(reply) = self.reply.take() {
            *reply.slot() = answer;
            reply.ready.notify_one();
        }
    }
}

impl<R> Drop for Answer<R> {
    fn drop(&mut self) {
        let error = if self.started {
            Error::Panicked
        } else {
            Error::Closed
        };
        self.send(Slot::Failed(error));
    }
}

/// The reactor side of a [`Remote`]: the subscriber that runs what was posted.
pub struct Serve<D, T: 'static> {
    shared: SharedBox<Shared<D, T>>,
    taken: Taken<D, T>,
}

impl<D, T> AsFd for Serve<D, T> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.shared.wake.as_fd()
    }
}

/// Whether a job asked for a stop (one asked for before the jobs ran does not end them: a
/// handler that stops every turn does not hold the queue back to a job a turn).
fn stops<D, T: Threads>(ops: &Ops<'_, D, T>, stopped: bool) -> bool {
    !stopped && ops.stop_requested()
}

/// The jobs taken from the list in one swap (the list gets this one's room back, so posting
/// rarely allocates); left here by a job that panicked or stopped, for the next turn.
struct Taken<D, T: 'static> {
    jobs: VecDeque<Job<D, T>>,
    /// Where the ring ended when they were taken: its jobs before that run first.
    behind: Option<usize>,
}

/// The jobs an unbounded queue holds with no lock (more wait in a list, under one).
const RING: usize = 1024;

/// How many times one turn looks at the queue while fewer posts come each time.
const ROUNDS: usize = 8;

/// How many times the reactor looks at an empty queue, with a spin-loop hint between looks,
/// after serving jobs (see `Shared::linger`).
const LINGER: usize = 64;

/// Wakes the reactor again if a job panics, for the jobs still queued.
struct WakeAgainOnUnwind<'a>(&'a WakeFd);

impl Drop for WakeAgainOnUnwind<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.force();
        }
    }
}

impl<D: 'static, T: Threads> Subscriber<D, T> for Serve<D, T> {
    fn has_init(&self) -> bool {
        false
    }

    /// Runs the jobs queued (see `Shared::serve`), again while fewer come each time than the
    /// time before. The wake flag stays set until a look finds none (and, if jobs ran, none
    /// came while it watched the queue for a moment), so posts that come while the reactor
    /// runs jobs do not write: the flag is cleared, then the queue is looked at once more. A
    /// post that look misses sees the flag clear and writes (the lock, or the fences of the
    /// two, order them). If jobs come as fast as they run, the turn ends and
    /// the reactor wakes itself for the next: the other subscribers get their turn.
    fn handle(&mut self, _: Event, ops: &mut Ops<'_, D, T>) {
        let (shared, taken) = (&*self.shared, &mut self.taken);
        shared.wake.empty();
        let _rest = WakeAgainOnUnwind(&shared.wake);
        let (mut settled, mut before, mut served) = (false, usize::MAX, false);
        let stopped = ops.stop_requested();
        for _ in 0..ROUNDS {
            let ran = shared.serve(taken, ops, stopped);
            if stops(ops, stopped) || taken.behind.is_some() {
                break; // what is left waits for the next turn, which this wakes
            }
            if settled {
                return;
            }
            served |= ran > 0;
            if ran == 0 && !(served && shared.linger()) {
                shared.wake.settle();
                // Pairs with the fence of a post to the ring (`Shared::posted`).
                fence(Ordering::SeqCst);
                settled = true;
            } else if ran >= before {
                break;
            }
            before = ran;
        }
        // Posts may have come since the last look, and none of them wrote: next turn.
        shared.wake.force();
    }
}

impl<D, T> Drop for Serve<D, T> {
    fn drop(&mut self) {
        self.shared.close();
    }
}
