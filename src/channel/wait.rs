//! Waiting for room (`std`): [`Sender::send`] and [`Sender::send_timeout`] block on a condvar
//! that the receiver signals after taking values, or when it drops. The receiver takes the
//! lock only when a sender says it waits, so a channel no one waits on costs two fences a batch.
//!
//! It may not touch the ring's memory nor the reactor: it only waits, and refuses to wait on
//! the thread that is handing the channel's values to its callback (that thread would never
//! make room).

use super::{Sender, TrySendError};
use crate::error::Error;
use crate::sys::Errno;
use core::fmt;
use core::sync::atomic::{fence, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

std::thread_local! {
    /// One byte per thread, whose address names the thread while it lives.
    static THREAD_MARK: u8 = const { 0 };
}

/// A number for the calling thread, unique among the threads alive (never 0), with no syscall
/// and no allocation.
fn this_thread() -> usize {
    THREAD_MARK.with(|mark| mark as *const u8 as usize)
}

/// Senders waiting for room, and the thread draining the channel now.
pub(super) struct Room {
    lock: Mutex<()>,
    changed: Condvar,
    /// How many senders are between saying they wait and leaving (read without the lock).
    waiting: AtomicUsize,
    /// The thread running the subscriber's callback now ([`this_thread`]), or 0.
    draining_on: AtomicUsize,
}

impl Room {
    pub(super) fn new() -> Room {
        Room {
            lock: Mutex::new(()),
            changed: Condvar::new(),
            waiting: AtomicUsize::new(0),
            draining_on: AtomicUsize::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, ()> {
        // Nothing runs under the lock that could panic.
        self.lock.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// After values were taken and a SeqCst fence: wakes the senders waiting, if any.
    pub(super) fn freed(&self) {
        if self.waiting.load(Ordering::Relaxed) != 0 {
            let _held = self.lock();
            self.changed.notify_all();
        }
    }

    /// The receiver is gone (its flag is set): wakes every sender waiting, to give up.
    pub(super) fn closed(&self) {
        let _held = self.lock();
        self.changed.notify_all();
    }

    /// Marks this thread as draining until the guard drops.
    pub(super) fn draining(&self) -> Draining<'_> {
        let before = self.draining_on.swap(this_thread(), Ordering::AcqRel);
        Draining { room: self, before }
    }
}

/// This thread hands the channel's values to its callback while it lives.
pub(super) struct Draining<'a> {
    room: &'a Room,
    before: usize,
}

impl Drop for Draining<'_> {
    fn drop(&mut self) {
        self.room.draining_on.store(self.before, Ordering::Release);
    }
}

#[cfg_attr(docsrs, doc(cfg(feature = "std")))]
impl<T> Sender<T> {
    /// Sends `value`, waiting for room while the channel is full, and wakes the reactor.
    ///
    /// A thread that runs the reactor must not wait for it: from the channel's own callback
    /// this is refused ([`SendError::WouldDeadlock`]); from any other handler of the same
    /// reactor it cannot be told and would wait for ever if the channel is full. Use
    /// [`try_send`](Sender::try_send) there.
    ///
    /// # Errors
    /// [`SendError::Closed`] if the receiver is gone or goes while this waits;
    /// [`SendError::WouldDeadlock`] if the channel is full and this is its callback's thread.
    /// Both give `value` back.
    ///
    /// ```
    /// use barepoll::{channel, Ops, Reactor};
    ///
    /// let mut reactor = Reactor::new()?;
    /// let (tx, rx) = channel::bounded::<u32>(2)?;
    /// rx.on_message(|n: u32, ops: &mut Ops<'_>| if n == 9 { ops.stop() })
    ///     .register_into(&mut reactor)?;
    /// let t = std::thread::spawn(move || (0..10).try_for_each(|n| tx.send(n)));
    /// reactor.run()?;
    /// assert!(t.join().unwrap().is_ok());
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        self.send_until(value, None)
    }

    /// As [`send`](Sender::send), waiting at most `timeout` for room.
    ///
    /// # Errors
    /// As [`send`](Sender::send), and [`SendError::Timeout`] if no room came in time.
    ///
    /// ```
    /// use barepoll::channel::{self, SendError};
    /// use std::time::Duration;
    ///
    /// let (tx, _rx) = channel::bounded(2)?;
    /// tx.send(1)?;
    /// tx.send(2)?;
    /// let e = tx.send_timeout(3, Duration::from_millis(1)).unwrap_err();
    /// assert_eq!(e, SendError::Timeout(3));
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn send_timeout(&self, value: T, timeout: Duration) -> Result<(), SendError<T>> {
        self.send_until(value, Instant::now().checked_add(timeout))
    }

    fn send_until(&self, value: T, deadline: Option<Instant>) -> Result<(), SendError<T>> {
        let mut value = match self.try_send(value) {
            Ok(()) => return Ok(()),
            Err(TrySendError::Closed(value)) => return Err(SendError::Closed(value)),
            Err(TrySendError::Full(value)) => value,
        };
        let shared = &*self.shared;
        let room = &shared.room;
        if room.draining_on.load(Ordering::Acquire) == this_thread() {
            return Err(SendError::WouldDeadlock(value));
        }
        let mut held = room.lock();
        room.waiting.fetch_add(1, Ordering::Relaxed);
        let sent = loop {
            // SeqCst, paired with the receiver's after it takes values: either the push below
            // sees the slots it freed, or the receiver sees `waiting` and signals (under the
            // lock, which this holds until it waits).
            fence(Ordering::SeqCst);
            if shared.is_closed() {
                break Err(SendError::Closed(value));
            }
            match shared.ring.push(value) {
                Ok(()) => break Ok(()),
                Err(back) => value = back,
            }
            held = match deadline {
                None => room.changed.wait(held).unwrap_or_else(|p| p.into_inner()),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        break Err(SendError::Timeout(value));
                    }
                    let waited = room.changed.wait_timeout(held, deadline - now);
                    waited.unwrap_or_else(|p| p.into_inner()).0
                }
            };
        };
        room.waiting.fetch_sub(1, Ordering::Relaxed);
        drop(held);
        if sent.is_ok() {
            shared.wake.wake();
        }
        sent
    }
}

/// Why [`Sender::send`] or [`Sender::send_timeout`] gave its value back (`std`).
///
/// ```
/// use barepoll::channel::{self, SendError};
/// let (tx, rx) = channel::bounded(2)?;
/// drop(rx);
/// let e = tx.send("x").unwrap_err();
/// assert_eq!(e, SendError::Closed("x"));
/// assert_eq!(barepoll::Error::from(e), barepoll::Error::Closed);
/// # Ok::<(), barepoll::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum SendError<T> {
    /// The receiver is gone (deleted, or its reactor dropped).
    Closed(T),
    /// The channel is full and this thread is the one that would make room.
    WouldDeadlock(T),
    /// No room came before the timeout ([`Sender::send_timeout`]).
    Timeout(T),
}

impl<T> SendError<T> {
    /// The value that was not sent.
    ///
    /// ```
    /// # use barepoll::channel::SendError;
    /// assert_eq!(SendError::Timeout(5).into_inner(), 5);
    /// ```
    pub fn into_inner(self) -> T {
        match self {
            SendError::Closed(v) | SendError::WouldDeadlock(v) | SendError::Timeout(v) => v,
        }
    }
}

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SendError::Closed(_) => "Closed(..)",
            SendError::WouldDeadlock(_) => "WouldDeadlock(..)",
            SendError::Timeout(_) => "Timeout(..)",
        })
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SendError::Closed(_) => "the channel's receiver is gone",
            SendError::WouldDeadlock(_) => {
                "the channel is full and this thread is the one that empties it"
            }
            SendError::Timeout(_) => "no room in the channel before the timeout",
        })
    }
}

impl<T> std::error::Error for SendError<T> {}

/// [`Error::Closed`], [`Error::WouldDeadlock`], or `ETIMEDOUT` (the value is dropped).
impl<T> From<SendError<T>> for Error {
    fn from(e: SendError<T>) -> Error {
        match e {
            SendError::Closed(_) => Error::Closed,
            SendError::WouldDeadlock(_) => Error::WouldDeadlock,
            SendError::Timeout(_) => Error::Os(Errno::ETIMEDOUT),
        }
    }
}
