//! The two metrics: wall time as the median of interleaved rounds (in this process), and
//! user-space instructions from callgrind (one child process per case and variant).

use crate::cases::{Case, Kind, Pools};
use crate::variants::{Runner, Variant, ALL};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

/// Nanoseconds per unit of `case` for every variant in [`ALL`]: the median over `rounds`
/// rounds, each of which times every variant once, starting from a different one each round.
pub fn wall(case: &Case, pools: &Pools, rounds: usize) -> Vec<f64> {
    let mut runners: Vec<Box<dyn Runner>> = ALL.iter().map(|v| case.build(v, pools)).collect();
    let turns = case.wall_turns();
    for runner in &mut runners {
        runner.run(turns);
    }
    let mut samples = vec![Vec::with_capacity(rounds); runners.len()];
    for round in 0..rounds {
        for k in 0..runners.len() {
            let i = (round + k) % runners.len();
            let start = Instant::now();
            runners[i].run(turns);
            let ns = start.elapsed().as_nanos() as f64;
            samples[i].push(ns / (turns * case.per_turn()) as f64);
        }
    }
    for (runner, variant) in runners.iter().zip(&ALL) {
        check(case, variant, runner.as_ref(), (rounds as u64 + 1) * turns);
    }
    samples.into_iter().map(median).collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Panics unless every turn dispatched what it should have: a variant that skips work would
/// otherwise look fast.
fn check(case: &Case, variant: &Variant, runner: &dyn Runner, turns: u64) {
    let want = turns * case.per_turn();
    let done = runner.done();
    assert_eq!(
        done, want,
        "{} on {}: {done} handled, {want} expected",
        variant.id, case.name
    );
}

/// The symbol callgrind collects inside.
pub fn symbol(case: &Case, variant: &Variant) -> String {
    let kind = if case.kind == Kind::Churn {
        "churn"
    } else {
        "dispatch"
    };
    format!("bench_{kind}_{}", variant.id)
}

/// Runs this program under callgrind as `child CASE VARIANT`; returns instructions per unit.
pub fn callgrind(case: &Case, variant: &Variant, out_dir: &Path) -> Result<f64, String> {
    let out = out_dir.join(format!("{}.{}.out", case.name, variant.id));
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let output = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg("--collect-atstart=no")
        .arg("--dump-instr=yes")
        .arg(format!("--toggle-collect={}", symbol(case, variant)))
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(exe)
        .args(["child", case.name, variant.id])
        .output()
        .map_err(|e| format!("valgrind: {e}"))?;
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    let text = std::fs::read_to_string(&out).map_err(|e| e.to_string())?;
    let total = text
        .lines()
        .find_map(|l| {
            l.strip_prefix("summary:")
                .or_else(|| l.strip_prefix("totals:"))
        })
        .and_then(|n| n.trim().parse::<f64>().ok())
        .ok_or("no totals in the callgrind output")?;
    Ok(total / (case.callgrind_turns() * case.per_turn()) as f64)
}

/// The callgrind child: builds one harness, warms it up outside the measured function, then
/// runs the counted turns through it.
pub fn child(case: &Case, variant: &Variant) {
    let pools = Pools::for_cases([case]);
    let mut runner = case.build(variant, &pools);
    let warm = 16;
    runner.warm(warm);
    runner.run(case.callgrind_turns());
    check(
        case,
        variant,
        runner.as_ref(),
        warm + case.callgrind_turns(),
    );
}
