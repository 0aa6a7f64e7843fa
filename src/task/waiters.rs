//! The tasks waiting for one direction of an `Async` source: a short list of wakers, one per
//! distinct waker (`Waker::will_wake`), each with how many parked futures hold it. It owns only
//! the list (its first entry inline, so one waiting task needs no heap); it may not wake anyone
//! while the caller holds it borrowed (it hands the wakers back instead), nor keep a waker
//! whose futures are all gone.
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
    /// The first entry, held inline: one task waiting in a direction (the common case) parks
    /// and is woken without touching the heap.
    first: Option<Entry>,
    /// Any further entries.
    more: Vec<Entry>,
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

/// What an edge took off the list, to be woken once the list's borrow has ended.
pub(super) struct Woken {
    first: Option<Entry>,
    more: Vec<Entry>,
}

impl Waiters {
    pub(super) const fn new() -> Waiters {
        Waiters {
            first: None,
            more: Vec::new(),
            next_id: 0,
        }
    }

    /// No waker is listed.
    pub(super) fn is_empty(&self) -> bool {
        self.first.is_none() && self.more.is_empty()
    }

    /// The future that parked `parked` is still listed, with `waker`: nothing to do.
    pub(super) fn holds(&self, parked: &Parked, waker: &Waker) -> bool {
        let held = |e: &Entry| e.id == parked.id && e.waker.will_wake(waker);
        self.first.as_ref().is_some_and(held) || self.more.iter().any(held)
    }

    /// The entry of `waker`, if it is listed.
    fn entry_of(&mut self, waker: &Waker) -> Option<&mut Entry> {
        match &mut self.first {
            Some(first) if first.waker.will_wake(waker) => Some(first),
            _ => self.more.iter_mut().find(|e| e.waker.will_wake(waker)),
        }
    }

    /// Lists `waker` for the next edge (or counts it once more if it is listed already).
    /// `None` if there is no memory for a new entry: the caller must then wake `waker` itself
    /// (once its borrow ends) so that the task polls again and retries, rather than wait
    /// unlisted for an edge that would not wake it.
    pub(super) fn park(&mut self, waker: &Waker) -> Option<Parked> {
        if let Some(entry) = self.entry_of(waker) {
            entry.count += 1;
            return Some(Parked { id: entry.id });
        }
        if self.first.is_some() {
            self.more.try_reserve(1).ok()?;
        }
        let id = self.next_id;
        self.next_id += 1;
        let entry = Entry {
            waker: waker.clone(),
            id,
            count: 1,
        };
        match self.first {
            None => self.first = Some(entry),
            Some(_) => self.more.push(entry),
        }
        Some(Parked { id })
    }

    /// Takes back a future's count (it completed, was dropped, or parks another waker). The
    /// waker that leaves the list, if this was its last count, is returned to be dropped once
    /// the caller's borrow ends.
    pub(super) fn unpark(&mut self, parked: Parked) -> Option<Waker> {
        if let Some(first) = &mut self.first {
            if first.id == parked.id {
                first.count -= 1;
                return match first.count {
                    0 => self.first.take().map(|e| e.waker),
                    _ => None,
                };
            }
        }
        let at = self.more.iter().position(|e| e.id == parked.id)?;
        self.more[at].count -= 1;
        if self.more[at].count == 0 {
            Some(self.more.swap_remove(at).waker)
        } else {
            None
        }
    }

    /// An edge: takes every waiter, to be woken once the caller's borrow ends.
    pub(super) fn take(&mut self) -> Woken {
        Woken {
            first: self.first.take(),
            more: core::mem::take(&mut self.more),
        }
    }
}

impl Woken {
    /// Wakes every task taken, the inline one first (which may have been listed after the
    /// others, into a place freed meanwhile).
    pub(super) fn wake(self) {
        if let Some(first) = self.first {
            first.wake();
        }
        for waiter in self.more {
            waiter.wake();
        }
    }
}

impl Entry {
    /// Wakes the task (consuming the waker).
    pub(super) fn wake(self) {
        self.waker.wake();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_wakers::{counting, Count};
    use std::sync::Arc;
    use std::vec::Vec;

    fn woken(counts: &[Arc<Count>]) -> Vec<usize> {
        counts.iter().map(|c| c.wakes()).collect()
    }

    #[test]
    #[cfg_attr(
        miri,
        ignore = "Miri gives a vtable several addresses: `will_wake` may not know a clone"
    )]
    fn every_listed_waker_is_woken_once_by_an_edge_inline_or_not() {
        let wakers: Vec<_> = (0..3).map(|_| counting()).collect();
        let counts: Vec<_> = wakers.iter().map(|(c, _)| c.clone()).collect();
        let mut list = Waiters::new();
        let parked: Vec<_> = wakers.iter().map(|(_, w)| list.park(w).unwrap()).collect();
        // The same task again: counted, not listed twice.
        let again = list.park(&wakers[0].1).unwrap();
        assert!(list.holds(&parked[0], &wakers[0].1) && list.holds(&again, &wakers[0].1));
        assert!(list.holds(&parked[2], &wakers[2].1));
        list.take().wake();
        assert_eq!(woken(&counts), [1, 1, 1]);
        assert!(list.is_empty());
        // What the edge took names nothing any more.
        assert!(!list.holds(&parked[1], &wakers[1].1));
        assert!(list.unpark(again).is_none());
        // One waiter: inline.
        let one = list.park(&wakers[1].1).unwrap();
        list.take().wake();
        assert_eq!(woken(&counts), [1, 2, 1]);
        assert!(list.unpark(one).is_none());
    }

    #[test]
    #[cfg_attr(
        miri,
        ignore = "Miri gives a vtable several addresses: `will_wake` may not know a clone"
    )]
    fn the_inline_entry_leaves_with_its_last_count_and_is_taken_again() {
        let (a, wa) = counting();
        let (b, wb) = counting();
        let (c, wc) = counting();
        let mut list = Waiters::new();
        let pa = list.park(&wa).unwrap();
        let pa2 = list.park(&wa).unwrap();
        let pb = list.park(&wb).unwrap();
        assert!(list.unpark(pa).is_none(), "one count of `a` is left");
        assert!(
            list.unpark(pa2).is_some(),
            "the last count takes `a`'s waker out"
        );
        assert!(!list.is_empty(), "`b` is still listed");
        // The inline place is free again while `b` is not inline.
        let pc = list.park(&wc).unwrap();
        assert!(list.holds(&pb, &wb) && list.holds(&pc, &wc));
        assert!(list.unpark(pb).is_some());
        list.take().wake();
        assert_eq!(woken(&[a, b, c.clone()]), [0, 0, 1]);
        assert!(list.is_empty());
        assert!(list.unpark(pc).is_none(), "taken by the edge already");
        assert_eq!(Arc::strong_count(&c), 2, "no entry kept a clone");
    }

    /// Futures of four tasks park (as `Readiness::poll` does), complete and see edges in a
    /// pseudo-random order, checked against a model: each edge wakes every task with a future
    /// listed since the last edge, once per entry it has; a task has an entry while one of its
    /// futures is listed, at most one per such future, and exactly one where `will_wake`
    /// recognises a clone of its waker (natively; Miri gives a vtable several addresses);
    /// `holds` never claims a future that is not listed.
    #[test]
    fn parks_completions_and_edges_in_any_order_wake_each_listed_task() {
        let mut seed = 0x1234_5678_9abc_def1u64;
        let mut below = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        const TASKS: usize = 4;
        const FUTURES: usize = 6;
        let exact = cfg!(not(miri));
        let rounds = if cfg!(miri) { 50 } else { 2000 };
        for _ in 0..rounds {
            let tasks: Vec<_> = (0..TASKS).map(|_| counting()).collect();
            let task_of: Vec<usize> = (0..FUTURES).map(|_| below(TASKS)).collect();
            let mut parked: Vec<Option<Parked>> = (0..FUTURES).map(|_| None).collect();
            let mut listed = [false; FUTURES];
            let mut expected = [0usize; TASKS];
            let mut list = Waiters::new();
            // The clones of task `t`'s waker that the list holds (besides its own two).
            let entries = |t: usize| Arc::strong_count(&tasks[t].0) - 2;
            for _ in 0..40 {
                let f = below(FUTURES);
                let waker = &tasks[task_of[f]].1;
                match below(4) {
                    0 | 1 => {
                        // Polled, not ready: parks unless it is listed with this waker.
                        if parked[f].as_ref().is_some_and(|p| list.holds(p, waker)) {
                            continue;
                        }
                        drop(parked[f].take().and_then(|p| list.unpark(p)));
                        parked[f] = Some(list.park(waker).expect("memory"));
                        listed[f] = true;
                    }
                    2 => {
                        // Completed or dropped.
                        if let Some(p) = parked[f].take() {
                            drop(list.unpark(p));
                        }
                        listed[f] = false;
                    }
                    _ => {
                        for (t, count) in expected.iter_mut().enumerate() {
                            *count += entries(t);
                        }
                        listed = [false; FUTURES];
                        list.take().wake();
                        assert!(list.is_empty());
                    }
                }
                for (t, (count, _)) in tasks.iter().enumerate() {
                    assert_eq!(count.wakes(), expected[t], "task {t}");
                    let waiting = (0..FUTURES).filter(|&g| listed[g] && task_of[g] == t);
                    let waiting = waiting.count();
                    assert_eq!(entries(t) == 0, waiting == 0, "task {t}");
                    assert!(entries(t) <= waiting, "task {t}");
                    if exact {
                        assert_eq!(entries(t), waiting.min(1), "task {t}");
                    }
                }
                for g in 0..FUTURES {
                    if let Some(p) = &parked[g] {
                        let holds = list.holds(p, &tasks[task_of[g]].1);
                        assert!(listed[g] || !holds, "future {g}");
                        assert!(!exact || holds == listed[g], "future {g}");
                    }
                }
            }
        }
    }
}
