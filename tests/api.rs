//! The API around the core: shared state, `Sendable` reactors on other threads, boxed and
//! taken-back subscribers. (The recording test double: tests/recorder.rs.)
mod common;

use barepoll::sys::{AsFd, BorrowedFd, OwnedFd};
use barepoll::{Error, Event, Ops, Reactor, Sendable, Subscriber, Timer};
use common::*;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

const NOW: Option<Duration> = Some(Duration::ZERO);

/// Application state shared by every handler of a reactor.
#[derive(Default)]
struct Chat {
    lines: Vec<String>,
    ticks: u32,
}

/// A hand-written subscriber that works with any state `D` that can log lines.
struct Speaker {
    fd: OwnedFd,
    name: &'static str,
}

impl AsFd for Speaker {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Subscriber<Chat> for Speaker {
    fn handle(&mut self, _: Event, ops: &mut Ops<'_, Chat>) {
        drain(self.fd.as_fd());
        ops.data().lines.push(format!("{} spoke", self.name));
    }
}

#[test]
fn handlers_and_callbacks_share_state_without_rc() {
    let _fds = fd_check();
    let mut r = Reactor::builder().state::<Chat>().build().unwrap();
    r.register(
        Speaker {
            fd: eventfd(1),
            name: "ann",
        },
        readable(),
    )
    .unwrap();
    readable()
        .with_fd(eventfd(1))
        .with_handler(|fd: &mut OwnedFd, ops: &mut Ops<'_, Chat>| {
            drain(fd.as_fd());
            let n = ops.data().lines.len();
            ops.data().lines.push(format!("bob saw {n} lines"));
        })
        .register_into(&mut r)
        .unwrap();
    r.arm(
        Timer::after(Duration::ZERO).every(Duration::from_millis(1)),
        |ops: &mut Ops<'_, Chat>| {
            ops.data().ticks += 1;
            if ops.data().ticks == 3 {
                ops.stop();
            }
        },
    )
    .unwrap();
    let mut chat = Chat::default();
    r.run_with(&mut chat).unwrap();
    assert_eq!(chat.ticks, 3);
    let mut lines = chat.lines.clone();
    lines.sort();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0], "ann spoke");
    assert!(lines[1].starts_with("bob saw"));
    // The state is the caller's: another run can get another one.
    let mut other = Chat::default();
    r.run_once_with(NOW, &mut other).unwrap();
    assert!(other.lines.is_empty());
}

#[test]
#[cfg_attr(miri, ignore = "real time")]
fn a_sendable_reactor_built_here_runs_on_another_thread() {
    let _fds = fd_check();
    let mut r: Reactor<u32, Sendable> = Reactor::builder().state().sendable().build().unwrap();
    let seen = Arc::new(AtomicU32::new(0));
    let s = seen.clone();
    let efd = Arc::new(eventfd(0));
    let writer = efd.clone();
    readable()
        .with_fd(efd)
        .with_handler(
            move |fd: &mut Arc<OwnedFd>, ops: &mut Ops<'_, u32, Sendable>| {
                s.fetch_add(drain(fd.as_fd()) as u32, Ordering::Relaxed);
                *ops.data() += 1;
                ops.arm(
                    Timer::after(Duration::from_millis(1)),
                    |ops: &mut Ops<'_, u32, Sendable>| ops.stop(),
                )
                .unwrap();
            },
        )
        .register_into(&mut r)
        .unwrap();
    let worker = std::thread::spawn(move || {
        let mut handled = 0;
        r.run_with(&mut handled).unwrap();
        (r, handled)
    });
    poke(writer.as_fd());
    let (r, handled) = worker.join().unwrap();
    assert_eq!((handled, seen.load(Ordering::Relaxed)), (1, 1));
    drop(r);
}

#[test]
fn boxed_subscribers_register_and_come_back() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let (probe, c) = Probe::new(eventfd(1));
    let boxed: Box<dyn Subscriber> = Box::new(probe);
    let k = r.register(boxed, readable()).unwrap();
    let plain = readable()
        .with_fd(eventfd(1))
        .with_handler(|ops: &mut Ops<'_>| ops.stop())
        .into_subscriber();
    let k2 = r.register(Box::new(plain), readable()).unwrap();
    assert_eq!(r.run_once(NOW).unwrap(), 2);
    assert_eq!(c.hits(), 1);
    // Taking back checks the type, and leaves the subscriber in place on a mismatch.
    assert_eq!(r.take::<Probe>(k).err(), Some(Error::WrongType(k)));
    let back: Box<dyn Subscriber> = r.take(k).unwrap();
    assert_eq!((c.drops(), r.len()), (0, 1));
    assert_eq!(
        r.take::<Box<dyn Subscriber>>(k).err(),
        Some(Error::StaleKey(k))
    );
    // Into another reactor, where it works as before.
    let mut other = Reactor::new().unwrap();
    other.register(back, readable()).unwrap();
    assert_eq!(other.run_once(NOW).unwrap(), 1);
    assert_eq!(c.hits(), 2);
    drop(other);
    assert_eq!(c.drops(), 1);
    r.delete(k2).unwrap();
}

// Taking a subscriber while a panicked batch's remainder may still point at its node: the
// value leaves at once, the node's memory stays until the remainder is dispatched.
#[test]
fn take_during_a_batch_remainder_keeps_the_node_until_it_is_done() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let (bomb, _) = Probe::new(eventfd(1));
    let bomb = bomb.on_event(|_, _| panic!("handler panic (planted by the test)"));
    r.register(bomb, barepoll::interest().read().edge())
        .unwrap();
    let (later, lc) = Probe::new(eventfd(1));
    let lk = r
        .register(later, barepoll::interest().read().edge())
        .unwrap();
    assert!(catch_unwind(AssertUnwindSafe(|| r.run_once(NOW))).is_err());
    assert_eq!(r.pending(), 1);
    let later: Probe = r.take(lk).unwrap();
    assert_eq!(lc.drops(), 0);
    assert_eq!(
        r.run_once(NOW).unwrap(),
        1,
        "the remainder, skipped for the taken one"
    );
    assert_eq!((lc.hits(), lc.drops()), (0, 0));
    drop(later);
    assert_eq!(lc.drops(), 1);
}

/// `Error`'s `Debug` prints what a derived one does, plain and alternate (`{:#?}`), for every
/// variant: a twin enum with the same variants and fields, derived, is the reference.
#[test]
fn errors_debug_prints_what_a_derived_debug_prints() {
    use barepoll::sys::Errno;
    use barepoll::{Key, TimerKey};
    #[derive(Debug)]
    #[allow(dead_code)] // the fields are read by `Debug` only
    enum Derived {
        Os(Errno),
        AlreadyRegistered(i32),
        Inherited,
        StaleKey(Key),
        WrongType(Key),
        StaleTimer(TimerKey),
        Invalid(&'static str),
        Closed,
        WouldDeadlock,
        Panicked,
        Busy(Key),
        Full,
        TimedOut,
    }
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let key = r.register(Probe::new(eventfd(0)).0, readable()).unwrap();
    let timer = r
        .arm(Timer::after(Duration::from_secs(60)), |_: &mut Ops<'_>| {})
        .unwrap();
    let pairs = [
        (Error::Os(Errno::EBADF), Derived::Os(Errno::EBADF)),
        (Error::AlreadyRegistered(7), Derived::AlreadyRegistered(7)),
        (Error::Inherited, Derived::Inherited),
        (Error::StaleKey(key), Derived::StaleKey(key)),
        (Error::WrongType(key), Derived::WrongType(key)),
        (Error::StaleTimer(timer), Derived::StaleTimer(timer)),
        (
            Error::Invalid("a \"text\"\n"),
            Derived::Invalid("a \"text\"\n"),
        ),
        (Error::Closed, Derived::Closed),
        (Error::WouldDeadlock, Derived::WouldDeadlock),
        (Error::Panicked, Derived::Panicked),
        (Error::Busy(key), Derived::Busy(key)),
        (Error::Full, Derived::Full),
        (Error::TimedOut, Derived::TimedOut),
    ];
    for (error, derived) in pairs {
        assert_eq!(format!("{error:?}"), format!("{derived:?}"));
        assert_eq!(format!("{error:#?}"), format!("{derived:#?}"));
        // Width and padding reach the variant's name as a derived `Debug` lets them.
        assert_eq!(format!("{error:>40?}"), format!("{derived:>40?}"));
    }
}
