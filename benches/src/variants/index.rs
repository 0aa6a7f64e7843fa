//! The index loop: the floor a person writes by hand over raw epoll. The `data` word is an
//! index into a `Vec` of per-fd state, and the loop updates that state in place: no reactor,
//! no call. Churn needs indices that can be freed and reused, so there the `Vec` becomes a
//! slab (`Vec<Option<Conn>>` and a free list, as a mio user keeps), and the driver is
//! recognised by its reserved `data` word, as a mio user matches a token.

use super::{measured, Conn, Fd, CHURN_CAPACITY, PAIRS};
use crate::count::Count;
use crate::memory::Footprint;
use crate::raw::{self, Epoll, Event};
use crate::slab::Slab;

pub struct Dispatch {
    epoll: Epoll,
    events: Vec<Event>,
    conns: Vec<Conn>,
}

impl Dispatch {
    pub fn new(ready: &[Fd], idle: &[Fd]) -> Dispatch {
        let (epoll, mut conns) = (Epoll::new(), Vec::new());
        for &fd in ready.iter().chain(idle) {
            epoll.add(fd, conns.len() as u64);
            conns.push(Conn::new(fd));
        }
        let events = raw::events(ready.len());
        Dispatch {
            epoll,
            events,
            conns,
        }
    }

    #[inline(always)]
    fn turn(&mut self) {
        let n = self.epoll.wait(&mut self.events);
        for event in &self.events[..n] {
            let data = event.data;
            if let Some(conn) = self.conns.get_mut(data as usize) {
                conn.count.bump();
            }
        }
    }
}

measured!(Dispatch, bench_dispatch_index);

const DRIVER: u64 = u64::MAX;

pub struct Churn {
    epoll: Epoll,
    events: Vec<Event>,
    conns: Slab<Conn>,
    churned: Fd,
    pairs: Count,
}

impl Churn {
    pub fn new(driver: Fd, churned: Fd) -> Churn {
        let epoll = Epoll::new();
        epoll.add(driver, DRIVER);
        Churn {
            epoll,
            events: raw::events(CHURN_CAPACITY),
            conns: Slab::new(),
            churned,
            pairs: Count::new(),
        }
    }

    #[inline(always)]
    fn turn(&mut self) {
        let n = self.epoll.wait(&mut self.events);
        for i in 0..n {
            let data = self.events[i].data;
            if data == DRIVER {
                for _ in 0..PAIRS {
                    let index = self.conns.insert(Conn::new(self.churned));
                    self.epoll.add(self.churned, index as u64);
                    self.epoll.delete(self.churned);
                    self.conns.remove(index);
                    self.pairs.bump();
                }
            } else if let Some(conn) = self.conns.get_mut(data as usize) {
                conn.count.bump();
            }
        }
    }
}

measured!(Churn, bench_churn_index);

pub fn memory(fds: &[Fd]) -> Footprint {
    let (epoll, mut conns) = (Epoll::new(), Vec::new());
    let start = Footprint::now();
    for &fd in fds {
        epoll.add(fd, conns.len() as u64);
        conns.push(Conn::new(fd));
    }
    Footprint::now().since(start)
}
