//! barepoll with a hand-written `Subscriber`: the per-fd value is a [`Conn`] itself, stored
//! in its node. The churn driver is a subscriber type of its own.

use super::{measured, Conn, Fd, CHURN_CAPACITY, PAIRS};
use crate::count::Count;
use crate::memory::Footprint;
use barepoll::{Event, Ops, Reactor, Subscriber};
use std::os::fd::{AsFd, BorrowedFd};

impl Subscriber for Conn {
    /// No `init`: registered the short way, as `Subscriber::has_init`'s docs advise.
    fn has_init(&self) -> bool {
        false
    }

    #[inline]
    fn handle(&mut self, _: Event, _: &mut Ops<'_>) {
        self.count.bump();
    }
}

/// The churn driver: adds and deletes a `Conn` on `churned` from its handler.
struct Driver {
    fd: Fd,
    churned: Fd,
    pairs: Count,
}

impl AsFd for Driver {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd
    }
}

impl Subscriber for Driver {
    fn has_init(&self) -> bool {
        false
    }

    fn handle(&mut self, _: Event, ops: &mut Ops<'_>) {
        for _ in 0..PAIRS {
            let key = ops
                .add(Conn::new(self.churned), barepoll::interest().read())
                .unwrap();
            ops.delete(key).unwrap();
            self.pairs.bump();
        }
    }
}

pub struct Dispatch {
    reactor: Reactor,
}

impl Dispatch {
    pub fn new(ready: &[Fd], idle: &[Fd]) -> Dispatch {
        let mut reactor = Reactor::with_capacity(ready.len()).unwrap();
        for &fd in ready.iter().chain(idle) {
            reactor
                .register(Conn::new(fd), barepoll::interest().read())
                .unwrap();
        }
        Dispatch { reactor }
    }

    #[inline(always)]
    fn turn(&mut self) {
        self.reactor.run_once(None).unwrap();
    }
}

measured!(Dispatch, bench_dispatch_barepoll_sub);

pub struct Churn {
    reactor: Reactor,
}

impl Churn {
    pub fn new(driver: Fd, churned: Fd) -> Churn {
        let mut reactor = Reactor::with_capacity(CHURN_CAPACITY).unwrap();
        let driver = Driver {
            fd: driver,
            churned,
            pairs: Count::new(),
        };
        reactor
            .register(driver, barepoll::interest().read())
            .unwrap();
        Churn { reactor }
    }

    #[inline(always)]
    fn turn(&mut self) {
        self.reactor.run_once(None).unwrap();
    }
}

measured!(Churn, bench_churn_barepoll_sub);

pub fn memory(fds: &[Fd]) -> Footprint {
    let mut reactor = Reactor::new().unwrap();
    let start = Footprint::now();
    for &fd in fds {
        reactor
            .register(Conn::new(fd), barepoll::interest().read())
            .unwrap();
    }
    Footprint::now().since(start)
}
