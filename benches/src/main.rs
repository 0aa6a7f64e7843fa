//! Benchmarks of barepoll against a raw epoll loop (the floor) and eventp, event-manager, mio
//! and polling, side by side in one run:
//!
//! ```text
//! cargo run --release --manifest-path benches/Cargo.toml
//! ```
//!
//! It prints the table and writes `results/table.md` and `results/instructions.svg`. Callgrind's
//! output for every case and variant stays in `target/callgrind/CASE.VARIANT.out`, e.g.
//! `callgrind_annotate --auto=yes benches/target/callgrind/dispatch-1024.barepoll.out`.
//! `child CASE VARIANT` is the process that the run starts under callgrind.

mod cases;
mod measure;
mod raw;
mod report;
mod setup;
mod slab;
mod svg;
mod variants;

use cases::{Case, CASES};
use report::Row;
use std::path::Path;
use std::process::Command;
use variants::ALL;

/// Interleaved rounds per wall-time figure.
const ROUNDS: usize = 101;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        [] => run(),
        ["child", case, variant] => {
            let case = cases::find(case).expect("unknown case");
            let variant = ALL
                .iter()
                .find(|v| v.id == variant)
                .expect("unknown variant");
            setup::raise_fd_limit(case.idle as u64);
            measure::child(case, variant);
        }
        _ => {
            eprintln!("usage: barepoll-benches            (everything, see the crate docs)");
            eprintln!("       barepoll-benches child CASE VARIANT");
            std::process::exit(2);
        }
    }
}

fn run() {
    let most_idle = CASES.iter().map(|c| c.idle as u64).max().unwrap_or(0);
    let fit = setup::raise_fd_limit(most_idle);
    let (cases, skipped): (Vec<&Case>, Vec<&Case>) =
        CASES.iter().partition(|c| c.idle as u64 <= fit);
    let notes: Vec<String> = skipped
        .iter()
        .map(|c| {
            format!(
                "Not measured: {} (the RLIMIT_NOFILE hard limit allows {fit} idle fds here; raising it needs CAP_SYS_RESOURCE).",
                c.label
            )
        })
        .collect();
    for note in &notes {
        eprintln!("{note}");
    }
    let valgrind = version("valgrind");
    if valgrind.is_none() {
        eprintln!("valgrind not found: wall time only");
    }
    let pools = cases::Pools::for_cases(cases.iter().copied());
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let callgrind_dir = root.join("target/callgrind");
    std::fs::create_dir_all(&callgrind_dir).expect("target/callgrind");

    let mut rows = Vec::new();
    for case in cases {
        eprintln!("{}: wall time", case.name);
        let wall = measure::wall(case, &pools, ROUNDS)
            .into_iter()
            .map(Some)
            .collect();
        let mut instr = Vec::new();
        for variant in &ALL {
            if valgrind.is_none() {
                instr.push(None);
                continue;
            }
            eprintln!("{}: callgrind {}", case.name, variant.id);
            let counted = measure::callgrind(case, variant, &callgrind_dir);
            instr.push(counted.map_err(|e| eprintln!("  failed: {e}")).ok());
        }
        rows.push(Row { case, instr, wall });
    }

    let table = report::markdown(&rows, &machine(valgrind.as_deref()), ROUNDS, &notes);
    let results = root.join("results");
    std::fs::create_dir_all(&results).expect("results/");
    std::fs::write(results.join("table.md"), &table).expect("results/table.md");
    std::fs::write(results.join("instructions.svg"), svg::svg(&rows)).expect("results/svg");
    println!("{table}");
    eprintln!("wrote {}", results.display());
}

/// The first line of `tool --version`, if the tool runs.
fn version(tool: &str) -> Option<String> {
    let out = Command::new(tool).arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    out.status
        .success()
        .then(|| text.lines().next().unwrap_or("").trim().to_string())
}

fn machine(valgrind: Option<&str>) -> String {
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
    let rustc = version("rustc").unwrap_or_default();
    format!(
        "{cpu}, {cores} cores, Linux {}, {rustc}, {}",
        kernel.trim(),
        valgrind.unwrap_or("no valgrind")
    )
}
