//! `Waker`: wakes a reactor from any thread, coalescing: however many wakes come between two
//! turns, they cost one `write` to an eventfd (an atomic flag says whether one is under way),
//! and the reactor runs the waker's callback once. When the last handle drops, the reactor
//! is told (a close callback, if one was given) and the waker's subscriber removes itself.
//! `StopHandle` is a waker whose callback stops the reactor.

use crate::error::{Error, Result};
use crate::handler::Register;
use crate::interest::{self, Event};
use crate::key::Key;
use crate::ops::Ops;
use crate::subscriber::Subscriber;
use crate::sys::{self, AsFd, BorrowedFd, Errno, OwnedFd};
use crate::thin::SharedBox;
use crate::threads::{Admit, Threads};
use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// How many times a wake writes if its writes are interrupted (`EINTR`).
const WRITE_TRIES: usize = 8;

/// The eventfd and the flag shared by a waker's handles and its subscriber.
pub(crate) struct WakeFd {
    fd: OwnedFd,
    /// A wake was written and the reactor has not taken it yet (the remote's: or the reactor
    /// is running the jobs it announced, and looks again before it waits).
    pending: AtomicBool,
}

impl WakeFd {
    pub(crate) fn new() -> Result<WakeFd> {
        Ok(WakeFd {
            fd: sys::eventfd(0, sys::EFD_NONBLOCK)?,
            pending: AtomicBool::new(false),
        })
    }

    /// Makes the fd readable unless a wake is already under way. A write that fails never
    /// leaves the flag set with nothing written (the waker would stay mute): an interrupted
    /// write is retried (a few times: never a spin); a full counter (`EAGAIN`, someone else
    /// wrote to the fd) is readable already, so the reactor takes the wake; after any other
    /// error the flag is cleared, so this wake is lost but the next one writes again.
    pub(crate) fn wake(&self) {
        if self.pending.swap(true, Ordering::AcqRel) {
            return;
        }
        for _ in 0..WRITE_TRIES {
            match write_wake(self.fd.as_fd()) {
                Ok(_) | Err(Errno::EAGAIN) => return,
                Err(Errno::EINTR) => continue,
                Err(_) => break,
            }
        }
        self.pending.store(false, Ordering::Release);
    }

    /// [`wake`](WakeFd::wake) for news pushed under a lock that the reactor takes after
    /// [`take`](WakeFd::take) (the remote's queue): a wake under way is only read, so a burst
    /// of posts between two turns does not pass the flag's cache line back and forth. The
    /// lock orders it: if the reactor's look at the queue came before the push, its clear of
    /// the flag came before this read, which then sees the flag clear (or a later wake's, which
    /// writes). A push the reactor reads without that lock needs `wake`'s swap.
    #[cfg(feature = "std")]
    pub(crate) fn wake_after_unlock(&self) {
        if !self.pending.load(Ordering::Acquire) {
            self.wake();
        }
    }

    /// On the reactor's thread, before acting on a wake: empties the fd, then lets the next
    /// wake write again. A wake racing with this is either seen by the caller's action, which
    /// follows, or writes anew and makes the fd readable for the next turn.
    /// Returns whether a wake was under way (the fd may also have been made readable by a
    /// waker's last handle dropping).
    pub(crate) fn take(&self) -> bool {
        match sys::read(self.fd.as_fd(), &mut [0u8; 8]) {
            // EAGAIN: already empty. Any other error (none is possible for this eventfd) leaves
            // it readable: the next turn comes back here, a spurious wake at worst.
            Ok(_) | Err(_) => {}
        }
        self.pending.swap(false, Ordering::AcqRel)
    }

    /// On the reactor's thread: empties the fd and leaves the flag set, so wakes keep from
    /// writing while the reactor is busy with what they announce; [`settle`](WakeFd::settle)
    /// clears it before the reactor's last look (the remote's queue).
    #[cfg(feature = "std")]
    pub(crate) fn empty(&self) {
        // As in `take`: an error leaves the fd readable, a spurious wake at worst.
        if sys::read(self.fd.as_fd(), &mut [0u8; 8]).is_err() {}
    }

    /// Lets the next wake write: the reactor's last look at what wakes announce follows (under
    /// the lock the wakes push under, see [`wake_after_unlock`](WakeFd::wake_after_unlock)).
    #[cfg(feature = "std")]
    pub(crate) fn settle(&self) {
        self.pending.store(false, Ordering::Release);
    }

    /// Makes the fd readable whether or not a wake is under way: the last handle of a waker
    /// or channel telling the reactor it is gone (the reactor reads that after emptying the
    /// fd). A write that fails for any reason but an interruption leaves the fd as it was:
    /// the reactor then learns of it at the next wake it would have had, or never.
    pub(crate) fn force(&self) {
        for _ in 0..WRITE_TRIES {
            if write_wake(self.fd.as_fd()) != Err(Errno::EINTR) {
                break;
            }
        }
    }
}

impl AsFd for WakeFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// What a waker's handles and its subscriber share: the eventfd, how many handles there
/// are, and whether the last one has dropped.
pub(crate) struct Shared {
    wake: WakeFd,
    handles: AtomicUsize,
    closed: AtomicBool,
}

/// Wakes a reactor from any thread: `Clone + Send + Sync`, and needs no `std`.
///
/// ```
/// use barepoll::{Ops, Reactor, Waker};
///
/// let mut reactor = Reactor::new()?;
/// let waker = Waker::new(&mut reactor, |ops: &mut Ops<'_>| ops.stop())?;
/// let w = waker.clone();
/// let t = std::thread::spawn(move || {
///     for _ in 0..1000 {
///         w.wake(); // a thousand wakes, one write, one callback per turn at most
///     }
/// });
/// reactor.run()?; // returns once the callback ran
/// t.join().unwrap();
/// # Ok::<(), barepoll::Error>(())
/// ```
pub struct Waker {
    shared: SharedBox<Shared>,
    key: Key,
}

impl Waker {
    /// Registers into `target` (a reactor, or a running handler's `Ops`) a subscriber that
    /// calls `callback` on the reactor's thread once after one or more wakes, and returns the
    /// waker. Everything a waking thread wrote before `wake` is visible to the callback.
    /// When the last handle (this one and its clones) drops, the subscriber removes itself
    /// in the reactor's next turn, closing its eventfd: nothing stays registered for a waker
    /// no one can use ([`with_close`](Waker::with_close) is told of it too).
    ///
    /// # Errors
    /// The kernel's error from `eventfd2`; `ENOMEM` if memory for the waker cannot be had; or
    /// what registering gives ([`Reactor::register`](crate::Reactor::register)). Nothing is
    /// left registered or open on error.
    ///
    /// ```
    /// use barepoll::{Ops, Reactor, Waker};
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// use std::sync::Arc;
    ///
    /// let mut reactor = Reactor::new()?;
    /// let seen = Arc::new(AtomicU32::new(0));
    /// let s = seen.clone();
    /// let waker = Waker::new(&mut reactor, move |ops: &mut Ops<'_>| {
    ///     s.fetch_add(1, Ordering::Relaxed);
    ///     ops.stop();
    /// })?;
    /// waker.wake();
    /// waker.wake();
    /// reactor.run()?;
    /// assert_eq!(seen.load(Ordering::Relaxed), 1); // coalesced
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn new<R, D, T, F>(target: &mut R, callback: F) -> Result<Waker>
    where
        R: Register<D, T> + ?Sized,
        T: Threads + Admit<OnWake<F>>,
        F: FnMut(&mut Ops<'_, D, T>) + 'static,
    {
        Waker::register(target, |shared| OnWake {
            shared,
            callback,
            closed: (),
        })
    }

    /// As [`new`](Waker::new), and `closed` runs once on the reactor's thread when the last
    /// handle has dropped (after the callback, if a wake came before the drop), just before
    /// the subscriber removes itself: the reactor's side of the "no one will wake me any
    /// more" notice.
    ///
    /// # Errors
    /// As [`new`](Waker::new).
    ///
    /// ```
    /// use barepoll::{Ops, Reactor, Waker};
    ///
    /// let mut reactor = Reactor::new()?;
    /// let waker = Waker::with_close(
    ///     &mut reactor,
    ///     |_: &mut Ops<'_>| {},
    ///     |ops: &mut Ops<'_>| ops.stop(), // the last worker is gone
    /// )?;
    /// assert_eq!(reactor.len(), 1);
    /// std::thread::spawn(move || drop(waker)).join().unwrap();
    /// reactor.run()?;
    /// assert!(reactor.is_empty());
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn with_close<R, D, T, F, C>(target: &mut R, callback: F, closed: C) -> Result<Waker>
    where
        R: Register<D, T> + ?Sized,
        T: Threads + Admit<OnWake<F, Option<C>>>,
        F: FnMut(&mut Ops<'_, D, T>) + 'static,
        C: FnOnce(&mut Ops<'_, D, T>) + 'static,
    {
        Waker::register(target, |shared| OnWake {
            shared,
            callback,
            closed: Some(closed),
        })
    }

    fn register<R, D, T, S>(
        target: &mut R,
        subscriber: impl FnOnce(SharedBox<Shared>) -> S,
    ) -> Result<Waker>
    where
        R: Register<D, T> + ?Sized,
        T: Threads + Admit<S>,
        S: Subscriber<D, T>,
    {
        let shared = Shared {
            wake: WakeFd::new()?,
            handles: AtomicUsize::new(1),
            closed: AtomicBool::new(false),
        };
        let shared = SharedBox::new(shared).ok_or(Error::Os(Errno::ENOMEM))?;
        let key = target.register(subscriber(shared.clone()), interest::interest().read())?;
        Ok(Waker { shared, key })
    }

    /// Wakes the reactor: its callback runs once, on its thread, after this call. Costs an
    /// atomic swap, and a `write` only if no wake is under way already. Waking a reactor that
    /// is gone does nothing.
    ///
    /// ```
    /// # use barepoll::{Ops, Reactor, Waker};
    /// # let mut reactor = Reactor::new()?;
    /// let waker = Waker::new(&mut reactor, |_: &mut Ops<'_>| {})?;
    /// drop(reactor);
    /// waker.wake(); // harmless
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn wake(&self) {
        self.shared.wake.wake()
    }

    /// The key of the waker's subscriber in its reactor: to delete it before the last handle
    /// drops (later wakes then do nothing).
    ///
    /// ```
    /// use barepoll::{Ops, Reactor, Waker};
    /// let mut reactor = Reactor::new()?;
    /// let waker = Waker::new(&mut reactor, |_: &mut Ops<'_>| {})?;
    /// reactor.delete(waker.key())?;
    /// waker.wake(); // nothing to run
    /// assert_eq!(reactor.run_once(Some(std::time::Duration::ZERO))?, 0);
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn key(&self) -> Key {
        self.key
    }
}

impl Clone for Waker {
    fn clone(&self) -> Waker {
        // Relaxed, as for `Arc`: a new handle comes from an existing one.
        self.shared.handles.fetch_add(1, Ordering::Relaxed);
        Waker {
            shared: self.shared.clone(),
            key: self.key,
        }
    }
}

impl Drop for Waker {
    fn drop(&mut self) {
        if self.shared.handles.fetch_sub(1, Ordering::AcqRel) != 1 {
            return;
        }
        // The last handle: say so, then make the fd readable whether or not a wake is under
        // way (the subscriber reads `closed` after emptying the fd). If that write fails the
        // subscriber learns of the close at the next wake it would have had, or stays until
        // the reactor drops, the state it had before handles could tell it.
        self.shared.closed.store(true, Ordering::Release);
        self.shared.wake.force();
    }
}

impl fmt::Debug for Waker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Waker")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// Stops a reactor from any thread: `Clone + Send + Sync`, needs no `std`. A [`Waker`]
/// whose callback is [`Ops::stop`]; `run` returns after the turn that sees it.
///
/// ```
/// use barepoll::{Reactor, StopHandle};
///
/// let mut reactor = Reactor::new()?;
/// let stop = StopHandle::new(&mut reactor)?;
/// let t = std::thread::spawn(move || stop.stop());
/// reactor.run()?; // returns once the other thread asked
/// t.join().unwrap();
/// # Ok::<(), barepoll::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct StopHandle(Waker);

impl StopHandle {
    /// Registers the handle's subscriber into `target` (a reactor or a handler's `Ops`).
    ///
    /// # Errors
    /// As [`Waker::new`].
    ///
    /// ```
    /// # use barepoll::{Reactor, StopHandle};
    /// let mut reactor = Reactor::new()?;
    /// let stop = StopHandle::new(&mut reactor)?;
    /// stop.stop();
    /// reactor.run()?;
    /// assert!(reactor.stop_requested());
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn new<R, D, T>(target: &mut R) -> Result<StopHandle>
    where
        R: Register<D, T> + ?Sized,
        T: Threads + Admit<OnWake<StopCallback>>,
    {
        Waker::register(target, |shared| OnWake {
            shared,
            callback: StopCallback,
            closed: (),
        })
        .map(StopHandle)
    }

    /// Asks the reactor to stop: `run` returns after the turn that sees this (a turn already
    /// dispatching finishes first). Costs what [`Waker::wake`] costs; harmless once the
    /// reactor is gone.
    ///
    /// ```
    /// # use barepoll::{Reactor, StopHandle};
    /// let mut reactor = Reactor::new()?;
    /// let stop = StopHandle::new(&mut reactor)?;
    /// drop(reactor);
    /// stop.stop(); // nothing to stop
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn stop(&self) {
        self.0.wake()
    }

    /// The key of its subscriber (see [`Waker::key`]).
    ///
    /// ```
    /// # use barepoll::{Reactor, StopHandle};
    /// let mut reactor = Reactor::new()?;
    /// let stop = StopHandle::new(&mut reactor)?;
    /// assert!(reactor.interest(stop.key()).is_ok());
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn key(&self) -> Key {
        self.0.key()
    }
}

/// The reactor side of a [`Waker`]: a subscriber on its eventfd. `C` is `()` for a waker
/// without a close callback, `Option<C>` with one.
pub struct OnWake<F, C = ()> {
    shared: SharedBox<Shared>,
    callback: F,
    closed: C,
}

impl<F, C> AsFd for OnWake<F, C> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.shared.wake.as_fd()
    }
}

impl<F, C> OnWake<F, C> {
    /// Acts on the fd's readiness: `call` (the callback) if a wake came, then, if the last
    /// handle is gone, `closing` and the subscriber's own removal.
    fn handle_with<D, T: Threads>(
        &mut self,
        ops: &mut Ops<'_, D, T>,
        call: impl FnOnce(&mut F, &mut Ops<'_, D, T>),
        closing: impl FnOnce(&mut C, &mut Ops<'_, D, T>),
    ) {
        if self.shared.wake.take() {
            call(&mut self.callback, ops);
        }
        if self.shared.closed.load(Ordering::Acquire) {
            closing(&mut self.closed, ops);
            // Only refused to an inherited reactor, which never dispatches.
            let _ = ops.delete_self();
        }
    }
}

impl<F, D, T: Threads> Subscriber<D, T> for OnWake<F, ()>
where
    F: FnMut(&mut Ops<'_, D, T>) + 'static,
{
    fn has_init(&self) -> bool {
        false
    }

    fn handle(&mut self, _: Event, ops: &mut Ops<'_, D, T>) {
        self.handle_with(ops, |callback, ops| callback(ops), |_, _| {});
    }
}

/// The callback of a [`StopHandle`]'s waker: it stops the reactor. A type of its own rather
/// than a function, so that the waker's subscriber names nothing of the reactor's state
/// (which may borrow from the caller's stack).
///
/// ```
/// let mut reactor = barepoll::Reactor::new()?;
/// let stop = barepoll::StopHandle::new(&mut reactor)?;
/// let _: barepoll::StopCallback = barepoll::StopCallback;
/// # drop(stop);
/// # Ok::<(), barepoll::Error>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct StopCallback;

impl<D, T: Threads> Subscriber<D, T> for OnWake<StopCallback, ()> {
    fn has_init(&self) -> bool {
        false
    }

    fn handle(&mut self, _: Event, ops: &mut Ops<'_, D, T>) {
        self.handle_with(ops, |_, ops| ops.stop(), |_, _| {});
    }
}

impl<F, C, D, T: Threads> Subscriber<D, T> for OnWake<F, Option<C>>
where
    F: FnMut(&mut Ops<'_, D, T>) + 'static,
    C: FnOnce(&mut Ops<'_, D, T>) + 'static,
{
    fn has_init(&self) -> bool {
        false
    }

    fn handle(&mut self, _: Event, ops: &mut Ops<'_, D, T>) {
        self.handle_with(
            ops,
            |callback, ops| callback(ops),
            |closed, ops| {
                if let Some(closed) = closed.take() {
                    closed(ops);
                }
            },
        );
    }
}

/// Adds one to the eventfd's counter: `write(2)`, or under `cfg(test)` the failure a test
/// planted for this thread's next writes.
fn write_wake(fd: BorrowedFd<'_>) -> core::result::Result<usize, Errno> {
    #[cfg(test)]
    if let Some((planted, times)) = tests::PLANTED.with(|p| p.take()) {
        tests::PLANTED.with(|p| p.set((times > 1).then_some((planted, times - 1))));
        return Err(planted);
    }
    sys::write(fd, &1u64.to_ne_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Reactor;
    use core::time::Duration;
    use std::cell::Cell;
    use std::rc::Rc;

    std::thread_local! {
        /// The error this thread's next wake writes fail with, instead of writing, and how
        /// many of them.
        pub(super) static PLANTED: Cell<Option<(Errno, usize)>> = const { Cell::new(None) };
    }

    const NOW: Option<Duration> = Some(Duration::ZERO);

    fn counting_waker(r: &mut Reactor) -> (Waker, Rc<Cell<u32>>) {
        let runs = Rc::new(Cell::new(0));
        let c = runs.clone();
        let waker = Waker::new(r, move |_: &mut Ops<'_>| c.set(c.get() + 1)).unwrap();
        (waker, runs)
    }

    // Defect: a wake whose write failed left the flag set, so every later wake skipped its
    // write and the reactor was never woken again.
    #[test]
    fn an_interrupted_write_is_retried() {
        let mut r = Reactor::new().unwrap();
        let (waker, runs) = counting_waker(&mut r);
        PLANTED.with(|p| p.set(Some((Errno::EINTR, 1))));
        waker.wake();
        // The write (if any) is done when `wake` returns: a zero-timeout turn sees it.
        r.run_once(NOW).unwrap();
        assert_eq!(runs.get(), 1, "the interrupted wake was lost");
        waker.wake();
        r.run_once(NOW).unwrap();
        assert_eq!(runs.get(), 2, "later wakes were lost");
    }

    #[test]
    fn writes_interrupted_every_time_give_up_and_the_next_wake_writes_again() {
        let mut r = Reactor::new().unwrap();
        let (waker, runs) = counting_waker(&mut r);
        PLANTED.with(|p| p.set(Some((Errno::EINTR, usize::MAX))));
        waker.wake(); // gives up after a few tries: no spin
        PLANTED.with(|p| p.set(None));
        r.run_once(NOW).unwrap();
        assert_eq!(runs.get(), 0);
        waker.wake();
        r.run_once(NOW).unwrap();
        assert_eq!(runs.get(), 1);
    }

    #[test]
    fn after_a_failed_write_the_next_wake_writes_again() {
        let mut r = Reactor::new().unwrap();
        let (waker, runs) = counting_waker(&mut r);
        PLANTED.with(|p| p.set(Some((Errno::EIO, 1))));
        waker.wake(); // nothing written: this one is lost
        r.run_once(NOW).unwrap();
        assert_eq!(runs.get(), 0);
        waker.wake();
        r.run_once(NOW).unwrap();
        assert_eq!(
            runs.get(),
            1,
            "the waker stayed mute after one failed write"
        );
    }

    #[test]
    fn a_full_counter_still_wakes_and_later_wakes_arrive() {
        let mut r = Reactor::new().unwrap();
        let (waker, runs) = counting_waker(&mut r);
        // Fill the counter to its maximum, so the wake's write fails with EAGAIN.
        let max = 0xffff_ffff_ffff_fffe_u64;
        sys::write(waker.shared.wake.as_fd(), &max.to_ne_bytes()).unwrap();
        assert_eq!(
            sys::write(waker.shared.wake.as_fd(), &1u64.to_ne_bytes()),
            Err(sys::Errno::EAGAIN)
        );
        waker.wake();
        r.run_once(NOW).unwrap();
        assert_eq!(runs.get(), 1);
        waker.wake();
        r.run_once(NOW).unwrap();
        assert_eq!(runs.get(), 2);
    }
}
