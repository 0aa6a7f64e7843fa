//! TCP echo server on 127.0.0.1.
//!
//! ```text
//! cargo run --release --example echo_server [PORT]     # PORT defaults to 0: any free port
//! ```
//!
//! Std sockets register directly (they are `AsFd`). Each connection is a hand-written
//! `Subscriber` with a pending buffer: bytes read are written back at once, and what the
//! socket does not take waits in the buffer. Write interest is asked for only while the buffer
//! is non-empty, and reading pauses while it holds more than `HIGH_WATER` bytes, so a client
//! that does not read cannot make the server grow without bound. EOF, errors, `WouldBlock` and
//! partial writes are all handled; no I/O result is unwrapped.

use barepoll::sys::{AsFd, BorrowedFd, OwnedFd};
use barepoll::{interest, Event, Interest, Ops, Reactor, Subscriber};
use std::io::{self, ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};

const CHUNK: usize = 64 * 1024;
const HIGH_WATER: usize = 1 << 20;

/// One client connection.
struct Conn {
    stream: TcpStream,
    /// Bytes read but not yet written back: `pending[sent..]`.
    pending: Vec<u8>,
    sent: usize,
    /// The peer has shut its writing half: flush, then close.
    peer_done: bool,
    registered: Interest,
}

impl Conn {
    const FIRST_INTEREST: Interest = interest().read().rdhup();

    fn new(stream: TcpStream) -> Conn {
        let registered = Conn::FIRST_INTEREST;
        Conn {
            stream,
            pending: Vec::new(),
            sent: 0,
            peer_done: false,
            registered,
        }
    }

    fn unsent(&self) -> usize {
        self.pending.len() - self.sent
    }

    /// What to ask the kernel for, given the buffer.
    fn wanted(&self) -> Interest {
        let mut want = interest();
        if !self.peer_done && self.unsent() < HIGH_WATER {
            want = want.read().rdhup();
        }
        if self.unsent() > 0 {
            want = want.write();
        }
        want
    }

    fn step(&mut self, event: Event) -> io::Result<()> {
        if event.is_error() {
            let err = self.stream.take_error()?;
            return Err(err.unwrap_or_else(|| io::Error::new(ErrorKind::Other, "socket error")));
        }
        self.flush()?;
        let mut buf = [0u8; CHUNK];
        while !self.peer_done && self.unsent() < HIGH_WATER {
            match self.stream.read(&mut buf) {
                Ok(0) => self.peer_done = true,
                Ok(n) => {
                    self.pending.drain(..self.sent); // keep the buffer compact
                    self.sent = 0;
                    self.pending.extend_from_slice(&buf[..n]);
                    self.flush()?;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Writes as much of the buffer as the socket takes now.
    fn flush(&mut self) -> io::Result<()> {
        while self.unsent() > 0 {
            match self.stream.write(&self.pending[self.sent..]) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => self.sent += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        if self.unsent() == 0 {
            self.pending.clear();
            self.sent = 0;
        }
        Ok(())
    }
}

impl AsFd for Conn {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.stream.as_fd()
    }
}

impl Subscriber for Conn {
    fn handle(&mut self, event: Event, ops: &mut Ops<'_>) {
        if let Err(e) = self.step(event) {
            if e.kind() != ErrorKind::ConnectionReset && e.kind() != ErrorKind::BrokenPipe {
                eprintln!("connection error: {e}");
            }
            let _ = ops.delete_self();
            return;
        }
        if self.peer_done && self.unsent() == 0 {
            let _ = ops.delete_self(); // dropping the stream closes it: the client sees EOF
            return;
        }
        let want = self.wanted();
        if want != self.registered {
            match ops.modify_self(want) {
                Ok(()) => self.registered = want,
                Err(e) => {
                    eprintln!("modify: {e}");
                    let _ = ops.delete_self();
                }
            }
        }
    }
}

/// Serves echo on `listener` until `shutdown` (an eventfd) becomes readable, or for ever.
pub fn serve(listener: TcpListener, shutdown: Option<OwnedFd>) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let mut reactor = Reactor::new()?;
    interest()
        .read()
        .with_fd(listener)
        .with_handler(|listener: &mut TcpListener, ops: &mut Ops<'_>| loop {
            match listener.accept() {
                Ok((stream, _)) => {
                    if let Err(e) = stream.set_nonblocking(true) {
                        eprintln!("set_nonblocking: {e}");
                        continue;
                    }
                    let _ = stream.set_nodelay(true);
                    if let Err(e) = ops.add(Conn::new(stream), Conn::FIRST_INTEREST) {
                        eprintln!("register: {e}");
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    eprintln!("accept: {e}");
                    break;
                }
            }
        })
        .register_into(&mut reactor)?;
    if let Some(fd) = shutdown {
        interest()
            .read()
            .with_fd(fd)
            .with_handler(|ops: &mut Ops<'_>| ops.stop())
            .register_into(&mut reactor)?;
    }
    reactor.run()?;
    Ok(())
}

// Integration tests include this file as a module to run `serve` in-process.
#[cfg_attr(test, allow(dead_code))]
fn main() {
    let port = match std::env::args().nth(1).map(|p| p.parse::<u16>()) {
        None => 0,
        Some(Ok(port)) => port,
        Some(Err(e)) => {
            eprintln!("usage: echo_server [PORT]  (bad port: {e})");
            std::process::exit(2);
        }
    };
    let listener = match TcpListener::bind(("127.0.0.1", port)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("bind 127.0.0.1:{port}: {e}");
            std::process::exit(1);
        }
    };
    match listener.local_addr() {
        Ok(addr) => println!("echo server listening on {addr}"),
        Err(e) => eprintln!("local_addr: {e}"),
    }
    let _ = io::stdout().flush();
    if let Err(e) = serve(listener, None) {
        eprintln!("echo server: {e}");
        std::process::exit(1);
    }
}
