//! A tiny init for containers, a drop-in for tini 0.19, with no libc and no unsafe code: a
//! static binary whose only way to the kernel is barepoll's syscalls.
//!
//! ```text
//! init [OPTIONS] PROGRAM [ARGS]     (or: init [OPTIONS] -- PROGRAM [ARGS])
//! ```
//!
//! It starts PROGRAM (searched in `PATH` when it has no `/`) in a process group of its own,
//! forwards every signal it can catch to it, reaps every zombie, and exits with its exit code
//! (128 + the signal's number if a signal ended it). Options and environment as tini's; see
//! `USAGE` below.
//!
//! Signals: every signal but `SIGKILL`, `SIGSTOP` and the ones that report a fault of the
//! init itself (`SIGFPE`, `SIGILL`, `SIGSEGV`, `SIGBUS`, `SIGABRT`, `SIGTRAP`, `SIGSYS`) is
//! blocked and read from a signalfd in a reactor; `SIGCHLD` reaps, `SIGTTIN` and `SIGTTOU`
//! stay blocked (so that they never stop the init; tini ignores them) and are not forwarded,
//! every other one is forwarded. The program starts with the signal mask the init inherited,
//! and with the signal actions it inherited (the init changes none).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

barepoll::main!(main);

use alloc::boxed::Box;
use barepoll::signal::Signals;
use barepoll::sys::rt::{args, var, vars};
use barepoll::sys::{
    self, BorrowedFd, Command, Errno, ExitStatus, MaskHow, Pid, SigInfo, SigSet, Signal, WaitFor,
    WaitOptions,
};
use barepoll::{Ops, Reactor, Subscriber, interest};
use core::mem::ManuallyDrop;
use core::sync::atomic::{AtomicI32, Ordering::Relaxed};

const USAGE: &[u8] = b"init (a drop-in for tini 0.19)
Usage: init [OPTIONS] PROGRAM -- [ARGS] | --version

Execute a program under the supervision of a valid init process

Command line options:

  --version: Show version and exit.
  -h: Show this help message and exit.
  -s: Register as a process subreaper (requires Linux >= 3.4).
  -p SIGNAL: Trigger SIGNAL when parent dies, e.g. \"-p SIGKILL\".
  -v: Generate more verbose output. Repeat up to 3 times.
  -w: Print a warning when processes are getting reaped.
  -g: Send signals to the child's process group.
  -e EXIT_CODE: Remap EXIT_CODE (from 0 to 255) to 0.

Environment variables:

  TINI_SUBREAPER: Register as a process subreaper (requires Linux >= 3.4).
  TINI_VERBOSITY: Set the verbosity level (default: 1).
  TINI_KILL_PROCESS_GROUP: Send signals to the child's process group.

";

const REAPER_WARNING: &[u8] = b"init is not running as PID 1 and isn't registered as a child \
subreaper.\nZombie processes will not be re-parented to init, so zombie reaping won't work.\n\
To fix the problem, use the -s option or set the environment variable TINI_SUBREAPER to \
register init as a child subreaper, or run init as PID 1.";

/// Signal names for `-p`, numbered from 1 (the same numbers on x86_64 and aarch64).
const SIGNAL_NAMES: &[u8] =
    b"HUP INT QUIT ILL TRAP ABRT BUS FPE KILL USR1 SEGV USR2 PIPE ALRM TERM \
STKFLT CHLD CONT STOP TSTP TTIN TTOU URG XCPU XFSZ VTALRM PROF WINCH IO PWR SYS";

/// How much the init says: 0 fatal errors only, 1 warnings too (the default), 2 info, 3 debug.
static VERBOSITY: AtomicI32 = AtomicI32::new(1);
/// The exit code, once known.
static EXIT_CODE: AtomicI32 = AtomicI32::new(1);

const FATAL: i32 = 0;
const WARN: i32 = 1;
const INFO: i32 = 2;
const DEBUG: i32 = 3;

/// One message, `[LEVEL init (PID)] ` and what is added to it, written at once: fatal errors
/// and warnings on stderr, the rest on stdout (as tini). Made in a fixed buffer (cut short past
/// it) without `core::fmt`; each step is one call, so that a message costs little code.
struct Say {
    buf: [u8; 512],
    len: usize,
    level: i32,
}

impl Say {
    #[inline(never)]
    fn new(level: i32) -> Say {
        let tag: &[u8] = match level {
            FATAL => b"[FATAL init (",
            WARN => b"[WARN  init (",
            INFO => b"[INFO  init (",
            _ => b"[DEBUG init (",
        };
        let mut say = Say {
            buf: [0; 512],
            len: 0,
            level,
        };
        say.text(tag)
            .number(sys::getpid().map_or(0, Pid::as_raw))
            .text(b")] ");
        say
    }

    #[inline(never)]
    fn text(&mut self, s: &[u8]) -> &mut Say {
        for &c in s {
            if let Some(slot) = self.buf.get_mut(self.len) {
                *slot = c;
                self.len += 1;
            }
        }
        self
    }

    #[inline(never)]
    fn number(&mut self, n: i32) -> &mut Say {
        if n < 0 {
            self.text(b"-");
        }
        let mut n = n.unsigned_abs();
        let mut digits = [0u8; 10];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.text(&digits[i..])
    }

    /// The error in words for those a user meets (a program that cannot be run), else its
    /// number.
    #[inline(never)]
    fn errno(&mut self, e: Errno) -> &mut Say {
        match e {
            Errno::ENOENT => self.text(b"No such file or directory"),
            Errno::EACCES => self.text(b"Permission denied"),
            Errno::ENOEXEC => self.text(b"Exec format error"),
            _ => self.text(b"errno ").number(e.raw()),
        }
    }

    /// Writes the message, if the verbosity asks for its level.
    #[inline(never)]
    fn end(&mut self) {
        if self.level > VERBOSITY.load(Relaxed) && self.level != FATAL {
            return;
        }
        self.text(b"\n");
        let to = if self.level <= WARN {
            sys::stderr()
        } else {
            sys::stdout()
        };
        let _ = sys::rt::write_all(to, &self.buf[..self.len]);
    }
}

/// What the command line and the environment ask for.
struct Options {
    subreaper: bool,
    group: bool,
    warn_reap: bool,
    pdeath: Option<Signal>,
    /// Bit `n` set: exit code `n` is reported as 0.
    remapped: [u64; 4],
    /// The program's index in the arguments.
    program: usize,
}

/// Parses the command line, then the environment (which wins, as with tini); `Err` is the
/// exit code when there is nothing to run.
fn parse() -> Result<Options, i32> {
    let args = args();
    let mut o = Options {
        subreaper: false,
        group: false,
        warn_reap: false,
        pdeath: None,
        remapped: [0; 4],
        program: 0,
    };
    let mut verbosity = 1;
    let mut i = 1;
    // Options end at the first argument that is not one, or after `--`.
    while let Some(arg) = args.get(i) {
        i += 1;
        if arg == b"--" {
            break;
        }
        if arg == b"--version" {
            let _ = sys::rt::write_all(sys::stdout(), b"init 0.1.0 (tini 0.19 options)\n");
            return Err(0);
        }
        if arg.len() < 2 || arg[0] != b'-' {
            i -= 1;
            break;
        }
        let mut j = 1;
        while let Some(&flag) = arg.get(j) {
            j += 1;
            match flag {
                b'h' => {
                    let _ = sys::rt::write_all(sys::stdout(), USAGE);
                    return Err(0);
                }
                b's' => o.subreaper = true,
                b'g' => o.group = true,
                b'w' => o.warn_reap = true,
                b'v' => verbosity += 1,
                b'e' | b'p' => {
                    // The value is the rest of this argument, or the next one.
                    let value = if j < arg.len() {
                        &arg[j..]
                    } else {
                        i += 1;
                        args.get(i - 1).ok_or_else(usage_error)?
                    };
                    j = arg.len();
                    if flag == b'e' {
                        let Some(code @ 0..=255) = atoi(value, false) else {
                            Say::new(FATAL)
                                .text(b"Not a valid option for -e: ")
                                .text(value)
                                .end();
                            return Err(1);
                        };
                        o.remapped[code as usize / 64] |= 1 << (code % 64);
                    } else {
                        let found = value.strip_prefix(b"SIG").and_then(|name| {
                            let mut names = SIGNAL_NAMES.split(|&c| c == b' ');
                            let at = names.position(|n| n == name)?;
                            Signal::from_raw(at as u32 + 1)
                        });
                        let Some(signal) = found else {
                            Say::new(FATAL)
                                .text(b"Invalid signal name: ")
                                .text(value)
                                .end();
                            return Err(1);
                        };
                        o.pdeath = Some(signal);
                    }
                }
                _ => return Err(usage_error()),
            }
        }
    }
    if args.get(i).is_none() {
        return Err(usage_error());
    }
    o.program = i;
    o.subreaper |= var(b"TINI_SUBREAPER").is_some();
    o.group |= var(b"TINI_KILL_PROCESS_GROUP").is_some();
    if let Some(v) = var(b"TINI_VERBOSITY") {
        verbosity = atoi(v, true).unwrap_or(0);
    }
    VERBOSITY.store(verbosity, Relaxed);
    Ok(o)
}

/// Prints the usage on stderr; the exit code for a command line that is not right.
fn usage_error() -> i32 {
    let _ = sys::rt::write_all(sys::stderr(), USAGE);
    1
}

/// A decimal number, optionally signed. With `lax` (C's `atoi`), whatever follows the digits
/// is ignored; without, the whole of `s` must be the number.
fn atoi(s: &[u8], lax: bool) -> Option<i32> {
    let (negative, digits) = match s.strip_prefix(b"-") {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let end = digits
        .iter()
        .position(|c| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    if end == 0 || end > 9 || (!lax && end != digits.len()) {
        return None;
    }
    let n = digits[..end]
        .iter()
        .fold(0i32, |n, &c| n * 10 + i32::from(c - b'0'));
    Some(if negative { -n } else { n })
}

/// Every signal numbered 1 to 64 but those of `but`.
fn all_but(but: &[u32]) -> SigSet {
    (1..=64u32)
        .filter(|n| !but.contains(n))
        .filter_map(Signal::from_raw)
        .fold(SigSet::empty(), SigSet::with)
}

/// Signals left to their action: those that cannot be caught, and faults of the init itself
/// (ILL 4, TRAP 5, ABRT 6, BUS 7, FPE 8, KILL 9, SEGV 11, STOP 19, SYS 31).
const NOT_BLOCKED: [u32; 9] = [4, 5, 6, 7, 8, 9, 11, 19, 31];
/// Also never forwarded: TTIN 21, TTOU 22.
const NOT_FORWARDED: [u32; 11] = [4, 5, 6, 7, 8, 9, 11, 19, 31, 21, 22];

/// The program (`args()[program..]`) with the environment, in a process group of its own,
/// with `mask`; the path is looked up in `PATH` as `execvp` does.
fn spawn(program: usize, mask: SigSet) -> Result<Pid, Errno> {
    let name = args().get(program).unwrap_or(b"");
    let start = |path: &[u8]| {
        let mut cmd = Command::new(path)
            .arg0(name)
            .signal_mask(mask)
            .reset_signals(SigSet::empty())
            .process_group(None);
        for arg in args().skip(program + 1) {
            cmd = cmd.arg(arg);
        }
        for (key, value) in vars() {
            let mut entry = key.to_vec();
            entry.push(b'=');
            entry.extend_from_slice(value);
            cmd = cmd.env(&entry);
        }
        cmd.spawn().map(|child| child.pid())
    };
    if name.is_empty() || name.contains(&b'/') {
        return start(name);
    }
    let mut denied = false;
    for dir in var(b"PATH")
        .unwrap_or(b"/bin:/usr/bin")
        .split(|&c| c == b':')
    {
        let mut path = if dir.is_empty() {
            b".".to_vec()
        } else {
            dir.to_vec()
        };
        path.push(b'/');
        path.extend_from_slice(name);
        match start(&path) {
            Err(Errno::EACCES) => denied = true,
            Err(Errno::ENOENT | Errno::ENOTDIR) => {}
            other => return other,
        }
    }
    Err(if denied { Errno::EACCES } else { Errno::ENOENT })
}

/// What the main child's exit status makes the init's exit code.
fn exit_code(status: ExitStatus, remapped: &[u64; 4]) -> i32 {
    let code = match status {
        ExitStatus::Exited(code) => {
            let exited = b"Main child exited normally (with status '";
            Say::new(INFO).text(exited).number(code).text(b"')").end();
            code
        }
        ExitStatus::Killed { signal, .. } => {
            let n = signal.raw() as i32;
            Say::new(INFO)
                .text(b"Main child exited with signal ")
                .number(n)
                .end();
            128 + n
        }
        _ => {
            Say::new(FATAL)
                .text(b"Main child exited for unknown reason")
                .end();
            return 1;
        }
    } % 256;
    if remapped[code as usize / 64] & 1 << (code % 64) != 0 {
        0
    } else {
        code
    }
}

/// What the init does while the program runs: forwards signals, reaps.
struct Supervisor {
    child: Pid,
    group: bool,
    warn_reap: bool,
    remapped: [u64; 4],
}

impl Supervisor {
    /// Reaps every child that has exited; `true` once the main child is among them (its exit
    /// code is then in `EXIT_CODE`), or on an error that ends the init.
    fn reap(&self) -> bool {
        let mut done = false;
        loop {
            match sys::waitid(WaitFor::Any, WaitOptions::EXITED | WaitOptions::NOHANG) {
                Ok(Some((pid, status))) if pid == self.child => {
                    EXIT_CODE.store(exit_code(status, &self.remapped), Relaxed);
                    done = true;
                }
                Ok(Some((pid, _))) => {
                    let level = if self.warn_reap { WARN } else { DEBUG };
                    let reaped = b"Reaped zombie process with pid=";
                    Say::new(level).text(reaped).number(pid.as_raw()).end();
                }
                Ok(None) | Err(Errno::ECHILD) => return done,
                Err(Errno::EINTR) => {}
                Err(e) => {
                    Say::new(FATAL)
                        .text(b"Error while waiting for pids: ")
                        .errno(e)
                        .end();
                    EXIT_CODE.store(1, Relaxed);
                    return true;
                }
            }
        }
    }

    /// Passes `signal` on to the child (or its group); `false` on an error that ends the init.
    fn forward(&self, signal: Signal) -> bool {
        Say::new(DEBUG)
            .text(b"Passing signal ")
            .number(signal.raw() as i32)
            .end();
        let sent = if self.group {
            sys::kill_group(self.child, signal)
        } else {
            sys::kill(self.child, signal)
        };
        match sent {
            Ok(()) => true,
            Err(Errno::ESRCH) => {
                Say::new(WARN)
                    .text(b"Child was dead when forwarding signal")
                    .end();
                true
            }
            Err(e) => {
                let what = b"Unexpected error when forwarding signal: ";
                Say::new(FATAL).text(what).errno(e).end();
                EXIT_CODE.store(1, Relaxed);
                false
            }
        }
    }
}

/// Says why the init stops, and gives its exit code.
fn fatal(what: &[u8], e: Errno) -> i32 {
    Say::new(FATAL).text(what).errno(e).end();
    1
}

fn main() -> i32 {
    let o = match parse() {
        Ok(o) => o,
        Err(code) => return code,
    };
    if let Some(signal) = o.pdeath {
        if let Err(e) = sys::set_pdeathsig(Some(signal)) {
            return fatal(b"Failed to set up parent death signal: ", e);
        }
    }
    if o.subreaper {
        match sys::set_child_subreaper(true) {
            Ok(()) => {}
            Err(Errno::EINVAL) => {
                let why = b"PR_SET_CHILD_SUBREAPER is unavailable on this platform. Are you using Linux >= 3.4?";
                Say::new(FATAL).text(why).end();
                return 1;
            }
            Err(e) => return fatal(b"Failed to register as child subreaper: ", e),
        }
    }
    let pid1 = sys::getpid().is_ok_and(|p| p.as_raw() == 1);
    if !pid1 && !sys::is_child_subreaper().unwrap_or(false) {
        Say::new(WARN).text(REAPER_WARNING).end();
    }

    // Blocked before the program starts, so that none of its signals is missed; the mask
    // from before is the program's.
    let inherited = match sys::sigprocmask(MaskHow::Block, all_but(&NOT_BLOCKED)) {
        Ok(mask) => mask,
        Err(e) => return fatal(b"Failed to block signals: ", e),
    };
    let signals = match Signals::new(all_but(&NOT_FORWARDED)) {
        Ok(signals) => signals,
        Err(e) => return fatal(b"Failed to read signals: ", e),
    };
    // Never dropped: the process exits when `run` returns.
    let mut reactor = match Reactor::new() {
        Ok(reactor) => ManuallyDrop::new(reactor),
        Err(e) => {
            return fatal(
                b"Failed to start the reactor: ",
                e.errno().unwrap_or(Errno::EIO),
            );
        }
    };

    let name = args().get(o.program).unwrap_or(b"");
    let child = match spawn(o.program, inherited) {
        Ok(child) => child,
        Err(e) => {
            Say::new(FATAL)
                .text(b"exec ")
                .text(name)
                .text(b" failed: ")
                .errno(e)
                .end();
            return match e {
                Errno::ENOENT => 127,
                Errno::EACCES => 126,
                _ => 1,
            };
        }
    };
    Say::new(INFO)
        .text(b"Spawned child process '")
        .text(name)
        .text(b"' with pid '")
        .number(child.as_raw())
        .text(b"'")
        .end();
    // As tini: the program's group takes the terminal, if the init has one on stdin.
    foreground(sys::stdin(), child);

    let me = Supervisor {
        child,
        group: o.group,
        warn_reap: o.warn_reap,
        remapped: o.remapped,
    };
    let on_signal = signals.on(move |info: SigInfo, ops: &mut Ops<'_>| {
        let go_on = if info.signal == Signal::CHLD {
            !me.reap()
        } else {
            me.forward(info.signal)
        };
        if !go_on {
            ops.stop();
        }
    });
    let registered = reactor.register(
        Box::new(on_signal) as Box<dyn Subscriber>,
        interest().read(),
    );
    if let Err(e) = registered.and_then(|_| reactor.run()) {
        return fatal(b"Reactor failed: ", e.errno().unwrap_or(Errno::EIO));
    }
    EXIT_CODE.load(Relaxed)
}

/// Makes `group` the foreground process group of the terminal `tty`, if it is one.
fn foreground(tty: BorrowedFd<'_>, group: Pid) {
    if let Err(e) = sys::tcsetpgrp(tty, group) {
        let what = b"tcsetpgrp failed (ok to proceed): ";
        Say::new(DEBUG).text(what).errno(e).end();
    }
}
