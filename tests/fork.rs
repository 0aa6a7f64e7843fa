//! `fork()` (invariant 9): parent and child share the epoll instance but not the heap, so an
//! inherited reactor must refuse every kernel operation in the child, and dropping it there
//! must close only the child's descriptors. One test in its own binary: `fork` in a process
//! with other test threads running would copy them mid-flight.
mod common;

use barepoll::sys::AsFd;
use barepoll::{Ops, Reactor, Timer};
use common::*;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

const NOW: Option<Duration> = Some(Duration::ZERO);

/// What the child checks; its exit status says which check failed (0: none).
fn child(r: &mut Reactor, parent_key: barepoll::Key) -> i32 {
    let refused = |e: barepoll::Error| e.to_string().contains("fork");
    match r.run_once(NOW) {
        Err(e) if refused(e) => {}
        _ => return 1,
    }
    let (p, c) = Probe::new(eventfd(1));
    match r.register(p, readable()) {
        Err(e) if refused(e) && c.drops() == 1 => {}
        _ => return 2,
    }
    match r.delete(parent_key) {
        Err(e) if refused(e) => {}
        _ => return 3,
    }
    match r.modify(parent_key, barepoll::interest()) {
        Err(e) if refused(e) => {}
        _ => return 4,
    }
    if r.len() != 1 {
        return 5;
    }
    // `arm` would make and register the timers' alarm: refused like every operation that may
    // reach the kernel.
    match r.arm(Timer::after(Duration::from_secs(1)), |_: &mut Ops<'_>| {}) {
        Err(e) if refused(e) => {}
        _ => return 7,
    }
    0
}

#[test]
#[cfg_attr(miri, ignore = "Miri cannot fork")]
fn an_inherited_reactor_refuses_kernel_operations_in_the_child() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let (p, c) = Probe::new(eventfd(1));
    let key = r.register(p, readable()).unwrap();
    assert_eq!(r.run_once(NOW).unwrap(), 1);

    // SAFETY (test code): this binary runs one test, so no other thread is copied mid-flight;
    // the child only runs the checks above and leaves with `_exit`.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let status = catch_unwind(AssertUnwindSafe(|| {
            let status = child(&mut r, key);
            let before = open_fds();
            drop(r); // closes the child's copies: the epoll fd and the subscriber's eventfd
            if status == 0 && open_fds() != before - 2 {
                return 6;
            }
            status
        }))
        .unwrap_or(99);
        // SAFETY (test code): leaves the child at once, running no parent-owned destructor.
        unsafe { libc::_exit(status) };
    }
    let mut status = 0;
    // SAFETY (test code): waits for the child just forked.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(libc::WIFEXITED(status), "child died: status {status:#x}");
    assert_eq!(libc::WEXITSTATUS(status), 0, "child check failed");

    // The parent's registration is intact, and nothing the child tried reached the shared set.
    assert_eq!(r.run_once(NOW).unwrap(), 1);
    assert_eq!(c.hits(), 2);
    poke(r.get::<Probe>(key).unwrap().fd.as_fd());
    assert_eq!(r.run_once(NOW).unwrap(), 1);
    assert_eq!(c.hits(), 3);
    r.delete(key).unwrap();
    assert_eq!(r.run_once(NOW).unwrap(), 0);
}
