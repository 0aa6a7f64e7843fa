//! The errors of a channel's non-blocking operations: [`TrySendError`] gives the value back,
//! [`TryRecvError`] says whether more may come. Plain data: no operation lives here.

#[cfg(doc)]
use super::{Receiver, Sender};
use crate::error::Error;
use crate::sys::Errno;
use core::fmt;

/// Why [`Sender::try_send`] gave its value back.
///
/// ```
/// use barepoll::channel::{self, TrySendError};
/// let (tx, _rx) = channel::bounded(2)?;
/// tx.try_send(1)?; // `?` turns it into a `barepoll::Error`
/// tx.try_send(2)?;
/// let e = tx.try_send(3).unwrap_err();
/// assert!(e.is_full());
/// assert_eq!(e.into_inner(), 3);
/// # Ok::<(), barepoll::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum TrySendError<T> {
    /// The channel is full.
    Full(T),
    /// The receiver is gone (deleted, or its reactor dropped).
    Closed(T),
}

impl<T> TrySendError<T> {
    /// The value that was not sent.
    ///
    /// ```
    /// # use barepoll::channel::TrySendError;
    /// assert_eq!(TrySendError::Closed(5).into_inner(), 5);
    /// ```
    pub fn into_inner(self) -> T {
        match self {
            TrySendError::Full(value) | TrySendError::Closed(value) => value,
        }
    }

    /// Whether the channel was full (a later send may succeed).
    ///
    /// ```
    /// # use barepoll::channel::TrySendError;
    /// assert!(TrySendError::Full(()).is_full());
    /// ```
    pub fn is_full(&self) -> bool {
        matches!(self, TrySendError::Full(_))
    }

    /// Whether the receiver was gone (no later send can succeed).
    ///
    /// ```
    /// # use barepoll::channel::TrySendError;
    /// assert!(TrySendError::Closed(()).is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        matches!(self, TrySendError::Closed(_))
    }
}

impl<T> fmt::Debug for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TrySendError::Full(_) => "Full(..)",
            TrySendError::Closed(_) => "Closed(..)",
        })
    }
}

impl<T> fmt::Display for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TrySendError::Full(_) => "the channel is full",
            TrySendError::Closed(_) => "the channel's receiver is gone",
        })
    }
}

#[cfg(feature = "std")]
impl<T> std::error::Error for TrySendError<T> {}

/// `Full` is `EAGAIN`, `Closed` is [`Error::Closed`] (the value is dropped).
impl<T> From<TrySendError<T>> for Error {
    fn from(e: TrySendError<T>) -> Error {
        match e {
            TrySendError::Full(_) => Error::Os(Errno::EAGAIN),
            TrySendError::Closed(_) => Error::Closed,
        }
    }
}

/// Why [`Receiver::try_recv`] has no value.
///
/// ```
/// use barepoll::channel::{self, TryRecvError};
/// let (_tx, mut rx) = channel::bounded::<u8>(2)?;
/// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
/// # Ok::<(), barepoll::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TryRecvError {
    /// None now; senders remain.
    Empty,
    /// None, and every sender is gone: none will come.
    Disconnected,
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TryRecvError::Empty => "the channel is empty",
            TryRecvError::Disconnected => "the channel is empty and its senders are gone",
        })
    }
}

#[cfg(feature = "std")]
impl std::error::Error for TryRecvError {}
