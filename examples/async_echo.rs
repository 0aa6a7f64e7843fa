//! TCP echo server on 127.0.0.1 written as tasks, with an idle timeout per connection and a
//! graceful stop on SIGINT or SIGTERM.
//!
//! ```text
//! cargo run --release --features tasks --example async_echo [PORT] [--idle-ms N]
//! ```
//!
//! PORT defaults to 0 (any free port); the first line it prints is
//! `async echo listening on 127.0.0.1:PORT`. A connection idle for N ms (default 30000) is
//! closed. SIGINT or SIGTERM stops it: it says which (`stopping: SIGTERM`) and exits 0; the
//! reactor's drop cancels every task, which closes every connection.
//!
//! The listener and each connection are `Async` sources (registered once, edge-triggered);
//! one task accepts, one task per connection reads within its idle deadline (one sleep,
//! pushed later at each message) and writes back. The signals are a callback subscriber in
//! the same reactor: tasks and handlers mix.

use barepoll::signal::Signals;
use barepoll::sys::{SigInfo, SigSet, Signal};
use barepoll::task::{Async, Spawner};
use barepoll::{interest, Instant, Ops, Reactor};
use std::cell::Cell;
use std::net::{TcpListener, TcpStream};
use std::rc::Rc;
use std::time::Duration;

/// Echoes what `conn` sends until it closes, fails, or stays idle for `idle`.
async fn echo(spawner: Spawner, conn: Async<TcpStream>, idle: Duration) {
    let mut buf = vec![0u8; 64 * 1024];
    // One deadline for the connection, pushed later at each message: a later deadline is only
    // written down, so a read costs no timer work (a `timeout` per read would arm and cancel).
    let mut deadline = spawner.sleep(idle);
    loop {
        let n = match deadline.within(conn.read(&mut buf)).await {
            Ok(Ok(0)) | Err(_) => return, // closed by the peer, or idle
            Ok(Ok(n)) => n,
            Ok(Err(e)) => {
                eprintln!("read: {e}");
                return;
            }
        };
        let mut sent = 0;
        while sent < n {
            match conn.write(&buf[sent..n]).await {
                Ok(m) => sent += m,
                Err(e) => {
                    eprintln!("write: {e}");
                    return;
                }
            }
        }
        deadline.reset(Instant::now() + idle);
    }
}

/// Accepts connections for ever, one task each.
async fn accept(spawner: Spawner, listener: Async<TcpListener>, idle: Duration) {
    loop {
        let conn = match listener.accept().await {
            Ok((fd, _peer)) => TcpStream::from(fd),
            Err(e) => {
                // Out of descriptors, say: wait a little rather than spin.
                eprintln!("accept: {e}");
                let _ = spawner.sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let conn = match Async::new(&spawner, conn) {
            Ok(conn) => conn,
            Err(e) => {
                eprintln!("register: {e}");
                continue;
            }
        };
        if let Err(e) = spawner.spawn(echo(spawner.clone(), conn, idle)) {
            eprintln!("spawn: {e}");
        }
    }
}

fn usage(why: &str) -> ! {
    eprintln!("{why}\nusage: async_echo [PORT] [--idle-ms N]");
    std::process::exit(2);
}

fn main() {
    let (mut port, mut idle_ms) = (0u16, 30_000u64);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--idle-ms" {
            let n = args
                .next()
                .unwrap_or_else(|| usage("--idle-ms needs a value"));
            idle_ms = n
                .parse()
                .unwrap_or_else(|e| usage(&format!("bad --idle-ms: {e}")));
        } else {
            port = arg
                .parse()
                .unwrap_or_else(|e| usage(&format!("bad port: {e}")));
        }
    }
    if let Err(e) = run(port, Duration::from_millis(idle_ms)) {
        eprintln!("async echo: {e}");
        std::process::exit(1);
    }
}

fn run(port: u16, idle: Duration) -> Result<(), Box<dyn std::error::Error>> {
    // Block the signals before anything else: later threads inherit the mask.
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
    println!("async echo listening on {}", listener.local_addr()?);
    let spawner = reactor.spawner()?;
    let listener = Async::new(&spawner, listener)?;
    let accepting = spawner.spawn(accept(spawner.clone(), listener, idle))?;
    drop(accepting); // detached: it runs until the reactor goes

    reactor.run()?;
    let why = match stopped_by.get() {
        Some(s) if s == Signal::TERM => "SIGTERM",
        Some(_) => "SIGINT",
        None => "stopped",
    };
    eprintln!("stopping: {why}");
    drop(reactor); // cancels every task: every connection closes
    Ok(())
}
