//! The per_core example, run in-process: reactors built on this thread, moved into workers,
//! one `SO_REUSEPORT` listener each; a loopback ping-pong load checks every byte, and the
//! wakers stop every worker.
#![cfg(feature = "std")]

#[path = "../examples/per_core.rs"]
mod per_core;

use std::time::Duration;

#[test]
#[cfg_attr(miri, ignore = "Miri has no sockets")]
fn reactors_built_here_serve_one_port_from_their_threads() {
    const CONNECTIONS: usize = 8;
    let (port, workers, wakers) = per_core::start(2).unwrap();
    let trips = per_core::load(port, CONNECTIONS, Duration::from_millis(300));
    assert!(trips >= CONNECTIONS as u64, "{trips} round trips");
    for w in &wakers {
        w.wake();
    }
    let accepted: u64 = workers.into_iter().map(|w| w.join().unwrap()).sum();
    assert_eq!(accepted, CONNECTIONS as u64);
}
