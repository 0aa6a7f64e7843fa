//! Signals as descriptors: the kernel's 8-byte signal set, the calling thread's signal mask,
//! `signalfd`, and sending a signal.

use super::fd::AsRawFd;
use super::{arch, k, nr, owned, BorrowedFd, Errno, OwnedFd, Pid, KERNEL_SIGSET_SIZE};

/// `signalfd` flag: reads never block (they fail with [`Errno::EAGAIN`] when none is pending).
pub const SFD_NONBLOCK: u32 = k::O_NONBLOCK;

/// A signal number (`SIGINT`, `SIGTERM`, …).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Signal(u8);

impl Signal {
    /// Hang-up (1).
    pub const HUP: Signal = Signal(k::SIGHUP as u8);
    /// Interrupt, as from Ctrl-C (2).
    pub const INT: Signal = Signal(k::SIGINT as u8);
    /// Quit (3).
    pub const QUIT: Signal = Signal(k::SIGQUIT as u8);
    /// Abort (6).
    pub const ABRT: Signal = Signal(k::SIGABRT as u8);
    /// Kill (9): cannot be caught, blocked or ignored.
    pub const KILL: Signal = Signal(k::SIGKILL as u8);
    /// User-defined 1 (10).
    pub const USR1: Signal = Signal(k::SIGUSR1 as u8);
    /// User-defined 2 (12).
    pub const USR2: Signal = Signal(k::SIGUSR2 as u8);
    /// Broken pipe (13).
    pub const PIPE: Signal = Signal(k::SIGPIPE as u8);
    /// Alarm clock (14).
    pub const ALRM: Signal = Signal(k::SIGALRM as u8);
    /// Termination request (15).
    pub const TERM: Signal = Signal(k::SIGTERM as u8);
    /// A child stopped or exited (17).
    pub const CHLD: Signal = Signal(k::SIGCHLD as u8);
    /// Continue if stopped (18).
    pub const CONT: Signal = Signal(k::SIGCONT as u8);
    /// Stop (19): cannot be caught, blocked or ignored.
    pub const STOP: Signal = Signal(k::SIGSTOP as u8);
    /// Window size changed (28).
    pub const WINCH: Signal = Signal(k::SIGWINCH as u8);

    /// The signal with this number, if it is one (`1..=64`).
    ///
    /// ```
    /// use barepoll::sys::Signal;
    /// assert_eq!(Signal::from_raw(15), Some(Signal::TERM));
    /// assert_eq!(Signal::from_raw(0), None);
    /// ```
    pub const fn from_raw(signo: u32) -> Option<Signal> {
        if signo >= 1 && signo <= 64 {
            Some(Signal(signo as u8))
        } else {
            None
        }
    }

    /// The signal's number.
    ///
    /// ```
    /// assert_eq!(barepoll::sys::Signal::TERM.raw(), 15);
    /// ```
    pub const fn raw(self) -> u32 {
        self.0 as u32
    }
}

/// A set of signals, as the kernel takes it: 64 bits (not glibc's 1024).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Debug)]
pub struct SigSet(u64);

impl SigSet {
    /// No signal.
    ///
    /// ```
    /// assert!(barepoll::sys::SigSet::empty().is_empty());
    /// ```
    pub const fn empty() -> SigSet {
        SigSet(0)
    }

    /// These signals.
    ///
    /// ```
    /// use barepoll::sys::{SigSet, Signal};
    /// let set = SigSet::of(&[Signal::INT, Signal::TERM]);
    /// assert!(set.contains(Signal::TERM) && !set.contains(Signal::HUP));
    /// ```
    pub const fn of(signals: &[Signal]) -> SigSet {
        let mut bits = 0;
        let mut i = 0;
        while i < signals.len() {
            bits |= 1 << (signals[i].0 - 1);
            i += 1;
        }
        SigSet(bits)
    }

    /// This set and `signal`.
    ///
    /// ```
    /// use barepoll::sys::{SigSet, Signal};
    /// assert!(SigSet::empty().with(Signal::HUP).contains(Signal::HUP));
    /// ```
    pub const fn with(self, signal: Signal) -> SigSet {
        SigSet(self.0 | 1 << (signal.0 - 1))
    }

    /// Whether `signal` is in the set.
    ///
    /// ```
    /// use barepoll::sys::{SigSet, Signal};
    /// assert!(!SigSet::of(&[Signal::INT]).contains(Signal::TERM));
    /// ```
    pub const fn contains(self, signal: Signal) -> bool {
        self.0 & 1 << (signal.0 - 1) != 0
    }

    /// The signals of this set that are not in `other`.
    ///
    /// ```
    /// use barepoll::sys::{SigSet, Signal};
    /// let both = SigSet::of(&[Signal::INT, Signal::TERM]);
    /// assert_eq!(both.minus(SigSet::of(&[Signal::INT])), SigSet::of(&[Signal::TERM]));
    /// ```
    pub const fn minus(self, other: SigSet) -> SigSet {
        SigSet(self.0 & !other.0)
    }

    /// The signals of either set.
    ///
    /// ```
    /// use barepoll::sys::{SigSet, Signal};
    /// let both = SigSet::of(&[Signal::INT]).union(SigSet::of(&[Signal::TERM]));
    /// assert_eq!(both, SigSet::of(&[Signal::TERM, Signal::INT]));
    /// ```
    pub const fn union(self, other: SigSet) -> SigSet {
        SigSet(self.0 | other.0)
    }

    /// Whether the set is empty.
    ///
    /// ```
    /// use barepoll::sys::{SigSet, Signal};
    /// assert!(!SigSet::of(&[Signal::USR1]).is_empty());
    /// ```
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// What [`sigprocmask`] does with the set.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum MaskHow {
    /// Adds the set to the mask.
    Block = k::SIG_BLOCK as isize,
    /// Removes the set from the mask.
    Unblock = k::SIG_UNBLOCK as isize,
    /// Makes the set the mask.
    SetMask = k::SIG_SETMASK as isize,
}

/// Changes the calling *thread's* signal mask (`rt_sigprocmask`); returns the mask it had.
///
/// # Errors
/// The kernel's error (`EINVAL`; `EFAULT` cannot happen here).
///
/// ```
/// use barepoll::sys::{self, MaskHow, SigSet, Signal};
/// # std::thread::spawn(|| {
/// let set = SigSet::of(&[Signal::USR1]);
/// let before = sys::sigprocmask(MaskHow::Block, set)?;
/// assert!(sys::sigprocmask(MaskHow::SetMask, before)?.contains(Signal::USR1));
/// # Ok::<(), sys::Errno>(())
/// # }).join().unwrap().unwrap();
/// ```
pub fn sigprocmask(how: MaskHow, set: SigSet) -> Result<SigSet, Errno> {
    let mut old = SigSet::empty();
    let (new_ptr, old_ptr) = (
        core::ptr::addr_of!(set.0) as usize,
        core::ptr::addr_of_mut!(old.0) as usize,
    );
    // SAFETY: the kernel reads one 8-byte set from `set` and writes one into `old`, both ours.
    let raw = unsafe {
        arch::syscall4(
            nr(k::__NR_rt_sigprocmask),
            how as usize,
            new_ptr,
            old_ptr,
            KERNEL_SIGSET_SIZE,
        )
    };
    Errno::result(raw).map(|_| old)
}

/// Creates a signalfd that reports the signals of `set` (which must be blocked, or they are
/// delivered the usual way instead); `flags` may hold [`SFD_NONBLOCK`]. Always close-on-exec.
/// Each read gives one or more 128-byte `signalfd_siginfo` records.
///
/// # Errors
/// The kernel's error (`EMFILE`, `ENFILE`, `ENOMEM`, `EINVAL`).
///
/// ```
/// use barepoll::sys::{self, SigSet, Signal};
/// # std::thread::spawn(|| {
/// let set = SigSet::of(&[Signal::USR2]);
/// sys::sigprocmask(sys::MaskHow::Block, set)?;
/// let fd = sys::signalfd(set, sys::SFD_NONBLOCK)?;
/// sys::tgkill(sys::gettid(), Signal::USR2)?;
/// let info = sys::read_siginfo(barepoll::sys::AsFd::as_fd(&fd))?.unwrap();
/// assert_eq!(info.signal, Signal::USR2);
/// # Ok::<(), sys::Errno>(())
/// # }).join().unwrap().unwrap();
/// ```
pub fn signalfd(set: SigSet, flags: u32) -> Result<OwnedFd, Errno> {
    let ptr = core::ptr::addr_of!(set.0) as usize;
    let flags = (flags | k::O_CLOEXEC) as usize;
    // SAFETY: the kernel reads one 8-byte set from `set`; -1 asks for a new descriptor.
    let raw = unsafe {
        arch::syscall4_readonly(
            nr(k::__NR_signalfd4),
            usize::MAX,
            ptr,
            KERNEL_SIGSET_SIZE,
            flags,
        )
    };
    Errno::result(raw).and_then(owned)
}

/// Changes the set of signals the signalfd `fd` reports (`signalfd4` on an existing
/// descriptor). Blocking them is the caller's affair, as for [`signalfd`].
///
/// # Errors
/// The kernel's error: `EINVAL` when `fd` is not a signalfd, `EBADF`.
///
/// ```
/// use barepoll::sys::{self, AsFd, Errno, SigSet, Signal};
/// let fd = sys::signalfd(SigSet::of(&[Signal::USR1]), sys::SFD_NONBLOCK)?;
/// sys::signalfd_set(fd.as_fd(), SigSet::of(&[Signal::USR2]))?;
/// let (r, _w) = sys::pipe(0)?;
/// assert_eq!(sys::signalfd_set(r.as_fd(), SigSet::of(&[Signal::USR2])), Err(Errno::EINVAL));
/// # Ok::<(), Errno>(())
/// ```
pub fn signalfd_set(fd: BorrowedFd<'_>, set: SigSet) -> Result<(), Errno> {
    let ptr = core::ptr::addr_of!(set.0) as usize;
    let fd = fd.as_raw_fd() as usize;
    // SAFETY: the kernel reads one 8-byte set from `set`; `fd` is borrowed, so open.
    let raw =
        unsafe { arch::syscall4_readonly(nr(k::__NR_signalfd4), fd, ptr, KERNEL_SIGSET_SIZE, 0) };
    Errno::result(raw).map(drop)
}

/// The size of one record read from a signalfd.
pub const SIGINFO_SIZE: usize = 128;

/// The fields of a `signalfd_siginfo` record most handlers need.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct SigInfo {
    /// Which signal.
    pub signal: Signal,
    /// The sender's process id (0 for signals from the kernel).
    pub pid: u32,
    /// The sender's real user id.
    pub uid: u32,
    /// How it was sent (`SI_USER` 0 for `kill`, `SI_TKILL` -6 for `tgkill`, …).
    pub code: i32,
}

impl SigInfo {
    /// Decodes one record as read from a signalfd.
    ///
    /// ```
    /// use barepoll::sys::{SigInfo, Signal, SIGINFO_SIZE};
    /// let mut record = [0u8; SIGINFO_SIZE];
    /// record[..4].copy_from_slice(&15u32.to_ne_bytes());
    /// assert_eq!(SigInfo::from_record(&record).unwrap().signal, Signal::TERM);
    /// ```
    pub fn from_record(record: &[u8; SIGINFO_SIZE]) -> Option<SigInfo> {
        let word = |at: usize| {
            let mut b = [0u8; 4];
            b.copy_from_slice(&record[at..at + 4]);
            u32::from_ne_bytes(b)
        };
        Some(SigInfo {
            signal: Signal::from_raw(word(0))?,
            code: word(8) as i32,
            pid: word(12),
            uid: word(16),
        })
    }
}

/// Sends `signal` to one thread (`tgkill`): the calling process's thread `tid`.
///
/// # Errors
/// The kernel's error (`ESRCH` for a thread that is gone, `EINVAL`, `EPERM`), or the error of
/// [`getpid`](super::getpid).
///
/// ```
/// use barepoll::sys::{self, Errno, Signal};
/// assert_eq!(sys::tgkill(u32::MAX >> 1, Signal::USR1), Err(Errno::ESRCH));
/// # Ok::<(), Errno>(())
/// ```
pub fn tgkill(tid: u32, signal: Signal) -> Result<(), Errno> {
    let pid = super::process::getpid()?.as_raw() as usize;
    // SAFETY: tgkill takes no pointers.
    let raw =
        unsafe { arch::syscall3(nr(k::__NR_tgkill), pid, tid as usize, signal.raw() as usize) };
    Errno::result(raw).map(drop)
}

/// Sends `signal` to one process (`kill`). A [`Pid`] is positive, so this never reaches a
/// process group or every process (see [`kill_group`] and [`kill_every_process`]).
///
/// # Errors
/// The kernel's error (`ESRCH` for a process that is gone, `EPERM`).
///
/// ```
/// use barepoll::sys::{self, Errno, Pid, Signal};
/// // No process has the largest pid the type can hold (the kernel's limit is 2^22).
/// assert_eq!(sys::kill(Pid::new(i32::MAX).unwrap(), Signal::USR1), Err(Errno::ESRCH));
/// ```
pub fn kill(pid: Pid, signal: Signal) -> Result<(), Errno> {
    send(pid.as_raw(), signal)
}

/// Sends `signal` to every process of the process group `group` (`kill(-group)`).
///
/// # Errors
/// The kernel's error (`ESRCH` when no process is in the group, `EPERM` when none may be
/// signalled).
///
/// ```
/// use barepoll::sys::{self, Errno, Pid, Signal};
/// assert_eq!(sys::kill_group(Pid::new(i32::MAX).unwrap(), Signal::USR1), Err(Errno::ESRCH));
/// ```
pub fn kill_group(group: Pid, signal: Signal) -> Result<(), Errno> {
    send(-group.as_raw(), signal)
}

/// Sends `signal` to **every process the caller may signal**, except itself and init
/// (`kill(-1)`): for an unprivileged user, all of that user's processes; for root, nearly the
/// whole machine. Its use is a container's init taking its container down (there "every
/// process" is the container's). Anywhere else this is almost surely not what you want.
///
/// # Errors
/// The kernel's error (`ESRCH` when there was no process to signal).
///
/// ```no_run
/// use barepoll::sys::{self, Signal};
/// // In a container's init, at shutdown:
/// sys::kill_every_process(Signal::TERM)?;
/// # Ok::<(), sys::Errno>(())
/// ```
pub fn kill_every_process(signal: Signal) -> Result<(), Errno> {
    send(-1, signal)
}

fn send(target: i32, signal: Signal) -> Result<(), Errno> {
    // The kernel reads the argument as a (signed) pid_t.
    let target = target as isize as usize;
    // SAFETY: kill takes no pointers.
    let raw = unsafe { arch::syscall2(nr(k::__NR_kill), target, signal.raw() as usize) };
    Errno::result(raw).map(drop)
}

/// Reads one record from a signalfd; `Ok(None)` if none is pending (non-blocking fd).
///
/// # Errors
/// The kernel's error from `read` (`EBADF`); `EIO` for a record of the wrong size.
///
/// ```
/// use barepoll::sys::{self, AsFd, SigSet, Signal};
/// # std::thread::spawn(|| {
/// let set = SigSet::of(&[Signal::HUP]);
/// sys::sigprocmask(sys::MaskHow::Block, set)?;
/// let fd = sys::signalfd(set, sys::SFD_NONBLOCK)?;
/// assert_eq!(sys::read_siginfo(fd.as_fd())?, None); // nothing pending
/// # Ok::<(), sys::Errno>(())
/// # }).join().unwrap().unwrap();
/// ```
pub fn read_siginfo(fd: BorrowedFd<'_>) -> Result<Option<SigInfo>, Errno> {
    let mut record = [0u8; SIGINFO_SIZE];
    match super::read(fd, &mut record) {
        Ok(SIGINFO_SIZE) => Ok(SigInfo::from_record(&record)),
        Ok(_) => Err(Errno::EIO),
        Err(Errno::EAGAIN) => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::{gettid, AsFd};

    #[test]
    #[cfg_attr(miri, ignore = "Miri has no signals")]
    fn blocked_signals_arrive_through_a_signalfd() {
        // A thread of its own, so the mask and the signal touch no other test.
        std::thread::spawn(|| {
            let set = SigSet::of(&[Signal::USR2]);
            let before = sigprocmask(MaskHow::Block, set).unwrap();
            let fd = signalfd(set, SFD_NONBLOCK).unwrap();
            assert_eq!(read_siginfo(fd.as_fd()), Ok(None));
            tgkill(gettid(), Signal::USR2).unwrap();
            let info = read_siginfo(fd.as_fd())
                .unwrap()
                .expect("the signal was not queued");
            assert_eq!(info.signal, Signal::USR2);
            assert_eq!(Ok(info.pid as i32), crate::sys::getpid().map(Pid::as_raw));
            assert_eq!(info.code, -6, "SI_TKILL");
            sigprocmask(MaskHow::SetMask, before).unwrap();
            assert!(!sigprocmask(MaskHow::Block, SigSet::empty())
                .unwrap()
                .contains(Signal::USR2));
        })
        .join()
        .unwrap();
        assert_eq!(Signal::from_raw(65), None);
        assert_eq!(
            SigSet::of(&[Signal::INT])
                .with(Signal::TERM)
                .minus(SigSet::of(&[Signal::INT])),
            SigSet::of(&[Signal::TERM])
        );
    }

    #[test]
    fn a_pid_is_never_a_group_or_everyone() {
        for raw in [0, -1, -2, i32::MIN] {
            assert_eq!(Pid::new(raw), None, "{raw}");
        }
        for raw in [0, u32::MAX, 1 << 31, (1 << 31) + 5] {
            assert_eq!(Pid::from_u32(raw), None, "{raw}");
        }
        assert_eq!(
            Pid::from_u32(i32::MAX as u32).map(Pid::as_raw),
            Some(i32::MAX)
        );
        let me = Pid::this().unwrap();
        assert!(me.as_raw() > 0);
        assert_eq!(crate::sys::getpid(), Ok(me));
    }

    /// `kill` reaches the one process; `kill_group` reaches a group, and a pid that leads no
    /// group is no group.
    #[test]
    #[cfg_attr(miri, ignore = "Miri cannot spawn processes")]
    fn kill_reaches_a_process_and_kill_group_its_group() {
        use std::os::unix::process::{CommandExt, ExitStatusExt};
        use std::process::Command;
        let mut alone = Command::new("sleep").arg("60").spawn().unwrap();
        let pid = Pid::from_u32(alone.id()).unwrap();
        // It shares this process's group, so it leads none.
        assert_eq!(kill_group(pid, Signal::TERM), Err(Errno::ESRCH));
        kill(pid, Signal::TERM).unwrap();
        assert_eq!(
            alone.wait().unwrap().signal(),
            Some(Signal::TERM.raw() as i32)
        );

        // The line it prints proves it runs in its own group (qemu-user returns from a
        // spawn before the child has made its group).
        let mut leader = Command::new("sh")
            .args(["-c", "echo ready; exec sleep 60"])
            .stdout(std::process::Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap();
        let mut ready = [0u8; 6];
        std::io::Read::read_exact(leader.stdout.as_mut().unwrap(), &mut ready).unwrap();
        let group = Pid::from_u32(leader.id()).unwrap();
        kill_group(group, Signal::HUP).unwrap();
        assert_eq!(
            leader.wait().unwrap().signal(),
            Some(Signal::HUP.raw() as i32)
        );
        // Reaped: the pid names nothing now (unless reused, which takes a full pid cycle).
        assert_eq!(kill(group, Signal::HUP), Err(Errno::ESRCH));
    }
}
