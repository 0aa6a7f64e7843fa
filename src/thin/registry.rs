//! The registry: the epoll set, the nodes by fd number, and the rules for when a node may be
//! freed (the graveyard), when memory is reused (spares), and how a DEL the kernel refuses is
//! recovered (rebuilding the epoll set).

use super::node::{NodeBox, Spares};
use crate::error::{Error, Result};
use crate::grow;
use crate::interest::Interest;
use crate::key::Key;
use crate::subscriber::Subscriber;
use crate::sys::{self, AsFd, AsRawFd, Ctl, Errno, ForkGuard, OwnedFd};
use crate::threads::{Admit, Threads};
use alloc::vec::Vec;

/// The epoll set and its registrations: everything `Ops` may change.
///
/// Field order matters: the epoll fd closes first on drop, so no kernel entry outlives the
/// nodes, which are freed after it.
pub(crate) struct Registry<D: 'static, T: 'static> {
    pub(super) epfd: OwnedFd,
    /// Nodes by their registered fd number; never read on the dispatch path. A slot holds a
    /// live node or, rarely, a retired one: its DEL was refused and the epoll set could not be
    /// rebuilt (out of descriptors or memory), so the kernel may still report it.
    slots: Vec<Option<NodeBox<D, T>>>,
    /// Nodes deleted while a batch is open; recycled when it is done.
    graveyard: Vec<NodeBox<D, T>>,
    spares: Spares,
    live: usize,
    /// Live nodes of the reactor's own (the timers' alarm), not counted by `len`.
    internal: usize,
    retired: usize,
    /// The fork guard, and the flags a turn checks with it before it waits: [`DIRTY`],
    /// [`TIMERS`], [`REMOTE`], [`STOP`].
    pub(super) guard: ForkGuard,
    /// What the batch being dispatched left to do once it is done: [`GRAVE`], [`ALARM`].
    /// Checked after every batch, apart from the guard word: one byte in reach.
    after: u8,
}

/// Flags on the guard word: what makes a turn leave the fast path.
/// A handler panicked out of a batch: its rest, or what it deleted, waits for the next turn.
pub(crate) const DIRTY: u8 = 1;
/// The timers need a clock reading: timers were armed or reset since the last one, or the
/// alarm rang; without an alarm, timers are armed (see `timer::alarm`).
pub(crate) const TIMERS: u8 = 2;
/// The reactor serves remote calls.
#[cfg(feature = "std")]
pub(crate) const REMOTE: u8 = 4;
/// A handler asked `run` to stop (cleared when a new batch begins).
pub(crate) const STOP: u8 = 8;

/// After a batch: the graveyard holds nodes it deleted, to recycle.
pub(crate) const GRAVE: u8 = 1;
/// After a batch: the timers' alarm rang in it; its event is not counted, and the timers it
/// rang for fire.
#[cfg(feature = "alarm")]
pub(crate) const ALARM: u8 = 2;

fn out_of_memory() -> Error {
    Error::Os(Errno::ENOMEM)
}

impl<D, T: Threads> Registry<D, T> {
    pub(crate) fn new() -> Result<Registry<D, T>> {
        Ok(Registry {
            epfd: sys::epoll_create1()?,
            slots: Vec::new(),
            graveyard: Vec::new(),
            spares: Spares::new(),
            live: 0,
            internal: 0,
            retired: 0,
            after: 0,
            guard: ForkGuard::new()?,
        })
    }

    pub(crate) fn len(&self) -> usize {
        self.live - self.internal
    }

    #[inline(always)]
    pub(crate) fn request_stop(&mut self) {
        self.guard.set(STOP);
    }

    /// What the last batch left to do ([`GRAVE`], [`ALARM`]).
    #[inline(always)]
    pub(crate) fn after(&self) -> u8 {
        self.after
    }

    /// The timers' alarm rang in this batch.
    #[cfg(feature = "alarm")]
    pub(crate) fn alarm_rang(&mut self) {
        self.after |= ALARM;
        self.guard.set(TIMERS);
    }

    /// Takes [`ALARM`]: whether it was set.
    #[cfg(feature = "alarm")]
    pub(crate) fn take_alarm(&mut self) -> bool {
        let rang = self.after & ALARM != 0;
        self.after &= !ALARM;
        rang
    }

    /// The flags set (see [`DIRTY`] and the others).
    #[inline(always)]
    pub(crate) fn flags(&self) -> u8 {
        self.guard.flags()
    }

    #[inline(always)]
    pub(crate) fn stop_requested(&self) -> bool {
        self.guard.flags() & STOP != 0
    }

    /// Whether the next turn can take the fast path: no flag set (no stop to clear, no timers,
    /// nothing left by a panic), and the fork guard's word shows the owner: a load and a
    /// compare.
    #[inline(always)]
    pub(crate) fn quiet(&self) -> bool {
        self.guard.quiet()
    }

    /// Sets or clears flags of the guard word.
    #[inline(always)]
    pub(crate) fn flag(&mut self, flags: u8, on: bool) {
        if on {
            self.guard.set(flags)
        } else {
            self.guard.clear(flags)
        }
    }

    /// Refuses kernel operations in a process that inherited this registry through `fork()`.
    #[inline(always)]
    pub(crate) fn check_owner(&self) -> Result<()> {
        if self.guard.inherited() {
            return Err(Error::Inherited);
        }
        Ok(())
    }

    /// Registers `value` for `interest`. Its fd is read once, here, and used for every later
    /// `epoll_ctl` (invariant 7). On error `value` is dropped, nothing reached the kernel, and
    /// memory is as it was (invariant 10).
    ///
    /// `deferred`: events of a batch may still point at nodes (see [`remove`](Self::remove));
    /// it matters only when a rebuild releases retired nodes.
    pub(crate) fn insert<S>(&mut self, value: S, interest: Interest, deferred: bool) -> Result<Key>
    where
        S: Subscriber<D, T>,
        T: Admit<S>,
    {
        self.insert_any(value, interest, deferred)
    }

    /// Registers a subscriber of the reactor's own, `Send` whatever the thread mode, and not
    /// counted by `len`. It is never deleted: it goes with the registry.
    #[cfg(feature = "alarm")]
    pub(crate) fn insert_internal<S>(
        &mut self,
        value: S,
        interest: Interest,
        deferred: bool,
    ) -> Result<Key>
    where
        S: Subscriber<D, T> + Send,
    {
        let key = self.insert_any(value, interest, deferred)?;
        self.internal += 1;
        Ok(key)
    }

    fn insert_any<S>(&mut self, value: S, interest: Interest, deferred: bool) -> Result<Key>
    where
        S: Subscriber<D, T>,
    {
        self.check_owner()?;
        let fd = value.as_fd().as_raw_fd();
        // A valid `BorrowedFd` is never negative; refuse one anyway rather than index with it.
        let Ok(index) = usize::try_from(fd) else {
            return Err(Error::Os(Errno::EBADF));
        };
        if let Some(Some(node)) = self.slots.get(index) {
            if node.is_live() {
                return Err(Error::AlreadyRegistered(fd));
            }
            // Retired: the kernel may still hold a registration under this number.
            self.rebuild(deferred).map_err(|_| Error::FdRetired(fd))?;
        }
        // Room in the slot table first (the slots themselves are added once the kernel has
        // taken the registration), so nothing can fail after that.
        let (len, capacity) = (self.slots.len(), self.slots.capacity());
        if index >= len {
            self.slots
                .try_reserve(index + 1 - len)
                .map_err(|_| out_of_memory())?;
        }
        let key = Key::fresh(fd);
        let Some((node, was_spare)) = NodeBox::new(value, key, interest, &mut self.spares) else {
            self.give_back_room(capacity);
            return Err(out_of_memory());
        };
        let (epfd, bits) = (self.epfd.as_fd(), interest.bits());
        if let Err(e) = sys::epoll_ctl(epfd, Ctl::Add, fd, bits, node.data()) {
            // The kernel never saw the node, so dropping it here is sound.
            self.give_back_room(capacity);
            node.discard(&mut self.spares, was_spare);
            return Err(Error::Os(e));
        }
        grow::fill_within(&mut self.slots, index + 1, || None); // within the room reserved
                                                                // The slot is empty: a live node was refused above, a retired one released by the
                                                                // rebuild. (Were it not, leaking is the sound way out.)
        core::mem::forget(self.slots[index].replace(node));
        self.live += 1;
        Ok(key)
    }

    /// Gives back the room a refused registration reserved in the slot table.
    fn give_back_room(&mut self, capacity: usize) {
        if self.slots.capacity() > capacity {
            self.slots.shrink_to(capacity);
        }
    }

    fn lookup(&self, key: Key) -> Result<&NodeBox<D, T>> {
        match self.slots.get(key.fd() as usize) {
            Some(Some(node)) if node.header().key() == key && node.is_live() => Ok(node),
            _ => Err(Error::StaleKey(key)),
        }
    }

    pub(crate) fn interest(&self, key: Key) -> Result<Interest> {
        Ok(self.lookup(key)?.header().interest())
    }

    pub(crate) fn modify(&mut self, key: Key, interest: Interest) -> Result<()> {
        self.check_owner()?;
        let node = self.lookup(key)?;
        let (epfd, bits) = (self.epfd.as_fd(), interest.bits());
        sys::epoll_ctl(epfd, Ctl::Modify, key.fd(), bits, node.data())?;
        node.header().set_interest(interest);
        Ok(())
    }

    /// Deletes the subscriber of `key`: dead at once; dropped at once, or, if events of a
    /// batch may still point at it (`deferred`), when the batch is done.
    pub(crate) fn remove(&mut self, key: Key, deferred: bool) -> Result<()> {
        let node = self.detach(key, deferred)?;
        self.dispose(node, deferred);
        Ok(())
    }

    /// Deletes the subscriber of `key` and moves it out. Outside dispatch only; `deferred` if
    /// a batch remainder may still point at it.
    pub(crate) fn take<S: Subscriber<D, T>>(&mut self, key: Key, deferred: bool) -> Result<S> {
        if !self.lookup(key)?.is::<S>() {
            return Err(Error::WrongType(key));
        }
        let node = self.detach(key, deferred)?;
        // SAFETY: the node holds an `S` (checked above); no handler is running (outside
        // dispatch), so nothing else uses its value.
        let value = unsafe { node.take_value::<S>() };
        self.dispose(node, deferred); // the emptied memory stays while a remainder may point at it
        Ok(value)
    }

    /// Takes the live node of `key` out of its slot and out of the kernel's set, marked dead.
    /// Everything that can fail is done before the kernel is asked (invariant 10).
    fn detach(&mut self, key: Key, deferred: bool) -> Result<NodeBox<D, T>> {
        self.check_owner()?;
        self.lookup(key)?;
        if deferred && self.graveyard.len() == self.graveyard.capacity() {
            self.graveyard.try_reserve(1).map_err(|_| out_of_memory())?;
        }
        let index = key.fd() as usize;
        let Some(node) = self.slots[index].take() else {
            return Err(Error::StaleKey(key)); // looked up above: cannot happen
        };
        let deleted = sys::epoll_ctl(self.epfd.as_fd(), Ctl::Delete, key.fd(), 0, 0);
        node.kill();
        self.live -= 1;
        if deleted.is_err() {
            // The fd was closed (or replaced) behind the subscriber's back. If another fd
            // keeps the file open, the kernel still holds the registration under the old
            // number, and only closing the epoll instance removes it for sure.
            if let Err(e) = self.rebuild(deferred) {
                // Back where it was taken from (an empty slot: nothing to drop).
                core::mem::forget(self.slots[index].replace(node));
                self.retired += 1;
                return Err(Error::Os(e));
            }
        }
        Ok(node)
    }

    /// Gives up a node that the kernel no longer reports: recycled now, or when the batch that
    /// may still point at it is done (room in the graveyard was reserved beforehand).
    fn dispose(&mut self, node: NodeBox<D, T>, deferred: bool) {
        if deferred {
            // Room was reserved before the node was detached. (Were it not, leaking the node
            // is the sound way out: a pending event may still point at it.)
            if let Err(node) = grow::push_within(&mut self.graveyard, node) {
                debug_assert!(false, "no room reserved in the graveyard");
                core::mem::forget(node);
            }
            self.after |= GRAVE;
        } else {
            node.recycle(&mut self.spares);
        }
    }

    /// Moves every live registration to a new epoll instance, with the same fd number,
    /// interest and data word, then closes the old one: registrations the reactor can no longer
    /// name (a refused DEL's) go with it. If the new set cannot be filled for want of memory or
    /// descriptors, nothing changes. Events already returned keep pointing at allocated nodes.
    ///
    /// A registration whose fd was itself closed or replaced behind its subscriber's back
    /// cannot be added again and stays without one (its events stop); an edge-triggered or
    /// oneshot one is armed afresh, so it may report once more.
    fn rebuild(&mut self, deferred: bool) -> core::result::Result<(), Errno> {
        // Room first for every node the rebuild releases, plus the one a refused DEL is
        // detaching: in a batch they go to the graveyard, and a retired node left in its slot
        // for want of room would be dropped by the next registration of its number, under
        // events that may still point at it.
        if deferred && self.graveyard.try_reserve(self.retired + 1).is_err() {
            return Err(Errno::ENOMEM);
        }
        let fresh = sys::epoll_create1()?;
        for node in self.slots.iter().flatten().filter(|node| node.is_live()) {
            let header = node.header();
            let (fd, bits) = (header.key().fd(), header.interest().bits());
            // Other errors: this fd, too, was closed or replaced behind the reactor's back.
            let added = sys::epoll_ctl(fresh.as_fd(), Ctl::Add, fd, bits, node.data());
            if let Err(e @ (Errno::ENOMEM | Errno::ENOSPC)) = added {
                return Err(e);
            }
        }
        // The old instance closes here. Keeping its number means the reactor's descriptor
        // does not move, and the number the new instance got is free again at once.
        if sys::replace(&mut self.epfd, fresh.as_fd()).is_err() {
            self.epfd = fresh;
        }
        self.release_retired(deferred);
        Ok(())
    }

    /// After a rebuild no kernel entry names a retired node: give them up (into room the
    /// rebuild reserved).
    fn release_retired(&mut self, deferred: bool) {
        for index in 0..self.slots.len() {
            if self.retired == 0 {
                break;
            }
            let Some(slot) = self.slots.get_mut(index) else {
                break;
            };
            if !matches!(slot, Some(node) if !node.is_live()) {
                continue;
            }
            if let Some(node) = slot.take() {
                self.retired -= 1;
                self.dispose(node, deferred);
            }
        }
    }

    /// The live node of `key`, checked to hold an `S`.
    fn typed<S: Subscriber<D, T>>(&self, key: Key) -> Result<&NodeBox<D, T>> {
        let node = self.lookup(key)?;
        if !node.is::<S>() {
            return Err(Error::WrongType(key));
        }
        Ok(node)
    }

    /// Outside dispatch only (the reactor's `&self` methods).
    pub(crate) fn get<S: Subscriber<D, T>>(&self, key: Key) -> Result<&S> {
        let node = self.typed::<S>(key)?;
        // SAFETY: the node is live and holds an `S` (`typed`); no handler is running, so no
        // `&mut` to its value exists; the `&S` borrows `self`.
        Ok(unsafe { &*node.value::<S>() })
    }

    /// Outside dispatch only (the reactor's `&mut self` methods).
    pub(crate) fn get_mut<S: Subscriber<D, T>>(&mut self, key: Key) -> Result<&mut S> {
        let node = self.typed::<S>(key)?;
        // SAFETY: as in `get`, and the `&mut S` borrows `self` mutably, so it is unique.
        Ok(unsafe { &mut *node.value::<S>() })
    }

    /// Recycles the graveyard. If a destructor panics, the nodes not yet recycled stay in the
    /// graveyard for the next turn (or the registry's drop): each is given up exactly once.
    #[inline(always)]
    pub(crate) fn bury(&mut self) {
        if !self.graveyard.is_empty() {
            self.bury_all();
        }
    }

    #[inline(never)]
    fn bury_all(&mut self) {
        while let Some(node) = self.graveyard.pop() {
            node.recycle(&mut self.spares);
        }
        self.after &= !GRAVE;
    }
}
