//! What the planted-key tests of the echo and chat examples share (`tests/echo_server.rs`,
//! `tests/chat.rs`): stale keys made three ways, a real reactor's answer to each (which the
//! test double must give too), and a wait for a socket to have something to read. Included by
//! those two files only, with the `testing` feature.
#![allow(dead_code)]

use barepoll::testing::Recorder;
use barepoll::{Key, Ops, Reactor, Timer, TimerKey};
use std::net::TcpStream;
use std::time::Duration;

/// A deadline no test reaches.
pub const LATER: Duration = Duration::from_secs(60);

/// Waits until the socket `fd` has data or its end of file to read (it is non-blocking, and
/// a dup shares that).
pub fn wait_readable(fd: &impl std::os::fd::AsFd) {
    let socket = TcpStream::from(fd.as_fd().try_clone_to_owned().unwrap());
    let waiting = std::time::Instant::now();
    while matches!(socket.peek(&mut [0]), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock) {
        assert!(
            waiting.elapsed() < Duration::from_secs(60),
            "nothing came to read"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// How a timer key is stale.
#[derive(Clone, Copy, Debug)]
pub enum Stale {
    /// Armed, then cancelled.
    Cancelled,
    /// Armed in another double, or another reactor.
    Foreign,
    /// Armed in a reactor, handed to a double (or the other way round).
    Crossed,
}

impl Stale {
    pub const ALL: [Stale; 3] = [Stale::Cancelled, Stale::Foreign, Stale::Crossed];
}

/// A timer key the recorder must take as stale in the way `how` says.
pub fn stale_for<D>(rec: &mut Recorder<D>, data: &mut D, how: Stale) -> TimerKey {
    match how {
        Stale::Cancelled => {
            let key = rec.timer_key();
            rec.fire_with(&mut |ops: &mut Ops<'_, D>| ops.cancel(key).unwrap(), data);
            key
        }
        Stale::Foreign => Recorder::<D>::default().timer_key(),
        Stale::Crossed => {
            let mut reactor = Reactor::new().unwrap();
            reactor
                .arm(Timer::after(LATER), |_: &mut Ops<'_>| {})
                .unwrap()
        }
    }
}

/// What a real reactor answers when a timer key stale in the way `how` says is reset, with
/// the key it was given.
pub fn reactor_resets_stale(how: Stale) -> (TimerKey, barepoll::Result<()>) {
    let mut reactor = Reactor::new().unwrap();
    // A timer of its own, in the slot a foreign key names too.
    let own = reactor
        .arm(Timer::after(LATER), |_: &mut Ops<'_>| {})
        .unwrap();
    let key = match how {
        Stale::Cancelled => {
            reactor.cancel(own).unwrap();
            own
        }
        Stale::Foreign => {
            let mut other = Reactor::new().unwrap();
            other
                .arm(Timer::after(LATER), |_: &mut Ops<'_>| {})
                .unwrap()
        }
        Stale::Crossed => Recorder::new().timer_key(),
    };
    (key, reactor.reset(key, Timer::after(LATER)))
}

/// A key a real reactor has deleted, and its answer when the key is deleted or modified
/// again.
pub fn reactor_after_delete() -> (Key, barepoll::Result<()>, barepoll::Result<()>) {
    let mut reactor = Reactor::new().unwrap();
    let key = barepoll::interest()
        .read()
        .with_fd(barepoll::sys::eventfd(0, 0).unwrap())
        .with_handler(|| {})
        .register_into(&mut reactor)
        .unwrap();
    reactor.delete(key).unwrap();
    let deleted = reactor.delete(key);
    (
        key,
        deleted,
        reactor.modify(key, barepoll::interest().read()),
    )
}
