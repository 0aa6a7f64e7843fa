//! The floor: the raw epoll set and a loop that acts on each `data` word directly.
//! No reactor, no registry, no indirect call.

use super::{measured, Fd, CHURN_CAPACITY, PAIRS};
use crate::raw::{self, Epoll, Event};
use std::cell::Cell;

/// Dispatch: `data` is the address of the counter, bumped through it.
pub struct Dispatch {
    epoll: Epoll,
    events: Vec<Event>,
    count: Box<Cell<u64>>,
}

impl Dispatch {
    pub fn new(ready: &[Fd], idle: &[Fd]) -> Dispatch {
        let (epoll, count) = (Epoll::new(), Box::new(Cell::new(0)));
        for &fd in ready.iter().chain(idle) {
            epoll.add(fd, &*count as *const Cell<u64> as u64);
        }
        let events = raw::events(ready.len());
        Dispatch {
            epoll,
            events,
            count,
        }
    }

    #[inline(always)]
    fn turn(&mut self) {
        let n = self.epoll.wait(&mut self.events);
        for event in &self.events[..n] {
            let data = event.data;
            // SAFETY: every registered `data` is the address of `self.count`, boxed and alive.
            let count = unsafe { &*(data as *const Cell<u64>) };
            count.set(count.get() + 1);
        }
    }

    fn done(&self) -> u64 {
        self.count.get()
    }
}

measured!(Dispatch, bench_dispatch_floor);

const DRIVER: u64 = 0;
const CHURNED: u64 = 1;

/// Churn: `data` says which fd fired; the driver's arm adds and deletes the churned fd.
pub struct Churn {
    epoll: Epoll,
    events: Vec<Event>,
    churned: Fd,
    pairs: u64,
}

impl Churn {
    pub fn new(driver: Fd, churned: Fd) -> Churn {
        let epoll = Epoll::new();
        epoll.add(driver, DRIVER);
        let events = raw::events(CHURN_CAPACITY);
        Churn {
            epoll,
            events,
            churned,
            pairs: 0,
        }
    }

    #[inline(always)]
    fn turn(&mut self) {
        let n = self.epoll.wait(&mut self.events);
        for i in 0..n {
            if self.events[i].data == DRIVER {
                for _ in 0..PAIRS {
                    self.epoll.add(self.churned, CHURNED);
                    self.epoll.delete(self.churned);
                    self.pairs += 1;
                }
            }
        }
    }

    fn done(&self) -> u64 {
        self.pairs
    }
}

measured!(Churn, bench_churn_floor);
