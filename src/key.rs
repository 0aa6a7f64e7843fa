//! `Key`: the small `Copy` handle that names one registration in one reactor.

use crate::sys::RawFd;
use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering};

/// Names one registration in one reactor: the fd number it was registered with plus a
/// generation that is never reused in the process, so a key outlives its subscriber
/// harmlessly and never names another reactor's subscriber.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    fd: RawFd,
    generation: u64,
}

/// Generations are unique in the process, so a key never names another reactor's subscriber.
static NEXT_GENERATION: AtomicU64 = AtomicU64::new(0);

impl Key {
    /// A new key for a registration of `fd`, with a generation no other key has.
    pub(crate) fn fresh(fd: RawFd) -> Key {
        Key {
            fd,
            generation: Key::next_generation(),
        }
    }

    /// A generation no key or timer key has had.
    pub(crate) fn next_generation() -> u64 {
        NEXT_GENERATION.fetch_add(1, Ordering::Relaxed)
    }

    /// A key that names nothing: the key `Ops` gives a timer callback.
    pub(crate) const NONE: Key = Key {
        fd: -1,
        generation: u64::MAX,
    };

    pub(crate) fn from_parts(fd: RawFd, generation: u64) -> Key {
        Key { fd, generation }
    }

    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    /// The fd number captured when the subscriber was registered.
    ///
    /// ```
    /// use barepoll::{sys, sys::AsRawFd, Reactor};
    /// let mut reactor = Reactor::new()?;
    /// let efd = sys::eventfd(0, 0)?;
    /// let raw = efd.as_raw_fd();
    /// let key = barepoll::interest().read().with_fd(efd).with_handler(|| {}).register_into(&mut reactor)?;
    /// assert_eq!(key.fd(), raw);
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn fd(&self) -> RawFd {
        self.fd
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key(fd {}, #{})", self.fd, self.generation)
    }
}
