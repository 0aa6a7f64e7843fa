//! The servers under test as processes: barepoll's examples built from the repo, and each peer
//! (this binary re-executed as `echo serve PEER 0`). Each runs pinned to its CPU, announces its
//! address on stdout, is watched through `/proc/PID/stat`, and is stopped with SIGTERM (SIGKILL
//! after a second); dropping a `Running` that was not stopped kills it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How a server's process is started.
pub enum Launch {
    /// One of barepoll's examples, built from the repo root as a user builds it and run as
    /// `EXAMPLE 0`; its first line is `announces` followed by its address.
    Example {
        name: &'static str,
        features: &'static [&'static str],
        announces: &'static str,
    },
    /// A peer of this binary, run as `echo serve PEER 0`.
    Peer(&'static str),
}

pub struct Server {
    pub launch: Launch,
    pub label: &'static str,
}

/// What the peers print before their address (`peers::serve`), as barepoll's echo_server does.
const PEER_ANNOUNCES: &str = "echo server listening on ";

pub const SERVERS: [Server; 8] = [
    Server {
        launch: Launch::Example {
            name: "echo_server",
            features: &[],
            announces: "echo server listening on ",
        },
        label: "barepoll `examples/echo_server`",
    },
    Server {
        launch: Launch::Example {
            name: "async_echo",
            features: &["tasks"],
            announces: "async echo listening on ",
        },
        label: "barepoll `examples/async_echo`",
    },
    Server {
        launch: Launch::Peer("mio"),
        label: "mio 1 + slab",
    },
    Server {
        launch: Launch::Peer("tokio"),
        label: "tokio 1 current-thread",
    },
    Server {
        launch: Launch::Peer("tokio-idle"),
        label: "tokio 1 current-thread + idle timeout",
    },
    Server {
        launch: Launch::Peer("calloop"),
        label: "calloop 0.14",
    },
    Server {
        launch: Launch::Peer("polling"),
        label: "polling 3 (level) + slab",
    },
    Server {
        launch: Launch::Peer("eventp"),
        label: "eventp 1",
    },
];

/// Builds every example that `SERVERS` names; returns, per server, its executable (`None` for
/// the peers).
pub fn build_examples() -> Vec<Option<PathBuf>> {
    SERVERS
        .iter()
        .map(|server| match server.launch {
            Launch::Example { name, features, .. } => Some(build_example(name, features)),
            Launch::Peer(_) => None,
        })
        .collect()
}

/// Builds example `name` with `features` as a user would, from the repo root
/// (`cargo build --release --example NAME [--features F]`), and returns its path.
fn build_example(name: &str, features: &[&str]) -> PathBuf {
    let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut args = vec!["build", "--release", "--example", name];
    let joined = features.join(",");
    if !features.is_empty() {
        args.extend(["--features", &joined]);
    }
    eprintln!("building: cargo {} (in the repo root)", args.join(" "));
    let out = Command::new(cargo)
        .current_dir(root)
        .args(&args)
        .arg("--message-format=json-render-diagnostics")
        .stderr(Stdio::inherit())
        .output()
        .expect("run cargo");
    assert!(out.status.success(), "building the example {name} failed");
    // The compiler-artifact message of the example names its executable.
    let json = String::from_utf8_lossy(&out.stdout);
    let kind = r#""kind":["example"]"#;
    let named = format!(r#""name":"{name}""#);
    let path = json
        .lines()
        .filter(|l| l.contains(kind) && l.contains(&named))
        .find_map(|l| {
            let start = l.find(r#""executable":""#)? + r#""executable":""#.len();
            let len = l[start..].find('"')?;
            Some(PathBuf::from(&l[start..start + len]))
        })
        .unwrap_or_else(|| panic!("cargo did not name the executable of example {name}"));
    assert!(path.is_file(), "{} is not a file", path.display());
    path
}

pub struct Running {
    child: Child,
    pub addr: SocketAddr,
    label: &'static str,
    stopped: bool,
}

impl Running {
    /// Starts `server` (an example from `executable`) pinned to `cpu`, and waits for its
    /// address.
    pub fn start(server: &Server, executable: Option<&Path>, cpu: Option<usize>) -> Running {
        Running::start_under(server, executable, cpu, &[])
    }

    /// As [`start`](Running::start), the server run by the command `under` (a tool and its
    /// options, such as valgrind's) if it is not empty.
    pub fn start_under(
        server: &Server,
        executable: Option<&Path>,
        cpu: Option<usize>,
        under: &[String],
    ) -> Running {
        let (program, args, announces): (PathBuf, Vec<&str>, _) = match server.launch {
            Launch::Example { announces, .. } => {
                let path = executable.expect("the example's executable");
                (path.to_path_buf(), vec![], announces)
            }
            Launch::Peer(id) => {
                let exe = std::env::current_exe().expect("current_exe");
                (exe, vec!["serve", id], PEER_ANNOUNCES)
            }
        };
        let mut cmd = match under.split_first() {
            Some((tool, options)) => {
                let mut cmd = Command::new(tool);
                cmd.args(options).arg(program);
                cmd
            }
            None => Command::new(program),
        };
        cmd.args(args);
        cmd.arg("0").stdin(Stdio::null()).stdout(Stdio::piped());
        if let Some(cpu) = cpu {
            let set = cpu_set(cpu);
            // SAFETY: between fork and exec the closure only makes one syscall on a set that
            // was built before the fork.
            unsafe {
                cmd.pre_exec(move || {
                    if libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) == 0 {
                        Ok(())
                    } else {
                        Err(std::io::Error::last_os_error())
                    }
                })
            };
        }
        let mut child = cmd.spawn().expect("spawn server");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut out = BufReader::new(stdout);
            let mut first = String::new();
            let _ = out.read_line(&mut first);
            let _ = tx.send(first);
            // Whatever else the server prints goes on to stderr, so its pipe never fills.
            let mut rest = Vec::new();
            let _ = out.read_to_end(&mut rest);
            let _ = std::io::stderr().write_all(&rest);
        });
        let mut running = Running {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            label: server.label,
            stopped: false,
        };
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("{}: no address line within 60 s", server.label));
        let addr = line
            .trim()
            .strip_prefix(announces)
            .and_then(|a| a.parse::<SocketAddr>().ok())
            .unwrap_or_else(|| panic!("{}: unexpected first line {line:?}", server.label));
        assert!(
            addr.ip().is_loopback(),
            "{}: listens on {addr}",
            server.label
        );
        running.addr = addr;
        running
    }

    /// Seconds of CPU (user + system) the server has used: `/proc/PID/stat` utime + stime.
    pub fn cpu_seconds(&self) -> f64 {
        let path = format!("/proc/{}/stat", self.child.id());
        let stat = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        // Fields after the command name, which ends with the last ')': state is field 3.
        let fields: Vec<&str> = stat[stat.rfind(')').expect("stat") + 1..]
            .split_whitespace()
            .collect();
        let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        ticks as f64 / clock_ticks()
    }

    /// The server's process id (the tool's, if it runs under one: valgrind runs the program
    /// in its own process).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Panics if the server has exited.
    pub fn check_alive(&mut self) {
        if let Some(status) = self.child.try_wait().expect("try_wait") {
            self.stopped = true;
            panic!("{} exited during the run: {status}", self.label);
        }
    }

    /// SIGTERM, then SIGKILL if it has not exited within a second.
    pub fn stop(mut self) {
        self.check_alive();
        self.stopped = true;
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: kill only sends a signal; the child is not yet reaped, so the pid is ours.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(1);
        while Instant::now() < deadline {
            if self.child.try_wait().expect("try_wait").is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        eprintln!(
            "{}: still running a second after SIGTERM; SIGKILL",
            self.label
        );
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if !self.stopped {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Busy seconds (user, nice, system, irq, softirq, and steal: time the hypervisor ran something
/// else) of CPUs `cpus`, or of all CPUs, from `/proc/stat`; and how many CPUs that covers.
pub fn busy_seconds(cpus: Option<(usize, usize)>) -> (f64, usize) {
    let stat = std::fs::read_to_string("/proc/stat").expect("/proc/stat");
    let names: Vec<String> = match cpus {
        Some((a, b)) => vec![format!("cpu{a}"), format!("cpu{b}")],
        None => vec!["cpu".to_string()],
    };
    let mut ticks = 0u64;
    for line in stat.lines() {
        let mut fields = line.split_whitespace();
        if !names.iter().any(|n| Some(n.as_str()) == fields.next()) {
            continue;
        }
        let v: Vec<u64> = fields.map(|f| f.parse().unwrap_or(0)).collect();
        // user nice system idle iowait irq softirq steal
        ticks += v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
    }
    let count = match cpus {
        Some(_) => 2,
        None => stat
            .lines()
            .filter(|l| l.starts_with("cpu") && !l.starts_with("cpu "))
            .count(),
    };
    (ticks as f64 / clock_ticks(), count)
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf only reads a configuration value.
    unsafe { libc::sysconf(libc::_SC_CLK_TCK) as f64 }
}

fn cpu_set(cpu: usize) -> libc::cpu_set_t {
    // SAFETY: cpu_set_t is a plain bit array; all zeros is the empty set, and CPU_SET only
    // sets a bit of it (cpu 0 or 1 here, well inside the set).
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        set
    }
}

/// The CPUs for the server and the load generator, if this process may run on CPUs 0 and 1.
pub fn cpus() -> Option<(usize, usize)> {
    // SAFETY: as in `cpu_set`; sched_getaffinity writes at most the set's size, and CPU_ISSET
    // only reads a bit inside it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        let r = libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set);
        (r == 0 && libc::CPU_ISSET(0, &set) && libc::CPU_ISSET(1, &set)).then_some((0, 1))
    }
}

/// Pins the calling thread, and what it starts later, to `cpu`.
pub fn pin_self(cpu: usize) {
    let set = cpu_set(cpu);
    // SAFETY: sched_setaffinity only reads the set.
    let r = unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) };
    assert_eq!(
        r,
        0,
        "sched_setaffinity: {}",
        std::io::Error::last_os_error()
    );
}
