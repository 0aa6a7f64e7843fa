//! Memory per registered subscriber beyond the user's own value.
//!
//! The probe is a binary of its own (`bin/memory.rs`) whose global allocator is [`Counting`]:
//! one child process per variant makes [`SUBSCRIBERS`] eventfds, builds the variant's empty
//! reactor, and reports what registering every fd added to the heap. Two readings:
//! - counted: bytes asked of the allocator and still held (the counting allocator);
//! - heap: glibc's bytes in use (`mallinfo2`), which adds each chunk's header and rounding.
//!
//! Per subscriber = growth / N − the user's own value (an fd and its counter, [`USER_VALUE`]).
//! Growth of tables that double (a slab, a slot table, a hash map) counts as it falls at N.
//!
//! The same probe, as `barepoll-benches-memory cycles VARIANT`, runs a million arm+cancel
//! cycles of a timer and reports the heap the loop holds after [`CYCLES`] of them.

use crate::variants::{Conn, Variant};
use std::alloc::{GlobalAlloc, Layout, System};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Subscribers registered per probe: about 15,000, to stay under a 20,000 fd hard limit.
pub const SUBSCRIBERS: usize = 15_000;

/// After how many arm+cancel cycles the cycles probe reports the heap held.
pub const CYCLES: [u64; 3] = [0, 100_000, 1_000_000];

/// The user's own value: what every variant keeps per fd (its fd and its counter).
pub const USER_VALUE: usize = std::mem::size_of::<Conn>();

static HELD: AtomicUsize = AtomicUsize::new(0);

/// The system allocator, keeping count of the bytes it holds. Installed only in the probe.
pub struct Counting;

// SAFETY: every call is forwarded to `System` unchanged; the count only reads the layouts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            HELD.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            HELD.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) };
        HELD.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            HELD.fetch_add(new_size, Ordering::Relaxed);
            HELD.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        p
    }
}

/// Heap held at one moment, by both readings.
#[derive(Clone, Copy, Debug)]
pub struct Footprint {
    pub counted: usize,
    pub heap: usize,
}

impl Footprint {
    pub fn now() -> Footprint {
        Footprint {
            counted: HELD.load(Ordering::Relaxed),
            heap: glibc_in_use(),
        }
    }

    /// Growth since `start`.
    pub fn since(self, start: Footprint) -> Footprint {
        Footprint {
            counted: self.counted.wrapping_sub(start.counted),
            heap: self.heap.wrapping_sub(start.heap),
        }
    }
}

#[cfg(target_env = "gnu")]
fn glibc_in_use() -> usize {
    // SAFETY: mallinfo2 only reads the allocator's statistics.
    let info = unsafe { libc::mallinfo2() };
    info.uordblks + info.hblkhd
}

#[cfg(not(target_env = "gnu"))]
fn glibc_in_use() -> usize {
    0
}

/// Bytes per subscriber beyond the user's value, by both readings.
#[derive(Clone, Copy, Debug)]
pub struct PerSubscriber {
    pub counted: f64,
    pub heap: f64,
}

/// The probe binary beside this one, built first if it is not (a no-op when it is fresh).
pub fn probe_binary() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let probe = exe.with_file_name("barepoll-benches-memory");
    if let Ok(cargo) = std::env::var("CARGO") {
        let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
        let built = Command::new(cargo)
            .args(["build", "--release", "--quiet", "--manifest-path", manifest])
            .args(["--bin", "barepoll-benches-memory"])
            .status()
            .map_err(|e| format!("cargo build: {e}"))?;
        if !built.success() {
            return Err(format!("cargo build of the memory probe: {built}"));
        }
    }
    if probe.exists() {
        Ok(probe)
    } else {
        Err(format!("{} not built", probe.display()))
    }
}

/// Runs the probe with `args`: what it printed, or its error output if it failed.
fn run_probe(probe: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new(probe)
        .args(args)
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs the probe for `variant` with `n` subscribers.
pub fn measure(probe: &Path, variant: &Variant, n: usize) -> Result<PerSubscriber, String> {
    let text = run_probe(probe, &[variant.id, &n.to_string()])?;
    let mut fields = text.split_whitespace().map(str::parse::<usize>);
    let (Some(Ok(counted)), Some(Ok(heap))) = (fields.next(), fields.next()) else {
        return Err(format!("unexpected probe output: {text}"));
    };
    let per = |bytes: usize| bytes as f64 / n as f64 - USER_VALUE as f64;
    Ok(PerSubscriber {
        counted: per(counted),
        heap: per(heap),
    })
}

/// Runs the probe's one-subscriber-on-a-high-fd reading for `variant`: the fd number and the
/// heap growth from registering it into an empty reactor.
pub fn high(probe: &Path, variant: &Variant) -> Result<(i32, Footprint), String> {
    let text = run_probe(probe, &["high", variant.id])?;
    let mut f = text.split_whitespace();
    let (Some(Ok(counted)), Some(Ok(heap)), Some(Ok(fd))) = (
        f.next().map(str::parse::<usize>),
        f.next().map(str::parse::<usize>),
        f.next().map(str::parse::<i32>),
    ) else {
        return Err(format!("unexpected probe output: {text}"));
    };
    Ok((fd, Footprint { counted, heap }))
}

/// Runs the probe's arm+cancel cycles for `variant`: the heap its loop holds after each of
/// [`CYCLES`].
pub fn cycles(probe: &Path, variant: &Variant) -> Result<Vec<Footprint>, String> {
    let text = run_probe(probe, &["cycles", variant.id])?;
    let held: Vec<Footprint> = text
        .lines()
        .filter_map(|line| {
            let mut f = line.split_whitespace().map(str::parse::<usize>);
            let (Some(Ok(counted)), Some(Ok(heap))) = (f.next(), f.next()) else {
                return None;
            };
            Some(Footprint { counted, heap })
        })
        .collect();
    if held.len() != CYCLES.len() {
        return Err(format!("unexpected probe output: {text}"));
    }
    Ok(held)
}
