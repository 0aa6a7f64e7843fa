//! The cases, their medians over rounds, and the markdown that `results/proxy.md` holds: one
//! table per figure, each cell with its ratio to the best clean cell of its column; cells with
//! errors marked and left out of "best", and every error listed.

use crate::setup::{FILE_LEN, FILE_PATH, SMALL_LEN, SMALL_PATH};
use std::fmt::Write;

pub struct Case {
    pub path: &'static str,
    pub conns: usize,
    pub title: &'static str,
}

pub const CASES: [Case; 4] = [
    Case {
        path: SMALL_PATH,
        conns: 1,
        title: "small, 1 conn",
    },
    Case {
        path: SMALL_PATH,
        conns: 16,
        title: "small, 16 conns",
    },
    Case {
        path: SMALL_PATH,
        conns: 256,
        title: "small, 256 conns",
    },
    Case {
        path: FILE_PATH,
        conns: 4,
        title: "1 MiB file, 4 conns",
    },
];

/// The case whose rate is in MB/s.
fn is_file(c: usize) -> bool {
    CASES[c].path == FILE_PATH
}

/// Above this 1-minute load average at the start, the figures are flagged as noisy.
pub const QUIET_LOAD: f64 = 0.5;
/// Above this share of the proxy CPU taken by other processes during any wrk run, the same.
const QUIET_OTHER: f64 = 0.1;

/// One wrk run against one proxy.
pub struct Sample {
    pub requests: u64,
    /// wrk's duration.
    pub secs: f64,
    /// The proxy's CPU seconds (user + system) from just before wrk started to just after it
    /// ended, and that wall time.
    pub cpu: f64,
    pub wall: f64,
    pub p99_ms: f64,
    /// Seconds of the proxy CPU's time over that wall time that went to interrupts (softirq:
    /// much of loopback TCP's delivery, the proxy's traffic's), and to other processes or steal.
    pub interrupts: f64,
    pub other: f64,
    pub errors: Vec<String>,
}

impl Sample {
    fn rate(&self, c: usize) -> f64 {
        let per_sec = self.requests as f64 / self.secs;
        if is_file(c) {
            per_sec * FILE_LEN as f64 / 1e6
        } else {
            per_sec
        }
    }
    fn cpu_us(&self) -> f64 {
        self.cpu * 1e6 / self.requests.max(1) as f64
    }
    fn cpu_irq_us(&self) -> f64 {
        (self.cpu + self.interrupts) * 1e6 / self.requests.max(1) as f64
    }
    fn quiet(&self) -> bool {
        self.other <= QUIET_OTHER * self.wall
    }
}

pub struct Run {
    pub command: &'static str,
    pub setup: String,
    pub loadavg: f64,
    pub labels: Vec<String>,
    /// `samples[proxy][case]`, one per round that got that far.
    pub samples: Vec<Vec<Vec<Sample>>>,
    /// Per proxy: why it was skipped, or what failed outside wrk (start, exact check).
    pub problems: Vec<Vec<String>>,
    pub secs: f64,
}

/// One progress line.
pub fn brief(c: usize, s: &Sample) -> String {
    let rate = if is_file(c) {
        format!("{:.0} MB/s", s.rate(c))
    } else {
        format!("{} req/s", grouped(s.rate(c)))
    };
    format!(
        "{rate}, {:.2} µs CPU/req ({:.2} with irq), p99 {:.2} ms, proxy busy {:.0}%, its CPU: irq {:.0}%, other {:.0}%{}",
        s.cpu_us(),
        s.cpu_irq_us(),
        s.p99_ms,
        100.0 * s.cpu / s.wall,
        100.0 * s.interrupts / s.wall,
        100.0 * s.other / s.wall,
        if s.errors.is_empty() {
            String::new()
        } else {
            format!(", ERRORS: {}", s.errors.join("; "))
        }
    )
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn grouped(x: f64) -> String {
    let digits = format!("{x:.0}");
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// A figure of the tables: its title, whether lower is better, how one sample gives it, and
/// how a value prints.
struct Figure {
    title: &'static str,
    lower_is_better: bool,
    value: fn(usize, &Sample) -> f64,
    print: fn(usize, f64) -> String,
}

const FIGURES: [Figure; 4] = [
    Figure {
        title: "Proxy CPU per request, µs (user + system of the proxy process; lower is better)",
        lower_is_better: true,
        value: |_, s| s.cpu_us(),
        print: |_, x| format!("{x:.2}"),
    },
    Figure {
        title: "Proxy CPU and its CPU's interrupts per request, µs (lower is better)",
        lower_is_better: true,
        value: |_, s| s.cpu_irq_us(),
        print: |_, x| format!("{x:.2}"),
    },
    Figure {
        title: "Requests/s; MB/s for the file (higher is better)",
        lower_is_better: false,
        value: |c, s| s.rate(c),
        print: |c, x| {
            if is_file(c) {
                format!("{x:.0} MB/s")
            } else {
                grouped(x)
            }
        },
    },
    Figure {
        title: "p99 latency, ms (wrk `--latency`; lower is better)",
        lower_is_better: true,
        value: |_, s| s.p99_ms,
        print: |_, x| format!("{x:.2}"),
    },
];

pub fn markdown(run: &Run) -> String {
    let mut md = String::new();
    let w = &mut md;
    let _ = writeln!(w, "# TCP proxy\n");
    let _ = writeln!(
        w,
        "`{}` on {}; 1-minute load average {:.2} at the start; took {:.0} s.\n",
        run.command,
        crate::machine::describe(),
        run.loadavg,
        run.secs
    );
    if run.loadavg > QUIET_LOAD {
        let _ = writeln!(
            w,
            "**Noisy:** the load average was above {QUIET_LOAD} when the run started.\n"
        );
    }
    let worst = run
        .samples
        .iter()
        .flatten()
        .flatten()
        .map(|s| s.other / s.wall)
        .fold(0.0, f64::max);
    if worst > QUIET_OTHER {
        let _ = writeln!(
            w,
            "**Noisy:** other processes took up to {:.0}% of the proxy CPU during a wrk run \
             (above {:.0}%); see the last columns of \"Every case\".\n",
            100.0 * worst,
            100.0 * QUIET_OTHER
        );
    }
    let _ = writeln!(w, "{}\n", run.setup);
    let _ = writeln!(
        w,
        "The softirq work of loopback TCP on the proxy's CPU (its traffic's, for every proxy \
         alike) is not in the proxy's own time, and where it is charged shifts with load: \
         when other processes compete for that CPU, more of it runs in the proxy's system \
         time. The second table adds that CPU's interrupt time (irq + softirq from \
         `/proc/stat`), which holds steadier between quiet and contended rounds.\n"
    );
    let _ = writeln!(
        w,
        "Cases: a {SMALL_LEN}-byte static file at 1, 16 and 256 connections, and a 1 MiB \
         file (MB/s are 10^6 bytes of body per second). Figures are medians over rounds; each \
         cell's ratio to the best clean cell of its column follows in parentheses. A cell \
         marked **errors** had socket errors, non-2xx responses or missing bytes in some round \
         (listed at the end) and is not a candidate for best.\n"
    );
    let n = run.labels.len();
    for fig in &FIGURES {
        let _ = writeln!(w, "## {}\n", fig.title);
        let _ = write!(w, "| proxy |");
        for case in &CASES {
            let _ = write!(w, " {} |", case.title);
        }
        let _ = writeln!(w);
        let _ = writeln!(w, "|---|{}", "---:|".repeat(CASES.len()));
        let cells: Vec<Vec<Option<(f64, bool)>>> = (0..n)
            .map(|p| {
                (0..CASES.len())
                    .map(|c| {
                        let s = &run.samples[p][c];
                        let clean = s.iter().all(|s| s.errors.is_empty());
                        let v = median(s.iter().map(|s| (fig.value)(c, s)).collect());
                        (!s.is_empty()).then_some((v, clean))
                    })
                    .collect()
            })
            .collect();
        for (p, label) in run.labels.iter().enumerate() {
            let _ = write!(w, "| {label} |");
            for c in 0..CASES.len() {
                let best = cells
                    .iter()
                    .filter_map(|row| row[c].filter(|&(_, clean)| clean).map(|(v, _)| v))
                    .reduce(|a, b| if fig.lower_is_better == (a < b) { a } else { b });
                let cell = match cells[p][c] {
                    None => "–".to_string(),
                    Some((v, clean)) => {
                        let ratio = best.map_or(String::new(), |b| format!(" ({:.2}×)", v / b));
                        let mark = if clean { "" } else { " **errors**" };
                        format!("{}{ratio}{mark}", (fig.print)(c, v))
                    }
                };
                let _ = write!(w, " {cell} |");
            }
            let _ = writeln!(w);
        }
        let _ = writeln!(w);
    }
    details(w, run);
    md
}

fn details(w: &mut String, run: &Run) {
    let _ = writeln!(w, "## Every case\n");
    let _ = writeln!(
        w,
        "Median and range over rounds. Proxy busy is its CPU time over the wall time of the wrk \
         run: near 100%, the proxy set the pace; well below, the load generator and the backend \
         (which share the other CPU) did, and CPU per request is the figure that compares. \
         Interrupts and other work are shares of the proxy CPU's time: irq + softirq, and other \
         processes' time plus steal. A round is quiet when other work stayed at or below \
         {:.0}%.\n",
        100.0 * QUIET_OTHER
    );
    let _ = writeln!(
        w,
        "| proxy | case | rate | min – max | CPU µs/req | with irq | p99 ms | proxy busy | its CPU: interrupts | its CPU: other work | rounds | quiet | with errors |"
    );
    let _ = writeln!(
        w,
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for (p, label) in run.labels.iter().enumerate() {
        for (c, case) in CASES.iter().enumerate() {
            let s = &run.samples[p][c];
            if s.is_empty() {
                continue;
            }
            let rates: Vec<f64> = s.iter().map(|s| s.rate(c)).collect();
            let min = rates.iter().copied().fold(f64::INFINITY, f64::min);
            let max = rates.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let fmt = |x: f64| {
                if is_file(c) {
                    format!("{x:.0} MB/s")
                } else {
                    format!("{} req/s", grouped(x))
                }
            };
            let bare = |x: f64| {
                if is_file(c) {
                    format!("{x:.0}")
                } else {
                    grouped(x)
                }
            };
            let _ = writeln!(
                w,
                "| {label} | {} | {} | {} – {} | {:.2} | {:.2} | {:.2} | {:.0}% | {:.0}% | {:.0}% | {} | {} | {} |",
                case.title,
                fmt(median(rates.clone())),
                bare(min),
                bare(max),
                median(s.iter().map(Sample::cpu_us).collect()),
                median(s.iter().map(Sample::cpu_irq_us).collect()),
                median(s.iter().map(|s| s.p99_ms).collect()),
                median(s.iter().map(|s| 100.0 * s.cpu / s.wall).collect()),
                median(s.iter().map(|s| 100.0 * s.interrupts / s.wall).collect()),
                median(s.iter().map(|s| 100.0 * s.other / s.wall).collect()),
                s.len(),
                s.iter().filter(|s| s.quiet()).count(),
                s.iter().filter(|s| !s.errors.is_empty()).count(),
            );
        }
    }
    let _ = writeln!(w);
    let mut listed = false;
    for (p, label) in run.labels.iter().enumerate() {
        let mut lines: Vec<String> = run.problems[p].clone();
        for (c, case) in CASES.iter().enumerate() {
            for (r, s) in run.samples[p][c].iter().enumerate() {
                for e in &s.errors {
                    lines.push(format!("{}, sample {}: {e}", case.title, r + 1));
                }
            }
        }
        if lines.is_empty() {
            continue;
        }
        if !listed {
            let _ = writeln!(w, "## Errors and skipped proxies\n");
            listed = true;
        }
        for line in lines {
            let _ = writeln!(w, "- {label}: {line}");
        }
    }
    if !listed {
        let _ = writeln!(
            w,
            "No errors: every proxy passed the exact check every round, and wrk reported no \
             socket error, no non-2xx response and no missing bytes."
        );
    }
}
