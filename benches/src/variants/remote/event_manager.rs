//! event-manager's `RemoteEndpoint` as its docs show (its `remote_endpoint` feature):
//! `EventManager::remote_endpoint`, then `RemoteEndpoint::fire` of a closure; the loop runs
//! `run` until the calls have run. Each call sends over a channel and writes the eventfd.

use super::{done_one, measured_remote, Harness, DONE};
use crate::variants::Runner;
use event_manager::{EventManager, EventOps, Events, MutEventSubscriber};
use event_manager::{RemoteEndpoint, SubscriberOps};

/// The manager's subscriber type (none is added): a type of its own, so that the dispatch
/// harness's `EventManager<Conn>` keeps the callers it has (see `timers/barepoll.rs`).
pub struct Unused;

impl MutEventSubscriber for Unused {
    fn process(&mut self, _: Events, _: &mut EventOps) {}
    fn init(&mut self, _: &mut EventOps) {}
}

pub struct Lib {
    manager: EventManager<Unused>,
    endpoint: RemoteEndpoint<Unused>,
}

impl Lib {
    fn run_until(&mut self, calls: u64) {
        let target = DONE.with(|d| d.get()) + calls;
        while DONE.with(|d| d.get()) < target {
            self.manager.run().unwrap();
        }
    }
}

#[inline(always)]
fn call(endpoint: &RemoteEndpoint<Unused>) {
    endpoint
        .fire(|_: &mut dyn SubscriberOps<Subscriber = Unused>| done_one())
        .unwrap();
}

measured_remote!(
    Lib,
    RemoteEndpoint<Unused>,
    bench_remote_post_event_manager,
    bench_remote_event_manager,
    call
);

pub fn harness() -> Box<dyn Runner> {
    let manager = EventManager::<Unused>::new().unwrap();
    let endpoint = manager.remote_endpoint();
    Box::new(Harness::new(Lib { manager, endpoint }))
}
