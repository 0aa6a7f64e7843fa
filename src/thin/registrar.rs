//! The registrars' desk (feature `std`): threads other than a `Sendable` reactor's register
//! subscribers into its epoll set directly, and the reactor takes their nodes in. It owns the
//! inbox of nodes in flight and the rules for handing them over; it never frees a node the
//! kernel may report, and never runs a subscriber's code under its lock.
//!
//! A registrar makes the node on its own thread, in fresh memory (the reactor's spare memory
//! is the reactor's), then, under the desk's lock: refuses if the reactor is gone, reserves
//! room in the inbox (out of memory before the kernel is told), pushes the node, and only then
//! `EPOLL_CTL_ADD`s it with the node's address as the data word. So an event a wait returns
//! for the node comes from an ADD that followed the push: the node is in the inbox or already
//! in the reactor's slots, and allocated (invariant 1). If the kernel refuses, the node is
//! popped back (still under the lock, so the reactor cannot have taken it; the kernel has no
//! entry that names it) and dropped once the lock is let go.
//!
//! The reactor takes the inbox in after every wait, before it dispatches that wait's events
//! (a reactor with a registrar leaves the fast path: [`REGISTRAR`]), and before any operation
//! that looks a key up ([`Registry::take_in`]), so a registrar's key works there at once. A
//! node it cannot place in its slot table (no memory to grow it; or its number is a live
//! subscriber's, whose fd was closed and the number reused behind its back) is taken out of
//! the kernel's set again (DEL), killed and disposed of like a deleted node (the graveyard's
//! rules), and the turn returns the error (`AlreadyRegistered` or `ENOMEM`), as a handler's
//! `Ops::fail` would make it.
//!
//! A rebuild of the epoll set (after a refused DEL) runs under the desk's lock: it takes the
//! inbox in first, rebuilds, then publishes its epoll fd's number, so no registrar adds to a
//! closed set and no node of the inbox is left out. The reactor's drop marks the desk closed
//! under the lock before its epoll fd closes (a registrar never adds to a closed, perhaps
//! reused, number), then drops what the inbox still holds.
//!
//! A desk has a fork guard of its own, checked before the lock and so before every ADD: a
//! registrar copied into a `fork()`ed child refuses (invariant 9), rather than add a pointer
//! into the child's heap to the epoll set it shares with its parent.

use super::node::NodeBox;
use super::registry::{refused, Registry, OPEN, REGISTRAR};
use super::SharedBox;
use crate::error::{Error, Result};
use crate::grow;
use crate::interest::Interest;
use crate::key::Key;
use crate::subscriber::Subscriber;
use crate::sys::{self, AsFd, AsRawFd, BorrowedFd, Ctl, Errno, ForkGuard, RawFd};
use crate::threads::{Admit, Sendable, Threads};
use alloc::vec::Vec;
use core::marker::PhantomData;
use core::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, TryLockError};

/// What the desk's lock guards.
struct Intake<D, T: 'static> {
    /// The reactor is alive, and `epfd` its open epoll fd.
    open: bool,
    /// The number of the reactor's epoll fd (published again by every rebuild).
    epfd: RawFd,
    /// Nodes registrars made and added to the epoll set, not yet taken in by the reactor.
    inbox: Vec<NodeBox<D, T>>,
    /// Not `Send` by itself (its nodes point to values of any thread mode): only the
    /// `Sendable` intake is, below.
    _by_mode: PhantomData<*const ()>,
}

// SAFETY: the inbox's nodes are owned here and reached by no one else: a registrar touches
// only the node it pushed, under the lock, and the reactor takes nodes out under the lock.
// Each holds a subscriber admitted to a `Sendable` reactor (`Desk::register` requires
// `Sendable: Admit<S>`, which holds only for `S: Send`); a node's header (a pointer to a
// `'static` vtable, numbers) is tied to no thread. No value of type `D` is stored.
unsafe impl<D> Send for Intake<D, Sendable> {}

/// What a reactor shares with its registrars.
pub(crate) struct Desk<D, T: 'static> {
    intake: Mutex<Intake<D, T>>,
    /// The inbox may hold nodes: set by a registrar under the lock before its ADD, read by
    /// the reactor without it.
    arrived: AtomicBool,
    /// Made by the reactor's process: a copy in a `fork()`ed child tells.
    guard: ForkGuard,
}

impl<D, T> Desk<D, T> {
    fn lock(&self) -> MutexGuard<'_, Intake<D, T>> {
        // No subscriber code runs under the lock; a poisoned lock can only come from a panic
        // elsewhere, and the intake is consistent between any two of its statements.
        self.intake.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl<D> Desk<D, Sendable> {
    /// Registers `value` for `interest` on the calling thread: see the module's docs.
    pub(crate) fn register<S>(&self, value: S, interest: Interest) -> Result<Key>
    where
        S: Subscriber<D, Sendable>,
        Sendable: Admit<S>,
    {
        // Before the lock: in a child, a thread of the parent may have held it at the fork.
        if self.guard.inherited() {
            return Err(Error::Inherited);
        }
        if value.has_init() {
            return Err(Error::Invalid(
                "a registrar registers subscribers without `init` (`has_init` false)",
            ));
        }
        let fd = value.as_fd().as_raw_fd();
        if fd < 0 {
            return Err(Error::Os(Errno::EBADF));
        }
        let key = Key::fresh(fd);
        let Some(node) = NodeBox::fresh(value, key, interest) else {
            return Err(Error::Os(Errno::ENOMEM));
        };
        let (data, bits) = (node.data(), interest.bits());
        let mut intake = self.lock();
        let refusal = if !intake.open {
            Some(Error::Closed)
        } else if intake.inbox.try_reserve(1).is_err() {
            Some(Error::Os(Errno::ENOMEM))
        } else {
            None
        };
        if let Some(e) = refusal {
            drop(intake);
            drop(node); // never added: dropped with its subscriber, once the lock is let go
            return Err(e);
        }
        if let Err(node) = grow::push_within(&mut intake.inbox, node) {
            drop(intake);
            drop(node); // room was reserved: cannot happen
            return Err(Error::Os(Errno::ENOMEM));
        }
        self.arrived.store(true, Ordering::Release);
        // SAFETY: while `open` is set (checked above, under the lock held still), `epfd` is
        // the number of the reactor's epoll fd and it is open: the reactor closes or replaces
        // that fd only under this lock, clearing `open` first or publishing the new number.
        let epfd = unsafe { BorrowedFd::borrow_raw(intake.epfd) };
        let Err(e) = sys::epoll_ctl(epfd, Ctl::Add, fd, bits, data) else {
            return Ok(key);
        };
        // Still under the lock: the node is the inbox's last, and the kernel has no entry for
        // it, so no event names it.
        let node = intake.inbox.pop();
        drop(intake);
        drop(node);
        Err(refused(e, fd))
    }
}

/// The reactor's end of its desk. Dropped before the epoll fd closes (the registry's first
/// field): the desk is closed, and what its inbox holds dropped.
pub(crate) struct Reception<D, T: 'static> {
    desk: SharedBox<Desk<D, T>>,
    /// Nodes out of the inbox, not yet placed: between the two steps of a take-in, or left
    /// by a rebuild that failed, or by a destructor that panicked.
    arrivals: Vec<NodeBox<D, T>>,
}

impl<D, T> Drop for Reception<D, T> {
    fn drop(&mut self) {
        let desk = &*self.desk;
        let intake = if desk.guard.inherited() {
            // A child's copy: the lock may have been held by a thread of the parent at the
            // fork, and would never be let go here.
            match desk.intake.try_lock() {
                Ok(intake) => Some(intake),
                Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
                Err(TryLockError::WouldBlock) => None, // the child's copies stay
            }
        } else {
            Some(desk.lock())
        };
        let Some(mut intake) = intake else {
            return;
        };
        intake.open = false;
        let left = core::mem::take(&mut intake.inbox);
        drop(intake);
        // No wait will return their events any more: the epoll fd closes next, unused.
        drop(left);
    }
}

/// Moves the inbox into `arrivals` (a swap while `arrivals` is empty, as it is unless a
/// destructor panicked or a rebuild failed); whether all of it moved.
fn receive<D, T>(
    intake: &mut Intake<D, T>,
    arrivals: &mut Vec<NodeBox<D, T>>,
    arrived: &AtomicBool,
) -> bool {
    if arrivals.is_empty() {
        core::mem::swap(&mut intake.inbox, arrivals);
    } else if arrivals.try_reserve(intake.inbox.len()).is_ok() {
        arrivals.append(&mut intake.inbox); // within the room reserved
    } else {
        return false; // they wait in the inbox for the next take-in
    }
    arrived.store(false, Ordering::Relaxed);
    true
}

impl<D, T: Threads> Registry<D, T> {
    /// The desk registrars share with this reactor, made (with its own fork guard) on the
    /// first call; from then on every turn leaves the fast path ([`REGISTRAR`]).
    pub(crate) fn desk(&mut self) -> Result<SharedBox<Desk<D, T>>> {
        self.check_owner()?;
        if let Some(reception) = &self.reception {
            return Ok(reception.desk.clone());
        }
        let intake = Intake {
            open: true,
            epfd: self.epfd.as_raw_fd(),
            inbox: Vec::new(),
            _by_mode: PhantomData,
        };
        let desk = Desk {
            intake: Mutex::new(intake),
            arrived: AtomicBool::new(false),
            guard: ForkGuard::new()?,
        };
        let desk = SharedBox::new(desk).ok_or(Error::Os(Errno::ENOMEM))?;
        self.reception = Some(Reception {
            desk: desk.clone(),
            arrivals: Vec::new(),
        });
        self.guard.set(REGISTRAR);
        Ok(desk)
    }

    /// After a wait, before its events (if any: `events`) are dispatched: takes in what
    /// registrars left. The events may point at any node taken in, so the batch counts as
    /// open from here (a node that cannot be placed waits for the batch's end).
    pub(crate) fn take_in_after_wait(&mut self, events: bool) {
        if events {
            self.after |= OPEN;
        }
        self.take_in_arrived();
    }

    /// [`take_in`](Self::take_in) once a registrar exists.
    #[inline(never)]
    pub(super) fn take_in_arrived(&mut self) {
        self.place_arrived_locked();
        self.reject_arrivals();
    }

    /// Moves the inbox (if a registrar left anything) to `arrivals`, and places what it can.
    #[inline(never)]
    pub(super) fn place_arrived_locked(&mut self) {
        let Some(reception) = &mut self.reception else {
            return;
        };
        let desk = &reception.desk;
        let arrived = desk.arrived.load(Ordering::Acquire);
        if !arrived && reception.arrivals.is_empty() {
            return;
        }
        if arrived {
            let mut intake = desk.lock();
            receive(&mut intake, &mut reception.arrivals, &desk.arrived);
        }
        self.place_arrivals();
    }

    /// [`delete_entry`](Self::delete_entry) with registrars: takes the inbox in and DELs,
    /// under their lock. A registrar may have added a new file under `fd`'s number before the
    /// lock (the subscriber's fd was closed behind its back and the number reused): then a
    /// DEL would remove that registration and succeed, leaving the subscriber's own in the
    /// kernel, so none is made, and the DEL counts as refused (the caller rebuilds the set,
    /// which removes the subscriber's registration and keeps the registrar's). Arrivals that
    /// cannot be placed stay in `arrivals`, as the caller is in the middle of a delete, where
    /// no subscriber's code may run: its next [`take_in`](Self::take_in) gives them up.
    #[inline(never)]
    pub(super) fn delete_entry_taking_in(&mut self, fd: RawFd) -> core::result::Result<(), Errno> {
        let Some(desk) = self.reception.as_ref().map(|r| r.desk.clone()) else {
            return sys::epoll_ctl(self.epfd.as_fd(), Ctl::Delete, fd, 0, 0);
        };
        let intake = &mut *desk.lock();
        let mut took = false;
        if let Some(reception) = &mut self.reception {
            took = receive(intake, &mut reception.arrivals, &desk.arrived);
        }
        self.place_arrivals();
        let has_fd = |nodes: &[NodeBox<D, T>]| nodes.iter().any(|n| n.header().key().fd() == fd);
        let unplaced = self.reception.as_ref().map_or(&[][..], |r| &r.arrivals[..]);
        if has_fd(unplaced) || (!took && has_fd(&intake.inbox)) {
            return Err(Errno::EEXIST);
        }
        sys::epoll_ctl(self.epfd.as_fd(), Ctl::Delete, fd, 0, 0)
    }

    /// Puts each arrival in the slot of its number; those that cannot be placed stay in
    /// `arrivals`.
    fn place_arrivals(&mut self) {
        let Some(reception) = &mut self.reception else {
            return;
        };
        let arrivals = &mut reception.arrivals;
        let mut at = 0;
        while at < arrivals.len() {
            let index = arrivals[at].header().key().fd() as usize;
            // A live record's number is its own, as a live subscriber's is (see `held`).
            if self.held.get(index).is_none() {
                if let Ok(reserved) = self.slots.reserve(index) {
                    let node = arrivals.swap_remove(at);
                    if let Err(node) = self.slots.place(index, node, reserved) {
                        // Room was made and the slot is empty: cannot happen. The kernel may
                        // report the node: leaking it is the sound way out.
                        core::mem::forget(node);
                    }
                    self.live += 1;
                    continue;
                }
            }
            at += 1;
        }
    }

    /// The error an arrival that cannot be placed reports.
    fn unplaced(&self, fd: RawFd) -> Error {
        let index = fd as usize;
        if self.slots.get(index).is_some() || self.held.get(index).is_some() {
            Error::AlreadyRegistered(fd)
        } else {
            Error::Os(Errno::ENOMEM)
        }
    }

    /// The next arrival that could not be placed, if any: killed, and the turn told why.
    fn next_unplaced(&mut self) -> Option<NodeBox<D, T>> {
        let node = self.reception.as_mut()?.arrivals.pop()?;
        let error = self.unplaced(node.header().key().fd());
        node.kill();
        self.fail(error);
        Some(node)
    }

    /// Gives up the arrivals that could not be placed: each DELed and given up as a deleted
    /// node (retired if the DEL is refused: its fd was closed behind its back, and another may
    /// keep the file open).
    fn reject_arrivals(&mut self) {
        while let Some(node) = self.next_unplaced() {
            let fd = node.header().key().fd();
            let named = sys::epoll_ctl(self.epfd.as_fd(), Ctl::Delete, fd, 0, 0).is_err();
            // Room where it goes: the retired list, or the graveyard while a batch is open.
            let room = match (named, self.holds()) {
                (true, _) => room_for_one(&mut self.retired),
                (false, true) => room_for_one(&mut self.graveyard),
                (false, false) => true,
            };
            if !room {
                // The kernel, or an event of the batch, may name it: leaking it is the sound
                // way out.
                core::mem::forget(node);
                continue;
            }
            self.give_up(node, named);
        }
    }

    /// [`rebuild`](Self::rebuild) with registrars: under the desk's lock, the inbox is taken in
    /// first (so every node in it is added to the new set), and the epoll fd's number is
    /// published after. If the inbox cannot all be taken, nothing changes (`ENOMEM`).
    pub(super) fn rebuild_with_registrars(
        &mut self,
        detaching: usize,
    ) -> core::result::Result<(), Errno> {
        let Some(desk) = self.reception.as_ref().map(|r| r.desk.clone()) else {
            return self.rebuild_set(detaching);
        };
        let mut intake = desk.lock();
        let Some(reception) = &mut self.reception else {
            return Err(Errno::ENOMEM); // looked at above: cannot happen
        };
        if !receive(&mut intake, &mut reception.arrivals, &desk.arrived) {
            return Err(Errno::ENOMEM);
        }
        self.place_arrivals();
        let rebuilt = self.rebuild_set(detaching);
        intake.epfd = self.epfd.as_raw_fd();
        drop(intake);
        if rebuilt.is_ok() {
            // Those not placed were in the old set only, now closed: no entry names them.
            // Their values go with the graveyard's next burial. They go first, so that a
            // retired value's destructor that panics below cannot leave them in `arrivals`, to
            // be placed later in a set that never held them; and beside the room the rebuild
            // made for the retired nodes and the `detaching` ones, given up after them.
            let keep = if self.holds() {
                self.retired.len() + detaching
            } else {
                0
            };
            self.bury_unplaced(keep);
            // The retired nodes' values may drop (outside a batch) when the operation that
            // asked for the rebuild gives them up: with the lock released, a destructor may
            // register through a registrar.
        }
        // Otherwise they stay in the set and in `arrivals`: the next take-in tries again.
        rebuilt
    }

    /// The arrivals that could not be placed, which no kernel entry names: killed, into the
    /// graveyard, and the turn told; `keep` places of the graveyard stay free (reserved for
    /// nodes given up after them).
    fn bury_unplaced(&mut self, keep: usize) {
        while let Some(node) = self.next_unplaced() {
            let graveyard = &mut self.graveyard;
            let free = graveyard.capacity() - graveyard.len();
            if free <= keep && graveyard.try_reserve(keep + 1).is_err() {
                core::mem::forget(node); // out of memory: leaking is the sound way out
                continue;
            }
            if let Err(node) = grow::push_within(&mut self.graveyard, node) {
                core::mem::forget(node); // room was made: cannot happen
            }
            self.after |= super::registry::GRAVE;
        }
    }
}

/// Whether `v` has room for one more (made if need be).
fn room_for_one<X>(v: &mut Vec<X>) -> bool {
    v.len() < v.capacity() || v.try_reserve(1).is_ok()
}
