//! `memcpy`, `memmove`, `memset`, `memcmp` and `bcmp`: the symbols the compiler calls for
//! copies, fills and comparisons, which libc would bring. Feature `rt` only.
//!
//! They must never become calls to themselves (LLVM recognises a byte-copy loop as `memcpy`).
//! On x86_64 they are `rep movsb` / `rep stosb` (fast on every CPU since Ivy Bridge, and asm
//! the optimizer cannot rewrite); elsewhere, loops of volatile accesses, which the optimizer
//! may not merge, widen or turn into a call. `memcmp` and `bcmp` are volatile loops on both.

/// # Safety
/// As C's `memcpy`: `src` readable and `dst` writable for `n` bytes, not overlapping.
#[no_mangle]
pub unsafe extern "C" fn memcpy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the caller's contract; `rep movsb` copies `rcx` bytes forward from `rsi` to
    // `rdi` (the direction flag is clear, as the ABI requires).
    unsafe {
        core::arch::asm!(
            "rep movsb",
            inout("rcx") n => _,
            inout("rdi") dst => _,
            inout("rsi") src => _,
            options(nostack, preserves_flags),
        );
    }
    #[cfg(not(target_arch = "x86_64"))]
    for i in 0..n {
        // SAFETY: the caller's contract; `i < n`.
        unsafe { dst.add(i).write_volatile(src.add(i).read_volatile()) };
    }
    dst
}

/// # Safety
/// As C's `memmove`: `src` readable and `dst` writable for `n` bytes; they may overlap.
#[no_mangle]
pub unsafe extern "C" fn memmove(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    // Forward is right unless `dst` starts inside `src..src + n`.
    if (dst as usize).wrapping_sub(src as usize) >= n {
        // SAFETY: the caller's contract; a forward copy reads each byte before it is written.
        return unsafe { memcpy(dst, src, n) };
    }
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the caller's contract; with the direction flag set, `rep movsb` copies backward
    // from the last byte, and `cld` clears the flag again before the ABI can see it.
    unsafe {
        core::arch::asm!(
            "std",
            "rep movsb",
            "cld",
            inout("rcx") n => _,
            inout("rdi") dst.wrapping_add(n).wrapping_sub(1) => _,
            inout("rsi") src.wrapping_add(n).wrapping_sub(1) => _,
            options(nostack),
        );
    }
    #[cfg(not(target_arch = "x86_64"))]
    for i in (0..n).rev() {
        // SAFETY: the caller's contract; `i < n`, and copying from the end reads each byte
        // before it is overwritten.
        unsafe { dst.add(i).write_volatile(src.add(i).read_volatile()) };
    }
    dst
}

/// # Safety
/// As C's `memset`: `dst` writable for `n` bytes.
#[no_mangle]
pub unsafe extern "C" fn memset(dst: *mut u8, c: i32, n: usize) -> *mut u8 {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the caller's contract; `rep stosb` stores `al` into `rcx` bytes from `rdi`.
    unsafe {
        core::arch::asm!(
            "rep stosb",
            inout("rcx") n => _,
            inout("rdi") dst => _,
            in("al") c as u8,
            options(nostack, preserves_flags),
        );
    }
    #[cfg(not(target_arch = "x86_64"))]
    for i in 0..n {
        // SAFETY: the caller's contract; `i < n`.
        unsafe { dst.add(i).write_volatile(c as u8) };
    }
    dst
}

/// # Safety
/// As C's `memcmp`: `a` and `b` readable for `n` bytes.
#[no_mangle]
pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    for i in 0..n {
        // SAFETY: the caller's contract; `i < n`.
        let (x, y) = unsafe { (a.add(i).read_volatile(), b.add(i).read_volatile()) };
        if x != y {
            return i32::from(x) - i32::from(y);
        }
    }
    0
}

/// # Safety
/// As C's `bcmp`: `a` and `b` readable for `n` bytes.
#[no_mangle]
pub unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    // SAFETY: the caller's contract, which is `memcmp`'s.
    unsafe { memcmp(a, b, n) }
}
