//! One reactor per core on one port: each worker has its own listening socket bound with
//! `SO_REUSEPORT` (the kernel spreads connections over them), and its own `Sendable` reactor,
//! built on the main thread and moved into the worker. Then a loopback load measures it.
//!
//! ```text
//! cargo run --release --example per_core [SECONDS] [CONNECTIONS]
//! ```
//!
//! Prints the port, then the round trips per second over SECONDS (default 2) of 64-byte
//! ping-pong on CONNECTIONS (default 32) client connections, and how many connections each
//! worker took. Every worker is stopped through a `Waker`, and every echoed byte is checked.

use barepoll::sys::{self, AsFd as _, SockOpt, SocketAddr, SocketType};
use barepoll::{interest, Ops, Reactor, Sendable, Waker};
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A worker's state: its read buffer and how many connections it accepted.
pub struct Worker {
    scratch: Box<[u8]>,
    accepted: u64,
}

type WOps<'a> = Ops<'a, Worker, Sendable>;

/// A listening socket on `port` (0: any) that shares the port with the others.
fn listener(port: u16) -> std::io::Result<TcpListener> {
    let fd = sys::socket(sys::Domain::V4, SocketType::Stream, sys::SOCK_NONBLOCK)?;
    sys::setsockopt(fd.as_fd(), SockOpt::ReusePort, true)?;
    sys::setsockopt(fd.as_fd(), SockOpt::ReuseAddr, true)?;
    sys::bind(fd.as_fd(), &SocketAddr::v4([127, 0, 0, 1], port))?;
    sys::listen(fd.as_fd(), 1024)?;
    Ok(TcpListener::from(fd))
}

/// Echoes one connection: one read into the worker's buffer, written back. (Clients here
/// send 64 bytes and wait for them: the socket takes them back at once.)
fn echo(stream: &mut TcpStream, ops: &mut WOps<'_>) {
    let scratch = &mut ops.data().scratch;
    let keep = match stream.read(scratch) {
        Ok(0) => false,
        Ok(n) => stream.write_all(&scratch[..n]).is_ok(),
        Err(e) => e.kind() == ErrorKind::WouldBlock,
    };
    if !keep {
        let _ = ops.delete_self();
    }
}

fn accept(listener: &mut TcpListener, ops: &mut WOps<'_>) {
    while let Ok((stream, _)) = listener.accept() {
        if stream.set_nonblocking(true).is_err() {
            continue;
        }
        let _ = stream.set_nodelay(true);
        ops.data().accepted += 1;
        let _ = interest()
            .read()
            .with_fd(stream)
            .with_handler(echo)
            .register_into(ops);
    }
}

/// Starts one worker per core on one port; returns the port, the workers (each gives back
/// how many connections it accepted) and the wakers that stop them.
pub fn start(workers: usize) -> std::io::Result<(u16, Vec<JoinHandle<u64>>, Vec<Waker>)> {
    let first = listener(0)?;
    let port = first.local_addr()?.port();
    let mut listeners = vec![first];
    for _ in 1..workers {
        listeners.push(listener(port)?);
    }
    let (mut handles, mut wakers) = (Vec::new(), Vec::new());
    for l in listeners {
        // Built here, on the main thread...
        let mut reactor: Reactor<Worker, Sendable> =
            Reactor::builder().state::<Worker>().sendable().build()?;
        interest()
            .read()
            .with_fd(l)
            .with_handler(accept)
            .register_into(&mut reactor)?;
        wakers.push(Waker::new(&mut reactor, |ops: &mut WOps<'_>| ops.stop())?);
        // ...and moved into its worker, which runs it.
        handles.push(std::thread::spawn(move || {
            let mut worker = Worker {
                scratch: vec![0; 64 * 1024].into_boxed_slice(),
                accepted: 0,
            };
            reactor.run_with(&mut worker).expect("worker reactor");
            worker.accepted
        }));
    }
    Ok((port, handles, wakers))
}

/// Runs `connections` ping-pong clients against `port` for `duration`; returns round trips.
pub fn load(port: u16, connections: usize, duration: Duration) -> u64 {
    let done = Arc::new(AtomicBool::new(false));
    let total = Arc::new(AtomicU64::new(0));
    let clients: Vec<_> = (0..connections)
        .map(|i| {
            let (done, total) = (done.clone(), total.clone());
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
                s.set_nodelay(true).unwrap();
                let msg = [i as u8; 64];
                let mut back = [0u8; 64];
                let mut n = 0;
                while !done.load(Ordering::Relaxed) {
                    s.write_all(&msg).expect("write");
                    s.read_exact(&mut back).expect("read");
                    assert_eq!(back, msg, "echoed bytes differ");
                    n += 1;
                }
                total.fetch_add(n, Ordering::Relaxed);
            })
        })
        .collect();
    std::thread::sleep(duration);
    done.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().expect("a client failed");
    }
    total.load(Ordering::Relaxed)
}

#[cfg_attr(test, allow(dead_code))]
fn main() {
    let mut args = std::env::args().skip(1);
    let secs: f64 = args.next().map_or(2.0, |s| s.parse().expect("SECONDS"));
    let connections: usize = args.next().map_or(32, |s| s.parse().expect("CONNECTIONS"));
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (port, workers, wakers) = start(cores).expect("start");
    println!("{cores} workers on 127.0.0.1:{port}");
    let t = Instant::now();
    let trips = load(port, connections, Duration::from_secs_f64(secs));
    let rate = trips as f64 / t.elapsed().as_secs_f64();
    println!("{trips} round trips of 64 bytes on {connections} connections: {rate:.0}/s");
    for w in &wakers {
        w.wake();
    }
    let per_worker: Vec<u64> = workers.into_iter().map(|w| w.join().unwrap()).collect();
    println!("connections per worker: {per_worker:?}");
}
