//! A chat room over TCP: every line a client sends reaches every other client.
//!
//! ```text
//! cargo run --release --example chat -- [PORT] [--idle-ms N]
//! ```
//!
//! It prints `listening on ADDR` (PORT 0, the default, picks a free port); try it with a few
//! `nc 127.0.0.1 PORT`. SIGINT or SIGTERM stops it: each client is told, and it exits 0.
//!
//! What it shows:
//! - each client is a `Subscriber` that learns its key in `Subscriber::init`, joins the room
//!   there (the room, the state every handler shares through `Ops::data`, keeps the members'
//!   keys in a `Vec`) and arms its idle timer with `Ops::arm_own`: the timer's firing comes
//!   to the same handler as a timer event, and goes away with the client;
//! - a broadcast reaches the other members with `Ops::with`, which lends the sender's
//!   handler each member's value in turn: no `Rc`, `RefCell` or map of keys;
//! - each member's send queue is bounded: a line is written at once if the socket takes it,
//!   queued if not, and a member whose queue is full (a client that does not read) is cut
//!   off, so memory stays bounded; write interest is asked for only while a queue is not
//!   empty (level-triggered).

use barepoll::signal::Signals;
use barepoll::sys::{AsFd, BorrowedFd, SigInfo, SigSet, Signal};
use barepoll::{interest, Event, Interest, Key, Ops, Reactor, Subscriber, Timer, TimerKey};
use std::collections::VecDeque;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

/// The most a member's send queue holds; a member that would need more is cut off.
const QUEUE: usize = 64 * 1024;
/// The longest line: a longer one is sent in pieces of this length.
const LINE: usize = 4096;
/// The tag of a member's idle timer.
const IDLE: u32 = 1;
/// How long accepting pauses when `accept` fails for want of descriptors or memory.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// The state every handler shares (`Ops::data`).
pub struct Room {
    members: Vec<Key>,
    idle: Duration,
    /// The signal that stopped the server.
    stopped_by: Option<Signal>,
}

impl Room {
    /// An empty room whose members are closed after `idle` without a word.
    pub fn new(idle: Duration) -> Room {
        Room {
            members: Vec::new(),
            idle,
            stopped_by: None,
        }
    }

    /// The members' keys, in the order they joined.
    pub fn members(&self) -> &[Key] {
        &self.members
    }
}

type Ctx<'a> = Ops<'a, Room>;

/// One client.
pub struct Member {
    stream: TcpStream,
    name: String,
    /// Its key, learnt in `init`.
    key: Option<Key>,
    idle: Option<TimerKey>,
    /// The start of a line whose end has not come yet.
    line: Vec<u8>,
    /// What the socket has not taken yet.
    queue: VecDeque<u8>,
    /// Write interest is registered (while the queue is not empty).
    writing: bool,
}

/// A member as `init` leaves it (its key `key`, in `room`, its idle timer `idle`), for tests
/// of its handler.
pub fn test_member(room: &mut Room, stream: TcpStream, key: Key, idle: TimerKey) -> Member {
    room.members.push(key);
    Member {
        stream,
        name: "test".to_string(),
        key: Some(key),
        idle: Some(idle),
        line: Vec::new(),
        queue: VecDeque::new(),
        writing: false,
    }
}

impl AsFd for Member {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.stream.as_fd()
    }
}

impl Subscriber<Room> for Member {
    fn init(&mut self, ops: &mut Ctx<'_>) -> barepoll::Result<()> {
        let idle = ops.data().idle;
        self.idle = Some(ops.arm_own(Timer::after(idle), IDLE)?);
        let me = ops.key();
        self.key = Some(me);
        ops.data().members.push(me);
        Ok(())
    }

    fn handle(&mut self, event: Event, ops: &mut Ctx<'_>) {
        if event.is_timer() {
            let _ = self.stream.write(b"idle for too long, bye\n");
            return leave(ops.key(), ops);
        }
        let step = if event.is_error() {
            Err(ErrorKind::ConnectionReset.into())
        } else {
            self.flush(ops).and_then(|()| self.receive(event, ops))
        };
        match step {
            Ok(true) => {}
            Ok(false) => leave(ops.key(), ops),
            Err(e) => {
                if !matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe) {
                    eprintln!("{}: {e}", self.name);
                }
                leave(ops.key(), ops);
            }
        }
    }
}

impl Member {
    /// Reads what the client sent and broadcasts each complete line; `false` at its end of
    /// file.
    fn receive(&mut self, event: Event, ops: &mut Ctx<'_>) -> io::Result<bool> {
        if !(event.is_readable() || event.is_hangup()) {
            return Ok(true);
        }
        let mut buf = [0u8; LINE];
        let n = match self.stream.read(&mut buf) {
            Ok(0) => return Ok(false),
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {
                return Ok(true)
            }
            Err(e) => return Err(e),
        };
        if let Some(idle) = self.idle {
            let after = ops.data().idle;
            ops.reset(idle, Timer::after(after))?;
        }
        for &byte in &buf[..n] {
            self.line.push(byte);
            if byte == b'\n' || self.line.len() == LINE {
                let text = String::from_utf8_lossy(&self.line);
                let message = format!("{}: {}", self.name, text.trim_end());
                self.line.clear();
                broadcast(message.as_bytes(), ops);
            }
        }
        Ok(true)
    }

    /// Queues `message` and a newline, writing at once what the socket takes; `false` if the
    /// queue has no room for them.
    pub fn send(&mut self, message: &[u8], ops: &mut Ctx<'_>) -> io::Result<bool> {
        if self.queue.len() + message.len() + 1 > QUEUE {
            return Ok(false);
        }
        self.queue.extend(message);
        self.queue.push_back(b'\n');
        self.flush(ops).map(|()| true)
    }

    /// Writes what is queued until the socket takes no more; asks for write interest while
    /// something is left, and drops it once the queue is empty.
    fn flush(&mut self, ops: &mut Ctx<'_>) -> io::Result<()> {
        while !self.queue.is_empty() {
            let (front, _) = self.queue.as_slices();
            match self.stream.write(front) {
                Ok(n) => drop(self.queue.drain(..n)),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let writing = !self.queue.is_empty();
        if let Some(key) = self.key.filter(|_| writing != self.writing) {
            // Reached from another member's handler too (through `with`): by key, not `_self`.
            let wanted = if writing {
                interest().read().write()
            } else {
                interest().read()
            };
            ops.modify(key, wanted)?;
            self.writing = writing;
        }
        Ok(())
    }
}

/// Sends `message` to every member but the one whose handler runs (the sender). A member
/// whose queue is full, or whose socket fails, is cut off.
fn broadcast(message: &[u8], ops: &mut Ctx<'_>) {
    let sender = ops.key();
    let mut i = 0;
    while let Some(&member) = ops.data().members.get(i) {
        i += 1;
        if member == sender {
            continue;
        }
        // The member's value, lent for the call (the sender's handler is the one running).
        match ops.with(member, |m: &mut Member, ops| m.send(message, ops)) {
            Ok(Ok(true)) => continue,
            Ok(Ok(false)) => eprintln!("cutting off a member that does not read"),
            Ok(Err(e)) => eprintln!("cutting off a member: {e}"),
            Err(e) => eprintln!("broadcast: {e}"),
        }
        leave(member, ops);
        i -= 1; // `leave` took it out of the list
    }
}

/// Deletes a member (dropping it closes its socket) and takes it out of the room.
pub fn leave(member: Key, ops: &mut Ctx<'_>) {
    if let Err(e) = ops.delete(member) {
        eprintln!("leave: {e}");
    }
    ops.data().members.retain(|&m| m != member);
}

/// Accepts every pending client; each joins the room in its `init`.
fn accept(listener: &mut TcpListener, ops: &mut Ctx<'_>) {
    loop {
        let (stream, peer) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return,
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::Interrupted | ErrorKind::ConnectionAborted
                ) =>
            {
                continue
            }
            Err(e) => return pause_accepting(e, ops),
        };
        if let Err(e) = stream.set_nonblocking(true) {
            eprintln!("set_nonblocking: {e}");
            continue;
        }
        let _ = stream.set_nodelay(true); // a line goes out at once
        let member = Member {
            stream,
            name: peer.to_string(),
            key: None,
            idle: None,
            line: Vec::new(),
            queue: VecDeque::new(),
            writing: false,
        };
        if let Err(e) = ops.add(member, interest().read()) {
            eprintln!("join: {e}");
        }
    }
}

/// Out of descriptors (or memory), the level-triggered listener would report the same
/// pending client again at once: it stops listening for a while instead.
fn pause_accepting(e: io::Error, ops: &mut Ctx<'_>) {
    eprintln!("accept: {e}; pausing for {ACCEPT_PAUSE:?}");
    let listener = ops.key();
    if ops.modify_self(Interest::empty()).is_err() {
        return; // still listening: the next turn tries again
    }
    let resume = move |ops: &mut Ctx<'_>| {
        if let Err(e) = ops.modify(listener, interest().read()) {
            eprintln!("resume accepting: {e}");
        }
    };
    if let Err(e) = ops.arm(Timer::after(ACCEPT_PAUSE), resume) {
        eprintln!("arm: {e}");
        let _ = ops.modify_self(interest().read());
    }
}

fn run(port: u16, idle: Duration) -> io::Result<Option<Signal>> {
    // Blocked before anything else: threads made later inherit the mask.
    let signals = Signals::new(SigSet::of(&[Signal::INT, Signal::TERM]))?;
    let listener = TcpListener::bind(("127.0.0.1", port))?;
    listener.set_nonblocking(true)?;
    println!("listening on {}", listener.local_addr()?);
    io::stdout().flush()?;
    let mut reactor = Reactor::builder().state::<Room>().build()?;
    interest()
        .read()
        .with_fd(listener)
        .with_handler(accept)
        .register_into(&mut reactor)?;
    let stop = signals.on(|sig: SigInfo, ops: &mut Ctx<'_>| {
        ops.data().stopped_by = Some(sig.signal);
        ops.stop();
    });
    reactor.register(stop, interest().read())?;
    let mut room = Room::new(idle);
    reactor.run_with(&mut room)?;
    for &member in &room.members {
        if let Ok(m) = reactor.get_mut::<Member>(member) {
            let _ = m.stream.write(b"the server is shutting down, bye\n");
        }
    }
    Ok(room.stopped_by) // the reactor drops here: every member's socket closes
}

fn usage(problem: &str) -> ! {
    eprintln!("usage: chat [PORT] [--idle-ms N]  ({problem})");
    std::process::exit(2);
}

fn main() {
    let (mut port, mut idle_ms) = (0u16, 300_000u64);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--idle-ms" {
            let value = args
                .next()
                .unwrap_or_else(|| usage("--idle-ms needs a value"));
            idle_ms = value
                .parse()
                .unwrap_or_else(|e| usage(&format!("--idle-ms: {e}")));
        } else {
            port = arg.parse().unwrap_or_else(|e| usage(&format!("port: {e}")));
        }
    }
    match run(port, Duration::from_millis(idle_ms)) {
        Ok(signal) => {
            let why = match signal {
                Some(s) if s == Signal::TERM => "SIGTERM",
                Some(_) => "SIGINT",
                None => "stopped",
            };
            eprintln!("stopping: {why}");
        }
        Err(e) => {
            eprintln!("chat: {e}");
            std::process::exit(1);
        }
    }
}
