//! The registry: the epoll set, the nodes by fd number, and the rules for when a node may be
//! freed (the graveyard), when memory is reused (spares), and how a DEL the kernel refuses is
//! recovered (rebuilding the epoll set).

use super::node::{NodeBox, Spares};
use super::table::{FdTable, NoRoom, Reserved};
use crate::error::{Error, Result};
use crate::grow;
use crate::interest::Interest;
use crate::key::Key;
use crate::subscriber::Subscriber;
use crate::sys::{self, AsFd, AsRawFd, Ctl, Errno, ForkGuard, OwnedFd, RawFd};
use crate::threads::{Admit, Threads};
use crate::timer::TimerKey;
use alloc::boxed::Box;
use alloc::vec::Vec;

/// A registered subscriber's place in the slot table: its node (one word: the table costs a
/// pointer per number). What it owns besides, if anything, is in the registry's `owned`.
type Slot<D, T> = NodeBox<D, T>;

static_assertions::assert_eq_size!(Option<Slot<(), crate::threads::Local>>, usize);

/// What a subscriber owns besides its node: the records of its further registrations (each a
/// node of its own, whose data word the kernel reports) and the keys of its own timers,
/// cancelled when it goes.
pub(crate) struct Extras<D, T: 'static> {
    regs: Vec<NodeBox<D, T>>,
    timers: Vec<TimerKey>,
}

/// What a deleted subscriber owned besides its node (its records are given up already): the
/// caller cancels its timers.
pub(crate) type Owned<D, T> = Option<Box<Extras<D, T>>>;

impl<D, T> Extras<D, T> {
    /// The keys of the owner's timers (some may have fired or been cancelled since).
    pub(crate) fn timers(&self) -> &[TimerKey] {
        &self.timers
    }
}

/// The epoll set and its registrations: everything `Ops` may change.
///
/// Field order matters: the epoll fd closes first on drop, so no kernel entry outlives the
/// nodes, which are freed after it.
pub(crate) struct Registry<D, T: 'static> {
    /// The registrars' desk, once one was made ([`REGISTRAR`]): first, so its drop tells the
    /// registrars the reactor is gone (and frees the nodes they left) before the epoll fd
    /// closes.
    #[cfg(feature = "std")]
    pub(super) reception: Option<super::registrar::Reception<D, T>>,
    pub(super) epfd: OwnedFd,
    /// Live nodes by their registered fd number; never read on the dispatch path.
    pub(super) slots: FdTable<Slot<D, T>>,
    /// What subscribers own besides their node (records, timers), by the same fd number:
    /// empty until a subscriber owns something.
    owned: FdTable<Box<Extras<D, T>>>,
    /// [`detach_owner`](Self::detach_owner), from the first subscriber that owns records or
    /// timers on: named only there, so a program whose subscribers own nothing links none of
    /// it.
    detach_owner: Option<Detach<D, T>>,
    /// The numbers live records (further registrations) hold: like a node's, a record's
    /// number is its own until it goes, since its DEL names it whatever file it names by then
    /// (invariant 7); nothing else registers under it meanwhile.
    pub(super) held: FdTable<()>,
    /// Nodes deleted while a batch is open; recycled when it is done.
    pub(super) graveyard: Vec<NodeBox<D, T>>,
    /// Retired nodes: their DEL was refused and no epoll set could be made without them yet
    /// (out of descriptors or memory), so a registration the reactor cannot name may still
    /// report them. Their values are dropped at once (when the batch is done, if one is open);
    /// their memory waits for a rebuild, tried again whenever one of them reports.
    pub(super) retired: Vec<NodeBox<D, T>>,
    /// How many of the retired nodes, the first ones, are released: a rebuild left no kernel
    /// entry naming them, so they may be given up
    /// ([`dispose_released`](Registry::dispose_released)), which a delete that asked for the
    /// rebuild does once the rest of it is done, and the next turn does otherwise (the rebuild
    /// sets [`DIRTY`], so that turn leaves the fast path). A node retired after the rebuild
    /// (the kernel may report it) goes after them and is not counted.
    released: usize,
    spares: Spares,
    pub(super) live: usize,
    /// Live nodes of the reactor's own (the timers' alarm, the remote's queue), not counted
    /// by `len`.
    internal: usize,
    /// The keys of those nodes (the alarm, the remote's queue, the executor's wake): never
    /// handed out by number.
    internal_keys: [Option<Key>; 4],
    /// Rebuilds that failed in a row since a ghost reported: the turn backs off for
    /// `2^failed` ms (at most 64) before it waits again.
    failed_rebuilds: u32,
    /// Rebuilds of the epoll set so far (for an observer).
    pub(crate) rebuilds: u32,
    /// The fork guard, and the flags a turn checks with it before it waits: [`DIRTY`],
    /// [`TIMERS`], [`REMOTE`], [`STOP`], [`REGISTRAR`] and the others.
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
    /// The first error a handler or callback reported ([`FAILED`]), for the turn to return.
    failure: Option<Error>,
    /// The executor of the reactor's tasks, once one was spawned ([`TASKS`]); only ever set
    /// in a `Local` reactor. Dropped after the nodes: its drop cancels the tasks left.
    #[cfg(feature = "tasks")]
    pub(crate) tasks: Option<super::inbox::Tasks>,
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
/// The reactor has an executor: every turn polls its ready tasks after its events.
#[cfg(feature = "tasks")]
pub(crate) const TASKS: u8 = 16;
/// An observer watches every turn: none takes the fast path.
pub(crate) const OBSERVED: u8 = 32;
/// Callbacks wait for the end of a turn (`Ops::defer`): the next turn runs them, and does
/// not block in its wait first.
pub(crate) const DEFERRED: u8 = 64;
/// Registrars may have left nodes in the reactor's inbox: every turn leaves the fast path and
/// takes them in after its wait, before it dispatches (see `thin::registrar`).
#[cfg(feature = "std")]
pub(crate) const REGISTRAR: u8 = 128;

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
/// A handler or timer callback reported an error (`Ops::fail`): the turn returns it once the
/// batch is done.
pub(crate) const FAILED: u8 = 16;
/// After a batch: callbacks were deferred to the end of the turn; they run now.
pub(crate) const DEFER: u8 = 32;

/// What [`Registry::hold`] found: the [`OPEN`] and [`GRAVE`] flags before it.
#[must_use]
pub(super) struct Held(u8);

fn out_of_memory() -> Error {
    Error::Os(Errno::ENOMEM)
}

/// No room for `fd`'s number in a table: taken (by a subscriber or a record), or no memory.
/// Inlined: as a call it made the static servers larger.
#[inline(always)]
fn no_room(e: NoRoom, fd: RawFd) -> Error {
    match e {
        NoRoom::Taken => Error::AlreadyRegistered(fd),
        NoRoom::OutOfMemory => out_of_memory(),
    }
}

/// How a subscriber that owns records or timers is taken out: its node, whether a
/// registration the reactor cannot name may still report it, and what it owned.
type Detach<D, T> = fn(&mut Registry<D, T>, Key) -> Result<(NodeBox<D, T>, bool, Owned<D, T>)>;

/// The records of the subscriber registered under `index`, if it has any.
fn regs_in<D, T>(owned: &FdTable<Box<Extras<D, T>>>, index: usize) -> &[NodeBox<D, T>] {
    match owned.get(index) {
        Some(extras) => &extras.regs,
        None => &[],
    }
}

/// An `EPOLL_CTL_ADD` the kernel refused: `EEXIST` means the number is registered already.
pub(super) fn refused(e: Errno, fd: RawFd) -> Error {
    match e {
        Errno::EEXIST => Error::AlreadyRegistered(fd),
        e => Error::Os(e),
    }
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
            #[cfg(feature = "std")]
            reception: None,
            epfd: sys::epoll_create1()?,
            slots: FdTable::new(),
            owned: FdTable::new(),
            detach_owner: None,
            held: FdTable::new(),
            graveyard: Vec::new(),
            retired: Vec::new(),
            released: 0,
            spares: Spares::new(),
            live: 0,
            internal: 0,
            internal_keys: [None; 4],
            failed_rebuilds: 0,
            rebuilds: 0,
            after: 0,
            skipped: 0,
            backoff: 0,
            failure: None,
            #[cfg(feature = "tasks")]
            tasks: None,
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

    /// A handler or callback failed: the first error is kept for the turn to return once the
    /// batch is done, and `run` is asked to stop.
    pub(crate) fn fail(&mut self, error: Error) {
        if self.failure.is_none() {
            self.failure = Some(error);
        }
        self.after |= FAILED;
        self.guard.set(STOP);
    }

    /// Callbacks wait for the end of the turn ([`DEFER`] after a batch, [`DEFERRED`] for
    /// the turn that has none).
    pub(crate) fn defer(&mut self) {
        self.after |= DEFER;
        self.guard.set(DEFERRED);
    }

    /// Whether callbacks wait for the end of the turn; clears the marks ([`defer`] sets
    /// them again for what is left).
    ///
    /// [`defer`]: Self::defer
    pub(crate) fn take_defer(&mut self) -> bool {
        let deferred = self.after & DEFER != 0 || self.guard.flags() & DEFERRED != 0;
        self.after &= !DEFER;
        self.guard.clear(DEFERRED);
        deferred
    }

    /// Takes the error a handler or callback reported, if any ([`FAILED`]).
    pub(crate) fn take_failure(&mut self) -> Option<Error> {
        self.after &= !FAILED;
        self.failure.take()
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

    /// Holds the registry open while a value is used off the dispatch path (an `init`, an
    /// owned timer's event): a node deleted meanwhile is only buried by [`release`]. Returns
    /// what `release` needs: whether it was held already, and whether the graveyard held
    /// nodes already (left by a destructor that panicked: they wait for the next turn).
    ///
    /// [`release`]: Self::release
    pub(super) fn hold(&mut self) -> Held {
        let held = Held(self.after & (OPEN | GRAVE));
        self.after |= OPEN;
        held
    }

    /// Ends a [`hold`](Self::hold): if it was not held before, what was deleted meanwhile is
    /// buried now (no batch is open, no value is in use), unless the graveyard held nodes
    /// before, which the next turn buries with the rest, as it would have.
    pub(super) fn release(&mut self, held: Held) {
        if held.0 & OPEN == 0 {
            self.after &= !OPEN;
            if held.0 & GRAVE == 0 {
                self.bury();
            }
        }
    }

    /// Whether events of a batch may still point at any node.
    #[inline]
    pub(super) fn holds(&self) -> bool {
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
        if self.retired.is_empty() || self.check_owner().is_err() {
            return;
        }
        if self.rebuild(0).is_ok() {
            return self.dispose_released();
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

    /// Only a `Sendable` reactor can have registrars: for a `Local` one, whatever serves them is
    /// behind this constant `false`, and is not linked into its program.
    #[cfg(feature = "std")]
    pub(crate) const MAY_HAVE_REGISTRARS: bool =
        cfg!(feature = "std") && !<T as crate::threads::sealed::Sealed>::STAYS;

    /// Whether a registrar was made ([`REGISTRAR`]).
    #[cfg(feature = "std")]
    #[inline(always)]
    pub(crate) fn registrars(&self) -> bool {
        Self::MAY_HAVE_REGISTRARS && self.guard.flags() & REGISTRAR != 0
    }

    /// Takes in the nodes registrars made, if any wait (see `thin::registrar`): before any
    /// operation that looks a key up, so a registrar's key works here at once. A flag test
    /// for a reactor that never made a registrar.
    #[inline(always)]
    pub(crate) fn take_in(&mut self) {
        #[cfg(feature = "std")]
        if self.registrars() {
            self.take_in_arrived();
        }
    }

    /// `EPOLL_CTL_DEL` of the number `fd`, captured at registration (invariant 7). With
    /// registrars, under their lock and after taking in what they added, so none can add
    /// a new file under a number closed behind its subscriber's back between the two: the DEL
    /// would remove that registration instead of the subscriber's own, and succeed.
    #[inline(always)]
    fn delete_entry(&mut self, fd: RawFd) -> core::result::Result<(), Errno> {
        #[cfg(feature = "std")]
        if self.registrars() {
            return self.delete_entry_taking_in(fd);
        }
        sys::epoll_ctl(self.epfd.as_fd(), Ctl::Delete, fd, 0, 0)
    }

    /// [`take_in`](Self::take_in) before a delete: places what registrars added, and leaves
    /// what cannot be placed for the `take_in` after it. (A node whose number is the one being
    /// deleted, reused behind its subscriber's back, takes that number once it is free.)
    #[inline(always)]
    fn place_arrived(&mut self) {
        #[cfg(feature = "std")]
        if self.registrars() {
            self.place_arrived_locked();
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
    #[cfg(any(feature = "alarm", feature = "std", feature = "tasks"))]
    pub(crate) fn insert_internal<S>(&mut self, value: S, interest: Interest) -> Result<Key>
    where
        S: Subscriber<D, T> + Send,
    {
        let key = self.insert_any(value, interest)?;
        self.internal += 1;
        if let Some(free) = self.internal_keys.iter_mut().find(|k| k.is_none()) {
            *free = Some(key);
        }
        Ok(key)
    }

    /// Registers a task's I/O source (see `task::io`): counted by `len` like any subscriber,
    /// but admitted whatever its thread mode, since only a `Local` reactor has tasks (the
    /// executor is made for a `Registry<D, Local>` only, and only it hands these in).
    #[cfg(feature = "tasks")]
    pub(crate) fn insert_task_io<S>(&mut self, value: S, interest: Interest) -> Result<Key>
    where
        S: Subscriber<D, T>,
    {
        debug_assert!(self.tasks.is_some());
        self.insert_any(value, interest)
    }

    /// Registers `value`. The checks and room before the node's making, and the kernel's
    /// registration after it, are functions of their own, inlined: called, they cost an add
    /// and delete pair 41 instructions (374 against 333), which outweighs the 512 bytes a
    /// program registering three subscriber types saves with one copy of them.
    fn insert_any<S>(&mut self, value: S, interest: Interest) -> Result<Key>
    where
        S: Subscriber<D, T>,
    {
        let (index, reserved) = self.room_for(value.as_fd().as_raw_fd())?;
        let key = Key::fresh(index as RawFd);
        let Some((node, was_spare)) = NodeBox::new(value, key, interest, &mut self.spares) else {
            self.slots.unreserve(index, reserved);
            return Err(out_of_memory());
        };
        self.add_node(node, was_spare, index, reserved, interest)
    }

    /// Before a registration of `fd`: the reactor is its owner's, the number is free, and the
    /// slot table has room for it.
    #[inline(always)]
    fn room_for(&mut self, fd: RawFd) -> Result<(usize, Reserved)> {
        self.check_owner()?;
        // A valid `BorrowedFd` is never negative; refuse one anyway rather than index with it.
        let Ok(index) = usize::try_from(fd) else {
            return Err(Error::Os(Errno::EBADF));
        };
        if self.held.get(index).is_some() {
            // A live record's number, though its fd may have been closed behind its back.
            return Err(Error::AlreadyRegistered(fd));
        }
        // Room in the slot table first, so nothing can fail after the kernel took the
        // registration; a refused registration gives the pages it made back by freeing them.
        match self.slots.reserve(index) {
            Ok(reserved) => Ok((index, reserved)),
            Err(e) => Err(no_room(e, fd)),
        }
    }

    /// Hands a new node to the kernel and puts it in its reserved slot.
    #[inline(always)]
    fn add_node(
        &mut self,
        node: NodeBox<D, T>,
        was_spare: bool,
        index: usize,
        reserved: Reserved,
        interest: Interest,
    ) -> Result<Key> {
        #[cfg(feature = "std")]
        let mut reserved = reserved; // remade after a rebuild (below)
        let fd = index as RawFd;
        let key = node.header().key();
        let (epfd, bits) = (self.epfd.as_fd(), interest.bits());
        let mut added = sys::epoll_ctl(epfd, Ctl::Add, fd, bits, node.data());
        if added == Err(Errno::EEXIST) && !self.retired.is_empty() {
            // A ghost holds this very file under this number (it was closed behind its
            // subscriber's back and put back): a set rebuilt without the ghosts takes it.
            // With std, the rebuild takes in what registrars left, placing it in the slot
            // table (a larger flat array, a page), which would invalidate this registration's
            // room: the room is given back first and made again after.
            #[cfg(feature = "std")]
            self.slots.unreserve(index, reserved);
            let rebuilt = self.rebuild(0);
            #[cfg(feature = "std")]
            {
                reserved = match self.slots.reserve(index) {
                    Ok(reserved) => reserved,
                    Err(e) => {
                        // The kernel never saw the node, so dropping it here is sound.
                        node.discard(&mut self.spares, was_spare);
                        return Err(no_room(e, fd));
                    }
                };
            }
            if rebuilt.is_ok() {
                added = sys::epoll_ctl(self.epfd.as_fd(), Ctl::Add, fd, bits, node.data());
            }
        }
        if let Err(e) = added {
            // The kernel never saw the node, so dropping it here is sound.
            node.discard(&mut self.spares, was_spare);
            self.slots.unreserve(index, reserved);
            return Err(refused(e, fd));
        }
        if let Err(node) = self.slots.place(index, node, reserved) {
            // Room was made and the slot is empty (checked above): cannot happen. The kernel
            // may report the node: leaking it is the sound way out.
            core::mem::forget(node);
        }
        self.live += 1;
        Ok(key)
    }

    /// The live node of `key`.
    pub(super) fn lookup(&self, key: Key) -> Result<&NodeBox<D, T>> {
        match self.slots.get(key.fd() as usize) {
            Some(node) if node.header().key() == key && node.is_live() => Ok(node),
            _ => Err(Error::StaleKey(key)),
        }
    }

    /// What the live subscriber of `key` owns besides its node, made empty if it owned
    /// nothing yet (room in `owned` reserved first: out of memory changes nothing).
    fn extras_mut(&mut self, key: Key) -> Result<&mut Extras<D, T>> {
        self.lookup(key)?;
        let index = key.fd() as usize;
        if self.owned.get(index).is_none() {
            let Ok(room) = self.owned.reserve(index) else {
                return Err(out_of_memory()); // empty (checked above): out of memory
            };
            let extras = Extras {
                regs: Vec::new(),
                timers: Vec::new(),
            };
            let Ok(extras) = super::try_box(extras) else {
                self.owned.unreserve(index, room);
                return Err(out_of_memory());
            };
            if self.owned.place(index, extras, room).is_err() {
                return Err(out_of_memory()); // room made above: cannot happen
            }
            self.detach_owner = Some(Self::detach_owner);
        }
        match self.owned.entry(index) {
            Some(Some(extras)) => Ok(extras),
            _ => Err(out_of_memory()), // made above: cannot happen
        }
    }

    /// The record of `key`'s registration tagged `tag`.
    fn record(&self, key: Key, tag: u32) -> Result<&NodeBox<D, T>> {
        self.lookup(key)?;
        regs_in(&self.owned, key.fd() as usize)
            .iter()
            .find(|r| r.tag() == tag)
            .ok_or(Error::Invalid("no registration has this tag"))
    }

    /// Registers `fd` for the subscriber of `key` too: its events reach the subscriber's
    /// handler tagged `tag` (unique per subscriber, not 0, which is the subscriber's own fd).
    /// As for [`insert`](Self::insert), `fd` is read once, here, and nothing reaches the
    /// kernel unless the record could be made and kept (invariants 7, 10).
    pub(crate) fn add_fd(
        &mut self,
        key: Key,
        fd: RawFd,
        tag: u32,
        interest: Interest,
    ) -> Result<()> {
        self.check_owner()?;
        self.take_in();
        if tag == 0 {
            return Err(Error::Invalid("tag 0 is the subscriber's own fd"));
        }
        if fd < 0 {
            return Err(Error::Os(Errno::EBADF));
        }
        if self.record(key, tag).is_ok() {
            return Err(Error::Invalid(
                "a registration of this subscriber has this tag",
            ));
        }
        self.lookup(key)?;
        let index = fd as usize;
        if self.slots.get(index).is_some() {
            // A live subscriber's own number, though its fd may have been closed behind its
            // back: its DEL will name this number (invariant 7) and would remove this
            // registration instead of its own.
            return Err(Error::AlreadyRegistered(fd));
        }
        let held = match self.held.reserve(index) {
            Ok(held) => held,
            Err(e) => return Err(no_room(e, fd)), // taken: by a record
        };
        match self.add_record(key, fd, tag, interest) {
            Ok(()) => {
                // Within the room reserved above: cannot fail.
                let _ = self.held.place(index, (), held);
                Ok(())
            }
            Err(e) => {
                self.held.unreserve(index, held);
                Err(e)
            }
        }
    }

    /// [`add_fd`](Self::add_fd) once its number is checked and held.
    fn add_record(&mut self, key: Key, fd: RawFd, tag: u32, interest: Interest) -> Result<()> {
        let extras = self.extras_mut(key)?;
        extras.regs.try_reserve(1).map_err(|_| out_of_memory())?;
        let Some(owner) = self.slots.get(key.fd() as usize) else {
            return Err(Error::StaleKey(key)); // looked up above: cannot happen
        };
        let made = NodeBox::record(owner, fd, tag, interest, &mut self.spares);
        let Some((record, was_spare)) = made else {
            return Err(out_of_memory());
        };
        let bits = interest.bits();
        let mut added = sys::epoll_ctl(self.epfd.as_fd(), Ctl::Add, fd, bits, record.data());
        if added == Err(Errno::EEXIST) && !self.retired.is_empty() && self.rebuild(0).is_ok() {
            added = sys::epoll_ctl(self.epfd.as_fd(), Ctl::Add, fd, bits, record.data());
        }
        if let Err(e) = added {
            // The kernel never saw the record, so dropping it here is sound.
            record.discard(&mut self.spares, was_spare);
            return Err(refused(e, fd));
        }
        match self.owned.entry(key.fd() as usize) {
            Some(Some(extras)) => {
                if let Err(record) = grow::push_within(&mut extras.regs, record) {
                    debug_assert!(false, "no room reserved for a record");
                    core::mem::forget(record); // the kernel may report it: leaking is sound
                }
            }
            // Made above: cannot happen. The kernel may report it: leaking is sound.
            _ => core::mem::forget(record),
        }
        Ok(())
    }

    /// A record that held number `fd` is gone: the number is anyone's.
    fn release_number(&mut self, fd: RawFd) {
        if fd >= 0 {
            self.held.take(fd as usize);
        }
    }

    /// Changes the interest of `key`'s registration tagged `tag`.
    pub(crate) fn modify_fd(&mut self, key: Key, tag: u32, interest: Interest) -> Result<()> {
        self.check_owner()?;
        self.take_in();
        let record = self.record(key, tag)?;
        let (epfd, bits) = (self.epfd.as_fd(), interest.bits());
        let fd = record.header().key().fd();
        sys::epoll_ctl(epfd, Ctl::Modify, fd, bits, record.data())?;
        record.header().set_interest(interest);
        Ok(())
    }

    /// Removes `key`'s registration tagged `tag`: dead at once, freed when no event can point
    /// at it, like a deleted subscriber's node.
    pub(crate) fn remove_fd(&mut self, key: Key, tag: u32) -> Result<()> {
        self.check_owner()?;
        self.place_arrived();
        let removed = self.remove_placed_fd(key, tag);
        self.take_in(); // what could not be placed is given up once the delete is done
        removed
    }

    /// [`remove_fd`](Self::remove_fd) once what registrars added was placed.
    fn remove_placed_fd(&mut self, key: Key, tag: u32) -> Result<()> {
        let record = self.record(key, tag)?;
        let fd = record.header().key().fd();
        if self.holds() && self.graveyard.len() == self.graveyard.capacity() {
            self.graveyard.try_reserve(1).map_err(|_| out_of_memory())?;
        }
        let deleted = self.delete_entry(fd);
        if deleted.is_err() && self.retired.len() == self.retired.capacity() {
            self.retired.try_reserve(1).map_err(|_| out_of_memory())?;
        }
        let Some(Some(extras)) = self.owned.entry(key.fd() as usize) else {
            return Err(Error::StaleKey(key)); // looked up above: cannot happen
        };
        let regs = &mut extras.regs;
        let Some(at) = regs.iter().position(|r| r.tag() == tag) else {
            return Err(Error::StaleKey(key)); // looked up above: cannot happen
        };
        let record = regs.swap_remove(at);
        record.kill();
        self.release_number(fd);
        let named = deleted.is_err() && self.rebuild(1).is_err();
        self.give_up(record, named);
        self.dispose_released();
        Ok(())
    }

    /// Adds `timer` to the timers `key`'s subscriber owns (cancelled when it goes). Keys
    /// of timers no longer armed (`armed` says) are dropped from the list first when it is
    /// full, so it stays as long as the owner's armed timers, give or take doubling.
    pub(crate) fn own_timer(
        &mut self,
        key: Key,
        timer: TimerKey,
        armed: impl Fn(TimerKey) -> bool,
    ) -> Result<()> {
        self.take_in();
        let extras = self.extras_mut(key)?;
        if extras.timers.len() == extras.timers.capacity() {
            extras.timers.retain(|&t| armed(t));
            extras.timers.try_reserve(1).map_err(|_| out_of_memory())?;
        }
        let _ = grow::push_within(&mut extras.timers, timer); // within the room reserved
        Ok(())
    }

    /// The key of the live subscriber registered with number `fd` (not the reactor's own).
    pub(crate) fn key_of(&self, fd: RawFd) -> Option<Key> {
        let node = self.slots.get(usize::try_from(fd).ok()?)?;
        let key = node.header().key();
        (node.is_live() && !self.internal_keys.contains(&Some(key))).then_some(key)
    }

    /// The keys of every live subscriber (not the reactor's own), by fd number.
    pub(crate) fn keys(&self) -> impl Iterator<Item = Key> + '_ {
        self.slots
            .iter()
            .filter(|(_, node)| node.is_live())
            .map(|(_, node)| node.header().key())
            .filter(|key| !self.internal_keys.contains(&Some(*key)))
    }

    pub(crate) fn interest(&self, key: Key) -> Result<Interest> {
        Ok(self.lookup(key)?.header().interest())
    }

    pub(crate) fn modify(&mut self, key: Key, interest: Interest) -> Result<()> {
        self.check_owner()?;
        self.take_in();
        let node = self.lookup(key)?;
        let (epfd, bits) = (self.epfd.as_fd(), interest.bits());
        sys::epoll_ctl(epfd, Ctl::Modify, key.fd(), bits, node.data())?;
        node.header().set_interest(interest);
        Ok(())
    }

    /// Deletes the subscriber of `key` and its further registrations: dead at once; its value
    /// dropped at once, or when the batch is done if one is open (its handler may be running).
    /// What it owned besides goes to `owned` (for the caller to cancel its timers) before its
    /// value can be dropped, so a panicking destructor cannot leave them armed.
    pub(crate) fn remove(&mut self, key: Key, owned: impl FnOnce(Owned<D, T>)) -> Result<()> {
        #[cfg(feature = "std")]
        let registrars = self.registrars();
        #[cfg(feature = "std")]
        if registrars {
            self.place_arrived_locked();
        }
        let removed = self.detach(key).map(|(node, named, extras)| {
            owned(extras);
            self.give_up(node, named);
            // Last: a destructor that panics here skips nothing of the delete.
            self.dispose_released();
        });
        // What could not be placed is given up once the delete is done.
        #[cfg(feature = "std")]
        if registrars {
            self.take_in_arrived();
        }
        removed
    }

    /// Deletes the subscriber of `key` and moves it out. Outside dispatch only (no handler
    /// runs), though a batch remainder may still point at its node. The retired nodes a
    /// rebuild of it released are left to the next turn (or the next delete): the caller
    /// cancels the taken subscriber's timers after this returns, which a retired value's
    /// destructor that panicked here would skip.
    pub(crate) fn take<S: Subscriber<D, T>>(&mut self, key: Key) -> Result<(S, Owned<D, T>)> {
        self.place_arrived();
        let taken = self.take_placed(key);
        self.take_in(); // what could not be placed is given up once the delete is done
        taken
    }

    /// [`take`](Self::take) once what registrars added was placed.
    fn take_placed<S: Subscriber<D, T>>(&mut self, key: Key) -> Result<(S, Owned<D, T>)> {
        if !self.lookup(key)?.is::<S>() {
            return Err(Error::WrongType(key));
        }
        let (node, named, extras) = self.detach(key)?;
        // SAFETY: the node holds an `S` (checked above); nothing uses its value: outside
        // dispatch no handler runs, and from a handler (`owners::take`) the running
        // subscriber and every borrowed one are refused before this is called.
        let value = unsafe { node.take_value::<S>() };
        self.give_up(node, named); // the emptied memory stays while events may point at it
        Ok((value, extras))
    }

    /// Takes the live node of `key` out of its slot and out of the kernel's set, marked dead,
    /// with its records (each DELed and given up here); with whether a registration the reactor
    /// cannot name may still report the node (its DEL was refused and the epoll set could not
    /// be rebuilt). Everything that can fail is done before anything changes (invariant 10).
    #[allow(clippy::type_complexity)] // the node, whether it is named, what it owned
    #[inline]
    fn detach(&mut self, key: Key) -> Result<(NodeBox<D, T>, bool, Owned<D, T>)> {
        self.check_owner()?;
        self.lookup(key)?;
        if let Some(detach_owner) = self.detach_owner {
            if !self.owned.is_empty() && self.owned.get(key.fd() as usize).is_some() {
                return detach_owner(self, key);
            }
        }
        // A subscriber with its own fd only: one DEL, no records, nothing it owned.
        if self.holds() && self.graveyard.len() == self.graveyard.capacity() {
            self.graveyard.try_reserve(1).map_err(|_| out_of_memory())?;
        }
        let deleted = self.delete_entry(key.fd());
        // A refused DEL: as in `detach_owner`, room to keep the node in case no epoll set can
        // be made without it now.
        if deleted.is_err() && self.retired.len() == self.retired.capacity() {
            self.retired.try_reserve(1).map_err(|_| out_of_memory())?;
        }
        let Some(node) = self.slots.take(key.fd() as usize) else {
            return Err(Error::StaleKey(key)); // looked up above: cannot happen
        };
        node.kill();
        self.live -= 1;
        let named = deleted.is_err() && self.rebuild(1).is_err();
        Ok((node, named, None))
    }

    /// [`detach`](Self::detach) for a subscriber that owns records or timers.
    #[allow(clippy::type_complexity)] // the node, whether it is named, what it owned
    #[inline(never)]
    fn detach_owner(&mut self, key: Key) -> Result<(NodeBox<D, T>, bool, Owned<D, T>)> {
        self.lookup(key)?;
        let index = key.fd() as usize;
        let n = regs_in(&self.owned, index).len();
        if self.holds() && self.graveyard.capacity() - self.graveyard.len() < n + 1 {
            self.graveyard
                .try_reserve(n + 1)
                .map_err(|_| out_of_memory())?;
        }
        if n != 0 {
            // Any of its DELs may be refused: room to retire every one.
            self.retired
                .try_reserve(n + 1)
                .map_err(|_| out_of_memory())?;
        }
        let deleted = self.delete_entry(key.fd());
        // A refused DEL: the fd was closed (or replaced) behind the subscriber's back. If
        // another fd keeps the file open, the kernel still holds the registration under the
        // old number, and only closing the epoll instance removes it for sure. Room to keep
        // the node in case that cannot be done now:
        if deleted.is_err() && self.retired.len() == self.retired.capacity() {
            self.retired.try_reserve(1).map_err(|_| out_of_memory())?;
        }
        let Some(node) = self.slots.take(index) else {
            return Err(Error::StaleKey(key)); // looked up above: cannot happen
        };
        let mut extras = self.owned.take(index);
        node.kill();
        self.live -= 1;
        let mut refused = usize::from(deleted.is_err());
        let mut kept = 0;
        if let Some(extras) = extras.as_mut() {
            // Records die with their owner (so a live record's owner is live). Those whose DEL
            // the kernel refused are kept first, the rest given up.
            for at in 0..extras.regs.len() {
                let record = &extras.regs[at];
                record.kill();
                let fd = record.header().key().fd();
                // Released after the DEL: until then no registrar's node takes the number.
                let deleted = self.delete_entry(fd);
                self.release_number(fd);
                if deleted.is_err() {
                    extras.regs.swap(kept, at);
                    kept += 1;
                }
            }
            refused += kept;
            for record in extras.regs.drain(kept..) {
                self.dispose(record);
            }
        }
        // The rebuild makes room for what it releases and for what is given up after it: the
        // kept records and the owner's node, whose own DEL may have worked.
        let named = refused != 0 && self.rebuild(kept + 1).is_err();
        if let Some(extras) = extras.as_mut() {
            for record in extras.regs.drain(..) {
                self.give_up(record, named);
            }
        }
        Ok((node, deleted.is_err() && named, extras))
    }

    /// Gives up a node taken out of the kernel's set: disposed of, or retired if a
    /// registration the reactor cannot name may still report it (`named`).
    #[inline]
    pub(super) fn give_up(&mut self, node: NodeBox<D, T>, named: bool) {
        if !named {
            return self.dispose(node);
        }
        self.retire(node);
    }

    /// Keeps a node that a registration the reactor cannot name may still report.
    #[cold]
    #[inline(never)]
    pub(super) fn retire(&mut self, node: NodeBox<D, T>) {
        // Room was reserved by `detach`. (Were it not, leaking the node is the sound way out:
        // the kernel may still report it.) Pushed after the released nodes, so not one of them.
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
    #[inline]
    pub(super) fn dispose(&mut self, node: NodeBox<D, T>) {
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
    fn rebuild(&mut self, detaching: usize) -> core::result::Result<(), Errno> {
        #[cfg(feature = "std")]
        if Self::MAY_HAVE_REGISTRARS && self.reception.is_some() {
            return self.rebuild_with_registrars(detaching);
        }
        self.rebuild_set(detaching)
    }

    /// Gives up the retired nodes a rebuild left no kernel entry naming (the first `released`
    /// of them). Their values may drop here, so the operation that asked for the rebuild calls
    /// this last, once what it owes the node it took out is done (its timers cancelled, its
    /// records given up), and with registrars once their lock is released. A destructor that
    /// panics here leaves the others retired and released, for the next call.
    pub(crate) fn dispose_released(&mut self) {
        if self.released == 0 {
            return;
        }
        self.dispose_retired();
    }

    /// While a batch is open they go to the graveyard, into the room the rebuild reserved
    /// there. Nodes given up after the rebuild may have taken some of it (a later delete of
    /// the same handler), or the rebuild ran outside the batch and reserved none: those that
    /// find no room stay retired and released, for the next call or at the latest the next
    /// turn (the rebuild sent it off the fast path), which gives them up outside any batch.
    /// Nothing is allocated here.
    #[cold]
    #[inline(never)]
    fn dispose_retired(&mut self) {
        while self.released != 0
            && (!self.holds() || self.graveyard.len() < self.graveyard.capacity())
        {
            self.released -= 1;
            if self.released >= self.retired.len() {
                continue; // only `retire` adds, only this takes away: cannot happen
            }
            // The last released node; the last retired (released or not) takes its place,
            // and the released ones stay the first `released`.
            let node = self.retired.swap_remove(self.released);
            self.dispose(node);
        }
    }

    /// [`rebuild`](Self::rebuild) itself (with registrars, under their lock), but for giving
    /// up the retired nodes ([`dispose_released`](Self::dispose_released)): nothing here runs
    /// a subscriber's code or can panic once the new set has replaced the old.
    pub(super) fn rebuild_set(&mut self, detaching: usize) -> core::result::Result<(), Errno> {
        // Room first for every node the rebuild releases, plus the `detaching` ones refused
        // DELs are detaching: while a batch is open they go to the graveyard.
        let room = self.retired.len() + detaching;
        if self.holds() && self.graveyard.try_reserve(room).is_err() {
            return Err(Errno::ENOMEM);
        }
        let fresh = sys::epoll_create1()?;
        let owned = &self.owned;
        self.slots.try_each(|index, owner| {
            if !owner.is_live() {
                return Ok(());
            }
            // Every registration, with its own data word: the node's, then its records'.
            for node in core::iter::once(owner).chain(regs_in(owned, index)) {
                let header = node.header();
                let (fd, bits) = (header.key().fd(), header.interest().bits());
                // Other errors: this fd, too, was closed or replaced behind the reactor's back.
                let added = sys::epoll_ctl(fresh.as_fd(), Ctl::Add, fd, bits, node.data());
                if let Err(e @ (Errno::ENOMEM | Errno::ENOSPC)) = added {
                    return Err(e);
                }
            }
            Ok(())
        })?;
        // The old instance closes here. Keeping its number means the reactor's descriptor
        // does not move, and the number the new instance got is free again at once.
        if sys::replace(&mut self.epfd, fresh.as_fd()).is_err() {
            self.epfd = fresh;
        }
        // No kernel entry names a retired node now: the caller gives them up (into room
        // reserved above).
        if !self.retired.is_empty() {
            self.released = self.retired.len();
            self.guard.set(DIRTY);
        }
        self.failed_rebuilds = 0;
        self.rebuilds = self.rebuilds.wrapping_add(1);
        Ok(())
    }

    /// The live node of `key`, checked to hold an `S`.
    pub(super) fn typed<S: Subscriber<D, T>>(&self, key: Key) -> Result<&NodeBox<D, T>> {
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
        self.take_in();
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
