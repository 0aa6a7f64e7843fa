//! The proxy example as built by cargo, run as a process in front of an echo server of the
//! test's own (std sockets, a thread per connection): bytes round-trip exactly both ways
//! through a slow reader, a half-close is forwarded and the reply after it still arrives, an
//! unreachable upstream closes the client, many pairs at once (each closed once done), a
//! client that never reads is held back while the proxy stays small, SIGTERM exits 0. The
//! checks are the async proxy's too (`tests/common/proxies.rs`).
#![cfg(feature = "std")]

use std::net::SocketAddr;

mod common;
#[path = "common/proxies.rs"]
mod proxies;

use proxies::Proxy;

fn start(upstream: SocketAddr) -> Option<Proxy> {
    proxies::start("proxy", &["0", &upstream.to_string()])
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
fn fifty_pairs_at_once_each_closed_once_done() {
    proxies::check_pairs_at_once(&start, 50);
}

#[test]
#[cfg_attr(miri, ignore = "Miri cannot run processes")]
fn a_client_that_never_reads_is_held_back_and_the_proxy_stays_small() {
    proxies::check_a_client_that_never_reads(&start);
}

#[test]
#[cfg_attr(miri, ignore = "Miri cannot run processes")]
fn small_requests_make_no_reads_for_nothing() {
    proxies::check_small_requests_make_no_reads_for_nothing("proxy", &["0"]);
}
