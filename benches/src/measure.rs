//! The instruments: wall time as interleaved rounds (in this process), user-space
//! instructions from callgrind (one child process per case and variant), and a small pool
//! that runs child processes two at a time.

use crate::cases::{Case, Kind};
use crate::count;
use crate::setup::Pool;
use crate::valgrind;
use crate::variants::{Runner, Variant, ALL};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// One variant's wall time in one case.
#[derive(Clone, Copy, Debug)]
pub struct Wall {
    /// Median nanoseconds per unit.
    pub ns: f64,
    /// Median over rounds of the round's ratio to the first variant's time in the same round
    /// (the index loop's in the fd cases, barepoll's in the others).
    pub ratio: f64,
    /// `write` syscalls of the harness's other threads per unit, where it counts them.
    pub writes: Option<f64>,
}

/// Wall time of every variant in [`ALL`] that the case measures, over `rounds` rounds, each
/// of which times every such variant once, starting from a different one each round. Then
/// checks the work done. `None` for the variants not measured.
pub fn wall(case: &Case, pool: &Pool, rounds: usize) -> Vec<Option<Wall>> {
    let measured: Vec<usize> = (0..ALL.len())
        .filter(|&v| case.measures(&ALL[v], false))
        .collect();
    let mut runners: Vec<Box<dyn Runner>> = measured
        .iter()
        .map(|&v| case.build(&ALL[v], pool))
        .collect();
    let (turns, warm) = (case.wall_turns(), case.warm_turns(true));
    for runner in &mut runners {
        runner.warm(warm);
    }
    let n = runners.len();
    let mut samples = vec![Vec::with_capacity(rounds); n];
    for round in 0..rounds {
        for k in 0..n {
            let i = (round + k) % n;
            let start = Instant::now();
            runners[i].run(turns);
            let ns = start.elapsed().as_nanos() as f64;
            samples[i].push(ns / (turns * case.per_turn()) as f64);
        }
    }
    let total = warm + rounds as u64 * turns;
    let (base, mut walls) = (&samples[0], vec![None; ALL.len()]);
    for (k, runner) in runners.into_iter().enumerate() {
        let writes = runner.writes();
        check(case, &ALL[measured[k]], runner, total);
        walls[measured[k]] = Some(Wall {
            ns: median(samples[k].clone()),
            ratio: median(samples[k].iter().zip(base).map(|(v, b)| v / b).collect()),
            writes: writes.map(|w| w as f64 / (total * case.per_turn()) as f64),
        });
    }
    walls
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Drops the harness and panics unless its counters add up to what `turns` should have done:
/// a variant that skips work would otherwise look fast.
fn check(case: &Case, variant: &Variant, runner: Box<dyn Runner>, turns: u64) {
    let want = turns * case.per_turn();
    let done = count::counted_by_drop(runner);
    assert_eq!(
        done, want,
        "{} on {}: {done} handled, {want} expected",
        variant.id, case.name
    );
}

/// The symbols callgrind collects inside: the measured function, and for remote calls the
/// posting thread's too.
pub fn symbols(case: &Case, variant: &Variant) -> Vec<String> {
    let kinds: &[&str] = match case.kind {
        Kind::Churn => &["churn"],
        Kind::Dispatch => &["dispatch"],
        Kind::TimerWait => &["timer_wait"],
        Kind::TimerPair => &["timer_pair"],
        Kind::TimerReset => &["timer_reset"],
        Kind::IdleReset => &["idle_reset"],
        Kind::Spread => &["spread"],
        Kind::Remote => &["remote", "remote_post"],
    };
    let id = variant.id;
    kinds.iter().map(|k| format!("bench_{k}_{id}")).collect()
}

/// The command that runs this program under callgrind as `child CASE VARIANT TURNS`, writing
/// `out`. Instrumentation starts when the child has built its harness.
pub fn callgrind_command(case: &Case, variant: &Variant, turns: u64, out: &Path) -> Command {
    let exe = std::env::current_exe().expect("current_exe");
    let mut cmd = Command::new("valgrind");
    cmd.arg("--tool=callgrind")
        .arg("--instr-atstart=no")
        .arg("--collect-atstart=no")
        .arg("--dump-instr=yes")
        .args(
            symbols(case, variant)
                .iter()
                .map(|s| format!("--toggle-collect={s}")),
        )
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(exe)
        .args(["child", case.name, variant.id, &turns.to_string()]);
    cmd
}

/// Runs `cmd` (a callgrind run writing `out`); returns instructions per unit of `case`.
pub fn callgrind(mut cmd: Command, case: &Case, turns: u64, out: &Path) -> Result<f64, String> {
    let output = cmd.output().map_err(|e| format!("valgrind: {e}"))?;
    if !output.status.success() {
        let err = String::from_utf8_lossy(&output.stderr);
        return Err(err.lines().rev().take(5).collect::<Vec<_>>().join(" / "));
    }
    let text = std::fs::read_to_string(out).map_err(|e| e.to_string())?;
    let total = text
        .lines()
        .find_map(|l| {
            l.strip_prefix("summary:")
                .or_else(|| l.strip_prefix("totals:"))
        })
        .and_then(|n| n.trim().parse::<f64>().ok())
        .ok_or("no totals in the callgrind output")?;
    Ok(total / (turns * case.per_turn()) as f64)
}

/// The child: builds one harness, turns callgrind's instrumentation on (if it runs under
/// callgrind), warms the harness up outside the measured function, runs `turns` counted turns
/// through it, and checks the work done.
pub fn child(case: &Case, variant: &Variant, turns: u64) {
    let pool = Pool::new(case.fds());
    let mut runner = case.build(variant, &pool);
    valgrind::start_instrumentation();
    let warm = case.warm_turns(false);
    runner.warm(warm);
    runner.run(turns);
    check(case, variant, runner, warm + turns);
}

/// Work for [`parallel`].
pub type Job<'a, T> = Box<dyn FnOnce() -> T + Send + 'a>;

/// Runs `jobs` on `workers` threads (each job typically waits for a child process); results
/// come back in the order of `jobs`.
pub fn parallel<T: Send>(jobs: Vec<Job<'_, T>>, workers: usize) -> Vec<T> {
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<Job<'_, T>>>> =
        jobs.into_iter().map(|j| Mutex::new(Some(j))).collect();
    let results: Vec<Mutex<Option<T>>> = slots.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..workers.max(1) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(slot) = slots.get(i) else { break };
                let job = slot.lock().unwrap().take().expect("each job runs once");
                *results[i].lock().unwrap() = Some(job());
            });
        }
    });
    results
        .into_iter()
        .map(|r| r.into_inner().unwrap().expect("every job ran"))
        .collect()
}
