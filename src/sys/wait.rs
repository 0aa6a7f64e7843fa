//! Waiting for child processes: `waitid` (by pid, by pidfd, any child, a process group) and
//! what it reports ([`ExitStatus`]), and `pidfd_open`, a descriptor that becomes readable
//! when its process exits (so a reactor can watch a child like any other fd). Owns the
//! decoding of the kernel's `siginfo_t` for `SIGCHLD`, and [`Child`], a started process to
//! wait for; starts no process (see `spawn`).

use super::fd::AsRawFd;
use super::{arch, k, nr, owned, BorrowedFd, Errno, OwnedFd, Pid, Signal};
use core::ops::BitOr;

/// How a child changed state, as `waitid` reports it.
///
/// ```
/// use barepoll::sys::{ExitStatus, Signal};
/// assert!(ExitStatus::Exited(0).success());
/// assert!(!ExitStatus::Killed { signal: Signal::TERM, core_dumped: false }.success());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum ExitStatus {
    /// It called `exit` with this code (0..=255).
    Exited(i32),
    /// A signal ended it; `core_dumped` if it left a core dump.
    Killed {
        /// The signal.
        signal: Signal,
        /// Whether a core was dumped.
        core_dumped: bool,
    },
    /// A signal stopped it (reported with [`WaitOptions::STOPPED`]).
    Stopped(Signal),
    /// A traced child stopped at a trap.
    Trapped(Signal),
    /// `SIGCONT` resumed it (reported with [`WaitOptions::CONTINUED`]).
    Continued,
}

impl ExitStatus {
    /// Whether it exited with code 0.
    ///
    /// ```
    /// assert!(!barepoll::sys::ExitStatus::Exited(7).success());
    /// ```
    pub const fn success(self) -> bool {
        matches!(self, ExitStatus::Exited(0))
    }
}

/// What `waitid` waits for: flags combined with `|`. One of [`EXITED`](Self::EXITED),
/// [`STOPPED`](Self::STOPPED), [`CONTINUED`](Self::CONTINUED) is required.
///
/// ```
/// use barepoll::sys::WaitOptions;
/// let poll = WaitOptions::EXITED | WaitOptions::NOHANG;
/// # let _ = poll;
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct WaitOptions(u32);

impl WaitOptions {
    /// Children that ended (`WEXITED`).
    pub const EXITED: WaitOptions = WaitOptions(k::WEXITED);
    /// Children stopped by a signal (`WSTOPPED`).
    pub const STOPPED: WaitOptions = WaitOptions(k::WSTOPPED);
    /// Stopped children resumed by `SIGCONT` (`WCONTINUED`).
    pub const CONTINUED: WaitOptions = WaitOptions(k::WCONTINUED);
    /// Return at once when no child has changed state (`WNOHANG`).
    pub const NOHANG: WaitOptions = WaitOptions(k::WNOHANG);
    /// Report, but leave the child waitable (`WNOWAIT`): an exited child is not reaped.
    pub const NOWAIT: WaitOptions = WaitOptions(k::WNOWAIT);
}

impl BitOr for WaitOptions {
    type Output = WaitOptions;
    fn bitor(self, other: WaitOptions) -> WaitOptions {
        WaitOptions(self.0 | other.0)
    }
}

/// Which children `waitid` considers.
///
/// ```
/// use barepoll::sys::{Pid, WaitFor};
/// let one = WaitFor::Pid(Pid::new(42).unwrap());
/// # let _ = (one, WaitFor::Any);
/// ```
#[derive(Clone, Copy, Debug)]
pub enum WaitFor<'a> {
    /// This child (`P_PID`).
    Pid(Pid),
    /// The child a pidfd names (`P_PIDFD`, Linux 5.4+).
    PidFd(BorrowedFd<'a>),
    /// Any child of the process group (`P_PGID`).
    Group(Pid),
    /// Any child (`P_ALL`).
    Any,
}

/// Waits for a child to change state (`waitid`); returns the child and how it changed, or
/// `None` with [`WaitOptions::NOHANG`] when none has. Without [`WaitOptions::NOWAIT`] an
/// exited child is reaped (its pid is free again). Not retried on `EINTR`: a caller that
/// waits in a loop decides whether a signal ends the wait (see [`Child::wait`] for one that
/// retries).
///
///
/// # Errors
/// The kernel's error: `ECHILD` when no child matches, `EINTR` when a signal handler ran,
/// `EINVAL` for options without what to wait for, `EBADF` for a pidfd that is not one.
///
/// ```
/// use barepoll::sys::{self, Errno, Pid, WaitFor, WaitOptions};
/// // Pid 1 is no child of this process.
/// let init = WaitFor::Pid(Pid::new(1).unwrap());
/// assert_eq!(sys::waitid(init, WaitOptions::EXITED | WaitOptions::NOHANG), Err(Errno::ECHILD));
/// ```
pub fn waitid(
    which: WaitFor<'_>,
    options: WaitOptions,
) -> Result<Option<(Pid, ExitStatus)>, Errno> {
    let (idtype, id) = match which {
        WaitFor::Pid(pid) => (k::P_PID, pid.as_raw() as usize),
        WaitFor::PidFd(fd) => (k::P_PIDFD, fd.as_raw_fd() as usize),
        WaitFor::Group(group) => (k::P_PGID, group.as_raw() as usize),
        WaitFor::Any => (k::P_ALL, 0),
    };
    // Zeroed: with WNOHANG and no child to report the kernel leaves si_pid 0.
    let mut info = [0u8; 128];
    let ptr = info.as_mut_ptr() as usize;
    // SAFETY: the kernel writes one 128-byte siginfo into `info`, which is ours to write; the
    // rusage pointer is null.
    let r = unsafe {
        arch::syscall5(
            nr(k::__NR_waitid),
            idtype as usize,
            id,
            ptr,
            options.0 as usize,
            0,
        )
    };
    Errno::result(r)?;
    let word = |at: usize| i32::from_ne_bytes([info[at], info[at + 1], info[at + 2], info[at + 3]]);
    // siginfo for SIGCHLD: si_code at 8; si_pid at 16 and si_status at 24 (64-bit layout).
    let (code, pid, status) = (word(8), word(16), word(24));
    let Some(pid) = Pid::new(pid) else {
        return Ok(None);
    };
    let signal = || Signal::from_raw(status as u32).ok_or(Errno::EINVAL);
    let status = match code as u32 {
        k::CLD_EXITED => ExitStatus::Exited(status),
        k::CLD_KILLED => ExitStatus::Killed {
            signal: signal()?,
            core_dumped: false,
        },
        k::CLD_DUMPED => ExitStatus::Killed {
            signal: signal()?,
            core_dumped: true,
        },
        k::CLD_STOPPED => ExitStatus::Stopped(signal()?),
        k::CLD_TRAPPED => ExitStatus::Trapped(signal()?),
        k::CLD_CONTINUED => ExitStatus::Continued,
        _ => return Err(Errno::EINVAL),
    };
    Ok(Some((pid, status)))
}

/// A descriptor for process `pid` (`pidfd_open`, Linux 5.3+; always close-on-exec): readable
/// once the process has exited, usable with [`WaitFor::PidFd`], never confused with a later
/// process that reuses the number.
///
/// # Errors
/// The kernel's error: `ESRCH` for no such process, `ENOSYS` before Linux 5.3, `EMFILE`.
///
/// ```
/// use barepoll::sys::{self, Pid};
/// let me = sys::pidfd_open(sys::getpid()?)?;
/// # drop(me);
/// # Ok::<(), sys::Errno>(())
/// ```
pub fn pidfd_open(pid: Pid) -> Result<OwnedFd, Errno> {
    // SAFETY: pidfd_open takes no pointers.
    let r = unsafe { arch::syscall2(nr(k::__NR_pidfd_open), pid.as_raw() as usize, 0) };
    Errno::result(r).and_then(owned)
}

/// A started child process. Dropping it neither kills nor waits for it: wait for it (or let
/// a `SIGCHLD`-ignoring parent leave that to the kernel), or it stays a zombie until this
/// process ends.
///
/// ```
/// use barepoll::sys::Command;
/// let mut child = Command::new(b"/bin/true").spawn()?;
/// assert!(child.wait()?.success());
/// # Ok::<(), barepoll::sys::Errno>(())
/// ```
#[derive(Debug)]
pub struct Child {
    pub(super) pid: Pid,
}

impl Child {
    /// The child's pid.
    ///
    /// ```
    /// use barepoll::sys::Command;
    /// let mut child = Command::new(b"/bin/true").spawn()?;
    /// assert!(child.pid().as_raw() > 0);
    /// child.wait()?;
    /// # Ok::<(), barepoll::sys::Errno>(())
    /// ```
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// A pidfd for the child ([`pidfd_open`](super::pidfd_open)): readable once it has
    /// exited, so a reactor can watch it. Valid whether or not it has exited, until it is
    /// waited for.
    ///
    /// # Errors
    /// As for [`pidfd_open`](super::pidfd_open) (`ENOSYS` before Linux 5.3).
    ///
    /// ```
    /// use barepoll::sys::{Command, WaitFor, WaitOptions};
    /// let mut child = Command::new(b"/bin/true").spawn()?;
    /// let fd = child.pidfd()?;
    /// let status = barepoll::sys::waitid(WaitFor::PidFd(barepoll::sys::AsFd::as_fd(&fd)), WaitOptions::EXITED)?;
    /// assert!(status.unwrap().1.success());
    /// # Ok::<(), barepoll::sys::Errno>(())
    /// ```
    pub fn pidfd(&self) -> Result<OwnedFd, Errno> {
        super::pidfd_open(self.pid)
    }

    /// Waits until the child exits and reaps it. Retried on `EINTR`: a signal handled by
    /// this process does not end the child.
    ///
    /// # Errors
    /// `ECHILD` if it was reaped already (by another wait, or because this process ignores
    /// `SIGCHLD`).
    ///
    /// ```
    /// use barepoll::sys::{Command, ExitStatus};
    /// let mut child = Command::new(b"/bin/false").spawn()?;
    /// assert_eq!(child.wait()?, ExitStatus::Exited(1));
    /// # Ok::<(), barepoll::sys::Errno>(())
    /// ```
    pub fn wait(&mut self) -> Result<ExitStatus, Errno> {
        self.wait_exit()
    }

    /// [`wait`](Child::wait) through a shared reference (for `spawn`'s clean-up).
    pub(super) fn wait_exit(&self) -> Result<ExitStatus, Errno> {
        loop {
            match waitid(WaitFor::Pid(self.pid), WaitOptions::EXITED) {
                Ok(Some((_, status))) => return Ok(status),
                Ok(None) => return Err(Errno::ECHILD),
                Err(Errno::EINTR) => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// The child's status if it has exited (and reaps it), `None` if it still runs.
    ///
    /// # Errors
    /// As for [`wait`](Child::wait); never `EINTR` (it does not block).
    ///
    /// ```
    /// use barepoll::sys::{Command, Signal};
    /// let mut child = Command::new(b"/bin/sleep").arg(b"10").spawn()?;
    /// assert_eq!(child.try_wait()?, None);
    /// barepoll::sys::kill(child.pid(), Signal::TERM)?;
    /// child.wait()?;
    /// # Ok::<(), barepoll::sys::Errno>(())
    /// ```
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>, Errno> {
        let poll = WaitOptions::EXITED | WaitOptions::NOHANG;
        Ok(waitid(WaitFor::Pid(self.pid), poll)?.map(|(_, status)| status))
    }
}
