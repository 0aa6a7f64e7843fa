//! The process entry point, `_start`, and how it reaches the program's `main`. Feature `rt`
//! only.
//!
//! `barepoll::main!` defines the safe function `__barepoll_rt_main` (a name in this
//! crate's namespace, unmangled) that runs the program's `main`; `_start` declares it and
//! calls it. The macro's expansion holds no `unsafe` block: a program can be
//! `#![forbid(unsafe_code)]`, on edition 2021 and 2024 alike, since the macro is written in
//! this crate's edition, where `no_mangle` is a plain attribute. (`#[no_mangle]` is an unsafe
//! attribute only in that two functions of one name would clash: this name is reserved to
//! the macro, a second definition fails to link, and the signature is the one declared here.)
//!
//! Another way in was weighed and refused: letting the `#[global_allocator]` static carry
//! `main` and record its own address on the first allocation. The compiler may assume an
//! allocation has no side effect but the memory it returns, and with LTO it did fold the
//! recorded address away.

use super::{kernel, process};
use crate::sys::exit_group;

// The kernel starts the program with the stack pointer on `argc` (see `process::save`).
// `_start` hands that address to `start`, on a 16-byte aligned stack, with a zero frame
// pointer (and, on aarch64, link register) marking the outermost frame.
#[cfg(target_arch = "x86_64")]
core::arch::global_asm!(
    ".globl _start",
    ".type _start, @function",
    "_start:",
    "xor ebp, ebp",
    "mov rdi, rsp",
    "and rsp, -16",
    "call {start}",
    "ud2",
    start = sym start,
);

#[cfg(target_arch = "aarch64")]
core::arch::global_asm!(
    ".globl _start",
    ".type _start, %function",
    "_start:",
    "mov x29, xzr",
    "mov x30, xzr",
    "mov x0, sp",
    "and x1, x0, #-16",
    "mov sp, x1",
    "bl {start}",
    "brk #0",
    start = sym start,
);

/// # Safety
/// Called once, by `_start`, with the stack pointer the kernel started the process with.
unsafe extern "C" fn start(stack: *const usize) -> ! {
    // SAFETY: the caller's contract is `save`'s.
    unsafe { process::save(stack) };
    open_standard_streams();
    extern "Rust" {
        /// Defined by `main!` in the program: runs its `main`, returns the exit status.
        fn __barepoll_rt_main() -> i32;
    }
    // SAFETY: `main!` defines it as a safe `fn() -> i32` with exactly this name and type
    // (a missing or second definition fails to link).
    exit_group(unsafe { __barepoll_rt_main() })
}

/// Opens `/dev/null` on each of 0, 1 and 2 the process was started without (as std's runtime
/// does), so that they are the standard streams [`stdin`](crate::sys::stdin) and friends lend,
/// and nothing else ever gets those numbers by accident. Exits 127 if one cannot be opened.
fn open_standard_streams() {
    for fd in 0..3 {
        // Numbers below `fd` are open by now, so the lowest free one is `fd` itself.
        if !kernel::is_open(fd) && kernel::open_dev_null() != fd as usize {
            exit_group(127);
        }
    }
}

/// What a program's `main` may return, and the exit status it stands for: `()` is 0, an
/// `i32` or `u8` is itself, `Ok(v)` is `v`'s status and `Err(e)` writes `Error: {e:?}` to
/// stderr and is 1 (as with std).
///
/// ```
/// use barepoll::sys::rt::Exit;
/// assert_eq!(().code(), 0);
/// assert_eq!(3i32.code(), 3);
/// ```
pub trait Exit {
    /// The exit status.
    fn code(self) -> i32;
}

impl Exit for () {
    fn code(self) -> i32 {
        0
    }
}

impl Exit for i32 {
    fn code(self) -> i32 {
        self
    }
}

impl Exit for u8 {
    fn code(self) -> i32 {
        self.into()
    }
}

impl<T: Exit, E: core::fmt::Debug> Exit for Result<T, E> {
    fn code(self) -> i32 {
        match self {
            Ok(v) => v.code(),
            Err(e) => {
                crate::eprintln!("Error: {:?}", e);
                1
            }
        }
    }
}
