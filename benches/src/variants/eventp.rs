//! eventp 1: closures registered through its builder; a thin box per fd in an `FxHashMap`.

use super::{measured, Fd, CHURN_CAPACITY, PAIRS};
use eventp::epoll::EpollCreateFlags;
use eventp::tri_subscriber::WithHandler;
use eventp::{Eventp, Pinned, Subscriber};
use std::cell::Cell;
use std::os::fd::AsRawFd;
use std::rc::Rc;

fn reactor(capacity: usize) -> Eventp {
    Eventp::new(capacity.max(1), EpollCreateFlags::EPOLL_CLOEXEC).unwrap()
}

pub struct Dispatch {
    reactor: Eventp,
    count: Rc<Cell<u64>>,
}

impl Dispatch {
    pub fn new(ready: &[Fd], idle: &[Fd]) -> Dispatch {
        let mut reactor = reactor(ready.len());
        let count = Rc::new(Cell::new(0));
        for &fd in ready.iter().chain(idle) {
            let count = count.clone();
            eventp::interest()
                .read()
                .with_fd(fd)
                .with_handler(move || count.set(count.get() + 1))
                .register_into(&mut reactor)
                .unwrap();
        }
        Dispatch { reactor, count }
    }

    #[inline(always)]
    fn turn(&mut self) {
        self.reactor.run_once().unwrap();
    }

    fn done(&self) -> u64 {
        self.count.get()
    }
}

measured!(Dispatch, bench_dispatch_eventp);

pub struct Churn {
    reactor: Eventp,
    pairs: Rc<Cell<u64>>,
}

impl Churn {
    pub fn new(driver: Fd, churned: Fd) -> Churn {
        let mut reactor = reactor(CHURN_CAPACITY);
        let pairs = Rc::new(Cell::new(0));
        let done = pairs.clone();
        eventp::interest()
            .read()
            .with_fd(driver)
            .with_handler(move |mut ep: Pinned<'_, Eventp>| {
                for _ in 0..PAIRS {
                    let count = done.clone();
                    eventp::interest()
                        .read()
                        .with_fd(churned)
                        .with_handler(move || count.set(count.get() + 1))
                        .register_into(&mut ep)
                        .unwrap();
                    ep.delete(churned.as_raw_fd()).unwrap();
                    done.set(done.get() + 1);
                }
            })
            .register_into(&mut reactor)
            .unwrap();
        Churn { reactor, pairs }
    }

    #[inline(always)]
    fn turn(&mut self) {
        self.reactor.run_once().unwrap();
    }

    fn done(&self) -> u64 {
        self.pairs.get()
    }
}

measured!(Churn, bench_churn_eventp);
