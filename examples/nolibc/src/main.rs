//! A TCP echo server on 127.0.0.1 with no libc at all: a static binary whose only way to the
//! kernel is barepoll's syscalls.
//!
//! ```text
//! nolibc-echo [PORT [IDLE_MS]]    PORT 0 (the default) picks a free port;
//!                                 IDLE_MS (default 10000, 0 for never) closes idle connections
//! ```
//!
//! It prints `listening on 127.0.0.1:PORT`, echoes every connection, and exits 0 on SIGTERM
//! or SIGINT. Everything here is safe code: the entry point, the allocator, the panic handler
//! and the memory functions come from barepoll's runtime kit (feature `rt`).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

barepoll::main!(main);

mod startup;

use alloc::boxed::Box;
use barepoll::signal::Signals;
use barepoll::sys::{self, AsFd, BorrowedFd, Errno, OwnedFd, SigInfo, SigSet, Signal};
use barepoll::{Event, Interest, Ops, Reactor, Subscriber, Timer, TimerKey, interest};
use core::mem::ManuallyDrop;
use core::sync::atomic::{AtomicBool, Ordering::Relaxed};
use core::time::Duration;
use startup::{Context, Failure, announce, listen};

/// Bytes a connection reads before it must have written them back.
const BUF: usize = 2048;
/// Set once the line below is written.
static TOLD: AtomicBool = AtomicBool::new(false);
/// Written once, at the first connection refused for want of a descriptor.
const NO_DESCRIPTOR: &[u8] = b"nolibc-echo: out of descriptors (ulimit -n)\n";

/// One client connection. Bytes read wait in `buf[start..end]` until the socket has taken
/// them, and nothing more is read meanwhile: a client that does not read its echo is not read
/// from either (back-pressure), and the server never holds more than `BUF` bytes for it.
///
/// It is registered edge-triggered for reading and writing: each direction is driven until
/// the kernel says `EAGAIN`, and the next edge in that direction resumes it, so the interest
/// never has to change.
struct Conn {
    fd: OwnedFd,
    buf: [u8; BUF],
    start: usize,
    end: usize,
    /// How long the connection may stay idle; zero for ever.
    idle: Duration,
    /// The idle timer, reset whenever bytes move; armed at the first event, as the
    /// subscriber's key is known only then.
    timer: Option<TimerKey>,
}

impl Conn {
    /// A new socket is writable at once, so this interest gives the first event right away.
    const INTEREST: Interest = interest().read().write().edge();

    fn new(fd: OwnedFd, idle: Duration) -> Conn {
        Conn {
            fd,
            buf: [0; BUF],
            start: 0,
            end: 0,
            idle,
            timer: None,
        }
    }

    /// Echoes until the socket would block. `false` once the connection is done: the peer
    /// has closed its end and everything it sent is written back, or an error.
    fn pump(&mut self, ops: &mut Ops<'_>) -> bool {
        loop {
            let done = if self.start < self.end {
                // `send`, not `write`: a peer that reset the connection gives EPIPE here
                // rather than a SIGPIPE, whose default action would end the server.
                sys::send(self.fd.as_fd(), &self.buf[self.start..self.end])
                    .inspect(|&n| self.start += n)
            } else {
                sys::read(self.fd.as_fd(), &mut self.buf)
                    .inspect(|&n| (self.start, self.end) = (0, n))
            };
            match done {
                // End of file (a write of a non-empty buffer never returns 0).
                Ok(0) => return false,
                // Bytes moved: the connection is not idle. Resetting a timer makes no syscall.
                Ok(_) => {
                    if let Some(timer) = self.timer {
                        let _ = ops.reset(timer, Timer::after(self.idle));
                    }
                }
                Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) => return true, // the next edge resumes
                Err(_) => return false,
            }
        }
    }
}

impl AsFd for Conn {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Subscriber for Conn {
    fn handle(&mut self, _: Event, ops: &mut Ops<'_>) {
        if self.timer.is_none() && self.idle != Duration::ZERO {
            let me = ops.key();
            let expire = move |ops: &mut Ops<'_>| {
                let _ = ops.delete(me); // dropping the connection closes it
            };
            match ops.arm(Timer::after(self.idle), expire) {
                Ok(timer) => self.timer = Some(timer),
                Err(_) => {
                    let _ = ops.delete_self();
                    return;
                }
            }
        }
        if !self.pump(ops) {
            if let Some(timer) = self.timer.take() {
                let _ = ops.cancel(timer);
            }
            let _ = ops.delete_self();
        }
    }
}

fn serve(port: u16, idle: Duration) -> Result<(), Failure> {
    // Blocked from here on, so a signal sent as soon as the port is printed is not lost.
    let set = SigSet::of(&[Signal::TERM, Signal::INT]);
    let signals = Signals::new(set).during("signals")?;

    let (listener, port) = listen(port).during("listen on 127.0.0.1")?;

    // Never dropped: the process exits when `run` returns, and the kernel closes what it held.
    let mut reactor = ManuallyDrop::new(Reactor::new().during("reactor")?);

    // Every subscriber is registered as a `Box<dyn Subscriber>`: one registration path in
    // the binary rather than one per subscriber type.
    let on_signal = signals.on(|_: SigInfo, ops: &mut Ops<'_>| ops.stop());
    reactor
        .register(
            Box::new(on_signal) as Box<dyn Subscriber>,
            interest().read(),
        )
        .during("register")?;
    // Connections are limited only by memory (the heap maps what it needs) and by the
    // descriptor limit, a run-time setting (`ulimit -n`): the first connection refused for
    // want of a descriptor says so on stderr, once.
    let acceptor = interest()
        .read()
        .with_fd(listener)
        .with_handler(move |listener: &mut OwnedFd, ops: &mut Ops<'_>| {
            loop {
                match sys::accept_socket(listener.as_fd(), sys::SOCK_NONBLOCK) {
                    Ok(conn) => {
                        let conn: Box<dyn Subscriber> = Box::new(Conn::new(conn, idle));
                        // Refused only when out of memory; dropping it closes the connection.
                        let _ = ops.add(conn, Conn::INTEREST);
                    }
                    // A connection aborted before it was accepted: take the next one.
                    Err(Errno::EINTR | Errno::ECONNABORTED) => {}
                    Err(Errno::EMFILE | Errno::ENFILE) => {
                        if !TOLD.swap(true, Relaxed) {
                            let _ = sys::write(sys::stderr(), NO_DESCRIPTOR);
                        }
                        // Edge-triggered, the listener is not reported again until the
                        // next connection arrives: no busy loop while no descriptor can be
                        // had, and the next arrival accepts everything waiting.
                        break;
                    }
                    // EAGAIN: all taken. Anything else (out of memory): the next arrival
                    // tries again.
                    Err(_) => break,
                }
            }
        })
        .into_subscriber();
    reactor
        .register(
            Box::new(acceptor) as Box<dyn Subscriber>,
            interest().read().edge(),
        )
        .during("register")?;

    announce(port)?;

    reactor.run().during("run")
}

/// The program; returns the exit status.
fn main() -> i32 {
    startup::run(
        b"nolibc-echo",
        b"usage: nolibc-echo [PORT [IDLE_MS]]\n",
        serve,
    )
}
