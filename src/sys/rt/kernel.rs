//! The few syscalls the runtime needs and nothing else does: mapping memory for the
//! allocator, and checking and opening the standard streams at entry. Private to `rt`.
#![allow(dead_code)] // each caller is behind its own feature

use crate::sys::{arch, k, nr, Errno};

pub(super) const PAGE: usize = 4096;

/// A new private, anonymous, zeroed read-write mapping of `len` bytes (a multiple of
/// [`PAGE`]); `None` if the kernel refuses (`ENOMEM`, an `RLIMIT_AS` reached, ...).
pub(super) fn map(len: usize) -> Option<*mut u8> {
    let prot = (k::PROT_READ | k::PROT_WRITE) as usize;
    let flags = (k::MAP_PRIVATE | k::MAP_ANONYMOUS) as usize;
    let no_fd = usize::MAX; // -1
                            // SAFETY: an anonymous mapping at an address of the kernel's choosing touches no memory
                            // of ours.
    let raw = unsafe { arch::syscall6(nr(k::__NR_mmap), 0, len, prot, flags, no_fd, 0) };
    Errno::result(raw).ok().map(|addr| addr as *mut u8)
}

/// Gives back `len` bytes mapped at `addr`.
///
/// # Safety
/// `addr..addr + len` is a mapping (or whole pages of one) that [`map`] returned, and
/// nothing uses it again.
pub(super) unsafe fn unmap(addr: *mut u8, len: usize) {
    // SAFETY: the caller's contract: the pages are ours and no longer used.
    let _ = unsafe { arch::syscall2(nr(k::__NR_munmap), addr as usize, len) };
}

/// Whether descriptor `fd` is open (`fcntl(F_GETFD)` does not say `EBADF`).
pub(super) fn is_open(fd: i32) -> bool {
    // SAFETY: fcntl(F_GETFD) takes no pointers and changes nothing.
    let raw = unsafe { arch::syscall2(nr(k::__NR_fcntl), fd as usize, k::F_GETFD as usize) };
    raw != (linux_raw_sys::errno::EBADF as usize).wrapping_neg()
}

/// Opens `/dev/null` read-write at the lowest free number (not close-on-exec: it stands in for
/// a standard stream, which a child process inherits); returns that number, or the kernel's
/// `-errno` (which is no descriptor number).
pub(super) fn open_dev_null() -> usize {
    let path = b"/dev/null\0";
    let (dir, flags) = (k::AT_FDCWD as usize, k::O_RDWR as usize);
    // SAFETY: `path` is NUL-terminated and outlives the call; the kernel only reads it.
    unsafe { arch::syscall4_readonly(nr(k::__NR_openat), dir, path.as_ptr() as usize, flags, 0) }
}
