//! event-manager 0.4 with a concrete subscriber type (no `Box<dyn>`): fd -> id -> subscriber
//! through its two `HashMap`s. A handler cannot add a subscriber, so churn adds and removes
//! the churned fd in the running subscriber's own watch list, which is what `EventOps` offers.

use super::{measured, Fd, CHURN_CAPACITY, PAIRS};
use event_manager::SubscriberOps;
use event_manager::{EventManager, EventOps, EventSet, Events, MutEventSubscriber};
use std::cell::Cell;
use std::os::fd::{AsRawFd, RawFd};
use std::rc::Rc;

pub struct Counter {
    fd: RawFd,
    count: Rc<Cell<u64>>,
}

impl MutEventSubscriber for Counter {
    fn process(&mut self, _: Events, _: &mut EventOps) {
        self.count.set(self.count.get() + 1);
    }

    fn init(&mut self, ops: &mut EventOps) {
        ops.add(Events::new_raw(self.fd, EventSet::IN)).unwrap();
    }
}

pub struct Dispatch {
    manager: EventManager<Counter>,
    count: Rc<Cell<u64>>,
}

impl Dispatch {
    pub fn new(ready: &[Fd], idle: &[Fd]) -> Dispatch {
        let mut manager = EventManager::new_with_capacity(ready.len().max(1)).unwrap();
        let count = Rc::new(Cell::new(0));
        for fd in ready.iter().chain(idle) {
            let fd = fd.as_raw_fd();
            manager.add_subscriber(Counter {
                fd,
                count: count.clone(),
            });
        }
        Dispatch { manager, count }
    }

    #[inline(always)]
    fn turn(&mut self) {
        self.manager.run().unwrap();
    }

    fn done(&self) -> u64 {
        self.count.get()
    }
}

measured!(Dispatch, bench_dispatch_event_manager);

pub struct Churner {
    driver: RawFd,
    churned: RawFd,
    pairs: Rc<Cell<u64>>,
}

impl MutEventSubscriber for Churner {
    fn process(&mut self, _: Events, ops: &mut EventOps) {
        for _ in 0..PAIRS {
            ops.add(Events::new_raw(self.churned, EventSet::IN))
                .unwrap();
            ops.remove(Events::new_raw(self.churned, EventSet::IN))
                .unwrap();
            self.pairs.set(self.pairs.get() + 1);
        }
    }

    fn init(&mut self, ops: &mut EventOps) {
        ops.add(Events::new_raw(self.driver, EventSet::IN)).unwrap();
    }
}

pub struct Churn {
    manager: EventManager<Churner>,
    pairs: Rc<Cell<u64>>,
}

impl Churn {
    pub fn new(driver: Fd, churned: Fd) -> Churn {
        let mut manager = EventManager::new_with_capacity(CHURN_CAPACITY).unwrap();
        let pairs = Rc::new(Cell::new(0));
        manager.add_subscriber(Churner {
            driver: driver.as_raw_fd(),
            churned: churned.as_raw_fd(),
            pairs: pairs.clone(),
        });
        Churn { manager, pairs }
    }

    #[inline(always)]
    fn turn(&mut self) {
        self.manager.run().unwrap();
    }

    fn done(&self) -> u64 {
        self.pairs.get()
    }
}

measured!(Churn, bench_churn_event_manager);
