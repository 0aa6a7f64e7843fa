//! The results as markdown: one table per metric, then barepoll's targets,
//! checked against the figures.

use crate::cases::Case;
use crate::variants::{ALL, PAIRS};
use std::fmt::Write;

/// `writeln!` into a `String`, which cannot fail.
macro_rules! put {
    ($out:expr, $($arg:tt)*) => {{
        let _ = writeln!($out, $($arg)*);
    }};
}
pub(crate) use put;

/// One case's figures, one per variant in `ALL` order; `None` where not measured.
pub struct Row {
    pub case: &'static Case,
    pub instr: Vec<Option<f64>>,
    pub wall: Vec<Option<f64>>,
}

type Pick = fn(&Row) -> &[Option<f64>];

fn instr(row: &Row) -> &[Option<f64>] {
    &row.instr
}

fn wall(row: &Row) -> &[Option<f64>] {
    &row.wall
}

const FLOOR: usize = 0;
const BAREPOLL: usize = 1;

fn find<'a>(rows: &'a [Row], name: &str) -> Option<&'a Row> {
    rows.iter().find(|r| r.case.name == name)
}

fn get(rows: &[Row], name: &str, pick: Pick, variant: usize) -> Option<f64> {
    pick(find(rows, name)?)[variant]
}

/// A figure and, in parentheses, its ratio to the floor's.
fn cell(value: Option<f64>, floor: Option<f64>) -> String {
    match (value, floor) {
        (Some(v), Some(f)) if f > 0.0 => format!("{v:.1} ({:.2})", v / f),
        (Some(v), _) => format!("{v:.1}"),
        _ => "n/a".into(),
    }
}

fn row(out: &mut String, label: &str, values: &[Option<f64>]) {
    let cells: Vec<String> = values.iter().map(|&v| cell(v, values[FLOOR])).collect();
    put!(out, "| {label} | {} |", cells.join(" | "));
}

fn table(out: &mut String, rows: &[Row], pick: Pick) {
    let labels: Vec<&str> = ALL.iter().map(|v| v.label).collect();
    put!(out, "| case | {} |", labels.join(" | "));
    put!(out, "|---|{}", "---:|".repeat(ALL.len()));
    for r in rows {
        row(out, r.case.label, pick(r));
    }
}

/// Churn minus dispatch N=1: the add+delete pair without the wait and dispatch carrying it.
fn pair_alone(out: &mut String, rows: &[Row]) {
    let (Some(churn), Some(one)) = (find(rows, "churn"), find(rows, "dispatch-1")) else {
        return;
    };
    if PAIRS == 1 {
        let net: Vec<Option<f64>> = churn
            .instr
            .iter()
            .zip(&one.instr)
            .map(|(c, o)| Some((*c)? - (*o)?))
            .collect();
        row(out, "churn minus dispatch N=1: the pair alone", &net);
    }
}

fn over(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    Some(a? / b?)
}

fn verdict(holds: Option<bool>) -> &'static str {
    match holds {
        Some(true) => "holds",
        Some(false) => "**misses**",
        None => "n/a",
    }
}

fn shown(value: Option<f64>, digits: usize) -> String {
    value.map_or("n/a".into(), |v| format!("{v:.digits$}"))
}

/// barepoll against the fewest instructions among the peers in case `name`.
fn fewest(rows: &[Row], name: &str) -> (String, Option<bool>) {
    let Some(r) = find(rows, name) else {
        return ("not measured".into(), None);
    };
    let best = (BAREPOLL + 1..ALL.len())
        .filter_map(|i| Some((r.instr[i]?, ALL[i].label)))
        .min_by(|a, b| a.0.total_cmp(&b.0));
    match (r.instr[BAREPOLL], best) {
        (Some(b), Some((v, label))) => (format!("{b:.1} vs {v:.1} ({label})"), Some(b < v)),
        _ => ("not measured".into(), None),
    }
}

fn targets(out: &mut String, rows: &[Row]) {
    put!(out, "| target | measured | |\n|---|---|---|");
    let mut line = |target: &str, measured: String, holds: Option<bool>| {
        put!(out, "| {target} | {measured} | {} |", verdict(holds));
    };
    for (name, limit, target) in [
        (
            "dispatch-1024",
            9.0,
            "≤ 9 instructions per event at N = 1024",
        ),
        ("dispatch-1", 40.0, "≤ 40 instructions per wait at N = 1"),
    ] {
        let v = get(rows, name, instr, BAREPOLL);
        line(target, shown(v, 1), v.map(|v| v <= limit));
    }
    for name in ["dispatch-1", "dispatch-64", "dispatch-1024", "churn"] {
        let (measured, holds) = fewest(rows, name);
        line(
            &format!("fewer instructions than every peer: {name}"),
            measured,
            holds,
        );
    }
    let ratio = |name| {
        over(
            get(rows, name, wall, BAREPOLL),
            get(rows, name, wall, FLOOR),
        )
    };
    let r = ratio("dispatch-1024");
    line(
        "wall ratio ≤ 1.02 at N = 1024",
        shown(r, 3),
        r.map(|r| r <= 1.02),
    );

    // Instructions are exact; wall times drift with the machine between cases, so the wall
    // check compares barepoll's interleaved ratio to the floor at each end.
    let largest = rows
        .iter()
        .rev()
        .find(|r| r.case.name.starts_with("scale-"));
    let largest = largest.map_or("scale-1k", |r| r.case.name);
    let growth = over(
        get(rows, largest, instr, BAREPOLL),
        get(rows, "scale-1k", instr, BAREPOLL),
    );
    let (small, big) = (ratio("scale-1k"), ratio(largest));
    let flat = match (growth, small, big) {
        (Some(g), Some(s), Some(b)) if largest != "scale-1k" => Some(g <= 1.05 && b <= s * 1.1),
        _ => None,
    };
    line(
        &format!(
            "flat scale, {largest} against scale-1k: instructions ≤ ×1.05, wall ratio to the \
             floor within ×1.1"
        ),
        format!(
            "instructions ×{}; wall ratio {} → {}",
            shown(growth, 2),
            shown(small, 2),
            shown(big, 2)
        ),
        flat,
    );
}

pub fn markdown(rows: &[Row], machine: &str, rounds: usize, notes: &[String]) -> String {
    let mut out = String::new();
    put!(out, "# barepoll benchmarks\n");
    put!(
        out,
        "`cargo run --release --manifest-path benches/Cargo.toml` on {machine}.\n"
    );
    put!(
        out,
        "Figures are per event: per wait where one fd is ready (N = 1, scale); per add+delete \
         pair for churn ({PAIRS} per handler call, its wait included). In parentheses: the \
         ratio to the raw floor. Waits never time out (`None`/-1), as in a run loop. barepoll \
         and the floor wait with `epoll_pwait2` and fall back to `epoll_pwait` where it is \
         missing, as under valgrind 3.19, whose counts are then of the fallback.\n"
    );
    put!(
        out,
        "## User-space instructions (callgrind `Ir` inside the measured function)\n"
    );
    table(&mut out, rows, instr);
    pair_alone(&mut out, rows);
    put!(
        out,
        "\n## Wall time, ns (median of {rounds} interleaved rounds)\n"
    );
    table(&mut out, rows, wall);
    for note in notes {
        put!(out, "\n{note}");
    }
    put!(out, "\n## barepoll's targets\n");
    targets(&mut out, rows);
    put!(out, "\n![instructions per event](instructions.svg)");
    out
}
