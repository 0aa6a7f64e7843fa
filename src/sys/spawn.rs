//! Starting a program in a child process without libc: [`Command`] collects the program,
//! its arguments and environment (byte strings; no `PATH` search) and what the child must
//! look like (signal mask, signals reset to their default action, process group, session,
//! controlling terminal, descriptors moved to chosen numbers); [`Command::spawn`] starts it
//! and reports a failed `execve` as its error, leaving no zombie. (The [`Child`] it returns,
//! and waiting for it, belong to `wait`.)
//!
//! How: `clone(SIGCHLD)` with no new stack, which is `fork`: the child gets a copy-on-write
//! copy of the address space, so nothing it does can touch the parent's memory. (A shared
//! address space, `CLONE_VM | CLONE_VFORK`, would need the child to run on a stack of its own
//! from its first instruction, which takes an assembly entry of its own; the copy needs none
//! and is sound with the plain syscall templates.) Between the clone and `execve` the child
//! runs only raw syscalls on data prepared before the clone: it allocates nothing, takes no
//! lock, and never returns into its caller. All signals are blocked across the clone, so no
//! handler of the parent runs in the child. An `execve` that fails writes its errno to a
//! close-on-exec pipe, which the parent reads: end of file means the program runs.

use super::fd::{AsFd, AsRawFd};
use super::signal::{sigprocmask, MaskHow};
use super::wait::Child;
use super::{arch, k, nr, pipe, read, BorrowedFd, Errno, OwnedFd, Pid, RawFd, SigSet, Signal};
use alloc::vec::Vec;

/// A program to start, and the state its process starts in.
///
/// ```
/// use barepoll::sys::{Command, ExitStatus};
/// let mut child = Command::new(b"/bin/sh").arg(b"-c").arg(b"exit 7").spawn()?;
/// assert_eq!(child.wait()?, ExitStatus::Exited(7));
/// # Ok::<(), barepoll::sys::Errno>(())
/// ```
pub struct Command<'fd> {
    /// Every string, NUL-terminated: the program, then the arguments, then the environment.
    strings: Vec<u8>,
    args: Vec<usize>,
    envs: Vec<usize>,
    /// The first argument or variable that held a NUL byte.
    invalid: bool,
    mask: SigSet,
    reset: SigSet,
    group: Option<i32>,
    session: bool,
    terminal: Option<BorrowedFd<'fd>>,
    moves: Vec<(BorrowedFd<'fd>, RawFd)>,
}

impl<'fd> Command<'fd> {
    /// The program at `path` (not searched in `PATH`), with `path` as its first argument
    /// (`argv[0]`), no environment, nothing blocked, every signal's action the default, in
    /// this process's group and session, with this process's descriptors that are not
    /// close-on-exec (barepoll makes every descriptor close-on-exec; the standard streams
    /// are not).
    ///
    /// ```
    /// let cmd = barepoll::sys::Command::new(b"/bin/true");
    /// # drop(cmd);
    /// ```
    pub fn new(path: &[u8]) -> Command<'fd> {
        let mut cmd = Command {
            strings: Vec::new(),
            args: Vec::new(),
            envs: Vec::new(),
            invalid: false,
            mask: SigSet::empty(),
            reset: every_signal(),
            group: None,
            session: false,
            terminal: None,
            moves: Vec::new(),
        };
        cmd.push(path);
        cmd.args.push(0);
        cmd
    }

    fn push(&mut self, s: &[u8]) -> usize {
        let at = self.strings.len();
        self.invalid |= s.contains(&0);
        self.strings.extend_from_slice(s);
        self.strings.push(0);
        at
    }

    /// Adds an argument.
    ///
    /// ```
    /// let cmd = barepoll::sys::Command::new(b"/bin/echo").arg(b"hello");
    /// # drop(cmd);
    /// ```
    pub fn arg(mut self, arg: &[u8]) -> Command<'fd> {
        let at = self.push(arg);
        self.args.push(at);
        self
    }

    /// Replaces `argv[0]` (which is `path` unless set).
    ///
    /// ```
    /// let cmd = barepoll::sys::Command::new(b"/bin/sh").arg0(b"-sh");
    /// # drop(cmd);
    /// ```
    pub fn arg0(mut self, arg0: &[u8]) -> Command<'fd> {
        self.args[0] = self.push(arg0);
        self
    }

    /// Adds an environment entry, `NAME=value`.
    ///
    /// ```
    /// let cmd = barepoll::sys::Command::new(b"/bin/sh").env(b"PATH=/usr/bin:/bin");
    /// # drop(cmd);
    /// ```
    pub fn env(mut self, entry: &[u8]) -> Command<'fd> {
        let at = self.push(entry);
        self.envs.push(at);
        self
    }

    /// The signal mask the program starts with (default: nothing blocked, whatever this
    /// thread blocks; a reactor's signals are blocked here, and a mask is inherited across
    /// `execve`).
    ///
    /// ```
    /// use barepoll::sys::{Command, SigSet, Signal};
    /// let cmd = Command::new(b"/bin/true").signal_mask(SigSet::of(&[Signal::HUP]));
    /// # drop(cmd);
    /// ```
    pub fn signal_mask(mut self, mask: SigSet) -> Command<'fd> {
        self.mask = mask;
        self
    }

    /// The signals whose action is set back to the default in the child (default: every
    /// signal; an ignored signal, such as the `SIGPIPE` std ignores, stays ignored across
    /// `execve` otherwise). Handlers are reset by `execve` anyway.
    ///
    /// ```
    /// use barepoll::sys::{Command, SigSet, Signal};
    /// let cmd = Command::new(b"/bin/true").reset_signals(SigSet::of(&[Signal::PIPE]));
    /// # drop(cmd);
    /// ```
    pub fn reset_signals(mut self, signals: SigSet) -> Command<'fd> {
        self.reset = signals;
        self
    }

    /// Puts the child in process group `group`, or in a new group of its own (`None`): the
    /// way a shell makes a job that `kill_group` can end as a whole.
    ///
    /// ```
    /// let cmd = barepoll::sys::Command::new(b"/bin/true").process_group(None);
    /// # drop(cmd);
    /// ```
    pub fn process_group(mut self, group: Option<Pid>) -> Command<'fd> {
        self.group = Some(group.map_or(0, Pid::as_raw));
        self
    }

    /// Starts the child in a new session (`setsid`), with no controlling terminal unless
    /// [`controlling_terminal`](Command::controlling_terminal) gives one.
    ///
    /// ```
    /// let cmd = barepoll::sys::Command::new(b"/bin/true").new_session();
    /// # drop(cmd);
    /// ```
    pub fn new_session(mut self) -> Command<'fd> {
        self.session = true;
        self
    }

    /// Makes the terminal `tty` the controlling terminal of the child's new session
    /// (`TIOCSCTTY`); implies [`new_session`](Command::new_session).
    ///
    /// ```no_run
    /// # fn tty() -> barepoll::sys::OwnedFd { unimplemented!() }
    /// use barepoll::sys::{AsFd, Command};
    /// let pty = tty();
    /// let cmd = Command::new(b"/bin/sh").controlling_terminal(pty.as_fd());
    /// # drop(cmd);
    /// ```
    pub fn controlling_terminal(mut self, tty: BorrowedFd<'fd>) -> Command<'fd> {
        self.session = true;
        self.terminal = Some(tty);
        self
    }

    /// In the child, descriptor number `to` names the file `fd` names, and stays open
    /// across `execve` (`dup3`). Applied in the order given, after the session and group.
    /// A `to` that another move's `fd` also is gets that move's file only if that move
    /// comes first.
    ///
    /// ```
    /// use barepoll::sys::{self, AsFd, Command};
    /// let (r, w) = sys::pipe(0)?;
    /// let mut child = Command::new(b"/bin/sh").arg(b"-c").arg(b"echo hi")
    ///     .move_fd(w.as_fd(), 1) // its standard output is the pipe
    ///     .spawn()?;
    /// drop(w);
    /// let mut buf = [0u8; 3];
    /// assert_eq!(sys::read(sys::AsFd::as_fd(&r), &mut buf)?, 3);
    /// assert_eq!(&buf, b"hi\n");
    /// child.wait()?;
    /// # Ok::<(), sys::Errno>(())
    /// ```
    pub fn move_fd(mut self, fd: BorrowedFd<'fd>, to: RawFd) -> Command<'fd> {
        self.moves.push((fd, to));
        self
    }

    /// Starts the program. Returns once it runs (its `execve` succeeded), or with the
    /// error that kept it from running, in which case the child is already reaped.
    ///
    /// # Errors
    /// `execve`'s error as the child saw it (`ENOENT` for a missing program, `EACCES` for
    /// one that is not executable, `ENOEXEC`, `E2BIG`), or the error of a step before it
    /// (`setsid`, `setpgid`, `TIOCSCTTY`, `dup3`); `EINVAL` for a string with a NUL byte or a
    /// negative target number; the parent's error from `pipe2` or `clone` (`EAGAIN`,
    /// `ENOMEM`, `EMFILE`).
    ///
    /// ```
    /// use barepoll::sys::{Command, Errno};
    /// assert_eq!(Command::new(b"/nonexistent/program").spawn().map(drop), Err(Errno::ENOENT));
    /// ```
    pub fn spawn(&self) -> Result<Child, Errno> {
        if self.invalid || self.moves.iter().any(|&(_, to)| to < 0) {
            return Err(Errno::EINVAL);
        }
        let base = self.strings.as_ptr();
        let pointers = |offsets: &[usize]| -> Vec<*const u8> {
            let mut v: Vec<*const u8> = offsets.iter().map(|&at| base.wrapping_add(at)).collect();
            v.push(core::ptr::null());
            v
        };
        let (argv, envp) = (pointers(&self.args), pointers(&self.envs));
        let (report_r, report_w) = pipe(0)?;
        // The report pipe must not be a move's target: give it a number above them all.
        let highest = self.moves.iter().map(|&(_, to)| to).max().unwrap_or(-1);
        let report_w = if report_w.as_raw_fd() <= highest {
            dup_above(report_w.as_fd(), highest + 1)?
        } else {
            report_w
        };
        let plan = Plan {
            path: base,
            argv: argv.as_ptr(),
            envp: envp.as_ptr(),
            cmd: self,
            report: report_w.as_raw_fd(),
        };
        let before = sigprocmask(MaskHow::SetMask, every_signal())?;
        // SAFETY: clone with SIGCHLD and no stack is fork: the child continues on a copy of
        // this stack and address space. It takes only `plan.run`, which makes raw syscalls
        // on memory prepared above and never returns.
        let r = unsafe { arch::syscall5(nr(k::__NR_clone), k::SIGCHLD as usize, 0, 0, 0, 0) };
        if r == 0 {
            plan.run();
        }
        let restored = sigprocmask(MaskHow::SetMask, before).map(drop);
        let pid = Pid::from_syscall(r)?;
        drop(report_w);
        let child = Child { pid };
        // The child's report first; a mask that could not be restored fails the spawn too.
        let outcome = read_report(report_r.as_fd()).and(restored);
        match outcome {
            Ok(()) => Ok(child),
            Err(e) => {
                // It failed before running, or we cannot tell: make sure it is gone, reap it.
                let _ = super::kill(pid, Signal::KILL);
                let _ = child.wait_exit();
                Err(e)
            }
        }
    }
}

/// Reads the child's report: `Ok` at end of file (its `execve` closed the pipe), else the
/// errno it wrote. EINTR is retried (a signal in the parent says nothing about the child).
fn read_report(fd: BorrowedFd<'_>) -> Result<(), Errno> {
    let mut errno = [0u8; 4];
    let mut got = 0;
    while got < errno.len() {
        match read(fd, &mut errno[got..]) {
            Ok(0) if got == 0 => return Ok(()),
            Ok(0) => return Err(Errno::EIO),
            Ok(n) => got += n,
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
    Err(Errno::from_raw(i32::from_ne_bytes(errno)).unwrap_or(Errno::EIO))
}

/// A new close-on-exec descriptor for `fd`'s file, numbered `min` or above.
fn dup_above(fd: BorrowedFd<'_>, min: RawFd) -> Result<OwnedFd, Errno> {
    let (fd, cmd) = (fd.as_raw_fd() as usize, k::F_DUPFD_CLOEXEC as usize);
    // SAFETY: fcntl(F_DUPFD_CLOEXEC) takes no pointers.
    let r = unsafe { arch::syscall3(nr(k::__NR_fcntl), fd, cmd, min as usize) };
    Errno::result(r).and_then(super::owned)
}

/// Every signal `rt_sigaction` may change (all but `SIGKILL` and `SIGSTOP`).
fn every_signal() -> SigSet {
    let mut all = SigSet::empty();
    for signo in 1..=64 {
        if signo != k::SIGKILL && signo != k::SIGSTOP {
            if let Some(signal) = Signal::from_raw(signo) {
                all = all.with(signal);
            }
        }
    }
    all
}

/// What the child does, prepared before the clone.
struct Plan<'a, 'fd> {
    path: *const u8,
    argv: *const *const u8,
    envp: *const *const u8,
    cmd: &'a Command<'fd>,
    report: RawFd,
}

impl Plan<'_, '_> {
    /// The child's side: each step a raw syscall; the first that fails is reported and the
    /// child exits with 127. Never returns.
    fn run(&self) -> ! {
        let errno = match self.prepare() {
            Err(e) => e,
            // SAFETY: path, argv and envp are NUL-terminated strings and null-terminated
            // arrays of them, built before the clone and unchanged since.
            Ok(()) => match Errno::result(unsafe {
                arch::syscall3_readonly(
                    nr(k::__NR_execve),
                    self.path as usize,
                    self.argv as usize,
                    self.envp as usize,
                )
            }) {
                Err(e) => e,
                Ok(_) => Errno::EIO,
            },
        };
        let bytes = errno.raw().to_ne_bytes();
        // The pipe holds 4 bytes at once; a failed report leaves the parent reading end of
        // file, and the exit status (127) tells the rest.
        let _ = super::write(
            // SAFETY: `report` is open in the child until it exits.
            unsafe { BorrowedFd::borrow_raw(self.report) },
            &bytes,
        );
        super::exit_group(127)
    }

    fn prepare(&self) -> Result<(), Errno> {
        let cmd = self.cmd;
        for signo in 1..=64u32 {
            match Signal::from_raw(signo) {
                Some(signal) if cmd.reset.contains(signal) => default_action(signo)?,
                _ => {}
            }
        }
        if cmd.session {
            // SAFETY: setsid takes no arguments.
            Errno::result(unsafe { arch::syscall0(nr(k::__NR_setsid)) })?;
        }
        if let Some(tty) = cmd.terminal {
            let fd = tty.as_raw_fd() as usize;
            // SAFETY: ioctl(TIOCSCTTY, 0) takes no pointer.
            Errno::result(unsafe { arch::syscall3(nr(k::__NR_ioctl), fd, TIOCSCTTY, 0) })?;
        }
        if let Some(group) = cmd.group {
            // SAFETY: setpgid takes no pointers.
            let r = unsafe { arch::syscall2(nr(k::__NR_setpgid), 0, group as usize) };
            Errno::result(r)?;
        }
        for &(fd, to) in &cmd.moves {
            let (from, to) = (fd.as_raw_fd() as usize, to as usize);
            let r = if from == to {
                // The same number: only clear close-on-exec.
                // SAFETY: fcntl(F_SETFD) takes no pointers.
                unsafe { arch::syscall3(nr(k::__NR_fcntl), from, k::F_SETFD as usize, 0) }
            } else {
                // SAFETY: dup3 takes no pointers; the child's descriptor table is its own.
                unsafe { arch::syscall3(nr(k::__NR_dup3), from, to, 0) }
            };
            Errno::result(r)?;
        }
        let mask = core::ptr::addr_of!(cmd.mask) as usize;
        // SAFETY: the kernel reads one 8-byte set (`SigSet` is a `u64`); the old-mask pointer
        // is null.
        let r = unsafe {
            arch::syscall4(
                nr(k::__NR_rt_sigprocmask),
                k::SIG_SETMASK as usize,
                mask,
                0,
                8,
            )
        };
        Errno::result(r).map(drop)
    }
}

const TIOCSCTTY: usize = 0x540e;

/// Sets `signo`'s action to the default (`rt_sigaction`, `SIG_DFL`).
fn default_action(signo: u32) -> Result<(), Errno> {
    // handler SIG_DFL (0), flags, restorer, mask: the kernel's layout on both arches.
    let action = [0usize; 4];
    let ptr = action.as_ptr() as usize;
    // SAFETY: the kernel reads one sigaction (four words) from `action`; the old-action
    // pointer is null.
    let r = unsafe { arch::syscall4(nr(k::__NR_rt_sigaction), signo as usize, ptr, 0, 8) };
    Errno::result(r).map(drop)
}
