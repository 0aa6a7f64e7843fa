//! The async_proxy example as built by cargo, run as a process in front of an upstream of the
//! test's own (std sockets, a thread per connection), as tests/proxy.rs runs the callback
//! proxy: bytes round-trip exactly both ways through a slow reader, a client that never reads
//! is held back while the proxy stays small, a half-close is forwarded and the reply after it
//! still arrives, an unreachable upstream closes the client, many pairs at once (each closed
//! once done), an idle pair is closed (never early) while a pair busy one way is not, SIGTERM
//! exits 0.
#![cfg(all(feature = "std", feature = "tasks"))]

use barepoll::sys;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::Child;
use std::time::{Duration, Instant};

mod common;

/// What the upstream sends after the echo, once it has read its client's end of file.
const TRAILER: &[u8] = b"<upstream saw EOF>";
/// An idle timeout no test reaches unless it means to.
const NEVER_IDLE_MS: u64 = 600_000;

/// An upstream listening on 127.0.0.1 that serves each connection with `serve` on a thread
/// of its own.
fn upstream_with(serve: fn(TcpStream)) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            std::thread::spawn(move || serve(conn));
        }
    });
    addr
}

/// An echo server: each connection's bytes come back as they arrive; after its end of file,
/// a pause, `TRAILER`, and the upstream's own end of file.
fn upstream() -> SocketAddr {
    upstream_with(|mut conn| {
        let mut reader = conn.try_clone().unwrap();
        if std::io::copy(&mut reader, &mut conn).is_ok() {
            std::thread::sleep(Duration::from_millis(50));
            let _ = conn.write_all(TRAILER);
            let _ = conn.shutdown(Shutdown::Write);
        }
    })
}

/// The running proxy; killed if a test fails before it stops it.
struct Proxy {
    child: Child,
    addr: String,
}

impl Proxy {
    fn start(upstream: SocketAddr, idle_ms: u64) -> Option<Proxy> {
        let upstream = upstream.to_string();
        let idle = idle_ms.to_string();
        let (child, addr) = common::start_example(
            "async_proxy",
            &["0", &upstream, "--idle-ms", &idle],
            "listening on ",
        )?;
        Some(Proxy { child, addr })
    }

    fn connect(&self) -> TcpStream {
        let conn = TcpStream::connect(&self.addr).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        conn
    }

    /// The sockets it has open (`socket:[INODE]`, as its descriptors name them).
    fn sockets(&self) -> Vec<String> {
        let dir = format!("/proc/{}/fd", self.child.id());
        std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
            .map(|target| target.display().to_string())
            .filter(|target| target.starts_with("socket:"))
            .collect()
    }

    /// SIGTERM; returns its exit code and what it wrote on stderr.
    fn stop(mut self) -> (Option<i32>, String) {
        let pid = sys::Pid::from_u32(self.child.id()).unwrap();
        sys::kill(pid, sys::Signal::TERM).unwrap();
        let status = self.child.wait().unwrap();
        let mut err = String::new();
        let _ = self.child.stderr.take().unwrap().read_to_string(&mut err);
        (status.code(), err)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn payload(seed: u64, len: usize) -> Vec<u8> {
    let mut x = (seed + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Sends `data` from a thread of its own, then shuts the writing half; reads everything back
/// in reads of at most `chunk` bytes, sleeping `pause` after each.
fn round_trip(mut conn: TcpStream, data: Vec<u8>, chunk: usize, pause: Duration) -> Vec<u8> {
    let mut writer = conn.try_clone().unwrap();
    let w = std::thread::spawn(move || {
        for part in data.chunks(7919) {
            writer.write_all(part).expect("write");
        }
        writer.shutdown(Shutdown::Write).expect("shutdown");
    });
    let mut back = Vec::new();
    let mut buf = vec![0u8; chunk];
    loop {
        let n = conn.read(&mut buf).expect("read (timed out?)");
        if n == 0 {
            break;
        }
        back.extend_from_slice(&buf[..n]);
        std::thread::sleep(pause);
    }
    w.join().unwrap();
    back
}

fn echoed(data: &[u8]) -> Vec<u8> {
    [data, TRAILER].concat()
}

#[test]
#[cfg_attr(miri, ignore = "Miri cannot run processes")]
fn a_mebibyte_each_way_round_trips_exactly_through_a_slow_reader() {
    let Some(proxy) = Proxy::start(upstream(), NEVER_IDLE_MS) else {
        return;
    };
    let sent = payload(7, 1 << 20);
    // 4 KiB reads, a millisecond apart: slower than the writer, so every buffer on the way
    // fills and the proxy has to stop reading both ways, again and again.
    let back = round_trip(
        proxy.connect(),
        sent.clone(),
        4096,
        Duration::from_millis(1),
    );
    assert_eq!(back.len(), sent.len() + TRAILER.len());
    assert!(back == echoed(&sent), "bytes differ");
    let (code, err) = proxy.stop();
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("stopping: SIGTERM"), "{err:?}");
}

#[test]
#[cfg_attr(miri, ignore = "Miri cannot run processes")]
fn a_half_close_is_forwarded_and_the_reply_after_it_still_arrives() {
    let Some(proxy) = Proxy::start(upstream(), NEVER_IDLE_MS) else {
        return;
    };
    let mut conn = proxy.connect();
    conn.write_all(b"hello").unwrap();
    conn.shutdown(Shutdown::Write).unwrap();
    // The trailer is sent only once the upstream has read the end of file the proxy
    // forwarded, after this client had stopped writing; then the upstream's own EOF.
    let mut back = Vec::new();
    conn.read_to_end(&mut back).unwrap();
    assert_eq!(back, echoed(b"hello"));
}

#[test]
#[cfg_attr(miri, ignore = "Miri cannot run processes")]
fn an_unreachable_upstream_closes_the_client() {
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let nobody = closed.local_addr().unwrap();
    drop(closed);
    let Some(proxy) = Proxy::start(nobody, NEVER_IDLE_MS) else {
        return;
    };
    for _ in 0..3 {
        let mut conn = proxy.connect();
        let _ = conn.write_all(b"anyone there?");
        let mut buf = [0u8; 16];
        match conn.read(&mut buf) {
            Ok(0) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
            other => panic!("the client was not closed: {other:?}"),
        }
    }
    let (code, err) = proxy.stop();
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("refused"), "{err:?}");
}

#[test]
#[cfg_attr(miri, ignore = "Miri cannot run processes")]
fn sixty_four_pairs_at_once_each_closed_once_done() {
    let Some(proxy) = Proxy::start(upstream(), NEVER_IDLE_MS) else {
        return;
    };
    let listening = proxy.sockets();
    let clients: Vec<_> = (0..64)
        .map(|seed| {
            let conn = proxy.connect();
            std::thread::spawn(move || {
                let sent = payload(seed, 200_000);
                let back = round_trip(conn, sent.clone(), 65536, Duration::ZERO);
                assert!(back == echoed(&sent), "client {seed}: bytes differ");
            })
        })
        .collect();
    for c in clients {
        c.join().expect("a client failed");
    }
    // Both directions of every pair are done: each pair closes its two sockets (soon after
    // its client saw the end of file; 60 s is a hang guard).
    let since = Instant::now();
    while proxy.sockets() != listening {
        assert!(
            since.elapsed() < Duration::from_secs(60),
            "sockets open: {:?}; before the clients: {listening:?}",
            proxy.sockets()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let (code, err) = proxy.stop();
    assert_eq!(code, Some(0), "{err}");
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

// Backpressure: a client that writes and never reads fills the way back, then the way there,
// then its own writes stall; the proxy's memory does not follow what it is offered.
#[test]
#[cfg_attr(miri, ignore = "Miri cannot run processes")]
fn a_client_that_never_reads_is_held_back_and_the_proxy_stays_small() {
    const OFFERED: usize = 256 << 20;
    let Some(proxy) = Proxy::start(upstream(), NEVER_IDLE_MS) else {
        return;
    };
    let before = rss_kib(proxy.child.id());
    let mut conn = proxy.connect();
    conn.set_write_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let chunk = vec![7u8; 64 * 1024];
    let mut written = 0;
    while written < OFFERED {
        match conn.write(&chunk) {
            Ok(n) => written += n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break,
            Err(e) => panic!("write: {e}"),
        }
    }
    let after = rss_kib(proxy.child.id());
    assert!(
        written < OFFERED,
        "{written} bytes taken: nothing held the writer back"
    );
    // Built with AddressSanitizer (the sanitizer CI stage), freed memory waits in its
    // quarantine: the RSS then says nothing about what the proxy keeps.
    let exe = std::fs::read(format!("/proc/{}/exe", proxy.child.id())).unwrap_or_default();
    let sanitized = exe.windows(16).any(|w| w == b"AddressSanitizer");
    assert!(
        sanitized || after < before + 4096,
        "RSS {before} KiB before, {after} KiB after {written} bytes"
    );
    let (code, err) = proxy.stop();
    assert_eq!(code, Some(0), "{err}");
}

#[test]
#[cfg_attr(miri, ignore = "Miri cannot run processes")]
fn an_idle_pair_is_closed_never_early() {
    const IDLE: Duration = Duration::from_millis(300);
    let Some(proxy) = Proxy::start(upstream(), IDLE.as_millis() as u64) else {
        return;
    };
    let mut conn = proxy.connect();
    // The pair's last byte moves after this reading of the clock.
    let since = Instant::now();
    conn.write_all(b"ping").unwrap();
    let mut buf = [0u8; 4];
    conn.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ping");
    // Then nothing moves either way: the proxy closes the client (no end of file was sent).
    assert_eq!(conn.read(&mut buf).expect("closed, not timed out"), 0);
    assert!(
        since.elapsed() >= IDLE,
        "closed after {:?}",
        since.elapsed()
    );
    let (code, err) = proxy.stop();
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("idle for"), "{err:?}");
}

// The idle timeout is the pair's, not a direction's: a client that never writes, reading what
// the upstream trickles for twice the timeout, is not cut off.
#[test]
#[cfg_attr(miri, ignore = "Miri cannot run processes")]
fn a_pair_busy_one_way_is_not_idle() {
    const IDLE: Duration = Duration::from_secs(2);
    const GAP: Duration = Duration::from_millis(100);
    const BYTES: u8 = 40; // 4 s of trickle
    let trickle = upstream_with(|mut conn| {
        for i in 0..BYTES {
            if conn.write_all(&[i]).is_err() {
                return;
            }
            std::thread::sleep(GAP);
        }
        let _ = conn.shutdown(Shutdown::Write);
        let _ = conn.read_to_end(&mut Vec::new());
    });
    let Some(proxy) = Proxy::start(trickle, IDLE.as_millis() as u64) else {
        return;
    };
    let mut conn = proxy.connect();
    let since = Instant::now();
    let mut back = Vec::new();
    conn.read_to_end(&mut back).expect("read (timed out?)");
    assert_eq!(back, (0..BYTES).collect::<Vec<u8>>());
    assert!(since.elapsed() >= IDLE, "the test is too short to show it");
    let (code, err) = proxy.stop();
    assert_eq!(code, Some(0), "{err}");
}

// The stop drops the reactor with a pair's task parked in its reads and its sockets
// registered: a clean exit all the same.
#[test]
#[cfg_attr(miri, ignore = "Miri cannot run processes")]
fn sigterm_with_a_pair_open_exits_0() {
    let Some(proxy) = Proxy::start(upstream(), NEVER_IDLE_MS) else {
        return;
    };
    let mut conn = proxy.connect();
    conn.write_all(b"ping").unwrap();
    let mut buf = [0u8; 4];
    conn.read_exact(&mut buf).unwrap();
    let (code, err) = proxy.stop();
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("stopping: SIGTERM"), "{err:?}");
    assert!(!err.contains("panicked"), "{err:?}");
}
