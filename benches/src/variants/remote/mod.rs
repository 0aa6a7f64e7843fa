//! Remote calls side by side: barepoll's `Remote::post`, eventp's remote endpoint
//! (`call_nonblocking`), event-manager's `RemoteEndpoint::fire`, and what a mio user writes by
//! hand (a `Waker`, an `AtomicBool` and an `mpsc` channel of boxed closures). One turn is one
//! fire-and-forget call; a round spawns a thread that posts its calls while this thread runs
//! the loop until all of them have run (each bumps a counter on the loop's thread).
//!
//! Each library's module gives its loop and two measured functions with stable symbols: the
//! posting loop (`bench_remote_post_<id>`, on the posting thread) and the loop until a count
//! is reached (`bench_remote_<id>`, on this thread). The posting thread's `write` syscalls
//! are counted from `/proc/thread-self/io` (`syscw`), which costs nothing while it posts.

use crate::count::Count;
use crate::syscalls;
use crate::variants::Runner;
use std::cell::Cell;

pub mod barepoll;
pub mod event_manager;
pub mod eventp;
pub mod mio;

std::thread_local! {
    /// Calls run on this thread, for the peers whose loops have no state of their own.
    pub static DONE: Cell<u64> = const { Cell::new(0) };
}

/// Bumps [`DONE`]: what every peer's call does.
#[inline(always)]
pub fn done_one() {
    DONE.with(|d| d.set(d.get() + 1));
}

/// One library's loop and its endpoint.
pub trait Loop {
    type Endpoint: Send + 'static;
    fn endpoint(&self) -> Self::Endpoint;
    /// Posts `calls` calls, through the measured function if `measured`.
    fn post(endpoint: &Self::Endpoint, calls: u64, measured: bool);
    /// Runs the loop until `calls` more calls have run, through the measured function if
    /// `measured`.
    fn serve(&mut self, calls: u64, measured: bool);
}

pub struct Harness<L: Loop> {
    lib: L,
    /// Calls that ran.
    calls: Count,
    /// The posting threads' `write` syscalls, if the kernel counts them.
    writes: Option<u64>,
}

impl<L: Loop> Harness<L> {
    pub fn new(lib: L) -> Harness<L> {
        Harness {
            lib,
            calls: Count::new(),
            writes: Some(0),
        }
    }

    fn round(&mut self, calls: u64, measured: bool) {
        let endpoint = self.lib.endpoint();
        let writes = std::thread::scope(|s| {
            let poster = s.spawn(move || {
                let before = syscalls::thread_writes();
                L::post(&endpoint, calls, measured);
                Some(syscalls::thread_writes()? - before?)
            });
            self.lib.serve(calls, measured);
            poster.join().expect("the posting thread")
        });
        self.writes = self.writes.zip(writes).map(|(a, b)| a + b);
        self.calls.add(calls);
    }
}

impl<L: Loop> Runner for Harness<L> {
    fn warm(&mut self, calls: u64) {
        self.round(calls, false);
    }

    fn run(&mut self, calls: u64) {
        self.round(calls, true);
    }

    fn writes(&self) -> Option<u64> {
        self.writes
    }
}

/// Defines the two measured functions of a library: `$post(endpoint, calls)` posts with
/// `$call`, `$serve(loop, calls)` runs `$Loop::run_until`.
macro_rules! measured_remote {
    ($Loop:ty, $Endpoint:ty, $post:ident, $serve:ident, $call:expr) => {
        #[no_mangle]
        #[inline(never)]
        pub fn $post(endpoint: &$Endpoint, calls: u64) {
            std::hint::black_box(stringify!($post));
            for _ in 0..calls {
                $call(endpoint);
            }
        }

        #[no_mangle]
        #[inline(never)]
        pub fn $serve(lib: &mut $Loop, calls: u64) {
            std::hint::black_box(stringify!($serve));
            lib.run_until(calls);
        }

        impl $crate::variants::remote::Loop for $Loop {
            type Endpoint = $Endpoint;

            fn endpoint(&self) -> $Endpoint {
                self.endpoint.clone()
            }

            fn post(endpoint: &$Endpoint, calls: u64, measured: bool) {
                if measured {
                    $post(endpoint, calls);
                } else {
                    for _ in 0..calls {
                        $call(endpoint);
                    }
                }
            }

            fn serve(&mut self, calls: u64, measured: bool) {
                if measured {
                    $serve(self, calls);
                } else {
                    self.run_until(calls);
                }
            }
        }
    };
}
pub(crate) use measured_remote;
