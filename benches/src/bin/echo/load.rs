//! The load generator: one thread on plain level-triggered epoll, pinned to its own CPU. It
//! checks every byte that comes back; a mismatch, an early EOF, a missing byte (still missing
//! 10 s after sending stops) or an extra one panics, naming the server and the connection.

use crate::clients::{Conn, Ctx, PingPong, Stream, READ};
use crate::servers::{self, Running};
use std::io::{ErrorKind, Read};
use std::net::{Shutdown, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

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
