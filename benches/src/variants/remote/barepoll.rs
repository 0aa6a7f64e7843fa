//! barepoll's remote calls as its docs show: `Reactor::remote`, then `Remote::post` of a
//! closure that updates the reactor's state through `ops.data()`; the loop runs with
//! `run_with` until the last call asks it to stop. A post writes the eventfd only when the
//! reactor may be asleep.

use super::{measured_remote, Harness};
use crate::variants::Runner;
use barepoll::remote::Remote;
use barepoll::{Ops, Reactor};

/// The reactor's state: calls run, and the count at which to stop.
pub struct State {
    done: u64,
    target: u64,
}

pub struct Lib {
    reactor: Reactor<State>,
    state: State,
    endpoint: Remote<State>,
}

impl Lib {
    fn run_until(&mut self, calls: u64) {
        self.state.target += calls;
        if self.state.done < self.state.target {
            self.reactor.run_with(&mut self.state).unwrap();
        }
    }
}

#[inline(always)]
fn call(remote: &Remote<State>) {
    remote
        .post(|ops: &mut Ops<'_, State>| {
            let state = ops.data();
            state.done += 1;
            if state.done == state.target {
                ops.stop();
            }
        })
        .unwrap();
}

measured_remote!(
    Lib,
    Remote<State>,
    bench_remote_post_barepoll,
    bench_remote_barepoll,
    call
);

pub fn harness() -> Box<dyn Runner> {
    let mut reactor = Reactor::builder().state::<State>().build().unwrap();
    let endpoint = reactor.remote().unwrap();
    let state = State { done: 0, target: 0 };
    Box::new(Harness::new(Lib {
        reactor,
        state,
        endpoint,
    }))
}
