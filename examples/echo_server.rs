//! TCP echo server on 127.0.0.1, with per-connection idle timeouts and a graceful shutdown.
//!
//! ```text
//! cargo run --release --example echo_server [PORT] [--idle-ms N]
//! ```
//!
//! PORT defaults to 0 (any free port); the first line it prints is
//! `echo server listening on 127.0.0.1:PORT`. A connection idle for N ms (default 30000) is
//! closed: each connection has a timer, reset on every read, which costs no syscall. SIGINT or
//! SIGTERM stops it: it stops accepting, closes every connection and exits 0.
//!
//! Std sockets register directly (they are `AsFd`). The reactor's state holds one 64 KiB read
//! buffer shared by every connection and the map from timers to connections. Each connection
//! is a hand-written `Subscriber`, registered once, edge-triggered, for reading and writing,
//! so its interest never changes (no `epoll_ctl` per message). On each event it writes what
//! is pending, then reads into the shared buffer and writes straight back, until a read comes
//! back short (the socket is drained: more data brings a new edge) or would block. Only what
//! the socket does not take is copied into the connection's own buffer, and while anything is
//! unsent it reads no more, so a client that does not read cannot make the server grow; the
//! next writable edge resumes it. EOF, errors, `WouldBlock` and partial writes are all
//! handled; no I/O result is unwrapped.

use barepoll::signal::Signals;
use barepoll::sys::{AsFd, BorrowedFd, SigInfo, SigSet, Signal};
use barepoll::{interest, Event, Interest, Key, Ops, Reactor, Subscriber, Timer, TimerKey};
use std::collections::HashMap;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

/// What every handler shares, through `Ops::data`.
pub struct Server {
    /// The read buffer of every connection (one thread, one read at a time).
    scratch: Box<[u8]>,
    idle: Duration,
    /// Which connection each idle timer closes.
    owners: HashMap<TimerKey, Key>,
}

impl Server {
    pub fn new(idle: Duration) -> Server {
        Server {
            scratch: vec![0; 64 * 1024].into_boxed_slice(),
            idle,
            owners: HashMap::new(),
        }
    }

    pub fn connections(&self) -> usize {
        self.owners.len()
    }
}

type Ctx<'a> = Ops<'a, Server>;

/// One client connection.
pub struct Conn {
    stream: TcpStream,
    /// Bytes read but not yet written back.
    unsent: Vec<u8>,
    /// The peer has shut its writing half: flush, then close.
    peer_done: bool,
    idle: TimerKey,
}

/// Every connection's interest, for all its life: edge-triggered reading and writing, and the
/// peer's end of file as an event flag of its own.
const CONN: Interest = interest().read().write().rdhup().edge();

impl Conn {
    /// Moves bytes until the socket has nothing more to give or take right now: what is
    /// pending first, then reads into the shared buffer, each written straight back. A short
    /// read means the socket is drained, unless the peer has closed (`read_closed`): its end
    /// of file comes after the data, with no edge of its own, so reading goes on to it.
    fn pump(&mut self, read_closed: bool, ops: &mut Ctx<'_>) -> io::Result<()> {
        loop {
            if !self.unsent.is_empty() {
                let sent = write_some(&mut self.stream, &self.unsent)?;
                self.unsent.drain(..sent);
                if !self.unsent.is_empty() {
                    return Ok(()); // the next writable edge resumes
                }
            }
            if self.peer_done {
                return Ok(());
            }
            let scratch = &mut ops.data().scratch;
            let n = match self.stream.read(scratch) {
                Ok(0) => {
                    self.peer_done = true;
                    return Ok(());
                }
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let drained = n < scratch.len(); // a short read: the next edge brings the rest
            let sent = write_some(&mut self.stream, &scratch[..n])?;
            self.unsent.extend_from_slice(&scratch[sent..n]);
            let idle = ops.data().idle;
            ops.reset(self.idle, Timer::after(idle))
                .map_err(io::Error::from)?;
            if drained && !read_closed && self.unsent.is_empty() {
                return Ok(());
            }
        }
    }

    fn close(&mut self, ops: &mut Ctx<'_>) {
        let _ = ops.delete_self(); // dropping the stream closes it: the client sees EOF
        let _ = ops.cancel(self.idle);
        ops.data().owners.remove(&self.idle);
    }
}

/// A connection as `accept` makes it, for tests of its handler.
pub fn test_conn(stream: TcpStream, idle: TimerKey) -> Conn {
    Conn {
        stream,
        unsent: Vec::new(),
        peer_done: false,
        idle,
    }
}

/// Writes as much of `buf` as the socket takes now.
fn write_some(stream: &mut TcpStream, buf: &[u8]) -> io::Result<usize> {
    let mut sent = 0;
    while sent < buf.len() {
        match stream.write(&buf[sent..]) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => sent += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(sent)
}

impl AsFd for Conn {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.stream.as_fd()
    }
}

impl Subscriber<Server> for Conn {
    fn handle(&mut self, event: Event, ops: &mut Ctx<'_>) {
        let step = if event.is_error() {
            match self.stream.take_error() {
                Ok(Some(e)) | Err(e) => Err(e),
                Ok(None) => Err(io::Error::new(ErrorKind::Other, "socket error")),
            }
        } else {
            self.pump(event.is_read_closed(), ops)
        };
        if let Err(e) = step {
            if !matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe) {
                eprintln!("connection error: {e}");
            }
            self.close(ops);
        } else if self.peer_done && self.unsent.is_empty() {
            self.close(ops);
        }
    }
}

/// Accepts every pending connection; each gets a subscriber and an idle timer.
fn accept(listener: &mut TcpListener, ops: &mut Ctx<'_>) {
    loop {
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => {
                eprintln!("accept: {e}");
                return;
            }
        };
        if let Err(e) = stream.set_nonblocking(true) {
            eprintln!("set_nonblocking: {e}");
            continue;
        }
        let _ = stream.set_nodelay(true);
        let idle = ops.data().idle;
        // The timer closes the connection through the map, which knows its key once it is
        // registered; the connection resets the timer by its key.
        let timer = ops.arm(Timer::after(idle), |ops: &mut Ctx<'_>| {
            let owner = ops.timer().and_then(|t| ops.data().owners.remove(&t));
            if let Some(conn) = owner {
                let _ = ops.delete(conn);
            }
        });
        let Ok(timer) = timer else {
            eprintln!("arm: out of memory");
            continue;
        };
        let conn = Conn {
            stream,
            unsent: Vec::new(),
            peer_done: false,
            idle: timer,
        };
        match ops.add(conn, CONN) {
            Ok(key) => {
                ops.data().owners.insert(timer, key);
            }
            Err(e) => {
                eprintln!("register: {e}");
                let _ = ops.cancel(timer);
            }
        }
    }
}

/// Serves echo on `listener` until `stop` (a subscriber) calls `Ops::stop`. Returns the
/// server's state, for tests to look at.
pub fn serve<S>(listener: TcpListener, idle: Duration, stop: S) -> io::Result<Server>
where
    S: Subscriber<Server>,
{
    listener.set_nonblocking(true)?;
    let mut reactor = Reactor::builder().state::<Server>().build()?;
    interest()
        .read()
        .with_fd(listener)
        .with_handler(accept)
        .register_into(&mut reactor)?;
    reactor.register(stop, interest().read())?;
    let mut server = Server::new(idle);
    reactor.run_with(&mut server)?;
    Ok(server) // dropping the reactor here closes the listener and every connection
}

fn usage(problem: &str) -> ! {
    eprintln!("usage: echo_server [PORT] [--idle-ms N]  ({problem})");
    std::process::exit(2);
}

// Integration tests include this file as a module to run `serve` in-process.
#[cfg_attr(test, allow(dead_code))]
fn main() {
    let (mut port, mut idle_ms) = (0u16, 30_000u64);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--idle-ms" {
            let value = args
                .next()
                .unwrap_or_else(|| usage("--idle-ms needs a value"));
            idle_ms = value
                .parse()
                .unwrap_or_else(|e| usage(&format!("bad --idle-ms: {e}")));
        } else {
            port = arg
                .parse()
                .unwrap_or_else(|e| usage(&format!("bad port: {e}")));
        }
    }
    // Block the signals before anything else: later threads inherit the mask.
    let signals = match Signals::new(SigSet::of(&[Signal::INT, Signal::TERM])) {
        Ok(signals) => signals,
        Err(e) => {
            eprintln!("signals: {e}");
            std::process::exit(1);
        }
    };
    let stop = signals.on(|_: SigInfo, ops: &mut Ctx<'_>| ops.stop());
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
    if let Err(e) = serve(listener, Duration::from_millis(idle_ms), stop) {
        eprintln!("echo server: {e}");
        std::process::exit(1);
    }
}
