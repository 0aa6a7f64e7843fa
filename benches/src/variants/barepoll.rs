//! barepoll with closures registered through its builder: each fd's counter is captured by
//! its handler. One heap node per fd.

use super::{measured, Fd, CHURN_CAPACITY, PAIRS};
use crate::count::Count;
use crate::memory::Footprint;
use barepoll::{Ops, Reactor};

/// Registers `fd` with a handler that bumps its own counter.
fn register(fd: Fd, into: &mut impl barepoll::Register) -> barepoll::Key {
    let mut count = Count::new();
    barepoll::interest()
        .read()
        .with_fd(fd)
        .with_handler(move || count.bump())
        .register_into(into)
        .unwrap()
}

pub struct Dispatch {
    reactor: Reactor,
}

impl Dispatch {
    pub fn new(ready: &[Fd], idle: &[Fd]) -> Dispatch {
        let mut reactor = Reactor::with_capacity(ready.len()).unwrap();
        for &fd in ready.iter().chain(idle) {
            register(fd, &mut reactor);
        }
        Dispatch { reactor }
    }

    #[inline(always)]
    fn turn(&mut self) {
        self.reactor.run_once(None).unwrap();
    }
}

measured!(Dispatch, bench_dispatch_barepoll);

pub struct Churn {
    reactor: Reactor,
}

impl Churn {
    pub fn new(driver: Fd, churned: Fd) -> Churn {
        let mut reactor = Reactor::with_capacity(CHURN_CAPACITY).unwrap();
        let mut pairs = Count::new();
        barepoll::interest()
            .read()
            .with_fd(driver)
            .with_handler(move |ops: &mut Ops<'_>| {
                for _ in 0..PAIRS {
                    let key = register(churned, ops);
                    ops.delete(key).unwrap();
                    pairs.bump();
                }
            })
            .register_into(&mut reactor)
            .unwrap();
        Churn { reactor }
    }

    #[inline(always)]
    fn turn(&mut self) {
        self.reactor.run_once(None).unwrap();
    }
}

measured!(Churn, bench_churn_barepoll);

pub fn memory(fds: &[Fd]) -> Footprint {
    let mut reactor = Reactor::new().unwrap();
    let start = Footprint::now();
    for &fd in fds {
        register(fd, &mut reactor);
    }
    Footprint::now().since(start)
}
