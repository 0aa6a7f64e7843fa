//! What the kernel handed the program on its initial stack: the arguments, the environment
//! and the auxiliary vector, saved once by the entry point (feature `rt`) and read-only after.
//!
//! Without `rt` the crate never sees the initial stack: there are no arguments here, and
//! [`auxv_value`] answers `None`.

use core::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

/// The auxiliary vector's entry for the vDSO's ELF header.
#[allow(dead_code)] // for the vDSO clock
pub(crate) const AT_SYSINFO_EHDR: usize = 33;

static ARGC: AtomicUsize = AtomicUsize::new(0);
static ARGV: AtomicPtr<*const u8> = AtomicPtr::new(core::ptr::null_mut());
static ENVP: AtomicPtr<*const u8> = AtomicPtr::new(core::ptr::null_mut());
#[allow(dead_code)] // read only by `auxv_value`, for the vDSO clock
static AUXV: AtomicPtr<usize> = AtomicPtr::new(core::ptr::null_mut());

/// Saves the process's arguments, environment and auxiliary vector.
///
/// # Safety
/// `stack` is the stack pointer the kernel started the process with, and this is called once,
/// before anything reads what it saves. The kernel laid out there `argc`, `argc` pointers to
/// NUL-terminated strings and a null, the environment's pointers and a null, then the
/// auxiliary vector's `(type, value)` pairs up to `AT_NULL`; nothing ever writes to them.
#[cfg(feature = "rt")]
pub(super) unsafe fn save(stack: *const usize) {
    // SAFETY: the layout above.
    unsafe {
        let argc = *stack;
        let argv = stack.add(1) as *mut *const u8;
        let envp = argv.add(argc + 1);
        let mut end = envp;
        while !(*end).is_null() {
            end = end.add(1);
        }
        ARGC.store(argc, Ordering::Relaxed);
        ARGV.store(argv, Ordering::Relaxed);
        ENVP.store(envp, Ordering::Relaxed);
        AUXV.store(end.add(1).cast(), Ordering::Relaxed);
    }
}

/// A NUL-terminated string of the initial stack, without its NUL.
///
/// # Safety
/// `s` is one of the strings [`save`] found, which stay mapped and unchanged for the life of
/// the process.
unsafe fn c_bytes(s: *const u8) -> &'static [u8] {
    let mut len = 0;
    // SAFETY: the caller's contract; volatile, so the loop cannot become a call to `strlen`.
    unsafe {
        while s.add(len).read_volatile() != 0 {
            len += 1;
        }
        core::slice::from_raw_parts(s, len)
    }
}

/// The value of the auxiliary vector's entry `kind` (an `AT_*` number), if the kernel gave it.
/// Always `None` without the `rt` feature (the crate never saw the initial stack).
#[allow(dead_code)] // for the vDSO clock
pub(crate) fn auxv_value(kind: usize) -> Option<usize> {
    let mut at = AUXV.load(Ordering::Relaxed);
    if at.is_null() {
        return None;
    }
    loop {
        // SAFETY: a non-null `AUXV` was saved by `save` from the kernel's vector, which ends
        // with an `AT_NULL` (0) pair and is never written.
        let (key, value) = unsafe { (*at, *at.add(1)) };
        match key {
            0 => return None,
            k if k == kind => return Some(value),
            _ => at = at.wrapping_add(2),
        }
    }
}

/// The program's arguments, the program's name first: an iterator of `&'static [u8]` (the
/// kernel's bytes, not necessarily UTF-8). Made by [`args`].
///
/// ```no_run
/// use core::fmt::Write;
/// for arg in barepoll::sys::rt::args().skip(1) {
///     let arg = core::str::from_utf8(arg).unwrap_or("(not UTF-8)");
///     writeln!(barepoll::sys::rt::Stdout, "{arg}").unwrap();
/// }
/// ```
#[derive(Clone)]
pub struct Args {
    next: usize,
    len: usize,
}

/// The program's arguments (empty without the `rt` feature's entry point).
///
/// ```no_run
/// let name = barepoll::sys::rt::args().next();
/// ```
pub fn args() -> Args {
    Args {
        next: 0,
        len: ARGC.load(Ordering::Relaxed),
    }
}

impl Args {
    /// Argument `i` (0 is the program's name), if there are that many.
    ///
    /// ```no_run
    /// let port = barepoll::sys::rt::args().get(1).unwrap_or(b"0");
    /// ```
    pub fn get(&self, i: usize) -> Option<&'static [u8]> {
        if i >= self.len {
            return None;
        }
        // SAFETY: `len` is the saved `argc`, so `argv[i]` is one of the saved strings.
        Some(unsafe { c_bytes(*ARGV.load(Ordering::Relaxed).add(i)) })
    }
}

impl Iterator for Args {
    type Item = &'static [u8];

    fn next(&mut self) -> Option<&'static [u8]> {
        let arg = self.get(self.next)?;
        self.next += 1;
        Some(arg)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.len - self.next;
        (left, Some(left))
    }
}

impl ExactSizeIterator for Args {}

/// The environment as the process got it: an iterator of `(name, value)` byte strings.
/// Made by [`vars`].
///
/// ```no_run
/// for (name, value) in barepoll::sys::rt::vars() {
///     let _ = (name, value);
/// }
/// ```
#[derive(Clone)]
pub struct Vars {
    at: *const *const u8,
}

/// The environment's variables (none without the `rt` feature's entry point).
///
/// ```no_run
/// let count = barepoll::sys::rt::vars().count();
/// ```
pub fn vars() -> Vars {
    Vars {
        at: ENVP.load(Ordering::Relaxed),
    }
}

/// The value of the environment variable `name`, if it is set.
///
/// ```no_run
/// let home = barepoll::sys::rt::var(b"HOME");
/// ```
pub fn var(name: &[u8]) -> Option<&'static [u8]> {
    vars().find(|(n, _)| *n == name).map(|(_, v)| v)
}

impl Iterator for Vars {
    type Item = (&'static [u8], &'static [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        if self.at.is_null() {
            return None;
        }
        // SAFETY: a non-null `at` walks the saved environment, which ends with a null.
        let entry = unsafe { *self.at };
        if entry.is_null() {
            return None;
        }
        // SAFETY: as above; the entry is one of the saved strings.
        let entry = unsafe {
            self.at = self.at.add(1);
            c_bytes(entry)
        };
        let eq = entry.iter().position(|&c| c == b'=').unwrap_or(entry.len());
        Some((&entry[..eq], entry.get(eq + 1..).unwrap_or(&[])))
    }
}

/// libc's `getauxval`, for the objects that name it: on aarch64, compiler-builtins' outlined
/// atomics come with a constructor that asks it whether the CPU has the LSE instructions. No
/// constructor runs in a program on this runtime (`_start` runs none), so the helpers keep
/// their baseline path, correct on every CPU; this makes the program link, and answers
/// truly (0 for an entry the kernel did not give) should anything call it.
#[cfg(feature = "rt")]
#[no_mangle]
extern "C" fn getauxval(kind: core::ffi::c_ulong) -> core::ffi::c_ulong {
    auxv_value(kind as usize).unwrap_or(0) as core::ffi::c_ulong
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_the_entry_point_there_is_nothing_to_read() {
        // The test harness is std's program: the crate never saw its initial stack.
        assert_eq!(args().len(), 0);
        assert_eq!(args().next(), None);
        assert_eq!(vars().count(), 0);
        assert_eq!(var(b"PATH"), None);
        assert_eq!(auxv_value(AT_SYSINFO_EHDR), None);
    }
}
