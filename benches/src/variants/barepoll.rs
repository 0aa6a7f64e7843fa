//! barepoll: closures registered through the builder; one heap node per fd.

use super::{measured, Fd, CHURN_CAPACITY, PAIRS};
use barepoll::{Ops, Reactor};
use std::cell::Cell;
use std::rc::Rc;

pub struct Dispatch {
    reactor: Reactor,
    count: Rc<Cell<u64>>,
}

impl Dispatch {
    pub fn new(ready: &[Fd], idle: &[Fd]) -> Dispatch {
        let mut reactor = Reactor::with_capacity(ready.len()).unwrap();
        let count = Rc::new(Cell::new(0));
        for &fd in ready.iter().chain(idle) {
            let count = count.clone();
            barepoll::interest()
                .read()
                .with_fd(fd)
                .with_handler(move || count.set(count.get() + 1))
                .register_into(&mut reactor)
                .unwrap();
        }
        Dispatch { reactor, count }
    }

    #[inline(always)]
    fn turn(&mut self) {
        self.reactor.run_once(None).unwrap();
    }

    fn done(&self) -> u64 {
        self.count.get()
    }
}

measured!(Dispatch, bench_dispatch_barepoll);

pub struct Churn {
    reactor: Reactor,
    pairs: Rc<Cell<u64>>,
}

impl Churn {
    pub fn new(driver: Fd, churned: Fd) -> Churn {
        let mut reactor = Reactor::with_capacity(CHURN_CAPACITY).unwrap();
        let pairs = Rc::new(Cell::new(0));
        let done = pairs.clone();
        barepoll::interest()
            .read()
            .with_fd(driver)
            .with_handler(move |ops: &mut Ops<'_>| {
                for _ in 0..PAIRS {
                    let count = done.clone();
                    let key = barepoll::interest()
                        .read()
                        .with_fd(churned)
                        .with_handler(move || count.set(count.get() + 1))
                        .register_into(ops)
                        .unwrap();
                    ops.delete(key).unwrap();
                    done.set(done.get() + 1);
                }
            })
            .register_into(&mut reactor)
            .unwrap();
        Churn { reactor, pairs }
    }

    #[inline(always)]
    fn turn(&mut self) {
        self.reactor.run_once(None).unwrap();
    }

    fn done(&self) -> u64 {
        self.pairs.get()
    }
}

measured!(Churn, bench_churn_barepoll);
