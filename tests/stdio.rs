//! The standard streams stay the standard streams: a process started with descriptor 0, 1 or
//! 2 closed must not get a descriptor of the crate's (an epoll set, an eventfd, a signalfd,
//! ...) at that number, where `sys::stdin()` and friends, safe, would hand it out. One test in
//! its own binary: it forks.
use barepoll::signal::Signals;
use barepoll::sys::{self, AsFd, AsRawFd, OwnedFd, SigSet, Signal};
use barepoll::{Reactor, Timer};
use std::time::Duration;

/// In the child, with 0, 1 and 2 closed: the numbers of everything the crate makes, checked.
/// Its exit status says which check failed (0: none).
fn child() -> i32 {
    for fd in 0..=2 {
        // SAFETY (test code): the child owns its copies of 0..=2 and never uses them again.
        unsafe { libc::close(fd) };
    }
    let mut fds: Vec<i32> = Vec::new();
    let mut reactor = match Reactor::new() {
        Ok(r) => r,
        Err(_) => return 10,
    };
    // The reactor's own descriptors: its epoll set, and the timerfd of the first timer.
    if reactor
        .arm(Timer::after(Duration::from_secs(60)), |_| {})
        .is_err()
    {
        return 11;
    }
    let _ = reactor.run_once(Some(Duration::ZERO));
    let efd = sys::eventfd(0, 0).unwrap();
    let (r, w) = sys::pipe(0).unwrap();
    let sfd = sys::signalfd(SigSet::of(&[Signal::USR2]), 0).unwrap();
    let tfd = sys::timerfd(0).unwrap();
    let sock = sys::socket(sys::Domain::V4, sys::SocketType::Stream, 0).unwrap();
    let signals = Signals::new(SigSet::of(&[Signal::USR1])).unwrap();
    let owned: [&OwnedFd; 6] = [&efd, &r, &w, &sfd, &tfd, &sock];
    fds.extend(owned.iter().map(|fd| fd.as_raw_fd()));
    fds.push(signals.as_fd().as_raw_fd());
    // The reactor's fds: every number the process has open now, less those above.
    for entry in std::fs::read_dir("/proc/self/fd").unwrap() {
        let entry = entry.unwrap();
        // Skip read_dir's own descriptor (std's, not the crate's: it may well be at 0).
        if std::fs::read_link(entry.path()).is_ok_and(|p| p.starts_with("/proc")) {
            continue;
        }
        fds.push(entry.file_name().to_str().unwrap().parse().unwrap());
    }
    // Nothing of the crate's may sit at 0..=2.
    if let Some(low) = fds.iter().position(|&fd| fd <= 2) {
        return 20 + low as i32;
    }
    // And `stdin()` names no descriptor at all, rather than one of the crate's.
    let mut buf = [0u8; 8];
    match sys::read(sys::stdin(), &mut buf) {
        Err(sys::Errno::EBADF) => {}
        _ => return 40,
    }
    drop(reactor);
    0
}

#[test]
#[cfg_attr(miri, ignore = "Miri cannot fork")]
fn no_descriptor_of_the_crate_lands_on_a_standard_stream() {
    // SAFETY (test code): this binary runs one test, so no other thread is copied mid-flight;
    // the child only runs the checks above and leaves with `_exit`.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let status = std::panic::catch_unwind(child).unwrap_or(99);
        // SAFETY (test code): leaves the child at once, running no parent-owned destructor.
        unsafe { libc::_exit(status) };
    }
    let mut status = 0;
    // SAFETY (test code): waits for the child just forked.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(libc::WIFEXITED(status), "child died: status {status:#x}");
    assert_eq!(libc::WEXITSTATUS(status), 0, "child check failed");
}
