//! Signals as a subscriber: a signalfd for a set of signals, blocked for the calling thread
//! while it lives.
//!
//! # Threads
//!
//! The signal mask is per thread. [`Signals::new`] blocks the set for the *calling* thread
//! only. Threads spawned after it inherit the mask, so they leave the signals to the
//! signalfd; threads spawned before it do not, and a process-directed signal (`kill`, Ctrl-C)
//! may be delivered to one of them instead, with the signal's default action (for
//! `SIGTERM`, ending the process). Create `Signals` in `main` before spawning threads, or
//! block the set in the earlier threads too ([`sys::sigprocmask`]).
//!
//! Dropping `Signals` on the thread that made it unblocks the signals it blocked (not those
//! that were blocked already); signals still pending are then delivered the usual way.
//! Dropped on another thread (a [`Sendable`](crate::Sendable) reactor that moved), it leaves
//! the masks as they are.

use crate::interest::Event;
use crate::ops::Ops;
use crate::subscriber::Subscriber;
use crate::sys::{self, AsFd, BorrowedFd, Errno, MaskHow, OwnedFd, SigInfo, SigSet};
use crate::threads::Threads;

/// A signalfd for a set of signals, which it blocks for the calling thread while it lives.
///
/// ```
/// use barepoll::signal::Signals;
/// use barepoll::sys::{self, SigSet, Signal};
/// use barepoll::{Ops, Reactor};
///
/// # std::thread::spawn(|| {
/// let mut reactor = Reactor::new()?;
/// let signals = Signals::new(SigSet::of(&[Signal::USR1]))?;
/// reactor.register(
///     signals.on(|sig: sys::SigInfo, ops: &mut Ops<'_>| {
///         assert_eq!(sig.signal, Signal::USR1);
///         assert_eq!(sys::Pid::from_u32(sig.pid), sys::getpid().ok());
///         ops.stop();
///     }),
///     barepoll::interest().read(),
/// )?;
/// sys::tgkill(sys::gettid(), Signal::USR1)?; // to this thread, which blocks it
/// reactor.run()?;
/// # Ok::<(), barepoll::Error>(())
/// # }).join().unwrap().unwrap();
/// ```
#[derive(Debug)]
pub struct Signals {
    fd: OwnedFd,
    set: SigSet,
    /// The signals this blocked that were not blocked before.
    blocked: SigSet,
    tid: u32,
}

impl Signals {
    /// Blocks `set` for the calling thread and opens a non-blocking signalfd for it.
    ///
    /// # Errors
    /// The kernel's error from `rt_sigprocmask` or `signalfd4` (`EMFILE`, `ENOMEM`); the mask
    /// is as it was on error. `EINVAL` for an empty set.
    ///
    /// ```
    /// use barepoll::signal::Signals;
    /// use barepoll::sys::{SigSet, Signal};
    ///
    /// # std::thread::spawn(|| {
    /// let signals = Signals::new(SigSet::of(&[Signal::TERM, Signal::INT]))?;
    /// assert!(signals.set().contains(Signal::TERM));
    /// # Ok::<(), barepoll::Error>(())
    /// # }).join().unwrap().unwrap();
    /// ```
    pub fn new(set: SigSet) -> Result<Signals, Errno> {
        if set.is_empty() {
            return Err(Errno::EINVAL);
        }
        let before = sys::sigprocmask(MaskHow::Block, set)?;
        let blocked = set.minus(before);
        match sys::signalfd(set, sys::SFD_NONBLOCK) {
            Ok(fd) => Ok(Signals {
                fd,
                set,
                blocked,
                tid: sys::gettid(),
            }),
            Err(e) => {
                let _ = sys::sigprocmask(MaskHow::Unblock, blocked);
                Err(e)
            }
        }
    }

    /// The signals it reports.
    ///
    /// ```
    /// # use barepoll::{signal::Signals, sys::{SigSet, Signal}};
    /// # std::thread::spawn(|| {
    /// let signals = Signals::new(SigSet::of(&[Signal::WINCH]))?;
    /// assert_eq!(signals.set(), SigSet::of(&[Signal::WINCH]));
    /// # Ok::<(), barepoll::sys::Errno>(())
    /// # }).join().unwrap().unwrap();
    /// ```
    pub fn set(&self) -> SigSet {
        self.set
    }

    /// The next pending signal, if one is.
    ///
    /// # Errors
    /// The kernel's error from `read` (rarely: `EBADF`, `EIO` for a short record).
    ///
    /// ```
    /// # use barepoll::{signal::Signals, sys::{SigSet, Signal}};
    /// # std::thread::spawn(|| {
    /// let mut signals = Signals::new(SigSet::of(&[Signal::USR2]))?;
    /// assert_eq!(signals.read()?, None);
    /// # Ok::<(), barepoll::sys::Errno>(())
    /// # }).join().unwrap().unwrap();
    /// ```
    pub fn read(&mut self) -> Result<Option<SigInfo>, Errno> {
        sys::read_siginfo(self.fd.as_fd())
    }

    /// A subscriber that calls `handler` once for every signal that arrives (register it for
    /// read interest).
    ///
    /// ```
    /// # use barepoll::{signal::Signals, sys::{SigInfo, SigSet, Signal}, Ops};
    /// # std::thread::spawn(|| {
    /// let sub = Signals::new(SigSet::of(&[Signal::HUP]))?
    ///     .on(|sig: SigInfo, _: &mut Ops<'_>| println!("got {:?}", sig.signal));
    /// # drop(sub);
    /// # Ok::<(), barepoll::Error>(())
    /// # }).join().unwrap().unwrap();
    /// ```
    pub fn on<F>(self, handler: F) -> OnSignal<F> {
        OnSignal {
            signals: self,
            handler,
        }
    }
}

impl AsFd for Signals {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Drop for Signals {
    fn drop(&mut self) {
        if sys::gettid() == self.tid && !self.blocked.is_empty() {
            let _ = sys::sigprocmask(MaskHow::Unblock, self.blocked);
        }
    }
}

/// [`Signals`] with a handler: see [`Signals::on`].
#[derive(Debug)]
pub struct OnSignal<F> {
    signals: Signals,
    handler: F,
}

impl<F> AsFd for OnSignal<F> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.signals.as_fd()
    }
}

impl<F, D: 'static, T: Threads> Subscriber<D, T> for OnSignal<F>
where
    F: FnMut(SigInfo, &mut Ops<'_, D, T>) + 'static,
{
    fn handle(&mut self, _: Event, ops: &mut Ops<'_, D, T>) {
        while let Ok(Some(info)) = self.signals.read() {
            (self.handler)(info, ops);
        }
    }
}
