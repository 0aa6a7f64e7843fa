//! The runtime kit for programs without libc or std (feature `rt`): what a static binary needs
//! around the reactor so that its own code is safe code only.
//!
//! - `_start` (x86_64 and aarch64): saves the arguments, the environment and the auxiliary
//!   vector from the initial stack, opens `/dev/null` on any of descriptors 0, 1 and 2 that is
//!   closed, runs the program's `main` (installed with `barepoll::main!`) and exits with
//!   its status through `exit_group`.
//! - [`Allocator`]: size classes over `mmap`, fallible (null, never an abort), thread-safe,
//!   pages given back to the kernel; installed as the global allocator by `main!`.
//! - `memcpy`, `memmove`, `memset`, `memcmp`, `bcmp` (written so that the compiler cannot
//!   turn them into calls to themselves), and a `#[panic_handler]` that prints
//!   `panicked at FILE:LINE: MESSAGE` and exits 101 (with the feature `panic-no-fmt`, just
//!   `panicked (message left out)`, and no `core::fmt` is linked for it: about 5 KiB less).
//! - [`args`], [`vars`] and [`var`]; [`Stdout`], [`Stderr`] and the `print!`, `println!`,
//!   `eprint!` and `eprintln!` macros.
//!
//! This folder may hold `unsafe` (it is part of the syscall boundary); it may not be used by
//! the reactor itself, which never depends on the runtime being there. Its private syscalls
//! (`kernel.rs`) serve the runtime only. [`Allocator`], the argument and environment readers
//! and the writers exist in every build; the entry point, the global symbols and the macros
//! only with `rt`, which is for `#![no_std]`, `#![no_main]` binaries and cannot be combined
//! with `std` (both would define the panic handler and the process entry).
//!
//! A program on the kit:
//!
//! ```ignore
//! #![no_std]
//! #![no_main]
//! #![forbid(unsafe_code)]
//!
//! barepoll::main!(main);
//!
//! fn main() -> i32 {
//!     barepoll::println!("{} arguments", barepoll::sys::rt::args().len());
//!     0
//! }
//! ```
//!
//! Link it with `-nostartfiles -nostdlib -static` and `panic = "abort"` in both profiles
//! (`examples/nolibc` shows the build script and profiles).

mod alloc;
mod kernel;
mod print;
mod process;

#[cfg(feature = "rt")]
mod entry;
#[cfg(feature = "rt")]
mod mem;
// Not with std (a `compile_error!` in lib.rs says why), so that error stands alone.
#[cfg(all(feature = "rt", not(feature = "std")))]
mod panic;

pub use self::alloc::Allocator;
#[cfg(feature = "rt")]
pub use self::entry::Exit;
pub use self::print::{print_to, write_all, Stderr, Stdout};
pub use self::process::{args, var, vars, Args, Vars};
#[allow(unused_imports)] // for the vDSO clock
pub(crate) use self::process::{auxv_value, AT_SYSINFO_EHDR};

/// Makes `main` the program's entry (feature `rt`): `_start` runs it and exits with its
/// status. `main` is a plain safe `fn main() -> T` where `T` is `()`, `i32`, `u8` or a
/// `Result` of one of those with a `Debug` error (see [`Exit`]).
///
/// It expands to the global allocator (an [`Allocator`]) and a safe function that `_start`
/// calls by its unmangled name, `__barepoll_rt_main`; no `unsafe` block, so the program may be
/// `#![forbid(unsafe_code)]` (edition 2021 or 2024). Use it once, in the binary crate.
///
/// ```ignore
/// #![no_std]
/// #![no_main]
/// #![forbid(unsafe_code)]
/// barepoll::main!(main);
/// fn main() -> Result<(), barepoll::sys::Errno> {
///     barepoll::sys::rt::write_all(barepoll::sys::stdout(), b"hello\n")
/// }
/// ```
#[cfg(feature = "rt")]
#[macro_export]
macro_rules! main {
    ($main:path) => {
        #[global_allocator]
        static BAREPOLL_RT_HEAP: $crate::sys::rt::Allocator = $crate::sys::rt::Allocator::new();

        // The program's entry, called by barepoll's `_start` by this unmangled name.
        #[no_mangle]
        fn __barepoll_rt_main() -> i32 {
            $crate::sys::rt::Exit::code($main())
        }
    };
}
