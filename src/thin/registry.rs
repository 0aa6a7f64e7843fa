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
    /// Live nodes by their registered fd number; never read on the dispatch path.
    slots: Vec<Option<NodeBox<D, T>>>,
    /// Nodes deleted while a batch is open; recycled when it is done.
    graveyard: Vec<NodeBox<D, T>>,
    /// Retired nodes: their DEL was refused and no epoll set could be made without them yet
    /// (out of descriptors or memory), so a registration the reactor cannot name may still
    /// report them. Their values are dropped at once (when the batch is done, if one is open);
    /// their memory waits for a rebuild, tried again whenever one of them reports.
    retired: Vec<NodeBox<D, T>>,
    spares: Spares,
    live: usize,
    /// Live nodes of the reactor's own (the timers' alarm, the remote's queue), not counted
    /// by `len`.
    internal: usize,
    /// Rebuilds that failed in a row since a ghost reported: the turn backs off for
    /// `2^failed` ms (at most 64) before it waits again.
    failed_rebuilds: u32,
    /// The fork guard, and the flags a turn checks with it before it waits: [`DIRTY`],
    /// [`TIMERS`], [`REMOTE`], [`STOP`].
    pub(super) guard: ForkGuard,
    /// Whether a batch may be open ([`OPEN`]) and what it left to do once it
    /// is done ([`GRAVE`], [`ALARM`], [`GHOST`]). Checked after every batch, apart from the
    /// guard word: one byte in reach.
    pub(super) after: u8,
    /// Events of the batch that were the reactor's own (the alarm, ghosts): not counted.
    pub(super) skipped: usize,
    /// How long the next turn backs off before it waits (nanoseconds): a ghost reported and
    /// the rebuild that would remove it failed.
    backoff: u64,
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
/// After a batch: the timers' alarm rang in it; the timers it rang for fire.
#[cfg(feature = "alarm")]
pub(crate) const ALARM: u8 = 2;
/// After a batch: a retired node reported; the turn tries to rebuild the epoll set.
pub(crate) const GHOST: u8 = 4;
/// A batch may be open: dispatch sets it before the first handler runs, and only
/// [`settle`](Registry::settle) clears it, when no handler can be running and no remainder of
/// a batch a handler panicked out of waits. While it is set, events may point at any node, so
/// [`dispose`](Registry::dispose) keeps what it is given until the batch is done (invariant
/// 13). Between turns it may be set though no batch is open (the fast path leaves it to the
/// next call that needs to know): that could only defer a drop, and every such call settles
/// first.
pub(crate) const OPEN: u8 = 8;

fn out_of_memory() -> Error {
    Error::Os(Errno::ENOMEM)
}

impl<D, T> Registry<D, T> {
    /// A retired node's event (its dispatch entry): not counted; the turn tries a rebuild.
    pub(super) fn ghost_reported(&mut self) {
        self.after |= GHOST;
        self.skipped += 1;
    }
}

impl<D, T: Threads> Registry<D, T> {
    pub(crate) fn new() -> Result<Registry<D, T>> {
        Ok(Registry {
            epfd: sys::epoll_create1()?,
            slots: Vec::new(),
            graveyard: Vec::new(),
            retired: Vec::new(),
            spares: Spares::new(),
            live: 0,
            internal: 0,
            failed_rebuilds: 0,
            after: 0,
            skipped: 0,
            backoff: 0,
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

    /// The timers' alarm rang in this batch: its event is not counted.
    #[cfg(feature = "alarm")]
    pub(crate) fn alarm_rang(&mut self) {
        self.after |= ALARM;
        self.skipped += 1;
        self.guard.set(TIMERS);
    }

    /// Takes the count of the batch's events that were the reactor's own.
    pub(crate) fn take_skipped(&mut self) -> usize {
        core::mem::take(&mut self.skipped)
    }

    /// No batch is open: no handler is running and no remainder of a batch waits. Only the
    /// reactor, which holds the event buffer, knows both (`Reactor::settle`).
    #[inline]
    pub(crate) fn settle(&mut self) {
        self.after &= !OPEN;
    }

    /// Whether events of a batch may still point at any node.
    #[inline]
    fn holds(&self) -> bool {
        self.after & OPEN != 0
    }

    /// A new batch begins (off the fast path, no remainder waiting): a stop is asked anew,
    /// and nothing a batch a handler or destructor panicked out of left in the flags counts
    /// any more (the timers it rang for still fire: they need a clock reading, which `TIMERS`
    /// asks for). Returns how long to back off before the wait (see
    /// [`after_ghosts`](Self::after_ghosts)).
    pub(crate) fn new_batch(&mut self) -> u64 {
        self.guard.clear(DIRTY | STOP);
        self.after &= GRAVE;
        self.skipped = 0;
        core::mem::take(&mut self.backoff)
    }

    /// If a ghost reported in the batch: tries to rebuild the epoll set without the retired
    /// nodes. If it cannot, the next turn backs off before it waits (1 ms, doubling to 64 ms
    /// while it keeps failing): the ghost reports at once at every wait until a rebuild works,
    /// and a busy loop must not follow.
    pub(crate) fn after_ghosts(&mut self) {
        if self.after & GHOST == 0 {
            return;
        }
        self.after &= !GHOST;
        if self.retired.is_empty() || self.check_owner().is_err() || self.rebuild().is_ok() {
            return;
        }
        self.failed_rebuilds = self.failed_rebuilds.saturating_add(1);
        self.backoff = 1_000_000 << self.failed_rebuilds.min(6);
        self.guard.set(DIRTY); // the next turn takes the slow path, which backs off
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
    /// `epoll_ctl` (invariant 7). On error `value` is dropped and nothing reached the kernel
    /// (invariant 10); room reserved in the slot table is kept (giving it back could need
    /// the allocator, and clean-up never does).
    pub(crate) fn insert<S>(&mut self, value: S, interest: Interest) -> Result<Key>
    where
        S: Subscriber<D, T>,
        T: Admit<S>,
    {
        self.insert_any(value, interest)
    }

    /// Registers a subscriber of the reactor's own, `Send` whatever the thread mode, and not
    /// counted by `len`. It is never deleted: it goes with the registry.
    #[cfg(any(feature = "alarm", feature = "std"))]
    pub(crate) fn insert_internal<S>(&mut self, value: S, interest: Interest) -> Result<Key>
    where
        S: Subscriber<D, T> + Send,
    {
        let key = self.insert_any(value, interest)?;
        self.internal += 1;
        Ok(key)
    }

    fn insert_any<S>(&mut self, value: S, interest: Interest) -> Result<Key>
    where
        S: Subscriber<D, T>,
    {
        self.check_owner()?;
        let fd = value.as_fd().as_raw_fd();
        // A valid `BorrowedFd` is never negative; refuse one anyway rather than index with it.
        let Ok(index) = usize::try_from(fd) else {
            return Err(Error::Os(Errno::EBADF));
        };
        if let Some(Some(_)) = self.slots.get(index) {
            return Err(Error::AlreadyRegistered(fd));
        }
        // Room in the slot table first, in a new table if it must grow (the slots move there
        // once the kernel has taken the registration), so nothing can fail after that, and a
        // refused registration gives the room back by freeing it, never by reallocating.
        let mut grown = Vec::new();
        if index >= self.slots.capacity() {
            let room = (index + 1).max(self.slots.capacity() * 2);
            grown.try_reserve(room).map_err(|_| out_of_memory())?;
        }
        let key = Key::fresh(fd);
        let Some((node, was_spare)) = NodeBox::new(value, key, interest, &mut self.spares) else {
            return Err(out_of_memory());
        };
        let (epfd, bits) = (self.epfd.as_fd(), interest.bits());
        let mut added = sys::epoll_ctl(epfd, Ctl::Add, fd, bits, node.data());
        if added == Err(Errno::EEXIST) && !self.retired.is_empty() {
            // A ghost holds this very file under this number (it was closed behind its
            // subscriber's back and put back): a set rebuilt without the ghosts takes it.
            if self.rebuild().is_ok() {
                added = sys::epoll_ctl(self.epfd.as_fd(), Ctl::Add, fd, bits, node.data());
            }
        }
        if let Err(e) = added {
            // The kernel never saw the node, so dropping it here is sound.
            node.discard(&mut self.spares, was_spare);
            return Err(Error::Os(e));
        }
        if grown.capacity() != 0 {
            for slot in self.slots.drain(..) {
                let _ = grow::push_within(&mut grown, slot); // within the room reserved
            }
            self.slots = grown;
        }
        grow::fill_within(&mut self.slots, index + 1, || None); // within the room reserved
                                                                // The slot is empty (checked above). Were it not, leaking is the sound way out.
        core::mem::forget(self.slots[index].replace(node));
        self.live += 1;
        Ok(key)
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

    /// Deletes the subscriber of `key`: dead at once; its value dropped at once, or when the
    /// batch is done if one is open (its handler may be running).
    pub(crate) fn remove(&mut self, key: Key) -> Result<()> {
        let (node, named) = self.detach(key)?;
        self.give_up(node, named);
        Ok(())
    }

    /// Deletes the subscriber of `key` and moves it out. Outside dispatch only (no handler
    /// runs), though a batch remainder may still point at its node.
    pub(crate) fn take<S: Subscriber<D, T>>(&mut self, key: Key) -> Result<S> {
        if !self.lookup(key)?.is::<S>() {
            return Err(Error::WrongType(key));
        }
        let (node, named) = self.detach(key)?;
        // SAFETY: the node holds an `S` (checked above); no handler is running (outside
        // dispatch), so nothing else uses its value.
        let value = unsafe { node.take_value::<S>() };
        self.give_up(node, named); // the emptied memory stays while events may point at it
        Ok(value)
    }

    /// Takes the live node of `key` out of its slot and out of the kernel's set, marked dead;
    /// with whether a registration the reactor cannot name may still report it (its DEL was
    /// refused and the epoll set could not be rebuilt). Everything that can fail is done
    /// before anything changes (invariant 10).
    fn detach(&mut self, key: Key) -> Result<(NodeBox<D, T>, bool)> {
        self.check_owner()?;
        self.lookup(key)?;
        if self.holds() && self.graveyard.len() == self.graveyard.capacity() {
            self.graveyard.try_reserve(1).map_err(|_| out_of_memory())?;
        }
        let index = key.fd() as usize;
        let deleted = sys::epoll_ctl(self.epfd.as_fd(), Ctl::Delete, key.fd(), 0, 0);
        // A refused DEL: the fd was closed (or replaced) behind the subscriber's back. If
        // another fd keeps the file open, the kernel still holds the registration under the
        // old number, and only closing the epoll instance removes it for sure. Room to keep
        // the node in case that cannot be done now:
        if deleted.is_err() && self.retired.len() == self.retired.capacity() {
            self.retired.try_reserve(1).map_err(|_| out_of_memory())?;
        }
        let Some(node) = self.slots[index].take() else {
            return Err(Error::StaleKey(key)); // looked up above: cannot happen
        };
        node.kill();
        self.live -= 1;
        let named = deleted.is_err() && self.rebuild().is_err();
        Ok((node, named))
    }

    /// Gives up a node taken out of the kernel's set: disposed of, or retired if a
    /// registration the reactor cannot name may still report it (`named`).
    fn give_up(&mut self, node: NodeBox<D, T>, named: bool) {
        if !named {
            return self.dispose(node);
        }
        // Room was reserved by `detach`. (Were it not, leaking the node is the sound way
        // out: the kernel may still report it.)
        let Err(node) = grow::push_within(&mut self.retired, node) else {
            // Its value goes now, unless its handler may be running: then when the batch is
            // done. Pushed first, so a panicking destructor leaves it where it belongs.
            if self.holds() {
                self.after |= GRAVE;
            } else if let Some(node) = self.retired.last() {
                node.haunt();
            }
            return;
        };
        debug_assert!(false, "no room reserved for a retired node");
        core::mem::forget(node);
    }

    /// Gives up a node that the kernel no longer reports: recycled now, or, if events of a
    /// batch may still point at it, when that batch is done (room in the graveyard was
    /// reserved beforehand). The one place that decides whether a node may be freed now,
    /// from the registry's own state (invariant 13).
    fn dispose(&mut self, node: NodeBox<D, T>) {
        if self.holds() {
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
    fn rebuild(&mut self) -> core::result::Result<(), Errno> {
        // Room first for every node the rebuild releases, plus the one a refused DEL is
        // detaching: while a batch is open they go to the graveyard.
        if self.holds() && self.graveyard.try_reserve(self.retired.len() + 1).is_err() {
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
        // No kernel entry names a retired node now: give them up (into room reserved above).
        self.failed_rebuilds = 0;
        while let Some(node) = self.retired.pop() {
            self.dispose(node);
        }
        Ok(())
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
        if self.after & GRAVE != 0 {
            self.bury_all();
        }
    }

    /// Also drops the values of nodes retired while the batch was open. If a destructor
    /// panics, the turn is marked [`DIRTY`] on the way out, so the next turn (idle or not)
    /// leaves the fast path and finishes the job.
    #[inline(never)]
    fn bury_all(&mut self) {
        struct Unfinished<'a>(&'a mut ForkGuard);
        impl Drop for Unfinished<'_> {
            fn drop(&mut self) {
                self.0.set(DIRTY); // only while unwinding: forgotten otherwise
            }
        }
        let unfinished = Unfinished(&mut self.guard);
        while let Some(node) = self.graveyard.pop() {
            node.recycle(&mut self.spares);
        }
        if !self.retired.is_empty() {
            for node in &self.retired {
                node.haunt();
            }
        }
        core::mem::forget(unfinished);
        self.after &= !GRAVE;
    }
}
