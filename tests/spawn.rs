//! Child processes without libc: `sys::Command` starts programs, reports a failed `execve`
//! as its error, and leaves no zombie; `waitid` and pidfds report how children end, and a
//! reactor sees a child's exit through its pidfd.

use barepoll::sys::{self, AsFd, Command, Errno, ExitStatus, SigSet, Signal};
use barepoll::sys::{WaitFor, WaitOptions};
use barepoll::{interest, Ops, Reactor};
use std::cell::Cell;
use std::rc::Rc;
use std::sync::Mutex;

/// The tests count this process's zombies: one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Holds the other tests off, and knows the zombies there were before (a tool such as
/// valgrind may leave one of its own).
struct Serial {
    _one: std::sync::MutexGuard<'static, ()>,
    before: Vec<i32>,
}

impl Serial {
    /// The zombies this test left.
    fn new_zombies(&self) -> Vec<i32> {
        let mut now = zombies();
        now.retain(|pid| !self.before.contains(pid));
        now
    }
}

fn serial() -> Serial {
    let one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    Serial {
        _one: one,
        before: zombies(),
    }
}

/// `/proc/PID/stat` fields after the command name: state, ppid, pgrp, session, ...
fn stat(pid: i32) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 2..];
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

/// This process's children that are zombies.
fn zombies() -> Vec<i32> {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| stat(pid).is_some_and(|f| f[0] == "Z" && f[1] == me))
        .collect()
}

/// Runs `cmd` with its standard output into a pipe; returns what it printed, and how it
/// ended.
fn output(cmd: Command<'_>) -> (String, ExitStatus) {
    let (r, w) = sys::pipe(0).unwrap();
    let mut child = cmd.move_fd(w.as_fd(), 1).spawn().unwrap();
    drop(w);
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match sys::read(r.as_fd(), &mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(Errno::EINTR) => {}
            Err(e) => panic!("{e}"),
        }
    }
    let status = child.wait().unwrap();
    (String::from_utf8(out).unwrap(), status)
}

fn sh(script: &str) -> Command<'static> {
    Command::new(b"/bin/sh").arg(b"-c").arg(script.as_bytes())
}

#[test]
#[cfg_attr(miri, ignore = "Miri runs no processes")]
fn programs_exit_with_their_status() {
    let one = serial();
    let mut t = Command::new(b"/bin/true").spawn().unwrap();
    assert_eq!(t.wait(), Ok(ExitStatus::Exited(0)));
    assert_eq!(t.wait(), Err(Errno::ECHILD), "reaped once");
    let mut seven = sh("exit 7").spawn().unwrap();
    assert_eq!(seven.wait(), Ok(ExitStatus::Exited(7)));
    let script = sh("echo \"$0:$1:$GREETING\"").arg(b"zero").arg(b"one");
    let (out, status) = output(script.env(b"GREETING=hi"));
    assert_eq!(
        (out.as_str(), status),
        ("zero:one:hi\n", ExitStatus::Exited(0))
    );
    assert_eq!(one.new_zombies(), Vec::<i32>::new());
}

#[test]
#[cfg_attr(miri, ignore = "Miri runs no processes")]
fn a_child_killed_by_a_signal() {
    let one = serial();
    let mut child = Command::new(b"/bin/sleep").arg(b"60").spawn().unwrap();
    assert_eq!(child.try_wait(), Ok(None));
    sys::kill(child.pid(), Signal::TERM).unwrap();
    let killed = ExitStatus::Killed {
        signal: Signal::TERM,
        core_dumped: false,
    };
    assert_eq!(child.wait(), Ok(killed));
    // Killed by its own hand, seen through P_ALL.
    let child = sh("kill -9 $$").spawn().unwrap();
    let (pid, status) = sys::waitid(WaitFor::Any, WaitOptions::EXITED)
        .unwrap()
        .unwrap();
    assert_eq!(pid, child.pid());
    assert!(matches!(
        status,
        ExitStatus::Killed {
            signal: Signal::KILL,
            ..
        }
    ));
    assert_eq!(one.new_zombies(), Vec::<i32>::new());
}

#[test]
#[cfg_attr(miri, ignore = "Miri runs no processes")]
fn a_missing_program_is_an_error_and_leaves_no_zombie() {
    let one = serial();
    assert_eq!(
        Command::new(b"/nonexistent/program").spawn().map(drop),
        Err(Errno::ENOENT)
    );
    assert_eq!(
        Command::new(b"/proc/self/status").spawn().map(drop),
        Err(Errno::EACCES),
        "not executable"
    );
    assert_eq!(
        Command::new(b"/bin/true").arg(b"a\0b").spawn().map(drop),
        Err(Errno::EINVAL)
    );
    assert_eq!(one.new_zombies(), Vec::<i32>::new());
    // The pid space shows no child of ours at all.
    assert_eq!(
        sys::waitid(WaitFor::Any, WaitOptions::EXITED | WaitOptions::NOHANG),
        Err(Errno::ECHILD)
    );
}

/// std ignores SIGPIPE in this process; the child starts with it at the default unless
/// told otherwise, and with the mask it is given, whatever this thread blocks.
#[test]
#[cfg_attr(miri, ignore = "Miri runs no processes")]
fn the_child_starts_with_the_given_mask_and_default_actions() {
    let one = serial();
    let status_line = |cmd: Command<'static>, field: &str| {
        let (out, status) = output(cmd.arg(b"/proc/self/status"));
        assert!(status.success());
        let line = out
            .lines()
            .find(|l| l.starts_with(field))
            .unwrap()
            .to_owned();
        u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap()
    };
    let pipe_bit = 1 << (Signal::PIPE.raw() - 1);
    let cat = || Command::new(b"/bin/cat");
    // The standard signals (1..=31): qemu-user keeps a real-time signal of its own ignored.
    let standard = (1u64 << 31) - 1;
    assert_eq!(status_line(cat(), "SigIgn:") & standard, 0);
    let kept = cat().reset_signals(SigSet::empty());
    assert_eq!(status_line(kept, "SigIgn:") & pipe_bit, pipe_bit);
    let hup = 1 << (Signal::HUP.raw() - 1);
    let usr1 = 1 << (Signal::USR1.raw() - 1);
    std::thread::spawn(move || {
        // This thread blocks USR1; the child is given HUP.
        sys::sigprocmask(sys::MaskHow::Block, SigSet::of(&[Signal::USR1])).unwrap();
        let masked = cat().signal_mask(SigSet::of(&[Signal::HUP]));
        assert_eq!(status_line(masked, "SigBlk:"), hup);
        assert_eq!(status_line(cat(), "SigBlk:") & usr1, 0);
    })
    .join()
    .unwrap();
    assert_eq!(one.new_zombies(), Vec::<i32>::new());
}

#[test]
#[cfg_attr(miri, ignore = "Miri runs no processes")]
fn groups_and_sessions() {
    let one = serial();
    // Asked of the kernel (qemu-user answers /proc/self itself, with zeros).
    // In a container started from outside its pid namespace both may be `None` (the kernel
    // and /proc/PID/stat say 0).
    let me = [sys::getpgid(None).unwrap(), sys::getsid(None).unwrap()];
    let me = me.map(|pid| pid.map_or(0, |p| p.as_raw()).to_string());
    let mut plain = Command::new(b"/bin/sleep").arg(b"60").spawn().unwrap();
    assert_eq!(
        sys::getpgid(Some(plain.pid())).map(|p| p.map_or(0, |p| p.as_raw()).to_string()),
        Ok(me[0].clone())
    );
    let f = stat(plain.pid().as_raw()).unwrap();
    assert_eq!((&f[2], &f[3]), (&me[0], &me[1]), "our group and session");
    sys::kill(plain.pid(), Signal::KILL).unwrap();
    plain.wait().unwrap();

    let mut leader = Command::new(b"/bin/sleep")
        .arg(b"60")
        .process_group(None)
        .spawn()
        .unwrap();
    let pid = leader.pid().as_raw().to_string();
    let f = stat(leader.pid().as_raw()).unwrap();
    assert_eq!((&f[2], &f[3]), (&pid, &me[1]), "a group of its own");
    assert_eq!(sys::getpgid(Some(leader.pid())), Ok(Some(leader.pid())));
    sys::kill_group(leader.pid(), Signal::TERM).unwrap();
    assert!(!leader.wait().unwrap().success());

    let mut alone = Command::new(b"/bin/sleep")
        .arg(b"60")
        .new_session()
        .spawn()
        .unwrap();
    let pid = alone.pid().as_raw().to_string();
    let f = stat(alone.pid().as_raw()).unwrap();
    assert_eq!((&f[2], &f[3]), (&pid, &pid), "a session of its own");
    assert_eq!(sys::getsid(Some(alone.pid())), Ok(Some(alone.pid())));
    sys::kill(alone.pid(), Signal::TERM).unwrap();
    alone.wait().unwrap();
    // A terminal that is not one cannot be the controlling terminal.
    let (r, _w) = sys::pipe(0).unwrap();
    assert_eq!(
        Command::new(b"/bin/true")
            .controlling_terminal(r.as_fd())
            .spawn()
            .map(drop),
        Err(Errno::ENOTTY)
    );
    assert_eq!(one.new_zombies(), Vec::<i32>::new());
}

/// A reactor watches a child through its pidfd: readable at exit, and waitid on it reaps.
/// Set in the copy of this test binary that runs inside a new pid namespace.
const INNER: &str = "BAREPOLL_SPAWN_INNER_NAMESPACE";

#[test]
#[cfg_attr(miri, ignore = "Miri runs no processes")]
fn a_group_and_session_led_from_outside_the_pid_namespace_are_none() {
    if std::env::var_os(INNER).is_some() {
        // pid 1 of a new namespace, in the group and session of a process outside it.
        assert_eq!(sys::getpid().unwrap().as_raw(), 1);
        assert_eq!(sys::getpgid(None), Ok(None));
        assert_eq!(sys::getsid(None), Ok(None));
        // A group of its own is seen again.
        sys::setpgid(None, None).unwrap();
        assert_eq!(sys::getpgid(None), Ok(Some(sys::getpid().unwrap())));
        return;
    }
    let _one = serial();
    let me = std::env::current_exe().unwrap();
    // unshare(1) runs the binary natively: an emulated one (qemu-user) is for another machine.
    let machine = |path: &std::path::Path| std::fs::read(path).ok().map(|elf| elf[18..20].to_vec());
    if machine(&me) != machine(std::path::Path::new("/bin/sh")) {
        eprintln!("skipped: this test binary is not for this machine (emulated)");
        return;
    }
    let name = "a_group_and_session_led_from_outside_the_pid_namespace_are_none";
    let run = std::process::Command::new("unshare")
        .args(["--pid", "--fork", "--kill-child"])
        .arg(&me)
        .args(["--exact", name, "--test-threads=1"])
        .env(INNER, "1")
        .output();
    let Ok(run) = run else {
        eprintln!("skipped: no unshare(1) on this machine");
        return;
    };
    let err = String::from_utf8_lossy(&run.stderr);
    if !run.status.success() && err.starts_with("unshare:") {
        eprintln!("skipped: this machine refuses a new pid namespace: {err}");
        return;
    }
    let out = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{out}{err}");
    assert!(out.contains("1 passed"), "{out}");
}

#[test]
#[cfg_attr(miri, ignore = "Miri runs no processes")]
fn a_reactor_sees_a_child_exit_through_its_pidfd() {
    let one = serial();
    let mut child = sh("sleep 0.05; exit 3").spawn().unwrap();
    let pidfd = match child.pidfd() {
        Err(Errno::ENOSYS) => {
            // (valgrind 3.19 has no pidfd_open either.) Reaped here, not left to the tests
            // that count this process's children.
            child.wait().unwrap();
            return println!("skipped: no pidfd_open (Linux 5.3+)");
        }
        other => other.unwrap(),
    };
    let seen = Rc::new(Cell::new(None));
    let s = seen.clone();
    let mut reactor = Reactor::new().unwrap();
    interest()
        .read()
        .with_fd(pidfd)
        .with_handler(move |fd: &mut sys::OwnedFd, ops: &mut Ops<'_>| {
            let got = sys::waitid(WaitFor::PidFd(fd.as_fd()), WaitOptions::EXITED).unwrap();
            s.set(got);
            ops.stop();
        })
        .register_into(&mut reactor)
        .unwrap();
    reactor.run().unwrap();
    assert_eq!(seen.get(), Some((child.pid(), ExitStatus::Exited(3))));
    assert_eq!(one.new_zombies(), Vec::<i32>::new());
}

/// A subreaper adopts a grandchild its child left behind, and can reap it.
#[test]
#[cfg_attr(miri, ignore = "Miri runs no processes")]
fn an_orphaned_grandchild_comes_to_a_subreaper() {
    let one = serial();
    // The parent-death signal: set, read back, cleared.
    sys::set_pdeathsig(Some(Signal::HUP)).unwrap();
    assert_eq!(sys::pdeathsig(), Ok(Some(Signal::HUP)));
    sys::set_pdeathsig(None).unwrap();
    assert_eq!(sys::pdeathsig(), Ok(None));
    match sys::set_child_subreaper(true) {
        // Linux before 3.4, or qemu-user 7.2, which passes on only the prctl options it knows.
        Err(Errno::EINVAL) => return println!("skipped: PR_SET_CHILD_SUBREAPER refused"),
        other => other.unwrap(),
    }
    assert_eq!(sys::is_child_subreaper(), Ok(true));
    // The child starts a grandchild in the background, prints its pid and exits.
    let (out, status) = output(sh("sleep 0.1 & echo $!"));
    assert!(status.success());
    let grandchild = sys::Pid::new(out.trim().parse().unwrap()).unwrap();
    let reaped = sys::waitid(WaitFor::Pid(grandchild), WaitOptions::EXITED);
    sys::set_child_subreaper(false).unwrap();
    assert_eq!(reaped, Ok(Some((grandchild, ExitStatus::Exited(0)))));
    assert_eq!(sys::is_child_subreaper(), Ok(false));
    // A subreaper adopts every orphan below it, not only the one the shell named (seen under
    // valgrind, whose slower start lets the shell leave another behind): reaping them is the
    // subreaper's job, not the spawn's, so they are reaped here rather than counted.
    for pid in one.new_zombies() {
        if let Some(pid) = sys::Pid::new(pid) {
            let _ = sys::waitid(WaitFor::Pid(pid), WaitOptions::EXITED);
        }
    }
    assert_eq!(one.new_zombies(), Vec::<i32>::new());
}

/// `WNOWAIT` reports and leaves the child waitable; `WNOHANG` returns at once; a pidfd names
/// the child for `waitid` whether or not it has exited.
#[test]
#[cfg_attr(miri, ignore = "Miri runs no processes")]
fn waitid_peeks_polls_and_waits_by_pidfd() {
    let one = serial();
    let (r, w) = sys::pipe(0).unwrap();
    let mut child = sh("read line; exit 4")
        .move_fd(r.as_fd(), 0)
        .spawn()
        .unwrap();
    drop(r);
    let pidfd = match child.pidfd() {
        Err(Errno::ENOSYS) => {
            drop(w);
            child.wait().unwrap();
            return println!("skipped: no pidfd_open (Linux 5.3+)");
        }
        other => other.unwrap(),
    };
    let by_fd = WaitFor::PidFd(pidfd.as_fd());
    let poll = WaitOptions::EXITED | WaitOptions::NOHANG;
    assert_eq!(sys::waitid(by_fd, poll), Ok(None), "still running");
    sys::write(w.as_fd(), b"go\n").unwrap();
    let peek = WaitOptions::EXITED | WaitOptions::NOWAIT;
    let exited = Some((child.pid(), ExitStatus::Exited(4)));
    assert_eq!(sys::waitid(by_fd, peek), Ok(exited));
    assert_eq!(sys::waitid(by_fd, peek), Ok(exited), "not reaped by a peek");
    assert_eq!(child.try_wait(), Ok(Some(ExitStatus::Exited(4))));
    assert_eq!(sys::waitid(by_fd, poll), Err(Errno::ECHILD), "reaped");
    assert_eq!(one.new_zombies(), Vec::<i32>::new());
}
