//! Which wait syscall each variant makes, as `strace -f -c` counts it: natively (every
//! syscall traced, so the ones each wait brings along show too) and under callgrind (waits
//! only), for the dispatch N=1 child. Without strace every answer is "unknown". And the
//! `write` syscalls of one thread, from the kernel's task I/O accounting.

use std::path::Path;
use std::process::Command;

/// The epoll wait syscalls.
pub const WAITS: [&str; 3] = ["epoll_wait", "epoll_pwait", "epoll_pwait2"];

/// Calls per syscall in one traced run: (name, calls, of which failed).
#[derive(Clone, Debug, Default)]
pub struct Trace {
    pub calls: Vec<(String, u64, u64)>,
}

/// strace's version line, if strace runs.
pub fn strace() -> Option<String> {
    let out = Command::new("strace").arg("-V").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    out.status
        .success()
        .then(|| text.lines().next().unwrap_or("strace").trim().to_string())
}

/// `cmd` under `strace -f -c`, its summary written to `out`; only the waits if `waits_only`.
pub fn traced(cmd: &Command, out: &Path, waits_only: bool) -> Command {
    let mut traced = Command::new("strace");
    traced.args(["-f", "-c", "-o"]).arg(out);
    if waits_only {
        traced
            .args(["--seccomp-bpf", "-e"])
            .arg(format!("trace={}", WAITS.join(",")));
    }
    traced.arg(cmd.get_program()).args(cmd.get_args());
    traced
}

/// Reads a `strace -c` summary.
pub fn parse(path: &Path) -> Result<Trace, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let mut calls = Vec::new();
    for line in text.lines() {
        let t: Vec<&str> = line.split_whitespace().collect();
        let (Some(&name), Some(Ok(n))) = (t.last(), t.get(3).map(|n| n.parse::<u64>())) else {
            continue;
        };
        if !(5..=6).contains(&t.len()) || name == "total" || name == "syscall" {
            continue;
        }
        let errors = if t.len() == 6 {
            t[4].parse::<u64>().unwrap_or(0)
        } else {
            0
        };
        calls.push((name.to_string(), n, errors));
    }
    Ok(Trace { calls })
}

impl Trace {
    /// The wait syscall that succeeded most often, and how often it was made.
    pub fn wait(&self) -> Option<(&str, u64)> {
        self.calls
            .iter()
            .filter(|(name, n, failed)| WAITS.contains(&name.as_str()) && n > failed)
            .max_by_key(|(_, n, failed)| n - failed)
            .map(|(name, n, _)| (name.as_str(), *n))
    }

    /// Other syscalls made about as often as the wait (at least 90% as often, failed ones
    /// included), with how many per wait: the ones every wait brings along.
    pub fn every_wait(&self) -> Vec<String> {
        let Some((wait, n)) = self.wait() else {
            return Vec::new();
        };
        self.calls
            .iter()
            .filter(|(name, m, _)| name != wait && *m * 10 >= n * 9)
            .map(|(name, m, _)| match (*m as f64 / n as f64).round() {
                1.0 => name.clone(),
                k => format!("{k}× {name}"),
            })
            .collect()
    }
}

/// Both traces of one variant.
#[derive(Clone, Debug, Default)]
pub struct Waits {
    pub native: Option<Trace>,
    pub callgrind: Option<Trace>,
}

/// `write`-type syscalls this thread has made so far (`syscw` in `/proc/thread-self/io`), if
/// the kernel keeps task I/O accounting. Reading it is a `read`: it does not count itself.
pub fn thread_writes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/io").ok()?;
    let line = text.lines().find_map(|l| l.strip_prefix("syscw:"))?;
    line.trim().parse().ok()
}
