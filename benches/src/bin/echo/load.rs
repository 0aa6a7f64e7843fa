//! The load generator: one thread on plain level-triggered epoll, pinned to its own CPU. It
//! checks every byte that comes back; a mismatch, an early EOF, a missing byte (still missing
//! 10 s after sending stops) or an extra one panics, naming the server and the connection.

use crate::servers::{self, Running};
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

/// Ping-pong message size.
const MSG: usize = 64;
/// Streaming: each connection offers its bytes in chunks of this size, and reads up to `READ`.
const CHUNK: usize = 1 << 20;
const READ: usize = 256 << 10;
/// Streaming: connection `c` sends `pattern[(i + c * STRIDE) % PERIOD]` as its byte `i`. A
/// prime period of pseudo-random bytes, so that a lost, repeated or reordered run shows.
const PERIOD: usize = 1_000_003;
const STRIDE: usize = 7919;

#[derive(Clone, Copy)]
pub enum Load {
    /// Connections that each send 64 bytes, wait for those 64 back, check them, repeat.
    PingPong(usize),
    /// Connections that each push 1 MiB chunks while reading back what the server echoes.
    Stream(usize),
}

pub struct Timing {
    pub warmup: Duration,
    pub window: Duration,
    /// The server's and the generator's CPUs, if pinned: the ones whose other work is measured.
    pub cpus: Option<(usize, usize)>,
}

/// One measurement window.
pub struct Sample {
    /// Round trips (ping-pong) or bytes echoed and checked (streaming).
    pub units: u64,
    pub secs: f64,
    pub server_cpu: f64,
    pub client_cpu: f64,
    /// Share of the watched CPUs' time that went to anything but the server and the generator
    /// (other processes, or the hypervisor running something else).
    pub other: f64,
}

/// The bytes that streaming connections send.
pub fn pattern() -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut bytes: Vec<u8> = (0..PERIOD)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect();
    // Then the start again, so that any chunk from any offset is one slice.
    for i in 0..CHUNK {
        bytes.push(bytes[i]);
    }
    bytes
}

/// Connects, warms up, measures one window, drains, closes; checks all the way.
pub fn run(
    load: Load,
    timing: &Timing,
    server: &mut Running,
    label: &str,
    pattern: &[u8],
) -> Sample {
    let mut ctx = Ctx {
        label,
        pattern,
        scratch: vec![0; READ],
    };
    match load {
        Load::PingPong(n) => drive::<PingPong>(n, timing, server, &mut ctx),
        Load::Stream(n) => drive::<Stream>(n, timing, server, &mut ctx),
    }
}

struct Ctx<'a> {
    label: &'a str,
    pattern: &'a [u8],
    scratch: Vec<u8>,
}

/// A client connection of one load.
trait Conn {
    /// Epoll interest while sending, and once sending has stopped.
    const INTEREST: u32;
    const DRAIN_INTEREST: u32;
    fn new(stream: TcpStream, id: usize) -> Self;
    fn stream(&self) -> &TcpStream;
    fn start(&mut self, ctx: &mut Ctx<'_>);
    /// Handles one readiness event; returns the units completed.
    fn event(&mut self, events: u32, sending: bool, ctx: &mut Ctx<'_>) -> u64;
    /// Nothing sent is still on its way back.
    fn done(&self) -> bool;
}

struct Snapshot {
    at: Instant,
    units: u64,
    server_cpu: f64,
    client_cpu: f64,
    busy: f64,
}

impl Snapshot {
    fn take(units: u64, server: &Running, timing: &Timing) -> Snapshot {
        Snapshot {
            at: Instant::now(),
            units,
            server_cpu: server.cpu_seconds(),
            client_cpu: thread_cpu_seconds(),
            busy: servers::busy_seconds(timing.cpus).0,
        }
    }
}

fn drive<C: Conn>(n: usize, timing: &Timing, server: &mut Running, ctx: &mut Ctx<'_>) -> Sample {
    let label = ctx.label;
    let ep = Epoll::new();
    let mut conns: Vec<C> = (0..n)
        .map(|id| {
            let stream = TcpStream::connect(server.addr)
                .unwrap_or_else(|e| panic!("{label}: connect {}: {e}", server.addr));
            stream.set_nodelay(true).expect("set_nodelay");
            stream.set_nonblocking(true).expect("set_nonblocking");
            ep.ctl(libc::EPOLL_CTL_ADD, stream.as_raw_fd(), C::INTEREST, id);
            C::new(stream, id)
        })
        .collect();
    for conn in &mut conns {
        conn.start(ctx);
    }
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 512];
    let warm_end = Instant::now() + timing.warmup;
    let end = warm_end + timing.window;
    let mut units = 0;
    let mut first = None;
    loop {
        let now = Instant::now();
        if first.is_none() && now >= warm_end {
            first = Some(Snapshot::take(units, server, timing));
        }
        if now >= end {
            break;
        }
        let until = if first.is_none() { warm_end } else { end };
        let ready = ep.wait(&mut events, until - now);
        for ev in &events[..ready] {
            units += conns[ev.u64 as usize].event(ev.events, true, ctx);
        }
    }
    let last = Snapshot::take(units, server, timing);
    let first = first.expect("warm-up snapshot");

    // Stop sending; everything sent must come back.
    if C::DRAIN_INTEREST != C::INTEREST {
        for (id, conn) in conns.iter().enumerate() {
            ep.ctl(
                libc::EPOLL_CTL_MOD,
                conn.stream().as_raw_fd(),
                C::DRAIN_INTEREST,
                id,
            );
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let missing = conns.iter().filter(|c| !c.done()).count();
        if missing == 0 {
            break;
        }
        let now = Instant::now();
        assert!(
            now < deadline,
            "{label}: {missing} of {n} connections still miss echoed bytes 10 s after sending stopped"
        );
        let ready = ep.wait(&mut events, deadline - now);
        for ev in &events[..ready] {
            conns[ev.u64 as usize].event(ev.events, false, ctx);
        }
    }

    // Close: each connection shuts its writing half; the server must close with nothing more.
    for conn in &conns {
        conn.stream().shutdown(Shutdown::Write).expect("shutdown");
    }
    let mut open = n;
    let deadline = Instant::now() + Duration::from_secs(5);
    while open > 0 {
        let now = Instant::now();
        assert!(
            now < deadline,
            "{label}: {open} of {n} connections not closed by the server 5 s after the client's EOF"
        );
        let ready = ep.wait(&mut events, deadline - now);
        for ev in &events[..ready] {
            let id = ev.u64 as usize;
            let mut stream = conns[id].stream();
            match stream.read(&mut ctx.scratch) {
                Ok(0) => {
                    ep.ctl(libc::EPOLL_CTL_DEL, stream.as_raw_fd(), 0, id);
                    open -= 1;
                }
                Ok(extra) => panic!("{label}: connection {id}: {extra} bytes nobody sent"),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => panic!("{label}: connection {id} at close: {e}"),
            }
        }
    }
    server.check_alive();
    let secs = last.at.duration_since(first.at).as_secs_f64();
    let server_cpu = last.server_cpu - first.server_cpu;
    let client_cpu = last.client_cpu - first.client_cpu;
    let cpus = servers::busy_seconds(timing.cpus).1 as f64;
    let other = (last.busy - first.busy - server_cpu - client_cpu) / (cpus * secs);
    Sample {
        units: last.units - first.units,
        secs,
        server_cpu,
        client_cpu,
        other: other.max(0.0),
    }
}

struct PingPong {
    stream: TcpStream,
    id: usize,
    seq: u64,
    sent: [u8; MSG],
    got: [u8; MSG],
    have: usize,
    waiting: bool,
}

impl PingPong {
    fn send(&mut self, ctx: &Ctx<'_>) {
        self.seq += 1;
        self.sent[..8].copy_from_slice(&self.seq.to_le_bytes());
        self.sent[8..16].copy_from_slice(&(self.id as u64).to_le_bytes());
        for (i, b) in self.sent[16..].iter_mut().enumerate() {
            *b = (self.seq as u8).wrapping_mul(31).wrapping_add(i as u8) ^ self.id as u8;
        }
        // 64 bytes always fit: nothing else of this connection is in flight.
        match (&self.stream).write(&self.sent) {
            Ok(MSG) => self.waiting = true,
            Ok(n) => panic!(
                "{}: connection {}: wrote {n} of {MSG} bytes",
                ctx.label, self.id
            ),
            Err(e) => panic!("{}: connection {}: write: {e}", ctx.label, self.id),
        }
    }
}

impl Conn for PingPong {
    const INTEREST: u32 = libc::EPOLLIN as u32;
    const DRAIN_INTEREST: u32 = libc::EPOLLIN as u32;

    fn new(stream: TcpStream, id: usize) -> PingPong {
        PingPong {
            stream,
            id,
            seq: 0,
            sent: [0; MSG],
            got: [0; MSG],
            have: 0,
            waiting: false,
        }
    }

    fn stream(&self) -> &TcpStream {
        &self.stream
    }

    fn start(&mut self, ctx: &mut Ctx<'_>) {
        self.send(ctx);
    }

    fn event(&mut self, _events: u32, sending: bool, ctx: &mut Ctx<'_>) -> u64 {
        let (label, id, seq) = (ctx.label, self.id, self.seq);
        match (&self.stream).read(&mut self.got[self.have..]) {
            Ok(0) => panic!(
                "{label}: connection {id} closed by the server with {} of {MSG} bytes of round trip {seq} back",
                self.have
            ),
            Ok(n) => self.have += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return 0,
            Err(e) => panic!("{label}: connection {id}: read: {e}"),
        }
        assert!(self.waiting, "{label}: connection {id}: bytes nobody sent");
        if self.have < MSG {
            return 0;
        }
        if self.got != self.sent {
            let i = (0..MSG).find(|&i| self.got[i] != self.sent[i]).unwrap_or(0);
            panic!(
                "{label}: connection {id}, round trip {seq}: byte {i} came back as {} instead of {}",
                self.got[i], self.sent[i]
            );
        }
        self.have = 0;
        self.waiting = false;
        if sending {
            self.send(ctx);
        }
        1
    }

    fn done(&self) -> bool {
        !self.waiting
    }
}

struct Stream {
    stream: TcpStream,
    id: usize,
    sent: u64,
    back: u64,
}

impl Stream {
    /// Where byte `at` of this connection's stream lies in the pattern.
    fn offset(&self, at: u64) -> usize {
        ((at + (self.id * STRIDE) as u64) % PERIOD as u64) as usize
    }
}

impl Conn for Stream {
    const INTEREST: u32 = (libc::EPOLLIN | libc::EPOLLOUT) as u32;
    const DRAIN_INTEREST: u32 = libc::EPOLLIN as u32;

    fn new(stream: TcpStream, id: usize) -> Stream {
        Stream {
            stream,
            id,
            sent: 0,
            back: 0,
        }
    }

    fn stream(&self) -> &TcpStream {
        &self.stream
    }

    fn start(&mut self, _ctx: &mut Ctx<'_>) {}

    fn event(&mut self, events: u32, sending: bool, ctx: &mut Ctx<'_>) -> u64 {
        let (label, id) = (ctx.label, self.id);
        if sending && events & libc::EPOLLOUT as u32 != 0 {
            let from = self.offset(self.sent);
            let len = CHUNK - (self.sent % CHUNK as u64) as usize;
            match (&self.stream).write(&ctx.pattern[from..from + len]) {
                Ok(n) => self.sent += n as u64,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => panic!("{label}: connection {id}: write: {e}"),
            }
        }
        if events & !(libc::EPOLLOUT as u32) == 0 {
            return 0;
        }
        let n = match (&self.stream).read(&mut ctx.scratch) {
            Ok(0) => panic!(
                "{label}: connection {id} closed by the server with {} of {} bytes back",
                self.back, self.sent
            ),
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return 0,
            Err(e) => panic!("{label}: connection {id}: read: {e}"),
        };
        assert!(
            self.back + n as u64 <= self.sent,
            "{label}: connection {id}: {} bytes back of {} sent",
            self.back + n as u64,
            self.sent
        );
        let from = self.offset(self.back);
        let expected = &ctx.pattern[from..from + n];
        if ctx.scratch[..n] != *expected {
            let i = (0..n).find(|&i| ctx.scratch[i] != expected[i]).unwrap_or(0);
            panic!(
                "{label}: connection {id}: byte {} came back as {} instead of {}",
                self.back + i as u64,
                ctx.scratch[i],
                expected[i]
            );
        }
        self.back += n as u64;
        n as u64
    }

    fn done(&self) -> bool {
        self.back == self.sent
    }
}

struct Epoll(OwnedFd);

impl Epoll {
    fn new() -> Epoll {
        // SAFETY: epoll_create1 takes no pointers; a non-negative result is a new fd we own.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        assert!(
            fd >= 0,
            "epoll_create1: {}",
            std::io::Error::last_os_error()
        );
        // SAFETY: as above.
        Epoll(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    fn ctl(&self, op: libc::c_int, fd: RawFd, events: u32, key: usize) {
        let mut ev = libc::epoll_event {
            events,
            u64: key as u64,
        };
        // SAFETY: both fds are open; the kernel only reads `ev`.
        let r = unsafe { libc::epoll_ctl(self.0.as_raw_fd(), op, fd, &mut ev) };
        assert_eq!(r, 0, "epoll_ctl: {}", std::io::Error::last_os_error());
    }

    /// Waits at most `timeout` (rounded up to a millisecond); returns how many events came.
    fn wait(&self, events: &mut [libc::epoll_event], timeout: Duration) -> usize {
        let ms = timeout.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
        loop {
            // SAFETY: the kernel writes at most `events.len()` entries into `events`.
            let r = unsafe {
                libc::epoll_wait(
                    self.0.as_raw_fd(),
                    events.as_mut_ptr(),
                    events.len() as i32,
                    ms,
                )
            };
            if r >= 0 {
                return r as usize;
            }
            let e = std::io::Error::last_os_error();
            assert_eq!(e.kind(), ErrorKind::Interrupted, "epoll_wait: {e}");
        }
    }
}

/// CPU time of the calling thread, in seconds.
fn thread_cpu_seconds() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into `ts`.
    let r = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(r, 0, "clock_gettime");
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}
