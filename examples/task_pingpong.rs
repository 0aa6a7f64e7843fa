//! Two tasks passing a turn back and forth through their wakers, on the loop's own thread: a
//! measure of a wake and a poll (each wake schedules the other task, which the next reactor
//! turn polls).
//!
//! ```text
//! cargo build --release --features tasks --example task_pingpong
//! valgrind --tool=callgrind --collect-atstart=no --toggle-collect=task_pingpong::rounds \
//!     target/release/examples/task_pingpong 20000
//! ```
//!
//! Prints the rounds and the turns they took; one round is a round trip (two wakes, two polls).
//! Then it runs as many turns with no task ready (`task_pingpong::empty_turns`), so that what
//! a turn costs around its tasks (its zero-timeout wait included) can be told apart.

use barepoll::Reactor;
use std::cell::Cell;
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Duration;

/// Whose turn it is, and the waker of each player while it waits.
struct Table {
    turn: Cell<usize>,
    waiting: [Cell<Option<Waker>>; 2],
}

async fn player(me: usize, table: Rc<Table>, rounds: u64) {
    for _ in 0..rounds {
        poll_fn(|cx| {
            if table.turn.get() == me {
                return Poll::Ready(());
            }
            table.waiting[me].set(Some(cx.waker().clone()));
            Poll::Pending
        })
        .await;
        table.turn.set(1 - me);
        if let Some(other) = table.waiting[1 - me].take() {
            other.wake();
        }
    }
}

/// Runs turns until both players are done; returns the turns taken.
#[inline(never)]
fn rounds(reactor: &mut Reactor, rounds: u64) -> u64 {
    let table = Rc::new(Table {
        turn: Cell::new(0),
        waiting: [Cell::new(None), Cell::new(None)],
    });
    let a = reactor.spawn(player(0, table.clone(), rounds)).unwrap();
    let b = reactor.spawn(player(1, table, rounds)).unwrap();
    let mut turns = 0;
    while !(a.is_finished() && b.is_finished()) {
        reactor.run_once(Some(Duration::ZERO)).unwrap();
        turns += 1;
    }
    turns
}

/// Runs `n` turns with no task ready: what a turn costs around the tasks.
#[inline(never)]
fn empty_turns(reactor: &mut Reactor, n: u64) {
    for _ in 0..n {
        reactor.run_once(Some(Duration::ZERO)).unwrap();
    }
}

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    let mut reactor = Reactor::new().unwrap();
    // The executor is made before the measured part.
    let warm = reactor.spawn(async {}).unwrap();
    reactor.run_once(Some(Duration::ZERO)).unwrap();
    assert!(warm.is_finished());
    let turns = rounds(&mut reactor, n);
    empty_turns(&mut reactor, turns);
    println!("{n} rounds, {turns} turns (and as many empty turns)");
}
