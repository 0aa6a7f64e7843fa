//! Process groups, sessions and the terminal's foreground group: `setpgid`, `getpgid`,
//! `setsid`, `getsid`, `tcgetpgrp`, `tcsetpgrp` (the `TIOCGPGRP`/`TIOCSPGRP` ioctls). What a
//! shell or a container's init needs to run jobs; owns nothing else.

use super::fd::AsRawFd;
use super::{arch, k, nr, BorrowedFd, Errno, Pid};

/// `ioctl` numbers, the same on x86_64 and aarch64.
const TIOCGPGRP: usize = 0x540f;
const TIOCSPGRP: usize = 0x5410;

fn raw(pid: Option<Pid>) -> usize {
    pid.map_or(0, Pid::as_raw) as usize
}

/// Moves process `pid` (`None`: the caller) into process group `group` (`None`: a new group
/// whose id is the process's pid).
///
/// # Errors
/// The kernel's error: `EPERM` (a session leader, another session), `ESRCH` (not the caller
/// or one of its children), `EACCES` (a child that has called `execve`).
///
/// ```
/// use barepoll::sys::{self, Errno};
/// // This process into a group of its own (refused to a session leader).
/// match sys::setpgid(None, None) {
///     Ok(()) => assert_eq!(sys::getpgid(None)?, sys::getpid()?),
///     Err(e) => assert_eq!(e, Errno::EPERM),
/// }
/// # Ok::<(), Errno>(())
/// ```
pub fn setpgid(pid: Option<Pid>, group: Option<Pid>) -> Result<(), Errno> {
    // SAFETY: setpgid takes no pointers.
    let r = unsafe { arch::syscall2(nr(k::__NR_setpgid), raw(pid), raw(group)) };
    Errno::result(r).map(drop)
}

/// The process group of `pid` (`None`: the caller).
///
/// # Errors
/// The kernel's error: `ESRCH` for no such process.
///
/// ```
/// let group = barepoll::sys::getpgid(None)?;
/// assert!(group.as_raw() > 0);
/// # Ok::<(), barepoll::sys::Errno>(())
/// ```
pub fn getpgid(pid: Option<Pid>) -> Result<Pid, Errno> {
    // SAFETY: getpgid takes no pointers.
    Pid::from_syscall(unsafe { arch::syscall1(nr(k::__NR_getpgid), raw(pid)) })
}

/// The session of `pid` (`None`: the caller): the pid of its leader.
///
/// # Errors
/// The kernel's error: `ESRCH` for no such process.
///
/// ```
/// let session = barepoll::sys::getsid(None)?;
/// # let _ = session;
/// # Ok::<(), barepoll::sys::Errno>(())
/// ```
pub fn getsid(pid: Option<Pid>) -> Result<Pid, Errno> {
    // SAFETY: getsid takes no pointers.
    Pid::from_syscall(unsafe { arch::syscall1(nr(k::__NR_getsid), raw(pid)) })
}

/// Makes the caller the leader of a new session and of a new process group, with no
/// controlling terminal; returns the session's id (the caller's pid).
///
/// # Errors
/// `EPERM` if the caller already leads a process group.
///
/// ```
/// // Refused to a process that leads its group already.
/// match barepoll::sys::setsid() {
///     Ok(session) => assert_eq!(session, barepoll::sys::getpid()?),
///     Err(e) => assert_eq!(e, barepoll::sys::Errno::EPERM),
/// }
/// # Ok::<(), barepoll::sys::Errno>(())
/// ```
pub fn setsid() -> Result<Pid, Errno> {
    // SAFETY: setsid takes no arguments.
    Pid::from_syscall(unsafe { arch::syscall0(nr(k::__NR_setsid)) })
}

/// The foreground process group of the terminal `tty` (`TIOCGPGRP`).
///
/// # Errors
/// The kernel's error: `ENOTTY` when `tty` is not a terminal, or not the caller's
/// controlling terminal.
///
/// ```
/// use barepoll::sys::{self, AsFd, Errno};
/// let (r, _w) = sys::pipe(0)?;
/// assert_eq!(sys::tcgetpgrp(r.as_fd()), Err(Errno::ENOTTY));
/// # Ok::<(), Errno>(())
/// ```
pub fn tcgetpgrp(tty: BorrowedFd<'_>) -> Result<Pid, Errno> {
    let mut group = 0i32;
    let ptr = core::ptr::addr_of_mut!(group) as usize;
    let fd = tty.as_raw_fd() as usize;
    // SAFETY: the kernel writes one pid_t into `group`, which is ours to write.
    let r = unsafe { arch::syscall3(nr(k::__NR_ioctl), fd, TIOCGPGRP, ptr) };
    Errno::result(r)?;
    Pid::new(group).ok_or(Errno::EINVAL)
}

/// Makes `group` the foreground process group of the terminal `tty` (`TIOCSPGRP`): the
/// group that reads from it and gets its `SIGINT`.
///
/// # Errors
/// The kernel's error: `ENOTTY` (not a terminal, or not the caller's controlling one),
/// `EPERM` (a group of another session); a caller in a background group gets `SIGTTOU`
/// unless it blocks or ignores it.
///
/// ```
/// use barepoll::sys::{self, AsFd, Errno};
/// let (r, _w) = sys::pipe(0)?;
/// assert_eq!(sys::tcsetpgrp(r.as_fd(), sys::getpgid(None)?), Err(Errno::ENOTTY));
/// # Ok::<(), Errno>(())
/// ```
pub fn tcsetpgrp(tty: BorrowedFd<'_>, group: Pid) -> Result<(), Errno> {
    let group = group.as_raw();
    let ptr = core::ptr::addr_of!(group) as usize;
    let fd = tty.as_raw_fd() as usize;
    // SAFETY: the kernel reads one pid_t from `group`.
    let r = unsafe { arch::syscall3_readonly(nr(k::__NR_ioctl), fd, TIOCSPGRP, ptr) };
    Errno::result(r).map(drop)
}
