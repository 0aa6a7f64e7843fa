//! Waiting: timeouts (zero, sub-millisecond, long, infinite), wake-ups from other threads,
//! and signals that interrupt the wait.
mod common;

use barepoll::sys::{self, AsFd, OwnedFd};
use barepoll::{Ops, Reactor};
use common::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[test]
fn zero_timeout_returns_at_once() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let (p, _) = Probe::new(eventfd(0));
    r.register(p, readable()).unwrap();
    let t = Instant::now();
    for _ in 0..100 {
        assert_eq!(r.run_once(Some(Duration::ZERO)).unwrap(), 0);
    }
    // Not a speed bound (a loaded machine may take its time): a zero wait taken as an
    // infinite one would be stuck here for ever.
    assert!(t.elapsed() < Duration::from_secs(30));
}

#[test]
fn sub_millisecond_timeout_waits_at_least_that_long() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let d = Duration::from_micros(300);
    for _ in 0..20 {
        let t = Instant::now();
        assert_eq!(r.run_once(Some(d)).unwrap(), 0);
        assert!(
            t.elapsed() >= d,
            "waited {:?} < {d:?}: a busy loop",
            t.elapsed()
        );
    }
}

#[test]
fn long_timeout_elapses_without_events() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let d = Duration::from_millis(120);
    let t = Instant::now();
    assert_eq!(r.run_once(Some(d)).unwrap(), 0);
    let waited = t.elapsed();
    assert!(
        waited >= d && waited < Duration::from_secs(10),
        "{waited:?}"
    );
}

#[test]
fn infinite_wait_is_woken_by_another_thread() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let efd = Arc::new(eventfd(0));
    let writer = efd.clone();
    readable()
        .with_fd(efd)
        .with_handler(|fd: &mut Arc<OwnedFd>, ops: &mut Ops<'_>| {
            assert_eq!(drain(fd.as_fd()), 1);
            ops.stop();
        })
        .register_into(&mut r)
        .unwrap();
    let t = Instant::now();
    let th = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        poke(writer.as_fd());
    });
    r.run().unwrap();
    assert!(t.elapsed() >= Duration::from_millis(50));
    th.join().unwrap();
}

static SIGNALS: AtomicUsize = AtomicUsize::new(0);
extern "C" fn on_sigusr1(_: libc::c_int) {
    SIGNALS.fetch_add(1, Ordering::SeqCst);
}

fn install_sigusr1_handler() {
    // SAFETY (test code): installs a handler that only touches an atomic; no SA_RESTART, so
    // the wait really is interrupted.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_sigusr1 as extern "C" fn(libc::c_int) as usize;
        libc::sigemptyset(&mut sa.sa_mask);
        assert_eq!(libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut()), 0);
    }
}

struct Target(libc::pthread_t);
unsafe impl Send for Target {}

#[test]
#[cfg_attr(miri, ignore = "Miri does not deliver signals")]
fn signal_interrupting_run_once_is_zero_events() {
    let _fds = fd_check();
    install_sigusr1_handler();
    let mut r = Reactor::new().unwrap();
    let (p, _) = Probe::new(eventfd(0));
    r.register(p, readable()).unwrap();
    // SAFETY (test code): pthread_self has no preconditions.
    let me = Target(unsafe { libc::pthread_self() });
    let before = SIGNALS.load(Ordering::SeqCst);
    // A signal every 50 ms until the wait returns: on a loaded machine one may come before
    // this thread is in the wait; a later one then interrupts it.
    let waiting = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let still = waiting.clone();
    let th = std::thread::spawn(move || {
        let me = me;
        while still.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(50));
            if still.load(Ordering::SeqCst) {
                // SAFETY (test code): the target thread is alive: it waits for this thread
                // to finish (join, below) once `waiting` is false.
                unsafe { libc::pthread_kill(me.0, libc::SIGUSR1) };
            }
        }
    });
    let t = Instant::now();
    let events = r.run_once(Some(Duration::from_secs(20))).unwrap();
    waiting.store(false, Ordering::SeqCst);
    th.join().unwrap();
    assert_eq!(events, 0);
    assert!(
        t.elapsed() < Duration::from_secs(15),
        "the signal did not interrupt the wait"
    );
    assert!(SIGNALS.load(Ordering::SeqCst) > before);
}

#[test]
#[cfg_attr(miri, ignore = "Miri does not deliver signals")]
fn signals_do_not_make_run_fail() {
    let _fds = fd_check();
    install_sigusr1_handler();
    let mut r = Reactor::new().unwrap();
    let efd = Arc::new(eventfd(0));
    let writer = efd.clone();
    readable()
        .with_fd(efd)
        .with_handler(|ops: &mut Ops<'_>| ops.stop())
        .register_into(&mut r)
        .unwrap();
    // SAFETY (test code): pthread_self has no preconditions.
    let me = Target(unsafe { libc::pthread_self() });
    let before = SIGNALS.load(Ordering::SeqCst);
    let th = std::thread::spawn(move || {
        let me = me;
        for _ in 0..5 {
            std::thread::sleep(Duration::from_millis(20));
            // SAFETY (test code): the target thread is alive, inside `run` below.
            unsafe { libc::pthread_kill(me.0, libc::SIGUSR1) };
        }
        std::thread::sleep(Duration::from_millis(20));
        poke(writer.as_fd());
    });
    r.run().unwrap();
    th.join().unwrap();
    assert!(SIGNALS.load(Ordering::SeqCst) >= before + 5);
}

#[test]
fn huge_timeout_is_clamped_not_rejected() {
    // Huge timeouts are clamped, not rejected: a Duration::MAX wait on a ready fd returns.
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let (p, _) = Probe::new(sys::eventfd(1, 0).unwrap());
    r.register(p, readable()).unwrap();
    assert_eq!(r.run_once(Some(Duration::MAX)).unwrap(), 1);
}
