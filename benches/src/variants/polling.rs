//! polling 3 in level mode with a `Vec` slab of boxed handlers indexed by key.

use super::{measured, Fd, CHURN_CAPACITY, PAIRS};
use crate::slab::Handlers;
use polling::{Event, Events, PollMode, Poller};
use std::cell::Cell;
use std::num::NonZeroUsize;
use std::os::fd::AsRawFd;
use std::rc::Rc;

fn add_level(poller: &Poller, fd: Fd, key: usize) {
    // SAFETY: the fd stays open until it is deleted or the poller is dropped (the pools in
    // `setup` never close theirs).
    unsafe { poller.add_with_mode(fd.as_raw_fd(), Event::readable(key), PollMode::Level) }.unwrap();
}

fn events(capacity: usize) -> Events {
    Events::with_capacity(NonZeroUsize::new(capacity.max(1)).unwrap())
}

pub struct Dispatch {
    poller: Poller,
    events: Events,
    handlers: Handlers,
    count: Rc<Cell<u64>>,
}

impl Dispatch {
    pub fn new(ready: &[Fd], idle: &[Fd]) -> Dispatch {
        let poller = Poller::new().unwrap();
        let mut handlers = Handlers::new();
        let count = Rc::new(Cell::new(0));
        for &fd in ready.iter().chain(idle) {
            let count = count.clone();
            let key = handlers.insert(Box::new(move || count.set(count.get() + 1)));
            add_level(&poller, fd, key);
        }
        let events = events(ready.len());
        Dispatch {
            poller,
            events,
            handlers,
            count,
        }
    }

    #[inline(always)]
    fn turn(&mut self) {
        self.events.clear();
        self.poller.wait(&mut self.events, None).unwrap();
        for event in self.events.iter() {
            if let Some(handler) = self.handlers.get_mut(event.key) {
                handler();
            }
        }
    }

    fn done(&self) -> u64 {
        self.count.get()
    }
}

measured!(Dispatch, bench_dispatch_polling);

const DRIVER: usize = usize::MAX - 1; // polling keeps usize::MAX for its notifier

pub struct Churn {
    poller: Poller,
    events: Events,
    handlers: Handlers,
    churned: Fd,
    pairs: Rc<Cell<u64>>,
}

impl Churn {
    pub fn new(driver: Fd, churned: Fd) -> Churn {
        let poller = Poller::new().unwrap();
        add_level(&poller, driver, DRIVER);
        let events = events(CHURN_CAPACITY);
        let handlers = Handlers::new();
        Churn {
            poller,
            events,
            handlers,
            churned,
            pairs: Rc::default(),
        }
    }

    #[inline(always)]
    fn turn(&mut self) {
        self.events.clear();
        self.poller.wait(&mut self.events, None).unwrap();
        for event in self.events.iter() {
            if event.key == DRIVER {
                for _ in 0..PAIRS {
                    let count = self.pairs.clone();
                    let key = self
                        .handlers
                        .insert(Box::new(move || count.set(count.get() + 1)));
                    add_level(&self.poller, self.churned, key);
                    self.poller.delete(self.churned).unwrap();
                    self.handlers.remove(key);
                    self.pairs.set(self.pairs.get() + 1);
                }
            } else if let Some(handler) = self.handlers.get_mut(event.key) {
                handler();
            }
        }
    }

    fn done(&self) -> u64 {
        self.pairs.get()
    }
}

measured!(Churn, bench_churn_polling);
