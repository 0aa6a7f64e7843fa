//! Descriptor exhaustion on demand: for operations whose epoll-set rebuild (or alarm) must cope
//! with `EMFILE`.

use barepoll::sys::{self, AsRawFd};

/// While it lives, no new descriptor can be made: the soft `RLIMIT_NOFILE` is the lowest free
/// number. Its drop restores the limit, also when a planted panic unwinds through it.
pub struct NoFds {
    old: libc::rlimit,
}

fn limit() -> libc::rlimit {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into a valid struct.
    let got = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    assert_eq!(got, 0, "getrlimit failed");
    lim
}

fn set_limit(lim: &libc::rlimit) {
    // SAFETY: setrlimit reads a valid struct; lowering the soft limit (or restoring it, never
    // above the hard one) always succeeds.
    let set = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, lim) };
    if set != 0 {
        eprintln!("setrlimit failed");
        std::process::abort();
    }
}

/// Makes every number from the lowest free one on unavailable, until the guard is dropped.
pub fn no_fds() -> NoFds {
    let old = limit();
    // The lowest free number (closed again at once). None: no descriptor can be made already
    // (the limit is lowered), so it stays where it is.
    if let Ok(probe) = sys::eventfd(0, 0) {
        let lowest = probe.as_raw_fd() as libc::rlim_t;
        drop(probe);
        set_limit(&libc::rlimit {
            rlim_cur: lowest,
            rlim_max: old.rlim_max,
        });
    }
    NoFds { old }
}

/// Lifts the soft limit to the hard one: before an abort (the fuzzer writes the input that
/// found a violation to a file, which needs a descriptor), whatever guard is alive.
pub fn lift_limit() {
    let lim = limit();
    set_limit(&libc::rlimit {
        rlim_cur: lim.rlim_max,
        rlim_max: lim.rlim_max,
    });
}

impl Drop for NoFds {
    fn drop(&mut self) {
        set_limit(&self.old);
    }
}
