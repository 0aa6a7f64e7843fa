//! eventp's remote endpoint as its docs show: `remote_endpoint()` registered into the
//! reactor, then `RemoteEndpoint::call_nonblocking` of a closure; the loop runs `run_once`
//! until the calls have run. Each call sends over a channel and writes the eventfd.

use super::{done_one, measured_remote, Harness, DONE};
use crate::variants::Runner;
use eventp::remote_endpoint::{remote_endpoint, RemoteEndpoint};
use eventp::{Eventp, Pinned};

pub struct Lib {
    eventp: Eventp,
    endpoint: RemoteEndpoint<Eventp>,
}

impl Lib {
    fn run_until(&mut self, calls: u64) {
        let target = DONE.with(|d| d.get()) + calls;
        while DONE.with(|d| d.get()) < target {
            self.eventp.run_once().unwrap();
        }
    }
}

#[inline(always)]
fn call(endpoint: &RemoteEndpoint<Eventp>) {
    endpoint
        .call_nonblocking(|_: Pinned<'_, Eventp>| done_one())
        .unwrap();
}

measured_remote!(
    Lib,
    RemoteEndpoint<Eventp>,
    bench_remote_post_eventp,
    bench_remote_eventp,
    call
);

pub fn harness() -> Box<dyn Runner> {
    let mut eventp = Eventp::default();
    let endpoint = remote_endpoint()
        .unwrap()
        .register_into(&mut eventp)
        .unwrap();
    Box::new(Harness::new(Lib { eventp, endpoint }))
}
