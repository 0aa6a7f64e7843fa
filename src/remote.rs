//! Remote calls (`std`): run closures on a reactor's thread from other threads, fire-and-forget
//! ([`Remote::post`]) or waiting for the result ([`Remote::call`]).
//!
//! Closures queue under a mutex; a coalescing wake (one eventfd `write` however many are
//! posted between two turns) tells the reactor, whose subscriber runs every queued closure
//! with an [`Ops`] in one go. When the reactor drops, closures not yet run are dropped, and
//! callers get [`Error::Closed`].

use crate::error::{Error, Result};
use crate::interest::Event;
use crate::ops::Ops;
use crate::subscriber::Subscriber;
use crate::sys::{AsFd, BorrowedFd};
use crate::threads::{Local, Threads};
use crate::waker::WakeFd;
use std::boxed::Box;
use std::cell::Cell;
use std::collections::VecDeque;
use std::fmt;
use std::sync::{mpsc, Arc, Mutex, MutexGuard};

/// A closure to run on the reactor's thread.
type Job<D, T> = Box<dyn FnOnce(&mut Ops<'_, D, T>) + Send>;

struct Queue<D: 'static, T: 'static> {
    jobs: VecDeque<Job<D, T>>,
    closed: bool,
}

pub(crate) struct Shared<D: 'static, T: 'static> {
    wake: WakeFd,
    queue: Mutex<Queue<D, T>>,
}

impl<D, T> Shared<D, T> {
    fn queue(&self) -> MutexGuard<'_, Queue<D, T>> {
        // A job never runs under the lock, so a poisoned lock only means a panic elsewhere.
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }
}

std::thread_local! {
    /// The `Shared` of the reactor this thread is running now (its address), if any.
    static RUNNING: Cell<usize> = const { Cell::new(0) };
}

/// Marks this thread as running a reactor that has remotes, for as long as it lives.
pub(crate) struct Running(usize);

impl Running {
    pub(crate) fn enter<D, T>(shared: &Arc<Shared<D, T>>) -> Running {
        Running(RUNNING.with(|r| r.replace(Arc::as_ptr(shared) as usize)))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        RUNNING.with(|r| r.set(self.0));
    }
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
pub struct Remote<D: 'static = (), T: 'static = Local> {
    shared: Arc<Shared<D, T>>,
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

impl<D: 'static, T: Threads> Remote<D, T> {
    /// A new channel and the subscriber that serves it (to register in the reactor).
    pub(crate) fn open() -> Result<(Remote<D, T>, Serve<D, T>)> {
        let shared = Arc::new(Shared {
            wake: WakeFd::new()?,
            queue: Mutex::new(Queue {
                jobs: VecDeque::new(),
                closed: false,
            }),
        });
        let serve = Serve {
            shared: shared.clone(),
        };
        Ok((Remote { shared }, serve))
    }

    pub(crate) fn shared(&self) -> &Arc<Shared<D, T>> {
        &self.shared
    }

    /// Runs `job` on the reactor's thread, in its next turn; does not wait. Jobs posted from
    /// one thread run in the order posted.
    ///
    /// # Errors
    /// [`Error::Closed`] if the reactor is gone (`job` is dropped).
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
        let mut queue = self.shared.queue();
        if queue.closed {
            return Err(Error::Closed);
        }
        queue.jobs.push_back(Box::new(job));
        drop(queue);
        self.shared.wake.wake();
        Ok(())
    }

    /// Runs `job` on the reactor's thread and waits for its result.
    ///
    /// # Errors
    /// [`Error::WouldDeadlock`] if called from the thread running this reactor (from one of
    /// its handlers): that thread could never run the job. [`Error::Closed`] if the reactor
    /// is gone, or drops before running the job. A call from the thread that owns the
    /// reactor while it is *not* running waits until some thread runs it.
    ///
    /// ```
    /// use barepoll::{Ops, Reactor};
    ///
    /// let mut reactor = Reactor::new()?;
    /// let remote = reactor.remote()?;
    /// let inside = remote.clone();
    /// remote.post(move |ops: &mut Ops<'_>| {
    ///     // From the reactor's own thread a blocking call could never return.
    ///     assert!(inside.call(|_: &mut Ops<'_>| ()).is_err());
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
        if RUNNING.with(Cell::get) == Arc::as_ptr(&self.shared) as usize {
            return Err(Error::WouldDeadlock);
        }
        let (tx, rx) = mpsc::sync_channel(1);
        self.post(move |ops: &mut Ops<'_, D, T>| {
            let _ = tx.send(job(ops));
        })?;
        rx.recv().map_err(|_| Error::Closed)
    }
}

/// The reactor side of a [`Remote`]: the subscriber that runs what was posted.
pub struct Serve<D: 'static, T: 'static> {
    shared: Arc<Shared<D, T>>,
}

impl<D, T> AsFd for Serve<D, T> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.shared.wake.as_fd()
    }
}

/// Jobs taken out of the queue: if one panics, the rest go back to its front, and the
/// reactor is woken again for them.
struct Batch<'a, D: 'static, T: 'static> {
    jobs: VecDeque<Job<D, T>>,
    shared: &'a Shared<D, T>,
}

impl<D, T> Drop for Batch<'_, D, T> {
    fn drop(&mut self) {
        if self.jobs.is_empty() {
            return;
        }
        let mut queue = self.shared.queue();
        while let Some(job) = self.jobs.pop_back() {
            queue.jobs.push_front(job);
        }
        drop(queue);
        self.shared.wake.wake();
    }
}

impl<D: 'static, T: Threads> Subscriber<D, T> for Serve<D, T> {
    fn handle(&mut self, _: Event, ops: &mut Ops<'_, D, T>) {
        self.shared.wake.take();
        let jobs = std::mem::take(&mut self.shared.queue().jobs);
        let mut batch = Batch {
            jobs,
            shared: &self.shared,
        };
        while let Some(job) = batch.jobs.pop_front() {
            job(ops);
        }
    }
}

impl<D, T> Drop for Serve<D, T> {
    fn drop(&mut self) {
        let mut queue = self.shared.queue();
        queue.closed = true;
        let jobs = std::mem::take(&mut queue.jobs);
        drop(queue);
        drop(jobs); // their reply channels close: waiting callers get `Error::Closed`
    }
}
