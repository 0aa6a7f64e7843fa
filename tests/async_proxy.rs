//! The async_proxy example as built by cargo, run as a process in front of an upstream of the
//! test's own (std sockets, a thread per connection): the callback proxy's checks
//! (`tests/common/proxies.rs`: a slow reader, a half-close, an unreachable upstream, many
//! pairs each closed once done, a client that never reads), then what only this one has: an
//! idle pair is closed (never early) while a pair busy one way is not, and SIGTERM with a pair
//! open exits 0.
#![cfg(all(feature = "std", feature = "tasks"))]

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::time::{Duration, Instant};

mod common;
#[path = "common/proxies.rs"]
mod proxies;

use proxies::{upstream, upstream_with, Proxy};

/// An idle timeout no test reaches unless it means to.
const NEVER_IDLE_MS: u64 = 600_000;

fn start_idle(upstream: SocketAddr, idle_ms: u64) -> Option<Proxy> {
    let (upstream, idle) = (upstream.to_string(), idle_ms.to_string());
    proxies::start("async_proxy", &["0", &upstream, "--idle-ms", &idle])
}

fn start(upstream: SocketAddr) -> Option<Proxy> {
    start_idle(upstream, NEVER_IDLE_MS)
}

#[test]
#[cfg_attr(miri, ignore = "Miri cannot run processes")]
fn a_mebibyte_each_way_round_trips_exactly_through_a_slow_reader() {
    proxies::check_a_slow_reader(&start);
}

#[test]
#[cfg_attr(miri, ignore = "Miri cannot run processes")]
fn a_half_close_is_forwarded_and_the_reply_after_it_still_arrives() {
    proxies::check_a_half_close(&start);
}

#[test]
#[cfg_attr(miri, ignore = "Miri cannot run processes")]
fn an_unreachable_upstream_closes_the_client() {
    proxies::check_an_unreachable_upstream(&start);
}

#[test]
#[cfg_attr(miri, ignore = "Miri cannot run processes")]
fn sixty_four_pairs_at_once_each_closed_once_done() {
    proxies::check_pairs_at_once(&start, 64);
}

#[test]
#[cfg_attr(miri, ignore = "Miri cannot run processes")]
fn a_client_that_never_reads_is_held_back_and_the_proxy_stays_small() {
    proxies::check_a_client_that_never_reads(&start);
}

#[test]
#[cfg_attr(miri, ignore = "Miri cannot run processes")]
fn an_idle_pair_is_closed_never_early() {
    const IDLE: Duration = Duration::from_millis(300);
    let Some(proxy) = start_idle(upstream(), IDLE.as_millis() as u64) else {
        return;
    };
    let mut conn = proxy.connect();
    // The pair's last byte moves after this reading of the clock.
    let since = Instant::now();
    conn.write_all(b"ping").unwrap();
    let mut buf = [0u8; 4];
    conn.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ping");
    // Then nothing moves either way: the proxy closes the client (no end of file was sent).
    assert_eq!(conn.read(&mut buf).expect("closed, not timed out"), 0);
    assert!(
        since.elapsed() >= IDLE,
        "closed after {:?}",
        since.elapsed()
    );
    let (code, err) = proxy.stop();
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("idle for"), "{err:?}");
}

// The idle timeout is the pair's, not a direction's: a client that never writes, reading what
// the upstream trickles for twice the timeout, is not cut off.
#[test]
#[cfg_attr(miri, ignore = "Miri cannot run processes")]
fn a_pair_busy_one_way_is_not_idle() {
    const IDLE: Duration = Duration::from_secs(2);
    const GAP: Duration = Duration::from_millis(100);
    const BYTES: u8 = 40; // 4 s of trickle
    let trickle = upstream_with(|mut conn| {
        for i in 0..BYTES {
            if conn.write_all(&[i]).is_err() {
                return;
            }
            std::thread::sleep(GAP);
        }
        let _ = conn.shutdown(Shutdown::Write);
        let _ = conn.read_to_end(&mut Vec::new());
    });
    let Some(proxy) = start_idle(trickle, IDLE.as_millis() as u64) else {
        return;
    };
    let mut conn = proxy.connect();
    let since = Instant::now();
    let mut back = Vec::new();
    conn.read_to_end(&mut back).expect("read (timed out?)");
    assert_eq!(back, (0..BYTES).collect::<Vec<u8>>());
    assert!(since.elapsed() >= IDLE, "the test is too short to show it");
    let (code, err) = proxy.stop();
    assert_eq!(code, Some(0), "{err}");
}

// The stop drops the reactor with a pair's task parked in its reads and its sockets
// registered: a clean exit all the same.
#[test]
#[cfg_attr(miri, ignore = "Miri cannot run processes")]
fn sigterm_with_a_pair_open_exits_0() {
    let Some(proxy) = start(upstream()) else {
        return;
    };
    let mut conn = proxy.connect();
    conn.write_all(b"ping").unwrap();
    let mut buf = [0u8; 4];
    conn.read_exact(&mut buf).unwrap();
    let (code, err) = proxy.stop();
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("stopping: SIGTERM"), "{err:?}");
    assert!(!err.contains("panicked"), "{err:?}");
}

#[test]
#[cfg_attr(miri, ignore = "Miri cannot run processes")]
fn small_requests_make_no_reads_for_nothing() {
    proxies::check_small_requests_make_no_reads_for_nothing("async_proxy", &["0"]);
}
