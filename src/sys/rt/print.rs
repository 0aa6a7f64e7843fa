//! Formatted output to the standard streams without std: [`Stdout`] and [`Stderr`]
//! (`core::fmt::Write`), [`write_all`], and what `print!`, `println!`, `eprint!` and
//! `eprintln!` expand to (those macros exist with the `rt` feature only, where std's do not).

use crate::sys::{self, BorrowedFd, Errno};
use core::fmt;

/// Writes all of `bytes` to `fd`, resuming after partial writes and `EINTR`.
///
/// # Errors
/// The first other error of `write` (`EBADF`, `EPIPE`, `EAGAIN` on a non-blocking fd, ...),
/// or `EIO` if the kernel took nothing (a write of 0 bytes).
///
/// ```
/// barepoll::sys::rt::write_all(barepoll::sys::stdout(), b"all of it\n")?;
/// # Ok::<(), barepoll::sys::Errno>(())
/// ```
pub fn write_all(fd: BorrowedFd<'_>, mut bytes: &[u8]) -> Result<(), Errno> {
    while !bytes.is_empty() {
        match sys::write(fd, bytes) {
            Ok(0) => return Err(Errno::EIO),
            Ok(n) => bytes = &bytes[n.min(bytes.len())..],
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Standard output as a `core::fmt::Write`: each `write_str` is written at once, in full.
///
/// ```
/// use core::fmt::Write;
/// writeln!(barepoll::sys::rt::Stdout, "{} + {} = {}", 1, 2, 1 + 2)?;
/// # Ok::<(), core::fmt::Error>(())
/// ```
pub struct Stdout;

/// Standard error as a `core::fmt::Write` (see [`Stdout`]).
///
/// ```
/// use core::fmt::Write;
/// writeln!(barepoll::sys::rt::Stderr, "a diagnostic")?;
/// # Ok::<(), core::fmt::Error>(())
/// ```
pub struct Stderr;

impl fmt::Write for Stdout {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        write_all(sys::stdout(), s.as_bytes()).map_err(|_| fmt::Error)
    }
}

impl fmt::Write for Stderr {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        write_all(sys::stderr(), s.as_bytes()).map_err(|_| fmt::Error)
    }
}

/// Formats into a buffer on the stack, written to `fd` when full and at the end: a short
/// line is one `write`, so lines from several threads do not interleave.
pub(super) struct Buffered<'a> {
    fd: BorrowedFd<'a>,
    buf: [u8; 256],
    len: usize,
}

impl<'a> Buffered<'a> {
    pub(super) fn new(fd: BorrowedFd<'a>) -> Self {
        Buffered {
            fd,
            buf: [0; 256],
            len: 0,
        }
    }

    pub(super) fn flush(&mut self) -> Result<(), Errno> {
        let len = core::mem::take(&mut self.len);
        write_all(self.fd, &self.buf[..len])
    }
}

impl Buffered<'_> {
    /// Appends `s`, writing out the buffer whenever it is full; stops at the first error.
    pub(super) fn push(&mut self, mut s: &[u8]) -> Result<(), Errno> {
        while let Some((&first, rest)) = s.split_first() {
            if self.len == self.buf.len() {
                self.flush()?;
            }
            self.buf[self.len % self.buf.len()] = first;
            self.len += 1;
            s = rest;
        }
        Ok(())
    }
}

impl fmt::Write for Buffered<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.push(s.as_bytes()).map_err(|_| fmt::Error)
    }
}

/// What `print!` and friends call: formats `args` to stdout (or stderr), ignoring errors
/// (a closed or full stream loses the output; [`Stdout`] reports them).
///
/// ```
/// barepoll::sys::rt::print_to(false, format_args!("{}\n", 42));
/// ```
#[doc(hidden)]
pub fn print_to(stderr: bool, args: fmt::Arguments<'_>) {
    let mut out = Buffered::new(if stderr { sys::stderr() } else { sys::stdout() });
    if fmt::Write::write_fmt(&mut out, args).is_ok() {
        let _ = out.flush();
    }
}

/// Prints to standard output, as std's `print!` (feature `rt`: a program without std).
///
/// ```ignore
/// barepoll::print!("{} ", 1);
/// ```
#[cfg(feature = "rt")]
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::sys::rt::print_to(false, format_args!($($arg)*)) };
}

/// Prints a line to standard output, as std's `println!` (feature `rt`).
///
/// ```ignore
/// barepoll::println!("listening on {}", 8080);
/// ```
#[cfg(feature = "rt")]
#[macro_export]
macro_rules! println {
    () => { $crate::sys::rt::print_to(false, format_args!("\n")) };
    ($($arg:tt)*) => { $crate::sys::rt::print_to(false, format_args!("{}\n", format_args!($($arg)*))) };
}

/// Prints to standard error, as std's `eprint!` (feature `rt`).
///
/// ```ignore
/// barepoll::eprint!("warning: ");
/// ```
#[cfg(feature = "rt")]
#[macro_export]
macro_rules! eprint {
    ($($arg:tt)*) => { $crate::sys::rt::print_to(true, format_args!($($arg)*)) };
}

/// Prints a line to standard error, as std's `eprintln!` (feature `rt`).
///
/// ```ignore
/// barepoll::eprintln!("nolibc-echo: {}", "bad arguments");
/// ```
#[cfg(feature = "rt")]
#[macro_export]
macro_rules! eprintln {
    () => { $crate::sys::rt::print_to(true, format_args!("\n")) };
    ($($arg:tt)*) => { $crate::sys::rt::print_to(true, format_args!("{}\n", format_args!($($arg)*))) };
}
