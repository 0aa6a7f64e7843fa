//! calloop 0.14 as its docs show: a `Generic` source per fd (level mode) with its callback,
//! each callback capturing its fd's counter. Churn inserts and removes a source from inside a
//! callback through the `LoopHandle`, kept in the loop's shared data as calloop programs do.
//! calloop waits through polling 3 with its own event buffer (1024 events, not settable).

use super::{measured, Fd, PAIRS};
use crate::count::Count;
use crate::memory::Footprint;
use calloop::generic::Generic;
use calloop::{EventLoop, Interest, LoopHandle, Mode, PostAction, RegistrationToken};

/// Inserts `fd` with a callback that bumps its own counter.
fn insert<D>(handle: &LoopHandle<'static, D>, fd: Fd) -> RegistrationToken {
    let mut count = Count::new();
    let source = Generic::new(fd, Interest::READ, Mode::Level);
    handle
        .insert_source(source, move |_, _, _| {
            count.bump();
            Ok(PostAction::Continue)
        })
        .map_err(|e| e.error)
        .unwrap()
}

pub struct Dispatch {
    event_loop: EventLoop<'static, ()>,
}

impl Dispatch {
    pub fn new(ready: &[Fd], idle: &[Fd]) -> Dispatch {
        let event_loop = EventLoop::try_new().unwrap();
        let handle = event_loop.handle();
        for &fd in ready.iter().chain(idle) {
            insert(&handle, fd);
        }
        Dispatch { event_loop }
    }

    #[inline(always)]
    fn turn(&mut self) {
        self.event_loop.dispatch(None, &mut ()).unwrap();
    }
}

measured!(Dispatch, bench_dispatch_calloop);

/// The loop's shared data in the churn harness.
pub struct State {
    handle: LoopHandle<'static, State>,
}

pub struct Churn {
    event_loop: EventLoop<'static, State>,
    state: State,
}

impl Churn {
    pub fn new(driver: Fd, churned: Fd) -> Churn {
        let event_loop = EventLoop::try_new().unwrap();
        let handle = event_loop.handle();
        let mut pairs = Count::new();
        let source = Generic::new(driver, Interest::READ, Mode::Level);
        handle
            .insert_source(source, move |_, _, state: &mut State| {
                for _ in 0..PAIRS {
                    let token = insert(&state.handle, churned);
                    state.handle.remove(token);
                    pairs.bump();
                }
                Ok(PostAction::Continue)
            })
            .map_err(|e| e.error)
            .unwrap();
        Churn {
            event_loop,
            state: State { handle },
        }
    }

    #[inline(always)]
    fn turn(&mut self) {
        self.event_loop.dispatch(None, &mut self.state).unwrap();
    }
}

measured!(Churn, bench_churn_calloop);

pub fn memory(fds: &[Fd]) -> Footprint {
    let event_loop = EventLoop::<()>::try_new().unwrap();
    let handle = event_loop.handle();
    let start = Footprint::now();
    for &fd in fds {
        insert(&handle, fd);
    }
    Footprint::now().since(start)
}
