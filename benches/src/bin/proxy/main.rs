//! Loopback TCP proxy: HAProxy (`mode tcp`), nginx's `stream` module, an idiomatic tokio
//! current-thread proxy, barepoll's `examples/proxy` and its `examples/async_proxy` (the same
//! proxy written as tasks), each one single-threaded process
//! pinned to one CPU, in front of the same nginx backend, under `wrk` pinned to the other CPU.
//! Rounds interleave the proxies; figures are medians over rounds.
//!
//! ```text
//! cargo run --release --manifest-path benches/Cargo.toml --bin proxy              # writes results/proxy.md
//! cargo run --release --manifest-path benches/Cargo.toml --bin proxy -- --quick   # 1 short round, prints only
//! ```
//!
//! `proxy tokio LISTEN_PORT UPSTREAM_ADDR` is the tokio proxy's process.

mod check;
mod load;
#[path = "../echo/machine.rs"]
mod machine;
mod procs;
mod proxies;
mod report;
mod setup;
mod tokio_proxy;

use report::{Run, Sample, CASES};
use setup::{Scratch, FILE_PATH, SMALL_PATH};
use std::time::Instant;

const FULL: &str = "cargo run --release --manifest-path benches/Cargo.toml --bin proxy";
const QUICK: &str = "cargo run --release --manifest-path benches/Cargo.toml --bin proxy -- --quick";

/// The proxies' CPU and the load generator's (which the backend shares).
const PROXY_CPU: usize = 0;
const LOAD_CPU: usize = 1;
/// Seconds of unmeasured load on a freshly started proxy.
const WARMUP_SECS: u32 = 1;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        [] => bench(false),
        ["--quick"] => bench(true),
        ["tokio", port, upstream] => {
            let (Ok(port), Ok(upstream)) = (port.parse(), upstream.parse()) else {
                eprintln!("proxy tokio: bad port {port:?} or upstream {upstream:?}");
                std::process::exit(2);
            };
            if let Err(e) = tokio_proxy::main(port, upstream) {
                eprintln!("proxy tokio: {e}");
                std::process::exit(1);
            }
        }
        _ => {
            eprintln!("usage: proxy [--quick]                        (see the crate docs)");
            eprintln!("       proxy tokio LISTEN_PORT UPSTREAM_ADDR  (the tokio proxy)");
            std::process::exit(2);
        }
    }
}

fn bench(quick: bool) {
    let started = Instant::now();
    let loadavg = machine::loadavg();
    if loadavg > report::QUIET_LOAD {
        eprintln!(
            "noisy: 1-minute load average {loadavg:.2} > {}",
            report::QUIET_LOAD
        );
    }
    let (rounds, secs) = if quick { (1, 2) } else { (5, 5) };
    let pinned = std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2);
    let (proxy_cpu, load_cpu) = if pinned {
        (Some(PROXY_CPU), Some(LOAD_CPU))
    } else {
        eprintln!("fewer than 2 CPUs: nothing is pinned");
        (None, None)
    };
    let proxies = proxies::all();
    let scratch = Scratch::create();
    let mut backend = proxies::start_backend(&scratch, load_cpu)
        .unwrap_or_else(|e| panic!("the backend does not start: {e}"));
    let backend_port = backend.addr.port();
    let mut samples: Vec<Vec<Vec<Sample>>> = proxies
        .iter()
        .map(|_| CASES.iter().map(|_| Vec::new()).collect())
        .collect();
    let mut problems: Vec<Vec<String>> = proxies.iter().map(|_| Vec::new()).collect();
    for (p, proxy) in proxies.iter().enumerate() {
        if let Err(why) = &proxy.program {
            eprintln!("{}: {why}", proxy.label);
            problems[p].push(why.clone());
        }
    }
    for round in 0..rounds {
        for k in 0..proxies.len() {
            let p = (round + k) % proxies.len();
            let proxy = &proxies[p];
            if proxy.program.is_err() {
                continue;
            }
            let mut running = match proxy.start(&scratch, backend_port, proxy_cpu) {
                Ok(running) => running,
                Err(e) => {
                    eprintln!("round {}/{rounds}  {e}", round + 1);
                    problems[p].push(format!("round {}: {e}", round + 1));
                    continue;
                }
            };
            let mut sizes = [0; 2];
            for (size, (path, body)) in sizes
                .iter_mut()
                .zip([(SMALL_PATH, &scratch.small), (FILE_PATH, &scratch.file)])
            {
                match check::fetch(running.addr, path, body) {
                    Ok(n) => *size = n,
                    Err(e) => problems[p].push(format!("round {}: exact check: {e}", round + 1)),
                }
            }
            if sizes.contains(&0) {
                eprintln!(
                    "round {}/{rounds}  {}: exact check failed",
                    round + 1,
                    proxy.label
                );
                running.stop();
                continue;
            }
            let addr = running.addr;
            let url = |path: &str| format!("http://{addr}{path}");
            let _ = load::wrk(&url(SMALL_PATH), 16, WARMUP_SECS, load_cpu);
            for (c, case) in CASES.iter().enumerate() {
                let size = if case.path == SMALL_PATH {
                    sizes[0]
                } else {
                    sizes[1]
                };
                let cpu0 = running.cpu_seconds();
                let host0 = proxy_cpu.map(procs::cpu_time);
                let t0 = Instant::now();
                let result = load::wrk(&url(case.path), case.conns, secs, load_cpu);
                let wall = t0.elapsed().as_secs_f64();
                let cpu = running.cpu_seconds() - cpu0;
                // The rest of the proxy CPU's time: interrupts, and other processes or steal.
                let (interrupts, other) = match (host0, proxy_cpu.map(procs::cpu_time)) {
                    (Some([p0, i0, s0]), Some([p1, i1, s1])) => {
                        (i1 - i0, (p1 - p0 - cpu).max(0.0) + s1 - s0)
                    }
                    _ => (f64::NAN, f64::NAN),
                };
                let report = match result {
                    Ok(report) => report,
                    Err(e) => {
                        eprintln!(
                            "round {}/{rounds}  {} {}: {e}",
                            round + 1,
                            proxy.label,
                            case.title
                        );
                        problems[p].push(format!("round {}, {}: {e}", round + 1, case.title));
                        continue;
                    }
                };
                let mut errors = report.errors;
                // wrk prints three significant digits; a proxy that loses bytes loses more.
                let expected = report.requests as f64 * size as f64;
                if report.bytes < 0.97 * expected {
                    errors.push(format!(
                        "read {:.0} bytes, fewer than {} responses of {size} bytes",
                        report.bytes, report.requests
                    ));
                }
                if let Some(exit) = running.exited() {
                    errors.push(exit);
                }
                let sample = Sample {
                    requests: report.requests,
                    secs: report.secs,
                    cpu,
                    wall,
                    p99_ms: report.p99_ms,
                    other,
                    interrupts,
                    errors,
                };
                eprintln!(
                    "round {}/{rounds}  {:<34} {:<20} {}",
                    round + 1,
                    proxy.label,
                    case.title,
                    report::brief(c, &sample)
                );
                samples[p][c].push(sample);
            }
            running.stop();
        }
        if let Some(exit) = backend.exited() {
            panic!("the backend stopped during round {}: {exit}", round + 1);
        }
    }
    backend.stop();
    let setup = format!(
        "Every proxy is one single-threaded process (HAProxy `nbthread 1`, nginx \
         `worker_processes 1`, tokio's current-thread runtime, barepoll's examples) pinned with \
         `taskset` to CPU {PROXY_CPU}; wrk (one thread) and the backend, nginx with one worker \
         serving static files over keep-alive connections, are pinned to CPU {LOAD_CPU}. All \
         on 127.0.0.1. {rounds} interleaved round(s), each proxy started fresh once per round \
         in rotating order, checked byte for byte (two keep-alive GETs of each file), warmed \
         up for {WARMUP_SECS} s, then one {secs} s wrk run per case (`wrk -t1 -cN -d{secs}s \
         --latency --timeout {}`). Proxy CPU is user + system time from `/proc/PID/stat` (and \
         its children's: nginx's worker) across the wrk run, divided by the requests wrk \
         completed. HAProxy, nginx and barepoll's async proxy have a {idle}-s idle timeout, \
         which no round reaches; the other Rust proxies have none. The Rust proxies are built \
         in release mode: tokio's in this crate's profile, barepoll's by `cargo build \
         --release --example proxy` and `cargo build --release --example async_proxy \
         --features tasks`.",
        load::TIMEOUT,
        idle = setup::IDLE_TIMEOUT_S,
    );
    // Skipped proxies (not installed, no example yet) are listed, not failures.
    let skipped = proxies.iter().filter(|p| p.program.is_err()).count();
    let failures = problems.iter().map(Vec::len).sum::<usize>() - skipped
        + samples
            .iter()
            .flatten()
            .flatten()
            .filter(|s| !s.errors.is_empty())
            .count();
    let md = report::markdown(&Run {
        command: if quick { QUICK } else { FULL },
        setup,
        loadavg,
        labels: proxies.iter().map(|p| p.label.clone()).collect(),
        samples,
        problems,
        secs: started.elapsed().as_secs_f64(),
    });
    print!("{md}");
    if !quick {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/results/proxy.md");
        std::fs::write(path, &md).unwrap_or_else(|e| panic!("{path}: {e}"));
        eprintln!("wrote {path}");
    }
    if failures > 0 {
        drop(scratch); // `exit` runs no destructors
        eprintln!("{failures} failure(s): see \"Errors and skipped proxies\" above");
        std::process::exit(1);
    }
}
