//! The chat room with many clients: how long one line takes to reach every other client, how
//! much CPU the server spends on it, and how much memory the server holds per client.
//!
//! ```text
//! cargo run --release --manifest-path benches/Cargo.toml --bin chat -- [CLIENTS] [ROUNDS]
//! ```
//!
//! Builds `examples/chat` as a user would (`cargo build --release --example chat`), starts it
//! (its fd limit raised to the hard limit, which it inherits), and connects CLIENTS (default
//! 10,000) clients from this process over 127.0.0.1. Memory per client is the growth of the
//! server's resident set (`VmRSS`, user space: kernel socket buffers are not in it) from
//! before the first client to after the last, divided by CLIENTS. Then, ROUNDS times (default
//! 5), one client sends a line and the others read it in turn: the time is from the send to
//! the last client's read, the CPU is the server's `utime + stime` over that span. The
//! server is stopped with SIGTERM and must exit 0.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn main() {
    let mut args = std::env::args().skip(1);
    let clients: usize = args.next().map_or(10_000, |a| a.parse().expect("CLIENTS"));
    let rounds: usize = args.next().map_or(5, |a| a.parse().expect("ROUNDS"));
    assert!(clients >= 2, "a broadcast needs two clients");
    let fit = barepoll_benches::setup::raise_fd_limit(clients as u64);
    if fit < clients as u64 {
        eprintln!("skipped: {clients} clients do not fit this fd limit ({fit} do)");
        return;
    }
    let program = build_example();
    let (mut server, addr) = start(&program);
    let pid = server.id();
    let rss_before = rss_kib(pid);
    let base = open_fds(pid);
    let started = Instant::now();
    let mut members = Vec::with_capacity(clients);
    // In steps no larger than the listener's backlog (128 for std's `bind`): a full backlog
    // drops SYNs, and the kernel's retry a second later would be what is measured.
    while members.len() < clients {
        let step = (clients - members.len()).min(100);
        for _ in 0..step {
            let i = members.len();
            let m = TcpStream::connect(addr).unwrap_or_else(|e| panic!("client {i}: {e}"));
            m.set_nodelay(true).expect("TCP_NODELAY");
            members.push(m);
        }
        wait_until_joined(pid, base + members.len());
    }
    let joined = started.elapsed();
    let rss_after = rss_kib(pid);
    let per_client = (rss_after.saturating_sub(rss_before) * 1024) as f64 / clients as f64;
    println!(
        "{clients} clients joined in {:.0} ms; server resident set {rss_before} KiB -> \
         {rss_after} KiB: {per_client:.0} bytes per client",
        joined.as_secs_f64() * 1e3
    );
    let mut times = Vec::new();
    let mut cpus = Vec::new();
    for round in 0..rounds {
        let line = format!("round {round}\n");
        let cpu_before = cpu_ticks(pid);
        let sent = Instant::now();
        members[0].write_all(line.as_bytes()).expect("send");
        for (i, m) in members.iter_mut().enumerate().skip(1) {
            read_line(m, &line).unwrap_or_else(|e| panic!("client {i}, round {round}: {e}"));
        }
        times.push(sent.elapsed());
        cpus.push(cpu_ticks(pid) - cpu_before);
    }
    times.sort();
    cpus.sort();
    let tick_ms = 1e3 / ticks_per_second() as f64;
    println!(
        "a line to {} clients: median {:.1} ms from the send to the last read (min {:.1}, max \
         {:.1}); server CPU median {:.0} ms ({} rounds; load average {})",
        clients - 1,
        times[rounds / 2].as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3,
        times[rounds - 1].as_secs_f64() * 1e3,
        cpus[rounds / 2] as f64 * tick_ms,
        rounds,
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .next()
            .unwrap_or("?"),
    );
    stop(&mut server);
    drop(members);
}

/// Builds the example from the repository root, release profile.
fn build_example() -> PathBuf {
    let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(root)
        .args(["build", "--release", "--example", "chat"])
        .status()
        .expect("cargo");
    assert!(status.success(), "building the chat example failed");
    root.join("target/release/examples/chat")
}

/// Starts the server (no idle timeout within the run) and reads its address.
fn start(program: &Path) -> (Child, SocketAddr) {
    let mut child = Command::new(program)
        .args(["0", "--idle-ms", "600000"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the chat example");
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("piped"))
        .read_line(&mut first)
        .expect("its first line");
    let addr = first
        .trim()
        .strip_prefix("listening on ")
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line: {first:?}"));
    (child, addr)
}

/// Waits until the server holds `fds` descriptors (one per client accepted, beyond those it
/// had before the first).
fn wait_until_joined(pid: u32, fds: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let now = open_fds(pid);
        if now >= fds {
            return;
        }
        assert!(Instant::now() < deadline, "{now} of {fds} fds after 60 s");
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// Reads one line (the server prefixes the sender's name) and checks it ends with `sent`.
fn read_line(stream: &mut TcpStream, sent: &str) -> std::io::Result<()> {
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    while got.last() != Some(&b'\n') {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Err(std::io::Error::other("closed"));
        }
        got.extend_from_slice(&buf[..n]);
    }
    if !got.ends_with(sent.trim_end().as_bytes()) && !got.ends_with(sent.as_bytes()) {
        return Err(std::io::Error::other(format!(
            "not the line sent: {:?}",
            String::from_utf8_lossy(&got)
        )));
    }
    Ok(())
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmRSS")
}

/// The server's user + system CPU time, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let rest = &stat[stat.rfind(')').expect("comm") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime")
}

/// `USER_HZ`, the unit of `/proc/PID/stat`'s times: 100 in the kernel's ABI on x86_64 and
/// aarch64.
fn ticks_per_second() -> i64 {
    100
}

/// SIGTERM, then the exit status: the example exits 0 once it has told every client.
fn stop(server: &mut Child) {
    let pid = barepoll::sys::Pid::from_u32(server.id()).expect("a pid");
    barepoll::sys::kill(pid, barepoll::sys::Signal::TERM).expect("SIGTERM");
    let status = server.wait().expect("wait");
    assert!(status.success(), "the chat example ended {status}");
}
