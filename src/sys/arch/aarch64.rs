//! aarch64 `svc 0` templates: one per arity, nothing else.
//!
//! The number goes in `x8`, arguments in `x0..x5`, the result comes back in `x0`; nothing else
//! is clobbered. `_readonly` variants are for calls in which
//! the kernel only reads user memory.
#![allow(dead_code)] // the full set of arities is kept even where no wrapper uses one yet

use core::arch::asm;

/// # Safety
/// `nr` must be a syscall whose contract holds for the given arguments.
#[inline(always)]
pub(crate) unsafe fn syscall0(nr: usize) -> usize {
    let r;
    // SAFETY: the caller upholds the syscall's contract; svc clobbers nothing but x0.
    unsafe {
        asm!("svc 0", in("x8") nr, lateout("x0") r,
            options(nostack, preserves_flags));
    }
    r
}

/// # Safety
/// `nr` must be a syscall whose contract holds for the given arguments.
#[inline(always)]
pub(crate) unsafe fn syscall1(nr: usize, a0: usize) -> usize {
    let r;
    // SAFETY: the caller upholds the syscall's contract; svc clobbers nothing but x0.
    unsafe {
        asm!("svc 0", in("x8") nr, inlateout("x0") a0 => r,
            options(nostack, preserves_flags));
    }
    r
}

/// # Safety
/// `nr` must be a syscall whose contract holds for the given arguments.
#[inline(always)]
pub(crate) unsafe fn syscall2(nr: usize, a0: usize, a1: usize) -> usize {
    let r;
    // SAFETY: the caller upholds the syscall's contract; svc clobbers nothing but x0.
    unsafe {
        asm!("svc 0", in("x8") nr, inlateout("x0") a0 => r, in("x1") a1,
            options(nostack, preserves_flags));
    }
    r
}

/// # Safety
/// `nr` must be a syscall whose contract holds for the given arguments.
#[inline(always)]
pub(crate) unsafe fn syscall3(nr: usize, a0: usize, a1: usize, a2: usize) -> usize {
    let r;
    // SAFETY: the caller upholds the syscall's contract; svc clobbers nothing but x0.
    unsafe {
        asm!("svc 0", in("x8") nr, inlateout("x0") a0 => r, in("x1") a1, in("x2") a2,
            options(nostack, preserves_flags));
    }
    r
}

/// # Safety
/// `nr` must be a syscall that only reads user memory and whose contract holds.
#[inline(always)]
pub(crate) unsafe fn syscall3_readonly(nr: usize, a0: usize, a1: usize, a2: usize) -> usize {
    let r;
    // SAFETY: the caller upholds the syscall's contract; the kernel writes no user memory.
    unsafe {
        asm!("svc 0", in("x8") nr, inlateout("x0") a0 => r, in("x1") a1, in("x2") a2,
            options(nostack, preserves_flags, readonly));
    }
    r
}

/// # Safety
/// `nr` must be a syscall whose contract holds for the given arguments.
#[inline(always)]
pub(crate) unsafe fn syscall4(nr: usize, a0: usize, a1: usize, a2: usize, a3: usize) -> usize {
    let r;
    // SAFETY: the caller upholds the syscall's contract; svc clobbers nothing but x0.
    unsafe {
        asm!("svc 0", in("x8") nr, inlateout("x0") a0 => r, in("x1") a1, in("x2") a2,
            in("x3") a3, options(nostack, preserves_flags));
    }
    r
}

/// # Safety
/// `nr` must be a syscall that only reads user memory and whose contract holds.
#[inline(always)]
pub(crate) unsafe fn syscall4_readonly(
    nr: usize,
    a0: usize,
    a1: usize,
    a2: usize,
    a3: usize,
) -> usize {
    let r;
    // SAFETY: the caller upholds the syscall's contract; the kernel writes no user memory.
    unsafe {
        asm!("svc 0", in("x8") nr, inlateout("x0") a0 => r, in("x1") a1, in("x2") a2,
            in("x3") a3,
            options(nostack, preserves_flags, readonly));
    }
    r
}

/// # Safety
/// `nr` must be a syscall whose contract holds for the given arguments.
#[inline(always)]
pub(crate) unsafe fn syscall5(
    nr: usize,
    a0: usize,
    a1: usize,
    a2: usize,
    a3: usize,
    a4: usize,
) -> usize {
    let r;
    // SAFETY: the caller upholds the syscall's contract; svc clobbers nothing but x0.
    unsafe {
        asm!("svc 0", in("x8") nr, inlateout("x0") a0 => r, in("x1") a1, in("x2") a2,
            in("x3") a3, in("x4") a4,
            options(nostack, preserves_flags));
    }
    r
}

/// # Safety
/// `nr` must be a syscall whose contract holds for the given arguments.
#[inline(always)]
pub(crate) unsafe fn syscall6(
    nr: usize,
    a0: usize,
    a1: usize,
    a2: usize,
    a3: usize,
    a4: usize,
    a5: usize,
) -> usize {
    let r;
    // SAFETY: the caller upholds the syscall's contract; svc clobbers nothing but x0.
    unsafe {
        asm!("svc 0", in("x8") nr, inlateout("x0") a0 => r, in("x1") a1, in("x2") a2,
            in("x3") a3, in("x4") a4, in("x5") a5,
            options(nostack, preserves_flags));
    }
    r
}
