//! A hierarchical timing wheel over entry indices (the layout tokio's timer uses): insert,
//! remove and re-insert in O(1), the next expiration in O(levels), and expired entries handed
//! out one by one, cascading each down at most once per level on its way.
//!
//! Time is counted in ticks of 2^10 ns (about a microsecond); a deadline is rounded *up* to
//! a tick, so nothing expires early. 9 levels of 64 slots each cover 2^54 ticks (all of
//! `u64` nanoseconds). An entry sits at the level of the highest bit in which its tick differs
//! from the wheel's `elapsed` time, in the slot named by its tick's bits at that level.
//!
//! Besides the slots there are two plain lists: `due` (expired, to be handed out) and
//! `pending` (kept by the owner for entries waiting for a clock reading). The wheel owns only
//! the links; the owner keeps whatever the indices name.

use crate::grow;
use alloc::vec::Vec;

/// No entry.
pub(crate) const NIL: u32 = u32::MAX;
const BITS: u32 = 6;
const SLOTS: usize = 1 << BITS;
const LEVELS: usize = 9;
/// The largest tick the levels can hold; later deadlines are clamped to it.
pub(crate) const MAX_TICK: u64 = (1 << (BITS as usize * LEVELS)) - 1;
/// Nanoseconds per tick, as a shift.
pub(crate) const TICK_SHIFT: u32 = 10;

/// A list an entry can be linked in (`None` in a link: in none).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Place {
    /// `level * 64 + slot`.
    Slot(u16),
    Due,
    Pending,
}

#[derive(Clone, Copy)]
struct Link {
    prev: u32,
    next: u32,
    tick: u64,
    place: Option<Place>,
}

struct Level {
    occupied: u64,
    head: [u32; SLOTS],
    /// A lower bound of the ticks in each slot (exact unless an entry left it): the wait can
    /// end at the first entry's tick rather than at the slot's start.
    min: [u64; SLOTS],
}

pub(crate) struct Wheel {
    links: Vec<Link>,
    /// Empty until the first entry is slotted, then `LEVELS` long.
    levels: Vec<Level>,
    due: u32,
    /// The last of `due`, where entries of the latest tick are appended in O(1).
    due_tail: u32,
    pending: u32,
    /// The wheel's time, in ticks: every slotted entry's tick is later.
    elapsed: u64,
    /// Bit `l` set: level `l` has an occupied slot (the next expiration is found without
    /// scanning the empty levels).
    levels_occupied: u16,
}

/// A slot whose start has come: its entries are taken out and sorted again.
struct Expiration {
    level: usize,
    slot: usize,
    /// The slot's start, in ticks.
    start: u64,
    /// The slot's lower bound of its entries' ticks.
    min: u64,
}

/// Rounds nanoseconds up to ticks, within what the wheel can hold.
pub(crate) fn tick_of(ns: u64) -> u64 {
    let ticks = (ns >> TICK_SHIFT) + u64::from(ns & ((1 << TICK_SHIFT) - 1) != 0);
    ticks.min(MAX_TICK)
}

/// The first nanosecond of a tick.
pub(crate) fn ns_of(tick: u64) -> u64 {
    tick << TICK_SHIFT
}

fn level_for(elapsed: u64, tick: u64) -> usize {
    let masked = ((elapsed ^ tick) | (SLOTS as u64 - 1)).min(MAX_TICK);
    (63 - masked.leading_zeros() as usize) / BITS as usize
}

fn slot_range(level: usize) -> u64 {
    1 << (BITS as usize * level)
}

impl Wheel {
    pub(crate) const fn new() -> Wheel {
        Wheel {
            links: Vec::new(),
            levels: Vec::new(),
            due: NIL,
            due_tail: NIL,
            pending: NIL,
            elapsed: 0,
            levels_occupied: 0,
        }
    }

    /// Room for one more entry index (`len` after the call); `false` if memory is short.
    pub(crate) fn reserve(&mut self, len: usize) -> bool {
        if self.levels.is_empty() {
            if self.levels.try_reserve(LEVELS).is_err() {
                return false;
            }
            grow::fill_within(&mut self.levels, LEVELS, || Level {
                occupied: 0,
                head: [NIL; SLOTS],
                min: [u64::MAX; SLOTS],
            });
        }
        if self.links.len() < len {
            if self.links.try_reserve(len - self.links.len()).is_err() {
                return false;
            }
            let unlinked = Link {
                prev: NIL,
                next: NIL,
                tick: 0,
                place: None,
            };
            grow::fill_within(&mut self.links, len, || unlinked);
        }
        true
    }

    /// The list entry `i` is linked in, if any.
    #[cfg(any(test, feature = "tasks"))]
    pub(crate) fn place(&self, i: u32) -> Option<Place> {
        self.links[i as usize].place
    }

    #[cfg(test)]
    pub(crate) fn tick(&self, i: u32) -> u64 {
        self.links[i as usize].tick
    }

    /// The tick `i` is slotted at, if it sits in a slot (not due, not pending, not out).
    pub(crate) fn slotted_tick(&self, i: u32) -> Option<u64> {
        let link = self.links.get(i as usize)?;
        match link.place {
            Some(Place::Slot(_)) => Some(link.tick),
            _ => None,
        }
    }

    fn head(&mut self, place: Place) -> &mut u32 {
        match place {
            Place::Due => &mut self.due,
            Place::Pending => &mut self.pending,
            Place::Slot(at) => {
                let (level, slot) = (at as usize / SLOTS, at as usize % SLOTS);
                &mut self.levels[level].head[slot]
            }
        }
    }

    fn push(&mut self, i: u32, place: Place) {
        let head = *self.head(place);
        if head != NIL {
            self.links[head as usize].prev = i;
        }
        let link = &mut self.links[i as usize];
        (link.prev, link.next, link.place) = (NIL, head, Some(place));
        *self.head(place) = i;
    }

    /// Links `i` into `due`, after every entry whose tick is not later: due entries are
    /// handed out in tick order, and in insertion order within a tick. Entries become due a
    /// slot at a time, all of one tick, so this appends at the tail in O(1); only a deadline
    /// already passed when it was set walks the list.
    fn push_due(&mut self, i: u32, tick: u64) {
        let mut after = self.due_tail;
        while after != NIL && self.links[after as usize].tick > tick {
            after = self.links[after as usize].prev;
        }
        let next = match after {
            NIL => self.due,
            after => self.links[after as usize].next,
        };
        match next {
            NIL => self.due_tail = i,
            next => self.links[next as usize].prev = i,
        }
        match after {
            NIL => self.due = i,
            after => self.links[after as usize].next = i,
        }
        let link = &mut self.links[i as usize];
        (link.prev, link.next, link.place) = (after, next, Some(Place::Due));
    }

    /// Unlinks `i` from wherever it is.
    pub(crate) fn remove(&mut self, i: u32) {
        // `NIL` is past every index, so `get_mut` tells the ends of the list (and an index
        // out of range is in no list).
        let Some(link) = self.links.get_mut(i as usize) else {
            return;
        };
        let Some(place) = link.place.take() else {
            return;
        };
        let (prev, next) = (link.prev, link.next);
        match self.links.get_mut(prev as usize) {
            Some(prev) => prev.next = next,
            None => *self.head(place) = next,
        }
        match self.links.get_mut(next as usize) {
            Some(next) => next.prev = prev,
            None if place == Place::Due => self.due_tail = prev,
            None => {}
        }
        if let Place::Slot(at) = place {
            let (level, slot) = (at as usize / SLOTS, at as usize % SLOTS);
            if self.levels.get(level).is_some_and(|l| l.head[slot] == NIL) {
                self.empty_slot(level, slot);
            }
        }
    }

    /// Marks a slot whose list is now empty as unoccupied (and its level, if it was the last).
    fn empty_slot(&mut self, level: usize, slot: usize) {
        if let Some(l) = self.levels.get_mut(level) {
            l.occupied &= !(1 << slot);
            l.min[slot] = u64::MAX;
            if l.occupied == 0 {
                self.levels_occupied &= !(1 << level);
            }
        }
    }

    /// Slots `i` to expire at `tick` (already due if that is not after `elapsed`).
    pub(crate) fn insert(&mut self, i: u32, tick: u64) {
        self.links[i as usize].tick = tick;
        if tick <= self.elapsed {
            self.push_due(i, tick);
            return;
        }
        let level = level_for(self.elapsed, tick);
        let slot = ((tick >> (BITS as usize * level)) % SLOTS as u64) as usize;
        self.push(i, Place::Slot((level * SLOTS + slot) as u16));
        self.levels_occupied |= 1 << level;
        let level = &mut self.levels[level];
        level.occupied |= 1 << slot;
        level.min[slot] = level.min[slot].min(tick);
    }

    /// Keeps `i` on the pending list, for the owner to insert later.
    pub(crate) fn pend(&mut self, i: u32) {
        self.push(i, Place::Pending);
    }

    pub(crate) fn has_pending(&self) -> bool {
        self.pending != NIL
    }

    /// The first entry of the pending list, unlinked.
    pub(crate) fn pop_pending(&mut self) -> Option<u32> {
        // The head of a list needs none of `remove`'s questions (which list, which end):
        // this is on every reset's path, 23 instructions fewer per idle-timeout reset.
        // `NIL` is past every index, so `get_mut` tells the ends of the list.
        let i = self.pending;
        let link = self.links.get_mut(i as usize)?;
        let next = link.next;
        link.place = None;
        self.pending = next;
        if let Some(next) = self.links.get_mut(next as usize) {
            next.prev = NIL;
        }
        Some(i)
    }

    fn next_expiration(&self) -> Option<Expiration> {
        // The lowest occupied level holds the earliest entries: every entry differs from
        // `elapsed` first in the bits of its level, so a lower level's entries come sooner.
        let level = self.levels_occupied.trailing_zeros() as usize;
        if let Some(l) = self.levels.get(level) {
            let range = slot_range(level);
            let now_slot = ((self.elapsed >> (BITS as usize * level)) % SLOTS as u64) as u32;
            let slot =
                (l.occupied.rotate_right(now_slot).trailing_zeros() + now_slot) as usize % SLOTS;
            let level_range = range * SLOTS as u64;
            let mut start = (self.elapsed & !(level_range - 1)) + slot as u64 * range;
            if start <= self.elapsed {
                start += level_range; // only at the top level, past the end of the levels
            }
            let min = l.min[slot];
            return Some(Expiration {
                level,
                slot,
                start,
                min,
            });
        }
        None
    }

    /// The earliest tick at which an entry may expire: `elapsed` if some are due already.
    pub(crate) fn next_tick(&self) -> Option<u64> {
        if self.due != NIL {
            return Some(self.elapsed);
        }
        let e = self.next_expiration()?;
        Some(e.start.max(e.min))
    }

    /// The next entry expired by `now` (in ticks), unlinked; `None` once there are no more.
    pub(crate) fn poll(&mut self, now: u64) -> Option<u32> {
        loop {
            if self.due != NIL {
                let i = self.due;
                self.remove(i);
                return Some(i);
            }
            match self.next_expiration() {
                Some(e) if e.start <= now => self.process(e),
                _ => {
                    self.elapsed = self.elapsed.max(now);
                    return None;
                }
            }
        }
    }

    /// Takes a slot whose start has come and sorts its entries again from there: the due
    /// ones to `due`, the others one level down or more.
    fn process(&mut self, e: Expiration) {
        let level = &mut self.levels[e.level];
        let mut i = core::mem::replace(&mut level.head[e.slot], NIL);
        self.empty_slot(e.level, e.slot);
        self.elapsed = e.start;
        while i != NIL {
            let next = self.links[i as usize].next;
            self.links[i as usize].place = None;
            let tick = self.links[i as usize].tick;
            self.insert(i, tick);
            i = next;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn wheel(n: usize) -> Wheel {
        let mut w = Wheel::new();
        assert!(w.reserve(n));
        w
    }

    fn drain(w: &mut Wheel, now: u64) -> Vec<u32> {
        let mut out = Vec::new();
        while let Some(i) = w.poll(now) {
            out.push(i);
        }
        out
    }

    #[test]
    fn ticks_round_up() {
        assert_eq!(tick_of(0), 0);
        assert_eq!(tick_of(1), 1);
        assert_eq!(tick_of(1024), 1);
        assert_eq!(tick_of(1025), 2);
        assert_eq!(tick_of(u64::MAX), MAX_TICK);
        assert!(ns_of(tick_of(123_456_789)) >= 123_456_789);
    }

    #[test]
    fn entries_expire_at_their_tick_not_before() {
        let ticks = [
            1u64,
            5,
            63,
            64,
            65,
            4095,
            4096,
            70_000,
            1 << 30,
            1 << 40,
            MAX_TICK,
        ];
        let mut w = wheel(ticks.len());
        for (i, &t) in ticks.iter().enumerate() {
            w.insert(i as u32, t);
        }
        for (i, &t) in ticks.iter().enumerate() {
            assert!(drain(&mut w, t - 1).is_empty(), "expired before tick {t}");
            assert_eq!(w.next_tick(), Some(t), "next tick before {t}");
            assert_eq!(drain(&mut w, t), vec![i as u32], "at tick {t}");
        }
        assert_eq!(w.next_tick(), None);
    }

    #[test]
    fn remove_and_reinsert_anywhere() {
        let mut w = wheel(3);
        w.insert(0, 100);
        w.insert(1, 100);
        w.insert(2, 5000);
        w.remove(1);
        assert_eq!(w.place(1), None);
        w.insert(1, 50);
        w.remove(2);
        w.insert(2, 10);
        let order = drain(&mut w, 10_000);
        assert_eq!(order, vec![2, 1, 0]);
        // Entries inserted at or before the wheel's time are due at once, in tick order.
        w.insert(0, 30);
        w.insert(1, 3);
        w.insert(2, 30);
        assert_eq!(w.next_tick(), Some(10_000));
        assert_eq!(drain(&mut w, 10_000), vec![1, 0, 2]);
    }

    #[test]
    fn a_long_jump_hands_out_everything_in_tick_order() {
        let n = 2000;
        let mut w = wheel(n);
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for i in 0..n {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            w.insert(i as u32, 1 + x % (1 << 36));
        }
        let order = drain(&mut w, MAX_TICK);
        assert_eq!(order.len(), n);
        for pair in order.windows(2) {
            // Within one tick the order is unspecified; across ticks it is by tick.
            assert!(w.tick(pair[0]) <= w.tick(pair[1]));
        }
    }

    /// Every level's bit in `levels_occupied` says whether it has an occupied slot.
    fn check_levels(w: &Wheel) {
        for (l, level) in w.levels.iter().enumerate() {
            assert_eq!(
                w.levels_occupied >> l & 1 == 1,
                level.occupied != 0,
                "level {l}"
            );
        }
    }

    // Random inserts, removes, pends and polls against a plain list: every entry comes out
    // once, at its tick or later (never before), in tick order within one poll's time.
    #[test]
    fn random_operations_agree_with_a_plain_list() {
        const N: u32 = 64;
        let mut w = wheel(N as usize);
        let mut model: Vec<Option<u64>> = vec![None; N as usize];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut rand = move |m: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % m
        };
        let mut now = 1_000_000;
        let rounds = if cfg!(miri) { 1_000 } else { 20_000 };
        for _ in 0..rounds {
            let i = rand(u64::from(N)) as u32;
            match rand(8) {
                0..=3 => {
                    w.remove(i);
                    // Near, far, and at any level of the wheel.
                    let ahead = match rand(3) {
                        0 => rand(64),
                        1 => rand(1 << 20),
                        _ => rand(1 << 40),
                    };
                    w.insert(i, now + ahead);
                    model[i as usize] = Some(now + ahead);
                }
                4 => {
                    w.remove(i);
                    model[i as usize] = None;
                }
                _ => {
                    now += match rand(3) {
                        0 => rand(4),
                        1 => rand(5000),
                        _ => rand(1 << 30),
                    };
                    let mut last = 0;
                    while let Some(j) = w.poll(now) {
                        let tick = model[j as usize].take().expect("handed out twice");
                        assert!(tick <= now, "entry {j} at {tick} handed out at {now}");
                        assert!(tick >= last, "out of tick order");
                        last = tick;
                    }
                    for (j, tick) in model.iter().enumerate() {
                        if let Some(tick) = tick {
                            assert!(*tick > now, "entry {j} at {tick} not handed out at {now}");
                        }
                    }
                    if let (Some(next), Some(min)) = (w.next_tick(), model.iter().flatten().min()) {
                        assert!(next <= *min, "next tick {next} after entry at {min}");
                    }
                }
            }
            check_levels(&w);
        }
    }

    #[test]
    fn pending_list_is_separate() {
        let mut w = wheel(3);
        w.pend(0);
        w.pend(2);
        w.insert(1, 7);
        assert_eq!(w.place(0), Some(Place::Pending));
        assert_eq!(drain(&mut w, 100), vec![1]);
        let mut popped = vec![w.pop_pending().unwrap(), w.pop_pending().unwrap()];
        popped.sort();
        assert_eq!(popped, vec![0, 2]);
        assert_eq!(w.pop_pending(), None);
    }
}
