//! A TCP proxy with backpressure both ways: every connection it accepts is relayed to one
//! upstream address.
//!
//! ```text
//! cargo run --release --example proxy -- LISTEN_PORT UPSTREAM_ADDR
//! ```
//!
//! It prints `listening on ADDR`, then serves until SIGINT or SIGTERM (exit 0).
//!
//! What it shows:
//! - one subscriber per connection *pair*: the client's socket is its own fd (tag 0), the
//!   upstream socket is added in `Subscriber::init` with `Ops::add_fd` under tag 1, so one
//!   handler sees both, told apart by `Event::tag`, and one value holds all the pair's state
//!   (no map, no `Rc`);
//! - a non-blocking connect: the upstream socket is first watched for writing, and
//!   `sys::take_error` tells how the connect ended (a refused one closes the client);
//! - a bounded buffer per direction, and backpressure: while a buffer is full, the side that
//!   fills it is not read (its read interest is dropped with `modify_self`/`modify_fd`), so
//!   a slow reader slows its writer down and memory stays bounded; write interest is asked
//!   for only while there is something to write (level-triggered, so an interest is asked
//!   for only while it is wanted);
//! - half-close: an end of file from one side becomes `shutdown(Write)` on the other once its
//!   buffer is drained; the pair closes when both directions are done, or at the first error;
//! - bulk transfers in the kernel: once a direction has filled its whole buffer in one go (a
//!   file, not a request), its bytes go through a pipe with `sys::splice` from then on, from
//!   socket to pipe to socket, never copied into this process; the buffer is given back.
//!   Backpressure works the same (a full pipe stops the reading).

use barepoll::signal::Signals;
use barepoll::sys::{self, AsFd, BorrowedFd, Domain, Errno, SigInfo, SigSet, Signal, SocketType};
use barepoll::{interest, Event, Interest, Ops, Reactor, Subscriber, Timer};
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

/// Bytes buffered per direction, per pair.
const BUF: usize = 64 * 1024;
/// The tag of the pair's upstream socket (the client's is the pair's own fd: tag 0).
const UPSTREAM: u32 = 1;
/// How long accepting pauses when `accept` fails for want of descriptors or memory.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// What every handler shares (`Ops::data`).
struct Proxy {
    upstream: SocketAddr,
    /// The signal that stopped it.
    stopped_by: Option<Signal>,
}

type Ctx<'a> = Ops<'a, Proxy>;

/// Bytes on their way from one socket to the other, and how far that direction has got.
struct Pipe {
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    /// A read filled the whole buffer: a bulk transfer. Once the buffer is drained, the
    /// direction moves to `kernel`.
    bulk: bool,
    /// The kernel pipe a bulk transfer goes through (then `buf` is empty).
    kernel: Option<KernelPipe>,
    /// The source sent its end of file.
    eof: bool,
    /// The destination's writing half is shut: this direction is done.
    shut: bool,
}

/// A pipe between the two sockets, filled and drained with `splice`: the bytes stay in the
/// kernel.
struct KernelPipe {
    read: sys::OwnedFd,
    write: sys::OwnedFd,
    /// Bytes in the pipe.
    held: usize,
    /// The pipe took no more: reading waits until it is drained.
    full: bool,
}

const SPLICE: u32 = sys::SPLICE_F_NONBLOCK | sys::SPLICE_F_MOVE;

impl KernelPipe {
    /// Moves bytes from `from` into the pipe until it is full, the socket would block, or end
    /// of file (then `eof` is set).
    fn fill(&mut self, from: &TcpStream, eof: &mut bool) -> io::Result<()> {
        while !self.full {
            match sys::splice(from.as_fd(), self.write.as_fd(), BUF, SPLICE) {
                Ok(0) => {
                    *eof = true;
                    return Ok(());
                }
                // A pipe holds 64 KiB unless its pages are part-filled.
                Ok(n) => {
                    self.held += n;
                    self.full = self.held >= BUF;
                }
                // No bytes in the socket, or no room in the pipe: with bytes in the pipe, it
                // may be either, and taken as the latter, so that reading waits for the drain
                // (a full pipe beside a readable socket would wake every turn).
                Err(Errno::EAGAIN) => {
                    self.full = self.held != 0;
                    return Ok(());
                }
                Err(Errno::EINTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Moves what the pipe holds into `to`, as much as `to` takes now; whether it is empty.
    fn drain(&mut self, to: &TcpStream) -> io::Result<bool> {
        while self.held != 0 {
            match sys::splice(self.read.as_fd(), to.as_fd(), self.held, SPLICE) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.held -= n;
                    self.full = false;
                }
                Err(Errno::EAGAIN) => return Ok(false),
                Err(Errno::EINTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(true)
    }
}

impl Pipe {
    fn new() -> Pipe {
        Pipe {
            buf: vec![0; BUF].into_boxed_slice(),
            start: 0,
            end: 0,
            bulk: false,
            kernel: None,
            eof: false,
            shut: false,
        }
    }

    fn wants_read(&self) -> bool {
        match &self.kernel {
            Some(kernel) => !self.eof && !kernel.full,
            None => !self.eof && self.end - self.start < self.buf.len(),
        }
    }

    fn has_data(&self) -> bool {
        match &self.kernel {
            Some(kernel) => kernel.held != 0,
            None => self.start < self.end,
        }
    }

    /// Reads from `from` until the buffer is full, a read comes back short, the socket would
    /// block, or end of file. A short read took all the socket held: reading again would
    /// only see `EAGAIN` (a syscall per request for nothing), and the socket is watched
    /// level-triggered, so bytes that come later are reported again.
    fn fill(&mut self, from: &mut TcpStream) -> io::Result<()> {
        if let Some(kernel) = &mut self.kernel {
            return kernel.fill(from, &mut self.eof);
        }
        if self.end == self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            (self.start, self.end) = (0, self.end - self.start);
        }
        while self.wants_read() && self.end < self.buf.len() {
            let room = self.buf.len() - self.end;
            match from.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(n) => {
                    self.end += n;
                    if n < room {
                        break;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.bulk |= self.end == self.buf.len();
        Ok(())
    }

    /// Writes what it holds to `to`, as much as `to` takes now; once the source's end of file
    /// has come and every byte is through, shuts `to`'s writing half (its reader sees EOF).
    fn drain(&mut self, to: &mut TcpStream) -> io::Result<()> {
        let drained = match &mut self.kernel {
            Some(kernel) => kernel.drain(to)?,
            None => self.drain_buffer(to)?,
        };
        if !drained {
            return Ok(());
        }
        if self.bulk && self.kernel.is_none() {
            // Out of descriptors for the pipe: the buffer goes on.
            self.bulk = false;
            if let Ok((read, write)) = sys::pipe(sys::O_NONBLOCK) {
                let (held, full) = (0, false);
                self.kernel = Some(KernelPipe {
                    read,
                    write,
                    held,
                    full,
                });
                self.buf = Box::default();
            }
        }
        if self.eof && !self.shut {
            to.shutdown(Shutdown::Write)?;
            self.shut = true;
        }
        Ok(())
    }

    /// Writes the buffer's bytes to `to`, as many as it takes now; whether all went.
    fn drain_buffer(&mut self, to: &mut TcpStream) -> io::Result<bool> {
        while self.start < self.end {
            match to.write(&self.buf[self.start..self.end]) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => self.start += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        (self.start, self.end) = (0, 0);
        Ok(true)
    }
}

/// A client connection and its upstream connection: one subscriber.
struct Pair {
    client: TcpStream,
    upstream: TcpStream,
    /// The upstream connect has completed.
    connected: bool,
    /// Client to upstream.
    up: Pipe,
    /// Upstream to client.
    down: Pipe,
    /// The interest registered now, for the client (0) and the upstream socket (1).
    asked: [Interest; 2],
}

impl AsFd for Pair {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.client.as_fd()
    }
}

impl Subscriber<Proxy> for Pair {
    fn init(&mut self, ops: &mut Ctx<'_>) -> barepoll::Result<()> {
        // Writable once the connect has completed, one way or the other.
        ops.add_fd(self.upstream.as_fd(), UPSTREAM, self.asked[1])
    }

    fn handle(&mut self, event: Event, ops: &mut Ctx<'_>) {
        match self.step(event).and_then(|()| self.ask(ops)) {
            Ok(()) if !(self.up.shut && self.down.shut) => {}
            Ok(()) => close(ops),
            Err(e) => {
                if !matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe) {
                    eprintln!("pair closed: {e}");
                }
                close(ops);
            }
        }
    }
}

impl Pair {
    /// Moves what `event` says can move.
    fn step(&mut self, event: Event) -> io::Result<()> {
        let from_client = event.tag() != UPSTREAM;
        if !from_client && !self.connected {
            if let Some(e) = sys::take_error(self.upstream.as_fd())? {
                return Err(e.into()); // refused, unreachable, ...
            }
            self.connected = true;
        } else if event.is_error() {
            let socket = if from_client {
                &self.client
            } else {
                &self.upstream
            };
            return Err(socket
                .take_error()?
                .unwrap_or_else(|| ErrorKind::Other.into()));
        }
        // A hang-up comes with the end of file a read returns.
        let readable = event.is_readable() || event.is_hangup();
        if from_client && readable {
            self.up.fill(&mut self.client)?;
        } else if !from_client && readable {
            self.down.fill(&mut self.upstream)?;
        }
        // Whatever was read or made room for goes on at once, where it can.
        if self.connected {
            self.up.drain(&mut self.upstream)?;
        }
        self.down.drain(&mut self.client)
    }

    /// Registers the interest each socket needs now: reading while its direction's buffer
    /// has room, writing while the other direction has bytes for it. A change costs one
    /// `epoll_ctl`; no change, none.
    fn ask(&mut self, ops: &mut Ctx<'_>) -> io::Result<()> {
        let client = wanted(self.up.wants_read(), self.down.has_data());
        let upstream = if self.connected {
            wanted(self.down.wants_read(), self.up.has_data())
        } else {
            interest().write()
        };
        if client != self.asked[0] {
            ops.modify_self(client)?;
            self.asked[0] = client;
        }
        if upstream != self.asked[1] {
            ops.modify_fd(UPSTREAM, upstream)?;
            self.asked[1] = upstream;
        }
        Ok(())
    }
}

/// Level-triggered reading and writing as asked. Asking for neither, a socket still reports
/// its hang-up (the kernel always does), and it stays hung up: edge-triggered, that is once,
/// not on every turn while the other direction drains.
fn wanted(read: bool, write: bool) -> Interest {
    match (read, write) {
        (true, true) => interest().read().write(),
        (true, false) => interest().read(),
        (false, true) => interest().write(),
        (false, false) => interest().edge(),
    }
}

/// Deletes the running pair: dropped when the batch is done, which closes both sockets.
fn close(ops: &mut Ctx<'_>) {
    if let Err(e) = ops.delete_self() {
        eprintln!("close: {e}");
    }
}

/// Starts a non-blocking connect to `addr`: the socket is writable once it has completed.
fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let (domain, addr) = match addr {
        SocketAddr::V4(a) => (Domain::V4, sys::SocketAddr::v4(a.ip().octets(), a.port())),
        SocketAddr::V6(a) => (Domain::V6, sys::SocketAddr::v6(a.ip().octets(), a.port())),
    };
    let socket = sys::socket(domain, SocketType::Stream, sys::SOCK_NONBLOCK)?;
    match sys::connect(socket.as_fd(), &addr) {
        Ok(()) | Err(Errno::EINPROGRESS) => Ok(TcpStream::from(socket)),
        Err(e) => Err(e.into()),
    }
}

/// Accepts every pending client, and makes each a pair with a new upstream connection.
fn accept(listener: &mut TcpListener, ops: &mut Ctx<'_>) {
    loop {
        let client = match listener.accept() {
            Ok((client, _)) => client,
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
        let pair = client.set_nonblocking(true).and_then(|()| {
            let _ = client.set_nodelay(true);
            let upstream = connect(ops.data().upstream)?;
            let _ = upstream.set_nodelay(true);
            Ok(Pair {
                client,
                upstream,
                connected: false,
                up: Pipe::new(),
                down: Pipe::new(),
                asked: [interest().read(), interest().write()],
            })
        });
        // A refusal here drops the client: it sees its connection closed.
        match pair.map(|pair| ops.add(pair, interest().read())) {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => eprintln!("register: {e}"),
            Err(e) => eprintln!("upstream: {e}"),
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

fn signal_name(signal: Signal) -> &'static str {
    if signal == Signal::TERM {
        "SIGTERM"
    } else {
        "SIGINT"
    }
}

fn run(port: u16, upstream: SocketAddr) -> io::Result<Proxy> {
    // Blocked before anything else: threads made later inherit the mask.
    let signals = Signals::new(SigSet::of(&[Signal::INT, Signal::TERM]))?;
    let listener = TcpListener::bind(("127.0.0.1", port))?;
    listener.set_nonblocking(true)?;
    println!("listening on {}", listener.local_addr()?);
    io::stdout().flush()?;
    let mut reactor = Reactor::builder().state::<Proxy>().build()?;
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
    let mut proxy = Proxy {
        upstream,
        stopped_by: None,
    };
    reactor.run_with(&mut proxy)?;
    Ok(proxy) // the reactor drops here: every pair's sockets close
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(port), Some(upstream)) = (
        args.first().and_then(|p| p.parse::<u16>().ok()),
        args.get(1).and_then(|a| a.parse::<SocketAddr>().ok()),
    ) else {
        eprintln!("usage: proxy LISTEN_PORT UPSTREAM_ADDR (such as 8080 127.0.0.1:80)");
        std::process::exit(2);
    };
    match run(port, upstream) {
        Ok(proxy) => {
            let why = proxy.stopped_by.map_or("stopped", signal_name);
            eprintln!("stopping: {why}");
        }
        Err(e) => {
            eprintln!("proxy: {e}");
            std::process::exit(1);
        }
    }
}
