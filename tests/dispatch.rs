//! Event delivery with real eventfds, pipes and loopback TCP: interests, handler parameters,
//! oneshot, edge-triggering, modify, downcasts and errors.
mod common;

use barepoll::sys::{self, AsFd, AsRawFd, OwnedFd};
use barepoll::{interest, Error, Event, Interest, Ops, Reactor};
use common::*;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

const NOW: Option<Duration> = Some(Duration::ZERO);

#[test]
fn handlers_take_any_subset_of_parameters_in_any_order() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let log: Rc<RefCell<Vec<String>>> = Rc::default();
    let l = log.clone();
    readable()
        .with_fd(eventfd(1))
        .with_handler(move || l.borrow_mut().push("none".into()))
        .register_into(&mut r)
        .unwrap();
    let l = log.clone();
    readable()
        .with_fd(eventfd(1))
        .with_handler(move |ev: Event| l.borrow_mut().push(format!("ev {}", ev.is_readable())))
        .register_into(&mut r)
        .unwrap();
    let l = log.clone();
    readable()
        .rdhup()
        .with_fd(eventfd(1))
        .with_handler(
            move |it: Interest, ev: Event, fd: &mut OwnedFd, ops: &mut Ops<'_>| {
                assert_eq!(ops.key().fd(), fd.as_raw_fd());
                l.borrow_mut()
                    .push(format!("all {} {}", it.is_rdhup(), ev.is_readable()));
            },
        )
        .register_into(&mut r)
        .unwrap();
    let l = log.clone();
    readable()
        .with_fd(eventfd(1))
        .with_handler(move |ops: &mut Ops<'_>, fd: &mut OwnedFd| {
            drain(fd.as_fd());
            l.borrow_mut().push("ops fd".into());
            ops.delete_self().unwrap();
        })
        .register_into(&mut r)
        .unwrap();
    assert_eq!(r.run_once(NOW).unwrap(), 4);
    let mut got = log.borrow().clone();
    got.sort();
    assert_eq!(got, ["all true true", "ev true", "none", "ops fd"]);
    assert_eq!(r.len(), 3);
}

#[test]
fn level_triggered_fires_until_drained() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let efd = eventfd(0);
    let (probe, c) = Probe::new(efd);
    let k = r.register(probe, interest().read()).unwrap();
    assert_eq!(r.run_once(NOW).unwrap(), 0);
    poke(r.get::<Probe>(k).unwrap().fd.as_fd());
    assert_eq!(r.run_once(NOW).unwrap(), 1);
    assert_eq!(r.run_once(NOW).unwrap(), 1);
    assert_eq!(drain(r.get_mut::<Probe>(k).unwrap().fd.as_fd()), 1);
    assert_eq!(r.run_once(NOW).unwrap(), 0);
    assert_eq!(c.hits(), 2);
}

#[test]
fn edge_triggered_fires_once_per_new_data() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let (probe, c) = Probe::new(eventfd(0));
    let k = r.register(probe, readable().edge()).unwrap();
    let fd = || r.get::<Probe>(k).unwrap().fd.as_raw_fd();
    let fd = fd();
    // SAFETY (test code): the fd stays open while the reactor holds the probe.
    let bfd = unsafe { sys::BorrowedFd::borrow_raw(fd) };
    poke(bfd);
    assert_eq!(r.run_once(NOW).unwrap(), 1);
    assert_eq!(
        r.run_once(NOW).unwrap(),
        0,
        "edge-triggered fired again without new data"
    );
    poke(bfd);
    assert_eq!(r.run_once(NOW).unwrap(), 1);
    assert_eq!(c.hits(), 2);
}

#[test]
#[cfg_attr(miri, ignore = "Miri's epoll has no EPOLLONESHOT")]
fn oneshot_fires_once_and_rearms() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let rearm = Rc::new(Cell::new(false));
    let rearm2 = rearm.clone();
    let (probe, c) = Probe::new(eventfd(1));
    let probe = probe.on_event(move |_, ops| {
        if rearm2.get() {
            ops.rearm().unwrap();
        }
    });
    let k = r.register(probe, readable().oneshot()).unwrap();
    assert_eq!(r.run_once(NOW).unwrap(), 1);
    assert_eq!(r.run_once(NOW).unwrap(), 0, "oneshot fired twice");
    r.modify(k, readable().oneshot()).unwrap(); // re-arm from outside
    rearm.set(true);
    assert_eq!(r.run_once(NOW).unwrap(), 1);
    assert_eq!(r.run_once(NOW).unwrap(), 1, "Ops::rearm did not re-arm");
    assert_eq!(c.hits(), 3);
}

#[test]
#[cfg_attr(miri, ignore = "Miri's epoll has no EPOLLWAKEUP")]
fn modify_changes_what_is_reported() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let seen: Rc<RefCell<Vec<Event>>> = Rc::default();
    let s = seen.clone();
    let (probe, _) = Probe::new(eventfd(0));
    let probe = probe.on_event(move |ev, ops| {
        s.borrow_mut().push(ev);
        ops.modify_self(interest()).unwrap(); // stop asking for anything
    });
    let k = r.register(probe, interest().write()).unwrap();
    assert_eq!(r.run_once(NOW).unwrap(), 1);
    assert!(seen.borrow()[0].is_writable() && !seen.borrow()[0].is_readable());
    assert_eq!(r.interest(k), Ok(interest()));
    assert_eq!(r.run_once(NOW).unwrap(), 0);
    r.modify(k, interest().write()).unwrap();
    assert_eq!(r.run_once(NOW).unwrap(), 1);
    // EPOLLEXCLUSIVE is refused by the kernel on modify: a clear OS error.
    assert_eq!(
        r.modify(k, readable().exclusive()),
        Err(Error::Os(sys::Errno::EINVAL))
    );
}

#[test]
fn get_checks_the_type() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let (probe, _) = Probe::new(eventfd(0));
    let k = r.register(probe, readable()).unwrap();
    assert!(r.get::<Probe>(k).is_ok());
    assert_eq!(r.get::<Borrowed>(k).err(), Some(Error::WrongType(k)));
    assert_eq!(r.get_mut::<Borrowed>(k).err(), Some(Error::WrongType(k)));
}

#[test]
fn capacity_limits_one_wait_but_loses_nothing() {
    let _fds = fd_check();
    let mut r = Reactor::with_capacity(1).unwrap();
    let mut cs = Vec::new();
    for _ in 0..3 {
        let (p, c) = Probe::new(eventfd(1));
        r.register(p.on_event(|_, ops| ops.delete_self().unwrap()), readable())
            .unwrap();
        cs.push(c);
    }
    for _ in 0..3 {
        assert_eq!(r.run_once(NOW).unwrap(), 1);
    }
    assert!(r.is_empty());
    assert!(cs.iter().all(|c| c.hits() == 1 && c.drops() == 1));
}

#[test]
fn pipe_reports_data_then_hangup() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let (rd, wr) = sys::pipe(sys::O_NONBLOCK).unwrap();
    let got: Rc<RefCell<Vec<u8>>> = Rc::default();
    let hup = Rc::new(Cell::new(false));
    let (g, h) = (got.clone(), hup.clone());
    readable()
        .with_fd(rd)
        .with_handler(move |fd: &mut OwnedFd, ev: Event, ops: &mut Ops<'_>| {
            let mut buf = [0u8; 64];
            match sys::read(fd.as_fd(), &mut buf) {
                Ok(0) => {
                    h.set(ev.is_hangup() && ev.is_read_closed());
                    ops.delete_self().unwrap();
                }
                Ok(n) => g.borrow_mut().extend_from_slice(&buf[..n]),
                Err(e) => panic!("{e}"),
            }
        })
        .register_into(&mut r)
        .unwrap();
    sys::write(wr.as_fd(), b"hello").unwrap();
    assert_eq!(r.run_once(NOW).unwrap(), 1);
    drop(wr);
    assert_eq!(r.run_once(NOW).unwrap(), 1);
    assert_eq!(&got.borrow()[..], b"hello");
    assert!(hup.get());
    assert!(r.is_empty());
}

/// The writing end of a pipe whose reader is gone, and a socket whose peer closed, both say
/// "write closed", and the write then fails; a live one does not.
#[test]
#[cfg_attr(
    miri,
    ignore = "Miri reports no EPOLLERR or EPOLLHUP for a closed peer"
)]
fn a_writer_whose_reader_is_gone_sees_write_closed() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let seen: Rc<RefCell<Vec<(bool, bool)>>> = Rc::default();
    let (rd, wr) = sys::pipe(sys::O_NONBLOCK).unwrap();
    let (mine, peer) = sys::socketpair(sys::SocketType::Stream, sys::O_NONBLOCK).unwrap();
    let s = seen.clone();
    let pipe = interest()
        .write()
        .with_fd(wr)
        .with_handler(move |fd: &mut OwnedFd, ev: Event| {
            let refused = sys::write(fd.as_fd(), b"x") == Err(sys::Errno::EPIPE);
            s.borrow_mut().push((ev.is_write_closed(), refused));
        })
        .register_into(&mut r)
        .unwrap();
    let s = seen.clone();
    let socket = interest()
        .write()
        .with_fd(mine)
        .with_handler(move |ev: Event| s.borrow_mut().push((ev.is_write_closed(), true)))
        .register_into(&mut r)
        .unwrap();
    assert_eq!(r.run_once(NOW).unwrap(), 2);
    assert_eq!(seen.take(), [(false, false), (false, true)]);
    drop(rd);
    drop(peer);
    assert_eq!(r.run_once(NOW).unwrap(), 2);
    assert_eq!(seen.take(), [(true, true), (true, true)]);
    r.delete(pipe).unwrap();
    r.delete(socket).unwrap();
}

static ZST_FD: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);
static ZST_HITS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// A zero-sized subscriber: its node is all header.
struct Zst;

impl AsFd for Zst {
    fn as_fd(&self) -> sys::BorrowedFd<'_> {
        let fd = ZST_FD.load(std::sync::atomic::Ordering::Relaxed);
        // SAFETY (test code): the test keeps this eventfd open while Zst is registered.
        unsafe { sys::BorrowedFd::borrow_raw(fd) }
    }
}

impl barepoll::Subscriber for Zst {
    fn handle(&mut self, ev: Event, ops: &mut Ops<'_>) {
        assert!(ev.is_readable());
        ZST_HITS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        ops.delete_self().unwrap();
    }
}

#[test]
fn zero_sized_subscribers_work() {
    assert_eq!(std::mem::size_of::<Zst>(), 0);
    let _fds = fd_check();
    let efd = eventfd(1);
    ZST_FD.store(efd.as_raw_fd(), std::sync::atomic::Ordering::Relaxed);
    let mut r = Reactor::new().unwrap();
    let k = r.register(Zst, readable()).unwrap();
    assert!(r.get::<Zst>(k).is_ok());
    assert_eq!(r.run_once(NOW).unwrap(), 1);
    assert_eq!(ZST_HITS.load(std::sync::atomic::Ordering::Relaxed), 1);
    assert!(r.is_empty());
}

// What `Interest::exclusive` documents: the kernel takes it at registration only, and not with
// oneshot, rdhup or priority; every modify of an exclusive registration is refused.
#[test]
#[cfg_attr(miri, ignore = "Miri's epoll has no EPOLLEXCLUSIVE")]
fn exclusive_registrations_take_no_modify() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let exclusive = interest().read().exclusive();
    for refused in [exclusive.oneshot(), exclusive.rdhup(), exclusive.priority()] {
        let (p, c) = Probe::new(eventfd(1));
        let err = r.register(p, refused).unwrap_err();
        assert_eq!(err, Error::Os(sys::Errno::EINVAL), "{refused:?}");
        assert_eq!(c.drops(), 1);
    }
    let (p, c) = Probe::new(eventfd(1));
    let (seen, s) = (Rc::new(RefCell::new(Vec::new())), Rc::new(Cell::new(0)));
    let (seen2, s2) = (seen.clone(), s.clone());
    let p = p.on_event(move |_, ops| {
        s2.set(s2.get() + 1);
        let mut results = seen2.borrow_mut();
        results.push(ops.modify_self(interest().read().exclusive()));
        results.push(ops.modify_self(interest().read()));
        results.push(ops.rearm());
    });
    let k = r.register(p, exclusive.edge().write()).unwrap();
    assert_eq!(
        r.modify(k, interest().read()),
        Err(Error::Os(sys::Errno::EINVAL))
    );
    assert_eq!(r.modify(k, exclusive), Err(Error::Os(sys::Errno::EINVAL)));
    assert_eq!(r.run_once(NOW).unwrap(), 1);
    assert_eq!((s.get(), c.hits()), (1, 1));
    let einval = Err(Error::Os(sys::Errno::EINVAL));
    assert_eq!(*seen.borrow(), [einval, einval, einval]);
    // A plain registration cannot become exclusive either.
    let (p, _) = Probe::new(eventfd(0));
    let k = r.register(p, interest().read()).unwrap();
    assert_eq!(r.modify(k, exclusive), Err(Error::Os(sys::Errno::EINVAL)));
}
