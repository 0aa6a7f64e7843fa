//! barepoll's goals, checked against the run's figures for both of its variants (closures
//! through the builder, a hand-written `Subscriber`). A goal that does not hold is printed as
//! a miss; one whose figures are missing as n/a.

use crate::report::{put, Results};
use crate::variants::position;
use std::fmt::Write;

/// The columns: barepoll's two variants, and the N = 1024 limit each is held to.
const BAREPOLL: [(&str, f64); 2] = [("barepoll", 9.0), ("barepoll_sub", 8.5)];

fn verdict(holds: Option<bool>) -> &'static str {
    match holds {
        Some(true) => "holds",
        Some(false) => "**misses**",
        None => "n/a",
    }
}

fn instr(r: &Results, case: &str, id: &str) -> Option<f64> {
    r.row(case)?.instr[position(id)]
}

fn ratio(r: &Results, case: &str, id: &str) -> Option<f64> {
    Some(r.row(case)?.wall[position(id)]?.ratio)
}

/// The largest idle-scale case measured.
fn largest_scale(r: &Results) -> Option<&'static str> {
    r.rows
        .iter()
        .rev()
        .map(|row| row.case.name)
        .find(|name| name.starts_with("scale-") && *name != "scale-1k")
}

/// One goal: its text, and for each barepoll variant the figure shown and whether it holds.
type Check<'a> = (String, &'a dyn Fn(&str, f64) -> (String, Option<bool>));

pub fn table(out: &mut String, r: &Results) {
    let show = |v: Option<f64>, digits: usize| v.map_or("n/a".into(), |v| format!("{v:.digits$}"));
    let noisy = if r.noisy() { " (noisy)" } else { "" };
    let largest = largest_scale(r);
    let scale_to = largest.unwrap_or("a larger scale (none measured)");

    let n1 = |id: &str, _: f64| {
        let v = instr(r, "dispatch-1", id);
        (show(v, 1), v.map(|v| v <= 40.0))
    };
    let n1_mio = |id: &str, _: f64| {
        let (v, mio) = (instr(r, "dispatch-1", id), instr(r, "dispatch-1", "mio"));
        let holds = v.zip(mio).map(|(v, m)| v <= m + 3.0);
        (format!("{} vs {}", show(v, 1), show(mio, 1)), holds)
    };
    let n1024 = |id: &str, limit: f64| {
        let v = instr(r, "dispatch-1024", id);
        (format!("{} (≤ {limit})", show(v, 2)), v.map(|v| v <= limit))
    };
    let churn = |id: &str, _: f64| {
        let (v, mio) = (instr(r, "churn", id), instr(r, "churn", "mio"));
        let holds = v.zip(mio).map(|(v, m)| v <= m);
        (format!("{} vs {}", show(v, 1), show(mio, 1)), holds)
    };
    let memory = |id: &str, _: f64| {
        let v = r.memory[position(id)].map(|m| m.counted);
        (show(v, 1), v.map(|v| v <= 32.0))
    };
    let high = |id: &str, _: f64| {
        let v = r.high[position(id)].map(|(_, f)| f.counted);
        (
            v.map_or("n/a".into(), |v| v.to_string()),
            v.map(|v| v <= 1024),
        )
    };
    let wall = |case: &'static str, limit: f64| {
        move |id: &str, _: f64| {
            let v = ratio(r, case, id);
            (format!("{}{noisy}", show(v, 3)), v.map(|v| v <= limit))
        }
    };
    let (wall_1024, wall_1) = (wall("dispatch-1024", 1.02), wall("dispatch-1", 1.00));
    let flat_instr = |id: &str, _: f64| {
        let growth = largest.and_then(|l| Some(instr(r, l, id)? / instr(r, "scale-1k", id)?));
        let shown = format!("×{}", show(growth, 3));
        (shown, growth.map(|g| (g - 1.0).abs() <= 0.05))
    };
    let flat_wall = |id: &str, _: f64| {
        let (small, big) = (
            ratio(r, "scale-1k", id),
            largest.and_then(|l| ratio(r, l, id)),
        );
        let growth = small.zip(big).map(|(s, b)| b / s);
        let shown = format!("{} → {}{noisy}", show(small, 3), show(big, 3));
        (shown, growth.map(|g| (g - 1.0).abs() <= 0.05))
    };

    let checks: [Check; 10] = [
        ("per wait at N = 1 ≤ 40 instructions".into(), &n1),
        (
            "per wait at N = 1 ≤ mio + plain slab + 3 instructions".into(),
            &n1_mio,
        ),
        (
            "per event at N = 1024 ≤ 9 instructions (closure), ≤ 8.5 (Subscriber)".into(),
            &n1024,
        ),
        (
            "add+delete pair from a handler ≤ mio + plain slab, instructions".into(),
            &churn,
        ),
        (
            "memory ≤ 32 bytes per subscriber beyond the user's value (counted)".into(),
            &memory,
        ),
        (
            "one subscriber on the highest fd the limit allows (19,999) ≤ 1 KiB, counted bytes"
                .into(),
            &high,
        ),
        (
            "wall time ≤ 1.02 × the index loop's at N = 1024 (median ratio)".into(),
            &wall_1024,
        ),
        (
            "wall time ≤ 1.00 × the index loop's at N = 1 (median ratio)".into(),
            &wall_1,
        ),
        (
            format!("idle scale flat within 5%, instructions per wait, scale-1k → {scale_to}"),
            &flat_instr,
        ),
        (
            format!(
                "idle scale flat within 5%, wall ratio to the index loop, scale-1k → {scale_to}"
            ),
            &flat_wall,
        ),
    ];
    put!(
        out,
        "| goal | barepoll (closure) | barepoll (Subscriber) |\n|---|---|---|"
    );
    for (goal, check) in &checks {
        let cells: Vec<String> = BAREPOLL
            .iter()
            .map(|&(id, limit)| {
                let (shown, holds) = check(id, limit);
                format!("{shown}: {}", verdict(holds))
            })
            .collect();
        put!(out, "| {goal} | {} |", cells.join(" | "));
    }
}

/// barepoll's timer goals: the wait's cost with armed timers is flat (within 5% from 1k to
/// 100k armed timers) and at most 10 instructions above a reactor with no timers.
pub fn timer_table(out: &mut String, r: &Results) {
    let id = "barepoll";
    let show = |v: Option<f64>, digits: usize| v.map_or("n/a".into(), |v| format!("{v:.digits$}"));
    let noisy = if r.noisy() { " (noisy)" } else { "" };
    let none = instr(r, "timers-0", id);
    let above = |case: &str| {
        let v = instr(r, case, id);
        let holds = v.zip(none).map(|(v, n)| v <= n + 10.0);
        (format!("{} vs {}", show(v, 1), show(none, 1)), holds)
    };
    let flat_instr = {
        let growth = instr(r, "timers-1k", id).zip(instr(r, "timers-100k", id));
        let growth = growth.map(|(small, big)| big / small);
        let holds = growth.map(|g| (g - 1.0).abs() <= 0.05);
        (format!("×{}", show(growth, 3)), holds)
    };
    let flat_wall = {
        let ns = |case| Some(r.row(case)?.wall[position(id)]?.ns);
        let (small, big) = (ns("timers-1k"), ns("timers-100k"));
        let holds = small.zip(big).map(|(s, b)| (b / s - 1.0).abs() <= 0.05);
        let shown = format!("{} → {} ns{noisy}", show(small, 0), show(big, 0));
        (shown, holds)
    };
    let checks = [
        (
            "per wait with 1k armed timers ≤ per wait with none + 10 instructions",
            above("timers-1k"),
        ),
        (
            "per wait with 100k armed timers ≤ per wait with none + 10 instructions",
            above("timers-100k"),
        ),
        (
            "per wait flat within 5% from 1k to 100k armed timers, instructions",
            flat_instr,
        ),
        (
            "per wait flat within 5% from 1k to 100k armed timers, wall time",
            flat_wall,
        ),
    ];
    put!(out, "| goal | barepoll (closure) |\n|---|---|");
    for (goal, (shown, holds)) in checks {
        put!(out, "| {goal} | {shown}: {} |", verdict(holds));
    }
}

/// barepoll's remote-calls goal: a million posts from another thread run at least 1.5 times
/// the rate of the hand-written mio loop (the median over the interleaved rounds of each
/// round's ratio of mio's time to barepoll's).
pub fn remote_table(out: &mut String, r: &Results) {
    let noisy = if r.noisy() { " (noisy)" } else { "" };
    // Nanoseconds per call: milliseconds per million calls.
    let wall = |id| r.row("remote")?.wall[position(id)];
    let (mine, mio) = (wall("barepoll"), wall("mio_boxed"));
    let shown = match (mine, mio) {
        (Some(b), Some(m)) => format!("{:.0} vs {:.0} ms, ×{:.2}{noisy}", b.ns, m.ns, m.ratio),
        _ => "n/a".into(),
    };
    put!(out, "| goal | barepoll (closure) |\n|---|---|");
    put!(
        out,
        "| 1M remote posts from another thread ≥ 1.5 × the rate of mio + `Waker` + `AtomicBool` + \
         `mpsc` of boxed closures | {shown}: {} |",
        verdict(mio.map(|m| m.ratio >= 1.5))
    );
}
