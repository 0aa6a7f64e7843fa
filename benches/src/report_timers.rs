//! The timer and remote-call sections of the report: the timer cases (instructions and wall
//! time), the syscalls of a wait with armed timers, the spreads, the heap held over
//! arm+cancel cycles, lateness, and the remote calls. Each table has a column for each
//! variant that has the feature.

use crate::cases::Group;
use crate::lateness::{Lateness, ROUND};
use crate::memory::CYCLES;
use crate::report::{fmt, put, ratio_row, trace_cells, Results};
use crate::variants::ALL;
use std::fmt::Write;

pub fn sections(out: &mut String, r: &Results) {
    timers(out, r);
    spread(out, r);
    cycles(out, r);
    lateness(out, r);
    remote(out, r);
}

/// The variants (positions in `ALL`) that the cases of `group` apply to.
fn columns(r: &Results, group: Group) -> Vec<usize> {
    (0..ALL.len())
        .filter(|&v| r.group(group).any(|row| row.case.applies(&ALL[v])))
        .collect()
}

fn header(out: &mut String, first: &str, cols: &[usize]) {
    let labels: Vec<&str> = cols.iter().map(|&v| ALL[v].label).collect();
    put!(out, "| {first} | {} |", labels.join(" | "));
    put!(out, "|---|{}", "---:|".repeat(cols.len()));
}

fn noisy(out: &mut String, r: &Results) {
    if r.noisy() {
        put!(
            out,
            "**Noisy**: the 1-minute load average was {:.2} at the start; other work shared the \
             cores, so these times are rough.\n",
            r.load
        );
    }
}

fn instr(r: &Results, case: &str, v: usize) -> Option<f64> {
    r.row(case)?.instr[v]
}

fn timers(out: &mut String, r: &Results) {
    let cols = columns(r, Group::Timers);
    if cols.is_empty() {
        return;
    }
    put!(
        out,
        "\n## Timers: user-space instructions (callgrind `Ir` inside the measured function)\n"
    );
    put!(
        out,
        "Per wait where one fd is ready and N timers are armed that never fire (deadlines an \
         hour ahead, spread over a minute); per arm+cancel pair, or per reset of an armed \
         timer, from the handler of a ready fd (one per call, its wait and dispatch included); \
         per event where 10k ready connections each reset their 30 s idle timer on every event \
         (1024 events per wait). In parentheses: the ratio to barepoll.\n"
    );
    header(out, "case", &cols);
    for row in r.group(Group::Timers) {
        let values: Vec<Option<f64>> = cols.iter().map(|&v| row.instr[v]).collect();
        ratio_row(out, row.case.label, &values);
    }
    let alone = [
        (
            "the pair alone (− per wait, no timers)",
            "timer-pair",
            "timers-0",
        ),
        (
            "the reset alone (− per wait, 1 armed timer)",
            "timer-reset",
            "timers-1",
        ),
        (
            "the idle reset alone, per event (− per event at N=1024 with no timers)",
            "idle-10k",
            "dispatch-1024",
        ),
    ];
    for (label, case, base) in alone {
        let diff = |v: usize| Some(instr(r, case, v)? - instr(r, base, v)?);
        let values: Vec<Option<f64>> = cols.iter().map(|&v| diff(v)).collect();
        ratio_row(out, label, &values);
    }

    put!(
        out,
        "\n## Timers: wall time, ns (median of interleaved rounds: {} for the idle reset, {} for \
         the others; in parentheses the median of each round's ratio to barepoll)\n",
        crate::cases::find("idle-10k").map_or(0, |c| c.rounds(r.quick)),
        r.rounds
    );
    noisy(out, r);
    header(out, "case", &cols);
    for row in r.group(Group::Timers) {
        let cells: Vec<String> = cols
            .iter()
            .map(|&v| {
                row.wall[v].map_or("n/a".into(), |w| format!("{} ({:.2})", fmt(w.ns), w.ratio))
            })
            .collect();
        put!(out, "| {} | {} |", row.case.label, cells.join(" | "));
    }

    put!(
        out,
        "\n## Syscalls of a wait with 1k armed timers (strace, natively)\n"
    );
    put!(
        out,
        "| variant | wait syscall | other syscalls every wait |\n|---|---|---|"
    );
    for &v in &cols {
        let (wait, along) = trace_cells(&r.timer_waits[v]);
        put!(out, "| {} | {wait} | {along} |", ALL[v].label);
    }
}

fn spread(out: &mut String, r: &Results) {
    let cols = columns(r, Group::Spread);
    if cols.is_empty() {
        return;
    }
    let rounds = crate::cases::find("spread-1m").map_or(0, |c| c.rounds(r.quick));
    put!(
        out,
        "\n## One-shot timers due evenly over one second (libuv's million-timers shape)\n"
    );
    put!(
        out,
        "A run arms N one-shot timers whose deadlines are spread evenly over the next second \
         (`Timer::at(start + d)`; calloop `Timer::from_deadline(start + d)`), then runs the \
         loop until all have fired, each bumping the loop's shared count. Instructions: one \
         run under callgrind, per timer and in all. Wall: one run, arming included, median of \
         {rounds} run(s); no run can take less than a second. n/a: not run (see the notes).\n"
    );
    noisy(out, r);
    let mut head = vec!["timers".to_string()];
    for &v in &cols {
        let l = ALL[v].label;
        head.extend([
            format!("{l}: instructions per timer"),
            format!("{l}: instructions in all"),
            format!("{l}: wall, s"),
        ]);
    }
    put!(out, "| {} |", head.join(" | "));
    put!(out, "|---|{}", "---:|".repeat(3 * cols.len()));
    for row in r.group(Group::Spread) {
        let n = row.case.timers as f64;
        let mut cells = vec![row.case.label.to_string()];
        for &v in &cols {
            let i = row.instr[v];
            cells.push(i.map_or("n/a".into(), fmt));
            cells.push(i.map_or("n/a".into(), |i| format!("{:.1} M", i * n / 1e6)));
            let w = row.wall[v].map(|w| w.ns * n / 1e9);
            cells.push(w.map_or("n/a".into(), |s| format!("{s:.2}")));
        }
        put!(out, "| {} |", cells.join(" | "));
    }
}

fn cycles(out: &mut String, r: &Results) {
    let cols: Vec<usize> = (0..ALL.len()).filter(|&v| r.cycles[v].is_some()).collect();
    if cols.is_empty() {
        return;
    }
    put!(
        out,
        "\n## Heap held over a million timer arm+cancel cycles\n"
    );
    put!(
        out,
        "In the memory probe: a loop with one standing timer (due in 10 minutes); each cycle \
         arms a timer due in 20 minutes, runs one turn that does not block, and cancels the \
         timer. Bytes held by the loop (built after the first reading) after each count of \
         cycles: counted (asked of the allocator and still held) and glibc's in-use bytes \
         (`mallinfo2`). calloop's changelog for 0.14.4 lists \"Prevent timers from growing \
         indefinitely\": before it, cancelled timers stayed in its heap until their deadline.\n"
    );
    let mut head = vec!["cycles".to_string()];
    for &v in &cols {
        let l = ALL[v].label;
        head.extend([format!("{l}: counted"), format!("{l}: glibc heap")]);
    }
    put!(out, "| {} |", head.join(" | "));
    put!(out, "|---|{}", "---:|".repeat(2 * cols.len()));
    for (k, n) in CYCLES.iter().enumerate() {
        let mut cells = vec![n.to_string()];
        for &v in &cols {
            let held = r.cycles[v].as_ref().and_then(|c| c.get(k));
            cells.push(held.map_or("n/a".into(), |h| h.counted.to_string()));
            cells.push(held.map_or("n/a".into(), |h| h.heap.to_string()));
        }
        put!(out, "| {} |", cells.join(" | "));
    }
}

fn lateness(out: &mut String, r: &Results) {
    let t = &r.lateness;
    let rows: Vec<(&str, Lateness)> = (0..ALL.len())
        .filter_map(|v| Some((ALL[v].label, t.variants[v]?)))
        .chain(t.floors.iter().copied())
        .collect();
    let Some(n) = rows.first().map(|(_, l)| l.timers) else {
        return;
    };
    put!(
        out,
        "\n## Timer lateness, µs ({n} one-millisecond timers, each armed by the callback of the \
         one before; wall time)\n"
    );
    put!(
        out,
        "From a millisecond after the moment the timer was armed (read just before the arm) \
         to its callback. The kernel rows wait a millisecond with nothing around the wait, the \
         two ways the libraries wait for a deadline (see the notes). Rounds of {ROUND} timers \
         per row, the rows taking turns.\n"
    );
    noisy(out, r);
    put!(out, "| probe | p50 | p99 | max |\n|---|---:|---:|---:|");
    for (label, l) in rows {
        put!(
            out,
            "| {label} | {:.1} | {:.1} | {:.1} |",
            l.p50,
            l.p99,
            l.max
        );
    }
}

fn remote(out: &mut String, r: &Results) {
    let cols = columns(r, Group::Remote);
    let Some(row) = r.group(Group::Remote).next() else {
        return;
    };
    put!(
        out,
        "\n## Remote calls: a million fire-and-forget calls from another thread\n"
    );
    put!(
        out,
        "A thread posts 1,000,000 calls while the loop runs on this one; the round ends when \
         all have run, each bumping a counter on the loop's thread. Wall: median of {} \
         round(s). Writes: the posting thread's `write` syscalls (its eventfd writes), per \
         million calls. Instructions: callgrind, both threads' measured functions (posting, \
         and the loop), per call.\n",
        row.case.rounds(r.quick)
    );
    noisy(out, r);
    put!(
        out,
        "| variant | wall, ms | calls/s | eventfd writes per 1M calls | instructions per call |\n\
         |---|---:|---:|---:|---:|"
    );
    for v in cols {
        let (w, i) = (row.wall[v], row.instr[v]);
        let ms = w.map_or("n/a".into(), |w| format!("{:.0}", w.ns));
        let rate = w.map_or("n/a".into(), |w| format!("{:.2} M", 1e3 / w.ns));
        let writes = w
            .and_then(|w| w.writes)
            .map_or("unknown".into(), |n| format!("{:.0}", n * 1e6));
        let i = i.map_or("n/a".into(), fmt);
        put!(out, "| {} | {ms} | {rate} | {writes} | {i} |", ALL[v].label);
    }
}
