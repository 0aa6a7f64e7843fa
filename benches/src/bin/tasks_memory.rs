//! The tasks' memory probe: `tasks-memory RUNTIME N` spawns N pending tasks (a future of size
//! zero) from inside a task on one executor (`barepoll`, `tokio`, `async_executor`), under a
//! counting allocator, and prints the bytes asked of the allocator and still held after the
//! spawns (the join handles' own vector is reserved beforehand and not counted). Growth of
//! queues that double counts as it falls at N. The `tasks` binary runs it once per executor.

use barepoll_benches::memory::{Counting, Footprint};
use std::future::pending;

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Polls of the spawning task after its spawns, so that every pending task is polled once.
const YIELDS: usize = 4;

fn barepoll(n: usize) -> usize {
    let mut reactor = barepoll::Reactor::new().unwrap();
    let spawner = reactor.spawner().unwrap();
    let main = reactor
        .spawn(async move {
            let mut handles = Vec::with_capacity(n);
            let start = Footprint::now();
            for _ in 0..n {
                handles.push(spawner.spawn(pending::<()>()).unwrap());
            }
            for _ in 0..YIELDS {
                barepoll::task::yield_now().await;
            }
            Footprint::now().since(start).counted
        })
        .unwrap();
    reactor.block_on(main).unwrap().unwrap()
}

fn tokio(n: usize) -> usize {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    tokio::task::LocalSet::new().block_on(&rt, async move {
        let mut handles = Vec::with_capacity(n);
        let start = Footprint::now();
        for _ in 0..n {
            handles.push(tokio::task::spawn_local(pending::<()>()));
        }
        for _ in 0..YIELDS {
            tokio::task::yield_now().await;
        }
        Footprint::now().since(start).counted
    })
}

fn async_executor(n: usize) -> usize {
    let ex = async_executor::LocalExecutor::new();
    futures_lite::future::block_on(ex.run(async {
        let mut handles = Vec::with_capacity(n);
        let start = Footprint::now();
        for _ in 0..n {
            handles.push(ex.spawn(pending::<()>()));
        }
        for _ in 0..YIELDS {
            futures_lite::future::yield_now().await;
        }
        Footprint::now().since(start).counted
    }))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [runtime, n] = &args[..] else {
        eprintln!("usage: tasks-memory barepoll|tokio|async_executor N");
        std::process::exit(2);
    };
    let n: usize = n.parse().expect("N");
    let held = match runtime.as_str() {
        "barepoll" => barepoll(n),
        "tokio" => tokio(n),
        "async_executor" => async_executor(n),
        _ => panic!("unknown runtime {runtime}"),
    };
    println!("{held}");
}
