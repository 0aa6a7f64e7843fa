//! mio 1 with a `Vec` slab of boxed handlers indexed by token. mio registers edge-triggered
//! only, so the watched fds go in level-triggered with `epoll_ctl` on mio's own epoll fd; the
//! churned fd goes through mio's `Registry`, as a mio user would add and remove a source.

use super::{measured, Fd, CHURN_CAPACITY, PAIRS};
use crate::slab::Handlers;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use std::cell::Cell;
use std::os::fd::AsRawFd;
use std::rc::Rc;

/// Adds `fd` to mio's epoll set level-triggered, reporting `token`.
fn add_level(poll: &Poll, fd: Fd, token: usize) {
    let mut event = libc::epoll_event {
        events: libc::EPOLLIN as u32,
        u64: token as u64,
    };
    // SAFETY: both fds are open; the kernel only reads `event`.
    let r = unsafe {
        libc::epoll_ctl(
            poll.as_raw_fd(),
            libc::EPOLL_CTL_ADD,
            fd.as_raw_fd(),
            &mut event,
        )
    };
    assert_eq!(r, 0, "epoll_ctl");
}

pub struct Dispatch {
    poll: Poll,
    events: Events,
    handlers: Handlers,
    count: Rc<Cell<u64>>,
}

impl Dispatch {
    pub fn new(ready: &[Fd], idle: &[Fd]) -> Dispatch {
        let poll = Poll::new().unwrap();
        let mut handlers = Handlers::new();
        let count = Rc::new(Cell::new(0));
        for &fd in ready.iter().chain(idle) {
            let count = count.clone();
            let token = handlers.insert(Box::new(move || count.set(count.get() + 1)));
            add_level(&poll, fd, token);
        }
        let events = Events::with_capacity(ready.len().max(1));
        Dispatch {
            poll,
            events,
            handlers,
            count,
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

    fn done(&self) -> u64 {
        self.count.get()
    }
}

measured!(Dispatch, bench_dispatch_mio);

const DRIVER: Token = Token(usize::MAX);

pub struct Churn {
    poll: Poll,
    events: Events,
    handlers: Handlers,
    churned: Fd,
    pairs: Rc<Cell<u64>>,
}

impl Churn {
    pub fn new(driver: Fd, churned: Fd) -> Churn {
        let poll = Poll::new().unwrap();
        add_level(&poll, driver, DRIVER.0);
        let events = Events::with_capacity(CHURN_CAPACITY);
        let handlers = Handlers::new();
        Churn {
            poll,
            events,
            handlers,
            churned,
            pairs: Rc::default(),
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
                    let count = self.pairs.clone();
                    let token = self
                        .handlers
                        .insert(Box::new(move || count.set(count.get() + 1)));
                    let mut source = SourceFd(&fd);
                    registry
                        .register(&mut source, Token(token), Interest::READABLE)
                        .unwrap();
                    registry.deregister(&mut source).unwrap();
                    self.handlers.remove(token);
                    self.pairs.set(self.pairs.get() + 1);
                }
            } else if let Some(handler) = self.handlers.get_mut(event.token().0) {
                handler();
            }
        }
    }

    fn done(&self) -> u64 {
        self.pairs.get()
    }
}

measured!(Churn, bench_churn_mio);
