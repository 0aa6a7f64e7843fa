//! The load generator's connections: 64-byte ping-pong and 1 MiB-chunk streaming. Each checks
//! every byte that comes back against what it sent, and panics on any difference, naming the
//! server, the connection and the byte.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;

/// Ping-pong message size.
const MSG: usize = 64;
/// Streaming: each connection offers its bytes in chunks of this size, and reads up to `READ`.
const CHUNK: usize = 1 << 20;
pub const READ: usize = 256 << 10;
/// Streaming: connection `c` sends `pattern[(i + c * STRIDE) % PERIOD]` as its byte `i`. A
/// prime period of pseudo-random bytes, so that a lost, repeated or reordered run shows.
const PERIOD: usize = 1_000_003;
const STRIDE: usize = 7919;

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

/// What the connections of one run share: the server's name for messages, the streaming
/// pattern, a read buffer.
pub struct Ctx<'a> {
    pub label: &'a str,
    pub pattern: &'a [u8],
    pub scratch: Vec<u8>,
}

/// A client connection of one load.
pub trait Conn {
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

pub struct PingPong {
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

pub struct Stream {
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
