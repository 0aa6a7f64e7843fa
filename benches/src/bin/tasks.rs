//! Executors side by side: barepoll's tasks, tokio's current-thread runtime (`LocalSet`, as its
//! users run `!Send` tasks) and async-executor's `LocalExecutor` (driven by
//! `futures_lite::future::block_on`), in callgrind instructions per operation.
//!
//! ```text
//! cargo run --release --manifest-path benches/Cargo.toml --bin tasks
//! ```
//!
//! Cases (the same async code on every runtime; only spawning, joining and timers differ):
//! - `pingpong`: two tasks woken in turn from the loop's thread through a shared flag and a
//!   stored waker; per round trip (two wakes, two polls).
//! - `spawn`: a task spawns a trivial task (returning 1) and awaits its handle; per spawn+join.
//! - `timeout`: a task awaits a timeout of 60 s around a ready future; per timeout. No timers
//!   in async-executor: skipped.
//! - `reset`: a task holds an armed sleep of 60 s and, per operation, resets it to 60 s from
//!   now (a clock reading) and polls it once (pending). No timers in async-executor: skipped.
//! - memory per spawned task: N pending tasks under a counting allocator, in a binary of its
//!   own (`tasks-memory`), bytes asked of the allocator and still held ÷ N (the future has size
//!   zero).
//!
//! Each count is a child process of this binary under `valgrind --tool=callgrind`, collecting
//! only inside the measured function (`tasks_CASE_RUNTIME`: building the runtime and a warm-up
//! round stay outside; the function runs the whole `block_on`). Results go to stdout and to
//! `benches/results/tasks.md`.

use barepoll_benches::{machine, valgrind};
use std::cell::Cell;
use std::future::{poll_fn, ready, Future};
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Duration;

/// Operations per measured run.
const N: u64 = 20_000;
/// Pending tasks spawned by the memory probe.
const MEMORY_N: u64 = 20_000;
/// Operations of the warm-up run, outside the measured function.
const WARM: u64 = 200;
/// The timeout that never fires.
const LONG: Duration = Duration::from_secs(60);

const RUNTIMES: [&str; 3] = ["barepoll", "tokio", "async_executor"];
const CASES: [(&str, &str); 4] = [
    ("pingpong", "wake + poll, per round trip (2 wakes, 2 polls)"),
    ("spawn", "spawn + join of a trivial task"),
    ("timeout", "`timeout` around a ready future"),
    ("reset", "`sleep` reset to 60 s from now, and a poll"),
];

/// Polls `future` once: 1 if it is pending, 0 if it ended.
async fn poll_once<F: Future>(mut future: Pin<&mut F>) -> u64 {
    poll_fn(|cx| match future.as_mut().poll(cx) {
        Poll::Pending => Poll::Ready(1),
        Poll::Ready(_) => Poll::Ready(0),
    })
    .await
}

/// Whose turn it is, and the waker of each player while it waits.
struct Table {
    turn: Cell<usize>,
    waiting: [Cell<Option<Waker>>; 2],
}

fn table() -> Rc<Table> {
    Rc::new(Table {
        turn: Cell::new(0),
        waiting: [Cell::new(None), Cell::new(None)],
    })
}

async fn player(me: usize, table: Rc<Table>, rounds: u64) -> u64 {
    for _ in 0..rounds {
        poll_fn(|cx| {
            if table.turn.get() == me {
                return Poll::Ready(());
            }
            table.waiting[me].set(Some(cx.waker().clone()));
            Poll::Pending
        })
        .await;
        table.turn.set(1 - me);
        if let Some(other) = table.waiting[1 - me].take() {
            other.wake();
        }
    }
    rounds
}

// ---- barepoll

type Bare = barepoll::Reactor;

fn bare_on<F: Future<Output = u64> + 'static>(reactor: &mut Bare, future: F) -> u64 {
    let handle = reactor.spawn(future).unwrap();
    reactor.block_on(handle).unwrap().unwrap()
}

fn bare_pingpong(reactor: &mut Bare, n: u64) -> u64 {
    let spawner = reactor.spawner().unwrap();
    bare_on(reactor, async move {
        let t = table();
        let a = spawner.spawn(player(0, t.clone(), n)).unwrap();
        let b = spawner.spawn(player(1, t, n)).unwrap();
        a.await.unwrap() + b.await.unwrap()
    }) / 2
}

fn bare_spawn(reactor: &mut Bare, n: u64) -> u64 {
    let spawner = reactor.spawner().unwrap();
    bare_on(reactor, async move {
        let mut sum = 0;
        for _ in 0..n {
            sum += spawner.spawn(async { 1 }).unwrap().await.unwrap();
        }
        sum
    })
}

fn bare_timeout(reactor: &mut Bare, n: u64) -> u64 {
    let spawner = reactor.spawner().unwrap();
    bare_on(reactor, async move {
        let mut sum = 0;
        for _ in 0..n {
            sum += spawner.timeout(LONG, ready(1)).await.unwrap();
        }
        sum
    })
}

fn bare_reset(reactor: &mut Bare, n: u64) -> u64 {
    let spawner = reactor.spawner().unwrap();
    bare_on(reactor, async move {
        let mut sleep = pin!(spawner.sleep(LONG));
        poll_once(sleep.as_mut()).await; // armed
        let mut sum = 0;
        for _ in 0..n {
            sleep.as_mut().reset(barepoll::Instant::now() + LONG);
            sum += poll_once(sleep.as_mut()).await;
        }
        sum
    })
}

// ---- tokio (current thread, a LocalSet for !Send tasks)

pub struct Tokio {
    rt: tokio::runtime::Runtime,
    local: tokio::task::LocalSet,
}

fn tokio_new() -> Tokio {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    Tokio {
        rt,
        local: tokio::task::LocalSet::new(),
    }
}

fn tokio_pingpong(t: &mut Tokio, n: u64) -> u64 {
    t.local.block_on(&t.rt, async move {
        let t = table();
        let a = tokio::task::spawn_local(player(0, t.clone(), n));
        let b = tokio::task::spawn_local(player(1, t, n));
        a.await.unwrap() + b.await.unwrap()
    }) / 2
}

fn tokio_spawn(t: &mut Tokio, n: u64) -> u64 {
    t.local.block_on(&t.rt, async move {
        let mut sum = 0;
        for _ in 0..n {
            sum += tokio::task::spawn_local(async { 1 }).await.unwrap();
        }
        sum
    })
}

fn tokio_timeout(t: &mut Tokio, n: u64) -> u64 {
    t.local.block_on(&t.rt, async move {
        let mut sum = 0;
        for _ in 0..n {
            sum += tokio::time::timeout(LONG, ready(1)).await.unwrap();
        }
        sum
    })
}

fn tokio_reset(t: &mut Tokio, n: u64) -> u64 {
    t.local.block_on(&t.rt, async move {
        let mut sleep = pin!(tokio::time::sleep(LONG));
        poll_once(sleep.as_mut()).await; // armed
        let mut sum = 0;
        for _ in 0..n {
            sleep.as_mut().reset(tokio::time::Instant::now() + LONG);
            sum += poll_once(sleep.as_mut()).await;
        }
        sum
    })
}

// ---- async-executor (LocalExecutor, futures-lite's block_on)

type Smol = async_executor::LocalExecutor<'static>;

fn smol_pingpong(ex: &mut Smol, n: u64) -> u64 {
    let ex = &*ex;
    futures_lite::future::block_on(ex.run(async move {
        let t = table();
        let a = ex.spawn(player(0, t.clone(), n));
        let b = ex.spawn(player(1, t, n));
        a.await + b.await
    })) / 2
}

fn smol_spawn(ex: &mut Smol, n: u64) -> u64 {
    let ex = &*ex;
    futures_lite::future::block_on(ex.run(async move {
        let mut sum = 0;
        for _ in 0..n {
            sum += ex.spawn(async { 1 }).await;
        }
        sum
    }))
}

// ---- the measured functions: one symbol each, so callgrind can collect inside it alone

macro_rules! measured {
    ($symbol:ident, $rt:ty, $body:path) => {
        #[no_mangle]
        #[inline(never)]
        pub fn $symbol(rt: &mut $rt, n: u64) -> u64 {
            // Tells identical bodies apart, so that LLVM does not merge two measured functions.
            std::hint::black_box(stringify!($symbol));
            $body(rt, n)
        }
    };
}

measured!(tasks_pingpong_barepoll, Bare, bare_pingpong);
measured!(tasks_spawn_barepoll, Bare, bare_spawn);
measured!(tasks_timeout_barepoll, Bare, bare_timeout);
measured!(tasks_reset_barepoll, Bare, bare_reset);
measured!(tasks_pingpong_tokio, Tokio, tokio_pingpong);
measured!(tasks_spawn_tokio, Tokio, tokio_spawn);
measured!(tasks_timeout_tokio, Tokio, tokio_timeout);
measured!(tasks_reset_tokio, Tokio, tokio_reset);
measured!(tasks_pingpong_async_executor, Smol, smol_pingpong);
measured!(tasks_spawn_async_executor, Smol, smol_spawn);

/// Builds the runtime, warms it up with the same case, then runs `n` operations in the measured
/// function (callgrind's instrumentation starts just before the warm-up) and checks them.
fn child(case: &str, runtime: &str, n: u64) {
    type Run<R> = (fn(&mut R, u64) -> u64, fn(&mut R, u64) -> u64);
    fn go<R>(mut rt: R, (plain, measured): Run<R>, n: u64) {
        valgrind::start_instrumentation();
        assert_eq!(plain(&mut rt, WARM), WARM);
        assert_eq!(measured(&mut rt, n), n);
    }
    match (runtime, case) {
        ("barepoll", "pingpong") => go(
            Bare::new().unwrap(),
            (bare_pingpong, tasks_pingpong_barepoll),
            n,
        ),
        ("barepoll", "spawn") => go(Bare::new().unwrap(), (bare_spawn, tasks_spawn_barepoll), n),
        ("barepoll", "timeout") => go(
            Bare::new().unwrap(),
            (bare_timeout, tasks_timeout_barepoll),
            n,
        ),
        ("barepoll", "reset") => go(Bare::new().unwrap(), (bare_reset, tasks_reset_barepoll), n),
        ("tokio", "reset") => go(tokio_new(), (tokio_reset, tasks_reset_tokio), n),
        ("tokio", "pingpong") => go(tokio_new(), (tokio_pingpong, tasks_pingpong_tokio), n),
        ("tokio", "spawn") => go(tokio_new(), (tokio_spawn, tasks_spawn_tokio), n),
        ("tokio", "timeout") => go(tokio_new(), (tokio_timeout, tasks_timeout_tokio), n),
        ("async_executor", "pingpong") => go(
            Smol::new(),
            (smol_pingpong, tasks_pingpong_async_executor),
            n,
        ),
        ("async_executor", "spawn") => go(Smol::new(), (smol_spawn, tasks_spawn_async_executor), n),
        _ => panic!("no case {case} for {runtime}"),
    }
}

fn measures(case: &str, runtime: &str) -> bool {
    !((case == "timeout" || case == "reset") && runtime == "async_executor")
}

/// Instructions per operation of one case on one runtime, from a callgrind child.
fn count(case: &str, runtime: &str) -> Result<f64, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = std::env::temp_dir().join(format!(
        "tasks-callgrind-{}-{case}-{runtime}",
        std::process::id()
    ));
    let output = std::process::Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg("--instr-atstart=no")
        .arg("--collect-atstart=no")
        .arg(format!("--toggle-collect=tasks_{case}_{runtime}"))
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(exe)
        .args(["child", case, runtime, &N.to_string()])
        .output()
        .map_err(|e| format!("valgrind: {e}"))?;
    let text = std::fs::read_to_string(&out).unwrap_or_default();
    let _ = std::fs::remove_file(&out);
    if !output.status.success() {
        let err = String::from_utf8_lossy(&output.stderr);
        return Err(err.lines().rev().take(5).collect::<Vec<_>>().join(" / "));
    }
    let total = text
        .lines()
        .find_map(|l| {
            l.strip_prefix("summary:")
                .or_else(|| l.strip_prefix("totals:"))
        })
        .and_then(|n| n.trim().parse::<f64>().ok())
        .ok_or("no totals in the callgrind output")?;
    Ok(total / N as f64)
}

/// Syscalls per operation of one case on one runtime (natively, under `strace -f -c`): the
/// difference between a child that runs N operations and one that runs none, over N.
fn syscalls(case: &str, runtime: &str) -> Result<f64, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let calls = |n: u64| -> Result<f64, String> {
        let out = std::env::temp_dir().join(format!(
            "tasks-strace-{}-{case}-{runtime}-{n}",
            std::process::id()
        ));
        let status = std::process::Command::new("strace")
            .args(["-f", "-c", "-o"])
            .arg(&out)
            .arg(&exe)
            .args(["child", case, runtime, &n.to_string()])
            .output()
            .map_err(|e| format!("strace: {e}"))?
            .status;
        let text = std::fs::read_to_string(&out).unwrap_or_default();
        let _ = std::fs::remove_file(&out);
        if !status.success() {
            return Err(format!("strace child: {status}"));
        }
        text.lines()
            .find(|l| l.trim_end().ends_with(" total"))
            .and_then(|l| l.split_whitespace().nth(3))
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| "no total in strace -c output".into())
    };
    Ok((calls(N)? - calls(0)?) / N as f64)
}

/// Bytes held per spawned pending task, from the memory probe beside this binary.
fn memory(runtime: &str) -> Result<f64, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    if let Ok(cargo) = std::env::var("CARGO") {
        let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
        std::process::Command::new(cargo)
            .args(["build", "--release", "--quiet", "--manifest-path", manifest])
            .args(["--features", "tasks", "--bin", "tasks-memory"])
            .status()
            .map_err(|e| format!("cargo build: {e}"))?;
    }
    let out = std::process::Command::new(exe.with_file_name("tasks-memory"))
        .args([runtime, &MEMORY_N.to_string()])
        .output()
        .map_err(|e| format!("tasks-memory: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let held: f64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .map_err(|e| format!("tasks-memory output: {e}"))?;
    Ok(held / MEMORY_N as f64)
}

fn cell(value: &Result<f64, String>, base: &Result<f64, String>, unit: &str) -> String {
    match (value, base) {
        (Ok(v), Ok(b)) if *b > 0.0 => format!("{v:.0} {unit} ({:.2}×)", v / b),
        (Ok(v), _) => format!("{v:.0} {unit}"),
        (Err(e), _) => {
            eprintln!("{e}");
            "failed".into()
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let ["child", case, runtime, n] = args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        return child(case, runtime, n.parse().expect("N"));
    }
    let (_, load) = machine::loadavg();
    let command = "cargo run --release --manifest-path benches/Cargo.toml --bin tasks";
    let valgrind = std::process::Command::new("valgrind")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let strace = std::process::Command::new("strace")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    let mut md = format!(
        "# Executors: barepoll's tasks, tokio current-thread, async-executor\n\n\
         `{command}`; load average at the start: {load}. Callgrind instructions per \
         operation (N = {N}, after {WARM} warm-up operations), ratio to barepoll in \
         parentheses, then syscalls per operation (`strace -f -c`, \
         native run, a run of no operations subtracted; kernel time is not in the instructions); \
         memory in bytes per pending task (N = {}) beyond its future.\n\
         tokio: `Builder::new_current_thread().enable_all()` + `LocalSet::block_on`, \
         `spawn_local`; async-executor: `LocalExecutor::run` under \
         `futures_lite::future::block_on`. One release profile (fat LTO, one codegen unit).\n\n\
         | case | barepoll | tokio | async-executor |\n|---|---|---|---|\n",
        MEMORY_N
    );
    for (case, label) in CASES {
        let counts: Vec<Result<f64, String>> = RUNTIMES
            .iter()
            .map(|rt| match (valgrind, measures(case, rt)) {
                (false, _) => Err("skipped (no valgrind)".into()),
                (true, false) => Err("skipped (no timers)".into()),
                (true, true) => count(case, rt),
            })
            .collect();
        let cells: Vec<String> = counts
            .iter()
            .zip(RUNTIMES)
            .map(|(c, rt)| match c {
                Err(e) if e.starts_with("skipped") => e.clone(),
                _ => match (strace, syscalls(case, rt)) {
                    (true, Ok(s)) => format!("{}, {s:.2} syscalls", cell(c, &counts[0], "instr")),
                    _ => cell(c, &counts[0], "instr"),
                },
            })
            .collect();
        md += &format!("| {label} | {} |\n", cells.join(" | "));
    }
    let bytes: Vec<Result<f64, String>> = RUNTIMES.iter().map(|rt| memory(rt)).collect();
    let cells: Vec<String> = bytes.iter().map(|b| cell(b, &bytes[0], "B")).collect();
    md += &format!("| memory per pending task | {} |\n", cells.join(" | "));
    print!("{md}");
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/results/tasks.md");
    std::fs::write(path, &md).expect("write results/tasks.md");
    eprintln!("written to {path}");
}
