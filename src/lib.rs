//! barepoll: a Linux epoll reactor with no libc.
//!
//! - The kernel is called through inline-asm syscalls, all in [`sys`] (x86_64 and aarch64).
//! - Each subscriber lives in one pinned heap node whose address is the epoll `data` word, so
//!   dispatch goes from event to handler with no lookup, no allocation and no syscall.
//! - `unsafe` lives in two places only: `src/sys/` and `src/thin/`.
//! - `#![no_std]` + `alloc` without the default `std` feature.
//!
//! ```
//! use barepoll::{sys, sys::AsFd, Event, Ops, Reactor};
//!
//! let mut reactor = Reactor::new()?;
//! let efd = sys::eventfd(1, sys::EFD_NONBLOCK)?; // readable at once
//! barepoll::interest().read()
//!     .with_fd(efd)
//!     .with_handler(|fd: &mut sys::OwnedFd, ev: Event, ops: &mut Ops<'_>| {
//!         let mut buf = [0u8; 8];
//!         sys::read(fd.as_fd(), &mut buf).unwrap();
//!         assert!(ev.is_readable());
//!         ops.stop();
//!     })
//!     .register_into(&mut reactor)?;
//! reactor.run()?;
//! # Ok::<(), barepoll::Error>(())
//! ```
//!
//! # What is in it
//!
//! - **[`Reactor<D = (), T = Local>`](Reactor)**: [`new`](Reactor::new),
//!   [`with_capacity`](Reactor::with_capacity), [`builder()`](Reactor::builder)
//!   ([`.capacity(n)`](Builder::capacity), [`.state::<D>()`](Builder::state),
//!   [`.sendable()`](Builder::sendable), [`.build()`](Builder::build));
//!   [`register(subscriber, interest) -> Key`](Reactor::register), [`modify`](Reactor::modify),
//!   [`delete`](Reactor::delete), [`take::<S>`](Reactor::take) (the subscriber back, outside
//!   dispatch), [`get`](Reactor::get)/[`get_mut`](Reactor::get_mut),
//!   [`interest`](Reactor::interest), [`len`](Reactor::len);
//!   [`run_once(Option<Duration>)`](Reactor::run_once), [`run()`](Reactor::run), and
//!   [`run_once_with`](Reactor::run_once_with)/[`run_with`](Reactor::run_with) that lend
//!   `&mut D` to every handler and timer callback; [`arm`](Reactor::arm),
//!   [`cancel`](Reactor::cancel), [`reset`](Reactor::reset) for timers; [`remote()`][remote()]
//!   (with `std`). A signal during the wait is zero events, not an error; timeouts are to the
//!   nanosecond with `epoll_pwait2`, rounded *up* to milliseconds on kernels without it.
//!   Dropping it drops every subscriber and timer callback exactly once.
//! - **Handlers**: [`interest()`]`.read().with_fd(fd).with_handler(f).register_into(&mut r)`
//!   ([`handler`]), where `f` takes any subset of `&mut Fd`, [`Event`], [`Interest`] and
//!   `&mut Ops` in any order; a wrong parameter gets a compile error that lists what is
//!   accepted (Rust 1.78+). Or implement [`Subscriber`] ([`AsFd`](sys::AsFd) plus
//!   `handle(&mut self, Event, &mut Ops)`); `Box<S>` and `Box<dyn Subscriber>` are subscribers
//!   too.
//! - **[`Ops`]**, what a running handler or timer callback may do: [`data()`](Ops::data),
//!   [`add`](Ops::add), [`modify`](Ops::modify), [`delete`](Ops::delete), [`key()`](Ops::key),
//!   [`modify_self`](Ops::modify_self), [`delete_self`](Ops::delete_self),
//!   [`rearm`](Ops::rearm) (oneshot), [`stop`](Ops::stop), [`arm`](Ops::arm),
//!   [`cancel`](Ops::cancel), [`reset`](Ops::reset), [`timer()`](Ops::timer). Nothing that
//!   reaches another subscriber's value, or the running one twice.
//! - **Timers**: [`Timer::after(d)`](Timer::after), [`Timer::at(instant)`](Timer::at),
//!   [`.every(period)`](Timer::every); a [`TimerKey`] with a process-unique generation (a
//!   stale or foreign key is refused). A hierarchical timing wheel: arm, cancel and reset are
//!   O(1) and make no syscall; nothing fires early; a periodic timer that falls behind skips
//!   the missed ticks. With `alarm`, the reactor wakes for them through one timerfd, set to the
//!   earliest deadline whenever that moves earlier, so a turn with timers armed but none due
//!   costs what a turn without timers costs. [`TimerFd`] is a kernel timer as a subscriber's
//!   fd, for those who want one.
//! - **Signals**: [`signal::Signals::new(set)`](signal::Signals::new) blocks the set for the
//!   calling thread and reads a signalfd (signal, sender pid and uid, code);
//!   [`.on(handler)`](signal::Signals::on) is the subscriber; dropping it unblocks what it
//!   blocked. Threads spawned later inherit the mask; threads spawned earlier must block the
//!   set themselves, or the kernel may deliver the signal to them.
//! - **[`Waker`]**: `Clone + Send + Sync`, needs only `alloc`; wakes the reactor from any
//!   thread; many wakes between two turns cost one eventfd `write`, never more than one per
//!   turn of the loop. When its last handle drops, its subscriber removes itself
//!   ([`Waker::with_close`] is told). [`StopHandle`] is a waker that stops `run`.
//! - **[`Remote`]** (`std`): [`post(job)`][Remote::post] runs `FnOnce(&mut Ops) + Send` on the
//!   reactor's thread; [`call(job)`][Remote::call] blocks for its value, and refuses
//!   ([`Error::WouldDeadlock`]) from the reactor's own thread, or ([`Error::Closed`]) once the
//!   reactor is gone.
//! - **[`Registrar`]** (`std`, made by a [`Sendable`] reactor's
//!   [`registrar()`][registrar()]): registers `Send` subscribers from any thread, on that
//!   thread, and returns the key at once; the reactor takes them in after its next wait, or
//!   before it next looks a key up.
//! - **[`channel`]**: [`bounded::<T>(capacity)`](channel::bounded) gives a
//!   [`Sender`](channel::Sender) (`Clone + Send + Sync`) and a [`Receiver`](channel::Receiver)
//!   whose subscriber ([`on_message`](channel::Receiver::on_message)) hands each value to a
//!   callback on the reactor's thread; needs only `alloc`. A full channel gives the value back
//!   ([`try_send`](channel::Sender::try_send)) or, with `std`, waits for room
//!   ([`send`][channel-send], [`send_timeout`][channel-send-timeout]);
//!   many sends between two turns cost one eventfd `write`; a closed one gives the value back.
//! - **[Tasks][`task`]** (feature `tasks`): [`Reactor::spawn`][spawn] a `!Send` future,
//!   from outside the loop, from a handler (`Ops::spawn`) or from a task (`Spawner`); join
//!   handles (dropping one detaches); wakers that schedule from any thread, with one eventfd
//!   write while the reactor sleeps; a bounded budget per turn; `Async<F>` (an fd registered
//!   once, edge-triggered: `readable`, `writable`, `read`, `write`, `accept`); `sleep`,
//!   `sleep_until`, `timeout`.
//! - **[Thread modes](threads)**: a `Reactor<D, `[`Local`]`>` takes any subscriber and is not
//!   `Send`; a `Reactor<D, `[`Sendable`]`>` takes only `Send` subscribers and callbacks (a
//!   compile error names the culprit) and is `Send`: build it on one thread, run it on another
//!   (`examples/per_core.rs`: one reactor per core on an `SO_REUSEPORT` port).
//! - **[Observers](observe)**: [`Reactor::observe`] takes an [`observe::Observer`], told of
//!   every turn (events, timer callbacks, time waited and taken, epoll-set rebuilds), of the
//!   errors turns return and of panics out of them; no logging dependency
//!   (`examples/observe.rs` feeds it to `log`). Without one, turns keep their fast path.
//! - **[`testing::Recorder`]** (`testing`): call a handler, subscriber or timer callback with a
//!   synthetic [`Event`] and a recording [`Ops`], then assert what it asked for (adds,
//!   modifies, deletes, stop, timers). Keys and timer keys are checked as the reactor checks
//!   them, and any operation can be made to fail.
//! - **[`sys`]**, what a libc-free program needs around the reactor: [`eventfd`](sys::eventfd),
//!   [`pipe`](sys::pipe), [`read`](sys::read), [`write`](sys::write); sockets
//!   ([`socket`](sys::socket), [`bind`](sys::bind), [`listen`](sys::listen),
//!   [`accept`](sys::accept), [`connect`](sys::connect), [`setsockopt`](sys::setsockopt),
//!   [`local_addr`](sys::local_addr), [`shutdown`](sys::shutdown), [`send`](sys::send) without
//!   SIGPIPE, IPv4 and IPv6 [`SocketAddr`](sys::SocketAddr)); [`sigprocmask`](sys::sigprocmask),
//!   [`signalfd`](sys::signalfd), [`kill`](sys::kill), [`tgkill`](sys::tgkill);
//!   [`monotonic`](sys::monotonic), [`timerfd`](sys::timerfd),
//!   [`timerfd_settime`](sys::timerfd_settime); [`getpid`](sys::getpid),
//!   [`gettid`](sys::gettid), [`exit_group`](sys::exit_group);
//!   [`stdin`](sys::stdin)/[`stdout`](sys::stdout)/[`stderr`](sys::stderr);
//!   [`Errno`](sys::Errno) and the fd types. Every descriptor is close-on-exec.
//! - **[`Error`]**: [`Os(Errno)`](Error::Os), [`AlreadyRegistered(fd)`](Error::AlreadyRegistered),
//!   [`StaleKey`](Error::StaleKey),
//!   [`StaleTimer`](Error::StaleTimer), [`WrongType`](Error::WrongType),
//!   [`Inherited`](Error::Inherited) (after `fork`), [`Invalid`](Error::Invalid),
//!   [`WouldDeadlock`](Error::WouldDeadlock), [`Closed`](Error::Closed),
//!   [`Panicked`](Error::Panicked); `std::error::Error` and
//!   `From<Error> for std::io::Error` with `std`.
//! - **[`guide`]**: how epoll behaves under this crate, recipes, and the same small program
//!   beside event-manager, mio, calloop and eventp. **[`technical`]**: the design, its
//!   invariants and the tests that hold them.
//!
//! Examples (`examples/`): `echo_server` (per-connection idle timers, graceful SIGTERM),
//! `async_echo` (the same as tasks, with `tasks`),
//! `timers`, `remote` (a worker thread posting results to the loop), `per_core`, and
//! `examples/nolibc` (a static echo server with no libc). Each is run by a test.
//!
//! # Features
//!
//! `std` (on by default) makes [`sys::OwnedFd`], [`sys::BorrowedFd`], [`sys::AsFd`] and their
//! siblings *re-exports of std's own fd types and traits*, so std's sockets, pipes and files
//! register directly, and adds `std::error::Error` for [`Error`] and `From<Error>` for
//! `std::io::Error`. Without it they are small look-alikes defined here, with the same names
//! and methods. The feature is therefore not purely additive, and cannot be (rustix makes the
//! same trade): a crate that implements both `barepoll::sys::AsFd` and `std::os::fd::AsFd` for
//! one of its types compiles without `std` but not with it, since both then name one trait;
//! and code that relies on std's extra methods (`OwnedFd::try_clone`, conversions to
//! `TcpStream`) compiles only with it. Code that only uses the names above, in either build,
//! is unaffected.
//!
//! `testing` (on by default) adds [`testing`], the recording test double. It is purely
//! additive; turn it off (`default-features = false, features = ["std"]` or no features at
//! all) where every byte counts: without it, [`Ops`] carries no recorder branch.
//!
//! `alarm` (on by default): the reactor's timers wake it through one timerfd per reactor,
//! made at the first arm, so turns with timers armed but none due read no clock and carry no
//! timeout. Off, such turns read the clock and wait until the earliest deadline: the same
//! timers, less code (a static binary that counts bytes may prefer it). See the technical
//! chapter, "Timers".
//!
//! `rt` (off by default, Rust 1.81) is the runtime kit for `#![no_std]`, `#![no_main]` static
//! binaries with no libc, so that such a program has no `unsafe` of its own: the process entry
//! `barepoll::main!`, a global allocator over `mmap`, the memory functions, a panic handler, arguments
//! and environment, and `print!`-style macros. See [`sys::rt`]. It cannot be combined with
//! `std` (a `compile_error!` says so). `panic-no-fmt`, with `rt`, makes the panic handler
//! write only `panicked (message left out)`, so that no `core::fmt` is linked for it.
//!
//! `tasks` (off by default): [`task`], futures as tasks on a `Local` reactor's thread, with
//! readiness and timer futures. Off, the reactor has no executor and its turns are the same
//! code as before; on, a reactor that never spawns still takes the same fast path.
//!
//! `vdso` (on by default): [`sys::monotonic`] and the timers read the clock through the
//! kernel's vDSO (`__vdso_clock_gettime` on x86_64, `__kernel_clock_gettime` on aarch64), found
//! once through the auxiliary vector and a bounds-checked walk of its ELF symbol table, so a
//! reading makes no syscall; where there is none (valgrind, older qemu-user, Miri) or a call
//! fails, the `clock_gettime` syscall. Off, every reading is the syscall: about 2.5 KiB less
//! code for a static binary that counts bytes.
//!
// Links to items that a feature gates: to the item where it is built, else to "Features".
#![cfg_attr(feature = "std", doc = "[`Remote`]: remote::Remote")]
#![cfg_attr(feature = "std", doc = "[Remote::post]: remote::Remote::post")]
#![cfg_attr(feature = "std", doc = "[Remote::call]: remote::Remote::call")]
#![cfg_attr(feature = "std", doc = "[remote()]: Reactor::remote")]
#![cfg_attr(feature = "std", doc = "[`Registrar`]: registrar::Registrar")]
#![cfg_attr(feature = "std", doc = "[registrar()]: Reactor::registrar")]
#![cfg_attr(feature = "std", doc = "[channel-send]: channel::Sender::send")]
#![cfg_attr(
    feature = "std",
    doc = "[channel-send-timeout]: channel::Sender::send_timeout"
)]
#![cfg_attr(not(feature = "std"), doc = "[`Remote`]: #features")]
#![cfg_attr(not(feature = "std"), doc = "[channel-send]: #features")]
#![cfg_attr(not(feature = "std"), doc = "[channel-send-timeout]: #features")]
#![cfg_attr(not(feature = "std"), doc = "[Remote::post]: #features")]
#![cfg_attr(not(feature = "std"), doc = "[Remote::call]: #features")]
#![cfg_attr(not(feature = "std"), doc = "[remote()]: #features")]
#![cfg_attr(not(feature = "std"), doc = "[`Registrar`]: #features")]
#![cfg_attr(not(feature = "std"), doc = "[registrar()]: #features")]
#![cfg_attr(feature = "testing", doc = "[`testing`]: testing")]
#![cfg_attr(feature = "testing", doc = "[`testing::Recorder`]: testing::Recorder")]
#![cfg_attr(not(feature = "testing"), doc = "[`testing`]: #features")]
#![cfg_attr(not(feature = "testing"), doc = "[`testing::Recorder`]: #features")]
#![cfg_attr(feature = "tasks", doc = "[`task`]: task")]
#![cfg_attr(feature = "tasks", doc = "[spawn]: Reactor::spawn")]
#![cfg_attr(not(feature = "tasks"), doc = "[`task`]: #features")]
#![cfg_attr(not(feature = "tasks"), doc = "[spawn]: #features")]
#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(missing_docs)]
#![warn(clippy::missing_errors_doc)]

#[cfg(not(all(
    target_os = "linux",
    target_pointer_width = "64",
    any(target_arch = "x86_64", target_arch = "aarch64")
)))]
compile_error!("barepoll supports only 64-bit Linux on x86_64 and aarch64");

#[cfg(all(feature = "rt", any(feature = "std", test)))]
compile_error!(
    "the `rt` feature is for `#![no_std]` binaries: it defines the process entry, the panic \
     handler and the memory functions, which std brings too; build with \
     `default-features = false, features = [\"rt\"]`"
);

extern crate alloc;
#[cfg(any(feature = "std", test))]
extern crate std;

#[allow(unsafe_code)]
pub mod sys;
#[allow(unsafe_code)]
mod thin;

pub mod channel;
mod error;
mod grow;
pub mod guide;
pub mod handler;
mod interest;
mod key;
pub mod observe;
mod ops;
mod reactor;
#[cfg(feature = "std")]
#[cfg_attr(docsrs, doc(cfg(feature = "std")))]
pub mod registrar;
#[cfg(feature = "std")]
#[cfg_attr(docsrs, doc(cfg(feature = "std")))]
pub mod remote;
pub mod signal;
mod subscriber;
#[cfg(feature = "tasks")]
#[cfg_attr(docsrs, doc(cfg(feature = "tasks")))]
pub mod task;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;
pub mod threads;
#[doc = include_str!("technical.md")]
pub mod technical {}
/// The README's example, compiled and run as a doctest.
#[cfg(all(doctest, feature = "std"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
#[cfg(all(test, feature = "tasks"))]
mod test_wakers;
mod timer;
mod waker;

pub use error::{Error, Result};
pub use handler::Register;
pub use interest::{interest, Event, Interest};
pub use key::Key;
pub use ops::Ops;
pub use reactor::{Builder, Reactor, DEFAULT_CAPACITY};
pub use subscriber::Subscriber;
pub use thin::MAX_CAPACITY;
pub use threads::{Local, Sendable};
pub use timer::{Instant, Timer, TimerFd, TimerKey};
pub use waker::{OnWake, StopCallback, StopHandle, Waker};
