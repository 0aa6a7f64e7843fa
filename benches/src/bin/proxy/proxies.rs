//! The proxies under test and the backend behind them: how each is found or built, configured
//! and started, as its users run it. Every proxy is one single-threaded process pinned to the
//! proxy CPU, in front of the same backend on 127.0.0.1.

use crate::procs::{command, Ready, Running};
use crate::setup::{self, Scratch};
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Clone, Copy, PartialEq)]
pub enum Kind {
    Haproxy,
    /// HAProxy moving bulk transfers through a kernel pipe (`option splice-auto`), as
    /// `examples/proxy` does.
    HaproxySplice,
    NginxStream,
    Tokio,
    Barepoll,
    /// The same proxy written as tasks (`barepoll::task`).
    BarepollTasks,
}

pub struct Proxy {
    pub kind: Kind,
    pub label: String,
    /// The program to run, or why this proxy is left out.
    pub program: Result<PathBuf, String>,
    /// nginx's stream module.
    module: Option<PathBuf>,
}

/// Finds or builds every proxy; the ones that cannot run carry the reason.
pub fn all() -> Vec<Proxy> {
    let haproxy = which("haproxy");
    let nginx = which("nginx");
    let module = setup::stream_module();
    let stream = match (&nginx, &module) {
        (Ok(nginx), Some(_)) => Ok(nginx.clone()),
        (Err(e), _) => Err(e.clone()),
        (_, None) => Err("the stream module is not installed (apt libnginx-mod-stream)".into()),
    };
    vec![
        Proxy {
            kind: Kind::Haproxy,
            label: format!(
                "HAProxy {} (mode tcp)",
                version("haproxy", &["-v"], "version ")
            ),
            program: haproxy.clone(),
            module: None,
        },
        Proxy {
            kind: Kind::HaproxySplice,
            label: format!(
                "HAProxy {} (mode tcp, splice-auto)",
                version("haproxy", &["-v"], "version ")
            ),
            program: haproxy,
            module: None,
        },
        Proxy {
            kind: Kind::NginxStream,
            label: format!("nginx {} stream", version("nginx", &["-v"], "nginx/")),
            program: stream,
            module,
        },
        Proxy {
            kind: Kind::Tokio,
            label: format!("tokio {} current-thread", crate_version("tokio")),
            program: std::env::current_exe().map_err(|e| e.to_string()),
            module: None,
        },
        Proxy {
            kind: Kind::Barepoll,
            label: "barepoll `examples/proxy`".into(),
            program: build_example("proxy", &[]),
            module: None,
        },
        Proxy {
            kind: Kind::BarepollTasks,
            label: "barepoll `examples/async_proxy`".into(),
            program: build_example("async_proxy", &["--features", "tasks"]),
            module: None,
        },
    ]
}

impl Proxy {
    /// Starts it pinned to `cpu`, in front of the backend on `backend`.
    pub fn start(
        &self,
        scratch: &Scratch,
        backend: u16,
        cpu: Option<usize>,
    ) -> Result<Running, String> {
        let program = self.program.as_ref().map_err(Clone::clone)?;
        let log = match self.kind {
            Kind::Haproxy => "haproxy.stderr",
            Kind::HaproxySplice => "haproxy-splice.stderr",
            Kind::NginxStream => "nginx-stream.stderr",
            Kind::Tokio => "tokio.stderr",
            Kind::Barepoll => "barepoll.stderr",
            Kind::BarepollTasks => "barepoll-tasks.stderr",
        };
        let mut cmd = command(cpu, program, scratch, log);
        let upstream = format!("127.0.0.1:{backend}");
        let ready = match self.kind {
            Kind::Haproxy | Kind::HaproxySplice => {
                let port = setup::free_port();
                let splice = self.kind == Kind::HaproxySplice;
                let text = scratch.haproxy_conf(port, backend, splice);
                let conf = scratch.write("haproxy.cfg", &text);
                cmd.arg("-db").arg("-f").arg(conf);
                Ready::Listens(port)
            }
            Kind::NginxStream => {
                let port = setup::free_port();
                let module = self.module.as_deref().expect("stream module");
                let text = scratch.nginx_stream_conf(module, port, backend);
                let conf = scratch.write("nginx-stream.conf", &text);
                nginx_args(&mut cmd, scratch, &conf, "nginx-stream.log");
                Ready::Listens(port)
            }
            Kind::Tokio => {
                cmd.args(["tokio", "0", &upstream]);
                Ready::Announces
            }
            Kind::Barepoll => {
                cmd.args(["0", &upstream]);
                Ready::Announces
            }
            Kind::BarepollTasks => {
                // Its idle timeout set to HAProxy's and nginx's (it has one; the others not).
                let idle_ms = (setup::IDLE_TIMEOUT_S * 1000).to_string();
                cmd.args(["0", &upstream, "--idle-ms", &idle_ms]);
                Ready::Announces
            }
        };
        Running::start(cmd, ready, &self.label, scratch, log)
    }
}

/// The backend: nginx with one worker, pinned to `cpu` (the load generator's).
pub fn start_backend(scratch: &Scratch, cpu: Option<usize>) -> Result<Running, String> {
    let nginx = which("nginx")?;
    let port = setup::free_port();
    let conf = scratch.write("backend.conf", &scratch.backend_conf(port));
    let mut cmd = command(cpu, &nginx, scratch, "backend.stderr");
    nginx_args(&mut cmd, scratch, &conf, "backend.log");
    Running::start(
        cmd,
        Ready::Listens(port),
        "nginx backend",
        scratch,
        "backend.stderr",
    )
}

/// nginx in the foreground, everything under the scratch directory.
fn nginx_args(cmd: &mut Command, scratch: &Scratch, conf: &Path, log: &str) {
    cmd.arg("-p")
        .arg(&scratch.dir)
        .arg("-c")
        .arg(conf)
        .arg("-e")
        .arg(scratch.path(log))
        .args(["-g", "daemon off;"]);
}

fn which(program: &str) -> Result<PathBuf, String> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
        .ok_or_else(|| format!("{program} is not installed (apt {program})"))
}

/// The word after `marker` in what `program ARGS` prints (nginx prints on stderr).
fn version(program: &str, args: &[&str], marker: &str) -> String {
    let Ok(path) = which(program) else {
        return "(not installed)".into();
    };
    let Ok(out) = Command::new(path).args(args).output() else {
        return "(version unknown)".into();
    };
    let text = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
    text.split_once(marker)
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .unwrap_or("(version unknown)")
        .to_string()
}

/// A dependency's version in the benches' lock file.
pub fn crate_version(name: &str) -> String {
    let lock = include_str!("../../../Cargo.lock");
    let needle = format!("name = \"{name}\"\nversion = \"");
    lock.split_once(&needle)
        .and_then(|(_, rest)| rest.split('"').next())
        .unwrap_or("?")
        .to_string()
}

/// Builds barepoll's example `name` as a user would, from the repo root, in the release
/// profile, with `features` (cargo's arguments, such as `--features tasks`).
fn build_example(name: &str, features: &[&str]) -> Result<PathBuf, String> {
    let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    let source = format!("examples/{name}");
    if !root.join(format!("{source}.rs")).is_file() && !root.join(&source).is_dir() {
        return Err(format!("skipped: the repository has no `{source}` yet"));
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!(
        "building: cargo build --release --example {name} {} --manifest-path ../Cargo.toml",
        features.join(" ")
    );
    let status = Command::new(cargo)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR")))
        .args(["build", "--release", "--example", name])
        .args(features)
        .args(["--manifest-path", "../Cargo.toml"])
        .status()
        .map_err(|e| format!("skipped: cargo: {e}"))?;
    if !status.success() {
        return Err(format!("skipped: building the example failed ({status})"));
    }
    let path = root.join("target/release/examples").join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!("skipped: {} is not a file", path.display()))
    }
}
