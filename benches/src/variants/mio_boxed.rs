//! mio 1 with a slab of boxed closures (`Box<dyn FnMut()>`, each owning its fd's `Conn`):
//! the shape of a callback layer over mio, beside the plain slab of `mio.rs`. Registration as
//! there (level-triggered by `epoll_ctl` for the dispatch harnesses, `Registry` otherwise).

use super::mio::{add_level, DRIVER};
use super::{measured, Conn, Fd, CHURN_CAPACITY, PAIRS};
use crate::count::Count;
use crate::memory::Footprint;
use crate::slab::Slab;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use std::os::fd::AsRawFd;

type Handlers = Slab<Box<dyn FnMut()>>;

/// A handler owning `fd`'s value, bumping its counter.
fn handler(fd: Fd) -> Box<dyn FnMut()> {
    let mut conn = Conn::new(fd);
    Box::new(move || conn.count.bump())
}

pub struct Dispatch {
    poll: Poll,
    events: Events,
    handlers: Handlers,
}

impl Dispatch {
    pub fn new(ready: &[Fd], idle: &[Fd]) -> Dispatch {
        let (poll, mut handlers) = (Poll::new().unwrap(), Slab::new());
        for &fd in ready.iter().chain(idle) {
            let token = handlers.insert(handler(fd));
            add_level(&poll, fd, token);
        }
        let events = Events::with_capacity(ready.len().max(1));
        Dispatch {
            poll,
            events,
            handlers,
        }
    }

    #[inline(always)]
    fn turn(&mut self) {
        self.poll.poll(&mut self.events, None).unwrap();
        for event in self.events.iter() {
            if let Some(handler) = self.handlers.get_mut(event.token().0) {
                handler();
            }
        }
    }
}

measured!(Dispatch, bench_dispatch_mio_boxed);

pub struct Churn {
    poll: Poll,
    events: Events,
    handlers: Handlers,
    churned: Fd,
    pairs: Count,
}

impl Churn {
    pub fn new(driver: Fd, churned: Fd) -> Churn {
        let poll = Poll::new().unwrap();
        add_level(&poll, driver, DRIVER.0);
        Churn {
            poll,
            events: Events::with_capacity(CHURN_CAPACITY),
            handlers: Slab::new(),
            churned,
            pairs: Count::new(),
        }
    }

    #[inline(always)]
    fn turn(&mut self) {
        self.poll.poll(&mut self.events, None).unwrap();
        for event in self.events.iter() {
            if event.token() == DRIVER {
                let registry = self.poll.registry();
                let fd = self.churned.as_raw_fd();
                for _ in 0..PAIRS {
                    let token = self.handlers.insert(handler(self.churned));
                    let mut source = SourceFd(&fd);
                    registry
                        .register(&mut source, Token(token), Interest::READABLE)
                        .unwrap();
                    registry.deregister(&mut source).unwrap();
                    self.handlers.remove(token);
                    self.pairs.bump();
                }
            } else if let Some(handler) = self.handlers.get_mut(event.token().0) {
                handler();
            }
        }
    }
}

measured!(Churn, bench_churn_mio_boxed);

pub fn memory(fds: &[Fd]) -> Footprint {
    let (poll, mut handlers) = (Poll::new().unwrap(), Handlers::new());
    let start = Footprint::now();
    for &fd in fds {
        let token = handlers.insert(handler(fd));
        let raw = fd.as_raw_fd();
        poll.registry()
            .register(&mut SourceFd(&raw), Token(token), Interest::READABLE)
            .unwrap();
    }
    Footprint::now().since(start)
}
