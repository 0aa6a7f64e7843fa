//! eventp 1 as its docs show: closures registered through its builder (each capturing its
//! fd's counter); a thin box per fd, kept in an `FxHashMap` by fd number.

use super::{measured, Fd, CHURN_CAPACITY, PAIRS};
use crate::count::Count;
use crate::memory::Footprint;
use eventp::epoll::EpollCreateFlags;
use eventp::tri_subscriber::WithHandler;
use eventp::{Eventp, EventpOpsAdd, Pinned, Subscriber};
use std::os::fd::AsRawFd;

fn reactor(capacity: usize) -> Eventp {
    Eventp::new(capacity.max(1), EpollCreateFlags::EPOLL_CLOEXEC).unwrap()
}

/// Registers `fd` with a handler that bumps its own counter.
fn register<R: EventpOpsAdd<Eventp>>(fd: Fd, into: &mut R) {
    let mut count = Count::new();
    eventp::interest()
        .read()
        .with_fd(fd)
        .with_handler(move || count.bump())
        .register_into(into)
        .unwrap();
}

pub struct Dispatch {
    reactor: Eventp,
}

impl Dispatch {
    pub fn new(ready: &[Fd], idle: &[Fd]) -> Dispatch {
        let mut reactor = reactor(ready.len());
        for &fd in ready.iter().chain(idle) {
            register(fd, &mut reactor);
        }
        Dispatch { reactor }
    }

    #[inline(always)]
    fn turn(&mut self) {
        self.reactor.run_once().unwrap();
    }
}

measured!(Dispatch, bench_dispatch_eventp);

pub struct Churn {
    reactor: Eventp,
}

impl Churn {
    pub fn new(driver: Fd, churned: Fd) -> Churn {
        let mut reactor = reactor(CHURN_CAPACITY);
        let mut pairs = Count::new();
        eventp::interest()
            .read()
            .with_fd(driver)
            .with_handler(move |mut ep: Pinned<'_, Eventp>| {
                for _ in 0..PAIRS {
                    register(churned, &mut ep);
                    ep.delete(churned.as_raw_fd()).unwrap();
                    pairs.bump();
                }
            })
            .register_into(&mut reactor)
            .unwrap();
        Churn { reactor }
    }

    #[inline(always)]
    fn turn(&mut self) {
        self.reactor.run_once().unwrap();
    }
}

measured!(Churn, bench_churn_eventp);

pub fn memory(fds: &[Fd]) -> Footprint {
    let mut reactor = Eventp::default();
    let start = Footprint::now();
    for &fd in fds {
        register(fd, &mut reactor);
    }
    Footprint::now().since(start)
}
