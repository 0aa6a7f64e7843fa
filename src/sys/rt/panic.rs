//! The panic handler of a program without std (feature `rt`): `panicked at FILE:LINE:
//! MESSAGE` on stderr, then exit status 101, as std's default hook and `panic = "abort"`
//! would give. Nothing unwinds.
//!
//! Formatting a message (`index out of bounds: the len is 3 but the index is 7`) takes
//! `core::fmt`, several KiB of code. With the feature `panic-no-fmt` the handler writes
//! `panicked (message left out)` instead, and a program whose own code never formats links no
//! `core::fmt` at all. Even the location is left out: it travels in the same `PanicInfo` as
//! the message, and reading any of it keeps the formatting code of every panic site alive
//! (3.4 KiB on x86_64). A feature, not a run-time choice, for the same reason: the message
//! must be dead code the optimizer can see.

use crate::sys::{self, exit_group};
use core::panic::PanicInfo;
#[cfg(not(feature = "panic-no-fmt"))]
use core::sync::atomic::{AtomicBool, Ordering};

#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    report(info);
    exit_group(101)
}

// `PanicInfo::message` is Rust 1.81: the `rt` feature needs 1.81 (the library alone, 1.70).
#[cfg(not(feature = "panic-no-fmt"))]
#[clippy::msrv = "1.81"]
fn report(info: &PanicInfo<'_>) {
    use core::fmt::Write;
    /// Set by the first panic: one that happens while the message is written (a `Display`
    /// impl that panics) exits at once rather than recursing.
    static PANICKED: AtomicBool = AtomicBool::new(false);
    if PANICKED.swap(true, Ordering::Relaxed) {
        return;
    }
    let mut out = super::print::Buffered::new(sys::stderr());
    let _ = match info.location() {
        Some(at) => writeln!(
            out,
            "panicked at {}:{}: {}",
            at.file(),
            at.line(),
            info.message()
        ),
        None => writeln!(out, "panicked: {}", info.message()),
    };
    let _ = out.flush();
}

#[cfg(feature = "panic-no-fmt")]
fn report(_: &PanicInfo<'_>) {
    // If stderr cannot take it there is no one else to tell: the exit status (101) still
    // reports the panic.
    if sys::write(sys::stderr(), b"panicked (message left out)\n").is_err() {}
}

/// The personality routine that the unwind tables of the precompiled `core` and `alloc`
/// (built for `panic = "unwind"`) name. A program with `panic = "abort"` never unwinds, so
/// nothing ever calls it; it is here so that such a program links without LTO too (`cargo
/// build` in the dev profile), where those precompiled objects are linked as they are, tables
/// and all. (With LTO they are compiled again, for `abort`, and name it no more.) Should it
/// ever be called, it ends the process.
#[no_mangle]
extern "C" fn rust_eh_personality() {
    exit_group(134)
}
