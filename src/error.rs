//! The crate's one error type: a kernel `Errno`, or one of the registry's own refusals.

use crate::key::Key;
use crate::key::TimerKey;
use crate::sys::{Errno, RawFd};
use core::fmt;

/// `Result` with [`Error`] as the default error.
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// Everything barepoll can refuse or report.
#[derive(Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The kernel refused a call (for example `EPERM` for a regular file, `EBADF` for a closed
    /// descriptor, `EMFILE` when out of descriptors).
    Os(Errno),
    /// This fd number already has a live subscriber in this reactor.
    AlreadyRegistered(RawFd),
    /// This reactor was inherited through `fork()`: it shares its epoll instance with the
    /// parent but not the memory its registrations point to, so it refuses every operation
    /// that may reach the kernel: `run*`, `register`, `modify`, `delete`, `take`, `arm`,
    /// `remote`, and their `Ops` twins. What only reads or changes the child's own memory
    /// still works, since nothing of it can reach the parent: `get`, `get_mut`, `interest`,
    /// `len`, `pending`, `cancel`, `reset`. Dropping it closes only this process's
    /// descriptors.
    Inherited,
    /// The key names no live subscriber of this reactor: it was deleted (perhaps the fd number
    /// is in use again by a newer subscriber), or it was made by another reactor.
    StaleKey(Key),
    /// The subscriber behind the key is not of the type asked for.
    WrongType(Key),
    /// The timer key names no armed timer of this reactor: it fired (if one-shot), was
    /// cancelled, or was made by another reactor.
    StaleTimer(TimerKey),
    /// An argument that makes no sense (the text says which).
    Invalid(&'static str),
    /// The reactor behind a remote handle is gone.
    Closed,
    /// A blocking remote call from the thread running the reactor: it could never return.
    WouldDeadlock,
    /// The job of a blocking remote call panicked on the reactor's thread (where the panic
    /// went on, out of the reactor's `run`, which stays usable). The job has no result.
    Panicked,
    /// [`Ops::with`](crate::Ops::with) asked for a subscriber whose value is in use: the
    /// running one, or one lent to a `with` further up the stack.
    Busy(Key),
    /// A bounded queue has no room now (`Remote::try_post` on a reactor built with a
    /// `remote_capacity`).
    Full,
    /// A wait with a deadline ended without its answer (`Remote::call_timeout`).
    TimedOut,
}

impl Error {
    /// The kernel's error number, if the kernel refused.
    ///
    /// ```
    /// use barepoll::{sys::Errno, Error};
    /// assert_eq!(Error::Os(Errno::EPERM).errno(), Some(Errno::EPERM));
    /// assert_eq!(Error::Closed.errno(), None);
    /// ```
    pub fn errno(&self) -> Option<Errno> {
        match *self {
            Error::Os(e) => Some(e),
            _ => None,
        }
    }
}

/// What `derive(Debug)` prints (`Closed`, `Os(Errno(EBADF))`), through one formatting path
/// for every variant: a third of the derived code, in every program that unwraps a result.
impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (name, field): (&str, Option<&dyn fmt::Debug>) = match self {
            Error::Os(e) => ("Os", Some(e)),
            Error::AlreadyRegistered(fd) => ("AlreadyRegistered", Some(fd)),
            Error::Inherited => ("Inherited", None),
            Error::StaleKey(key) => ("StaleKey", Some(key)),
            Error::WrongType(key) => ("WrongType", Some(key)),
            Error::StaleTimer(key) => ("StaleTimer", Some(key)),
            Error::Invalid(text) => ("Invalid", Some(text)),
            Error::Closed => ("Closed", None),
            Error::WouldDeadlock => ("WouldDeadlock", None),
            Error::Panicked => ("Panicked", None),
            Error::Busy(key) => ("Busy", Some(key)),
            Error::Full => ("Full", None),
            Error::TimedOut => ("TimedOut", None),
        };
        match field {
            Some(field) => f.debug_tuple(name).field(field).finish(),
            None => f.write_str(name),
        }
    }
}

impl From<Errno> for Error {
    fn from(e: Errno) -> Self {
        Error::Os(e)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Os(e) => write!(f, "{e}"),
            Error::AlreadyRegistered(fd) => write!(f, "fd {fd} is already registered"),
            Error::Inherited => write!(
                f,
                "this reactor was inherited through fork(); it refuses every operation but drop"
            ),
            Error::StaleKey(k) => write!(f, "{k:?} names no live subscriber (deleted or foreign)"),
            Error::WrongType(k) => write!(f, "the subscriber of {k:?} is of another type"),
            Error::StaleTimer(k) => write!(
                f,
                "{k:?} names no armed timer (fired, cancelled or foreign)"
            ),
            Error::Invalid(what) => write!(f, "invalid argument: {what}"),
            Error::Closed => write!(f, "the reactor is gone"),
            Error::WouldDeadlock => write!(
                f,
                "a blocking remote call from the reactor's own thread would wait for ever"
            ),
            Error::Panicked => write!(f, "the remote call's job panicked on the reactor's thread"),
            Error::Busy(k) => write!(
                f,
                "the subscriber of {k:?} is in use (running, or lent further up the stack)"
            ),
            Error::Full => write!(f, "the queue is full"),
            Error::TimedOut => write!(f, "the deadline came before the answer"),
        }
    }
}

#[cfg(feature = "std")]
#[cfg_attr(docsrs, doc(cfg(feature = "std")))]
impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Os(e) => Some(e),
            _ => None,
        }
    }
}

#[cfg(feature = "std")]
#[cfg_attr(docsrs, doc(cfg(feature = "std")))]
impl From<Error> for std::io::Error {
    fn from(e: Error) -> Self {
        use std::io::ErrorKind;
        let kind = match e {
            Error::Os(errno) => return errno.into(),
            Error::AlreadyRegistered(_) => ErrorKind::AlreadyExists,
            Error::StaleKey(_) | Error::StaleTimer(_) => ErrorKind::NotFound,
            Error::Invalid(_) => ErrorKind::InvalidInput,
            Error::Closed => ErrorKind::BrokenPipe,
            Error::WouldDeadlock | Error::Full => ErrorKind::WouldBlock,
            Error::TimedOut => ErrorKind::TimedOut,
            Error::WrongType(_) => ErrorKind::InvalidInput,
            Error::Inherited | Error::Panicked | Error::Busy(_) => ErrorKind::Other,
        };
        std::io::Error::new(kind, e)
    }
}
