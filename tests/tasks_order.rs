//! The order a task phase polls in, as the executor promises it: the tasks ready when it
//! starts, oldest first, then those they wake or spawn, in the order they were woken; at most
//! `BUDGET` polls a turn. Found by the fuzzer's executor model (`tests/fuzz/harness/tasks.rs`).
#![cfg(all(feature = "tasks", feature = "std"))]

use barepoll::task::BUDGET;
use barepoll::Reactor;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

const NOW: Option<Duration> = Some(Duration::ZERO);

/// Parks once on a waker it leaves in `slot`, then finishes; counts its polls.
struct ParkOnce {
    slot: Rc<RefCell<Option<Waker>>>,
    polls: Rc<Cell<usize>>,
}

impl Future for ParkOnce {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.polls.set(self.polls.get() + 1);
        if self.polls.get() > 1 {
            return Poll::Ready(());
        }
        *self.slot.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// A task woken between turns is ready before the tasks spawned after the wake: the next turn
/// polls it within its budget, whatever was spawned meanwhile.
#[test]
fn a_task_woken_before_later_spawns_is_polled_before_them() {
    let mut reactor = Reactor::new().unwrap();
    let slot = Rc::new(RefCell::new(None));
    let polls = Rc::new(Cell::new(0));
    let parked = reactor
        .spawn(ParkOnce {
            slot: slot.clone(),
            polls: polls.clone(),
        })
        .unwrap();
    reactor.run_once(NOW).unwrap();
    assert_eq!(polls.get(), 1, "polled once, parked");
    slot.borrow_mut().take().expect("parked").wake();
    let later: Vec<_> = (0..BUDGET)
        .map(|_| reactor.spawn(async {}).unwrap())
        .collect();
    reactor.run_once(NOW).unwrap();
    assert_eq!(
        polls.get(),
        2,
        "woken before {BUDGET} spawns, not polled by the next turn"
    );
    assert!(parked.is_finished());
    drop(later);
}
