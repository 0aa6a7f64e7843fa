//! `Ring`: a bounded lock-free queue of values (Dmitry Vyukov's bounded MPMC queue), the
//! storage of `barepoll::channel` and the first stop of an unbounded remote queue. Each slot
//! carries a sequence number that says whose turn it is: a pusher at position `p` may write
//! the slot when its sequence is `p`, a popper at `p` may read it when it is `p + 1`; the
//! popper then hands it to the push one lap later (`p + capacity`). Values pushed by one
//! thread are popped in the order pushed.
//!
//! It owns its slots' memory (allocated fallibly) and the values in them, dropped with the
//! ring. It may not talk to the kernel, wake anyone or block: its users do that.

use alloc::vec::Vec;
use core::cell::UnsafeCell;
use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicUsize, Ordering};

/// One value's place, and whose turn it is (see the module's doc).
struct Slot<T> {
    sequence: AtomicUsize,
    value: UnsafeCell<MaybeUninit<T>>,
}

/// A position counter on a cache line of its own, so that pushers and the popper do not
/// invalidate each other's line at every operation.
#[repr(align(64))]
struct Position(AtomicUsize);

/// A bounded queue for any number of pushing and popping threads.
pub(crate) struct Ring<T> {
    slots: Vec<Slot<T>>,
    /// `capacity - 1`: the capacity is a power of two.
    mask: usize,
    /// The next position to push at.
    tail: Position,
    /// The next position to pop from.
    head: Position,
}

// SAFETY: the ring hands each value from the thread that pushed it to the one that pops it
// (or drops it, with the ring): `T: Send` is what that needs. A slot's value is touched only
// by the one thread whose turn its sequence number says it is (a successful compare-exchange
// on a position claims the turn), and the Release store of the sequence that ends a turn
// pairs with the Acquire load that begins the next, so no value is read while written.
unsafe impl<T: Send> Send for Ring<T> {}
// SAFETY: as above: `&Ring<T>` only pushes and pops, each access to a slot being exclusive.
unsafe impl<T: Send> Sync for Ring<T> {}

impl<T> Ring<T> {
    /// An empty ring for at least `capacity` values (a power of two, at least 2); `None` if
    /// memory for it cannot be had. The caller bounds `capacity`.
    pub(crate) fn with_capacity(capacity: usize) -> Option<Ring<T>> {
        let capacity = capacity.max(2).checked_next_power_of_two()?;
        let mut slots = Vec::new();
        slots.try_reserve_exact(capacity).ok()?;
        slots.extend((0..capacity).map(|i| Slot {
            sequence: AtomicUsize::new(i),
            value: UnsafeCell::new(MaybeUninit::uninit()),
        }));
        Some(Ring {
            slots,
            mask: capacity - 1,
            tail: Position(AtomicUsize::new(0)),
            head: Position(AtomicUsize::new(0)),
        })
    }

    /// How many values it holds when full.
    pub(crate) fn capacity(&self) -> usize {
        self.mask + 1
    }

    /// How many values it holds now (a snapshot: others may push and pop meanwhile).
    pub(crate) fn len(&self) -> usize {
        let head = self.head.0.load(Ordering::Acquire);
        let tail = self.tail.0.load(Ordering::Acquire);
        // Read apart, the two may cross: never report less than none or more than full.
        (tail.wrapping_sub(head) as isize).clamp(0, self.capacity() as isize) as usize
    }

    /// Whether it holds no value now (a snapshot; a value being pushed counts as held).
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends `value`, or gives it back if the ring is full (or a popper has claimed the
    /// slot it needs but not yet handed it back).
    pub(crate) fn push(&self, value: T) -> Result<(), T> {
        let mut position = self.tail.0.load(Ordering::Relaxed);
        loop {
            let slot = &self.slots[position & self.mask];
            let sequence = slot.sequence.load(Ordering::Acquire);
            let lead = sequence.wrapping_sub(position) as isize;
            if lead == 0 {
                let next = position.wrapping_add(1);
                match self.tail.0.compare_exchange_weak(
                    position,
                    next,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        // The exchange claimed `position` (the slot's sequence); the Acquire load
                        // above saw the last popper's Release, so its read is done.
                        // SAFETY: this thread alone writes the slot, which holds no value.
                        unsafe { (*slot.value.get()).write(value) };
                        slot.sequence.store(next, Ordering::Release);
                        return Ok(());
                    }
                    Err(now) => position = now,
                }
            } else if lead < 0 {
                // The slot still holds the value pushed one lap ago: full.
                return Err(value);
            } else {
                // Another pusher took this position: start again from the newest.
                position = self.tail.0.load(Ordering::Relaxed);
            }
        }
    }

    /// Whether the oldest value is there to pop (a snapshot that reads only the popper's
    /// position and that slot, not the pushers' position: a popper watching for values does
    /// not take the pushers' cache line from them).
    #[cfg(feature = "std")] // the remote queue's
    pub(crate) fn ready(&self) -> bool {
        let position = self.head.0.load(Ordering::Relaxed);
        let slot = &self.slots[position & self.mask];
        slot.sequence.load(Ordering::Acquire) == position.wrapping_add(1)
    }

    /// The position the next push takes (a snapshot): with [`pop_before`](Ring::pop_before),
    /// the values pushed before a point.
    #[cfg(feature = "std")] // the remote queue's
    pub(crate) fn tail(&self) -> usize {
        self.tail.0.load(Ordering::Acquire)
    }

    /// [`pop`](Ring::pop), if the oldest value was pushed before position `end` (a [`tail`]
    /// snapshot). For a ring with one popper (else another may pop meanwhile).
    ///
    /// [`tail`]: Ring::tail
    #[cfg(feature = "std")] // the remote queue's
    pub(crate) fn pop_before(&self, end: usize) -> Option<T> {
        if !self.before(end) {
            return None;
        }
        self.pop()
    }

    /// Whether the popper's position is before `end` (a [`tail`] snapshot): a value pushed
    /// before that point is still to be popped, or still being written by its pusher (then
    /// [`pop_before`](Ring::pop_before) gives `None` though this is `true`).
    ///
    /// [`tail`]: Ring::tail
    #[cfg(feature = "std")] // the remote queue's
    pub(crate) fn before(&self, end: usize) -> bool {
        let head = self.head.0.load(Ordering::Relaxed);
        end.wrapping_sub(head) as isize > 0
    }

    /// Takes the oldest value, if one is there. `None` also while the pusher of the oldest
    /// position has claimed it but not finished writing it: that pusher's wake follows.
    pub(crate) fn pop(&self) -> Option<T> {
        let mut position = self.head.0.load(Ordering::Relaxed);
        loop {
            let slot = &self.slots[position & self.mask];
            let sequence = slot.sequence.load(Ordering::Acquire);
            let next = position.wrapping_add(1);
            let lead = sequence.wrapping_sub(next) as isize;
            if lead == 0 {
                match self.head.0.compare_exchange_weak(
                    position,
                    next,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        // The exchange claimed `position` (sequence `position + 1`): its pusher's
                        // Release store, seen by the Acquire load above, published the value.
                        // SAFETY: this thread alone reads that value, once; the slot goes on after.
                        let value = unsafe { (*slot.value.get()).assume_init_read() };
                        slot.sequence
                            .store(position.wrapping_add(self.capacity()), Ordering::Release);
                        return Some(value);
                    }
                    Err(now) => position = now,
                }
            } else if lead < 0 {
                return None;
            } else {
                position = self.head.0.load(Ordering::Relaxed);
            }
        }
    }
}

impl<T> Drop for Ring<T> {
    /// Drops the values left, oldest first. If one's destructor panics, those after it are
    /// still dropped while the panic goes on (a second panic aborts, as any does while
    /// unwinding); none is dropped twice.
    fn drop(&mut self) {
        /// Armed while one value drops: on unwind, drops the rest.
        struct Rest<'a, T>(&'a Ring<T>);
        impl<T> Drop for Rest<'_, T> {
            fn drop(&mut self) {
                while self.0.pop().is_some() {}
            }
        }
        while let Some(value) = self.pop() {
            let rest = Rest(self);
            drop(value);
            core::mem::forget(rest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;
    use std::sync::Arc;
    use std::vec::Vec;

    /// Counts its drops in a shared counter.
    struct Counted(Arc<AtomicU32>, u32);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[test]
    fn capacity_is_rounded_up_to_a_power_of_two_at_least_two() {
        let sizes = [(1, 2), (2, 2), (3, 4), (4, 4), (5, 8), (100, 128)];
        for (asked, got) in sizes {
            assert_eq!(Ring::<u8>::with_capacity(asked).unwrap().capacity(), got);
        }
        assert!(Ring::<u8>::with_capacity(usize::MAX).is_none());
    }

    #[test]
    fn full_gives_the_value_back_and_pop_makes_room() {
        let ring = Ring::with_capacity(4).unwrap();
        for i in 0..4 {
            ring.push(i).unwrap();
        }
        assert_eq!(ring.len(), 4);
        assert_eq!(ring.push(4), Err(4));
        assert_eq!(ring.pop(), Some(0));
        ring.push(4).unwrap();
        let drained: Vec<_> = core::iter::from_fn(|| ring.pop()).collect();
        assert_eq!(drained, [1, 2, 3, 4]);
        assert_eq!((ring.len(), ring.pop()), (0, None));
    }

    #[cfg(feature = "std")]
    #[test]
    fn ready_says_whether_the_oldest_value_is_there() {
        let ring = Ring::with_capacity(2).unwrap();
        for _ in 0..3 {
            assert!(!ring.ready());
            ring.push(1).unwrap();
            ring.push(2).unwrap();
            assert!(ring.ready());
            assert_eq!(ring.pop(), Some(1));
            assert!(ring.ready());
            assert_eq!(ring.pop(), Some(2));
        }
        assert!(!ring.ready());
    }

    #[cfg(feature = "std")]
    #[test]
    fn pop_before_takes_only_what_was_pushed_before_the_point() {
        let ring = Ring::with_capacity(4).unwrap();
        assert_eq!(ring.pop_before(ring.tail()), None);
        for lap in 0..3 {
            ring.push(0).unwrap();
            ring.push(1).unwrap();
            let end = ring.tail();
            ring.push(2).unwrap();
            assert_eq!(ring.pop_before(end), Some(0), "lap {lap}");
            assert_eq!(ring.pop_before(end), Some(1));
            assert_eq!(ring.pop_before(end), None, "popped past the point");
            assert_eq!(ring.pop(), Some(2));
        }
        // A pusher that claimed a slot before the point but has not written it: nothing pops
        // before the point, yet the popper is still before it (the remote queue waits).
        let ring = Ring::with_capacity(4).unwrap();
        let claimed = ring.tail.0.fetch_add(1, Ordering::Relaxed); // as a pusher's exchange
        ring.push(1).unwrap();
        let end = ring.tail();
        assert_eq!(ring.pop_before(end), None);
        assert!(ring.before(end));
        let slot = &ring.slots[claimed & ring.mask];
        // SAFETY: this test is the pusher that claimed `claimed`: it alone writes the slot.
        unsafe { (*slot.value.get()).write(0) };
        slot.sequence.store(claimed + 1, Ordering::Release);
        assert_eq!(ring.pop_before(end), Some(0));
        assert_eq!(ring.pop_before(end), Some(1));
        assert!(!ring.before(end));
        // Positions wrap: a point from before the wrap still bounds the pops after it.
        let ring = Ring::<u8>::with_capacity(2).unwrap();
        ring.head.0.store(usize::MAX, Ordering::Relaxed);
        ring.tail.0.store(usize::MAX, Ordering::Relaxed);
        for slot in &ring.slots {
            slot.sequence.store(usize::MAX, Ordering::Relaxed);
        }
        ring.slots[0].sequence.store(0, Ordering::Relaxed);
        ring.push(7).unwrap(); // at usize::MAX
        let end = ring.tail(); // 0, after the wrap
        ring.push(8).unwrap();
        assert_eq!(ring.pop_before(end), Some(7));
        assert_eq!(ring.pop_before(end), None);
        assert_eq!(ring.pop(), Some(8));
    }

    #[test]
    fn many_laps_keep_order_and_values() {
        let ring = Ring::with_capacity(2).unwrap();
        for i in 0..100u32 {
            ring.push(i).unwrap();
            ring.push(i + 1000).unwrap();
            assert_eq!(ring.push(7), Err(7));
            assert_eq!((ring.pop(), ring.pop()), (Some(i), Some(i + 1000)));
        }
    }

    #[test]
    fn values_left_are_dropped_once_with_the_ring() {
        let drops = Arc::new(AtomicU32::new(0));
        let ring = Ring::with_capacity(8).unwrap();
        for i in 0..6 {
            assert!(ring.push(Counted(drops.clone(), i)).is_ok());
        }
        drop(ring.pop()); // one popped and dropped by the caller
        assert_eq!(drops.load(Ordering::Relaxed), 1);
        drop(ring);
        assert_eq!(drops.load(Ordering::Relaxed), 6);
    }

    #[test]
    fn a_panicking_destructor_still_drops_the_rest() {
        struct Bomb(Arc<AtomicU32>, bool);
        impl Drop for Bomb {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::Relaxed);
                if self.1 {
                    panic!("boom");
                }
            }
        }
        let drops = Arc::new(AtomicU32::new(0));
        let ring = Ring::with_capacity(4).unwrap();
        for i in 0..4 {
            assert!(ring.push(Bomb(drops.clone(), i == 1)).is_ok());
        }
        let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(ring)));
        assert!(dropped.is_err());
        assert_eq!(drops.load(Ordering::Relaxed), 4);
    }

    /// Several pushers, one popper, a ring smaller than what goes through: every value arrives
    /// once, each pusher's in the order pushed, and nothing is dropped twice or left.
    #[test]
    fn pushers_on_threads_keep_their_order_and_lose_nothing() {
        const PUSHERS: u32 = 3;
        let per_pusher: u32 = if cfg!(miri) { 40 } else { 20_000 };
        let drops = Arc::new(AtomicU32::new(0));
        let ring = Arc::new(Ring::with_capacity(4).unwrap());
        let pushers: Vec<_> = (0..PUSHERS)
            .map(|p| {
                let ring = ring.clone();
                let drops = drops.clone();
                std::thread::spawn(move || {
                    for i in 0..per_pusher {
                        let mut value = Counted(drops.clone(), p * per_pusher + i);
                        while let Err(back) = ring.push(value) {
                            value = back;
                            std::thread::yield_now();
                        }
                    }
                })
            })
            .collect();
        let mut next = [0u32; PUSHERS as usize];
        let mut seen = 0;
        while seen < PUSHERS * per_pusher {
            match ring.pop() {
                Some(value) => {
                    let (p, i) = (value.1 / per_pusher, value.1 % per_pusher);
                    assert_eq!(i, next[p as usize], "pusher {p}'s values out of order");
                    next[p as usize] += 1;
                    seen += 1;
                }
                None => std::thread::yield_now(),
            }
        }
        for pusher in pushers {
            pusher.join().unwrap();
        }
        assert!(ring.pop().is_none(), "a value was left");
        assert_eq!(drops.load(Ordering::Relaxed), PUSHERS * per_pusher);
    }

    /// Two poppers racing too (the ring is MPMC): each value is popped by exactly one.
    #[test]
    fn two_poppers_share_the_values_without_a_double_pop() {
        let total: u32 = if cfg!(miri) { 60 } else { 40_000 };
        let ring = Arc::new(Ring::with_capacity(8).unwrap());
        let pusher = {
            let ring = ring.clone();
            std::thread::spawn(move || {
                for i in 0..total {
                    let mut value = i;
                    while let Err(back) = ring.push(value) {
                        value = back;
                        std::thread::yield_now();
                    }
                }
            })
        };
        let taken = Arc::new(AtomicU32::new(0));
        let poppers: Vec<_> = (0..2)
            .map(|_| {
                let (ring, taken) = (ring.clone(), taken.clone());
                std::thread::spawn(move || {
                    let mut mine = Vec::new();
                    while taken.load(Ordering::Relaxed) < total {
                        match ring.pop() {
                            Some(v) => {
                                mine.push(v);
                                taken.fetch_add(1, Ordering::Relaxed);
                            }
                            None => std::thread::yield_now(),
                        }
                    }
                    mine
                })
            })
            .collect();
        pusher.join().unwrap();
        let mut all: Vec<u32> = poppers
            .into_iter()
            .flat_map(|p| {
                let mine = p.join().unwrap();
                assert!(
                    mine.windows(2).all(|w| w[0] < w[1]),
                    "one popper saw disorder"
                );
                mine
            })
            .collect();
        all.sort_unstable();
        assert_eq!(all, (0..total).collect::<Vec<_>>());
    }
}
