//! Watching a reactor through the `log` facade: an `Observer` logs every turn at trace level
//! (events, timers, time waited and taken), a slow turn at warn, and every error a turn
//! returns at error; a tiny logger prints to stderr. Any `log` or `tracing` backend plugs in
//! the same way; the crate itself depends on neither.
//!
//! ```text
//! cargo run --example observe
//! ```
//!
//! The loop: a periodic timer pokes an eventfd ten times, the eventfd's handler reads it, and
//! the tenth poke stops the loop. It prints the turns it saw, then `observed N turns, M
//! events, K timer callbacks`.

use barepoll::observe::{Observer, Turn};
use barepoll::sys::{self, AsFd};
use barepoll::{Error, Ops, Reactor, Timer};
use std::time::Duration;

/// Logs what the reactor tells, and keeps the totals.
#[derive(Default)]
pub struct Logged {
    pub turns: u64,
    pub events: u64,
    pub timers: u64,
}

impl Observer for Logged {
    fn turn(&mut self, turn: &Turn) {
        self.turns += 1;
        self.events += turn.events as u64;
        self.timers += turn.timers as u64;
        log::trace!(
            "turn: {} events, {} timers, waited {:?}, took {:?}",
            turn.events,
            turn.timers,
            turn.waited,
            turn.took
        );
        if turn.took - turn.waited > Duration::from_millis(100) {
            log::warn!("handlers took {:?}", turn.took - turn.waited);
        }
        if turn.rebuilds != 0 {
            log::info!("the epoll set was rebuilt {} times", turn.rebuilds);
        }
    }

    fn failed(&mut self, error: &Error) {
        log::error!("a turn failed: {error}");
    }

    fn panicked(&mut self) {
        log::error!("a handler panicked out of the last turn");
    }
}

/// Runs the loop (ten pokes a millisecond apart) under `Logged`, and gives it back.
pub fn run() -> barepoll::Result<Logged> {
    let mut reactor = Reactor::builder().state::<u32>().build()?;
    reactor.observe(Logged::default())?;
    let efd = sys::eventfd(0, sys::EFD_NONBLOCK)?;
    let poker = sys::dup(efd.as_fd())?;
    barepoll::interest()
        .read()
        .with_fd(efd)
        .with_handler(|fd: &mut sys::OwnedFd, ops: &mut Ops<'_, u32>| {
            let _ = sys::read(fd.as_fd(), &mut [0u8; 8]);
            *ops.data() += 1;
            if *ops.data() == 10 {
                ops.stop();
            }
        })
        .register_into(&mut reactor)?;
    let every = Duration::from_millis(1);
    reactor.arm(
        Timer::after(every).every(every),
        move |_: &mut Ops<'_, u32>| {
            let _ = sys::write(poker.as_fd(), &1u64.to_ne_bytes());
        },
    )?;
    let mut pokes = 0;
    reactor.run_with(&mut pokes)?;
    Ok(reactor.take_observer().expect("the observer set above"))
}

/// Prints every record to stderr.
struct Stderr;

impl log::Log for Stderr {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        eprintln!("{:5} {}", record.level(), record.args());
    }
    fn flush(&self) {}
}

#[allow(dead_code)] // a module of the examples test, which calls `run`
fn main() -> barepoll::Result<()> {
    static LOGGER: Stderr = Stderr;
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(log::LevelFilter::Trace);
    }
    let seen = run()?;
    println!(
        "observed {} turns, {} events, {} timer callbacks",
        seen.turns, seen.events, seen.timers
    );
    Ok(())
}
