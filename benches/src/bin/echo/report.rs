//! The cases, their medians over rounds, and the markdown that `results/echo.md` holds.

use crate::load::{Load, Sample, Timing};
use crate::servers::SERVERS;
use std::fmt::Write;

pub struct Case {
    pub load: Load,
    pub title: &'static str,
}

pub const CASES: [Case; 4] = [
    Case {
        load: Load::PingPong(1),
        title: "64 B ping-pong, 1 conn",
    },
    Case {
        load: Load::PingPong(16),
        title: "64 B ping-pong, 16 conns",
    },
    Case {
        load: Load::PingPong(256),
        title: "64 B ping-pong, 256 conns",
    },
    Case {
        load: Load::Stream(16),
        title: "streaming, 16 conns",
    },
];

/// The case whose server CPU per round trip the main table shows.
const CPU_CASE: usize = 1;

/// Above this 1-minute load average at the start, the figures are flagged as noisy.
pub const QUIET_LOAD: f64 = 0.5;
/// Above this share of the CPUs taken by other work during any window, the same.
const QUIET_OTHER: f64 = 0.1;

pub struct Run {
    pub command: &'static str,
    pub rounds: usize,
    pub timing: Timing,
    pub loadavg: f64,
    /// `samples[server][case]`, one per round.
    pub samples: Vec<Vec<Vec<Sample>>>,
    pub secs: f64,
}

/// Units per second: round trips, or MB (10^6 bytes) when streaming.
fn rate(load: Load, s: &Sample) -> f64 {
    match load {
        Load::PingPong(_) => s.units as f64 / s.secs,
        Load::Stream(_) => s.units as f64 / s.secs / 1e6,
    }
}

/// Server CPU µs per unit (round trip, or MB).
fn cpu_per_unit(load: Load, s: &Sample) -> f64 {
    match load {
        Load::PingPong(_) => s.server_cpu * 1e6 / s.units as f64,
        Load::Stream(_) => s.server_cpu * 1e6 / (s.units as f64 / 1e6),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn stat(samples: &[Sample], f: impl Fn(&Sample) -> f64) -> (f64, f64, f64) {
    let v: Vec<f64> = samples.iter().map(f).collect();
    let min = v.iter().copied().fold(f64::INFINITY, f64::min);
    let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (median(v), min, max)
}

/// A rate as printed: thousands grouped for round trips, whole MB/s for streaming.
fn fmt_rate(load: Load, x: f64) -> String {
    match load {
        Load::Stream(_) => format!("{x:.0}"),
        Load::PingPong(_) => {
            let digits = format!("{:.0}", x);
            let mut out = String::new();
            for (i, c) in digits.chars().enumerate() {
                if i > 0 && (digits.len() - i) % 3 == 0 {
                    out.push(',');
                }
                out.push(c);
            }
            out
        }
    }
}

/// A window of a case with 16 or more connections in which neither the server nor the generator
/// was busy `STARVED` of the time. With that much in flight one of the two always has work, so
/// something outside held both back: on a virtual machine, a busy host delaying wake-ups (which
/// shows inside as idle time, not as other work).
fn starved(load: Load, s: &Sample) -> bool {
    let (Load::PingPong(n) | Load::Stream(n)) = load;
    n >= 16 && s.server_cpu.max(s.client_cpu) < STARVED * s.secs
}

const STARVED: f64 = 0.7;

/// One progress line.
pub fn brief(case: &Case, s: &Sample) -> String {
    let unit = match case.load {
        Load::PingPong(_) => "rt/s",
        Load::Stream(_) => "MB/s",
    };
    format!(
        "{} {unit}, server busy {:.0}%, generator busy {:.0}%, other work {:.0}%{}",
        fmt_rate(case.load, rate(case.load, s)),
        100.0 * s.server_cpu / s.secs,
        100.0 * s.client_cpu / s.secs,
        100.0 * s.other,
        if starved(case.load, s) {
            ", starved"
        } else {
            ""
        }
    )
}

pub fn markdown(run: &Run) -> String {
    let mut md = String::new();
    let w = &mut md;
    let _ = writeln!(w, "# Loopback TCP echo\n");
    let others: Vec<f64> = run
        .samples
        .iter()
        .flatten()
        .flatten()
        .map(|s| s.other)
        .collect();
    let worst = others.iter().copied().fold(0.0, f64::max);
    let windows = others.len();
    let other = median(others);
    let starved_windows: usize = run
        .samples
        .iter()
        .map(|by_case| {
            CASES
                .iter()
                .zip(by_case)
                .map(|(case, samples)| samples.iter().filter(|s| starved(case.load, s)).count())
                .sum::<usize>()
        })
        .sum();
    let _ = writeln!(
        w,
        "`{}` on {}; 1-minute load average {:.2} at the start; other work during the windows: \
         median {:.0}%, at most {:.0}%; starved windows (see below): {starved_windows} of \
         {windows}; took {:.0} s.\n",
        run.command,
        crate::machine::describe(),
        run.loadavg,
        other * 100.0,
        worst * 100.0,
        run.secs
    );
    if run.loadavg > QUIET_LOAD {
        let _ = writeln!(
            w,
            "**Noisy:** the load average was above {QUIET_LOAD} when the run started.\n"
        );
    }
    if starved_windows > 0 {
        let _ = writeln!(
            w,
            "**Noisy:** in {starved_windows} window(s) neither the server nor the load generator \
             could keep its CPU busy; the main table counts them per cell.\n"
        );
    }
    if worst > QUIET_OTHER {
        let _ = writeln!(
            w,
            "**Noisy:** other work took more than {:.0}% of the CPUs during a window.\n",
            QUIET_OTHER * 100.0
        );
    }
    let pinning = match run.timing.cpus {
        Some((server, client)) => {
            format!("each server pinned to CPU {server}, the load generator to CPU {client}")
        }
        None => "not pinned: CPUs 0 and 1 are not both available".to_string(),
    };
    let _ = writeln!(
        w,
        "Every server is its own single-threaded process ({pinning}). {} interleaved round(s), each \
         server once per round in rotating order, each case a {:.1} s window after {:.1} s of \
         warm-up on fresh connections; figures are medians over rounds. A round trip is 64 bytes \
         sent and the same 64 bytes read back and checked; streaming connections push 1 MiB \
         chunks while reading back, and MB/s (10^6 bytes) counts bytes echoed and checked. \
         Server CPU is user + system time from `/proc/PID/stat` over the window (10 ms ticks); \
         unlike the rates, it does not depend on how fast the load generator is. barepoll's \
         two examples close a connection idle for 30 s (a timer per connection, pushed later at \
         each message), and so does the labelled tokio variant (`tokio::time::timeout` around \
         each read); the other peers have no idle timeout.\n",
        run.rounds,
        run.timing.window.as_secs_f64(),
        run.timing.warmup.as_secs_f64()
    );
    let _ = writeln!(
        w,
        "| server | rt/s, 1 conn | rt/s, 16 conns | rt/s, 256 conns | MB/s, streaming 16 conns | server CPU µs per rt, 16 conns |"
    );
    let _ = writeln!(w, "|---|---:|---:|---:|---:|---:|");
    for (server, by_case) in SERVERS.iter().zip(&run.samples) {
        let _ = write!(w, "| {} |", server.label);
        for (case, samples) in CASES.iter().zip(by_case) {
            let (m, _, _) = stat(samples, |s| rate(case.load, s));
            let _ = write!(w, " {}", fmt_rate(case.load, m));
            match samples.iter().filter(|s| starved(case.load, s)).count() {
                0 => {}
                k => {
                    let _ = write!(w, " ({k} of {} starved)", samples.len());
                }
            }
            let _ = write!(w, " |");
        }
        let load = CASES[CPU_CASE].load;
        let (cpu, _, _) = stat(&by_case[CPU_CASE], |s| cpu_per_unit(load, s));
        let _ = writeln!(w, " {cpu:.2} |");
    }
    let _ = writeln!(
        w,
        "\n## Every case\n\nMedian and range over rounds. Server CPU is per round trip, or per MB \
         streamed; busy is CPU time over wall time, for the server and for the load generator \
         (which should stay below the server: at 100% it, not the server, sets the pace). Other \
         work is the share of the two CPUs' time (from `/proc/stat`, steal included) that went \
         to neither; a busy host can also slow wake-ups without showing there, as idle time. \
         A window is starved when, with 16 or more connections, neither the server nor the \
         generator was busy {:.0}% of it: one of them always has work then, unless something \
         outside holds both back.\n",
        STARVED * 100.0
    );
    let _ = writeln!(
        w,
        "| server | case | rate | min – max | starved | rate, rest | server CPU µs per unit | server busy | generator busy | other work |"
    );
    let _ = writeln!(w, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut bound = Vec::new();
    for (server, by_case) in SERVERS.iter().zip(&run.samples) {
        for (case, samples) in CASES.iter().zip(by_case) {
            let load = case.load;
            let (m, lo, hi) = stat(samples, |s| rate(load, s));
            let (cpu, _, _) = stat(samples, |s| cpu_per_unit(load, s));
            let (busy, _, _) = stat(samples, |s| s.server_cpu / s.secs);
            let (gen, _, _) = stat(samples, |s| s.client_cpu / s.secs);
            let (other, _, _) = stat(samples, |s| s.other);
            let rest: Vec<&Sample> = samples.iter().filter(|s| !starved(load, s)).collect();
            let rest_rate = match rest.len() {
                0 => "–".to_string(),
                _ => fmt_rate(load, median(rest.iter().map(|s| rate(load, s)).collect())),
            };
            let unit = match load {
                Load::PingPong(_) => "rt/s",
                Load::Stream(_) => "MB/s",
            };
            let _ = writeln!(
                w,
                "| {} | {} | {} {unit} | {} – {} | {} of {} | {rest_rate} | {cpu:.2} | {:.0}% | {:.0}% | {:.0}% |",
                server.label,
                case.title,
                fmt_rate(load, m),
                fmt_rate(load, lo),
                fmt_rate(load, hi),
                samples.len() - rest.len(),
                samples.len(),
                busy * 100.0,
                gen * 100.0,
                other * 100.0
            );
            if gen > 0.9 && gen > busy {
                bound.push(format!("{} / {}", server.label, case.title));
            }
        }
    }
    if !bound.is_empty() {
        let _ = writeln!(
            w,
            "\nThe load generator was busier than the server (over 90%) in: {}. There the figure \
             is a lower bound for the server.",
            bound.join("; ")
        );
    }
    md
}
