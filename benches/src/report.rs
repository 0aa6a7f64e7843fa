//! The results as markdown: instructions, wall time, memory, the wait syscalls, then the
//! timers and remote calls (`report_timers.rs`), then barepoll's goals (`goals.rs`) checked
//! against the figures.

use crate::cases::{Case, Group};
use crate::goals;
use crate::lateness;
use crate::machine::QUIET_LOAD;
use crate::measure::Wall;
use crate::memory::{Footprint, PerSubscriber, USER_VALUE};
use crate::report_timers;
use crate::syscalls::{Trace, Waits};
use crate::variants::{ALL, PAIRS};
use std::fmt::Write;

/// `writeln!` into a `String`, which cannot fail.
macro_rules! put {
    ($out:expr, $($arg:tt)*) => {{
        let _ = writeln!($out, $($arg)*);
    }};
}
pub(crate) use put;

/// A table row of figures, each with its ratio to the first (the row's baseline).
pub(crate) fn ratio_row(out: &mut String, label: &str, values: &[Option<f64>]) {
    let cells: Vec<String> = values
        .iter()
        .map(|v| match (v, values[0]) {
            (Some(v), Some(b)) if b > 0.0 => format!("{} ({:.2})", fmt(*v), v / b),
            (Some(v), _) => fmt(*v),
            _ => "n/a".into(),
        })
        .collect();
    put!(out, "| {label} | {} |", cells.join(" | "));
}

/// A figure with one decimal below 100, none above.
pub(crate) fn fmt(v: f64) -> String {
    if v.abs() < 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.0}")
    }
}

/// One case's figures, one per variant in `ALL` order; `None` where not measured.
pub struct Row {
    pub case: &'static Case,
    pub instr: Vec<Option<f64>>,
    pub wall: Vec<Option<Wall>>,
}

/// Everything one run found.
pub struct Results {
    pub rows: Vec<Row>,
    pub memory: Vec<Option<PerSubscriber>>,
    pub memory_n: usize,
    /// One subscriber registered on a high fd number: the number, and the heap growth.
    pub high: Vec<Option<(i32, Footprint)>>,
    pub waits: Vec<Waits>,
    /// Every syscall of the timer variants' per-wait child with 1k armed timers, natively.
    pub timer_waits: Vec<Option<Trace>>,
    /// The heap held after each of `memory::CYCLES` arm+cancel cycles, for timer variants.
    pub cycles: Vec<Option<Vec<Footprint>>>,
    pub lateness: lateness::Table,
    pub machine: String,
    pub load: f64,
    pub rounds: usize,
    pub quick: bool,
    /// Stripped sizes of the minimal programs (`sizes::PROGRAMS`), or why they are missing.
    pub sizes: Result<Vec<u64>, String>,
    /// Cases not measured and why, and other remarks of the run.
    pub notes: Vec<String>,
    pub seconds: f64,
}

impl Results {
    pub fn row(&self, name: &str) -> Option<&Row> {
        self.rows.iter().find(|r| r.case.name == name)
    }

    /// The rows of one group of cases.
    pub fn group(&self, group: Group) -> impl Iterator<Item = &Row> {
        self.rows.iter().filter(move |r| r.case.group() == group)
    }

    pub fn noisy(&self) -> bool {
        self.load.is_nan() || self.load > QUIET_LOAD
    }
}

fn header(out: &mut String) {
    let labels: Vec<&str> = ALL.iter().map(|v| v.label).collect();
    put!(out, "| case | {} |", labels.join(" | "));
    put!(out, "|---|{}", "---:|".repeat(ALL.len()));
}

fn instructions(out: &mut String, r: &Results) {
    header(out);
    for row in r.group(Group::Fds) {
        ratio_row(out, row.case.label, &row.instr);
    }
    if let (Some(churn), Some(one), 1) = (r.row("churn"), r.row("dispatch-1"), PAIRS) {
        let alone: Vec<Option<f64>> = churn
            .instr
            .iter()
            .zip(&one.instr)
            .map(|(c, o)| Some((*c)? - (*o)?))
            .collect();
        ratio_row(out, "the pair alone (churn − per wait at N=1)", &alone);
    }
}

fn wall(out: &mut String, r: &Results) {
    header(out);
    for row in r.group(Group::Fds) {
        let cells: Vec<String> = row
            .wall
            .iter()
            .map(|w| w.map_or("n/a".into(), |w| format!("{} ({:.2})", fmt(w.ns), w.ratio)))
            .collect();
        put!(out, "| {} | {} |", row.case.label, cells.join(" | "));
    }
}

fn memory(out: &mut String, r: &Results) {
    let fd = r.high.iter().flatten().map(|(fd, _)| *fd).next();
    let fd = fd.map_or("a high fd".into(), |fd| format!("fd {fd}"));
    put!(
        out,
        "| variant | counted bytes / subscriber | glibc heap bytes / subscriber | one subscriber on \
         {fd}, counted bytes |\n|---|---:|---:|---:|"
    );
    for ((variant, m), high) in ALL.iter().zip(&r.memory).zip(&r.high) {
        let (counted, heap) = m.map_or(("n/a".into(), "n/a".into()), |m| {
            (format!("{:.1}", m.counted), format!("{:.1}", m.heap))
        });
        let high = high.map_or("n/a".into(), |(_, f)| f.counted.to_string());
        put!(out, "| {} | {counted} | {heap} | {high} |", variant.label);
    }
    put!(
        out,
        "\nThe last column: one idle eventfd under the highest number the fd limit allows, \
         registered into an empty reactor (what tables indexed by fd number cost when a \
         process's numbers run high, whatever the count of subscribers)."
    );
}

pub(crate) fn trace_cells(t: &Option<Trace>) -> (String, String) {
    match t {
        None => ("unknown".into(), "unknown".into()),
        Some(t) => match t.wait() {
            None => ("none seen".into(), "".into()),
            Some((wait, _)) => {
                let along = t.every_wait();
                let along = if along.is_empty() {
                    "none".into()
                } else {
                    along.join(", ")
                };
                (format!("`{wait}`"), along)
            }
        },
    }
}

fn syscalls(out: &mut String, r: &Results) {
    put!(
        out,
        "| variant | wait syscall | other syscalls every wait | wait syscall under callgrind |\n|---|---|---|---|"
    );
    for (variant, w) in ALL.iter().zip(&r.waits) {
        let (native, along) = trace_cells(&w.native);
        let (under, _) = trace_cells(&w.callgrind);
        put!(out, "| {} | {native} | {along} | {under} |", variant.label);
    }
}

pub fn markdown(r: &Results) -> String {
    let mut out = String::new();
    put!(out, "# barepoll benchmarks\n");
    let quick = if r.quick { " -- --quick" } else { "" };
    put!(
        out,
        "`cargo run --release --manifest-path benches/Cargo.toml{quick}` ran for {:.0} s \
         (after the build) on {}.\n",
        r.seconds,
        r.machine
    );
    if r.quick {
        put!(
            out,
            "**Quick run**: fewer rounds and turns than the full tables.\n"
        );
    }
    put!(
        out,
        "Every variant is built with the same profile (fat LTO, one codegen unit), waits with \
         no timeout, keeps its own counter in each fd's state, and is checked to have handled \
         every event it should. Figures are per wait where one fd is ready (N = 1, idle \
         scale), per event for N = 64 and 1024, per add+delete pair for churn ({PAIRS} per \
         handler call, its wait and dispatch included). In parentheses: the ratio to the \
         index loop.\n"
    );
    put!(
        out,
        "## User-space instructions (callgrind `Ir` inside the measured function)\n"
    );
    instructions(&mut out, r);
    put!(
        out,
        "\n## Wall time, ns (median of {} interleaved rounds; in parentheses the median of \
         each round's ratio to the index loop)\n",
        r.rounds
    );
    if r.noisy() {
        put!(
            out,
            "**Noisy**: the 1-minute load average was {:.2} at the start (above {QUIET_LOAD}); \
             other work shared the cores, so these times and ratios are rough.\n",
            r.load
        );
    }
    wall(&mut out, r);
    put!(
        out,
        "\n## Memory per subscriber beyond the user's value ({} registered eventfds; the \
         user's value, an fd and its counter, is {USER_VALUE} bytes)\n",
        r.memory_n
    );
    put!(
        out,
        "Heap growth from registering them into an empty reactor, divided by their number, \
         minus the user's value. Counted: bytes asked of the allocator (a counting global \
         allocator in a probe binary). glibc heap: bytes in use per `mallinfo2`, with each \
         chunk's header and rounding. Tables that grow by doubling count as they fall at this \
         N. Kernel memory (the epoll entries) is the same for all and not included.\n"
    );
    memory(&mut out, r);
    put!(
        out,
        "\n## Wait syscall per variant (strace, dispatch N = 1)\n"
    );
    syscalls(&mut out, r);
    report_timers::sections(&mut out, r);
    sizes(&mut out, r);
    put!(out, "\n## barepoll's goals\n");
    goals::table(&mut out, r);
    put!(
        out,
        "\nTimers (one barepoll column: its timers are the same whichever way fds are \
               registered):\n"
    );
    goals::timer_table(&mut out, r);
    put!(
        out,
        "\nRemote calls (the closure reactor's `Remote`, against the mio loop a user writes by \
         hand):\n"
    );
    goals::remote_table(&mut out, r);
    if !r.notes.is_empty() {
        put!(out, "\n## Notes\n");
        for note in &r.notes {
            put!(out, "- {note}");
        }
    }
    put!(out, "\n![instructions per event](instructions.svg)");
    out
}

/// The minimal programs' sizes, against std alone, and the goal (no larger than mio's).
fn sizes(out: &mut String, r: &Results) {
    put!(
        out,
        "\n## Size of a minimal std program, stripped (`benches/min`: a reactor or poller, one \
         ready fd, one wait, a line on stdout; this profile; barepoll with its default \
         features)\n"
    );
    let sizes = match &r.sizes {
        Ok(sizes) => sizes,
        Err(e) => {
            put!(out, "Not measured: {e}.");
            return;
        }
    };
    put!(out, "| program | bytes | over std alone |");
    put!(out, "|---|---:|---:|");
    let base = sizes[0];
    for ((name, _), bytes) in crate::sizes::PROGRAMS.iter().zip(sizes) {
        put!(
            out,
            "| {name} | {bytes} | {} |",
            *bytes as i64 - base as i64
        );
    }
    let (barepoll, mio) = (sizes[1], sizes[2]);
    let verdict = if barepoll <= mio {
        "holds"
    } else {
        "**misses**"
    };
    put!(
        out,
        "\nGoal: barepoll's program no larger than mio's: {verdict} ({barepoll} against {mio} \
         bytes)."
    );
}
