//! `Waker`: wakes a reactor from any thread, coalescing: however many wakes come between two
//! turns, they cost one `write` to an eventfd (an atomic flag says whether one is under way),
//! and the reactor runs the waker's callback once.

use crate::error::{Error, Result};
use crate::handler::Register;
use crate::interest::{self, Event};
use crate::ops::Ops;
use crate::subscriber::Subscriber;
use crate::sys::{self, AsFd, BorrowedFd, Errno, OwnedFd};
use crate::thin::SharedBox;
use crate::threads::{Admit, Threads};
use core::fmt;
use core::sync::atomic::{AtomicBool, Ordering};

/// How many times a wake writes if its writes are interrupted (`EINTR`).
const WRITE_TRIES: usize = 8;

/// The eventfd and the flag shared by a waker's handles and its subscriber.
pub(crate) struct WakeFd {
    fd: OwnedFd,
    /// A wake was written and the reactor has not taken it yet.
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

    /// On the reactor's thread, before acting on a wake: empties the fd, then lets the next
    /// wake write again. A wake racing with this is either seen by the caller's action, which
    /// follows, or writes anew and makes the fd readable for the next turn.
    pub(crate) fn take(&self) {
        match sys::read(self.fd.as_fd(), &mut [0u8; 8]) {
            // EAGAIN: already empty. Any other error (none is possible for this eventfd) leaves
            // it readable: the next turn comes back here, a spurious wake at worst.
            Ok(_) | Err(_) => {}
        }
        self.pending.swap(false, Ordering::AcqRel);
    }
}

impl AsFd for WakeFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
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
#[derive(Clone)]
pub struct Waker {
    shared: SharedBox<WakeFd>,
}

impl Waker {
    /// Registers into `target` (a reactor, or a running handler's `Ops`) a subscriber that
    /// calls `callback` on the reactor's thread once after one or more wakes, and returns the
    /// waker. Everything a waking thread wrote before `wake` is visible to the callback.
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
        D: 'static,
        T: Threads + Admit<OnWake<F>>,
        F: FnMut(&mut Ops<'_, D, T>) + 'static,
    {
        let shared = SharedBox::new(WakeFd::new()?).ok_or(Error::Os(Errno::ENOMEM))?;
        let sub = OnWake {
            shared: shared.clone(),
            callback,
        };
        target.register(sub, interest::interest().read())?;
        Ok(Waker { shared })
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
        self.shared.wake()
    }
}

impl fmt::Debug for Waker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Waker").finish_non_exhaustive()
    }
}

/// The reactor side of a [`Waker`]: a subscriber on its eventfd.
pub struct OnWake<F> {
    shared: SharedBox<WakeFd>,
    callback: F,
}

impl<F> AsFd for OnWake<F> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.shared.as_fd()
    }
}

impl<F, D: 'static, T: Threads> Subscriber<D, T> for OnWake<F>
where
    F: FnMut(&mut Ops<'_, D, T>) + 'static,
{
    fn handle(&mut self, _: Event, ops: &mut Ops<'_, D, T>) {
        self.shared.take();
        (self.callback)(ops);
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
        sys::write(waker.shared.as_fd(), &max.to_ne_bytes()).unwrap();
        assert_eq!(
            sys::write(waker.shared.as_fd(), &1u64.to_ne_bytes()),
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
