//! The floor's epoll: inline-asm syscalls as barepoll makes them (`epoll_pwait2`, or
//! `epoll_pwait` where the kernel or valgrind lacks it, as barepoll does; no signal mask;
//! `data` a plain `u64`), with nothing between the kernel and the caller's loop.

use linux_raw_sys::general as k;
use std::arch::asm;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

pub use k::epoll_event as Event;

use crate::variants::Fd;

#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn syscall6(nr: u32, a: [usize; 6]) -> isize {
    let r;
    // SAFETY: the caller upholds the syscall's contract; `syscall` clobbers only rcx and r11.
    unsafe {
        asm!("syscall", inlateout("rax") nr as isize => r,
            in("rdi") a[0], in("rsi") a[1], in("rdx") a[2], in("r10") a[3], in("r8") a[4],
            in("r9") a[5], lateout("rcx") _, lateout("r11") _, options(nostack, preserves_flags));
    }
    r
}

#[cfg(target_arch = "aarch64")]
#[inline(always)]
unsafe fn syscall6(nr: u32, a: [usize; 6]) -> isize {
    let r;
    // SAFETY: the caller upholds the syscall's contract; `svc 0` clobbers only x0.
    unsafe {
        asm!("svc 0", in("x8") nr as usize, inlateout("x0") a[0] as isize => r,
            in("x1") a[1], in("x2") a[2], in("x3") a[3], in("x4") a[4], in("x5") a[5],
            options(nostack, preserves_flags));
    }
    r
}

/// An epoll set whose `data` words the caller chooses.
pub struct Epoll {
    fd: OwnedFd,
    /// The wait syscall and its "no timeout" argument: a null timespec, or -1 ms.
    wait: (u32, usize),
}

impl Default for Epoll {
    fn default() -> Epoll {
        Epoll::new()
    }
}

impl Epoll {
    pub fn new() -> Epoll {
        // SAFETY: epoll_create1 reads no memory.
        let fd = unsafe {
            syscall6(
                k::__NR_epoll_create1,
                [k::EPOLL_CLOEXEC as usize, 0, 0, 0, 0, 0],
            )
        };
        assert!(fd >= 0, "epoll_create1: {fd}");
        // SAFETY: the kernel just returned this fd, and nothing else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        let zero = k::__kernel_timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        let mut probe = events(1);
        let args = [
            fd.as_raw_fd() as usize,
            probe.as_mut_ptr() as usize,
            1,
            &zero as *const _ as usize,
            0,
            8,
        ];
        // SAFETY: the kernel writes at most one event into `probe` and only reads `zero`.
        let r = unsafe { syscall6(k::__NR_epoll_pwait2, args) };
        let wait = if r == -(linux_raw_sys::errno::ENOSYS as isize) {
            (k::__NR_epoll_pwait, usize::MAX)
        } else {
            (k::__NR_epoll_pwait2, 0)
        };
        Epoll { fd, wait }
    }

    fn ctl(&self, op: u32, fd: Fd, event: Option<&Event>) -> isize {
        let ptr = event.map_or(0, |e| e as *const Event as usize);
        let args = [
            self.fd.as_raw_fd() as usize,
            op as usize,
            fd.as_raw_fd() as usize,
            ptr,
            0,
            0,
        ];
        // SAFETY: the kernel only reads `*event`, which outlives the call.
        unsafe { syscall6(k::__NR_epoll_ctl, args) }
    }

    /// Registers `fd` level-triggered for reading, reporting `data`.
    #[inline(always)]
    pub fn add(&self, fd: Fd, data: u64) {
        let event = Event {
            events: k::EPOLLIN,
            data,
        };
        check(self.ctl(k::EPOLL_CTL_ADD, fd, Some(&event)));
    }

    #[inline(always)]
    pub fn delete(&self, fd: Fd) {
        check(self.ctl(k::EPOLL_CTL_DEL, fd, None));
    }

    /// Waits without a timeout; returns how many events the kernel wrote into `buf`.
    #[inline(always)]
    pub fn wait(&self, buf: &mut [Event]) -> usize {
        let (nr, forever) = self.wait;
        let args = [
            self.fd.as_raw_fd() as usize,
            buf.as_mut_ptr() as usize,
            buf.len(),
            forever,
            0,
            8,
        ];
        // SAFETY: the kernel writes at most `buf.len()` events into `buf`; no timeout, no mask.
        let n = unsafe { syscall6(nr, args) };
        n.max(0) as usize
    }

    /// Waits up to `timeout` (to the nanosecond with `epoll_pwait2`, else rounded up to
    /// milliseconds, as barepoll waits); returns how many events the kernel wrote into `buf`.
    pub fn wait_for(&self, buf: &mut [Event], timeout: std::time::Duration) -> usize {
        let ts = k::__kernel_timespec {
            tv_sec: timeout.as_secs() as _,
            tv_nsec: timeout.subsec_nanos() as _,
        };
        let (nr, _) = self.wait;
        let arg = if nr == k::__NR_epoll_pwait2 {
            &ts as *const _ as usize
        } else {
            timeout.as_micros().div_ceil(1000) as usize
        };
        let args = [
            self.fd.as_raw_fd() as usize,
            buf.as_mut_ptr() as usize,
            buf.len(),
            arg,
            0,
            8,
        ];
        // SAFETY: the kernel writes at most `buf.len()` events into `buf` and only reads `ts`.
        let n = unsafe { syscall6(nr, args) };
        n.max(0) as usize
    }
}

#[inline(always)]
fn check(r: isize) {
    #[cold]
    fn fail(r: isize) -> ! {
        panic!("epoll_ctl: errno {}", -r)
    }
    if r != 0 {
        fail(r)
    }
}

/// A buffer of `capacity` (at least one) zeroed events.
pub fn events(capacity: usize) -> Vec<Event> {
    vec![Event { events: 0, data: 0 }; capacity.max(1)]
}

/// The same wait behind a function call, as a libc wrapper or an out-of-line syscall has it.
#[inline(never)]
fn wait_behind_call(epoll: &Epoll, buf: &mut [Event]) -> usize {
    epoll.wait(buf)
}

/// Nanoseconds per call of `a` and of `b`, each timed over `turns` calls per round: medians
/// of `rounds` interleaved rounds (each round times both, starting with each in turn).
pub fn two_ways(rounds: usize, turns: u32, mut a: impl FnMut(), mut b: impl FnMut()) -> (f64, f64) {
    let mut samples = [Vec::new(), Vec::new()];
    for round in 0..rounds {
        for k in 0..2 {
            let second = (round + k) % 2 == 1;
            let start = std::time::Instant::now();
            for _ in 0..turns {
                if second {
                    b()
                } else {
                    a()
                }
            }
            let ns = start.elapsed().as_nanos() as f64 / turns as f64;
            samples[second as usize].push(ns);
        }
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let [a, b] = samples;
    (median(a), median(b))
}

/// What a call around the wait syscall costs on this machine: nanoseconds per wait of one
/// ready fd with the syscall inline (as barepoll and the hand-written loops make it), then
/// behind a non-inlined call (as a libc wrapper makes it). Medians of interleaved rounds.
pub fn call_around_wait(ready: Fd, rounds: usize) -> (f64, f64) {
    let epoll = Epoll::new();
    epoll.add(ready, 0);
    let mut inline = events(1);
    let mut behind = events(1);
    two_ways(
        rounds,
        2048,
        || assert_eq!(epoll.wait(&mut inline), 1, "the fd stays ready"),
        || {
            assert_eq!(
                wait_behind_call(&epoll, &mut behind),
                1,
                "the fd stays ready"
            )
        },
    )
}

/// What a timeout costs a wait that returns at once on this machine: nanoseconds per wait of
/// one ready fd with no timeout, then with a timeout an hour away (as barepoll waits while
/// timers are armed). Medians of interleaved rounds.
pub fn timeout_on_wait(ready: Fd, rounds: usize) -> (f64, f64) {
    let epoll = Epoll::new();
    epoll.add(ready, 0);
    let hour = std::time::Duration::from_secs(3600);
    let (mut none, mut timed) = (events(1), events(1));
    two_ways(
        rounds,
        2048,
        || assert_eq!(epoll.wait(&mut none), 1, "the fd stays ready"),
        || assert_eq!(epoll.wait_for(&mut timed, hour), 1, "the fd stays ready"),
    )
}
