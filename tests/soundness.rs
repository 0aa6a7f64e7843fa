//! Attacks that chain the registry's rarer paths: a refused DEL whose rebuild fails for want of
//! descriptors, a batch a handler panicked out of, the timers' alarm, panicking destructors.
//! Each test names the invariant it attacks (`barepoll::technical`).
mod common;

use barepoll::sys::{AsFd, AsRawFd};
use barepoll::{Error, Ops, Reactor, Timer};
use common::*;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

const NOW: Option<Duration> = Some(Duration::ZERO);

// Invariants 2 and 13: a subscriber retired (its DEL refused, the rebuild out of descriptors)
// while a panicked batch's remainder still holds its event is not freed by whatever operation
// comes next: here `arm`, whose alarm takes the retired number. Whether a node may be freed is
// the registry's own decision, from its own state.
#[test]
#[cfg_attr(miri, ignore = "resource limits")]
fn a_retired_node_outlives_the_remainder_that_points_at_it() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let (bomb, _) = Probe::new(eventfd(1));
    let armed = std::cell::Cell::new(true);
    let bomb = bomb.on_event(move |_, _| {
        if armed.replace(false) {
            panic!("handler panic (planted by the test)");
        }
    });
    r.register(bomb, barepoll::interest().read().edge())
        .unwrap();
    let v = ghost(&mut r); // closed behind its back; `keeper` keeps the file registered
    poke(v.keeper.as_fd()); // ready after the bomb: the remainder holds its event
    assert!(catch_unwind(AssertUnwindSafe(|| r.run_once(NOW))).is_err());
    assert_eq!(r.pending(), 1);

    let plug = eventfd(0); // the ghost's number names another file, not registered
    assert_eq!(plug.as_raw_fd(), v.number);
    let old = exhaust_descriptors();
    let deleted = r.delete(v.key);
    fd_limit(old);
    drop(plug);
    assert_eq!(v.drops.get(), 0, "dropped while a handler may run");

    // The alarm's timerfd takes the ghost's number.
    r.arm(Timer::after(Duration::from_secs(60)), |_: &mut Ops<'_>| {})
        .unwrap();
    assert_eq!(
        v.drops.get(),
        0,
        "freed while the batch remainder points at it"
    );
    assert!(
        deleted.is_ok(),
        "the subscriber is gone from the caller's view: {deleted:?}"
    );
    assert_eq!(r.len(), 1);
    assert_eq!(r.pending(), 1);
    r.run_once(NOW).unwrap(); // the remainder: the dead node's event, skipped
    assert_eq!(r.pending(), 0);
    assert_eq!(v.drops.get(), 1, "the retired value outlived the remainder");
    // The ghost still reports through the kernel; the next turns rebuild the set without it.
    for _ in 0..3 {
        r.run_once(NOW).unwrap();
    }
    let start = Instant::now();
    assert_eq!(r.run_once(Some(Duration::from_millis(20))).unwrap(), 0);
    assert!(start.elapsed() >= Duration::from_millis(20), "still busy");
    drop(v.keeper);
}

// Invariants 2 and 8: a refused DEL whose rebuild fails drops the subscriber's value (and so
// closes its fd) at once; only the node's memory waits for a rebuild. A connection deleted
// this way sees its end of file instead of staying open.
#[test]
#[cfg_attr(miri, ignore = "resource limits")]
fn a_refused_delete_without_descriptors_still_drops_the_value() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let v = ghost(&mut r);
    let plug = eventfd(0);
    let old = exhaust_descriptors();
    let deleted = r.delete(v.key);
    fd_limit(old);
    assert_eq!(deleted, Ok(()));
    assert_eq!(v.drops.get(), 1, "the value was kept with the ghost");
    assert_eq!(r.delete(v.key), Err(Error::StaleKey(v.key)));
    // The number is not refused: another subscriber takes it at once.
    drop(plug);
    let (p, c) = Probe::new(eventfd(1));
    assert_eq!(p.fd.as_raw_fd(), v.number);
    r.register(p, readable()).unwrap();
    assert_eq!(r.run_once(NOW).unwrap(), 1);
    assert_eq!(c.hits(), 1);
    drop(v.keeper);
}

// Never a busy loop: while a ghost registration reports and no epoll instance can be made to
// drop it, the turns back off; once descriptors are back, a turn that sees the ghost rebuilds
// the set and waits are whole again.
#[test]
#[cfg_attr(miri, ignore = "resource limits")]
fn a_ghost_that_cannot_be_rebuilt_away_backs_off_and_goes_once_it_can() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let v = ghost(&mut r);
    let plug = eventfd(0);
    let old = exhaust_descriptors();
    r.delete(v.key).unwrap();
    poke(v.keeper.as_fd()); // level-triggered and ready: it reports at every wait
    let start = Instant::now();
    let mut turns = 0;
    while start.elapsed() < Duration::from_millis(200) {
        assert_eq!(r.run_once(Some(Duration::from_millis(50))).unwrap(), 0);
        turns += 1;
    }
    fd_limit(old);
    assert!(turns < 100, "{turns} turns in 200 ms: a busy loop");
    // Descriptors are back: the next turn that sees the ghost rebuilds.
    r.run_once(Some(Duration::from_millis(50))).unwrap();
    let start = Instant::now();
    for _ in 0..3 {
        assert_eq!(r.run_once(Some(Duration::from_millis(20))).unwrap(), 0);
    }
    assert!(
        start.elapsed() >= Duration::from_millis(60),
        "the ghost still cuts waits short"
    );
    drop((plug, v.keeper));
}

// Invariant 6: a destructor panics while the graveyard is emptied; the other deleted
// subscribers are dropped by the next turn, even a turn with no event.
#[test]
fn a_destructor_panic_in_the_graveyard_leaves_the_rest_to_the_next_idle_turn() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let mut victims = Vec::new();
    let mut counters = Vec::new();
    for grumpy in [false, false, true] {
        let (mut p, c) = Probe::new(eventfd(0));
        p.panic_on_drop = grumpy;
        victims.push(r.register(p, readable()).unwrap());
        counters.push(c);
    }
    let (deleter, _) = Probe::new(eventfd(1));
    let deleter = deleter.on_event(move |_, ops| {
        for key in &victims {
            ops.delete(*key).unwrap();
        }
        ops.delete_self().unwrap();
    });
    r.register(deleter, readable()).unwrap();
    assert!(catch_unwind(AssertUnwindSafe(|| r.run_once(NOW))).is_err());
    for _ in 0..3 {
        assert_eq!(r.run_once(NOW).unwrap(), 0);
    }
    let drops: Vec<u32> = counters.iter().map(Counters::drops).collect();
    assert_eq!(drops, [1, 1, 1], "deleted subscribers outlived idle turns");
    assert!(r.is_empty());
}

// A panicked batch in which the alarm rang: the next turn counts the rest of the batch and the
// timers it fires, not one less.
#[test]
#[cfg(feature = "alarm")]
#[cfg_attr(miri, ignore = "Miri has no timerfd")]
fn the_alarm_of_a_panicked_batch_is_not_taken_off_the_next_count() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    // The turn after `arm` sets the alarm; on a slow machine (valgrind, load) the timer may
    // already be due by then and fire instead, so arm again until a turn sets it.
    loop {
        r.arm(
            Timer::after(Duration::from_millis(50)),
            |_: &mut Ops<'_>| {},
        )
        .unwrap();
        if r.run_once(NOW).unwrap() == 0 {
            break;
        }
    }
    let (bomb, _) = Probe::new(eventfd(0));
    let bomb = bomb.on_event(|_, _| panic!("handler panic (planted by the test)"));
    let bomb_key = r.register(bomb, readable()).unwrap();
    let (rest, rc) = Probe::new(eventfd(0));
    let rest_key = r.register(rest, readable()).unwrap();
    // The alarm rings first, then the bomb and the other become ready, in that order.
    std::thread::sleep(Duration::from_millis(200));
    poke(r.get::<Probe>(bomb_key).unwrap().fd.as_fd());
    poke(r.get::<Probe>(rest_key).unwrap().fd.as_fd());
    assert!(catch_unwind(AssertUnwindSafe(|| r.run_once(NOW))).is_err());
    assert_eq!(r.pending(), 1);
    // The rest of the batch (one event) and the timer the alarm rang for.
    assert_eq!(r.run_once(NOW).unwrap(), 2);
    assert_eq!(rc.hits(), 1);
}

/// A subscriber over an fd safe code can close behind the reactor's back, counting its drops;
/// its destructor panics if `grumpy`.
struct Closable {
    fd: Option<barepoll::sys::OwnedFd>,
    drops: std::rc::Rc<std::cell::Cell<u32>>,
    grumpy: bool,
}

impl AsFd for Closable {
    fn as_fd(&self) -> barepoll::sys::BorrowedFd<'_> {
        self.fd.as_ref().expect("only at registration").as_fd()
    }
}

impl barepoll::Subscriber for Closable {
    fn handle(&mut self, _: barepoll::Event, _: &mut Ops<'_>) {}
}

impl Drop for Closable {
    fn drop(&mut self) {
        self.drops.set(self.drops.get() + 1);
        if self.grumpy {
            panic!("destructor panic (planted by the test)");
        }
    }
}

/// Retires two `Closable`s with their values in a batch a handler panicked out of (their DELs
/// refused, no descriptor for a rebuild), the second grumpy (its destructor panics). Returns
/// the bomb's key, the descriptors that keep their files open, and their drop counters.
#[allow(clippy::type_complexity)]
fn retire_two_in_a_panicked_batch(
    r: &mut Reactor,
) -> (
    barepoll::Key,
    Vec<barepoll::sys::OwnedFd>,
    Vec<std::rc::Rc<std::cell::Cell<u32>>>,
) {
    let mut victims = Vec::new();
    let mut keepers = Vec::new();
    let mut drops = Vec::new();
    // Retired in this order, given up in the reverse: the grumpy one goes first.
    for grumpy in [false, true] {
        let fd = eventfd(0);
        keepers.push(dup(&fd));
        let counter = std::rc::Rc::new(std::cell::Cell::new(0));
        let sub = Closable {
            fd: Some(fd),
            drops: counter.clone(),
            grumpy,
        };
        victims.push(r.register(sub, readable()).unwrap());
        drops.push(counter);
    }
    let mut doomed = victims.clone();
    let (bomb, _) = Probe::new(eventfd(1));
    let bomb = bomb.on_event(move |_, ops| {
        if doomed.is_empty() {
            return; // once
        }
        let old = exhaust_descriptors();
        let deleted: Vec<_> = doomed.iter().map(|key| ops.delete(*key)).collect();
        fd_limit(old);
        assert_eq!(deleted, [Ok(()), Ok(())]);
        doomed.clear();
        panic!("handler panic (planted by the test)");
    });
    let bomb = r.register(bomb, readable()).unwrap();
    for key in &victims {
        drop(r.get_mut::<Closable>(*key).unwrap().fd.take()); // behind the reactor's back
    }
    assert!(catch_unwind(AssertUnwindSafe(|| r.run_once(NOW))).is_err());
    (bomb, keepers, drops)
}

// Invariants 2, 6 and 8: two subscribers retired with their values in a batch a handler
// panicked out of (their DELs refused, no descriptor for a rebuild); a later rebuild outside a
// turn gives them up, and the first destructor it runs panics. The other, no longer named by
// any kernel entry, still has its value dropped by the next turn, once, and the reactor goes
// on; nothing is dropped twice (the reactor's drop frees their memory).
#[test]
#[cfg_attr(miri, ignore = "resource limits")]
fn a_destructor_panic_while_a_rebuild_gives_up_retired_nodes_loses_none() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let (bomb, _keepers, drops) = retire_two_in_a_panicked_batch(&mut r);
    let count = |drops: &[std::rc::Rc<std::cell::Cell<u32>>]| -> Vec<u32> {
        drops.iter().map(|c| c.get()).collect()
    };
    assert_eq!(count(&drops), [0, 0], "kept while the batch was open");
    // A refused DEL outside a turn: its rebuild works and gives the retired nodes up.
    let v = ghost(&mut r);
    let deleted = catch_unwind(AssertUnwindSafe(|| r.delete(v.key)));
    assert!(deleted.is_err(), "the grumpy destructor panicked");
    assert_eq!(drops[1].get(), 1);
    assert_eq!(v.drops.get(), 1, "the deleted ghost went too");
    for _ in 0..3 {
        r.run_once(NOW).unwrap(); // the bomb's eventfd stays readable
    }
    assert_eq!(count(&drops), [1, 1], "a retired value outlived idle turns");
    assert_eq!(r.len(), 1);
    r.delete(bomb).unwrap();
    drop(r);
    assert_eq!(count(&drops), [1, 1]);
    assert_eq!(v.drops.get(), 1);
}

/// A subscriber whose fd safe code can close behind its back, owning a periodic timer it arms
/// when it is registered.
struct OwnsATimer {
    fd: Option<barepoll::sys::OwnedFd>,
    timer: std::rc::Rc<std::cell::Cell<Option<barepoll::TimerKey>>>,
}

impl AsFd for OwnsATimer {
    fn as_fd(&self) -> barepoll::sys::BorrowedFd<'_> {
        self.fd.as_ref().expect("only at registration").as_fd()
    }
}

impl barepoll::Subscriber for OwnsATimer {
    fn init(&mut self, ops: &mut Ops<'_>) -> barepoll::Result<()> {
        let hourly = Timer::after(Duration::from_secs(3600)).every(Duration::from_secs(3600));
        self.timer.set(Some(ops.arm_own(hourly, 7)?));
        Ok(())
    }

    fn handle(&mut self, _: barepoll::Event, _: &mut Ops<'_>) {}
}

// Invariant 8 and the owned timers' promise: as above, a refused DEL's rebuild outside a turn
// gives up a retired value whose destructor panics, but the subscriber deleted is one that owns
// a timer. Its timer is cancelled with it all the same: the panic does not skip it (and the
// deleted value still drops once).
#[test]
#[cfg_attr(miri, ignore = "resource limits")]
fn a_destructor_panic_in_a_deletes_rebuild_leaves_none_of_the_deleted_ones_timers_armed() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let (bomb, _keepers, drops) = retire_two_in_a_panicked_batch(&mut r);
    // The owner of a timer, its number closed behind its back (the file kept open).
    let fd = eventfd(0);
    let _keeper = dup(&fd);
    let timer = std::rc::Rc::new(std::cell::Cell::new(None));
    let owner = OwnsATimer {
        fd: Some(fd),
        timer: timer.clone(),
    };
    let owner = r.register(owner, readable()).unwrap();
    let timer = timer.get().expect("armed in init");
    drop(r.get_mut::<OwnsATimer>(owner).unwrap().fd.take());
    let deleted = catch_unwind(AssertUnwindSafe(|| r.delete(owner)));
    assert!(deleted.is_err(), "the grumpy destructor panicked");
    assert_eq!(drops[1].get(), 1);
    assert_eq!(
        r.cancel(timer),
        Err(Error::StaleTimer(timer)),
        "the deleted subscriber's timer is still armed"
    );
    for _ in 0..3 {
        r.run_once(NOW).unwrap();
    }
    assert_eq!(drops.iter().map(|c| c.get()).collect::<Vec<_>>(), [1, 1]);
    assert!(r.get::<OwnsATimer>(owner).is_err());
    r.delete(bomb).unwrap();
    assert_eq!(r.len(), 0);
}

// Invariants 2 and 4: a registration of a ghost's own file under the ghost's own number (its
// DEL was refused and no set could be made without it) meets the ghost's entry (EEXIST): the
// set is rebuilt without the ghost and the ADD made again, into the slot the registration
// reserved before (a number above any the table had room for). The events go to the new
// subscriber; the ghost's value went once.
#[test]
#[cfg_attr(miri, ignore = "resource limits")]
fn a_registration_that_meets_its_files_ghost_rebuilds_and_takes_the_number() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let keeper = eventfd(0);
    let high = barepoll::sys::dup_at_least(keeper.as_fd(), 600).unwrap();
    let number = high.as_raw_fd();
    let (s, ghost_drops) = Swappable::new(high);
    let key = r.register(s, readable()).unwrap();
    r.get_mut::<Swappable>(key).unwrap().fd = None; // closes `number`; `keeper` keeps the file
    let old = exhaust_descriptors();
    let deleted = r.delete(key);
    fd_limit(old);
    assert_eq!(deleted, Ok(()));
    assert_eq!(ghost_drops.get(), 1, "the value went at once");
    // The ghost's file under the ghost's number again.
    let again = barepoll::sys::dup_at_least(keeper.as_fd(), 600).unwrap();
    assert_eq!(again.as_raw_fd(), number);
    let (p, c) = Probe::new(again);
    let new = r.register(p, readable()).unwrap();
    assert_eq!(new.fd(), number);
    assert_eq!(r.key_of(number), Some(new));
    poke(keeper.as_fd());
    assert_eq!(r.run_once(NOW).unwrap(), 1, "the new subscriber's event");
    assert_eq!(c.hits(), 1);
    drain(keeper.as_fd());
    r.delete(new).unwrap();
    assert_eq!((c.drops(), ghost_drops.get(), r.len()), (1, 1, 0));
}

/// Retires one `Closable` per entry of `grumpy` (whose destructor panics if set) with its
/// value kept: each is closed behind the reactor's back (a dup, returned, keeps its file and
/// so its kernel entry), then a handler deletes them with no descriptor for a rebuild and
/// panics out of the batch, so their values wait for the next burial or rebuild. Returns their
/// drop counters, the dups, and the handler's key (its eventfd stays readable; it does nothing
/// more).
fn retired_with_their_values(
    r: &mut Reactor,
    grumpy: &[bool],
) -> (
    Vec<std::rc::Rc<std::cell::Cell<u32>>>,
    Vec<barepoll::sys::OwnedFd>,
    barepoll::Key,
) {
    let mut victims = Vec::new();
    let mut keepers = Vec::new();
    let mut drops = Vec::new();
    for &grumpy in grumpy {
        let fd = eventfd(0);
        keepers.push(dup(&fd));
        let counter = std::rc::Rc::new(std::cell::Cell::new(0));
        let sub = Closable {
            fd: Some(fd),
            drops: counter.clone(),
            grumpy,
        };
        victims.push(r.register(sub, readable()).unwrap());
        drops.push(counter);
    }
    let mut doomed = victims.clone();
    let (bomb, _) = Probe::new(eventfd(1));
    let bomb = bomb.on_event(move |_, ops| {
        if doomed.is_empty() {
            return; // once
        }
        let old = exhaust_descriptors();
        let deleted: Vec<_> = doomed.iter().map(|key| ops.delete(*key)).collect();
        fd_limit(old);
        assert!(deleted.iter().all(Result::is_ok), "{deleted:?}");
        doomed.clear();
        panic!("handler panic (planted by the test)");
    });
    let bomb = r.register(bomb, readable()).unwrap();
    for key in &victims {
        drop(r.get_mut::<Closable>(*key).unwrap().fd.take()); // behind the reactor's back
    }
    assert!(catch_unwind(AssertUnwindSafe(|| r.run_once(NOW))).is_err());
    assert!(
        drops.iter().all(|c| c.get() == 0),
        "kept while the batch was open"
    );
    (drops, keepers, bomb)
}

/// Runs `turns` turns, each allowed to panic (a retired value's destructor); returns how many
/// did.
fn turns_that_panic(r: &mut Reactor, turns: usize) -> usize {
    (0..turns)
        .filter(|_| catch_unwind(AssertUnwindSafe(|| r.run_once(NOW).unwrap())).is_err())
        .count()
}

// Invariant 8 and the owned timers' promise, for `take` as for `delete`: a refused DEL's
// rebuild outside a turn releases retired nodes whose values were kept, one of them with a
// destructor that panics, while the subscriber taken owns a timer. Its timer is cancelled all
// the same, wherever the panic comes out (the take or a later turn), and every value drops
// once.
#[test]
#[cfg_attr(miri, ignore = "resource limits")]
fn a_destructor_panic_after_a_takes_rebuild_leaves_none_of_the_taken_ones_timers_armed() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let (drops, _keepers, bomb) = retired_with_their_values(&mut r, &[false, true]);
    // The owner of a timer, its number closed behind its back (the file kept open).
    let fd = eventfd(0);
    let _keeper = dup(&fd);
    let timer = std::rc::Rc::new(std::cell::Cell::new(None));
    let owner = OwnsATimer {
        fd: Some(fd),
        timer: timer.clone(),
    };
    let owner = r.register(owner, readable()).unwrap();
    let timer = timer.get().expect("armed in init");
    drop(r.get_mut::<OwnsATimer>(owner).unwrap().fd.take());
    let taken = catch_unwind(AssertUnwindSafe(|| r.take::<OwnsATimer>(owner)));
    assert_eq!(
        r.cancel(timer),
        Err(Error::StaleTimer(timer)),
        "the taken subscriber's timer is still armed"
    );
    assert!(r.get::<OwnsATimer>(owner).is_err());
    let panics = usize::from(!matches!(taken, Ok(Ok(_))));
    drop(taken);
    assert_eq!(
        panics + turns_that_panic(&mut r, 4),
        1,
        "one destructor panics"
    );
    let counts: Vec<u32> = drops.iter().map(|c| c.get()).collect();
    assert_eq!(counts, [1, 1]);
    r.delete(bomb).unwrap();
    assert_eq!(r.len(), 0);
}

// Invariants 6, 8 and 11, for a further registration's delete (`remove_fd`): its DEL is
// refused (its fd closed behind the reactor's back, a dup keeps the file), and the rebuild
// releases retired nodes whose values were kept, one with a destructor that panics. The
// registration is gone all the same (its tag unknown, its number free for another), its
// subscriber stays, and every retired value drops once.
#[test]
#[cfg_attr(miri, ignore = "resource limits")]
fn a_destructor_panic_after_a_remove_fds_rebuild_leaves_the_registration_removed() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let (drops, _keepers, bomb) = retired_with_their_values(&mut r, &[false, true]);
    let (owner, oc) = Probe::new(eventfd(0));
    let owner = r.register(owner, readable()).unwrap();
    let record = eventfd(0);
    let keeper = dup(&record);
    let number = record.as_raw_fd();
    r.add_fd(owner, record.as_fd(), 1, readable()).unwrap();
    drop(record); // behind the reactor's back
    let removed = catch_unwind(AssertUnwindSafe(|| r.remove_fd(owner, 1)));
    let panics = usize::from(!matches!(removed, Ok(Ok(()))));
    assert!(matches!(removed, Ok(Ok(())) | Err(_)), "{removed:?}");
    assert!(
        r.remove_fd(owner, 1).is_err(),
        "the registration is still there"
    );
    poke(keeper.as_fd()); // its file: no entry names it any more
    assert_eq!(
        panics + turns_that_panic(&mut r, 4),
        1,
        "one destructor panics"
    );
    assert_eq!(oc.hits(), 0, "the removed registration reported");
    let counts: Vec<u32> = drops.iter().map(|c| c.get()).collect();
    assert_eq!(counts, [1, 1]);
    // Its number is anyone's: the subscriber adds another file under it, under the same tag.
    let again = eventfd(1);
    assert_eq!(again.as_raw_fd(), number);
    r.add_fd(owner, again.as_fd(), 1, readable()).unwrap();
    assert_eq!(
        r.run_once(NOW).unwrap(),
        2,
        "the bomb's event and the new registration's"
    );
    assert_eq!(oc.hits(), 1);
    r.delete(owner).unwrap();
    r.delete(bomb).unwrap();
    assert_eq!((oc.drops(), r.len()), (1, 0));
    drop((again, keeper));
}

// Invariants 2, 6 and 8, for the turn's own rebuild: retired nodes whose values were kept (one
// with a destructor that panics) report through their files. The turns that follow drop the
// values (the panic comes out of one of them), rebuild the set without the ghosts and give
// their nodes up: every value drops once, and the ghosts stop cutting waits short.
#[test]
#[cfg_attr(miri, ignore = "resource limits")]
fn a_destructor_panic_among_reporting_ghosts_leaves_the_next_turns_to_rebuild_them_away() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let (drops, keepers, bomb) = retired_with_their_values(&mut r, &[true, false]);
    for keeper in &keepers {
        poke(keeper.as_fd()); // level-triggered: they report at every wait until rebuilt away
    }
    assert_eq!(turns_that_panic(&mut r, 4), 1, "one destructor panics");
    let counts: Vec<u32> = drops.iter().map(|c| c.get()).collect();
    assert_eq!(counts, [1, 1]);
    r.delete(bomb).unwrap();
    let start = Instant::now();
    assert_eq!(r.run_once(Some(Duration::from_millis(20))).unwrap(), 0);
    assert!(
        start.elapsed() >= Duration::from_millis(20),
        "a ghost still reports"
    );
    drop(keepers);
    assert_eq!(r.len(), 0);
}
