//! A bounded, typed channel into a reactor: [`bounded`] gives a [`Sender`] for any number of
//! threads and a [`Receiver`] whose subscriber ([`Receiver::on_message`]) hands each value to
//! a callback on the reactor's thread. A full channel holds producers back: [`Sender::try_send`]
//! gives the value back, and with `std` [`Sender::send`][send] waits for room. Needs only
//! `alloc`.
//!
//! The values sit in a lock-free ring allocated once (`ENOMEM` if it cannot be, never an
//! abort); sends wake the reactor through an eventfd with a coalescing flag, so however many
//! values are sent between two turns they cost one `write`. The subscriber takes at most
//! [`BATCH`] values per turn (fewer if the capacity is smaller), and wakes itself for the rest.
//!
//! This module owns the handles, their errors and the subscriber. It may not touch the
//! ring's memory (that is `thin::ring`) nor the reactor's state beyond a handler's `Ops`.
//!
//! ```
//! use barepoll::channel::{self, TrySendError};
//! use barepoll::{Ops, Reactor};
//!
//! let mut reactor = Reactor::builder().state::<Vec<u64>>().build()?;
//! let (tx, rx) = channel::bounded::<u64>(16)?;
//! rx.on_message(|n: u64, ops: &mut Ops<'_, Vec<u64>>| ops.data().push(n))
//!     .register_into(&mut reactor)?; // removes itself once the senders are gone
//! let producer = std::thread::spawn(move || {
//!     for n in 0..100 {
//!         let mut value = n;
//!         while let Err(TrySendError::Full(back)) = tx.try_send(value) {
//!             value = back; // full: the reactor has not caught up (`send` would wait)
//!             std::thread::yield_now();
//!         }
//!     }
//! });
//! let mut got = Vec::new();
//! while !reactor.is_empty() {
//!     reactor.run_once_with(None, &mut got)?;
//! }
//! producer.join().unwrap();
//! assert_eq!(got, (0..100).collect::<Vec<_>>());
//! # Ok::<(), barepoll::Error>(())
//! ```
#![cfg_attr(feature = "std", doc = "[send]: Sender::send")]
#![cfg_attr(not(feature = "std"), doc = "[send]: crate#features")]

use crate::error::{Error, Result};
use crate::handler::Register;
use crate::interest::{self, Event};
use crate::key::Key;
use crate::ops::Ops;
use crate::subscriber::Subscriber;
use crate::sys::{AsFd, BorrowedFd, Errno};
use crate::thin::{Ring, SharedBox};
use crate::threads::{Admit, Threads};
use crate::waker::WakeFd;
use core::fmt;
use core::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering};

mod errors;
#[cfg(feature = "std")]
mod wait;

pub use errors::{TryRecvError, TrySendError};
#[cfg(feature = "std")]
#[cfg_attr(docsrs, doc(cfg(feature = "std")))]
pub use wait::SendError;

/// The largest capacity a channel takes: larger requests get this many. A bound of a few tens
/// of thousands of values already lets producers run far ahead of the reactor.
///
/// ```
/// let (tx, _rx) = barepoll::channel::bounded::<u8>(usize::MAX)?;
/// assert_eq!(tx.capacity(), barepoll::channel::MAX_CAPACITY);
/// # Ok::<(), barepoll::Error>(())
/// ```
pub const MAX_CAPACITY: usize = 1 << 16;

/// The most values the subscriber hands to its callback in one turn: the reactor's other
/// subscribers get their turn even while producers keep the channel full.
///
/// ```
/// assert!(barepoll::channel::BATCH >= 1);
/// ```
pub const BATCH: usize = 256;

/// What the handles and the subscriber share.
struct Shared<T> {
    ring: Ring<T>,
    wake: WakeFd,
    senders: AtomicUsize,
    /// The receiver (or its subscriber) has dropped: sends are refused.
    receiver_gone: AtomicBool,
    /// Senders waiting for room (`std`).
    #[cfg(feature = "std")]
    room: wait::Room,
}

impl<T> Shared<T> {
    /// After values were taken: tells senders waiting for room (`std`; nothing without).
    fn freed(&self) {
        // SeqCst, paired with the fence of a sender that is about to wait: either it sees the
        // slots freed before this fence, or this load sees it waiting.
        fence(Ordering::SeqCst);
        #[cfg(feature = "std")]
        self.room.freed();
    }

    fn is_closed(&self) -> bool {
        self.receiver_gone.load(Ordering::Acquire)
    }
}

/// A new channel for `capacity` values (rounded up to a power of two, at least 2, at most
/// [`MAX_CAPACITY`]): its sender and its receiver.
///
/// # Errors
/// [`Error::Invalid`] if `capacity` is 0; `ENOMEM` if memory for the ring or the shared block
/// cannot be had; the kernel's error from `eventfd2`. Nothing is left allocated or open on
/// error.
///
/// ```
/// let (tx, rx) = barepoll::channel::bounded::<String>(3)?;
/// assert_eq!(tx.capacity(), 4);
/// assert!(barepoll::channel::bounded::<String>(0).is_err());
/// # drop(rx);
/// # Ok::<(), barepoll::Error>(())
/// ```
pub fn bounded<T>(capacity: usize) -> Result<(Sender<T>, Receiver<T>)> {
    if capacity == 0 {
        return Err(Error::Invalid("a channel's capacity must be at least 1"));
    }
    let ring = Ring::with_capacity(capacity.min(MAX_CAPACITY)).ok_or(Error::Os(Errno::ENOMEM))?;
    let shared = Shared {
        ring,
        wake: WakeFd::new()?,
        senders: AtomicUsize::new(1),
        receiver_gone: AtomicBool::new(false),
        #[cfg(feature = "std")]
        room: wait::Room::new(),
    };
    let shared = SharedBox::new(shared).ok_or(Error::Os(Errno::ENOMEM))?;
    let receiver = Receiver {
        shared: shared.clone(),
    };
    Ok((Sender { shared }, receiver))
}

/// Sends values into a channel from any thread: `Clone + Send + Sync` (for `T: Send`).
/// Values from one sender arrive in the order sent. When the last sender drops, the receiver's
/// subscriber hands over what is left, then removes itself.
///
/// ```
/// let (tx, mut rx) = barepoll::channel::bounded(2)?;
/// let tx2 = tx.clone();
/// std::thread::spawn(move || tx2.try_send(1).unwrap()).join().unwrap();
/// assert_eq!(rx.try_recv(), Ok(1));
/// # drop(tx);
/// # Ok::<(), barepoll::Error>(())
/// ```
pub struct Sender<T> {
    shared: SharedBox<Shared<T>>,
}

impl<T> Sender<T> {
    /// Sends `value` if there is room, without waiting, and wakes the reactor (one `write`
    /// however many values are sent before its next turn).
    ///
    /// # Errors
    /// [`TrySendError::Full`] if the channel is full, [`TrySendError::Closed`] if the receiver
    /// is gone (its subscriber was deleted, or its reactor dropped); both give `value` back.
    ///
    /// ```
    /// use barepoll::channel::{self, TrySendError};
    ///
    /// let (tx, rx) = channel::bounded(2)?;
    /// tx.try_send('a').unwrap();
    /// tx.try_send('b').unwrap();
    /// assert_eq!(tx.try_send('c'), Err(TrySendError::Full('c')));
    /// drop(rx);
    /// assert_eq!(tx.try_send('d'), Err(TrySendError::Closed('d')));
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn try_send(&self, value: T) -> core::result::Result<(), TrySendError<T>> {
        if self.shared.is_closed() {
            return Err(TrySendError::Closed(value));
        }
        match self.shared.ring.push(value) {
            Ok(()) => {
                self.shared.wake.wake();
                Ok(())
            }
            Err(value) if self.shared.is_closed() => Err(TrySendError::Closed(value)),
            Err(value) => Err(TrySendError::Full(value)),
        }
    }

    /// How many values the channel holds when full.
    ///
    /// ```
    /// let (tx, _rx) = barepoll::channel::bounded::<u8>(100)?;
    /// assert_eq!(tx.capacity(), 128);
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn capacity(&self) -> usize {
        self.shared.ring.capacity()
    }

    /// How many values are in the channel now, sent and not yet taken (a snapshot).
    ///
    /// ```
    /// let (tx, _rx) = barepoll::channel::bounded(4)?;
    /// tx.try_send(()).unwrap();
    /// assert_eq!(tx.len(), 1);
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn len(&self) -> usize {
        self.shared.ring.len()
    }

    /// Whether the channel holds no value now (a snapshot).
    ///
    /// ```
    /// let (tx, _rx) = barepoll::channel::bounded::<u8>(4)?;
    /// assert!(tx.is_empty());
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the receiver is gone: every later send is refused.
    ///
    /// ```
    /// let (tx, rx) = barepoll::channel::bounded::<u8>(4)?;
    /// drop(rx);
    /// assert!(tx.is_closed());
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn is_closed(&self) -> bool {
        self.shared.is_closed()
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        // Relaxed, as for `Arc`: a new sender comes from an existing one.
        self.shared.senders.fetch_add(1, Ordering::Relaxed);
        Sender {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        // AcqRel: the subscriber that reads zero sees every value this sender pushed.
        if self.shared.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.wake.force();
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("capacity", &self.capacity())
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

/// The receiving end: registered into a reactor with [`on_message`](Receiver::on_message), or
/// read directly with [`try_recv`](Receiver::try_recv). Dropping it (or its subscriber, when
/// deleted or when its reactor drops) closes the channel: senders get their values back as
/// `Closed`, and the values left in the channel are dropped.
///
/// ```
/// let (tx, mut rx) = barepoll::channel::bounded(4)?;
/// tx.try_send(7).unwrap();
/// assert_eq!(rx.try_recv(), Ok(7));
/// # Ok::<(), barepoll::Error>(())
/// ```
pub struct Receiver<T> {
    shared: SharedBox<Shared<T>>,
}

impl<T> Receiver<T> {
    /// The subscriber that calls `callback` with each value on the reactor's thread, at most
    /// [`BATCH`] values a turn. Register it with [`register_into`](OnMessage::register_into)
    /// (or `register(.., interest().read())`). When the last sender drops it hands over
    /// what is left, then removes itself.
    ///
    /// ```
    /// use barepoll::{channel, Ops, Reactor};
    ///
    /// let mut reactor = Reactor::new()?;
    /// let (tx, rx) = channel::bounded::<&str>(4)?;
    /// let key = rx
    ///     .on_message(|s: &str, ops: &mut Ops<'_>| {
    ///         assert_eq!(s, "hello");
    ///         ops.stop();
    ///     })
    ///     .register_into(&mut reactor)?;
    /// tx.try_send("hello").unwrap();
    /// reactor.run()?;
    /// reactor.delete(key)?; // closes the channel
    /// assert!(tx.try_send("late").is_err());
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn on_message<F>(self, callback: F) -> OnMessage<T, F> {
        OnMessage {
            receiver: self,
            callback,
        }
    }

    /// Takes the oldest value, without waiting.
    ///
    /// # Errors
    /// [`TryRecvError::Empty`] if there is none now; [`TryRecvError::Disconnected`] if there
    /// is none and every sender is gone.
    ///
    /// ```
    /// use barepoll::channel::{self, TryRecvError};
    ///
    /// let (tx, mut rx) = channel::bounded::<u8>(4)?;
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    /// drop(tx);
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn try_recv(&mut self) -> core::result::Result<T, TryRecvError> {
        if let Some(value) = self.shared.ring.pop() {
            self.shared.freed();
            return Ok(value);
        }
        // Acquire: zero senders means every push is done and visible; look once more.
        if self.shared.senders.load(Ordering::Acquire) != 0 {
            return Err(TryRecvError::Empty);
        }
        match self.shared.ring.pop() {
            Some(value) => {
                self.shared.freed();
                Ok(value)
            }
            None => Err(TryRecvError::Disconnected),
        }
    }

    /// How many values the channel holds when full.
    ///
    /// ```
    /// let (_tx, rx) = barepoll::channel::bounded::<u8>(8)?;
    /// assert_eq!(rx.capacity(), 8);
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn capacity(&self) -> usize {
        self.shared.ring.capacity()
    }

    /// How many values wait in the channel now (a snapshot).
    ///
    /// ```
    /// let (tx, rx) = barepoll::channel::bounded(8)?;
    /// tx.try_send(1u8).unwrap();
    /// assert_eq!(rx.len(), 1);
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn len(&self) -> usize {
        self.shared.ring.len()
    }

    /// Whether no value waits now (a snapshot).
    ///
    /// ```
    /// let (_tx, rx) = barepoll::channel::bounded::<u8>(8)?;
    /// assert!(rx.is_empty());
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.shared.receiver_gone.store(true, Ordering::SeqCst);
        #[cfg(feature = "std")]
        self.shared.room.closed();
        // The values no one will take are dropped now, on this thread (a value pushed by a
        // send racing with this goes with the last handle).
        while self.shared.ring.pop().is_some() {}
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("capacity", &self.capacity())
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

/// A [`Receiver`] with its callback: the subscriber. See [`Receiver::on_message`].
pub struct OnMessage<T, F> {
    receiver: Receiver<T>,
    callback: F,
}

impl<T, F> OnMessage<T, F> {
    /// Registers the subscriber into `target` (a reactor, or a running handler's `Ops`) for
    /// read interest, and returns its key: deleting it closes the channel.
    ///
    /// # Errors
    /// What registering gives ([`Reactor::register`](crate::Reactor::register)); the
    /// subscriber is dropped then, which closes the channel.
    ///
    /// ```
    /// use barepoll::{channel, Ops, Reactor};
    ///
    /// let mut reactor = Reactor::new()?;
    /// let (tx, rx) = channel::bounded::<u32>(4)?;
    /// let key = rx.on_message(|_: u32, _: &mut Ops<'_>| {}).register_into(&mut reactor)?;
    /// assert!(reactor.interest(key).is_ok());
    /// # drop(tx);
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn register_into<R, D, Th>(self, target: &mut R) -> Result<Key>
    where
        R: Register<D, Th> + ?Sized,
        Th: Threads + Admit<Self>,
        Self: Subscriber<D, Th>,
    {
        target.register(self, interest::interest().read())
    }

    /// Its receiver, to look at the channel.
    ///
    /// ```
    /// let (_tx, rx) = barepoll::channel::bounded::<u8>(4)?;
    /// let sub = rx.on_message(|_: u8, _: &mut barepoll::Ops<'_>| {});
    /// assert_eq!(sub.receiver().capacity(), 4);
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn receiver(&self) -> &Receiver<T> {
        &self.receiver
    }
}

impl<T, F> AsFd for OnMessage<T, F> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.receiver.shared.wake.as_fd()
    }
}

impl<T, F> fmt::Debug for OnMessage<T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnMessage")
            .field("receiver", &self.receiver)
            .finish_non_exhaustive()
    }
}

/// Ends a turn's batch, however it ends: tells waiting senders of the room made, and if a
/// callback panicked (the batch did not finish) wakes the reactor again for the values still
/// there.
struct EndBatch<'a, T> {
    shared: &'a Shared<T>,
    finished: bool,
    #[cfg(feature = "std")]
    _draining: wait::Draining<'a>,
}

impl<T> Drop for EndBatch<'_, T> {
    fn drop(&mut self) {
        self.shared.freed();
        if !self.finished {
            self.shared.wake.wake();
        }
    }
}

impl<T, F, D, Th> Subscriber<D, Th> for OnMessage<T, F>
where
    T: 'static,
    F: FnMut(T, &mut Ops<'_, D, Th>) + 'static,
    Th: Threads,
{
    fn has_init(&self) -> bool {
        false
    }

    fn handle(&mut self, _: Event, ops: &mut Ops<'_, D, Th>) {
        let shared = &*self.receiver.shared;
        shared.wake.take();
        let budget = shared.ring.capacity().min(BATCH);
        let mut batch = EndBatch {
            shared,
            finished: false,
            #[cfg(feature = "std")]
            _draining: shared.room.draining(),
        };
        let mut taken = 0;
        while taken < budget {
            let Some(value) = shared.ring.pop() else {
                break;
            };
            taken += 1;
            if taken == 1 {
                shared.freed(); // a waiting sender need not wait for the whole batch
            }
            (self.callback)(value, ops);
        }
        batch.finished = true;
        drop(batch);
        if taken == budget && !shared.ring.is_empty() {
            shared.wake.wake(); // the rest next turn: others get theirs first
        } else if shared.senders.load(Ordering::Acquire) == 0 && shared.ring.is_empty() {
            // Every push happened before the last sender's drop, seen by the load above: the
            // ring is empty for good. Only refused to an inherited reactor.
            let _ = ops.delete_self();
        }
    }
}
