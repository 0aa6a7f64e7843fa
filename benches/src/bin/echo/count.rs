//! `echo --count`: instructions per round trip of each server, counted by callgrind. Each
//! server runs under `valgrind --tool=callgrind`; 16 connections ping-pong 64 bytes in
//! lockstep (all 16 send, then all 16 replies are read, then the next round), so that every
//! read after an echo finds nothing and parks: the cost of a round trip with a wait in it.
//! After [`WARM`] rounds the counters are zeroed (`callgrind_control -z`), [`ROUNDS`] rounds
//! are counted, and the counts dumped (`callgrind_control -d`). Valgrind has no vDSO: a clock
//! reading is a syscall there, and so counts as no user instructions.

use crate::servers::{Running, SERVERS};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;

const CONNS: usize = 16;
const WARM: usize = 200;
const ROUNDS: usize = 2000;

/// Counts every server; prints a table.
pub fn count(examples: &[Option<PathBuf>]) {
    let dir = std::env::temp_dir().join(format!("barepoll-echo-count-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a directory for callgrind's output");
    println!(
        "| server | instructions per round trip (16 connections in lockstep, {} round trips) |",
        CONNS * ROUNDS
    );
    println!("|---|---:|");
    for (server, executable) in SERVERS.iter().zip(examples) {
        let out = dir.join("cg.%p");
        let under = [
            "valgrind".to_string(),
            "--tool=callgrind".to_string(),
            format!("--callgrind-out-file={}", out.display()),
        ];
        let running = Running::start_under(server, executable.as_deref(), None, &under);
        let pid = running.pid();
        let mut conns: Vec<TcpStream> = (0..CONNS)
            .map(|_| {
                let s = TcpStream::connect(running.addr).expect("connect");
                s.set_nodelay(true).expect("nodelay");
                s
            })
            .collect();
        lockstep(&mut conns, WARM);
        control("-z", pid);
        lockstep(&mut conns, ROUNDS);
        control("-d", pid);
        drop(conns);
        running.stop();
        let total = read_total(&dir.join(format!("cg.{pid}.1")));
        let per = total as f64 / (CONNS * ROUNDS) as f64;
        println!("| {} | {per:.0} |", server.label);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `rounds` rounds: every connection sends its message, then every reply is read and checked.
fn lockstep(conns: &mut [TcpStream], rounds: usize) {
    let msgs: Vec<[u8; 64]> = (0..conns.len())
        .map(|i| std::array::from_fn(|k| (i * 7 + k) as u8))
        .collect();
    let mut got = [0u8; 64];
    for _ in 0..rounds {
        for (c, m) in conns.iter_mut().zip(&msgs) {
            c.write_all(m).expect("send");
        }
        for (c, m) in conns.iter_mut().zip(&msgs) {
            c.read_exact(&mut got).expect("echo");
            assert_eq!(&got, m, "a wrong echo");
        }
    }
}

fn control(what: &str, pid: u32) {
    let status = Command::new("callgrind_control")
        .args([what, &pid.to_string()])
        .stdout(std::process::Stdio::null())
        .status()
        .expect("run callgrind_control (valgrind installed?)");
    assert!(status.success(), "callgrind_control {what} {pid} failed");
}

/// The `totals:` line of a callgrind dump.
fn read_total(path: &Path) -> u64 {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .find_map(|l| l.strip_prefix("totals:"))
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or_else(|| panic!("{}: no totals line", path.display()))
}
