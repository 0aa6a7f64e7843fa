//! The fds every harness watches, and the fd limit that many of them need.
//!
//! Harnesses borrow their fds (`BorrowedFd<'static>`), so every variant watches the very same
//! eventfds and none of them closes one: the pool lives until the process exits. One pool
//! serves every case: each case makes the fds it takes readable or idle as it needs them, so
//! the process holds only as many eventfds as the largest case (10k ready connections and 10k
//! idle fds would not fit a 20,000 fd limit together).

use crate::variants::Fd;
use barepoll::sys::{self, AsFd, OwnedFd};

/// Fds the biggest case needs beyond its idle ones.
const SPARE_FDS: u64 = 4096;

fn nofile() -> libc::rlimit {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into `lim`.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    lim
}

/// The `RLIMIT_NOFILE` hard limit.
pub fn hard_fd_limit() -> u64 {
    nofile().rlim_max
}

/// Raises `RLIMIT_NOFILE` so that `idle` idle fds fit (the hard limit too, where allowed).
/// Children, valgrind among them, inherit it. Returns how many idle fds fit.
pub fn raise_fd_limit(idle: u64) -> u64 {
    let want = idle + SPARE_FDS;
    let mut lim = nofile();
    if lim.rlim_cur < want {
        let raised = libc::rlimit {
            rlim_cur: want,
            rlim_max: lim.rlim_max.max(want),
        };
        // SAFETY: setrlimit only reads `raised`.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            lim = raised;
        } else {
            lim.rlim_cur = lim.rlim_max;
            // SAFETY: as above; raising the soft limit up to the hard one is always allowed.
            unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
        }
    }
    lim.rlim_cur.saturating_sub(SPARE_FDS)
}

/// The eventfds the cases draw from.
pub struct Pool {
    fds: Vec<Fd>,
}

impl Pool {
    /// Room for `n` fds at once (a case's ready and idle fds together).
    pub fn new(n: usize) -> Pool {
        Pool {
            fds: eventfds(n, 0),
        }
    }

    /// The first `ready` fds made readable (holding 1, never read by any harness) and the
    /// next `idle` ones emptied. Harnesses built from an earlier `take` must be gone.
    pub fn take(&self, ready: usize, idle: usize) -> (&[Fd], &[Fd]) {
        let (ready, rest) = self.fds[..ready + idle].split_at(ready);
        let mut buf = [0u8; 8];
        for &fd in ready.iter().chain(rest) {
            let _ = sys::read(fd, &mut buf); // EAGAIN if it was empty
        }
        for &fd in ready {
            sys::write(fd, &1u64.to_ne_bytes()).expect("eventfd write");
        }
        (ready, rest)
    }
}

/// `n` eventfds holding `initval` (1 = readable until read, which nothing does; 0 = idle).
/// The highest fd number the hard limit allows, at most 19,999 (the soft limit raised to it),
/// holding an idle eventfd for the life of the process; `measure` sees it first, and its number
/// is returned with what `measure` returns.
pub fn one_high_fd<R>(measure: impl FnOnce(Fd) -> R) -> (i32, R) {
    raise_fd_limit(20_000);
    let top = nofile().rlim_cur.min(20_000);
    let low = sys::eventfd(0, sys::EFD_NONBLOCK).expect("eventfd");
    let high = sys::dup_at_least(low.as_fd(), top as i32 - 1).expect("a dup under the limit");
    drop(low);
    let high: &'static OwnedFd = Box::leak(Box::new(high));
    let fd = high.as_fd();
    (barepoll::sys::AsRawFd::as_raw_fd(&fd), measure(fd))
}

pub fn eventfds(n: usize, initval: u32) -> Vec<Fd> {
    let owned: Vec<OwnedFd> = (0..n)
        .map(|_| sys::eventfd(initval, sys::EFD_NONBLOCK).expect("eventfd"))
        .collect();
    owned.leak().iter().map(AsFd::as_fd).collect()
}
