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
//! `vdso` (on by default): [`sys::monotonic`] and the timers read the clock through the
//! kernel's vDSO (`__vdso_clock_gettime` on x86_64, `__kernel_clock_gettime` on aarch64), found
//! once through the auxiliary vector and a bounds-checked walk of its ELF symbol table, so a
//! reading makes no syscall; where there is none (valgrind, older qemu-user, Miri) or a call
//! fails, the `clock_gettime` syscall. Off, every reading is the syscall: about 2.5 KiB less
//! code for a static binary that counts bytes.
#![no_std]
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

extern crate alloc;
#[cfg(any(feature = "std", test))]
extern crate std;

#[allow(unsafe_code)]
pub mod sys;
#[allow(unsafe_code)]
mod thin;

mod error;
mod grow;
pub mod handler;
mod interest;
mod key;
mod ops;
mod reactor;
#[cfg(feature = "std")]
pub mod remote;
pub mod signal;
mod subscriber;
#[cfg(feature = "testing")]
pub mod testing;
pub mod threads;
#[doc = include_str!("technical.md")]
pub mod technical {}
/// The README's example, compiled and run as a doctest.
#[cfg(all(doctest, feature = "std"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
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
pub use waker::{OnWake, Waker};
