//! polling 3 in level mode with a slab of boxed closures (`Box<dyn FnMut()>`, each owning its
//! fd's `Conn`), beside the plain slab of `polling.rs`.

use super::polling::{add_level, events, DRIVER};
use super::{measured, Conn, Fd, CHURN_CAPACITY, PAIRS};
use crate::count::Count;
use crate::memory::Footprint;
use crate::slab::Slab;
use polling::{Events, Poller};

type Handlers = Slab<Box<dyn FnMut()>>;

/// A handler owning `fd`'s value, bumping its counter.
fn handler(fd: Fd) -> Box<dyn FnMut()> {
    let mut conn = Conn::new(fd);
    Box::new(move || conn.count.bump())
}

pub struct Dispatch {
    poller: Poller,
    events: Events,
    handlers: Handlers,
}

impl Dispatch {
    pub fn new(ready: &[Fd], idle: &[Fd]) -> Dispatch {
        let (poller, mut handlers) = (Poller::new().unwrap(), Slab::new());
        for &fd in ready.iter().chain(idle) {
            let key = handlers.insert(handler(fd));
            add_level(&poller, fd, key);
        }
        let events = events(ready.len());
        Dispatch {
            poller,
            events,
            handlers,
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
}

measured!(Dispatch, bench_dispatch_polling_boxed);

pub struct Churn {
    poller: Poller,
    events: Events,
    handlers: Handlers,
    churned: Fd,
    pairs: Count,
}

impl Churn {
    pub fn new(driver: Fd, churned: Fd) -> Churn {
        let poller = Poller::new().unwrap();
        add_level(&poller, driver, DRIVER);
        Churn {
            poller,
            events: events(CHURN_CAPACITY),
            handlers: Slab::new(),
            churned,
            pairs: Count::new(),
        }
    }

    #[inline(always)]
    fn turn(&mut self) {
        self.events.clear();
        self.poller.wait(&mut self.events, None).unwrap();
        for event in self.events.iter() {
            if event.key == DRIVER {
                for _ in 0..PAIRS {
                    let key = self.handlers.insert(handler(self.churned));
                    add_level(&self.poller, self.churned, key);
                    self.poller.delete(self.churned).unwrap();
                    self.handlers.remove(key);
                    self.pairs.bump();
                }
            } else if let Some(handler) = self.handlers.get_mut(event.key) {
                handler();
            }
        }
    }
}

measured!(Churn, bench_churn_polling_boxed);

pub fn memory(fds: &[Fd]) -> Footprint {
    let (poller, mut handlers) = (Poller::new().unwrap(), Handlers::new());
    let start = Footprint::now();
    for &fd in fds {
        let key = handlers.insert(handler(fd));
        add_level(&poller, fd, key);
    }
    Footprint::now().since(start)
}
