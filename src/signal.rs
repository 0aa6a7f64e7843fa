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
//! A signal that `Signals` blocked is unblocked again when the *last* `Signals` of that thread
//! that relies on the block is dropped: two `Signals` made on one thread for one signal both
//! receive it until both are gone. Signals that were blocked before (by the program itself)
//! stay blocked. Once unblocked, signals still pending are delivered the usual way. A
//! `Signals` dropped on another thread (a [`Sendable`](crate::Sendable) reactor that moved)
//! leaves every mask as it is, since a thread can change only its own.
//!
//! The counts live in a small fixed table of atomics (no allocation, no lock; the crate needs
//! no `std`), keyed by thread id: one entry per thread and signal that a live `Signals`
//! blocked, 256 entries in all (beyond that, [`Signals::new`] fails with `ENOMEM`). A thread
//! that ends while a `Signals` it made lives on elsewhere leaves its entry until that
//! `Signals` drops; a new thread given the same id meanwhile shares the entry's count.

use crate::interest::Event;
use crate::ops::Ops;
use crate::subscriber::Subscriber;
use crate::sys::{self, AsFd, BorrowedFd, Errno, MaskHow, OwnedFd, SigInfo, SigSet, Signal};
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
    /// The signals of `set` this holds a count for on thread `tid`: those that were not
    /// blocked before some `Signals` of that thread blocked them.
    counted: SigSet,
    tid: u32,
}

impl Signals {
    /// Blocks `set` for the calling thread and opens a non-blocking signalfd for it.
    ///
    /// # Errors
    /// The kernel's error from `rt_sigprocmask` or `signalfd4` (`EMFILE`, `ENOMEM`); `ENOMEM`
    /// too if the table of blocks (see [Threads](self#threads)) is full, `EAGAIN` if one signal
    /// already has 2^24 - 1 `Signals` on this thread; the mask is as it was on error. `EINVAL`
    /// for an empty set.
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
        let tid = sys::gettid();
        let (counted, before) = hold(tid, set)?;
        match sys::signalfd(set, sys::SFD_NONBLOCK) {
            Ok(fd) => Ok(Signals {
                fd,
                set,
                counted,
                tid,
            }),
            Err(e) => {
                undo(tid, counted, before);
                Err(e)
            }
        }
    }

    /// Makes `set` the signals it reports and blocks, in place: what is new is blocked (as
    /// [`new`](Signals::new) does), what is gone is left (unblocked when no other `Signals`
    /// of this thread relies on the block, as a drop does). The descriptor and its
    /// registration stay: a subscriber changes its own set from its handler. A signal that
    /// leaves the set while one is pending is then delivered the usual way, with its action.
    ///
    /// # Errors
    /// `EINVAL` for an empty set; `EPERM` on a thread other than the one that made it (the
    /// mask it manages is that thread's); otherwise as [`new`](Signals::new). On error
    /// nothing has changed.
    ///
    /// ```
    /// use barepoll::signal::Signals;
    /// use barepoll::sys::{self, SigSet, Signal};
    /// # std::thread::spawn(|| {
    /// let mut signals = Signals::new(SigSet::of(&[Signal::USR1]))?;
    /// signals.change(SigSet::of(&[Signal::USR2]))?;
    /// sys::tgkill(sys::gettid(), Signal::USR2)?;
    /// assert_eq!(signals.read()?.map(|info| info.signal), Some(Signal::USR2));
    /// # Ok::<(), barepoll::sys::Errno>(())
    /// # }).join().unwrap().unwrap();
    /// ```
    pub fn change(&mut self, set: SigSet) -> Result<(), Errno> {
        if set.is_empty() {
            return Err(Errno::EINVAL);
        }
        if sys::gettid() != self.tid {
            return Err(Errno::EPERM);
        }
        let (added, before) = hold(self.tid, set.minus(self.set))?;
        if let Err(e) = sys::signalfd_set(self.fd.as_fd(), set) {
            undo(self.tid, added, before);
            return Err(e);
        }
        let gone = self.counted.minus(set);
        self.counted = self.counted.minus(gone).union(added);
        self.set = set;
        release(self.tid, gone);
        Ok(())
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
        release(self.tid, self.counted);
    }
}

/// Blocks `set` for thread `tid` (the caller) and takes a count for each of its signals that
/// no one had blocked before, or that a `Signals` of this thread blocked; returns those it
/// counted and the mask before. On error the mask and the counts are as they were.
fn hold(tid: u32, set: SigSet) -> Result<(SigSet, SigSet), Errno> {
    // Blocking nothing (a change that only removes) still reads the mask to restore.
    let before = sys::sigprocmask(MaskHow::Block, set)?;
    let mut counted = SigSet::empty();
    for signal in members(set) {
        let held = match blocks::add(tid, signal) {
            Ok(true) => Ok(()),
            // Blocked before, not by a `Signals` of this thread: the program's own.
            Ok(false) if before.contains(signal) => continue,
            Ok(false) => blocks::start(tid, signal),
            Err(e) => Err(e),
        };
        if let Err(e) = held {
            undo(tid, counted, before);
            return Err(e);
        }
        counted = counted.with(signal);
    }
    Ok((counted, before))
}

/// Gives back the counts of `counted` on thread `tid`, and unblocks the signals whose count
/// was the last, if the caller is that thread (a thread can change only its own mask).
fn release(tid: u32, counted: SigSet) {
    let mut last = SigSet::empty();
    for signal in members(counted) {
        if blocks::release(tid, signal) {
            last = last.with(signal);
        }
    }
    if !last.is_empty() && sys::gettid() == tid {
        // Unblocking a valid set can fail only with EINVAL/EFAULT, neither possible here;
        // were it to, the signals would stay blocked (held, never lost), and no caller has
        // anyone to report to.
        if sys::sigprocmask(MaskHow::Unblock, last).is_err() {
            debug_assert!(false, "unblocking a valid signal set failed");
        }
    }
}

/// The signals of `set`.
fn members(set: SigSet) -> impl Iterator<Item = Signal> {
    (1..=64)
        .filter_map(Signal::from_raw)
        .filter(move |signal| set.contains(*signal))
}

/// A failed [`Signals::new`]: gives back the counts it took and puts the mask back as it was.
fn undo(tid: u32, counted: SigSet, before: SigSet) {
    for signal in members(counted) {
        blocks::release(tid, signal);
    }
    // Restoring a mask read moments ago cannot fail (EINVAL/EFAULT only); the caller returns
    // the error that made it undo, which is what it must report.
    if sys::sigprocmask(MaskHow::SetMask, before).is_err() {
        debug_assert!(false, "restoring the signal mask failed");
    }
}

/// How many live `Signals` rely on each block that `Signals` put in place, per thread and
/// signal: a fixed table of atomic words, each `tid << 32 | signal << 24 | count` (0: free).
///
/// Only the thread `tid` starts or adds to the count of its own entries (in `Signals::new`),
/// so an entry is never made twice; any thread may take from one (a `Signals` dropped where it
/// moved to). Every change is one compare-and-swap of the whole word, so an entry freed by
/// another thread between a scan and its swap makes the swap fail, and the scan start again.
mod blocks {
    use super::{Errno, Signal};
    use core::sync::atomic::{AtomicU64, Ordering};

    const ENTRIES: usize = 256;
    const COUNT: u64 = (1 << 24) - 1;
    #[allow(clippy::declare_interior_mutable_const)] // the table's initialiser, nothing else
    const FREE: AtomicU64 = AtomicU64::new(0);
    static TABLE: [AtomicU64; ENTRIES] = [FREE; ENTRIES];

    fn key(tid: u32, signal: Signal) -> u64 {
        u64::from(tid) << 32 | u64::from(signal.raw()) << 24
    }

    /// Replaces the word of the entry of `(tid, signal)` with what `change` makes of it, and
    /// returns `change`'s result (its error leaves the entry as it was); `None` if there is no
    /// such entry.
    fn update<R>(
        tid: u32,
        signal: Signal,
        change: impl Fn(u64) -> core::result::Result<(u64, R), Errno>,
    ) -> Option<core::result::Result<R, Errno>> {
        let key = key(tid, signal);
        'scan: loop {
            for entry in &TABLE {
                let word = entry.load(Ordering::Acquire);
                if word == 0 || word & !COUNT != key {
                    continue;
                }
                let (new, result) = match change(word) {
                    Ok(changed) => changed,
                    Err(e) => return Some(Err(e)),
                };
                match entry.compare_exchange(word, new, Ordering::AcqRel, Ordering::Acquire) {
                    Ok(_) => return Some(Ok(result)),
                    Err(_) => continue 'scan,
                }
            }
            return None;
        }
    }

    /// Adds one to the count of `(tid, signal)`; whether it had one. `EAGAIN` if the count is
    /// at its maximum (2^24 - 1 `Signals` for one signal on one thread).
    pub(super) fn add(tid: u32, signal: Signal) -> core::result::Result<bool, Errno> {
        let added = update(tid, signal, |word| {
            if word & COUNT == COUNT {
                return Err(Errno::EAGAIN);
            }
            Ok((word + 1, ()))
        });
        match added {
            Some(Ok(())) => Ok(true),
            Some(Err(e)) => Err(e),
            None => Ok(false),
        }
    }

    /// Starts the count of `(tid, signal)` at one. `ENOMEM` if the table is full.
    pub(super) fn start(tid: u32, signal: Signal) -> core::result::Result<(), Errno> {
        let word = key(tid, signal) | 1;
        let free = |entry: &AtomicU64| {
            entry
                .compare_exchange(0, word, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        };
        if TABLE.iter().any(free) {
            Ok(())
        } else {
            Err(Errno::ENOMEM)
        }
    }

    /// How many entries are taken.
    #[cfg(test)]
    pub(super) fn in_use() -> usize {
        TABLE
            .iter()
            .filter(|entry| entry.load(Ordering::Acquire) != 0)
            .count()
    }

    /// Takes one from the count of `(tid, signal)`; whether that was the last.
    pub(super) fn release(tid: u32, signal: Signal) -> bool {
        let released = update(tid, signal, |word| {
            let last = word & COUNT == 1;
            Ok((if last { 0 } else { word - 1 }, last))
        });
        matches!(released, Some(Ok(true)))
    }
}

/// [`Signals`] with a handler: see [`Signals::on`].
#[derive(Debug)]
pub struct OnSignal<F> {
    signals: Signals,
    handler: F,
}

impl<F> OnSignal<F> {
    /// Its `Signals`: to [`change`](Signals::change) the set (a handler that must change
    /// its own set registers `Signals` with [`with_fd`](crate::Interest::with_fd) instead,
    /// and gets it as its `&mut` fd).
    ///
    /// ```
    /// use barepoll::signal::Signals;
    /// use barepoll::sys::{SigInfo, SigSet, Signal};
    /// use barepoll::Ops;
    /// # std::thread::spawn(|| {
    /// let mut sub = Signals::new(SigSet::of(&[Signal::HUP]))?.on(|_: SigInfo, _: &mut Ops<'_>| {});
    /// sub.signals_mut().change(SigSet::of(&[Signal::HUP, Signal::USR1]))?;
    /// assert!(sub.signals_mut().set().contains(Signal::USR1));
    /// # Ok::<(), barepoll::sys::Errno>(())
    /// # }).join().unwrap().unwrap();
    /// ```
    pub fn signals_mut(&mut self) -> &mut Signals {
        &mut self.signals
    }
}

impl<F> AsFd for OnSignal<F> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.signals.as_fd()
    }
}

impl<F, D, T: Threads> Subscriber<D, T> for OnSignal<F>
where
    F: FnMut(SigInfo, &mut Ops<'_, D, T>) + 'static,
{
    fn has_init(&self) -> bool {
        false
    }

    fn handle(&mut self, _: Event, ops: &mut Ops<'_, D, T>) {
        while let Ok(Some(info)) = self.signals.read() {
            (self.handler)(info, ops);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::vec::Vec;

    fn blocked_now() -> SigSet {
        sys::sigprocmask(MaskHow::Block, SigSet::empty()).unwrap()
    }

    type Holder = (mpsc::Sender<()>, std::thread::JoinHandle<()>);

    /// Makes `Signals` for `set` on a thread of its own, which keeps it until told to drop it
    /// (through the sender returned); the error if it could not.
    fn hold(set: SigSet) -> core::result::Result<Holder, Errno> {
        let (made_tx, made_rx) = mpsc::channel();
        let (drop_tx, drop_rx) = mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let before = blocked_now();
            match Signals::new(set) {
                Ok(signals) => {
                    made_tx.send(Ok(())).unwrap();
                    let _ = drop_rx.recv();
                    drop(signals);
                }
                Err(e) => {
                    assert_eq!(blocked_now(), before, "a refused `new` changed the mask");
                    made_tx.send(Err(e)).unwrap();
                }
            }
        });
        made_rx.recv().unwrap().map(|()| (drop_tx, thread))
    }

    #[test]
    #[cfg_attr(miri, ignore = "Miri has no signals")]
    fn a_full_table_refuses_with_enomem_and_gives_back_what_it_took() {
        // Real-time signals nothing here sends (the C library's own are below 34).
        let set = (40..=63)
            .filter_map(Signal::from_raw)
            .fold(SigSet::empty(), SigSet::with);
        let taken = blocks::in_use();
        let mut holders = Vec::new();
        let refused = loop {
            match hold(set) {
                Ok(holder) => holders.push(holder),
                Err(e) => break e,
            }
            assert!(holders.len() <= 256, "the table never filled");
        };
        assert_eq!(refused, Errno::ENOMEM);
        // 24 signals each: the table (256) holds 10 of them, and the eleventh is refused at
        // its 17th signal, having given back the 16 entries it took.
        assert_eq!((taken, holders.len()), (0, 10));
        assert_eq!(blocks::in_use(), 240);
        for (drop_it, thread) in holders {
            drop_it.send(()).unwrap();
            thread.join().unwrap();
        }
        assert_eq!(blocks::in_use(), 0, "entries left behind");
    }
}
