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

/// Decodes a pid the kernel reports as seen from the caller's pid namespace: `0` means the
/// process it names lives in an ancestor namespace (a container whose session or group was
/// started outside it), which is `None`, never an error.
fn visible(r: usize) -> Result<Option<Pid>, Errno> {
    match Errno::result(r)? {
        0 => Ok(None),
        raw => i32::try_from(raw)
            .ok()
            .and_then(Pid::new)
            .map(Some)
            .ok_or(Errno::EINVAL),
    }
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
///     Ok(()) => assert_eq!(sys::getpgid(None)?, Some(sys::getpid()?)),
///     Err(e) => assert_eq!(e, Errno::EPERM),
/// }
/// # Ok::<(), Errno>(())
/// ```
pub fn setpgid(pid: Option<Pid>, group: Option<Pid>) -> Result<(), Errno> {
    // SAFETY: setpgid takes no pointers.
    let r = unsafe { arch::syscall2(nr(k::__NR_setpgid), raw(pid), raw(group)) };
    Errno::result(r).map(drop)
}

/// The process group of `pid` (`None`: the caller): the pid of its leader, or `None` when the
/// leader lives outside the caller's pid namespace (the kernel reports `0` there: a
/// container whose process group was made before it started).
///
/// # Errors
/// The kernel's error: `ESRCH` for no such process.
///
/// ```
/// if let Some(group) = barepoll::sys::getpgid(None)? {
///     assert!(group.as_raw() > 0);
/// }
/// # Ok::<(), barepoll::sys::Errno>(())
/// ```
pub fn getpgid(pid: Option<Pid>) -> Result<Option<Pid>, Errno> {
    // SAFETY: getpgid takes no pointers.
    visible(unsafe { arch::syscall1(nr(k::__NR_getpgid), raw(pid)) })
}

/// The session of `pid` (`None`: the caller): the pid of its leader, or `None` when the
/// leader lives outside the caller's pid namespace (the kernel reports `0` there: a
/// container started from a shell's session).
///
/// # Errors
/// The kernel's error: `ESRCH` for no such process.
///
/// ```
/// let session = barepoll::sys::getsid(None)?;
/// # let _ = session;
/// # Ok::<(), barepoll::sys::Errno>(())
/// ```
pub fn getsid(pid: Option<Pid>) -> Result<Option<Pid>, Errno> {
    // SAFETY: getsid takes no pointers.
    visible(unsafe { arch::syscall1(nr(k::__NR_getsid), raw(pid)) })
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

/// The foreground process group of the terminal `tty` (`TIOCGPGRP`), or `None` when its
/// leader lives outside the caller's pid namespace.
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
pub fn tcgetpgrp(tty: BorrowedFd<'_>) -> Result<Option<Pid>, Errno> {
    let mut group = 0i32;
    let ptr = core::ptr::addr_of_mut!(group) as usize;
    let fd = tty.as_raw_fd() as usize;
    // SAFETY: the kernel writes one pid_t into `group`, which is ours to write.
    let r = unsafe { arch::syscall3(nr(k::__NR_ioctl), fd, TIOCGPGRP, ptr) };
    Errno::result(r)?;
    // Never negative; `0` is a group led from outside the caller's pid namespace.
    Ok(Pid::new(group))
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
/// assert_eq!(sys::tcsetpgrp(r.as_fd(), sys::getpid()?), Err(Errno::ENOTTY));
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
