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

use alloc::boxed::Box;
use barepoll::signal::Signals;
use barepoll::sys::{self, AsFd, BorrowedFd, Errno, OwnedFd, SigInfo, SigSet, Signal, SocketAddr};
use barepoll::{Event, Interest, Ops, Reactor, Subscriber, Timer, TimerKey, interest};
use core::mem::ManuallyDrop;
use core::sync::atomic::{AtomicBool, Ordering::Relaxed};
use core::time::Duration;

/// Bytes a connection reads before it must have written them back.
const BUF: usize = 2048;
const DEFAULT_IDLE_MS: u64 = 10_000;
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

/// A setup step that failed, and the kernel's error if there was one.
struct Failure(&'static str, Option<Errno>);

trait Context<T> {
    fn during(self, step: &'static str) -> Result<T, Failure>;
}

impl<T> Context<T> for Result<T, Errno> {
    fn during(self, step: &'static str) -> Result<T, Failure> {
        self.map_err(|e| Failure(step, Some(e)))
    }
}

impl<T> Context<T> for Result<T, barepoll::Error> {
    fn during(self, step: &'static str) -> Result<T, Failure> {
        self.map_err(|e| Failure(step, e.errno()))
    }
}

/// A non-blocking listening socket on 127.0.0.1:`port` (0 picks one), and its port.
fn listen(port: u16) -> Result<(OwnedFd, u16), Errno> {
    let listener = sys::socket(sys::Domain::V4, sys::SocketType::Stream, sys::SOCK_NONBLOCK)?;
    sys::setsockopt(listener.as_fd(), sys::SockOpt::ReuseAddr, true)?;
    sys::bind(listener.as_fd(), &SocketAddr::v4([127, 0, 0, 1], port))?;
    sys::listen(listener.as_fd(), 128)?;
    let port = sys::local_port(listener.as_fd())?;
    Ok((listener, port))
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

    let mut line = Line::new();
    line.push(b"listening on 127.0.0.1:");
    line.push_decimal(port.into());
    line.push(b"\n");
    sys::write(sys::stdout(), line.as_bytes()).during("write")?;

    reactor.run().during("run")
}

/// The program; returns the exit status.
fn main() -> i32 {
    let args = barepoll::sys::rt::args();
    let number = |i, default| args.get(i).map_or(Some(default), parse);
    let (Some(port @ 0..=0xffff), Some(idle_ms), 1..=3) =
        (number(1, 0), number(2, DEFAULT_IDLE_MS), args.len())
    else {
        let _ = sys::write(sys::stderr(), b"usage: nolibc-echo [PORT [IDLE_MS]]\n");
        return 2;
    };
    let Err(Failure(step, errno)) = serve(port as u16, Duration::from_millis(idle_ms)) else {
        return 0;
    };
    let mut line = Line::new();
    line.push(b"nolibc-echo: ");
    line.push(step.as_bytes());
    if let Some(e) = errno {
        line.push(b": errno ");
        line.push_decimal(e.raw() as u64);
    }
    line.push(b"\n");
    let _ = sys::write(sys::stderr(), line.as_bytes());
    1
}

/// A decimal number of at most 19 digits; `None` for anything else.
fn parse(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 19 {
        return None;
    }
    s.iter().try_fold(0u64, |n, &c| {
        c.is_ascii_digit().then(|| n * 10 + u64::from(c - b'0'))
    })
}

/// A line of output, made without `core::fmt`.
struct Line {
    buf: [u8; 64],
    len: usize,
}

impl Line {
    fn new() -> Line {
        Line {
            buf: [0; 64],
            len: 0,
        }
    }

    /// Appends `s`, cut short if the line is full.
    fn push(&mut self, s: &[u8]) {
        for &c in s {
            if let Some(slot) = self.buf.get_mut(self.len) {
                *slot = c;
                self.len += 1;
            }
        }
    }

    fn push_decimal(&mut self, mut n: u64) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.push(&digits[i..]);
    }

    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}
