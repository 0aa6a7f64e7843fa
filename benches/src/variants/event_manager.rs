//! event-manager 0.4 as its README shows: a concrete subscriber type (`EventManager<Conn>`,
//! no `Box<dyn>`) whose `init` adds its fd and whose `process` updates its own state. Events
//! go fd -> subscriber id -> subscriber through its maps.
//!
//! A handler cannot add a subscriber (its `EventOps` only edits the running subscriber's own
//! watch list), so churn adds and removes the churned fd in the driver's watch list: the
//! nearest thing event-manager offers, not a subscriber of its own.

use super::{measured, Conn, Fd, CHURN_CAPACITY, PAIRS};
use crate::count::Count;
use crate::memory::Footprint;
use event_manager::{EventManager, EventOps, EventSet, Events, MutEventSubscriber};
use event_manager::{SubscriberOps, MAX_READY_EVENTS_CAPACITY};
use std::os::fd::AsRawFd;

impl MutEventSubscriber for Conn {
    fn process(&mut self, _: Events, _: &mut EventOps) {
        self.count.bump();
    }

    fn init(&mut self, ops: &mut EventOps) {
        ops.add(Events::new(&self.fd, EventSet::IN)).unwrap();
    }
}

fn manager<S: MutEventSubscriber>(capacity: usize) -> EventManager<S> {
    EventManager::new_with_capacity(capacity.clamp(1, MAX_READY_EVENTS_CAPACITY)).unwrap()
}

pub struct Dispatch {
    manager: EventManager<Conn>,
}

impl Dispatch {
    pub fn new(ready: &[Fd], idle: &[Fd]) -> Dispatch {
        let mut manager = manager(ready.len());
        for &fd in ready.iter().chain(idle) {
            manager.add_subscriber(Conn::new(fd));
        }
        Dispatch { manager }
    }

    #[inline(always)]
    fn turn(&mut self) {
        self.manager.run().unwrap();
    }
}

measured!(Dispatch, bench_dispatch_event_manager);

pub struct Driver {
    driver: Fd,
    churned: Fd,
    pairs: Count,
}

impl MutEventSubscriber for Driver {
    fn process(&mut self, _: Events, ops: &mut EventOps) {
        let churned = self.churned.as_raw_fd();
        for _ in 0..PAIRS {
            ops.add(Events::new_raw(churned, EventSet::IN)).unwrap();
            ops.remove(Events::new_raw(churned, EventSet::IN)).unwrap();
            self.pairs.bump();
        }
    }

    fn init(&mut self, ops: &mut EventOps) {
        ops.add(Events::new(&self.driver, EventSet::IN)).unwrap();
    }
}

pub struct Churn {
    manager: EventManager<Driver>,
}

impl Churn {
    pub fn new(driver: Fd, churned: Fd) -> Churn {
        let mut manager = manager(CHURN_CAPACITY);
        manager.add_subscriber(Driver {
            driver,
            churned,
            pairs: Count::new(),
        });
        Churn { manager }
    }

    #[inline(always)]
    fn turn(&mut self) {
        self.manager.run().unwrap();
    }
}

measured!(Churn, bench_churn_event_manager);

pub fn memory(fds: &[Fd]) -> Footprint {
    let mut manager = EventManager::<Conn>::new().unwrap();
    let start = Footprint::now();
    for &fd in fds {
        manager.add_subscriber(Conn::new(fd));
    }
    Footprint::now().since(start)
}
