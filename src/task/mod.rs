//! Tasks: futures run on the reactor's own thread, beside its callback subscribers.
//!
//! This module owns the executor's turn (which tasks a turn polls, and whether the turn's wait
//! may block), spawning, and join handles. It holds no pointers: a task's memory, its wakers
//! and the inbox that wakes from other threads go through are the pointer boundary's
//! (`thin::task`). It may not poll a task anywhere but in a turn of the task's reactor.
//!
//! - A turn waits (without blocking while a task is ready), dispatches its events and fires its
//!   timers, then polls the tasks ready at that point, oldest first, and those they wake or
//!   spawn meanwhile, in the order they were woken: at most [`BUDGET`] polls, then it lets
//!   I/O in. A task its events woke runs in the same turn; so does a task another task wakes
//!   (a wake from task to task costs no syscall). A task that wakes itself in its own poll (a
//!   yield) is polled by the next turn, after that turn's I/O. An idle reactor with parked
//!   tasks makes one syscall per turn, its wait.
//! - A wake on any thread costs atomics only while the reactor is awake; while it sleeps in
//!   its wait, the first wake writes the reactor's task eventfd, and the wakes after it until
//!   the reactor wakes write nothing.
//! - Dropping a [`JoinHandle`] *detaches* the task: it runs on, its output is dropped. A task
//!   is cancelled (its future dropped, on the reactor's thread) only when its reactor is
//!   dropped; its join handle then gives [`Error::Closed`].
//! - A panic in a task's poll ends the task (its future dropped once; its join handle gives
//!   [`Error::Panicked`]) and goes on out of `run_once`, as a handler's does; the reactor
//!   stays usable.
//!
//! ```
//! use barepoll::Reactor;
//!
//! let mut reactor = Reactor::new()?;
//! let spawner = reactor.spawner()?;
//! let outer = reactor.spawn(async move {
//!     let inner = spawner.spawn(async { 20 }).unwrap();
//!     inner.await.unwrap() + 1
//! })?;
//! assert_eq!(reactor.block_on(outer)?, Ok(21));
//! # Ok::<(), barepoll::Error>(())
//! ```
//!
//! Tasks stay on their reactor's thread: a [`Sendable`](crate::Sendable) reactor, which may move
//! to another thread, has no executor, and cannot spawn:
//!
//! ```compile_fail,E0599
//! use barepoll::{Reactor, Sendable};
//!
//! let mut reactor: Reactor<(), Sendable> = Reactor::builder().sendable().build().unwrap();
//! let _ = reactor.spawn(async {}); // no `spawn` on a `Sendable` reactor
//! ```

use crate::error::{Error, Result};
use crate::interest::{self, Event};
use crate::ops::Ops;
use crate::subscriber::Subscriber;
use crate::sys::{AsFd, BorrowedFd, Errno};
use crate::thin::{Executor, Inbox, JoinRef, Registry, SharedBox, TaskRef, Tasks, TASKS};
use crate::threads::{Local, Threads};
use alloc::collections::VecDeque;
use alloc::rc::Rc;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

mod connect;
mod io;
mod time;
mod waiters;
pub(crate) use io::settle_io;
pub use io::{Async, Readiness};
pub use time::{Elapsed, Sleep, Timeout, Within};

/// The most tasks one turn polls before it lets I/O in.
pub const BUDGET: usize = 64;

/// The most tasks alive at once on one reactor (a task keeps its index in 32 bits); a spawn
/// beyond it is refused with `ENOMEM`, as memory would long have been.
const MAX_TASKS: usize = u32::MAX as usize;

/// Spawns tasks on one reactor, from anywhere on its thread: outside the loop, in a handler,
/// or inside a task. `Clone`, not `Send`.
///
/// ```
/// let mut reactor = barepoll::Reactor::new()?;
/// let spawner = reactor.spawner()?;
/// let handle = spawner.spawn(async { "done" })?;
/// assert_eq!(reactor.block_on(handle)?, Ok("done"));
/// # Ok::<(), barepoll::Error>(())
/// ```
#[derive(Clone)]
pub struct Spawner {
    executor: Rc<RefCell<Executor>>,
}

impl Spawner {
    /// Spawns `future` as a task: it is first polled by the reactor's next task phase (at the
    /// end of the turn a handler spawns it in, at the end of the next turn if spawned outside
    /// the loop) or, spawned by a task, in the phase under way if its budget allows.
    ///
    /// # Errors
    /// [`Error::Closed`] once the reactor is gone; `ENOMEM` if memory for the task cannot be
    /// had. The future is dropped on error.
    ///
    /// ```
    /// let mut reactor = barepoll::Reactor::new()?;
    /// let handle = reactor.spawner()?.spawn(async { 1 + 1 })?;
    /// assert_eq!(reactor.block_on(handle)?, Ok(2));
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn spawn<F>(&self, future: F) -> Result<JoinHandle<F::Output>>
    where
        F: Future + 'static,
    {
        let mut executor = self.executor.borrow_mut();
        if executor.closed {
            return Err(Error::Closed);
        }
        let oom = |_| Error::Os(Errno::ENOMEM);
        if executor.free.is_empty() && executor.live.len() >= MAX_TASKS {
            return Err(Error::Os(Errno::ENOMEM));
        }
        executor.ready.try_reserve(1).map_err(oom)?;
        executor.live.try_reserve(1).map_err(oom)?;
        executor.free.try_reserve(1).map_err(oom)?;
        let (live, queued, join) = match TaskRef::spawn(future, &executor.inbox) {
            Ok(spawned) => spawned,
            Err(future) => {
                // Dropped with no borrow held: its destructor may use a spawner.
                drop(executor);
                drop(future);
                return Err(Error::Os(Errno::ENOMEM));
            }
        };
        let slot = match executor.free.pop() {
            Some(slot) => slot,
            None => {
                executor.live.push(None);
                executor.live.len() - 1
            }
        };
        // Below `MAX_TASKS`, checked above: it fits a task's 32-bit index.
        live.set_slot(slot as u32);
        executor.live[slot] = Some(live);
        // Tasks woken before this spawn go first: the run queue keeps the order of wakes and
        // spawns together.
        let Executor { inbox, ready, .. } = &mut *executor;
        inbox.drain(ready);
        ready.push_back(queued);
        Ok(JoinHandle { join })
    }
}

impl fmt::Debug for Spawner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Spawner").finish_non_exhaustive()
    }
}

/// A task's result: a future that gives its output once it is done, as `Ok`, or
/// [`Error::Panicked`] if its poll panicked, or [`Error::Closed`] if its reactor was dropped
/// first. Dropping the handle detaches the task (it runs on; its output is dropped). Not
/// `Send`: it lives on the reactor's thread.
///
/// ```
/// let mut reactor = barepoll::Reactor::new()?;
/// let handle = reactor.spawn(async { panic!("in a task") })?;
/// let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
///     reactor.run_once(None)
/// }));
/// assert!(outcome.is_err()); // the panic went on out of run_once
/// assert_eq!(handle.try_take(), Some(Err(barepoll::Error::Panicked)));
/// # Ok::<(), barepoll::Error>(())
/// ```
#[must_use = "dropping a join handle detaches the task"]
pub struct JoinHandle<T> {
    join: JoinRef<T>,
}

impl<T> JoinHandle<T> {
    /// Whether the task is done (finished, panicked or cancelled).
    ///
    /// ```
    /// let mut reactor = barepoll::Reactor::new()?;
    /// let handle = reactor.spawn(async {})?;
    /// assert!(!handle.is_finished());
    /// reactor.run_once(None)?;
    /// assert!(handle.is_finished());
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn is_finished(&self) -> bool {
        self.join.is_finished()
    }

    /// The task's result if it is done, without waiting; `None` while it runs, and after its
    /// output was taken.
    ///
    /// ```
    /// let mut reactor = barepoll::Reactor::new()?;
    /// let handle = reactor.spawn(async { 7 })?;
    /// assert_eq!(handle.try_take(), None);
    /// reactor.run_once(None)?;
    /// assert_eq!(handle.try_take(), Some(Ok(7)));
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn try_take(&self) -> Option<Result<T>> {
        self.join.take()
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T>;

    /// # Panics
    /// If polled again after it gave the task's output.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        if self.join.is_finished() {
            return match self.join.take() {
                Some(result) => Poll::Ready(result),
                None => panic!("a JoinHandle polled after it gave its output"),
            };
        }
        self.join.wake_when_done(cx.waker());
        Poll::Pending
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("finished", &self.is_finished())
            .finish()
    }
}

/// Yields once: the task is woken at once and polled again by a later turn, after I/O.
///
/// ```
/// let mut reactor = barepoll::Reactor::new()?;
/// let handle = reactor.spawn(async {
///     barepoll::task::yield_now().await;
///     "after a turn"
/// })?;
/// reactor.run_once(None)?;
/// assert!(!handle.is_finished());
/// assert_eq!(reactor.block_on(handle)?, Ok("after a turn"));
/// # Ok::<(), barepoll::Error>(())
/// ```
pub fn yield_now() -> YieldNow {
    YieldNow { yielded: false }
}

/// The future of [`yield_now`].
///
/// ```
/// let _: barepoll::task::YieldNow = barepoll::task::yield_now();
/// ```
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// The reactor's executor, made (with its inbox, registered as one of the reactor's own
/// subscribers) by the first spawn.
pub(crate) fn executor<D>(registry: &mut Registry<D, Local>) -> Result<Spawner> {
    if let Some(tasks) = &registry.tasks {
        return Ok(Spawner {
            executor: tasks.0.clone(),
        });
    }
    let inbox = SharedBox::new(Inbox::new()?).ok_or(Error::Os(Errno::ENOMEM))?;
    let executor = Rc::new(RefCell::new(Executor {
        inbox: inbox.clone(),
        ready: VecDeque::new(),
        yielded: VecDeque::new(),
        live: Vec::new(),
        free: Vec::new(),
        closed: false,
        io_add: Vec::new(),
        io_delete: Vec::new(),
        sleeps: crate::timer::Sleeps::new(),
    }));
    registry.insert_internal(OnTaskWake { inbox }, interest::interest().read())?;
    // Known to be `None` here: no old value to drop (and no drop code linked for one).
    registry.tasks.get_or_insert(Tasks(executor.clone()));
    registry.flag(TASKS, true);
    Ok(Spawner { executor })
}

/// What the tasks ask of the turn's wait.
pub(crate) enum Wait {
    /// Not to block: tasks are ready, or a wake from another thread is being written.
    Now,
    /// To end by this deadline (nanoseconds on the monotonic clock) at the latest: the
    /// earliest sleep's.
    By(u64),
}

/// What the tasks ask of the turn's wait, if anything; reads no clock.
pub(crate) fn wait_for<D, T>(registry: &Registry<D, T>) -> Option<Wait> {
    let tasks = registry.tasks.as_ref()?;
    let executor = tasks.0.borrow();
    if !executor.ready.is_empty() || !executor.inbox.may_sleep() {
        return Some(Wait::Now);
    }
    if executor.sleeps.armed() {
        return executor.sleeps.next_deadline().map(Wait::By);
    }
    None
}

/// The turn's tasks, after its events: polls those ready (at most [`BUDGET`] polls), oldest
/// first, and those they wake or spawn meanwhile, in the order they were woken; returns how
/// many polls it made. A task that wakes itself in its own poll (a yield) waits for the next
/// turn, after that turn's I/O; so do the tasks the budget left.
///
/// # Errors
/// The clock's, if a sleep is armed and the clock cannot be read (the tasks are polled all
/// the same; no sleep fires).
pub(crate) fn run_ready<D, T: Threads>(registry: &Registry<D, T>) -> Result<usize> {
    let Some(tasks) = &registry.tasks else {
        return Ok(0);
    };
    let executor = tasks.0.clone();
    let clock = time::fire_sleeps(&executor);
    {
        let guard = &mut *executor.borrow_mut();
        guard.inbox.drain(&mut guard.ready);
    }
    // Whatever way the phase ends (a poll may panic), the yields rejoin the run queue.
    let _rejoin = Rejoin(&executor);
    let mut polled = 0;
    while polled < BUDGET {
        let Some(task) = executor.borrow_mut().ready.pop_front() else {
            break;
        };
        polled += 1;
        let polling = Polling {
            executor: &executor,
            task,
        };
        polling.task.poll();
        let mut guard = executor.borrow_mut();
        let Executor {
            inbox,
            ready,
            yielded,
            ..
        } = &mut *guard;
        let from = ready.len();
        inbox.drain(ready);
        // Woken during its own poll: a yield (or a wake from another thread meanwhile, which
        // loses nothing by waiting a turn). It goes last, to the next turn.
        if let Some(at) = ready.range(from..).position(|t| t.same(&polling.task)) {
            if let Some(me) = ready.remove(from + at) {
                yielded.push_back(me);
            }
        }
        drop(guard);
        drop(polling);
    }
    clock.map(|()| polled)
}

/// Ends a task phase: the tasks that yielded go to the back of the run queue, for the next
/// turn (whose wait then does not block).
struct Rejoin<'a>(&'a Rc<RefCell<Executor>>);

impl Drop for Rejoin<'_> {
    fn drop(&mut self) {
        let mut executor = self.0.borrow_mut();
        let Executor { ready, yielded, .. } = &mut *executor;
        crate::thin::move_back(ready, yielded);
    }
}

/// After the turn's wait: wakes need not write until the next one.
pub(crate) fn awake<D, T>(registry: &Registry<D, T>) {
    if let Some(tasks) = &registry.tasks {
        tasks.0.borrow().inbox.awake();
    }
}

/// A task being polled: when the poll returns or unwinds, a task that is done leaves the list
/// of live tasks (its slot freed, its count given up with no borrow held).
struct Polling<'a> {
    executor: &'a Rc<RefCell<Executor>>,
    task: TaskRef,
}

impl Drop for Polling<'_> {
    fn drop(&mut self) {
        if !self.task.is_done() {
            return;
        }
        let slot = self.task.slot();
        let gone = {
            let mut executor = self.executor.borrow_mut();
            match executor.live.get_mut(slot) {
                Some(entry) if entry.as_ref().is_some_and(|t| t.same(&self.task)) => {
                    executor.free.push(slot);
                    executor.live[slot].take()
                }
                _ => None,
            }
        };
        drop(gone);
    }
}

/// The reactor's own subscriber on the task eventfd: a wake while it slept; the turn that
/// follows polls what the wake scheduled.
struct OnTaskWake {
    inbox: SharedBox<Inbox>,
}

impl AsFd for OnTaskWake {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inbox.as_fd()
    }
}

impl<D, T: Threads> Subscriber<D, T> for OnTaskWake {
    fn handle(&mut self, _: Event, _: &mut Ops<'_, D, T>) {
        self.inbox.clear();
    }
}

impl<D> Ops<'_, D, Local> {
    /// Spawns `future` as a task on the running reactor (see
    /// [`Reactor::spawn`](crate::Reactor::spawn)): first polled at the end of this turn, or
    /// of the next one (the turn that makes the executor does not poll).
    ///
    /// # Errors
    /// As [`Reactor::spawn`](crate::Reactor::spawn); [`Error::Invalid`] in a
    /// recording `Ops` (`testing::Recorder`), which has no executor.
    ///
    /// ```
    /// use barepoll::{sys, Ops, Reactor};
    /// use std::{cell::Cell, rc::Rc};
    ///
    /// let mut reactor = Reactor::new()?;
    /// let done = Rc::new(Cell::new(false));
    /// let d = done.clone();
    /// barepoll::interest().read()
    ///     .with_fd(sys::eventfd(1, sys::EFD_NONBLOCK)?)
    ///     .with_handler(move |ops: &mut Ops<'_>| {
    ///         let d = d.clone();
    ///         let handle = ops.spawn(async move { d.set(true) }).unwrap();
    ///         drop(handle); // detached: it runs all the same
    ///         ops.delete_self().unwrap();
    ///     })
    ///     .register_into(&mut reactor)?;
    /// while !done.get() {
    ///     reactor.run_once(None)?;
    /// }
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn spawn<F>(&mut self, future: F) -> Result<JoinHandle<F::Output>>
    where
        F: Future + 'static,
    {
        self.spawner()?.spawn(future)
    }

    /// A [`Spawner`] for the running reactor's tasks.
    ///
    /// # Errors
    /// As [`spawn`](Ops::spawn).
    ///
    /// ```
    /// use barepoll::{sys, Ops, Reactor};
    ///
    /// let mut reactor = Reactor::new()?;
    /// barepoll::interest().read()
    ///     .with_fd(sys::eventfd(1, sys::EFD_NONBLOCK)?)
    ///     .with_handler(|ops: &mut Ops<'_>| {
    ///         let spawner = ops.spawner().unwrap();
    ///         drop(spawner.spawn(async {}).unwrap());
    ///         ops.stop();
    ///     })
    ///     .register_into(&mut reactor)?;
    /// reactor.run()?;
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn spawner(&mut self) -> Result<Spawner> {
        match self.live_registry() {
            Some(registry) => {
                registry.check_owner()?;
                executor(registry)
            }
            None => Err(Error::Invalid("a recording Ops has no executor")),
        }
    }
}
