//! TCP echo server on 127.0.0.1, with per-connection idle timeouts and a graceful shutdown.
//!
//! ```text
//! cargo run --release --example echo_server [PORT] [--idle-ms N]
//! ```
//!
//! PORT defaults to 0 (any free port); the first line it prints is
//! `echo server listening on 127.0.0.1:PORT`, the second `idle timeout: N ms`. A connection
//! idle for N ms (default 30000) is closed. SIGINT or SIGTERM stops it: it stops accepting,
//! closes every connection, says which signal stopped it (`stopping: SIGTERM`) and exits 0.
//!
//! Std sockets register directly (they are `AsFd`). The reactor's state holds one 64 KiB read
//! buffer shared by every connection. Each connection is a hand-written `Subscriber` that arms
//! its idle timer in `Subscriber::init` with `Ops::arm_own`: the timer is the connection's own,
//! its firing comes to the connection's handler as a timer event, a read resets it (no
//! syscall), and it goes when the connection is deleted, so no map from timers to connections
//! is needed. Each connection is registered once, edge-triggered, for reading and writing,
//! so its interest never changes (no `epoll_ctl` per message). On each event it writes what
//! is pending, then reads into the shared buffer and writes straight back, until a read comes
//! back short (the socket is drained: more data brings a new edge) or would block. Only what
//! the socket does not take is copied into the connection's own buffer, and while anything is
//! unsent it reads no more, so a client that does not read cannot make the server grow; the
//! next writable edge resumes it. EOF, errors, `WouldBlock` and partial writes are all
//! handled; no I/O result is unwrapped.
//!
//! Out of descriptors (`EMFILE`), the level-triggered listener would report the same pending
//! connection again at once: instead accepting pauses (the listener's interest becomes empty)
//! until a connection closes or 100 ms pass, with one line on stderr when it starts and one
//! when the backlog is caught up. A delete that fails is logged and retried when the
//! connection's own timer fires again, soon, not forgotten.

use barepoll::signal::Signals;
use barepoll::sys::{AsFd, BorrowedFd, SigInfo, SigSet, Signal};
use barepoll::{interest, Event, Interest, Key, Ops, Reactor, Subscriber, Timer, TimerKey};
use std::io::{self, ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

/// What every handler shares, through `Ops::data`.
pub struct Server {
    /// The read buffer of every connection (one thread, one read at a time).
    scratch: Box<[u8]>,
    idle: Duration,
    /// Connections registered and not yet closed.
    connections: usize,
    /// The listening socket's registration.
    listener: Option<Key>,
    /// Accepting is paused: the listener's interest is empty.
    paused: bool,
    /// The timer that resumes accepting, while paused.
    resume: Option<TimerKey>,
    /// Accepts refused since the backlog was last caught up (0: none, nothing to report).
    refused: u64,
    /// The signal that stopped the server.
    pub stopped_by: Option<Signal>,
}

impl Server {
    pub fn new(idle: Duration) -> Server {
        Server {
            scratch: vec![0; 64 * 1024].into_boxed_slice(),
            idle,
            connections: 0,
            listener: None,
            paused: false,
            resume: None,
            refused: 0,
            stopped_by: None,
        }
    }

    pub fn connections(&self) -> usize {
        self.connections
    }
}

type Ctx<'a> = Ops<'a, Server>;

/// How long accepting pauses after `accept` fails for want of a resource, unless a connection
/// closes first.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);
/// How soon a delete that failed is tried again.
const CLOSE_RETRY: Duration = Duration::from_millis(100);
/// The tag of a connection's own timer (its idle timeout, or the retry of a failed close).
const IDLE: u32 = 1;

/// One client connection.
pub struct Conn {
    stream: TcpStream,
    /// Bytes read but not yet written back.
    unsent: Vec<u8>,
    /// The peer has shut its writing half: flush, then close.
    peer_done: bool,
    /// Its own timer, armed in `init`.
    idle: Option<TimerKey>,
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
            if let Some(timer) = self.idle {
                let idle = ops.data().idle;
                ops.reset(timer, Timer::after(idle))
                    .map_err(io::Error::from)?;
            }
            if drained && !read_closed && self.unsent.is_empty() {
                return Ok(());
            }
        }
    }

    /// Deletes the connection (dropping the stream closes it: the client sees EOF; its timer
    /// goes with it). If the delete fails, its timer is set to fire soon and try again.
    fn close(&mut self, ops: &mut Ctx<'_>) {
        match ops.delete_self() {
            Ok(()) => {
                ops.data().connections -= 1;
                closed(ops);
            }
            Err(e) => {
                eprintln!("close: {e}; trying again in {CLOSE_RETRY:?}");
                let retry = match self.idle {
                    Some(timer) => ops.reset(timer, Timer::after(CLOSE_RETRY)),
                    None => ops.arm_own(Timer::after(CLOSE_RETRY), IDLE).map(|_| ()),
                };
                if let Err(e) = retry {
                    eprintln!("close: {e}");
                }
            }
        }
    }
}

/// A connection as `init` leaves it (its own timer `idle`, counted in `server`), for tests
/// of its handler.
pub fn test_conn(server: &mut Server, stream: TcpStream, idle: TimerKey) -> Conn {
    server.connections += 1;
    Conn {
        stream,
        unsent: Vec::new(),
        peer_done: false,
        idle: Some(idle),
    }
}

/// Pauses accepting as `pause_accepting` does, with `listener` as the listening socket's
/// registration and no resume timer, for tests of what a closing connection does then.
pub fn test_paused(server: &mut Server, listener: Key) {
    server.listener = Some(listener);
    server.paused = true;
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
    /// Arms the connection's own idle timer: its firing comes to `handle` as a timer event.
    fn init(&mut self, ops: &mut Ctx<'_>) -> barepoll::Result<()> {
        let idle = ops.data().idle;
        self.idle = Some(ops.arm_own(Timer::after(idle), IDLE)?);
        ops.data().connections += 1;
        Ok(())
    }

    fn handle(&mut self, event: Event, ops: &mut Ctx<'_>) {
        if event.is_timer() {
            return self.close(ops); // idle for too long, or a failed close to try again
        }
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

/// A connection was deleted: its descriptor is free (once the batch is done), so a paused
/// listener may accept again.
fn closed(ops: &mut Ctx<'_>) {
    if ops.data().paused {
        resume_accepting(ops);
    }
}

/// `accept` failed for a reason that will not go away by itself at once (no descriptor, no
/// memory, ...): stops listening until a connection closes or `ACCEPT_PAUSE` passes, so the
/// level-triggered listener does not report the same connection again and again. Logs once
/// until the backlog is caught up.
fn pause_accepting(e: io::Error, ops: &mut Ctx<'_>) {
    let server = ops.data();
    server.refused += 1;
    if server.refused == 1 {
        eprintln!("accept: {e}; pausing until a connection closes or {ACCEPT_PAUSE:?} pass");
    }
    let Some(listener) = server.listener else {
        return;
    };
    if server.paused {
        return;
    }
    if let Err(e) = ops.modify(listener, interest()) {
        // Still listening: the next turn tries again.
        eprintln!("pause accepting: {e}");
        return;
    }
    ops.data().paused = true;
    arm_resume(ops);
}

/// Arms the timer that resumes accepting. Without it, a closing connection still does.
fn arm_resume(ops: &mut Ctx<'_>) {
    let resume = ops.arm(Timer::after(ACCEPT_PAUSE), |ops: &mut Ctx<'_>| {
        ops.data().resume = None;
        resume_accepting(ops);
    });
    match resume {
        Ok(timer) => ops.data().resume = Some(timer),
        Err(e) => eprintln!("arm: {e}; accepting resumes when a connection closes"),
    }
}

/// Listens again (the listener reports at once if connections wait).
fn resume_accepting(ops: &mut Ctx<'_>) {
    if let Some(timer) = ops.data().resume.take() {
        let _ = ops.cancel(timer);
    }
    let Some(listener) = ops.data().listener else {
        return;
    };
    match ops.modify(listener, interest().read()) {
        Ok(()) => ops.data().paused = false,
        Err(e) => {
            eprintln!("resume accepting: {e}; trying again in {ACCEPT_PAUSE:?}");
            arm_resume(ops);
        }
    }
}

/// Accepts every pending connection; each becomes a subscriber (whose `init` arms its idle
/// timer).
fn accept(listener: &mut TcpListener, ops: &mut Ctx<'_>) {
    loop {
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                let refused = std::mem::take(&mut ops.data().refused);
                if refused > 0 {
                    eprintln!("accept: caught up, after {refused} refused attempts");
                }
                return;
            }
            // The pending connection is gone (reset by its client): take the next.
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::Interrupted | ErrorKind::ConnectionAborted
                ) =>
            {
                continue
            }
            Err(e) => {
                pause_accepting(e, ops);
                return;
            }
        };
        if let Err(e) = stream.set_nonblocking(true) {
            eprintln!("set_nonblocking: {e}");
            continue;
        }
        let _ = stream.set_nodelay(true);
        let conn = Conn {
            stream,
            unsent: Vec::new(),
            peer_done: false,
            idle: None,
        };
        // Refused (by the kernel, or by `init`), the connection is dropped: the client sees
        // it closed.
        if let Err(e) = ops.add(conn, CONN) {
            eprintln!("register: {e}");
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
    let listener = interest()
        .read()
        .with_fd(listener)
        .with_handler(accept)
        .register_into(&mut reactor)?;
    reactor.register(stop, interest().read())?;
    let mut server = Server::new(idle);
    server.listener = Some(listener);
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
    let stop = signals.on(|sig: SigInfo, ops: &mut Ctx<'_>| {
        ops.data().stopped_by = Some(sig.signal);
        ops.stop();
    });
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
    // Whoever started it may have read the first line and closed the pipe: not an error.
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "idle timeout: {idle_ms} ms").and_then(|()| out.flush());
    drop(out);
    match serve(listener, Duration::from_millis(idle_ms), stop) {
        Ok(server) => {
            let why = match server.stopped_by {
                Some(s) if s == Signal::TERM => "SIGTERM",
                Some(_) => "SIGINT",
                None => "stopped",
            };
            eprintln!("stopping: {why}");
        }
        Err(e) => {
            eprintln!("echo server: {e}");
            std::process::exit(1);
        }
    }
}
