//! x86_64 `syscall` templates: one per arity, nothing else.
//!
//! The number goes in `rax`, arguments in `rdi rsi rdx r10 r8 r9`, the result comes back in
//! `rax`; the instruction clobbers `rcx` and `r11`. `_readonly` variants are for calls in which
//! the kernel only reads user memory.
#![allow(dead_code)] // the full set of arities is kept even where no wrapper uses one yet

use core::arch::asm;

/// # Safety
/// `nr` must be a syscall whose contract holds for the given arguments.
#[inline(always)]
pub(crate) unsafe fn syscall0(nr: usize) -> usize {
    let r;
    // SAFETY: the caller upholds the syscall's contract; the asm clobbers only rcx and r11.
    unsafe {
        asm!("syscall", inlateout("rax") nr => r, lateout("rcx") _, lateout("r11") _,
            options(nostack, preserves_flags));
    }
    r
}

/// # Safety
/// `nr` must be a syscall whose contract holds for the given arguments.
#[inline(always)]
pub(crate) unsafe fn syscall1(nr: usize, a0: usize) -> usize {
    let r;
    // SAFETY: the caller upholds the syscall's contract; the asm clobbers only rcx and r11.
    unsafe {
        asm!("syscall", inlateout("rax") nr => r, in("rdi") a0,
            lateout("rcx") _, lateout("r11") _, options(nostack, preserves_flags));
    }
    r
}

/// # Safety
/// `nr` must be a syscall whose contract holds for the given arguments.
#[inline(always)]
pub(crate) unsafe fn syscall2(nr: usize, a0: usize, a1: usize) -> usize {
    let r;
    // SAFETY: the caller upholds the syscall's contract; the asm clobbers only rcx and r11.
    unsafe {
        asm!("syscall", inlateout("rax") nr => r, in("rdi") a0, in("rsi") a1,
            lateout("rcx") _, lateout("r11") _, options(nostack, preserves_flags));
    }
    r
}

/// # Safety
/// `nr` must be a syscall whose contract holds for the given arguments.
#[inline(always)]
pub(crate) unsafe fn syscall3(nr: usize, a0: usize, a1: usize, a2: usize) -> usize {
    let r;
    // SAFETY: the caller upholds the syscall's contract; the asm clobbers only rcx and r11.
    unsafe {
        asm!("syscall", inlateout("rax") nr => r, in("rdi") a0, in("rsi") a1, in("rdx") a2,
            lateout("rcx") _, lateout("r11") _, options(nostack, preserves_flags));
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
        asm!("syscall", inlateout("rax") nr => r, in("rdi") a0, in("rsi") a1, in("rdx") a2,
            lateout("rcx") _, lateout("r11") _, options(nostack, preserves_flags, readonly));
    }
    r
}

/// # Safety
/// `nr` must be a syscall whose contract holds for the given arguments.
#[inline(always)]
pub(crate) unsafe fn syscall4(nr: usize, a0: usize, a1: usize, a2: usize, a3: usize) -> usize {
    let r;
    // SAFETY: the caller upholds the syscall's contract; the asm clobbers only rcx and r11.
    unsafe {
        asm!("syscall", inlateout("rax") nr => r, in("rdi") a0, in("rsi") a1, in("rdx") a2,
            in("r10") a3, lateout("rcx") _, lateout("r11") _, options(nostack, preserves_flags));
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
        asm!("syscall", inlateout("rax") nr => r, in("rdi") a0, in("rsi") a1, in("rdx") a2,
            in("r10") a3, lateout("rcx") _, lateout("r11") _,
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
    // SAFETY: the caller upholds the syscall's contract; the asm clobbers only rcx and r11.
    unsafe {
        asm!("syscall", inlateout("rax") nr => r, in("rdi") a0, in("rsi") a1, in("rdx") a2,
            in("r10") a3, in("r8") a4, lateout("rcx") _, lateout("r11") _,
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
    // SAFETY: the caller upholds the syscall's contract; the asm clobbers only rcx and r11.
    unsafe {
        asm!("syscall", inlateout("rax") nr => r, in("rdi") a0, in("rsi") a1, in("rdx") a2,
            in("r10") a3, in("r8") a4, in("r9") a5, lateout("rcx") _, lateout("r11") _,
            options(nostack, preserves_flags));
    }
    r
}
