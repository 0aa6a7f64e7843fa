//! Benchmarks of barepoll against two hand-written epoll loops (an index loop and a
//! thin-pointer loop with a call) and eventp, event-manager, mio, polling and calloop, side
//! by side in one run; and of barepoll's timers against calloop's, and its remote calls
//! against eventp's and event-manager's:
//!
//! ```text
//! cargo run --release --manifest-path benches/Cargo.toml [-- --quick]
//! ```
//!
//! It measures wall time first (in this process, nothing else running: every case, then the
//! timers' lateness), then runs the child processes two at a time: callgrind per case and
//! variant, strace per variant, the memory probes per variant. It prints the tables and
//! writes `results/table.md` and `results/instructions.svg`. Callgrind's output for every
//! case and variant stays in `target/callgrind/CASE.VARIANT.out`, e.g.
//! `callgrind_annotate --auto=yes benches/target/callgrind/dispatch-1024.barepoll.out`;
//! strace's summaries in `target/strace/`.
//! `child CASE VARIANT TURNS` is the process that the run starts under callgrind and strace.

use barepoll_benches::cases::{self, Case, Kind, CASES, ROUNDS};
use barepoll_benches::measure::{self, Job};
use barepoll_benches::memory::{self, Footprint, PerSubscriber, SUBSCRIBERS};
use barepoll_benches::report::{self, Results, Row};
use barepoll_benches::syscalls::{self, Trace, Waits};
use barepoll_benches::variants::{self, ALL};
use barepoll_benches::{clock, lateness, machine, notes, raw, setup, svg};
use std::path::{Path, PathBuf};
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
    TimerNative(usize, Option<Trace>),
    Memory(usize, Result<PerSubscriber, String>),
    High(usize, Result<(i32, Footprint), String>),
    Cycles(usize, Result<Vec<Footprint>, String>),
}

/// Where the children write, and what they run with.
struct Setting {
    callgrind: PathBuf,
    strace: PathBuf,
    traced: bool,
    counted: bool,
    scale: f64,
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
    let rounds = if quick { ROUNDS.1 } else { ROUNDS.0 };
    let scale = if quick { 0.25 } else { 1.0 };

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
    notes.extend(left_out(&cases));
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
    let mut rows: Vec<Row> = Vec::new();
    for case in &cases {
        eprintln!("wall time: {}", case.name);
        rows.push(Row {
            case,
            instr: vec![None; ALL.len()],
            wall: measure::wall(case, &pool, case.rounds(quick)),
        });
    }
    eprintln!("wall time: timer lateness");
    let late = lateness::measure(if quick { 300 } else { 1000 });
    let ready = setup::eventfds(1, 1)[0];
    let call_cost = raw::call_around_wait(ready, rounds);
    let timeout_cost = raw::timeout_on_wait(ready, rounds);
    let clock_cost = clock::reading_cost(rounds);

    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let setting = Setting {
        callgrind: root.join("target/callgrind"),
        strace: root.join("target/strace"),
        traced: strace.is_some(),
        counted: valgrind.is_some(),
        scale,
    };
    std::fs::create_dir_all(&setting.callgrind).expect("target/callgrind");
    std::fs::create_dir_all(&setting.strace).expect("target/strace");
    let memory_n = SUBSCRIBERS.min(setup::raise_fd_limit(SUBSCRIBERS as u64) as usize);
    let probe = memory::probe_binary().map_err(|e| {
        eprintln!("memory probe unavailable: {e}");
        notes.push(format!("Memory not measured: {e}."));
    });

    let jobs = jobs(&cases, &setting, probe.as_deref().ok(), memory_n);
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut memory = vec![None; ALL.len()];
    let mut cycles = vec![None; ALL.len()];
    let mut high = vec![None; ALL.len()];
    let mut waits = vec![Waits::default(); ALL.len()];
    let mut timer_waits = vec![None; ALL.len()];
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
            Outcome::TimerNative(v, trace) => timer_waits[v] = trace,
            Outcome::Memory(v, m) => {
                memory[v] = m.map_err(|e| eprintln!("  memory {}: {e}", ALL[v].id)).ok()
            }
            Outcome::High(v, m) => {
                high[v] = m
                    .map_err(|e| eprintln!("  high fd {}: {e}", ALL[v].id))
                    .ok()
            }
            Outcome::Cycles(v, m) => {
                cycles[v] = m.map_err(|e| eprintln!("  cycles {}: {e}", ALL[v].id)).ok()
            }
        }
    }
    notes.extend(notes::fairness(&waits, call_cost));
    notes.extend(notes::timers(clock_cost, timeout_cost));
    notes.extend(notes::remote());

    eprintln!("sizes: building benches/min");
    let sizes = barepoll_benches::sizes::measure(root);
    if let Err(e) = &sizes {
        eprintln!("  sizes: {e}");
    }
    let results = Results {
        sizes,
        rows,
        memory,
        memory_n,
        high,
        waits,
        timer_waits,
        cycles,
        lateness: late,
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

/// The variants that some spread case is too large for, and why.
fn left_out(cases: &[&Case]) -> Vec<String> {
    let spreads = || cases.iter().filter(|c| c.kind == Kind::Spread);
    ALL.iter()
        .filter(|v| spreads().any(|c| c.applies(v) && !c.measures(v, true)))
        .filter_map(|v| {
            let t = v.timers?;
            let (native, counted) = t.spread_max;
            Some(format!(
                "{}'s spread timers are measured natively up to {native} timers and under \
                 callgrind up to {counted}: {}.",
                v.label, t.why
            ))
        })
        .collect()
}

/// The child processes: the memory probes and strace per variant, callgrind per case and
/// variant.
fn jobs<'a>(
    cases: &'a [&'a Case],
    setting: &'a Setting,
    probe: Option<&'a Path>,
    memory_n: usize,
) -> Vec<Job<'a, Outcome>> {
    let mut jobs: Vec<Job<'_, Outcome>> = Vec::new();
    for (v, variant) in ALL.iter().enumerate() {
        if let Some(probe) = probe {
            jobs.push(Box::new(move || {
                eprintln!("memory: {}", variant.id);
                Outcome::Memory(v, memory::measure(probe, variant, memory_n))
            }));
            jobs.push(Box::new(move || {
                eprintln!("memory: one subscriber on a high fd, {}", variant.id);
                Outcome::High(v, memory::high(probe, variant))
            }));
            if variant.timers.is_some() {
                jobs.push(Box::new(move || {
                    eprintln!("memory: arm+cancel cycles, {}", variant.id);
                    Outcome::Cycles(v, memory::cycles(probe, variant))
                }));
            }
        }
        if setting.traced {
            jobs.push(Box::new(move || {
                Outcome::Native(v, native_trace("dispatch-1", variant, setting))
            }));
            if variant.timers.is_some() {
                jobs.push(Box::new(move || {
                    Outcome::TimerNative(v, native_trace("timers-1k", variant, setting))
                }));
            }
        }
    }
    if !setting.counted {
        return jobs;
    }
    for (c, case) in cases.iter().enumerate() {
        for (v, variant) in ALL.iter().enumerate() {
            if !case.measures(variant, true) {
                continue;
            }
            jobs.push(Box::new(move || {
                eprintln!("callgrind: {} {}", case.name, variant.id);
                let out = setting
                    .callgrind
                    .join(format!("{}.{}.out", case.name, variant.id));
                let turns = case.callgrind_turns(setting.scale);
                let cmd = measure::callgrind_command(case, variant, turns, &out);
                if setting.traced && case.name == "dispatch-1" {
                    let st = setting.strace.join(format!("{}.callgrind.txt", variant.id));
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
    jobs
}

/// Every syscall of the `case` child of `variant`, natively, under `strace -f -c`.
fn native_trace(case: &str, variant: &variants::Variant, setting: &Setting) -> Option<Trace> {
    eprintln!("strace: {case} {}", variant.id);
    let case = cases::find(case).expect("a case");
    let exe = std::env::current_exe().expect("current_exe");
    let mut cmd = Command::new(exe);
    let turns = case.callgrind_turns(setting.scale).to_string();
    cmd.args(["child", case.name, variant.id, &turns]);
    let name = match case.name {
        "dispatch-1" => format!("{}.native.txt", variant.id),
        other => format!("{other}.{}.native.txt", variant.id),
    };
    let out = setting.strace.join(name);
    trace(syscalls::traced(&cmd, &out, false), &out)
}

/// Runs a traced command and reads its summary; `None` if either fails.
fn trace(mut cmd: Command, out: &Path) -> Option<Trace> {
    let status = cmd.output().ok()?.status;
    status.success().then(|| syscalls::parse(out).ok())?
}
