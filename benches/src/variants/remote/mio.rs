//! The remote calls a mio user writes by hand: a `mio::Waker`, an `AtomicBool` saying a wake
//! is on its way, and a `std::sync::mpsc` channel of boxed closures. A post sends its closure
//! and wakes the loop only if no wake is pending (read first, so a burst of posts touches the
//! flag's cache line once); the loop clears the flag, then runs what the channel holds.

use super::{done_one, measured_remote, Harness, DONE};
use crate::variants::Runner;
use mio::{Events, Poll, Token, Waker};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;

type Job = Box<dyn FnOnce() + Send>;

const WAKE: Token = Token(0);

#[derive(Clone)]
pub struct Endpoint {
    jobs: Sender<Job>,
    waker: Arc<Waker>,
    pending: Arc<AtomicBool>,
}

pub struct Lib {
    poll: Poll,
    events: Events,
    jobs: Receiver<Job>,
    pending: Arc<AtomicBool>,
    endpoint: Endpoint,
}

impl Lib {
    fn run_until(&mut self, calls: u64) {
        let target = DONE.with(|d| d.get()) + calls;
        while DONE.with(|d| d.get()) < target {
            self.poll.poll(&mut self.events, None).unwrap();
            for event in self.events.iter() {
                if event.token() == WAKE {
                    self.pending.store(false, Ordering::Release);
                    while let Ok(job) = self.jobs.try_recv() {
                        job();
                    }
                }
            }
        }
    }
}

#[inline(always)]
fn call(endpoint: &Endpoint) {
    endpoint.jobs.send(Box::new(done_one)).unwrap();
    let pending = &endpoint.pending;
    if !pending.load(Ordering::Acquire) && !pending.swap(true, Ordering::AcqRel) {
        endpoint.waker.wake().unwrap();
    }
}

measured_remote!(
    Lib,
    Endpoint,
    bench_remote_post_mio_boxed,
    bench_remote_mio_boxed,
    call
);

pub fn harness() -> Box<dyn Runner> {
    let poll = Poll::new().unwrap();
    let waker = Arc::new(Waker::new(poll.registry(), WAKE).unwrap());
    let (tx, jobs) = channel();
    let pending = Arc::new(AtomicBool::new(false));
    let endpoint = Endpoint {
        jobs: tx,
        waker,
        pending: pending.clone(),
    };
    Box::new(Harness::new(Lib {
        poll,
        events: Events::with_capacity(256),
        jobs,
        pending,
        endpoint,
    }))
}
