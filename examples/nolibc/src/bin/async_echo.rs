//! The echo server of `nolibc-echo` written as tasks: a static binary with no libc whose only
//! way to the kernel is barepoll's syscalls, on barepoll's executor (feature `tasks`).
//!
//! ```text
//! nolibc-async-echo [PORT [IDLE_MS]]    PORT 0 (the default) picks a free port;
//!                                       IDLE_MS (default 10000, 0 for never) closes idle
//!                                       connections
//! ```
//!
//! It prints `listening on 127.0.0.1:PORT`, echoes every connection, and exits 0 on SIGTERM
//! or SIGINT. One task accepts; each connection is a task of its own, which reads and writes
//! back, each step under a `timeout`: a connection where no byte moves for IDLE_MS (a silent
//! client, or one that does not read its echo) is closed. The signals are a callback subscriber in the same reactor: tasks
//! and handlers mix. Everything here is safe code: the entry point, the allocator, the panic
//! handler and the memory functions come from barepoll's runtime kit (feature `rt`).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

barepoll::main!(main);

#[path = "../startup.rs"]
mod startup;

use alloc::boxed::Box;
use barepoll::signal::Signals;
use barepoll::sys::{self, AsFd, Errno, OwnedFd, SigInfo, SigSet, Signal};
use barepoll::task::{Async, Spawner};
use barepoll::{Error, Ops, Reactor, interest};
use core::mem::ManuallyDrop;
use core::time::Duration;
use startup::{Context, Failure, announce, listen};

const NAME: &[u8] = b"nolibc-async-echo";
/// Bytes a connection reads before it must have written them back.
const BUF: usize = 2048;
/// How long the acceptor waits after a refused `accept` (out of descriptors, say): it would
/// spin otherwise, as the listener stays readable.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);
/// Written if the listener could not be registered, before the program ends.
const NOT_REGISTERED: &[u8] = b"nolibc-async-echo: register the listener: refused\n";
/// Written once, at the first connection refused for want of a descriptor.
const NO_DESCRIPTOR: &[u8] = b"nolibc-async-echo: out of descriptors (ulimit -n)\n";

/// Echoes what `conn` sends until it closes, fails, or stays idle for `idle`. Bytes read wait
/// in `buf[start..end]` until the socket has taken them, and nothing more is read meanwhile
/// (back-pressure): the task never holds more than `BUF` bytes. Each step, a read or a write,
/// has `idle` to move a byte. Dropping the source at the end closes the connection.
async fn echo(spawner: &'static Spawner, conn: Async<OwnedFd>, idle: Duration) {
    let mut buf = [0u8; BUF];
    let (mut start, mut end) = (0, 0);
    loop {
        let writing = start < end;
        let step = async {
            if writing {
                // `send`, not `write`: a peer that reset the connection gives EPIPE here
                // rather than a SIGPIPE, whose default action would end the server.
                conn.write_with(|fd| sys::send(fd.as_fd(), &buf[start..end]))
                    .await
            } else {
                conn.read(&mut buf).await
            }
        };
        match spawner.timeout(idle, step).await {
            // End of file (a write of a non-empty buffer never returns 0), an error, or idle.
            Ok(Ok(0) | Err(_)) | Err(_) => return,
            Ok(Ok(n)) if writing => start += n,
            Ok(Ok(n)) => (start, end) = (0, n),
        }
    }
}

/// Accepts connections for ever, one task each.
async fn accept(spawner: &'static Spawner, listener: Async<OwnedFd>, idle: Duration) {
    // The listener is registered by the turn before this first poll. Refused (out of memory,
    // or past the limit of watched descriptors), it would never accept: the program ends, as
    // when a setup step fails.
    if listener.readable().await.is_err() {
        let _ = sys::write(sys::stderr(), NOT_REGISTERED);
        sys::exit_group(1);
    }
    let mut told = false;
    loop {
        let taken = listener.read_with(|fd| sys::accept_socket(fd.as_fd(), sys::SOCK_NONBLOCK));
        let conn = match taken.await {
            Ok(conn) => conn,
            // A connection aborted before it was accepted: take the next one.
            Err(Error::Os(Errno::ECONNABORTED)) => continue,
            Err(e) => {
                if matches!(e, Error::Os(Errno::EMFILE | Errno::ENFILE)) && !told {
                    told = true;
                    let _ = sys::write(sys::stderr(), NO_DESCRIPTOR);
                }
                // Out of descriptors or memory: wait a little rather than spin.
                let _ = spawner.sleep(ACCEPT_PAUSE).await;
                continue;
            }
        };
        // Refused only when out of memory; dropping it closes the connection.
        if let Ok(conn) = Async::new(spawner, conn) {
            let _ = spawner.spawn(echo(spawner, conn, idle)); // detached
        }
    }
}

fn serve(port: u16, idle: Duration) -> Result<(), Failure> {
    // Blocked from here on, so a signal sent as soon as the port is printed is not lost.
    let signals = Signals::new(SigSet::of(&[Signal::TERM, Signal::INT])).during("signals")?;
    let (listener, port) = listen(port).during("listen on 127.0.0.1")?;
    // No idle timeout: one that never comes.
    let idle = if idle == Duration::ZERO {
        Duration::MAX
    } else {
        idle
    };

    // Never dropped: the process exits when `run` returns, and the kernel closes what it held
    // (every connection with it).
    let mut reactor = ManuallyDrop::new(Reactor::new().during("reactor")?);
    let on_signal = signals.on(|_: SigInfo, ops: &mut Ops<'_>| ops.stop());
    reactor
        .register(on_signal, interest().read())
        .during("register")?;

    // Lives as long as the process, like the reactor: the tasks borrow it rather than hold a
    // counted clone each (no count to change, less code).
    let spawner: &'static Spawner = Box::leak(Box::new(reactor.spawner().during("executor")?));
    let listener = Async::new(spawner, listener).during("register")?;
    let acceptor = spawner.spawn(accept(spawner, listener, idle));
    drop(acceptor.during("spawn")?); // detached: it runs until the process ends

    announce(port)?;

    reactor.run().during("run")
}

/// The program; returns the exit status.
fn main() -> i32 {
    startup::run(NAME, b"usage: nolibc-async-echo [PORT [IDLE_MS]]\n", serve)
}
