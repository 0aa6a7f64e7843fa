//! `FdTable`: values by fd number. Numbers below [`LOW`] are in a flat array as long as the
//! highest of them (one load away); higher ones in a three-level radix tree of small pages, so
//! that a reactor pays for the numbers it uses, not for the highest one (one subscriber on fd
//! 19,999 costs under 1 KiB of table). Owns only its memory; knows nothing of nodes or the
//! kernel.
//!
//! A number `n ≥ LOW` lives in leaf `n % 64` of mid page `(n / 64) % 32` of top entry
//! `n / 2048`. Room for a number is made by [`reserve`](FdTable::reserve) before anything else
//! of a registration is done, and given back by [`unreserve`](FdTable::unreserve) if the
//! registration is refused: clean-up frees, never allocates, and a refused registration leaves
//! memory as it found it (but for the radix's top vector, if it was not empty).

use super::try_box;
use alloc::boxed::Box;
use alloc::vec::Vec;

/// Numbers below this are in the flat array (at most 8 KiB of it for one-word values).
const LOW: usize = 1024;
const LEAF_BITS: u32 = 6;
const LEAF: usize = 1 << LEAF_BITS;
const MID_BITS: u32 = 5;
const MID: usize = 1 << MID_BITS;

type Leaf<V> = [Option<V>; LEAF];
type Mid<V> = [Option<Box<Leaf<V>>>; MID];

/// Values by fd number.
pub(super) struct FdTable<V> {
    low: Vec<Option<V>>,
    top: Vec<Option<Box<Mid<V>>>>,
    /// The larger flat array the last [`reserve`](FdTable::reserve) made, if it made one.
    grown: Vec<Option<V>>,
    /// The radix top's length before the last `reserve` made pages.
    top_len: usize,
}

/// Why [`FdTable::reserve`] made no room.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum NoRoom {
    /// The number holds a value.
    Taken,
    /// Memory for the room cannot be had.
    OutOfMemory,
}

/// What [`FdTable::reserve`] made for a number (flags), for [`FdTable::place`] to use or
/// [`FdTable::unreserve`] to give back. Only the last reservation may be outstanding.
#[must_use]
pub(super) struct Reserved(u8);

impl Reserved {
    /// Room was there already.
    const NOTHING: Reserved = Reserved(0);
    /// A larger flat array is in `grown`.
    const GROWN: u8 = 1;
    /// A mid page was made.
    const MID: u8 = 2;
    /// A leaf page was made.
    const LEAF: u8 = 4;
}

/// The three radix indices of `n`.
#[inline(always)]
fn split(n: usize) -> (usize, usize, usize) {
    (
        n >> (LEAF_BITS + MID_BITS),
        (n >> LEAF_BITS) & (MID - 1),
        n & (LEAF - 1),
    )
}

impl<V> FdTable<V> {
    pub(super) const fn new() -> FdTable<V> {
        FdTable {
            low: Vec::new(),
            top: Vec::new(),
            grown: Vec::new(),
            top_len: 0,
        }
    }

    /// Whether no number ever had room here.
    #[inline]
    pub(super) fn is_empty(&self) -> bool {
        self.low.is_empty() && self.top.is_empty()
    }

    /// The value at `n`, if any.
    #[inline]
    pub(super) fn get(&self, n: usize) -> Option<&V> {
        if n < LOW {
            return self.low.get(n).and_then(Option::as_ref);
        }
        let (t, m, l) = split(n);
        match self.top.get(t) {
            Some(Some(mid)) => match &mid[m] {
                Some(leaf) => leaf[l].as_ref(),
                None => None,
            },
            _ => None,
        }
    }

    /// The place of `n`, if it has room.
    #[inline]
    pub(super) fn entry(&mut self, n: usize) -> Option<&mut Option<V>> {
        if n < LOW {
            return self.low.get_mut(n);
        }
        let (t, m, l) = split(n);
        match self.top.get_mut(t) {
            Some(Some(mid)) => match &mut mid[m] {
                Some(leaf) => Some(&mut leaf[l]),
                None => None,
            },
            _ => None,
        }
    }

    /// The value at `n`, taken out.
    #[inline]
    pub(super) fn take(&mut self, n: usize) -> Option<V> {
        self.entry(n).and_then(Option::take)
    }

    /// Makes room for a value at `n` if it has none, without moving anything yet. Refused
    /// (and nothing changed) if `n` holds a value, or if memory for it cannot be had.
    #[inline]
    pub(super) fn reserve(&mut self, n: usize) -> Result<Reserved, NoRoom> {
        if let Some(entry) = self.low.get(n) {
            // The common case: one look at the flat array.
            return match entry {
                Some(_) => Err(NoRoom::Taken),
                None => Ok(Reserved::NOTHING),
            };
        }
        if self.get(n).is_some() {
            return Err(NoRoom::Taken);
        }
        self.make_room(n).ok_or(NoRoom::OutOfMemory)
    }

    #[inline(never)]
    fn make_room(&mut self, n: usize) -> Option<Reserved> {
        if n < LOW && n < self.low.capacity() {
            return Some(Reserved::NOTHING); // `place` fills up to it within the room there is
        }
        if n < LOW {
            // A larger flat array, moved to once the value is placed (so a refusal frees it).
            let room = (n + 1).max(self.low.capacity() * 2).min(LOW);
            let mut grown = Vec::new();
            grown.try_reserve_exact(room).ok()?;
            self.grown = grown;
            return Some(Reserved(Reserved::GROWN));
        }
        let (t, m, _) = split(n);
        let top_len = self.top.len();
        let mid_missing = !matches!(self.top.get(t), Some(Some(_)));
        let leaf_missing = match self.top.get(t) {
            Some(Some(mid)) => mid[m].is_none(),
            _ => true,
        };
        if !leaf_missing {
            return Some(Reserved::NOTHING);
        }
        // Every allocation first, so that a failure changes nothing.
        if t >= top_len {
            self.top.try_reserve_exact(t + 1 - top_len).ok()?;
        }
        let new_mid = if mid_missing {
            Some(try_box::<Mid<V>>(core::array::from_fn(|_| None)).ok()?)
        } else {
            None
        };
        let leaf = try_box::<Leaf<V>>(core::array::from_fn(|_| None)).ok()?;
        while self.top.len() <= t {
            self.top.push(None); // within the room reserved
        }
        if let Some(new_mid) = new_mid {
            self.top[t] = Some(new_mid);
        }
        if let Some(Some(mid)) = self.top.get_mut(t) {
            mid[m] = Some(leaf);
        }
        self.top_len = top_len;
        let mid = if mid_missing { Reserved::MID } else { 0 };
        Some(Reserved(mid | Reserved::LEAF))
    }

    /// Puts `value` at `n`, which is empty, in the room `reserved` made for it. Gives `value`
    /// back if there is no room (no reservation for `n`) or `n` is taken.
    #[inline]
    pub(super) fn place(&mut self, n: usize, value: V, reserved: Reserved) -> Result<(), V> {
        if reserved.0 & Reserved::GROWN != 0 {
            self.move_low();
        }
        if n < LOW && n >= self.low.len() {
            while self.low.len() <= n && self.low.len() < self.low.capacity() {
                self.low.push(None); // within the room reserved
            }
        }
        match self.entry(n) {
            Some(empty @ None) => {
                *empty = Some(value);
                Ok(())
            }
            _ => Err(value),
        }
    }

    #[inline(never)]
    fn move_low(&mut self) {
        let mut grown = core::mem::take(&mut self.grown);
        for value in self.low.drain(..) {
            if grown.len() < grown.capacity() {
                grown.push(value); // within the room reserved, larger than the old
            }
        }
        self.low = grown;
    }

    /// Gives back the room [`reserve`](Self::reserve) made for `n`, which holds no value.
    /// Frees only (the radix's top keeps its room, unless it was empty before).
    pub(super) fn unreserve(&mut self, n: usize, reserved: Reserved) {
        if reserved.0 & Reserved::GROWN != 0 {
            self.grown = Vec::new(); // the larger flat array, not moved to, is freed
        }
        if reserved.0 & Reserved::LEAF == 0 {
            return;
        }
        let (t, m, _) = split(n);
        if let Some(Some(mid)) = self.top.get_mut(t) {
            mid[m] = None;
        }
        if reserved.0 & Reserved::MID != 0 {
            if let Some(entry) = self.top.get_mut(t) {
                *entry = None;
            }
        }
        self.top.truncate(self.top_len);
        if self.top_len == 0 {
            self.top = Vec::new(); // frees the room reserved for the first page
        }
    }

    /// Every value with its number, in order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (usize, &V)> {
        let low = self.low.iter().enumerate();
        let low = low.filter_map(|(n, value)| value.as_ref().map(|value| (n, value)));
        let high = self.top.iter().enumerate().flat_map(|(t, mid)| {
            mid.iter().flat_map(move |mid| {
                mid.iter().enumerate().flat_map(move |(m, leaf)| {
                    leaf.iter().flat_map(move |leaf| {
                        leaf.iter().enumerate().filter_map(move |(l, value)| {
                            let n = (((t << MID_BITS) | m) << LEAF_BITS) | l;
                            value.as_ref().map(|value| (n, value))
                        })
                    })
                })
            })
        });
        // Radix entries below `LOW` are never made.
        low.chain(high.filter(|&(n, _)| n >= LOW))
    }

    /// Calls `f` with every value and its number, in order, until it fails. (Plain loops: the
    /// iterator adapters this replaced cost a kilobyte of code in every program.)
    pub(super) fn try_each<E>(
        &self,
        mut f: impl FnMut(usize, &V) -> Result<(), E>,
    ) -> Result<(), E> {
        for (n, value) in self.low.iter().enumerate() {
            if let Some(value) = value {
                f(n, value)?;
            }
        }
        for (t, mid) in self.top.iter().enumerate() {
            let Some(mid) = mid else { continue };
            for (m, leaf) in mid.iter().enumerate() {
                let Some(leaf) = leaf else { continue };
                for (l, value) in leaf.iter().enumerate() {
                    let n = (((t << MID_BITS) | m) << LEAF_BITS) | l;
                    // Radix entries below `LOW` are never made.
                    if let (Some(value), true) = (value, n >= LOW) {
                        f(n, value)?;
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(table: &mut FdTable<u32>, n: usize) {
        let room = table.reserve(n).unwrap();
        assert_eq!(table.place(n, n as u32, room), Ok(()));
    }

    #[test]
    fn values_by_number_in_room_made_on_demand_and_given_back() {
        let mut table = FdTable::<u32>::new();
        assert!(table.is_empty() && table.get(5).is_none() && table.entry(5).is_none());
        for n in [3, 64, 1023, 1024, 2047, 2048, 19_999] {
            put(&mut table, n);
        }
        let all: Vec<_> = table.iter().map(|(n, v)| (n, *v)).collect();
        let mut each = Vec::new();
        table
            .try_each(|n, v| {
                each.push((n, *v));
                Ok::<(), ()>(())
            })
            .unwrap();
        assert_eq!(each, all);
        let want = [3, 64, 1023, 1024, 2047, 2048, 19_999].map(|n| (n, n as u32));
        assert_eq!(all, want);
        assert_eq!(table.take(64), Some(64));
        assert_eq!(table.get(64), None);
        assert_eq!(table.get(19_999), Some(&19_999));
        assert_eq!(table.reserve(3).err(), Some(NoRoom::Taken));
        assert_eq!(table.reserve(19_999).err(), Some(NoRoom::Taken));
        // Room made for a refused number goes back; the rest stays.
        let made = table.reserve(40_000).unwrap();
        assert_eq!(made.0, Reserved::MID | Reserved::LEAF);
        table.unreserve(40_000, made);
        assert!(table.entry(40_000).is_none());
        assert_eq!(table.top.len(), 10);
        assert_eq!(table.get(19_999), Some(&19_999));
        let again = table.reserve(19_998).unwrap();
        assert_eq!(again.0, 0, "pages made twice");
        let mut empty = FdTable::<u32>::new();
        let made = empty.reserve(19_999).unwrap();
        empty.unreserve(19_999, made);
        let made = empty.reserve(500).unwrap();
        empty.unreserve(500, made);
        assert_eq!((empty.top.capacity(), empty.low.capacity()), (0, 0));
        // One high number: under 1 KiB of table.
        put(&mut empty, 19_999);
        let bytes = empty.top.capacity() * 8 + MID * 8 + LEAF * 8;
        assert!(bytes <= 1024, "{bytes}");
    }
    /// `try_each` visits what `iter` does, in order, through pages made and emptied and the
    /// flat array's edge; an error stops it at once and is what it returns.
    #[test]
    fn try_each_visits_what_iter_does_and_stops_at_an_error() {
        let mut table = FdTable::<u32>::new();
        let numbers = [
            0, 1, 63, 64, 1022, 1023, 1024, 1025, 1087, 1088, 2047, 2048, 4095, 4096, 65_535,
            65_536, 200_001,
        ];
        for n in numbers {
            put(&mut table, n);
        }
        // Pages emptied but kept: a whole leaf (1024..1088 holds 1024, 1025, 1087), and the
        // only value of a mid page (65_536), and a low number.
        for n in [1024, 1025, 1087, 65_536, 63] {
            assert_eq!(table.take(n), Some(n as u32));
        }
        let each = |table: &FdTable<u32>, stop: Option<usize>| {
            let mut seen = Vec::new();
            let result = table.try_each(|n, v| {
                seen.push((n, *v));
                if Some(n) == stop {
                    return Err(n);
                }
                Ok(())
            });
            (seen, result)
        };
        let all: Vec<_> = table.iter().map(|(n, v)| (n, *v)).collect();
        let want: Vec<_> = [
            0, 1, 64, 1022, 1023, 1088, 2047, 2048, 4095, 4096, 65_535, 200_001,
        ]
        .map(|n| (n, n as u32))
        .to_vec();
        assert_eq!(all, want);
        assert_eq!(each(&table, None), (all.clone(), Ok(())));
        for (i, &(n, _)) in all.iter().enumerate() {
            assert_eq!(each(&table, Some(n)), (all[..=i].to_vec(), Err(n)));
        }
        let empty = FdTable::<u32>::new();
        assert_eq!(each(&empty, None), (Vec::new(), Ok(())));
    }
}
