//! Timer futures for tasks: [`Sleep`] and [`Timeout`], on a timing wheel of the executor's
//! (`timer::Sleeps`: O(1) arm, reset and cancel, no syscall). A sleep is armed at its first
//! poll, fired by the turn whose clock reading reaches its deadline (never early), and its
//! entry given back when it is dropped. Once its reactor is gone, a sleep ends with
//! `Error::Closed` (a task of another reactor awaiting it is woken to see it). It may not read
//! the clock but through `sys` (the vDSO where there is one), nor reach the reactor's own
//! timers.

use super::Spawner;
use crate::error::Result;
use crate::thin::{Executor, Pinned};
use crate::timer::{nanos, Instant};
use alloc::rc::Rc;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use core::time::Duration;

/// Fires the sleeps due now (one clock reading, if any is armed) and wakes their tasks.
///
/// # Errors
/// The clock's: then nothing fires.
pub(crate) fn fire_sleeps(executor: &Rc<RefCell<Executor>>) -> Result<()> {
    let mut woken = Vec::new();
    {
        let mut executor = executor.borrow_mut();
        if !executor.sleeps.armed() {
            return Ok(());
        }
        let now = crate::sys::monotonic_ns()?;
        executor.sleeps.fire(now, &mut woken);
    }
    // No borrow held: a waker may be anyone's.
    for waker in woken {
        waker.wake();
    }
    Ok(())
}

/// When a sleep ends.
#[derive(Clone, Copy, Debug)]
enum Deadline {
    /// This long after its first poll.
    After(u64),
    At(u64),
}

/// A future that is ready once its deadline has come: [`Spawner::sleep`],
/// [`Spawner::sleep_until`]. Dropping it cancels it.
///
/// ```
/// use barepoll::{Instant, Reactor};
/// use std::time::Duration;
///
/// let mut reactor = Reactor::new()?;
/// let spawner = reactor.spawner()?;
/// let start = Instant::now();
/// let slept = reactor.spawn(async move { spawner.sleep(Duration::from_millis(5)).await })?;
/// reactor.block_on(slept)?.unwrap();
/// assert!(start.elapsed() >= Duration::from_millis(5)); // never early
/// # Ok::<(), barepoll::Error>(())
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct Sleep {
    executor: Rc<RefCell<Executor>>,
    deadline: Deadline,
    /// Its entry in the executor's wheel, from its first poll on.
    entry: Option<u32>,
}

impl Sleep {
    /// Gives the sleep a new deadline, whether it has ended or not: O(1), no syscall. A later
    /// deadline for a sleep still armed is only written down (the sleep stays where it sits
    /// on the wheel until then): pushing an idle timeout back at every event is cheap.
    ///
    /// ```
    /// use barepoll::{Instant, Reactor};
    /// use std::time::Duration;
    ///
    /// let mut reactor = Reactor::new()?;
    /// let spawner = reactor.spawner()?;
    /// let start = Instant::now();
    /// let slept = reactor.spawn(async move {
    ///     let mut sleep = spawner.sleep(Duration::from_secs(60));
    ///     sleep.reset(Instant::now() + Duration::from_millis(2)); // sooner
    ///     sleep.await
    /// })?;
    /// reactor.block_on(slept)?.unwrap();
    /// assert!(start.elapsed() >= Duration::from_millis(2));
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn reset(&mut self, deadline: Instant) {
        let this = self;
        this.deadline = Deadline::At(deadline.as_nanos());
        if let Some(entry) = this.entry {
            let mut executor = this.executor.borrow_mut();
            if executor.sleeps.postpone(entry, deadline.as_nanos()) {
                return; // later, still armed: no clock reading, no wheel work
            }
            match crate::sys::monotonic_ns() {
                Ok(now) => executor.sleeps.reset(entry, deadline.as_nanos(), now),
                // No reading, no time 0 either: the entry goes, and the next poll arms
                // afresh (and reports the clock's error if it still cannot be read).
                Err(_) => {
                    let waker = executor.sleeps.cancel(entry);
                    this.entry = None;
                    drop(executor);
                    drop(waker);
                }
            }
        }
    }

    /// The deadline, once known (at the first poll for a [`Spawner::sleep`]).
    ///
    /// ```
    /// use barepoll::{Instant, Reactor};
    /// let mut reactor = Reactor::new()?;
    /// let at = Instant::now();
    /// assert_eq!(reactor.spawner()?.sleep_until(at).deadline(), Some(at));
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn deadline(&self) -> Option<Instant> {
        match self.deadline {
            Deadline::At(at) => Some(Instant::from_nanos(at)),
            Deadline::After(_) => None,
        }
    }

    /// `future`, bounded by this sleep's deadline: `Ok(output)` if the future ends first,
    /// `Err(Elapsed)` once the deadline has come (the future is then dropped). The sleep is
    /// only borrowed: it stays armed for the next future, and [`reset`](Self::reset) to a later
    /// deadline only writes it down. One sleep per connection, pushed later at each message,
    /// is the cheap idle timeout: no wheel work and no allocation per read, where a
    /// [`Spawner::timeout`] per read arms and cancels a sleep each time.
    ///
    /// ```
    /// use barepoll::{task::Elapsed, Instant, Reactor};
    /// use std::time::Duration;
    ///
    /// let mut reactor = Reactor::new()?;
    /// let spawner = reactor.spawner()?;
    /// let s = spawner.clone();
    /// let idle = Duration::from_millis(20);
    /// let served = reactor.spawn(async move {
    ///     let mut deadline = spawner.sleep(idle);
    ///     let mut served = 0;
    ///     loop {
    ///         // Three quick "messages", then silence.
    ///         let message = s.sleep(Duration::from_millis(if served < 3 { 1 } else { 60_000 }));
    ///         match deadline.within(message).await {
    ///             Ok(_) => served += 1,
    ///             Err(Elapsed) => return served, // idle for `idle`
    ///         }
    ///         deadline.reset(Instant::now() + idle); // later: only written down
    ///     }
    /// })?;
    /// assert_eq!(reactor.block_on(served)?, Ok(3));
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn within<F: Future>(&mut self, future: F) -> Within<'_, F> {
        Pinned::new(future, self)
    }
}

impl Future for Sleep {
    type Output = Result<()>;

    /// # Errors
    /// `ENOMEM` if the entry cannot be had; the clock's error if it cannot be read;
    /// [`Error::Closed`](crate::Error::Closed) once its reactor is gone (no turn would fire it).
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let this = self.get_mut();
        let mut executor = this.executor.borrow_mut();
        if executor.closed {
            return Poll::Ready(Err(crate::Error::Closed));
        }
        if let Some(entry) = this.entry {
            return match executor.sleeps.poll(entry, cx.waker()) {
                true => Poll::Ready(Ok(())),
                false => Poll::Pending,
            };
        }
        let now = crate::sys::monotonic_ns()?;
        let deadline = match this.deadline {
            Deadline::After(d) => now.saturating_add(d),
            Deadline::At(at) => at,
        };
        this.deadline = Deadline::At(deadline);
        if deadline <= now {
            return Poll::Ready(Ok(()));
        }
        this.entry = Some(executor.sleeps.arm(deadline, now, cx.waker())?);
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(entry) = self.entry {
            let waker = self.executor.borrow_mut().sleeps.cancel(entry);
            drop(waker); // with no borrow held
        }
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

/// The error of a [`Timeout`] whose time ran out first.
///
/// ```
/// assert_eq!(barepoll::task::Elapsed.to_string(), "the deadline came first");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Elapsed;

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the deadline came first")
    }
}

/// A future with a deadline: [`Spawner::timeout`]. Gives `Ok(output)` if the future ends
/// first, `Err(Elapsed)` if the deadline comes first (the future is then dropped with it). The
/// future is held in place, not boxed: a timeout allocates nothing.
///
/// ```
/// use barepoll::{task::Elapsed, Reactor};
/// use std::time::Duration;
///
/// let mut reactor = Reactor::new()?;
/// let spawner = reactor.spawner()?;
/// let s = spawner.clone();
/// let late = reactor.spawn(async move {
///     spawner.timeout(Duration::from_millis(1), s.sleep(Duration::from_secs(60))).await
/// })?;
/// assert_eq!(reactor.block_on(late)?, Ok(Err(Elapsed)));
/// # Ok::<(), barepoll::Error>(())
/// ```
///
/// Its future stays pinned: a timeout of a future that is not `Unpin` is not `Unpin` either, so
/// safe code cannot move it once it was polled.
///
/// ```compile_fail,E0277
/// use std::time::Duration;
///
/// fn unpin<T: Unpin>(_: &T) {}
/// let mut reactor = barepoll::Reactor::new().unwrap();
/// let spawner = reactor.spawner().unwrap();
/// let pinned = std::marker::PhantomPinned;
/// let timed = spawner.timeout(Duration::from_secs(1), async move {
///     let _kept = &pinned;
/// });
/// unpin(&timed);
/// ```
pub type Timeout<F> = Pinned<F, Sleep>;

impl<F: Future> Future for Pinned<F, Sleep> {
    type Output = core::result::Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let (future, sleep) = self.project();
        poll_within(future, sleep, cx)
    }
}

/// A future bounded by a sleep it borrows: [`Sleep::within`]. Like [`Timeout`], but the sleep
/// outlives it, armed, for the next future.
pub type Within<'a, F> = Pinned<F, &'a mut Sleep>;

impl<F: Future> Future for Pinned<F, &mut Sleep> {
    type Output = core::result::Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let (future, sleep) = self.project();
        poll_within(future, sleep, cx)
    }
}

/// The future first (a ready future wins over a deadline that came meanwhile), then its sleep.
fn poll_within<F: Future>(
    future: Pin<&mut F>,
    sleep: &mut Sleep,
    cx: &mut Context<'_>,
) -> Poll<core::result::Result<F::Output, Elapsed>> {
    if let Poll::Ready(output) = future.poll(cx) {
        return Poll::Ready(Ok(output));
    }
    match Pin::new(sleep).poll(cx) {
        // A sleep that cannot be armed never ends the future early.
        Poll::Ready(Ok(())) => Poll::Ready(Err(Elapsed)),
        _ => Poll::Pending,
    }
}

impl<F> fmt::Debug for Timeout<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timeout")
            .field("sleep", self.companion())
            .finish_non_exhaustive()
    }
}

impl<F> fmt::Debug for Within<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Within")
            .field("sleep", self.companion())
            .finish_non_exhaustive()
    }
}

impl Spawner {
    /// A future ready `duration` after its first poll (never earlier).
    ///
    /// ```
    /// use std::time::Duration;
    /// let mut reactor = barepoll::Reactor::new()?;
    /// let spawner = reactor.spawner()?;
    /// let slept = reactor.spawn(async move { spawner.sleep(Duration::from_millis(1)).await })?;
    /// assert_eq!(reactor.block_on(slept)?, Ok(Ok(())));
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn sleep(&self, duration: Duration) -> Sleep {
        self.sleep_with(Deadline::After(nanos(duration)))
    }

    /// A future ready once `deadline` has come.
    ///
    /// ```
    /// use barepoll::Instant;
    /// use std::time::Duration;
    /// let mut reactor = barepoll::Reactor::new()?;
    /// let spawner = reactor.spawner()?;
    /// let at = Instant::now() + Duration::from_millis(1);
    /// let slept = reactor.spawn(async move { spawner.sleep_until(at).await })?;
    /// reactor.block_on(slept)?.unwrap();
    /// assert!(Instant::now() >= at);
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn sleep_until(&self, deadline: Instant) -> Sleep {
        self.sleep_with(Deadline::At(deadline.as_nanos()))
    }

    fn sleep_with(&self, deadline: Deadline) -> Sleep {
        Sleep {
            executor: self.executor.clone(),
            deadline,
            entry: None,
        }
    }

    /// `future`, given `duration` from its first poll to end: see [`Timeout`].
    ///
    /// ```
    /// use std::time::Duration;
    /// let mut reactor = barepoll::Reactor::new()?;
    /// let spawner = reactor.spawner()?;
    /// let quick = reactor.spawn(async move {
    ///     spawner.timeout(Duration::from_secs(60), async { 7 }).await
    /// })?;
    /// assert_eq!(reactor.block_on(quick)?, Ok(Ok(7)));
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn timeout<F: Future>(&self, duration: Duration, future: F) -> Timeout<F> {
        Pinned::new(future, self.sleep(duration))
    }
}
