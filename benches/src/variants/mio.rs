//! mio 1 with a plain slab of per-fd values (`Conn`s) indexed by token: dispatch is an index
//! and an update, as a mio user keeps its connections.
//!
//! mio registers edge-triggered only, and the dispatch harnesses need level-triggered fds that
//! stay ready, so those go in with `epoll_ctl` on mio's own epoll fd (same flags as the other
//! variants). The churned fd, the memory probe's fds and nothing else go through mio's
//! `Registry`, as a mio user adds and removes a source.

use super::{measured, Conn, Fd, CHURN_CAPACITY, PAIRS};
use crate::count::Count;
use crate::memory::Footprint;
use crate::slab::Slab;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use std::os::fd::AsRawFd;

/// Adds `fd` to mio's epoll set level-triggered, reporting `token`.
pub fn add_level(poll: &Poll, fd: Fd, token: usize) {
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

/// The churn driver's token: past any slab index.
pub const DRIVER: Token = Token(usize::MAX);

pub struct Dispatch {
    poll: Poll,
    events: Events,
    conns: Slab<Conn>,
}

impl Dispatch {
    pub fn new(ready: &[Fd], idle: &[Fd]) -> Dispatch {
        let (poll, mut conns) = (Poll::new().unwrap(), Slab::new());
        for &fd in ready.iter().chain(idle) {
            let token = conns.insert(Conn::new(fd));
            add_level(&poll, fd, token);
        }
        let events = Events::with_capacity(ready.len().max(1));
        Dispatch {
            poll,
            events,
            conns,
        }
    }

    #[inline(always)]
    fn turn(&mut self) {
        self.poll.poll(&mut self.events, None).unwrap();
        for event in self.events.iter() {
            if let Some(conn) = self.conns.get_mut(event.token().0) {
                conn.count.bump();
            }
        }
    }
}

measured!(Dispatch, bench_dispatch_mio);

pub struct Churn {
    poll: Poll,
    events: Events,
    conns: Slab<Conn>,
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
            conns: Slab::new(),
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
                    let token = self.conns.insert(Conn::new(self.churned));
                    let mut source = SourceFd(&fd);
                    registry
                        .register(&mut source, Token(token), Interest::READABLE)
                        .unwrap();
                    registry.deregister(&mut source).unwrap();
                    self.conns.remove(token);
                    self.pairs.bump();
                }
            } else if let Some(conn) = self.conns.get_mut(event.token().0) {
                conn.count.bump();
            }
        }
    }
}

measured!(Churn, bench_churn_mio);

pub fn memory(fds: &[Fd]) -> Footprint {
    let (poll, mut conns) = (Poll::new().unwrap(), Slab::new());
    let start = Footprint::now();
    for &fd in fds {
        let token = conns.insert(Conn::new(fd));
        let raw = fd.as_raw_fd();
        poll.registry()
            .register(&mut SourceFd(&raw), Token(token), Interest::READABLE)
            .unwrap();
    }
    Footprint::now().since(start)
}
