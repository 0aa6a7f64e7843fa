//! Finding subscribers without keeping their keys: by fd number, all of them, or every one
//! of a type taken out at once. Nothing here runs in a turn.

use super::Reactor;
use crate::error::Result;
use crate::key::Key;
use crate::subscriber::Subscriber;
use crate::sys::{Errno, RawFd};
use crate::threads::Threads;
use alloc::vec::Vec;

impl<D, T: Threads> Reactor<D, T> {
    /// The key of the subscriber registered under fd number `fd`, if one is. The reactor's
    /// own subscribers (its timers' alarm, ...) are never named, nor is a further descriptor
    /// added with `add_fd` (its events come to its subscriber's key). The number is what is
    /// looked up: if the subscriber's fd was closed and the number reused behind its back,
    /// this still names that subscriber.
    ///
    /// ```
    /// use barepoll::{sys, sys::AsRawFd, Reactor};
    /// let mut reactor = Reactor::new()?;
    /// let fd = sys::eventfd(0, 0)?;
    /// let number = fd.as_raw_fd();
    /// let key = barepoll::interest().read().with_fd(fd).with_handler(|| {}).register_into(&mut reactor)?;
    /// assert_eq!(reactor.key_of(number), Some(key));
    /// reactor.delete(key)?;
    /// assert_eq!(reactor.key_of(number), None);
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn key_of(&self, fd: RawFd) -> Option<Key> {
        self.core.registry.key_of(fd)
    }

    /// The keys of every subscriber, in the order of their fd numbers (the reactor's own not
    /// included): [`len`](Reactor::len) of them.
    ///
    /// ```
    /// use barepoll::{sys, Reactor};
    /// let mut reactor = Reactor::new()?;
    /// for _ in 0..3 {
    ///     barepoll::interest().read().with_fd(sys::eventfd(0, 0)?).with_handler(|| {}).register_into(&mut reactor)?;
    /// }
    /// assert_eq!(reactor.keys().count(), 3);
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn keys(&self) -> impl Iterator<Item = Key> + '_ {
        self.core.registry.keys()
    }

    /// Takes every subscriber of type `S` out of the reactor (as [`take`](Reactor::take)
    /// does: their fds stay open, their registrations and timers go), in the order of their
    /// fd numbers; the others stay.
    ///
    /// # Errors
    /// `ENOMEM` if memory for the list cannot be had (then nothing was taken);
    /// [`Error::Inherited`](crate::Error::Inherited) after `fork()`.
    ///
    /// ```
    /// use barepoll::{sys, Event, Ops, Reactor, Subscriber};
    /// use barepoll::sys::{AsFd, BorrowedFd, OwnedFd};
    ///
    /// struct Conn(OwnedFd);
    /// impl AsFd for Conn {
    ///     fn as_fd(&self) -> BorrowedFd<'_> { self.0.as_fd() }
    /// }
    /// impl Subscriber for Conn {
    ///     fn handle(&mut self, _: Event, _: &mut Ops<'_>) {}
    /// }
    /// let mut reactor = Reactor::new()?;
    /// for _ in 0..2 {
    ///     reactor.register(Conn(sys::eventfd(0, 0)?), barepoll::interest().read())?;
    /// }
    /// barepoll::interest().read().with_fd(sys::eventfd(0, 0)?).with_handler(|| {}).register_into(&mut reactor)?;
    /// let conns: Vec<Conn> = reactor.take_all()?;
    /// assert_eq!((conns.len(), reactor.len()), (2, 1));
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn take_all<S: Subscriber<D, T>>(&mut self) -> Result<Vec<S>> {
        self.core.registry.check_owner()?;
        let mut keys = Vec::new();
        let count = self.keys().count();
        keys.try_reserve_exact(count)
            .map_err(|_| crate::Error::Os(Errno::ENOMEM))?;
        keys.extend(self.keys().filter(|&key| self.get::<S>(key).is_ok()));
        let mut taken = Vec::new();
        taken
            .try_reserve_exact(keys.len())
            .map_err(|_| crate::Error::Os(Errno::ENOMEM))?;
        for key in keys {
            // Checked above: live and an `S`. `take` can fail only for want of graveyard
            // room while a batch is open, which it is not here (`&mut self`, no handler).
            if let Ok(value) = self.take::<S>(key) {
                taken.push(value);
            }
        }
        Ok(taken)
    }
}
