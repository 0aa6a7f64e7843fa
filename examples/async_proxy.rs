//! A TCP proxy written as tasks: every connection it accepts is relayed to one upstream
//! address, with backpressure both ways, half-closes forwarded and an idle timeout.
//!
//! ```text
//! cargo run --release --features tasks --example async_proxy -- LISTEN_PORT UPSTREAM_ADDR [--idle-ms N]
//! ```
//!
//! It prints `listening on ADDR`, then serves until SIGINT or SIGTERM: it says which
//! (`stopping: SIGTERM`) and exits 0; the reactor's drop cancels every task, which closes
//! every connection. A pair that moves no byte either way for N ms (default 60000) is closed.
//!
//! It is `examples/proxy.rs` again, as straight-line code:
//! - one task accepts; one task per client connects upstream and relays. Each socket is an
//!   [`Async`] source (registered once, edge-triggered); the tasks await its readiness;
//! - the upstream connect is non-blocking: [`Async::write_with`] waits until the socket is
//!   writable, and `SO_ERROR` (`sys::take_error`) tells how the connect ended (a refused one
//!   closes the client);
//! - both directions are copied at once inside the pair's task, by two futures joined with
//!   `std::future::poll_fn`: the pair ends when both are done, or at the first error, which
//!   drops both futures and both sockets;
//! - backpressure needs no interest bookkeeping: each direction has one bounded buffer and
//!   reads again only once what it read has been written, so a slow reader slows its writer
//!   down and memory stays bounded;
//! - half-close: an end of file from one side becomes `shutdown(Write)` on the other, and
//!   the other direction goes on until it ends too;
//! - the idle timeout is one [`Sleep`] per pair, polled beside both directions: a poll in
//!   which either direction moved bytes pushes its deadline back with [`Sleep::reset`] (a
//!   store while the sleep is armed), so no timer is armed or cancelled per read or write;
//!   when it ends, nothing moved either way for the whole limit, and the pair is closed.
//!   The upstream connect has the same limit, with [`Spawner::timeout`].

use barepoll::signal::Signals;
use barepoll::sys::{self, SigInfo, SigSet, Signal};
use barepoll::task::{Async, Sleep, Spawner};
use barepoll::{interest, Instant, Ops, Reactor};
use std::cell::Cell;
use std::future::{poll_fn, Future};
use std::io::{self, ErrorKind};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

/// Bytes buffered per direction, per pair.
const BUF: usize = 64 * 1024;
/// How long accepting pauses when `accept` fails (out of descriptors, say).
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// Copies `from` to `to` until `from` ends, then shuts `to`'s writing half (its reader sees
/// the end of file). Nothing more is read until what was read has been written. Every read
/// and write that ends sets `moved`, the pair's sign of life.
async fn copy(
    from: &Async<TcpStream>,
    to: &Async<TcpStream>,
    moved: &Cell<bool>,
) -> io::Result<()> {
    let mut buf = vec![0u8; BUF];
    loop {
        let n = from.read(&mut buf).await?;
        moved.set(true);
        if n == 0 {
            return to.get_ref().shutdown(Shutdown::Write);
        }
        let mut sent = 0;
        while sent < n {
            match to.write(&buf[sent..n]).await? {
                0 => return Err(ErrorKind::WriteZero.into()),
                m => sent += m,
            }
            moved.set(true);
        }
    }
}

/// Runs both directions at once: done when both are, at the first error (the other one is
/// then dropped where it waits), or once `limit` passes with nothing `moved` either way. One
/// sleep serves the pair: a poll in which bytes moved pushes its deadline back (a store, no
/// wheel work while the sleep is armed), instead of a timeout armed and cancelled around
/// every read and write.
async fn both(
    one: impl Future<Output = io::Result<()>>,
    other: impl Future<Output = io::Result<()>>,
    moved: &Cell<bool>,
    mut idle: Sleep,
    limit: Duration,
) -> io::Result<()> {
    let mut one = pin!(one);
    let mut other = pin!(other);
    let (mut one_done, mut other_done) = (false, false);
    poll_fn(|cx| -> Poll<io::Result<()>> {
        if !one_done {
            if let Poll::Ready(result) = one.as_mut().poll(cx) {
                result?;
                one_done = true;
            }
        }
        if !other_done {
            if let Poll::Ready(result) = other.as_mut().poll(cx) {
                result?;
                other_done = true;
            }
        }
        if one_done && other_done {
            return Poll::Ready(Ok(()));
        }
        if moved.replace(false) {
            idle.reset(Instant::now() + limit);
        }
        match Pin::new(&mut idle).poll(cx) {
            Poll::Ready(Ok(())) => {
                let why = format!("idle for {limit:?}");
                Poll::Ready(Err(io::Error::new(ErrorKind::TimedOut, why)))
            }
            // A sleep that cannot be armed never ends the pair.
            _ => Poll::Pending,
        }
    })
    .await
}

/// Connects to `addr` without blocking the thread (`Async::connect`: the socket's writability
/// says the connect ended, `SO_ERROR` how).
async fn connect(spawner: &Spawner, addr: SocketAddr) -> io::Result<Async<TcpStream>> {
    let addr = match addr {
        SocketAddr::V4(a) => sys::SocketAddr::v4(a.ip().octets(), a.port()),
        SocketAddr::V6(a) => sys::SocketAddr::v6(a.ip().octets(), a.port()),
    };
    Ok(Async::connect(spawner, &addr).await?)
}

/// One client: connects upstream, then relays both ways until both directions are done, or
/// either fails, or the pair stays idle. Returning drops (and closes) both sockets.
async fn relay(spawner: Spawner, client: Async<TcpStream>, upstream: SocketAddr, idle: Duration) {
    // The client sees its connection closed.
    let upstream = match spawner.timeout(idle, connect(&spawner, upstream)).await {
        Ok(Ok(upstream)) => upstream,
        Ok(Err(e)) => return eprintln!("upstream: {e}"),
        Err(_) => return eprintln!("upstream: no connection within {idle:?}"),
    };
    let _ = upstream.get_ref().set_nodelay(true);
    let moved = Cell::new(false);
    let there = copy(&client, &upstream, &moved);
    let back = copy(&upstream, &client, &moved);
    if let Err(e) = both(there, back, &moved, spawner.sleep(idle), idle).await {
        if !matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe) {
            eprintln!("pair closed: {e}");
        }
    }
}

/// Accepts clients for ever, one relaying task each.
async fn accept(
    spawner: Spawner,
    listener: Async<TcpListener>,
    upstream: SocketAddr,
    idle: Duration,
) {
    loop {
        let client = match listener.accept().await {
            Ok((fd, _peer)) => TcpStream::from(fd),
            Err(e) => {
                eprintln!("accept: {e}; pausing for {ACCEPT_PAUSE:?}");
                let _ = spawner.sleep(ACCEPT_PAUSE).await;
                continue;
            }
        };
        let _ = client.set_nodelay(true);
        let client = match Async::new(&spawner, client) {
            Ok(client) => client,
            Err(e) => {
                eprintln!("register: {e}");
                continue;
            }
        };
        // Detached: the task runs until its pair is done, or until the reactor goes.
        if let Err(e) = spawner.spawn(relay(spawner.clone(), client, upstream, idle)) {
            eprintln!("spawn: {e}");
        }
    }
}

fn run(port: u16, upstream: SocketAddr, idle: Duration) -> io::Result<Option<Signal>> {
    // Blocked before anything else: threads made later inherit the mask.
    let signals = Signals::new(SigSet::of(&[Signal::INT, Signal::TERM]))?;
    let mut reactor = Reactor::new()?;
    let stopped_by = Rc::new(Cell::new(None));
    let by = stopped_by.clone();
    let stop = signals.on(move |sig: SigInfo, ops: &mut Ops<'_>| {
        by.set(Some(sig.signal));
        ops.stop();
    });
    reactor.register(stop, interest().read())?;

    let listener = TcpListener::bind(("127.0.0.1", port))?;
    let addr = listener.local_addr()?;
    let spawner = reactor.spawner()?;
    let listener = Async::new(&spawner, listener)?;
    let accepting = spawner.spawn(accept(spawner.clone(), listener, upstream, idle))?;
    drop(accepting); // detached: it runs until the reactor goes
    println!("listening on {addr}");

    reactor.run()?;
    Ok(stopped_by.get()) // the reactor drops here: every task is cancelled, every socket closed
}

fn usage(why: &str) -> ! {
    eprintln!("{why}\nusage: async_proxy LISTEN_PORT UPSTREAM_ADDR [--idle-ms N]");
    std::process::exit(2);
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(port), Some(upstream)) = (args.next(), args.next()) else {
        usage("two arguments are needed (such as 8080 127.0.0.1:80)");
    };
    let port: u16 = port
        .parse()
        .unwrap_or_else(|e| usage(&format!("bad port: {e}")));
    let upstream: SocketAddr = upstream
        .parse()
        .unwrap_or_else(|e| usage(&format!("bad upstream address: {e}")));
    let idle_ms: u64 = match (args.next().as_deref(), args.next()) {
        (None, _) => 60_000,
        (Some("--idle-ms"), Some(n)) => n
            .parse()
            .unwrap_or_else(|e| usage(&format!("bad --idle-ms: {e}"))),
        _ => usage("unexpected arguments"),
    };
    match run(port, upstream, Duration::from_millis(idle_ms)) {
        Ok(stopped_by) => {
            let why = match stopped_by {
                Some(s) if s == Signal::TERM => "SIGTERM",
                Some(_) => "SIGINT",
                None => "stopped",
            };
            eprintln!("stopping: {why}");
        }
        Err(e) => {
            eprintln!("async proxy: {e}");
            std::process::exit(1);
        }
    }
}
