//! Benchmarks of barepoll against two hand-written epoll loops (an index loop and a
//! thin-pointer loop with a call) and eventp, event-manager, mio, polling and calloop, side
//! by side in one run:
//!
//! ```text
//! cargo run --release --manifest-path benches/Cargo.toml [-- --quick]
//! ```
//!
//! It measures wall time first (in this process, nothing else running), then runs the child
//! processes two at a time: callgrind per case and variant, strace per variant, the memory
//! probe per variant. It prints the tables and writes `results/table.md` and
//! `results/instructions.svg`. Callgrind's output for every case and variant stays in
//! `target/callgrind/CASE.VARIANT.out`, e.g.
//! `callgrind_annotate --auto=yes benches/target/callgrind/dispatch-1024.barepoll.out`;
//! strace's summaries in `target/strace/`.
//! `child CASE VARIANT TURNS` is the process that the run starts under callgrind and strace.

use barepoll_benches::cases::{self, Case, CASES};
use barepoll_benches::measure::{self, Job, Wall};
use barepoll_benches::memory::{self, PerSubscriber, SUBSCRIBERS};
use barepoll_benches::report::{self, Results, Row};
use barepoll_benches::syscalls::{self, Trace, Waits};
use barepoll_benches::variants::{self, ALL};
use barepoll_benches::{machine, notes, raw, setup, svg};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        [] => run(false),
        ["--quick"] => run(true),
        ["child", case, variant, turns] => {
            let case = cases::find(case).expect("unknown case");
            let variant = variants::find(variant).expect("unknown variant");
            setup::raise_fd_limit(case.fds() as u64);
            measure::child(case, variant, turns.parse().expect("TURNS"));
        }
        _ => {
            eprintln!("usage: barepoll-benches [--quick]   (everything, see the crate docs)");
            eprintln!("       barepoll-benches child CASE VARIANT TURNS");
            std::process::exit(2);
        }
    }
}

/// What a child process found.
enum Outcome {
    Instructions(usize, usize, Result<f64, String>, Option<Trace>),
    Native(usize, Option<Trace>),
    Memory(usize, Result<PerSubscriber, String>),
}

fn run(quick: bool) {
    let started = Instant::now();
    let (load, load_text) = machine::loadavg();
    let noisy = if load > machine::QUIET_LOAD {
        " (above 0.5: wall times will be flagged as noisy)"
    } else {
        ""
    };
    eprintln!("load average at start: {load_text}{noisy}");
    let (rounds, scale) = if quick { (31, 0.25) } else { (201, 1.0) };

    let most_fds = CASES.iter().map(|c| c.fds() as u64).max().unwrap_or(0);
    let fit = setup::raise_fd_limit(most_fds);
    let (cases, skipped): (Vec<&Case>, Vec<&Case>) =
        CASES.iter().partition(|c| c.fds() as u64 <= fit);
    let mut notes: Vec<String> = skipped
        .iter()
        .map(|c| {
            format!(
                "Not measured: {} ({} fds): the RLIMIT_NOFILE hard limit here is {}, which \
                 leaves room for {fit} fds; raising it needs CAP_SYS_RESOURCE.",
                c.label,
                c.fds(),
                setup::hard_fd_limit()
            )
        })
        .collect();
    notes.iter().for_each(|n| eprintln!("{n}"));
    let valgrind = machine::version("valgrind");
    let strace = syscalls::strace();
    if valgrind.is_none() {
        eprintln!("valgrind not found: no instruction counts");
    }
    if strace.is_none() {
        eprintln!("strace not found: wait syscalls unknown");
    }

    let pool = setup::Pool::new(cases.iter().map(|c| c.fds()).max().unwrap_or(0));
    let mut walls: Vec<Vec<Wall>> = Vec::new();
    for case in &cases {
        eprintln!("wall time: {}", case.name);
        walls.push(measure::wall(case, &pool, rounds));
    }
    let call_cost = raw::call_around_wait(setup::eventfds(1, 1)[0], rounds);

    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (cg_dir, st_dir) = (root.join("target/callgrind"), root.join("target/strace"));
    std::fs::create_dir_all(&cg_dir).expect("target/callgrind");
    std::fs::create_dir_all(&st_dir).expect("target/strace");
    let memory_n = SUBSCRIBERS.min(setup::raise_fd_limit(SUBSCRIBERS as u64) as usize);
    let probe = memory::probe_binary().map_err(|e| {
        eprintln!("memory probe unavailable: {e}");
        notes.push(format!("Memory not measured: {e}."));
    });

    let mut jobs: Vec<Job<'_, Outcome>> = Vec::new();
    for (v, variant) in ALL.iter().enumerate() {
        if let Ok(probe) = &probe {
            jobs.push(Box::new(move || {
                eprintln!("memory: {}", variant.id);
                Outcome::Memory(v, memory::measure(probe, variant, memory_n))
            }));
        }
        if strace.is_some() {
            let (case, st_dir) = (cases::find("dispatch-1").expect("a case"), &st_dir);
            jobs.push(Box::new(move || {
                eprintln!("strace: {}", variant.id);
                let exe = std::env::current_exe().expect("current_exe");
                let mut cmd = Command::new(exe);
                let turns = case.callgrind_turns(scale).to_string();
                cmd.args(["child", case.name, variant.id, &turns]);
                let out = st_dir.join(format!("{}.native.txt", variant.id));
                Outcome::Native(v, trace(syscalls::traced(&cmd, &out, false), &out))
            }));
        }
    }
    if valgrind.is_some() {
        for (c, case) in cases.iter().enumerate() {
            for (v, variant) in ALL.iter().enumerate() {
                let (cg_dir, st_dir, strace) = (&cg_dir, &st_dir, strace.is_some());
                jobs.push(Box::new(move || {
                    eprintln!("callgrind: {} {}", case.name, variant.id);
                    let out = cg_dir.join(format!("{}.{}.out", case.name, variant.id));
                    let turns = case.callgrind_turns(scale);
                    let cmd = measure::callgrind_command(case, variant, turns, &out);
                    if strace && case.name == "dispatch-1" {
                        let st = st_dir.join(format!("{}.callgrind.txt", variant.id));
                        let traced = syscalls::traced(&cmd, &st, true);
                        if let Ok(counted) = measure::callgrind(traced, case, turns, &out) {
                            let waits = syscalls::parse(&st).ok();
                            return Outcome::Instructions(c, v, Ok(counted), waits);
                        } // strace may be refused (no ptrace): count without it
                    }
                    let counted = measure::callgrind(cmd, case, turns, &out);
                    Outcome::Instructions(c, v, counted, None)
                }));
            }
        }
    }
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut rows: Vec<Row> = cases
        .iter()
        .zip(walls)
        .map(|(case, wall)| Row {
            case,
            instr: vec![None; ALL.len()],
            wall: wall.into_iter().map(Some).collect(),
        })
        .collect();
    let mut memory = vec![None; ALL.len()];
    let mut waits = vec![Waits::default(); ALL.len()];
    for outcome in measure::parallel(jobs, workers) {
        match outcome {
            Outcome::Instructions(c, v, counted, trace) => {
                let fail = |e| eprintln!("  {} {}: {e}", cases[c].name, ALL[v].id);
                rows[c].instr[v] = counted.map_err(fail).ok();
                if trace.is_some() {
                    waits[v].callgrind = trace;
                }
            }
            Outcome::Native(v, trace) => waits[v].native = trace,
            Outcome::Memory(v, m) => {
                memory[v] = m.map_err(|e| eprintln!("  memory {}: {e}", ALL[v].id)).ok()
            }
        }
    }
    notes.extend(notes::fairness(&waits, call_cost));

    let results = Results {
        rows,
        memory,
        memory_n,
        waits,
        machine: machine::describe(valgrind.as_deref(), strace.as_deref(), &load_text),
        load,
        rounds,
        quick,
        notes,
        seconds: started.elapsed().as_secs_f64(),
    };
    let table = report::markdown(&results);
    let dir = root.join("results");
    std::fs::create_dir_all(&dir).expect("results/");
    std::fs::write(dir.join("table.md"), &table).expect("results/table.md");
    std::fs::write(dir.join("instructions.svg"), svg::svg(&results.rows)).expect("results/svg");
    println!("{table}");
    eprintln!(
        "wrote {} after {:.0} s",
        dir.display(),
        started.elapsed().as_secs_f64()
    );
}

/// Runs a traced command and reads its summary; `None` if either fails.
fn trace(mut cmd: Command, out: &Path) -> Option<Trace> {
    let status = cmd.output().ok()?.status;
    status.success().then(|| syscalls::parse(out).ok())?
}
