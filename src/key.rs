//! `Key` and `TimerKey`: the small `Copy` handles that name one registration, or one armed
//! timer, in one reactor.

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

/// Names one armed timer in one reactor; stale once the timer is done (fired, if one-shot) or
/// cancelled. Like [`Key`], its generation is unique in the process.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimerKey {
    /// The timer's entry in its reactor's table.
    pub(crate) index: u32,
    pub(crate) generation: u64,
}

impl TimerKey {
    /// A key a test double hands out: it names no timer of any reactor.
    #[cfg(feature = "testing")]
    pub(crate) fn recorded(index: u32, generation: u64) -> TimerKey {
        TimerKey { index, generation }
    }
}

impl fmt::Debug for TimerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TimerKey({}, #{})", self.index, self.generation)
    }
}
