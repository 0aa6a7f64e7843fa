//! The echo_server example, run in-process (its source is included as a module), with 50
//! concurrent loopback clients sending 1 MiB each; every byte must come back in order, and the
//! server must leave no fd behind when it stops.
#![cfg(feature = "std")]
mod common;

#[path = "../examples/echo_server.rs"]
mod echo_server;

use barepoll::sys::{self, AsFd};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::Duration;

const CLIENTS: usize = 50;
const BYTES: usize = 1 << 20;

fn payload(seed: usize) -> Vec<u8> {
    let mut x = (seed as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (0..BYTES)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn client(addr: std::net::SocketAddr, seed: usize) {
    let sent = payload(seed);
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let data = sent.clone();
    let w = std::thread::spawn(move || {
        // Odd-sized writes, so the server sees partial chunks.
        for part in data.chunks(7919) {
            writer.write_all(part).expect("write");
        }
        writer.shutdown(Shutdown::Write).expect("shutdown");
    });
    let mut back = Vec::with_capacity(BYTES);
    stream.read_to_end(&mut back).expect("read (timed out?)");
    w.join().unwrap();
    assert_eq!(back.len(), BYTES, "client {seed}: length");
    assert!(back == sent, "client {seed}: bytes differ");
}

#[test]
#[cfg_attr(miri, ignore = "Miri has no sockets")]
fn fifty_clients_one_mebibyte_each_echo_byte_exact() {
    let fds = common::fd_check();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = sys::eventfd(0, sys::EFD_NONBLOCK).unwrap();
    let trigger = shutdown.try_clone().unwrap();
    let server = std::thread::spawn(move || echo_server::serve(listener, Some(shutdown)));

    let clients: Vec<_> = (0..CLIENTS)
        .map(|seed| std::thread::spawn(move || client(addr, seed)))
        .collect();
    for c in clients {
        c.join().expect("a client failed");
    }
    sys::write(trigger.as_fd(), &1u64.to_ne_bytes()).unwrap();
    server.join().unwrap().expect("server error");
    drop(trigger);
    drop(fds); // every connection, the listener and the reactor are closed
}
