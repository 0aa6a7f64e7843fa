//! Loopback TCP echo: barepoll's example echo servers (`echo_server`, on callbacks, and
//! `async_echo`, on tasks), built from the repo and run as a user runs them, against idiomatic
//! single-threaded echo servers on mio, tokio, calloop, polling and eventp, each its own
//! process, under a checking load generator.
//!
//! ```text
//! cargo run --release --manifest-path benches/Cargo.toml --bin echo              # writes results/echo.md
//! cargo run --release --manifest-path benches/Cargo.toml --bin echo -- --quick   # 1 short round, prints only
//! cargo run --release --manifest-path benches/Cargo.toml --bin echo -- --count   # callgrind: instructions per round trip
//! ```
//!
//! `echo serve PEER PORT` is the process of a peer's server.

mod clients;
mod count;
mod load;
mod machine;
mod peers;
mod report;
mod servers;

use load::Timing;
use report::{Run, CASES};
use servers::{Running, SERVERS};
use std::time::{Duration, Instant};

const FULL: &str = "cargo run --release --manifest-path benches/Cargo.toml --bin echo";
const QUICK: &str = "cargo run --release --manifest-path benches/Cargo.toml --bin echo -- --quick";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        [] => bench(false),
        ["--quick"] => bench(true),
        ["--count"] => count::count(&servers::build_examples()),
        ["serve", peer, port] => {
            let Ok(port) = port.parse::<u16>() else {
                eprintln!("echo serve: bad port {port:?}");
                std::process::exit(2);
            };
            if let Err(e) = peers::serve(peer, port) {
                eprintln!("echo serve {peer}: {e}");
                std::process::exit(1);
            }
        }
        _ => {
            eprintln!("usage: echo [--quick|--count] (see the crate docs)");
            eprintln!("       echo serve PEER PORT   (PEER: mio, tokio, tokio-idle, calloop, polling, eventp)");
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
    let examples = servers::build_examples();
    let cpus = servers::cpus();
    match cpus {
        Some((_, generator)) => servers::pin_self(generator),
        None => eprintln!("CPUs 0 and 1 are not both available: nothing is pinned"),
    }
    let (rounds, timing) = if quick {
        let timing = Timing {
            warmup: Duration::from_millis(100),
            window: Duration::from_millis(400),
            cpus,
        };
        (1, timing)
    } else {
        let timing = Timing {
            warmup: Duration::from_millis(300),
            window: Duration::from_millis(1200),
            cpus,
        };
        (5, timing)
    };
    let pattern = clients::pattern();
    let mut samples: Vec<Vec<Vec<load::Sample>>> = SERVERS
        .iter()
        .map(|_| CASES.iter().map(|_| Vec::new()).collect())
        .collect();
    for round in 0..rounds {
        for k in 0..SERVERS.len() {
            let s = (round + k) % SERVERS.len();
            let server = &SERVERS[s];
            let mut running =
                Running::start(server, examples[s].as_deref(), cpus.map(|(cpu, _)| cpu));
            for (c, case) in CASES.iter().enumerate() {
                let sample = load::run(case.load, &timing, &mut running, server.label, &pattern);
                eprintln!(
                    "round {}/{rounds}  {:<32} {:<26} {}",
                    round + 1,
                    server.label,
                    case.title,
                    report::brief(case, &sample)
                );
                samples[s][c].push(sample);
            }
            running.stop();
        }
    }
    let md = report::markdown(&Run {
        command: if quick { QUICK } else { FULL },
        rounds,
        timing,
        loadavg,
        samples,
        secs: started.elapsed().as_secs_f64(),
    });
    print!("{md}");
    if !quick {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/results/echo.md");
        std::fs::write(path, &md).unwrap_or_else(|e| panic!("{path}: {e}"));
        eprintln!("wrote {path}");
    }
}
