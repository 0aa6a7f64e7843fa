//! The machine line: CPU, kernel, tools, the peers' exact versions, and the load average at
//! the start of the run (wall-time figures are flagged as noisy above [`QUIET_LOAD`]).

use std::process::Command;

/// The 1-minute load average above which wall times are flagged as noisy.
pub const QUIET_LOAD: f64 = 0.5;

/// The first line of `tool --version`, if the tool runs.
pub fn version(tool: &str) -> Option<String> {
    let out = Command::new(tool).arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    out.status
        .success()
        .then(|| text.lines().next().unwrap_or("").trim().to_string())
}

/// `/proc/loadavg`'s three figures, as written there.
pub fn loadavg() -> (f64, String) {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let three: Vec<&str> = text.split_whitespace().take(3).collect();
    let one = three
        .first()
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN);
    (one, three.join(" "))
}

/// The versions of the peers this binary was built with, from the lock file.
pub fn peers() -> String {
    const LOCK: &str = include_str!("../Cargo.lock");
    let mut found = Vec::new();
    let mut name = "";
    for line in LOCK.lines() {
        if let Some(n) = line.strip_prefix("name = ") {
            name = n.trim_matches('"');
        } else if let Some(v) = line.strip_prefix("version = ") {
            if ["mio", "polling", "eventp", "event-manager", "calloop"].contains(&name) {
                found.push(format!("{name} {}", v.trim_matches('"')));
            }
        }
    }
    found.join(", ")
}

pub fn describe(valgrind: Option<&str>, strace: Option<&str>, load: &str) -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")?
                .split_once(':')
                .map(|p| p.1.trim())
        })
        .unwrap_or("unknown CPU");
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let rustc = version("rustc").unwrap_or_else(|| "rustc unknown".into());
    format!(
        "{cpu}, {cores} cores, Linux {}, {rustc}, {}, {}; load average at start {load}; {}",
        kernel.trim(),
        valgrind.unwrap_or("no valgrind"),
        strace.unwrap_or("no strace"),
        peers()
    )
}
