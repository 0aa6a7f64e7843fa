//! What the two proxy examples' tests share (`tests/proxy.rs`, `tests/async_proxy.rs`): an
//! upstream of the test's own (std sockets, a thread per connection), the running proxy as a
//! process, and the checks both proxies must pass. Included by those two files only.
#![allow(dead_code)]

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use crate::common::payload;

/// What the upstream sends after the echo, once it has read its client's end of file.
pub const TRAILER: &[u8] = b"<upstream saw EOF>";

/// Starts a proxy in front of an upstream (`None` where the example cannot run).
pub type Start<'a> = &'a dyn Fn(SocketAddr) -> Option<Proxy>;

/// An upstream listening on 127.0.0.1 that serves each connection with `serve` on a thread
/// of its own.
pub fn upstream_with(serve: fn(TcpStream)) -> SocketAddr {
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
pub fn upstream() -> SocketAddr {
    upstream_with(|mut conn| {
        let mut reader = conn.try_clone().unwrap();
        if std::io::copy(&mut reader, &mut conn).is_ok() {
            std::thread::sleep(Duration::from_millis(50));
            let _ = conn.write_all(TRAILER);
            let _ = conn.shutdown(Shutdown::Write);
        }
    })
}

/// An address nobody listens on.
pub fn nobody() -> SocketAddr {
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    closed.local_addr().unwrap()
}

/// A proxy example, running.
pub type Proxy = crate::common::Running;

/// Example `name` (a proxy) with `args`.
pub fn start(name: &str, args: &[&str]) -> Option<Proxy> {
    Proxy::start(name, args, "listening on ")
}

/// Stops it; it must exit 0, saying why it stopped; returns what it wrote on stderr.
pub fn stop_cleanly(proxy: Proxy) -> String {
    let (code, err) = proxy.stop();
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("stopping: SIGTERM"), "{err:?}");
    assert!(!err.contains("panicked"), "{err:?}");
    err
}

/// Sends `data` from a thread of its own, then shuts the writing half; reads everything back
/// in reads of at most `chunk` bytes, sleeping `pause` after each.
pub fn round_trip(mut conn: TcpStream, data: Vec<u8>, chunk: usize, pause: Duration) -> Vec<u8> {
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

pub fn echoed(data: &[u8]) -> Vec<u8> {
    [data, TRAILER].concat()
}

/// A mebibyte each way round-trips exactly through a slow reader; SIGTERM then exits 0.
pub fn check_a_slow_reader(start: Start<'_>) {
    let Some(proxy) = start(upstream()) else {
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
    stop_cleanly(proxy);
}

/// A half-close is forwarded, and the reply after it still arrives.
pub fn check_a_half_close(start: Start<'_>) {
    let Some(proxy) = start(upstream()) else {
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

/// An unreachable upstream closes the client, and the proxy says so.
pub fn check_an_unreachable_upstream(start: Start<'_>) {
    let Some(proxy) = start(nobody()) else {
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
    let err = stop_cleanly(proxy);
    assert!(err.contains("refused"), "{err:?}");
}

/// `pairs` pairs at once, each round-tripping its own bytes; every pair closes its two
/// sockets once both directions are done.
pub fn check_pairs_at_once(start: Start<'_>, pairs: u64) {
    let Some(proxy) = start(upstream()) else {
        return;
    };
    let listening = proxy.sockets();
    let clients: Vec<_> = (0..pairs)
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
    // Soon after its client saw the end of file; 60 s is a hang guard.
    let since = Instant::now();
    while proxy.sockets() != listening {
        assert!(
            since.elapsed() < Duration::from_secs(60),
            "sockets open: {:?}; before the clients: {listening:?}",
            proxy.sockets()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    stop_cleanly(proxy);
}

/// Backpressure: a client that writes and never reads fills the way back, then the way
/// there, then its own writes stall; the proxy's memory does not follow what it is offered.
pub fn check_a_client_that_never_reads(start: Start<'_>) {
    const OFFERED: usize = 256 << 20;
    let Some(proxy) = start(upstream()) else {
        return;
    };
    let before = proxy.rss_kib();
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
    let after = proxy.rss_kib();
    assert!(
        written < OFFERED,
        "{written} bytes taken: nothing held the writer back"
    );
    assert!(
        proxy.sanitized() || after < before + 4096,
        "RSS {before} KiB before, {after} KiB after {written} bytes"
    );
    stop_cleanly(proxy);
}

/// Small requests, one at a time, through example `name` (a proxy, started with `args` and
/// then its upstream's address) run under `strace`: every request's read is answered by the
/// one read that takes it, never followed by one that sees `EAGAIN` (a syscall per request
/// for nothing: a short read took all the socket held, and more bytes are reported anew).
/// Skipped where `strace` cannot run or trace.
pub fn check_small_requests_make_no_reads_for_nothing(name: &str, args: &[&str]) {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    const REQUESTS: usize = 200;
    if !cfg!(target_arch = "x86_64") {
        println!("skipped: strace runs on x86_64 only here (aarch64 runs under qemu-user)");
        return;
    }
    let Some(bin) = crate::common::example_binary(name) else {
        return;
    };
    let out = std::env::temp_dir().join(format!("barepoll-{name}-{}.strace", std::process::id()));
    let upstream = upstream().to_string();
    let traced = Command::new("strace")
        .args(["-f", "-qq", "-e", "trace=read,recvfrom,recvmsg", "-o"])
        .arg(&out)
        .arg(bin)
        .args(args)
        .arg(&upstream)
        // LeakSanitizer cannot run under ptrace (the AddressSanitizer build of the example).
        .env("ASAN_OPTIONS", "detect_leaks=0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut strace = match traced {
        Err(e) => {
            println!("skipped: strace cannot run ({e}); `apt-get install strace`");
            return;
        }
        Ok(child) => child,
    };
    let mut line = String::new();
    let _ = BufReader::new(strace.stdout.take().unwrap()).read_line(&mut line);
    let Some(addr) = line.trim().strip_prefix("listening on ") else {
        let _ = strace.kill();
        let mut err = String::new();
        let _ = strace.stderr.take().unwrap().read_to_string(&mut err);
        let _ = strace.wait();
        let _ = std::fs::remove_file(&out);
        println!("skipped: strace may not trace here: {line:?} {err}");
        return;
    };
    let mut conn = TcpStream::connect(addr).unwrap();
    conn.set_nodelay(true).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let request = [b'x'; 100];
    let mut reply = [0u8; 100];
    for _ in 0..REQUESTS {
        conn.write_all(&request).unwrap();
        conn.read_exact(&mut reply).expect("the reply (timed out?)");
        assert_eq!(reply, request);
    }
    drop(conn);
    // The proxy is strace's child; SIGTERM it, and strace ends with it.
    let children = format!("/proc/{0}/task/{0}/children", strace.id());
    let proxy = std::fs::read_to_string(children).unwrap();
    let proxy: u32 = proxy.split_whitespace().next().unwrap().parse().unwrap();
    let pid = barepoll::sys::Pid::from_u32(proxy).unwrap();
    barepoll::sys::kill(pid, barepoll::sys::Signal::TERM).unwrap();
    let _ = strace.wait();
    let trace = std::fs::read_to_string(&out).unwrap_or_default();
    let _ = std::fs::remove_file(&out);
    let reads = trace.lines().filter(|l| l.contains(" = 100")).count();
    let for_nothing = trace.lines().filter(|l| l.contains("EAGAIN")).count();
    // Each request is read twice (from the client, then its echo from the upstream).
    assert!(
        reads >= 2 * REQUESTS,
        "strace saw {reads} reads of a request: {trace}"
    );
    assert!(
        for_nothing <= REQUESTS / 10,
        "{for_nothing} reads saw EAGAIN for {REQUESTS} requests"
    );
}
