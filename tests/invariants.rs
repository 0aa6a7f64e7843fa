//! Attacks on the registry invariants (`barepoll::technical`) through the public API.
mod common;

use barepoll::sys::{self, AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use barepoll::{interest, Error, Event, Key, Ops, Reactor, Subscriber};
use common::*;
use std::cell::{Cell, RefCell};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::time::Duration;

const NOW: Option<Duration> = Some(Duration::ZERO);

// Invariant 3: a handler deletes itself; it keeps its `&mut` until it returns, and is dropped
// (fd closed) when the batch ends.
#[test]
fn handler_deletes_itself() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let (probe, c) = Probe::new(eventfd(1));
    let drops = c.drops.clone();
    let probe = probe.on_event(move |_, ops| {
        ops.delete_self().unwrap();
        assert_eq!(drops.get(), 0, "dropped while its handler was running");
        assert_eq!(ops.delete_self(), Err(Error::StaleKey(ops.key())));
    });
    r.register(probe, readable()).unwrap();
    assert_eq!(r.run_once(NOW).unwrap(), 1);
    assert_eq!((c.hits(), c.drops(), r.len()), (1, 1, 0));
    assert_eq!(r.run_once(NOW).unwrap(), 0);
}

/// Two readable probes; whichever handler runs first performs `first` with the other's key
/// and counters.
fn pair(
    r: &mut Reactor,
    first: impl Fn(Key, &Counters, &mut Ops<'_>) + 'static,
) -> ([Counters; 2], Rc<Cell<Option<usize>>>) {
    let keys: Rc<Cell<[Option<Key>; 2]>> = Rc::new(Cell::new([None; 2]));
    let first_ran = Rc::new(Cell::new(None));
    let first = Rc::new(first);
    let (p0, c0) = Probe::new(eventfd(1));
    let (p1, c1) = Probe::new(eventfd(1));
    let counters = [c0, c1];
    for (me, probe) in [p0, p1].into_iter().enumerate() {
        let (keys2, first_ran, first) = (keys.clone(), first_ran.clone(), first.clone());
        let other = counters[1 - me].clone();
        let probe = probe.on_event(move |_, ops| {
            if first_ran.get().is_none() {
                first_ran.set(Some(me));
                first(keys2.get()[1 - me].unwrap(), &other, ops);
            }
        });
        let key = r.register(probe, readable()).unwrap();
        let mut k = keys.get();
        k[me] = Some(key);
        keys.set(k);
    }
    (counters, first_ran)
}

// Invariant 3: the other subscriber's event is later in the same batch; its handler must not
// run, and it is dropped only when the batch ends.
#[test]
fn handler_deletes_another_with_a_pending_event() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let ([a, b], first) = pair(&mut r, move |other, other_counters, ops| {
        ops.delete(other).unwrap();
        assert_eq!(ops.delete(other), Err(Error::StaleKey(other)));
        assert_eq!(
            other_counters.drops(),
            0,
            "dropped while its event is pending"
        );
    });
    let n = r.run_once(NOW).unwrap();
    assert_eq!(n, 2, "both events must be in one batch");
    let first = first.get().unwrap();
    let (ran, deleted) = if first == 0 { (&a, &b) } else { (&b, &a) };
    assert_eq!(
        (ran.hits(), deleted.hits()),
        (1, 0),
        "a deleted subscriber's handler ran"
    );
    assert_eq!((ran.drops(), deleted.drops()), (0, 1));
    assert_eq!(r.len(), 1);
}

// Invariants 1, 3, 4: delete another, close its fd, and register a new subscriber that gets
// the same fd number, all in one batch. The old event must not reach the new subscriber (whose
// node cannot share the old address: the old node is not freed before the batch ends); the
// new one fires in the next batch.
#[test]
fn fd_number_reused_within_a_batch() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    // The driver gets the lowest fd number and is registered first, so it is first in the
    // ready list whether that is kept in registration order (Linux) or fd order (Miri). It
    // picks whichever of A and B has not run yet, so either order of those two is fine.
    let (driver, dc) = Probe::new(eventfd(1));
    let (a, ca, ha) = Borrowed::new(eventfd(1));
    let (b, cb, hb) = Borrowed::new(eventfd(1));
    let (a_fd, b_fd) = (a.raw, b.raw);
    type Victim = (Holder, Counters, Option<Key>);
    let victims: Rc<RefCell<Vec<Victim>>> = Rc::new(RefCell::new(vec![
        (ha, ca.clone(), None),
        (hb, cb.clone(), None),
    ]));
    let replaced: Rc<Cell<Option<Key>>> = Rc::new(Cell::new(None));
    let (v, repl) = (victims.clone(), replaced.clone());
    let driver = driver.on_event(move |_, ops| {
        if repl.get().is_some() {
            return; // acts in the first batch only
        }
        let v = v.borrow();
        let (holder, _, key) = v
            .iter()
            .find(|(_, c, _)| c.hits() == 0)
            .expect("driver ran last");
        ops.delete(key.unwrap()).unwrap();
        let old_fd = holder.borrow().as_ref().unwrap().as_raw_fd();
        drop(holder.borrow_mut().take()); // number free again; the dead node's event is pending
        let fresh = eventfd(1);
        assert_eq!(
            fresh.as_raw_fd(),
            old_fd,
            "the kernel did not reuse the fd number"
        );
        let (newcomer, _) = Probe::new(fresh);
        repl.set(Some(ops.add(newcomer, readable()).unwrap()));
    });
    r.register(driver, readable()).unwrap();
    victims.borrow_mut()[0].2 = Some(r.register(a, readable()).unwrap());
    victims.borrow_mut()[1].2 = Some(r.register(b, readable()).unwrap());

    assert_eq!(
        r.run_once(NOW).unwrap(),
        3,
        "all three events must be in one batch"
    );
    assert_eq!(dc.hits(), 1);
    let new_key = replaced.get().expect("the driver ran");
    let victim = if new_key.fd() == a_fd { &ca } else { &cb };
    assert!(new_key.fd() == a_fd || new_key.fd() == b_fd);
    assert_eq!(
        (victim.hits(), victim.drops()),
        (0, 1),
        "the deleted subscriber's handler ran"
    );
    let newcomer_hits = |r: &Reactor| r.get::<Probe>(new_key).unwrap().hits.get();
    assert_eq!(
        newcomer_hits(&r),
        0,
        "the newcomer saw its predecessor's event"
    );
    r.run_once(NOW).unwrap();
    assert_eq!(newcomer_hits(&r), 1, "the newcomer never fired");
}

// Invariant 4: a stale key is rejected with a clear error and never touches the subscriber
// that now has the same fd number (and, quite likely, the same node address).
#[test]
fn stale_key_never_touches_the_newer_subscriber() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let (old, old_c) = Probe::new(eventfd(0));
    let old_key = r.register(old, readable()).unwrap();
    r.delete(old_key).unwrap();
    assert_eq!(old_c.drops(), 1);

    let (new, new_c) = Probe::new(eventfd(1));
    assert_eq!(new.fd.as_raw_fd(), old_key.fd(), "fd number not reused");
    let new_key = r.register(new, readable()).unwrap();
    assert_ne!(new_key, old_key);

    assert_eq!(r.delete(old_key), Err(Error::StaleKey(old_key)));
    assert_eq!(r.modify(old_key, interest()), Err(Error::StaleKey(old_key)));
    assert_eq!(
        r.get::<Probe>(old_key).err(),
        Some(Error::StaleKey(old_key))
    );
    assert_eq!(r.interest(old_key), Err(Error::StaleKey(old_key)));
    let msg = Error::StaleKey(old_key).to_string();
    assert!(msg.contains("no live subscriber"), "{msg}");

    // The newer subscriber is untouched: still registered for read, still fires.
    assert_eq!(r.interest(new_key), Ok(readable()));
    assert_eq!(r.run_once(NOW).unwrap(), 1);
    assert_eq!((new_c.hits(), new_c.drops()), (1, 0));

    // Through Ops, too.
    let (probe, c) = Probe::new(eventfd(1));
    let probe = probe.on_event(move |_, ops| {
        assert_eq!(ops.delete(old_key), Err(Error::StaleKey(old_key)));
        assert_eq!(
            ops.modify(old_key, interest()),
            Err(Error::StaleKey(old_key))
        );
    });
    r.register(probe, readable()).unwrap();
    r.run_once(NOW).unwrap();
    assert_eq!(c.hits(), 1);
    assert_eq!(r.len(), 2);
    drop(r);
    assert_eq!((new_c.drops(), c.drops()), (1, 1));
}

// A key from another reactor is stale here.
#[test]
fn foreign_key_is_stale() {
    let _fds = fd_check();
    let mut r1 = Reactor::new().unwrap();
    let mut r2 = Reactor::new().unwrap();
    let (p, _) = Probe::new(eventfd(0));
    let k = r1.register(p, readable()).unwrap();
    assert_eq!(r2.delete(k), Err(Error::StaleKey(k)));
    assert_eq!(r1.len(), 1);
}

// Invariant 6: a handler panics; the reactor stays consistent and usable, and the node it
// deleted before panicking is freed exactly once.
#[test]
fn handler_panic_leaves_the_reactor_usable() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let (victim, vc) = Probe::new(eventfd(1));
    let victim_key = r.register(victim, readable()).unwrap();
    let (bomb, bc) = Probe::new(eventfd(1));
    let armed = Rc::new(Cell::new(true));
    let armed2 = armed.clone();
    let bomb = bomb.on_event(move |_, ops| {
        if armed2.replace(false) {
            let _ = ops.delete(victim_key);
            panic!("handler panic (planted by the test)");
        }
    });
    let bomb_key = r.register(bomb, readable()).unwrap();

    let err = catch_unwind(AssertUnwindSafe(|| r.run_once(NOW))).unwrap_err();
    assert!(err.downcast_ref::<&str>().unwrap().contains("planted"));
    assert_eq!(bc.hits(), 1);
    // The victim is gone from the registry; if its event came after the bomb's, it never ran.
    assert_eq!(r.len(), 1);
    assert_eq!(
        r.get::<Probe>(victim_key).err(),
        Some(Error::StaleKey(victim_key))
    );

    // The reactor works: the bomb (disarmed) fires again; the victim's leftover node is freed
    // exactly once by the next turn.
    poke(r.get::<Probe>(bomb_key).unwrap().fd.as_fd());
    assert_eq!(r.run_once(NOW).unwrap(), 1);
    assert_eq!(bc.hits(), 2);
    assert_eq!(vc.drops(), 1);
    r.delete(bomb_key).unwrap();
    assert_eq!((vc.drops(), bc.drops()), (1, 1));
}

// Invariant 6: a destructor panics at the end of a batch in which it was deleted. Events later
// in the batch are still dispatched (or skipped if deleted), every node is freed exactly once,
// and the next turn works.
#[test]
fn destructor_panic_inside_a_batch() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let (mut grumpy, gc) = Probe::new(eventfd(1));
    grumpy.panic_on_drop = true;
    let gk = r.register(grumpy, readable()).unwrap();
    let (quiet, qc) = Probe::new(eventfd(1));
    let qk = r.register(quiet, readable()).unwrap();
    let (bystander, sc) = Probe::new(eventfd(1));
    let sk = r.register(bystander, readable()).unwrap();
    let (deleter, dc) = Probe::new(eventfd(1));
    let once = Rc::new(Cell::new(true));
    let deleter = deleter.on_event(move |_, ops| {
        if once.replace(false) {
            ops.delete(gk).unwrap();
            ops.delete(qk).unwrap();
        }
    });
    let dk = r.register(deleter, readable()).unwrap();

    let err = catch_unwind(AssertUnwindSafe(|| r.run_once(NOW))).unwrap_err();
    assert!(err
        .downcast_ref::<&str>()
        .unwrap()
        .contains("destructor panic"));
    assert_eq!(dc.hits(), 1);
    assert_eq!(sc.hits(), 1, "an unrelated pending event was lost");
    // Both deleted subscribers were dropped exactly once, despite the panic between them.
    assert_eq!((gc.drops(), qc.drops()), (1, 1));
    assert!(gc.hits() + qc.hits() <= 2);
    assert_eq!(r.len(), 2);
    poke(r.get::<Probe>(sk).unwrap().fd.as_fd());
    poke(r.get::<Probe>(dk).unwrap().fd.as_fd());
    assert_eq!(r.run_once(NOW).unwrap(), 2);
    assert_eq!((dc.hits(), sc.hits()), (2, 2));
    drop(r);
    assert_eq!(
        (gc.drops(), qc.drops(), sc.drops(), dc.drops()),
        (1, 1, 1, 1)
    );
}

// Invariant 6 outside dispatch: a destructor panics in `Reactor::delete`.
#[test]
fn destructor_panic_in_delete_outside_dispatch() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let (mut p, c) = Probe::new(eventfd(1));
    p.panic_on_drop = true;
    let k = r.register(p, readable()).unwrap();
    assert!(catch_unwind(AssertUnwindSafe(|| r.delete(k))).is_err());
    assert_eq!((c.drops(), r.len()), (1, 0));
    assert_eq!(r.delete(k), Err(Error::StaleKey(k)));
    assert_eq!(r.run_once(NOW).unwrap(), 0);
}

// Invariant 8: every subscriber is dropped exactly once, through delete, self-delete and
// reactor drop; the open-fd count returns to where it started.
#[test]
fn every_subscriber_dropped_exactly_once() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let mut all = Vec::new();
    let mut keys = Vec::new();
    for i in 0..30 {
        let (p, c) = Probe::new(eventfd(1));
        let p = if i % 3 == 0 {
            p.on_event(|_, ops| ops.delete_self().unwrap())
        } else {
            p
        };
        keys.push(r.register(p, readable()).unwrap());
        all.push(c);
    }
    for k in keys.iter().skip(1).step_by(3) {
        r.delete(*k).unwrap();
    }
    assert_eq!(r.run_once(NOW).unwrap(), 20);
    assert_eq!(r.len(), 10);
    drop(r);
    for c in &all {
        assert_eq!(c.drops(), 1);
    }
}

// Registering one fd number twice gives a clear error and leaks nothing.
#[test]
fn double_registration_is_refused() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let (p, c) = Probe::new(eventfd(0));
    let raw = p.fd.as_raw_fd();
    let k = r.register(p, readable()).unwrap();
    // A second subscriber over the same number (not owning it).
    let twin = TwinFd(raw, Rc::new(Cell::new(0)));
    let twin_drops = twin.1.clone();
    let err = r.register(twin, readable()).unwrap_err();
    assert_eq!(err, Error::AlreadyRegistered(raw));
    assert_eq!(err.to_string(), format!("fd {raw} is already registered"));
    assert_eq!(
        twin_drops.get(),
        1,
        "the refused subscriber was not dropped"
    );
    assert_eq!((r.len(), c.drops()), (1, 0));

    r.delete(k).unwrap();
}

// A regular file cannot be watched (EPERM): a clear error, and the subscriber is dropped.
#[test]
#[cfg_attr(miri, ignore = "opens a file on the host")]
fn regular_file_is_refused() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let file = std::fs::File::open(std::env::current_exe().unwrap()).unwrap();
    // SAFETY (test code): the raw fd was just released by `file`; the OwnedFd now owns it.
    let file = unsafe { OwnedFd::from_raw_fd(std::os::fd::IntoRawFd::into_raw_fd(file)) };
    let (file_sub, fc) = FileSub::new(file);
    let err = r.register(file_sub, readable()).unwrap_err();
    assert_eq!(err, Error::Os(sys::Errno::EPERM));
    assert_eq!(err.errno(), Some(sys::Errno::EPERM));
    #[cfg(feature = "std")]
    assert_eq!(std::io::Error::from(err).raw_os_error(), Some(1));
    assert_eq!(fc.get(), 1);
    assert_eq!(r.len(), 0);
}

struct TwinFd(RawFd, Rc<Cell<u32>>);
impl AsFd for TwinFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        // SAFETY (test code): the number stays open for the test; it is only passed to the kernel.
        unsafe { BorrowedFd::borrow_raw(self.0) }
    }
}
impl Subscriber for TwinFd {
    fn handle(&mut self, _: Event, _: &mut Ops<'_>) {}
}
impl Drop for TwinFd {
    fn drop(&mut self) {
        self.1.set(self.1.get() + 1);
    }
}

struct FileSub(OwnedFd, Rc<Cell<u32>>);
impl FileSub {
    fn new(f: OwnedFd) -> (FileSub, Rc<Cell<u32>>) {
        let c = Rc::new(Cell::new(0));
        (FileSub(f, c.clone()), c)
    }
}
impl AsFd for FileSub {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}
impl Subscriber for FileSub {
    fn handle(&mut self, _: Event, _: &mut Ops<'_>) {}
}
impl Drop for FileSub {
    fn drop(&mut self) {
        self.1.set(self.1.get() + 1);
    }
}

// Invariant 7: the fd used for DEL is the one captured at registration, whatever `as_fd`
// answers later.
#[test]
fn fd_is_captured_once() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let fickle = Fickle {
        first: eventfd(1),
        second: eventfd(1),
        asked: Cell::new(0),
        hits: Rc::default(),
    };
    let hits = fickle.hits.clone();
    let first_raw = fickle.first.as_raw_fd();
    let k = r.register(fickle, readable()).unwrap();
    assert_eq!(k.fd(), first_raw);
    // Only the first fd is watched: one event, not two.
    assert_eq!(r.run_once(NOW).unwrap(), 1);
    assert_eq!(hits.get(), 1);
    // The DEL goes to the captured fd and succeeds (it would be ENOENT on the other one).
    r.delete(k).unwrap();
    assert_eq!(r.run_once(NOW).unwrap(), 0);
}

struct Fickle {
    first: OwnedFd,
    second: OwnedFd,
    asked: Cell<u32>,
    hits: Rc<Cell<u32>>,
}
impl AsFd for Fickle {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.asked.set(self.asked.get() + 1);
        if self.asked.get() == 1 {
            self.first.as_fd()
        } else {
            self.second.as_fd()
        }
    }
}
impl Subscriber for Fickle {
    fn handle(&mut self, _: Event, _: &mut Ops<'_>) {
        self.hits.set(self.hits.get() + 1);
        assert_eq!(self.asked.get(), 1, "the reactor asked for the fd again");
    }
}

// Invariants 1 and 2: when the kernel refuses the DEL (the fd number was closed behind the
// reactor's back while a dup keeps the file, and so its epoll entry, alive), the reactor
// rebuilds its epoll set without the entry it can no longer name; only then is the node freed,
// and the old file's events never reach dispatch again.
#[test]
fn refused_delete_rebuilds_the_set_before_freeing() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let (b, c, holder) = Borrowed::new(eventfd(0));
    let k = r.register(b, readable()).unwrap();
    let original = holder.borrow_mut().take().unwrap();
    let dup = dup(&original);
    drop(original); // closed behind the reactor's back; the epoll entry lives on through `dup`
    poke(dup.as_fd());
    assert_eq!(r.run_once(NOW).unwrap(), 1);
    assert_eq!(c.hits(), 1);

    r.delete(k).unwrap();
    assert_eq!((r.len(), c.drops()), (0, 1));
    // The old file is still ready, but no registration of it is left to report it.
    poke(dup.as_fd());
    assert_eq!(r.run_once(NOW).unwrap(), 0);
    assert_eq!(r.delete(k), Err(Error::StaleKey(k)));
}

// Invariant 5: a handler cannot re-enter the reactor. The only way to reach it from a handler
// is shared ownership, and the borrow the running reactor holds refuses a second one.
#[test]
fn handler_cannot_reenter_the_reactor() {
    let _fds = fd_check();
    let reactor = Rc::new(RefCell::new(Reactor::new().unwrap()));
    let inner = Rc::downgrade(&reactor);
    let refused = Rc::new(Cell::new(false));
    let refused2 = refused.clone();
    readable()
        .with_fd(eventfd(1))
        .with_handler(move |ops: &mut Ops<'_>| {
            let r = inner.upgrade().unwrap();
            refused2.set(r.try_borrow_mut().is_err());
            ops.stop();
        })
        .register_into(&mut *reactor.borrow_mut())
        .unwrap();
    reactor.borrow_mut().run().unwrap();
    assert!(refused.get());
}

// Invariants 1 and 2, attacked through fd-number reuse after a refused DEL. The kernel keys a
// registration by (open file, fd number). Had a refused DEL left the old registration in the
// set while the number was registered anew, the kernel would hold two registrations under one
// number, and safe code could choose which one a later DEL removes (by choosing what the
// number names then), freeing a node the kernel still reports. The rebuild leaves one.
#[test]
fn fd_number_reused_after_a_refused_delete() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let Ghost {
        key: zk,
        number: n,
        keeper: f1_alive,
        drops: z_drops,
    } = ghost(&mut r); // `n` is closed; the file lives on in `f1_alive`
    r.delete(zk).unwrap();
    assert_eq!(z_drops.get(), 1);

    // A new file lands on n and registers.
    let f2 = eventfd(0);
    assert_eq!(f2.as_raw_fd(), n);
    let f2_alive = dup(&f2);
    let (b, b_drops) = Swappable::new(f2);
    let bk = r.register(b, readable()).unwrap();
    poke(f1_alive.as_fd());
    assert_eq!(
        r.run_once(NOW).unwrap(),
        0,
        "the old file's registration survived"
    );

    // Now make n name the old file again, behind the reactor's back, and delete: the DEL
    // names a file that is not registered; the rebuild removes f2's registration all the same.
    r.get_mut::<Swappable>(bk).unwrap().fd = None; // closes n; f2 lives on in f2_alive
    let again = dup(&f1_alive);
    assert_eq!(again.as_raw_fd(), n);
    r.delete(bk).unwrap();
    assert_eq!(b_drops.get(), 1);
    poke(f1_alive.as_fd());
    poke(f2_alive.as_fd());
    assert_eq!(
        r.run_once(NOW).unwrap(),
        0,
        "a registration outlived its node"
    );
}

// Invariant 2 when the rebuild itself fails (no descriptor left for a new epoll instance): the
// subscriber is deleted all the same (its key is stale, its value and fd dropped at once), its
// number is free for the next registration, and only the node's memory is kept, as a ghost,
// while the kernel may report it. A turn that sees the ghost rebuilds the set without it once
// descriptors are back.
#[test]
#[cfg_attr(miri, ignore = "resource limits")]
fn refused_delete_without_descriptors_keeps_only_the_node_until_a_rebuild_works() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let Ghost {
        key: zk,
        number: n,
        keeper: f1_alive,
        drops: z_drops,
    } = ghost(&mut r); // `n` is closed; the file lives on in `f1_alive`
    let plug = eventfd(0); // n names another file now, which is not registered
    assert_eq!(plug.as_raw_fd(), n);
    // Every number below `limit` is in use: no new descriptor can be made.
    let limit = eventfd(0).as_raw_fd() as u64;
    let old = fd_limit(limit);
    assert_eq!(r.delete(zk), Ok(()));
    assert_eq!((r.len(), z_drops.get()), (0, 1), "the value was kept");
    assert_eq!(r.delete(zk), Err(Error::StaleKey(zk)));
    // The ghost reports; its event is not counted, and no rebuild can be made yet.
    poke(f1_alive.as_fd());
    assert_eq!(r.run_once(NOW).unwrap(), 0, "the ghost's event was counted");
    // Its number takes a new subscriber at once.
    let (p, pc) = Probe::new(plug);
    let pk = r.register(p, interest().read().edge()).unwrap();
    assert_eq!(pk.fd(), n);
    poke(r.get::<Probe>(pk).unwrap().fd.as_fd());
    fd_limit(old);
    assert_eq!(r.run_once(NOW).unwrap(), 1, "the new subscriber's event");
    assert_eq!(pc.hits(), 1);
    // Descriptors are back: the ghost's next report rebuilds the set without it.
    r.run_once(NOW).unwrap();
    let start = std::time::Instant::now();
    assert_eq!(r.run_once(Some(Duration::from_millis(20))).unwrap(), 0);
    assert!(
        start.elapsed() >= Duration::from_millis(20),
        "the ghost still reports"
    );
    assert_eq!(z_drops.get(), 1);
    drop(f1_alive);
}

// Invariant 4 across reactors: a key made by one reactor never names a subscriber of another,
// even with the same fd number registered in both.
#[test]
fn foreign_key_with_the_same_fd_number_is_stale() {
    let _fds = fd_check();
    let mut r1 = Reactor::new().unwrap();
    let mut r2 = Reactor::new().unwrap();
    let (p, _) = Probe::new(eventfd(0));
    let raw = p.fd.as_raw_fd();
    let k1 = r1.register(p, readable()).unwrap();
    let twin = TwinFd(raw, Rc::new(Cell::new(0)));
    let k2 = r2.register(twin, readable()).unwrap();
    assert_eq!(k1.fd(), k2.fd());
    assert_ne!(k1, k2, "two reactors made the same key");
    assert_eq!(r2.delete(k1), Err(Error::StaleKey(k1)));
    assert_eq!(r2.len(), 1);
    r2.delete(k2).unwrap();
}

// Invariant 6: a handler that panics does not lose the rest of its batch. The remaining
// events are dispatched by the next turn, before it waits; for edge-triggered or oneshot
// subscribers they would otherwise never come again.
#[test]
fn handler_panic_keeps_the_rest_of_the_batch() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let mut counters = Vec::new();
    for _ in 0..3 {
        let (p, c) = Probe::new(eventfd(1));
        let hits = c.hits.clone();
        let p = p.on_event(move |_, _| {
            if hits.get() == 1 {
                panic!("handler panic (planted by the test)");
            }
        });
        r.register(p, barepoll::interest().read().edge()).unwrap();
        counters.push(c);
    }
    let total = |c: &[Counters]| c.iter().map(Counters::hits).sum::<u32>();
    for turn in 1..=3 {
        assert!(catch_unwind(AssertUnwindSafe(|| r.run_once(NOW))).is_err());
        assert_eq!(
            total(&counters),
            turn,
            "an event of the batch was lost or repeated"
        );
        assert_eq!(
            r.pending(),
            3 - turn as usize,
            "events left for the next turn"
        );
    }
    assert_eq!(r.run_once(NOW).unwrap(), 0);
    assert!(counters.iter().all(|c| c.hits() == 1));
}

// After a handler panic, deleting a subscriber whose event is still pending in the batch's
// remainder defers its drop to the end of that remainder, and its event is skipped.
#[test]
fn delete_after_a_panic_waits_for_the_batch_remainder() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let (bomb, bc) = Probe::new(eventfd(1));
    let bomb = bomb.on_event(|_, _| panic!("handler panic (planted by the test)"));
    r.register(bomb, barepoll::interest().read().edge())
        .unwrap();
    let (later, lc) = Probe::new(eventfd(1));
    let lk = r
        .register(later, barepoll::interest().read().edge())
        .unwrap();
    assert!(catch_unwind(AssertUnwindSafe(|| r.run_once(NOW))).is_err());
    assert_eq!(
        (bc.hits(), lc.hits()),
        (1, 0),
        "the registration order was not kept"
    );
    r.delete(lk).unwrap();
    assert_eq!(
        lc.drops(),
        0,
        "freed while the batch remainder still points at it"
    );
    assert_eq!(r.run_once(NOW).unwrap(), 1);
    assert_eq!((lc.hits(), lc.drops()), (0, 1));
}
