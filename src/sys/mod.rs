//! The syscall boundary: the only place that talks to the kernel.
//!
//! `arch/` holds one `asm!` template per arity; the files beside this one turn them into typed,
//! safe wrappers, one file per topic. Every descriptor created here is close-on-exec. The epoll
//! calls are crate-private: only the pointer boundary (`thin/`) may register a `data` word with
//! the kernel.
//!
//! No descriptor this module makes ever has a number below 3 (see `owned`): 0, 1 and 2 are the
//! standard streams, which [`stdin`], [`stdout`] and [`stderr`] lend to safe code for the
//! whole life of the process, so a descriptor of the crate at one of those numbers could be
//! read, written or closed by code that believes it is a stream. With the `rt` feature the
//! program's entry also opens `/dev/null` on any of 0..=2 that the process was started
//! without, as std's runtime does.
//!
//! The public part is what a program without libc needs around the reactor: descriptors to
//! watch (`eventfd`, `pipe`, sockets of every family, `signalfd`, `timerfd`, inotify, pidfds),
//! `read`, `write`, `send`, datagrams and descriptor passing, files (`openat`, `fstat`),
//! `getrandom`, descriptor copies and flags, the standard streams, signals and masks,
//! processes (spawning, waiting, groups and sessions, `prctl`), the monotonic clock (through
//! the vDSO where there is one), the fd types and [`Errno`].

mod errno;
mod fd;

// Miri cannot run `asm!`: under it the same templates are answered by the libc functions it
// emulates (see arch/miri.rs), so every wrapper below is still the code Miri checks.
#[cfg_attr(all(not(miri), target_arch = "x86_64"), path = "arch/x86_64.rs")]
#[cfg_attr(all(not(miri), target_arch = "aarch64"), path = "arch/aarch64.rs")]
#[cfg_attr(miri, path = "arch/miri.rs")]
mod arch;

mod addr;
mod datagram;
mod epoll;
mod fdctl;
mod file;
mod inotify;
mod io;
mod prctl;
mod process;
pub mod rt;
mod session;
mod signal;
mod socket;
mod spawn;
pub(crate) mod time;
mod unix;
#[cfg(feature = "vdso")]
#[cfg_attr(miri, allow(dead_code))] // the clock takes the syscall under Miri
mod vdso;
mod wait;

pub use addr::{Domain, SocketAddr, UnixAddr, VsockAddr};
pub use datagram::{recv_from, send_to};
pub use errno::Errno;
pub use fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
pub use fdctl::{
    dup, dup3, dup_at_least, is_cloexec, is_nonblocking, set_cloexec, set_nonblocking,
};
pub use file::{fstat, getrandom, openat, FileKind, OpenFlags, Stat};
pub use inotify::{
    inotify_add_watch, inotify_init1, inotify_rm_watch, InotifyEvent, InotifyEvents, Watch,
    IN_ATTRIB, IN_CLOSE_WRITE, IN_CREATE, IN_DELETE, IN_DELETE_SELF, IN_IGNORED, IN_ISDIR,
    IN_MODIFY, IN_MOVED_FROM, IN_MOVED_TO, IN_MOVE_SELF, IN_NONBLOCK, IN_Q_OVERFLOW,
};
pub use io::{
    eventfd, pipe, read, splice, stderr, stdin, stdout, write, EFD_NONBLOCK, EFD_SEMAPHORE,
    O_NONBLOCK, SPLICE_F_MOVE, SPLICE_F_NONBLOCK,
};
pub use prctl::{is_child_subreaper, pdeathsig, set_child_subreaper, set_pdeathsig};
pub use process::{exit_group, getpid, gettid, Pid};
pub use session::{getpgid, getsid, setpgid, setsid, tcgetpgrp, tcsetpgrp};
pub use signal::{
    kill, kill_every_process, kill_group, read_siginfo, signalfd, signalfd_set, sigprocmask,
    tgkill, MaskHow, SigInfo, SigSet, Signal, SFD_NONBLOCK, SIGINFO_SIZE,
};
pub use socket::{
    accept, accept_socket, bind, connect, listen, local_addr, local_port, peer_addr, recv, send,
    setsockopt, shutdown, socket, socket_type, socketpair, take_error, Shutdown, SockOpt,
    SocketType, SOCK_NONBLOCK,
};
pub use spawn::Command;
pub use time::{monotonic, timerfd, timerfd_settime, TFD_NONBLOCK, TFD_TIMER_ABSTIME};
pub use unix::{recv_fds, send_fds, Received, MAX_FDS_PER_MESSAGE};
pub use wait::{pidfd_open, waitid, Child, ExitStatus, WaitFor, WaitOptions};

pub(crate) use epoll::{epoll_create1, epoll_ctl, epoll_wait, Ctl, EpollEvent};
#[cfg(test)]
pub(crate) use epoll::{forget_pwait2, uses_pwait2};
#[cfg(not(feature = "std"))]
pub(crate) use io::close;
pub(crate) use io::replace;
pub(crate) use process::ForkGuard;
pub(crate) use time::{monotonic_ns, nap};

use linux_raw_sys::general as k;

// The node address is stored in the 64-bit `data` word and read back as a pointer.
static_assertions::assert_eq_size!(usize, u64);
static_assertions::assert_eq_size!(RawFd, i32);
// The kernel's signal set, passed as `sigsetsize`, is 8 bytes on both arches (not glibc's 128).
const KERNEL_SIGSET_SIZE: usize = 8;
static_assertions::const_assert_eq!(k::_NSIG as usize / 8, KERNEL_SIGSET_SIZE);

#[inline(always)]
fn nr(n: u32) -> usize {
    n as usize
}

/// Takes ownership of a descriptor the kernel has just returned, and moves it above the
/// standard streams if it landed on one of them.
///
/// The kernel hands out the lowest free number, so in a process started with 0, 1 or 2
/// closed, the first descriptor made here (an epoll set, an eventfd, a signalfd, ...) would
/// take that number, and [`stdin`], [`stdout`] or [`stderr`], which are safe, would then lend
/// it to anyone: a write meant for stdout could land in a socket, and an epoll set at 0 could
/// be handed a forged data word. So no descriptor of this crate ever has a number below 3: one
/// at 0..=2 is duplicated with `F_DUPFD_CLOEXEC` (lowest free number from 3) and the low one
/// closed, which leaves the standard number free again. The common path costs one compare.
///
/// With the `rt` feature the compare is left out: the process entry opens `/dev/null` on any
/// of 0..=2 that is closed, nothing in the crate closes them, and safe code cannot, so the
/// kernel never hands out a number below 3 there (the premise [`stdin`] states for code that
/// closes one with `unsafe`). That spares a static binary the slow path at every call site.
///
/// # Errors
/// `EMFILE` (or another error of `fcntl`) when no number from 3 is free; the descriptor is
/// closed then.
fn owned(raw: usize) -> Result<OwnedFd, Errno> {
    let fd = raw as RawFd;
    if fd > 2 || cfg!(feature = "rt") {
        // SAFETY: called only on a descriptor the kernel has just returned to us; nobody else
        // knows the number yet, so this value becomes its only owner.
        return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
    }
    above_stdio(fd)
}

#[cold]
fn above_stdio(low: RawFd) -> Result<OwnedFd, Errno> {
    let (cmd, min) = (k::F_DUPFD_CLOEXEC as usize, 3);
    // SAFETY: fcntl(F_DUPFD_CLOEXEC) takes no pointers; `low` is ours (just made).
    let raw = unsafe { arch::syscall3(nr(k::__NR_fcntl), low as usize, cmd, min) };
    // SAFETY: the kernel has just returned `low` to us and nobody else knows it; closing it
    // here (whatever fcntl said) frees the standard number again.
    drop(unsafe { OwnedFd::from_raw_fd(low) });
    let fd = Errno::result(raw)? as RawFd;
    // SAFETY: a descriptor the kernel has just made for us (from 3 up), owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}
