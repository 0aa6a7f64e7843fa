//! Under Miri, which cannot run `asm!`: the same templates, answered by the libc functions Miri
//! emulates, declared here by hand (the crate still has no libc dependency). A failed call's
//! `-1` plus `errno` becomes the kernel's `-errno`, so everything above this file is the code
//! that runs on real hardware. Compiled only under `cfg(miri)`.
#![allow(dead_code)]

use core::ffi::{c_int, c_uint, c_void};
use linux_raw_sys::general as k;

extern "C" {
    fn epoll_create1(flags: c_int) -> c_int;
    fn epoll_ctl(epfd: c_int, op: c_int, fd: c_int, event: *mut c_void) -> c_int;
    fn epoll_wait(epfd: c_int, events: *mut c_void, max: c_int, timeout: c_int) -> c_int;
    fn eventfd(initval: c_uint, flags: c_int) -> c_int;
    fn pipe2(fds: *mut c_int, flags: c_int) -> c_int;
    fn read(fd: c_int, buf: *mut c_void, count: usize) -> isize;
    fn write(fd: c_int, buf: *const c_void, count: usize) -> isize;
    fn close(fd: c_int) -> c_int;
    fn getpid() -> c_int;
    fn dup2(old: c_int, new: c_int) -> c_int;
    fn clock_gettime(clock: c_int, ts: *mut c_void) -> c_int;
    fn fcntl(fd: c_int, cmd: c_int, ...) -> c_int;
    fn __errno_location() -> *mut c_int;
}

/// # Safety
/// As for the real syscall `nr` with arguments `a`.
unsafe fn call(nr: usize, a: [usize; 6]) -> usize {
    let int = |i: usize| a[i] as c_int;
    // SAFETY: the caller upholds the contract of syscall `nr`, which is the contract of the
    // libc function it is routed to.
    let r: isize = unsafe {
        match nr as u32 {
            k::__NR_epoll_create1 => epoll_create1(int(0)) as isize,
            k::__NR_epoll_ctl => epoll_ctl(int(0), int(1), int(2), a[3] as *mut c_void) as isize,
            k::__NR_epoll_pwait => epoll_wait(int(0), a[1] as *mut c_void, int(2), int(3)) as isize,
            k::__NR_eventfd2 => eventfd(a[0] as c_uint, int(1)) as isize,
            k::__NR_pipe2 => pipe2(a[0] as *mut c_int, int(1)) as isize,
            k::__NR_read => read(int(0), a[1] as *mut c_void, a[2]),
            k::__NR_write => write(int(0), a[1] as *const c_void, a[2]),
            k::__NR_close => close(int(0)) as isize,
            k::__NR_getpid => getpid() as isize,
            // dup3's close-on-exec flag means nothing where nothing is executed.
            k::__NR_dup3 => dup2(int(0), int(1)) as isize,
            k::__NR_clock_gettime => clock_gettime(int(0), a[1] as *mut c_void) as isize,
            // F_GETFL and F_SETFL (O_NONBLOCK), whose third argument is an int.
            k::__NR_fcntl => fcntl(int(0), int(1), int(2)) as isize,
            // epoll_pwait2 included: the wrapper layer falls back to epoll_pwait.
            _ => return (linux_raw_sys::errno::ENOSYS as usize).wrapping_neg(),
        }
    };
    if r == -1 {
        // SAFETY: __errno_location returns this thread's errno slot.
        let errno = unsafe { *__errno_location() };
        (errno as usize).wrapping_neg()
    } else {
        r as usize
    }
}

/// # Safety
/// As for the real syscall.
pub(crate) unsafe fn syscall0(nr: usize) -> usize {
    // SAFETY: forwarded contract.
    unsafe { call(nr, [0; 6]) }
}

/// # Safety
/// As for the real syscall.
pub(crate) unsafe fn syscall1(nr: usize, a0: usize) -> usize {
    // SAFETY: forwarded contract.
    unsafe { call(nr, [a0, 0, 0, 0, 0, 0]) }
}

/// # Safety
/// As for the real syscall.
pub(crate) unsafe fn syscall2(nr: usize, a0: usize, a1: usize) -> usize {
    // SAFETY: forwarded contract.
    unsafe { call(nr, [a0, a1, 0, 0, 0, 0]) }
}

/// # Safety
/// As for the real syscall.
pub(crate) unsafe fn syscall3(nr: usize, a0: usize, a1: usize, a2: usize) -> usize {
    // SAFETY: forwarded contract.
    unsafe { call(nr, [a0, a1, a2, 0, 0, 0]) }
}

pub(crate) use syscall3 as syscall3_readonly;

/// # Safety
/// As for the real syscall.
pub(crate) unsafe fn syscall4(nr: usize, a0: usize, a1: usize, a2: usize, a3: usize) -> usize {
    // SAFETY: forwarded contract.
    unsafe { call(nr, [a0, a1, a2, a3, 0, 0]) }
}

pub(crate) use syscall4 as syscall4_readonly;

/// # Safety
/// As for the real syscall.
pub(crate) unsafe fn syscall5(
    nr: usize,
    a0: usize,
    a1: usize,
    a2: usize,
    a3: usize,
    a4: usize,
) -> usize {
    // SAFETY: forwarded contract.
    unsafe { call(nr, [a0, a1, a2, a3, a4, 0]) }
}

/// # Safety
/// As for the real syscall.
pub(crate) unsafe fn syscall6(
    nr: usize,
    a0: usize,
    a1: usize,
    a2: usize,
    a3: usize,
    a4: usize,
    a5: usize,
) -> usize {
    // SAFETY: forwarded contract.
    unsafe { call(nr, [a0, a1, a2, a3, a4, a5]) }
}
