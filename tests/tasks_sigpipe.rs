//! `Async::write` on a socket whose peer has gone: `EPIPE` (or a reset), never `SIGPIPE`,
//! whose default action ends the process. Rust's std ignores `SIGPIPE` at start-up; a
//! libc-free program (the `rt` feature) does not, so the check runs in a forked child with
//! the default action restored. One test in its own binary: it forks.
#![cfg(all(feature = "tasks", feature = "std"))]

use barepoll::sys::Errno;
use barepoll::task::Async;
use barepoll::{Error, Reactor};
use std::net::{TcpListener, TcpStream};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// In the child: writes to a socket whose peer is closed until the write fails; 0 if it
/// failed with `EPIPE` or `ECONNRESET`.
fn child() -> i32 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (peer, _) = listener.accept().unwrap();
    drop(peer); // a write now gets a reset back, and the next one EPIPE
    let mut reactor = Reactor::new().unwrap();
    let conn = Async::new(&reactor.spawner().unwrap(), client).unwrap();
    let wrote = reactor
        .spawn(async move {
            loop {
                match conn.write(b"are you there?").await {
                    Ok(_) => std::thread::sleep(std::time::Duration::from_millis(1)),
                    Err(e) => return e,
                }
            }
        })
        .unwrap();
    match reactor.block_on(wrote).unwrap().unwrap() {
        Error::Os(Errno::EPIPE | Errno::ECONNRESET) => 0,
        other => {
            eprintln!("the write failed with {other}");
            3
        }
    }
}

#[test]
#[cfg_attr(miri, ignore = "Miri cannot fork")]
fn a_write_to_a_socket_whose_peer_is_gone_fails_and_raises_no_sigpipe() {
    // SAFETY (test code): this binary runs one test, so no other thread is copied mid-flight;
    // the child restores SIGPIPE's default action, runs `child` and leaves with `_exit`.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        // SAFETY (test code): the default action, in the child only.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
        let status = catch_unwind(AssertUnwindSafe(child)).unwrap_or(99);
        // SAFETY (test code): leaves the child at once, running no parent-owned destructor.
        unsafe { libc::_exit(status) };
    }
    let mut status = 0;
    // SAFETY (test code): waits for the child just forked.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(
        !libc::WIFSIGNALED(status),
        "the child was killed by signal {}",
        libc::WTERMSIG(status)
    );
    assert_eq!(libc::WEXITSTATUS(status), 0, "the child's check failed");
}
