//! `Sleeps`: a timer queue of wakers, for tasks' timer futures. It owns the wheel's entries for
//! sleeps (each a waker to wake and whether it fired) and nothing else: no callbacks, no `Ops`,
//! no clock (its caller reads the clock and hands the time in).

use super::wheel::{ns_of, tick_of, Wheel, TICK_SHIFT};
use crate::error::{Error, Result};
use crate::sys::Errno;
use alloc::vec::Vec;
use core::task::Waker;

/// One sleep: the waker of the task awaiting it, whether its deadline has come, and the
/// deadline (nanoseconds). A reset to a later deadline only writes `deadline`: the entry stays
/// where it sits in the wheel, and the firing that reaches it there before its deadline moves
/// it on (so a sleep pushed back at every event, an idle timeout, costs no wheel work).
struct Entry {
    waker: Option<Waker>,
    fired: bool,
    deadline: u64,
}

/// Sleeps by entry index (each `Sleep` future keeps its own index and gives it back on drop).
pub(crate) struct Sleeps {
    wheel: Wheel,
    entries: Vec<Entry>,
    free: Vec<u32>,
    /// Entries in the wheel, not yet fired.
    armed: usize,
}

impl Sleeps {
    pub(crate) const fn new() -> Sleeps {
        Sleeps {
            wheel: Wheel::new(),
            entries: Vec::new(),
            free: Vec::new(),
            armed: 0,
        }
    }

    /// Whether a sleep waits for its deadline.
    pub(crate) fn armed(&self) -> bool {
        self.armed != 0
    }

    /// A new entry for a sleep until `deadline` (nanoseconds), read at `now`; O(1), no syscall.
    ///
    /// # Errors
    /// `ENOMEM` if memory for it cannot be had.
    pub(crate) fn arm(&mut self, deadline: u64, now: u64, waker: &Waker) -> Result<u32> {
        let oom = Error::Os(Errno::ENOMEM);
        let i = match self.free.last() {
            Some(&i) => i,
            None => {
                let i = u32::try_from(self.entries.len()).map_err(|_| oom)?;
                self.entries.try_reserve(1).map_err(|_| oom)?;
                self.free.try_reserve(1).map_err(|_| oom)?;
                i
            }
        };
        if !self.wheel.reserve(i as usize + 1) {
            return Err(oom);
        }
        let entry = Entry {
            waker: Some(waker.clone()),
            fired: false,
            deadline,
        };
        match self.free.pop() {
            Some(_) => self.entries[i as usize] = entry,
            None => self.entries.push(entry),
        }
        self.insert(i, deadline, now);
        Ok(i)
    }

    fn insert(&mut self, i: u32, deadline: u64, now: u64) {
        // A deadline already reached is due now, whatever tick it would round up to.
        let tick = if deadline <= now {
            now >> TICK_SHIFT
        } else {
            tick_of(deadline)
        };
        self.wheel.insert(i, tick);
        self.armed += 1;
    }

    /// A later deadline for entry `i` if it is still armed: it stays where it sits, with no
    /// clock reading; `false` (nothing changed) if it fired, or the deadline is earlier: then
    /// [`reset`](Sleeps::reset) it.
    pub(crate) fn postpone(&mut self, i: u32, deadline: u64) -> bool {
        let entry = &mut self.entries[i as usize];
        if entry.fired || deadline < entry.deadline || self.wheel.place(i).is_none() {
            return false;
        }
        entry.deadline = deadline;
        true
    }

    /// A new deadline for entry `i`, fired or not, read at `now`; O(1).
    pub(crate) fn reset(&mut self, i: u32, deadline: u64, now: u64) {
        self.unslot(i);
        let entry = &mut self.entries[i as usize];
        entry.fired = false;
        entry.deadline = deadline;
        self.insert(i, deadline, now);
    }

    /// Whether entry `i` fired; if not, `waker` is the one its firing wakes.
    pub(crate) fn poll(&mut self, i: u32, waker: &Waker) -> bool {
        let entry = &mut self.entries[i as usize];
        if entry.fired {
            return true;
        }
        match &entry.waker {
            Some(w) if w.will_wake(waker) => {}
            _ => entry.waker = Some(waker.clone()),
        }
        false
    }

    /// Gives entry `i` back (its sleep is dropped), returning its waker to drop.
    pub(crate) fn cancel(&mut self, i: u32) -> Option<Waker> {
        self.unslot(i);
        self.free.push(i); // room was reserved when the entry was made
        self.entries[i as usize].waker.take()
    }

    fn unslot(&mut self, i: u32) {
        if self.wheel.place(i).is_some() {
            self.wheel.remove(i);
            self.armed -= 1;
        }
    }

    /// Fires the entries due at `now` (nanoseconds): their wakers go to `woken`.
    pub(crate) fn fire(&mut self, now: u64, woken: &mut Vec<Waker>) {
        while let Some(i) = self.wheel.poll(now >> TICK_SHIFT) {
            let entry = &mut self.entries[i as usize];
            if entry.deadline > now && tick_of(entry.deadline) > now >> TICK_SHIFT {
                // Postponed while it sat here: on to its deadline's tick, after `now`'s (a
                // deadline after `now` rounds up past it), so this loop does not see it again.
                // The wheel's last tick, which holds every later deadline too, fires them.
                self.wheel.insert(i, tick_of(entry.deadline));
                continue;
            }
            self.armed -= 1;
            entry.fired = true;
            woken.extend(entry.waker.take());
        }
    }

    /// The reactor is gone: the waker of the first sleep from entry `from` on that has one,
    /// with the entry after it (to wake each sleep's task, one at a time, allocating nothing).
    pub(crate) fn take_waker(&mut self, from: usize) -> Option<(Waker, usize)> {
        let entries = self.entries.get_mut(from..)?;
        entries
            .iter_mut()
            .enumerate()
            .find_map(|(i, e)| e.waker.take().map(|w| (w, from + i + 1)))
    }

    /// The earliest deadline of the armed entries, rounded up to its tick (never before it;
    /// at most a tick, 1,023 ns, after it), in nanoseconds.
    pub(crate) fn next_deadline(&self) -> Option<u64> {
        self.wheel.next_tick().map(ns_of)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_wakers::counting;

    /// About a millisecond, a whole number of the wheel's ticks.
    const MS: u64 = 1 << 20;

    #[test]
    fn an_entry_fires_at_its_deadline_never_before() {
        let (count, waker) = counting();
        let mut s = Sleeps::new();
        let i = s.arm(10 * MS, 0, &waker).unwrap();
        let mut woken = Vec::new();
        s.fire(10 * MS - 1, &mut woken);
        assert!(woken.is_empty() && !s.poll(i, &waker));
        assert_eq!(s.next_deadline(), Some(10 * MS));
        s.fire(10 * MS, &mut woken);
        assert_eq!(woken.len(), 1);
        woken.drain(..).for_each(Waker::wake);
        assert_eq!(count.wakes(), 1);
        assert!(s.poll(i, &waker) && !s.armed());
    }

    #[test]
    fn cancel_and_reset_move_an_entry_in_place() {
        let (_, waker) = counting();
        let mut s = Sleeps::new();
        let a = s.arm(50 * MS, 0, &waker).unwrap();
        let b = s.arm(20 * MS, 0, &waker).unwrap();
        s.cancel(b);
        assert_eq!(s.next_deadline(), Some(50 * MS));
        s.reset(a, 5 * MS, MS);
        let mut woken = Vec::new();
        s.fire(5 * MS, &mut woken);
        assert_eq!(woken.len(), 1);
        // A fired entry reset to a later deadline waits again.
        s.reset(a, 9 * MS, 5 * MS);
        assert!(!s.poll(a, &waker));
        let reused = s.arm(MS, 5 * MS, &waker).unwrap();
        assert_eq!(reused, b, "a cancelled entry is reused");
        s.fire(9 * MS, &mut woken);
        assert_eq!(woken.len(), 3);
        assert!(!s.armed());
    }

    #[test]
    fn a_postponed_entry_fires_at_its_new_deadline_never_before() {
        let (_, waker) = counting();
        let mut s = Sleeps::new();
        let i = s.arm(10 * MS, 0, &waker).unwrap();
        assert!(s.postpone(i, 30 * MS));
        assert!(!s.postpone(i, 20 * MS), "an earlier deadline is a reset");
        let mut woken = Vec::new();
        s.fire(10 * MS, &mut woken); // where it sat: moved on, not fired
        assert!(woken.is_empty() && s.armed() && !s.poll(i, &waker));
        assert_eq!(s.next_deadline(), Some(30 * MS));
        s.fire(30 * MS - 1, &mut woken);
        assert!(woken.is_empty());
        s.fire(30 * MS, &mut woken);
        assert_eq!(woken.len(), 1);
        assert!(s.poll(i, &waker) && !s.armed());
        assert!(
            !s.postpone(i, 40 * MS),
            "a fired entry is reset, not postponed"
        );
    }

    #[test]
    fn a_deadline_at_the_wheels_last_tick_does_not_loop_the_firing() {
        // The wheel's last tick holds every deadline from `ns_of(MAX_TICK)` on: one the firing
        // reaches there, before its deadline, cannot move on to a later tick.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let (_, waker) = counting();
            let mut s = Sleeps::new();
            let i = s.arm(u64::MAX, 0, &waker).unwrap();
            let mut woken = Vec::new();
            s.fire(u64::MAX - 1, &mut woken);
            let _ = tx.send((woken.len(), s.poll(i, &waker)));
        });
        let fired = rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("the firing looped");
        // As before postponing: the last tick fires what it holds (a deadline some 584 years
        // on, within a microsecond).
        assert_eq!(fired, (1, true));
    }

    /// Random arms, postpones, resets (earlier, later, past), cancels and firings against a
    /// model: a firing at `now` fires exactly the armed entries whose deadline is at or before
    /// `now`, and afterwards the next deadline is after `now` (a wait until it does not spin).
    #[test]
    fn postpones_and_resets_fire_exactly_the_due_entries_against_a_model() {
        let (_, waker) = counting();
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        let mut rand = move |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        for round in 0..if cfg!(miri) { 1 } else { 20 } {
            let mut s = Sleeps::new();
            // Per live entry: its deadline, and whether it fired.
            let mut model: std::collections::BTreeMap<u32, (u64, bool)> = Default::default();
            let mut now = rand(1 << 30);
            for step in 0..if cfg!(miri) { 300 } else { 3000 } {
                let ids: Vec<u32> = model.keys().copied().collect();
                let pick = |r: u64| ids[(r % ids.len() as u64) as usize];
                let span = [1u64, 1 << 10, 1 << 20, 1 << 30, 1 << 40][rand(5) as usize];
                match rand(10) {
                    0 | 1 if model.len() < 200 => {
                        let deadline = now + 1 + rand(span);
                        let i = s.arm(deadline, now, &waker).unwrap();
                        assert!(model.insert(i, (deadline, false)).is_none());
                    }
                    2 | 3 if !ids.is_empty() => {
                        let i = pick(rand(u64::MAX));
                        let (old, fired) = model[&i];
                        let deadline = old.saturating_add(rand(span));
                        if s.postpone(i, deadline) {
                            assert!(!fired && deadline >= old);
                            model.insert(i, (deadline, false));
                        } else {
                            s.reset(i, deadline, now);
                            model.insert(i, (deadline, false));
                        }
                    }
                    4 if !ids.is_empty() => {
                        // Earlier, perhaps past.
                        let i = pick(rand(u64::MAX));
                        let deadline = now.saturating_sub(span) + rand(2 * span);
                        if !s.postpone(i, deadline) {
                            s.reset(i, deadline, now);
                        }
                        model.insert(i, (deadline, false));
                    }
                    5 if !ids.is_empty() => {
                        let i = pick(rand(u64::MAX));
                        drop(s.cancel(i));
                        model.remove(&i);
                    }
                    _ => {
                        now += rand(span);
                        let mut woken = Vec::new();
                        s.fire(now, &mut woken);
                        for (&i, (deadline, fired)) in model.iter_mut() {
                            let polled = s.poll(i, &waker);
                            let at = std::format!("round {round} step {step}: entry {i} deadline {deadline} now {now}");
                            // Never early; at the latest by the deadline's tick (ticks round up).
                            assert!(!polled || *fired || *deadline <= now, "early: {at}");
                            let must = *deadline <= now && tick_of(*deadline) <= now >> TICK_SHIFT;
                            assert!(polled || !must, "late: {at}");
                            assert!(polled || !*fired, "unfired: {at}");
                            *fired = polled;
                        }
                        let armed = model.values().filter(|(_, f)| !f).count();
                        assert_eq!(s.armed(), armed != 0, "round {round} step {step}");
                        if let Some(next) = s.next_deadline() {
                            assert!(next > now, "round {round} step {step}: the wait would spin");
                            let min = model.values().filter(|(_, f)| !f).map(|(d, _)| *d);
                            let min = min.min().unwrap();
                            // Ticks round up: the wait ends at the earliest deadline's tick.
                            assert!(
                                next <= ns_of(tick_of(min)),
                                "round {round} step {step}: next {next}, earliest {min}"
                            );
                        }
                    }
                }
            }
        }
    }
}
