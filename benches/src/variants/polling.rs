//! polling 3 in level mode with a plain slab of per-fd values (`Conn`s) indexed by key:
//! dispatch is an index and an update.

use super::{measured, Conn, Fd, CHURN_CAPACITY, PAIRS};
use crate::count::Count;
use crate::memory::Footprint;
use crate::slab::Slab;
use polling::{Event, Events, PollMode, Poller};
use std::num::NonZeroUsize;
use std::os::fd::AsRawFd;

pub fn add_level(poller: &Poller, fd: Fd, key: usize) {
    // SAFETY: the fd stays open until it is deleted or the poller is dropped (the pool in
    // `setup` never closes its fds).
    unsafe { poller.add_with_mode(fd.as_raw_fd(), Event::readable(key), PollMode::Level) }.unwrap();
}

pub fn events(capacity: usize) -> Events {
    Events::with_capacity(NonZeroUsize::new(capacity.max(1)).unwrap())
}

/// The churn driver's key: polling keeps `usize::MAX` for its notifier.
pub const DRIVER: usize = usize::MAX - 1;

pub struct Dispatch {
    poller: Poller,
    events: Events,
    conns: Slab<Conn>,
}

impl Dispatch {
    pub fn new(ready: &[Fd], idle: &[Fd]) -> Dispatch {
        let (poller, mut conns) = (Poller::new().unwrap(), Slab::new());
        for &fd in ready.iter().chain(idle) {
            let key = conns.insert(Conn::new(fd));
            add_level(&poller, fd, key);
        }
        let events = events(ready.len());
        Dispatch {
            poller,
            events,
            conns,
        }
    }

    #[inline(always)]
    fn turn(&mut self) {
        self.events.clear();
        self.poller.wait(&mut self.events, None).unwrap();
        for event in self.events.iter() {
            if let Some(conn) = self.conns.get_mut(event.key) {
                conn.count.bump();
            }
        }
    }
}

measured!(Dispatch, bench_dispatch_polling);

pub struct Churn {
    poller: Poller,
    events: Events,
    conns: Slab<Conn>,
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
            conns: Slab::new(),
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
                    let key = self.conns.insert(Conn::new(self.churned));
                    add_level(&self.poller, self.churned, key);
                    self.poller.delete(self.churned).unwrap();
                    self.conns.remove(key);
                    self.pairs.bump();
                }
            } else if let Some(conn) = self.conns.get_mut(event.key) {
                conn.count.bump();
            }
        }
    }
}

measured!(Churn, bench_churn_polling);

pub fn memory(fds: &[Fd]) -> Footprint {
    let (poller, mut conns) = (Poller::new().unwrap(), Slab::new());
    let start = Footprint::now();
    for &fd in fds {
        let key = conns.insert(Conn::new(fd));
        add_level(&poller, fd, key);
    }
    Footprint::now().since(start)
}
