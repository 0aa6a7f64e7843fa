//! Finding subscribers without their keys: by fd number, all keys, every one of a type taken
//! out; the reactor's own subscribers (the timers' alarm, the remote calls' queue) are never
//! handed out.
mod common;

use barepoll::sys::{self, AsFd, AsRawFd, BorrowedFd, OwnedFd};
use barepoll::{Event, Ops, Reactor, Subscriber, Timer};
use common::*;
use std::time::Duration;

struct Conn(OwnedFd);

impl AsFd for Conn {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl Subscriber for Conn {
    fn handle(&mut self, _: Event, _: &mut Ops<'_>) {}
}

/// The numbers of this process's descriptors whose link names `what`.
fn numbers_of(what: &str) -> Vec<i32> {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| {
            let e = e.ok()?;
            let target = std::fs::read_link(e.path()).ok()?;
            let n = e.file_name().to_str()?.parse().ok()?;
            target.to_string_lossy().contains(what).then_some(n)
        })
        .collect()
}

#[test]
#[cfg_attr(miri, ignore = "Miri has no /proc")]
fn keys_and_numbers_name_the_users_subscribers_only() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let timers_before = numbers_of("timerfd");
    r.arm(Timer::after(Duration::from_secs(60)), |_: &mut Ops<'_>| {})
        .unwrap();
    #[cfg(feature = "std")]
    let _remote = r.remote().unwrap();
    let mut keys = Vec::new();
    let mut numbers = Vec::new();
    for _ in 0..3 {
        let fd = eventfd(0);
        numbers.push(fd.as_raw_fd());
        keys.push(r.register(Conn(fd), readable()).unwrap());
    }
    assert_eq!(r.len(), 3);
    assert_eq!(
        r.keys().collect::<Vec<_>>(),
        keys,
        "in fd order, users' only"
    );
    for (&n, &k) in numbers.iter().zip(&keys) {
        assert_eq!(r.key_of(n), Some(k));
    }
    // The alarm (a timerfd made by the first arm) is registered, but never named.
    let alarms: Vec<i32> = numbers_of("timerfd")
        .into_iter()
        .filter(|n| !timers_before.contains(n))
        .collect();
    assert_eq!(
        alarms.len(),
        usize::from(cfg!(feature = "alarm")),
        "{alarms:?}"
    );
    for alarm in alarms {
        assert_eq!(r.key_of(alarm), None);
    }
    assert_eq!(r.key_of(-1), None);
    assert_eq!(r.key_of(19_999), None);
    r.delete(keys[1]).unwrap();
    assert_eq!(r.key_of(numbers[1]), None);
    assert_eq!(r.keys().count(), 2);
}

#[test]
fn take_all_takes_every_one_of_a_type_with_its_fd_open_and_leaves_the_rest() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    for _ in 0..4 {
        r.register(Conn(eventfd(0)), readable()).unwrap();
    }
    let other = barepoll::interest()
        .read()
        .with_fd(eventfd(0))
        .with_handler(|| {})
        .register_into(&mut r)
        .unwrap();
    let conns: Vec<Conn> = r.take_all().unwrap();
    assert_eq!(conns.len(), 4);
    assert_eq!(r.keys().collect::<Vec<_>>(), [other]);
    // Out of the epoll set, still open: readable, yet no event comes.
    for c in &conns {
        sys::write(c.0.as_fd(), &1u64.to_ne_bytes()).unwrap();
    }
    assert_eq!(r.run_once(Some(Duration::ZERO)).unwrap(), 0);
    assert!(r.take_all::<Conn>().unwrap().is_empty());
}
