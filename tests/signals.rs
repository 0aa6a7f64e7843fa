//! Signals through a signalfd subscriber, raised for real: to the thread, to the process,
//! with the mask restored afterwards.
//!
//! Its own harness (`harness = false`): a signal sent to the process goes to any thread that
//! does not block it, so the test needs a process whose only thread is the one that blocks
//! it. The checks run one after another on the main thread; a failure panics, which fails the
//! binary.
mod common;

use barepoll::signal::Signals;
use barepoll::sys::{self, MaskHow, SigInfo, SigSet, Signal};
use barepoll::{Ops, Reactor};
use common::*;
use std::cell::RefCell;
use std::rc::Rc;

#[cfg(miri)]
fn main() {
    println!("test result: ok. 0 passed; 0 failed; 5 ignored (Miri has no signals)");
}

#[cfg(not(miri))]
fn main() {
    let checks: [(&str, fn()); 5] = [
        (
            "a_signal_to_the_thread_reaches_the_handler_with_its_sender",
            a_signal_to_the_thread_reaches_the_handler_with_its_sender,
        ),
        (
            "a_signal_to_the_process_reaches_the_handler",
            a_signal_to_the_process_reaches_the_handler,
        ),
        (
            "dropping_restores_only_what_it_blocked",
            dropping_restores_only_what_it_blocked,
        ),
        (
            "two_for_one_signal_both_receive_it_until_the_last_drops",
            two_for_one_signal_both_receive_it_until_the_last_drops,
        ),
        (
            "a_handler_changes_its_own_set",
            a_handler_changes_its_own_set,
        ),
    ];
    for (name, check) in checks {
        check();
        println!("test {name} ... ok");
    }
    println!(
        "test result: ok. {} passed; 0 failed; 0 ignored",
        checks.len()
    );
}

fn blocked_now() -> SigSet {
    sys::sigprocmask(MaskHow::Block, SigSet::empty()).unwrap()
}

#[cfg_attr(miri, allow(dead_code))]
fn a_signal_to_the_thread_reaches_the_handler_with_its_sender() {
    let _fds = fd_check();
    let before = blocked_now();
    let mut r = Reactor::new().unwrap();
    let got: Rc<RefCell<Vec<SigInfo>>> = Rc::default();
    let g = got.clone();
    let set = SigSet::of(&[Signal::USR1, Signal::USR2]);
    let signals = Signals::new(set).unwrap();
    assert!(blocked_now().contains(Signal::USR1) && blocked_now().contains(Signal::USR2));
    r.register(
        signals.on(move |info: SigInfo, ops: &mut Ops<'_>| {
            g.borrow_mut().push(info);
            if info.signal == Signal::USR2 {
                ops.stop();
            }
        }),
        readable(),
    )
    .unwrap();
    sys::tgkill(sys::gettid(), Signal::USR1).unwrap();
    sys::tgkill(sys::gettid(), Signal::USR2).unwrap();
    r.run().unwrap();
    let got = got.borrow();
    assert_eq!(got.len(), 2);
    assert!(got
        .iter()
        .all(|i| sys::Pid::from_u32(i.pid) == sys::getpid().ok()));
    assert_eq!(
        got[0].signal,
        Signal::USR1,
        "in signal-number order, as the kernel gives"
    );
    drop(r);
    assert_eq!(blocked_now(), before, "the mask was not restored");
}

#[cfg_attr(miri, allow(dead_code))]
fn a_signal_to_the_process_reaches_the_handler() {
    let _fds = fd_check();
    // Process-directed: it goes to a thread that does not block it. This is the only
    // thread, and `Signals` blocks it here.
    let set = SigSet::of(&[Signal::HUP]);
    let before = sys::sigprocmask(MaskHow::Block, set).unwrap();
    let mut r = Reactor::new().unwrap();
    let signals = Signals::new(set).unwrap();
    let seen = Rc::new(RefCell::new(None));
    let s = seen.clone();
    r.register(
        signals.on(move |info: SigInfo, ops: &mut Ops<'_>| {
            *s.borrow_mut() = Some(info);
            ops.stop();
        }),
        readable(),
    )
    .unwrap();
    sys::kill(sys::getpid().unwrap(), Signal::HUP).unwrap();
    r.run().unwrap();
    let info = seen.borrow().expect("no signal");
    assert_eq!(
        (info.signal, info.code),
        (Signal::HUP, 0),
        "SI_USER from kill"
    );
    drop(r);
    sys::sigprocmask(MaskHow::SetMask, before).unwrap();
}

#[cfg_attr(miri, allow(dead_code))]
fn dropping_restores_only_what_it_blocked() {
    let already = SigSet::of(&[Signal::USR1]);
    let before = sys::sigprocmask(MaskHow::Block, already).unwrap();
    let signals = Signals::new(SigSet::of(&[Signal::USR1, Signal::USR2])).unwrap();
    drop(signals);
    let now = blocked_now();
    assert!(
        now.contains(Signal::USR1),
        "unblocked a signal it did not block"
    );
    assert!(!now.contains(Signal::USR2), "left its own signal blocked");
    sys::sigprocmask(MaskHow::SetMask, before).unwrap();
    assert!(Signals::new(SigSet::empty()).is_err());
}

// Defect: dropping one `Signals` unblocked a signal that another live `Signals` of the same
// thread still relied on, so the signal went to its default action (for SIGTERM: the end of
// the process) instead of the second one's signalfd.
#[cfg_attr(miri, allow(dead_code))]
fn two_for_one_signal_both_receive_it_until_the_last_drops() {
    let _fds = fd_check();
    let before = blocked_now();
    assert!(!before.contains(Signal::TERM));
    let set = SigSet::of(&[Signal::TERM]);
    let first = Signals::new(set).unwrap();
    let mut second = Signals::new(set).unwrap();
    drop(first);
    assert!(
        blocked_now().contains(Signal::TERM),
        "unblocked while another `Signals` still needs it"
    );
    // To the process: this thread, the only one, blocks it, so it waits for the signalfd.
    sys::kill(sys::getpid().unwrap(), Signal::TERM).unwrap();
    let info = second
        .read()
        .unwrap()
        .expect("the signal did not reach the second");
    assert_eq!(info.signal, Signal::TERM);
    drop(second);
    assert_eq!(
        blocked_now(),
        before,
        "the last drop did not restore the mask"
    );
}

/// A subscriber that owns its `Signals` as its fd moves from USR1 to USR2 from its handler:
/// USR2 now comes to it, USR1 is unblocked again, another thread cannot change it, and the
/// mask is as before at the end.
#[cfg_attr(miri, allow(dead_code))]
fn a_handler_changes_its_own_set() {
    let _fds = fd_check();
    let before = blocked_now();
    let mut r = Reactor::new().unwrap();
    let got: Rc<RefCell<Vec<Signal>>> = Rc::default();
    let g = got.clone();
    let mut signals = Signals::new(SigSet::of(&[Signal::USR1])).unwrap();
    assert_eq!(signals.change(SigSet::empty()), Err(sys::Errno::EINVAL));
    let other = std::thread::scope(|s| {
        s.spawn(|| signals.change(SigSet::empty().with(Signal::USR2)))
            .join()
            .unwrap()
    });
    assert_eq!(other, Err(sys::Errno::EPERM));
    assert_eq!(signals.set(), SigSet::of(&[Signal::USR1]));
    readable()
        .with_fd(signals)
        .with_handler(move |signals: &mut Signals, ops: &mut Ops<'_>| {
            while let Some(info) = signals.read().unwrap() {
                g.borrow_mut().push(info.signal);
                if info.signal == Signal::USR2 {
                    ops.stop();
                } else {
                    signals.change(SigSet::of(&[Signal::USR2])).unwrap();
                }
            }
        })
        .register_into(&mut r)
        .unwrap();
    sys::tgkill(sys::gettid(), Signal::USR1).unwrap();
    r.run_once(Some(std::time::Duration::ZERO)).unwrap();
    assert_eq!(*got.borrow(), [Signal::USR1]);
    let now = blocked_now();
    assert!(now.contains(Signal::USR2) && !now.contains(Signal::USR1));
    sys::tgkill(sys::gettid(), Signal::USR2).unwrap();
    r.run().unwrap();
    assert_eq!(*got.borrow(), [Signal::USR1, Signal::USR2]);
    drop(r);
    assert_eq!(blocked_now(), before, "the mask was not restored");
}
