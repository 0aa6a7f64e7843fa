//! The processes of a run: the nginx backend and the proxies under test, each started through
//! `taskset -c CPU` (which execs, so the pid is the server's), its stderr in a file of the
//! scratch directory. Watches their CPU time in `/proc` (the process and its live children:
//! nginx's worker does nginx's work) and stops them with SIGTERM (SIGKILL to what is left after
//! two seconds). Never reads or judges the traffic; `check.rs` does.

use crate::setup::Scratch;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long every server has to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// How a started server makes its address known.
pub enum Ready {
    /// Its first stdout line is `listening on ADDR`.
    Announces,
    /// It listens on this port of 127.0.0.1 once it accepts a connection.
    Listens(u16),
}

pub struct Running {
    child: Child,
    pub addr: SocketAddr,
    label: String,
    stopped: bool,
}

/// `taskset -c CPU PROGRAM ARGS...` (or the program alone without a CPU), stderr to `log`.
pub fn command(cpu: Option<usize>, program: &PathBuf, scratch: &Scratch, log: &str) -> Command {
    let mut cmd = match cpu {
        Some(cpu) => {
            let mut cmd = Command::new("taskset");
            cmd.arg("-c").arg(cpu.to_string()).arg(program);
            cmd
        }
        None => Command::new(program),
    };
    let stderr = std::fs::File::create(scratch.path(log)).expect("create a log file");
    cmd.stdin(Stdio::null()).stderr(stderr);
    cmd
}

impl Running {
    /// Spawns `cmd` and waits until it serves; on failure, says why (with its stderr's tail).
    pub fn start(
        mut cmd: Command,
        ready: Ready,
        label: &str,
        scratch: &Scratch,
        log: &str,
    ) -> Result<Running, String> {
        cmd.stdout(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| format!("{label}: spawn: {e}"))?;
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut out = BufReader::new(stdout);
            let mut first = String::new();
            let _ = out.read_line(&mut first);
            let _ = tx.send(first);
            // Whatever else it prints goes on to stderr, so its pipe never fills.
            let mut rest = Vec::new();
            let _ = out.read_to_end(&mut rest);
            let _ = std::io::stderr().write_all(&rest);
        });
        let mut running = Running {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            label: label.to_string(),
            stopped: false,
        };
        let failed = |running: &mut Running, why: String| {
            running.kill_all();
            Err(format!("{label}: {why}; stderr: {}", scratch.tail(log)))
        };
        let deadline = Instant::now() + START_TIMEOUT;
        match ready {
            Ready::Announces => {
                let line = match rx.recv_timeout(START_TIMEOUT) {
                    Ok(line) => line,
                    Err(_) => return failed(&mut running, "no address line in 10 s".into()),
                };
                let Some(addr) = line
                    .trim()
                    .strip_prefix("listening on ")
                    .and_then(|a| a.parse::<SocketAddr>().ok())
                else {
                    return failed(&mut running, format!("first line {line:?}"));
                };
                // What it listens on, reached over loopback as every other proxy is.
                running.addr = SocketAddr::from(([127, 0, 0, 1], addr.port()));
            }
            Ready::Listens(port) => {
                running.addr = SocketAddr::from(([127, 0, 0, 1], port));
                while TcpStream::connect(running.addr).is_err() {
                    if let Ok(Some(status)) = running.child.try_wait() {
                        return failed(&mut running, format!("exited: {status}"));
                    }
                    if Instant::now() > deadline {
                        return failed(&mut running, "not listening after 10 s".into());
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
        Ok(running)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU seconds (user + system) of the process and its live children.
    pub fn cpu_seconds(&self) -> f64 {
        let pid = self.pid();
        let mut ticks = 0;
        for stat in proc_stats() {
            if stat.pid == pid || stat.ppid == pid {
                ticks += stat.ticks;
            }
        }
        ticks as f64 / clock_ticks()
    }

    /// None while it runs, or how it ended.
    pub fn exited(&mut self) -> Option<String> {
        let status = self.child.try_wait().expect("try_wait")?;
        self.stopped = true;
        Some(format!("{} exited: {status}", self.label))
    }

    /// SIGTERM, then SIGKILL to it and its children if any is left after two seconds.
    pub fn stop(mut self) {
        if self.exited().is_some() {
            return;
        }
        let children = self.children();
        signal("-TERM", self.pid());
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            if self.child.try_wait().expect("try_wait").is_some() {
                self.stopped = true;
                if children.iter().all(|&c| !alive(c)) {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        eprintln!("{}: still running 2 s after SIGTERM; SIGKILL", self.label);
        self.kill_all();
    }

    fn children(&self) -> Vec<u32> {
        let pid = self.pid();
        proc_stats()
            .filter(|s| s.ppid == pid)
            .map(|s| s.pid)
            .collect()
    }

    fn kill_all(&mut self) {
        for child in self.children() {
            signal("-KILL", child);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.stopped = true;
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if !self.stopped {
            self.kill_all();
        }
    }
}

/// Seconds CPU `cpu` has spent since boot, from `/proc/stat`: in processes (user, nice,
/// system), in interrupts (irq, softirq: loopback TCP delivers much of its traffic there), and
/// stolen (the hypervisor running something else).
pub fn cpu_time(cpu: usize) -> [f64; 3] {
    let stat = std::fs::read_to_string("/proc/stat").expect("/proc/stat");
    let name = format!("cpu{cpu}");
    let v: Vec<u64> = stat
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name.as_str()))
        .map(|l| {
            l.split_whitespace()
                .skip(1)
                .map(|f| f.parse().unwrap_or(0))
                .collect()
        })
        .unwrap_or_default();
    let get = |i: usize| v.get(i).copied().unwrap_or(0) as f64 / clock_ticks();
    // user nice system idle iowait irq softirq steal
    [get(0) + get(1) + get(2), get(5) + get(6), get(7)]
}

fn signal(sig: &str, pid: u32) {
    let _ = Command::new("kill")
        .arg(sig)
        .arg(pid.to_string())
        .stderr(Stdio::null())
        .status();
}

fn alive(pid: u32) -> bool {
    // A zombie has exited: it only waits for its parent.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| parse_stat(&s))
        .is_some_and(|s| s.state != 'Z')
}

struct Stat {
    pid: u32,
    ppid: u32,
    state: char,
    /// utime + stime, in clock ticks.
    ticks: u64,
}

fn parse_stat(stat: &str) -> Option<Stat> {
    let pid = stat.split_whitespace().next()?.parse().ok()?;
    // Fields after the command name, which ends with the last ')': state is field 3.
    let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    Some(Stat {
        pid,
        state: fields.first()?.chars().next()?,
        ppid: fields.get(1)?.parse().ok()?,
        ticks: fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?,
    })
}

fn proc_stats() -> impl Iterator<Item = Stat> {
    std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(|e| {
            let name = e.ok()?.file_name();
            name.to_str()?.parse::<u32>().ok()
        })
        .filter_map(|pid| parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?))
}

fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        let out = Command::new("getconf").arg("CLK_TCK").output();
        out.ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}
