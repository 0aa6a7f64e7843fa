//! Faults and misuse from safe code: a stop that must survive a panicking handler, the drop of
//! subscribers deleted in a batch a handler panicked out of, and a DEL the kernel refuses
//! because the subscriber's fd was replaced behind the reactor's back.
mod common;

use barepoll::sys::{self, AsFd, AsRawFd, OwnedFd};
use barepoll::{Error, Ops, Reactor};
use common::*;
use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

const NOW: Option<Duration> = Some(Duration::ZERO);

fn edge() -> barepoll::Interest {
    barepoll::interest().read().edge()
}

// Defect: a stop requested earlier in a batch was lost when a later handler of the same batch
// panicked, because the turn that dispatched the rest of the batch cleared it. A supervisor
// that restarts `run` after a panic then waited for ever.
#[test]
fn stop_survives_a_later_panic_in_the_same_batch() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let (stopper, sc) = Probe::new(eventfd(1));
    r.register(stopper.on_event(|_, ops| ops.stop()), edge())
        .unwrap();
    let (bomb, bc) = Probe::new(eventfd(1));
    let bomb = bomb.on_event(|_, _| panic!("handler panic (planted by the test)"));
    r.register(bomb, edge()).unwrap();
    let (after, ac) = Probe::new(eventfd(1));
    r.register(after, edge()).unwrap();
    // A watchdog: if the stop is lost, `run` would wait for ever; this ends it after 10 s.
    let watchdog = Arc::new(eventfd(0));
    let fired = Rc::new(Cell::new(false));
    let f = fired.clone();
    readable()
        .with_fd(watchdog.clone())
        .with_handler(move |ops: &mut Ops<'_>| {
            f.set(true);
            ops.stop();
        })
        .register_into(&mut r)
        .unwrap();
    let dog = watchdog.clone();
    let (done, finished) = std::sync::mpsc::channel::<()>();
    let timer = std::thread::spawn(move || {
        if finished.recv_timeout(Duration::from_secs(10)).is_err() {
            poke(dog.as_fd());
        }
    });
    let mut panics = 0;
    loop {
        match catch_unwind(AssertUnwindSafe(|| r.run())) {
            Ok(result) => break result.unwrap(),
            Err(_) => panics += 1,
        }
    }
    assert_eq!(panics, 1);
    assert!(
        !fired.get(),
        "the stop was lost: run() only returned for the watchdog"
    );
    assert_eq!((sc.hits(), bc.hits(), ac.hits()), (1, 1, 1));
    assert!(r.stop_requested());
    done.send(()).unwrap();
    timer.join().unwrap();
    drop(r);
}

// Subscribers deleted in a batch that a handler panicked out of are dropped when the next
// `run_once` starts (it finishes that batch first), or when the reactor is dropped; not before,
// since events of the batch may still point at them, and not during the unwinding.
#[test]
fn deleted_in_a_panicked_batch_dropped_when_the_next_turn_starts() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let (victim, vc) = Probe::new(eventfd(0));
    let vk = r.register(victim, readable()).unwrap();
    let (bomb, bc) = Probe::new(eventfd(1));
    let bomb = bomb.on_event(move |_, ops| {
        ops.delete(vk).unwrap();
        panic!("handler panic (planted by the test)");
    });
    r.register(bomb, edge()).unwrap();
    assert!(catch_unwind(AssertUnwindSafe(|| r.run_once(NOW))).is_err());
    assert_eq!(bc.hits(), 1);
    assert_eq!(
        r.pending(),
        0,
        "the panicking event was the last of its batch"
    );
    assert_eq!(vc.drops(), 0, "dropped during the unwinding");
    assert_eq!(r.len(), 1);
    assert_eq!(r.run_once(NOW).unwrap(), 0);
    assert_eq!(vc.drops(), 1, "not dropped when the next turn started");

    // And when the reactor is dropped instead.
    let mut r = Reactor::new().unwrap();
    let (victim, vc) = Probe::new(eventfd(0));
    let vk = r.register(victim, readable()).unwrap();
    let (bomb, _) = Probe::new(eventfd(1));
    let bomb = bomb.on_event(move |_, ops| {
        ops.delete(vk).unwrap();
        panic!("handler panic (planted by the test)");
    });
    r.register(bomb, edge()).unwrap();
    assert!(catch_unwind(AssertUnwindSafe(|| r.run_once(NOW))).is_err());
    assert_eq!(vc.drops(), 0);
    drop(r);
    assert_eq!(vc.drops(), 1);
}

/// A subscriber whose fd safe code replaces while it is registered (through `get_mut`), while
/// a `try_clone` keeps the old file, and so the kernel's registration of it, alive.
fn replaced_behind_the_reactors_back(r: &mut Reactor) -> (barepoll::Key, Rc<Cell<u32>>, OwnedFd) {
    let old = eventfd(1); // ready, and stays ready: nobody reads it
    let keeper = dup(&old);
    let (s, drops) = Swappable::new(old);
    let k = r.register(s, readable()).unwrap();
    r.get_mut::<Swappable>(k).unwrap().fd = Some(eventfd(0)); // the old fd is closed here
    (k, drops, keeper)
}

// Defect: a refused DEL poisoned the reactor: the subscriber was kept until the reactor
// dropped, its fd number was refused for good, and a ready old file made every wait return at
// once. Now the reactor recovers: the ghost registration is removed, the subscriber dropped,
// the number usable again, and an empty reactor sleeps.
#[test]
fn refused_delete_recovers_fully() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let (k, drops, keeper) = replaced_behind_the_reactors_back(&mut r);
    let number = k.fd();
    r.delete(k).unwrap();
    assert_eq!(drops.get(), 1, "the subscriber was not dropped");
    assert!(r.is_empty());
    // No busy loop: the old file is still ready, but nothing reports it.
    let t = Instant::now();
    let mut wakeups = 0;
    while t.elapsed() < Duration::from_millis(200) {
        wakeups += 1;
        assert_eq!(r.run_once(Some(Duration::from_millis(50))).unwrap(), 0);
    }
    assert!(
        wakeups <= 5,
        "{wakeups} wake-ups in 200 ms on an empty reactor"
    );
    // The number can be registered again, and works.
    let (p, c) = Probe::new(eventfd(1));
    assert_eq!(
        p.fd.as_raw_fd(),
        number,
        "the kernel did not hand out the number again"
    );
    r.register(p, readable()).unwrap();
    assert_eq!(r.run_once(NOW).unwrap(), 1);
    assert_eq!(c.hits(), 1);
    drop(keeper);
}

// The same recovery from inside a handler: it replaces its own fd and deletes itself. Other
// subscribers keep working through the rebuilt epoll set.
#[test]
fn refused_delete_inside_a_handler_recovers() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let (bystander, bc) = Probe::new(eventfd(0));
    let bk = r.register(bystander, readable()).unwrap();
    let old = eventfd(1);
    let keeper = dup(&old);
    let dropped = Rc::new(Cell::new(false));
    let d = dropped.clone();
    struct Flag(Rc<Cell<bool>>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.set(true);
        }
    }
    let flag = Flag(d);
    readable()
        .with_fd(old)
        .with_handler(move |fd: &mut OwnedFd, ops: &mut Ops<'_>| {
            let _keep = &flag;
            *fd = sys::eventfd(0, sys::EFD_NONBLOCK).unwrap(); // closes the registered fd
            ops.delete_self().unwrap();
        })
        .register_into(&mut r)
        .unwrap();
    assert_eq!(r.run_once(NOW).unwrap(), 1);
    assert!(dropped.get(), "not dropped when the batch ended");
    assert_eq!(r.len(), 1);
    assert_eq!(
        r.run_once(NOW).unwrap(),
        0,
        "the ghost registration still reports"
    );
    poke(r.get::<Probe>(bk).unwrap().fd.as_fd());
    assert_eq!(r.run_once(NOW).unwrap(), 1);
    assert_eq!(bc.hits(), 1);
    drop(keeper);
}

// Recovery keeps every other registration as it was: interest, key and data word.
#[test]
fn refused_delete_keeps_the_other_registrations() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let mut others = Vec::new();
    for i in 0..10 {
        let (p, c) = Probe::new(eventfd(1));
        let interest = if i % 2 == 0 {
            readable()
        } else {
            barepoll::interest().write()
        };
        let k = r.register(p, interest).unwrap();
        others.push((k, c, interest));
    }
    let (k, drops, keeper) = replaced_behind_the_reactors_back(&mut r);
    r.delete(k).unwrap();
    assert_eq!(drops.get(), 1);
    assert_eq!(r.len(), 10);
    assert_eq!(r.run_once(NOW).unwrap(), 10);
    for (k, c, interest) in &others {
        assert_eq!(r.interest(*k), Ok(*interest));
        assert_eq!(c.hits(), 1);
    }
    // Keys still work for modify and delete.
    let (k0, c0, _) = &others[0];
    r.modify(*k0, barepoll::interest()).unwrap();
    r.delete(*k0).unwrap();
    assert_eq!(c0.drops(), 1);
    assert_eq!(r.delete(k), Err(Error::StaleKey(k)));
    drop(keeper);
}
