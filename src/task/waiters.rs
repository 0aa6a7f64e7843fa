//! The tasks waiting for one direction of an `Async` source: a short list of wakers, one per
//! distinct waker (`Waker::will_wake`), each with how many parked futures hold it. It owns only
//! the list; it may not wake anyone while the caller holds it borrowed (it hands the wakers
//! back instead), nor keep a waker whose futures are all gone.
//!
//! An edge takes the whole list; a future that completes or is dropped
//! takes its count back, and the waker leaves with the last count. So the list holds at most
//! one entry per task parked since the last edge, and nothing outlives the futures that parked.
//! `will_wake` is best-effort (a waker it does not recognise gets an entry of its own), but a
//! future holds at most one entry: the list never outgrows the futures pending on it.

use alloc::vec::Vec;
use core::task::Waker;

/// One direction's waiting list.
pub(super) struct Waiters {
    list: Vec<Entry>,
    /// The id the next entry gets: ids are never reused, so a `Parked` whose entry an edge
    /// took names nothing.
    next_id: u64,
}

/// A waker listed, with how many parked futures hold it.
pub(super) struct Entry {
    waker: Waker,
    id: u64,
    count: usize,
}

/// Where one future is listed (it holds no waker itself).
pub(super) struct Parked {
    id: u64,
}

impl Waiters {
    pub(super) const fn new() -> Waiters {
        Waiters {
            list: Vec::new(),
            next_id: 0,
        }
    }

    /// No waker is listed.
    pub(super) fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The future that parked `parked` is still listed, with `waker`: nothing to do.
    pub(super) fn holds(&self, parked: &Parked, waker: &Waker) -> bool {
        self.list
            .iter()
            .any(|e| e.id == parked.id && e.waker.will_wake(waker))
    }

    /// Lists `waker` for the next edge (or counts it once more if it is listed already).
    /// `None` if there is no memory for a new entry: the caller must then wake `waker` itself
    /// (once its borrow ends) so that the task polls again and retries, rather than wait
    /// unlisted for an edge that would not wake it.
    pub(super) fn park(&mut self, waker: &Waker) -> Option<Parked> {
        if let Some(entry) = self.list.iter_mut().find(|e| e.waker.will_wake(waker)) {
            entry.count += 1;
            return Some(Parked { id: entry.id });
        }
        self.list.try_reserve(1).ok()?;
        let id = self.next_id;
        self.next_id += 1;
        self.list.push(Entry {
            waker: waker.clone(),
            id,
            count: 1,
        });
        Some(Parked { id })
    }

    /// Takes back a future's count (it completed, was dropped, or parks another waker). The
    /// waker that leaves the list, if this was its last count, is returned to be dropped once
    /// the caller's borrow ends.
    pub(super) fn unpark(&mut self, parked: Parked) -> Option<Waker> {
        let at = self.list.iter().position(|e| e.id == parked.id)?;
        self.list[at].count -= 1;
        if self.list[at].count == 0 {
            Some(self.list.swap_remove(at).waker)
        } else {
            None
        }
    }

    /// An edge: takes every waiter, to be woken once the caller's borrow ends.
    pub(super) fn take(&mut self) -> Vec<Entry> {
        core::mem::take(&mut self.list)
    }

    /// Gives back the (emptied) buffer `take` returned, so the next edge need not allocate.
    pub(super) fn give_back(&mut self, mut emptied: Vec<Entry>) {
        emptied.clear();
        if self.list.is_empty() && self.list.capacity() < emptied.capacity() {
            self.list = emptied;
        }
    }
}

impl Entry {
    /// Wakes the task (consuming the waker).
    pub(super) fn wake(self) {
        self.waker.wake();
    }
}
