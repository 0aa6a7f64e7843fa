//! `Registrar`: threads other than a `Sendable` reactor's register subscribers into its epoll
//! set directly. Real threads, real eventfds, a real epoll set: every event reaches its
//! handler, a registrar's key works on the reactor's side at once (through `Remote`, in a
//! handler), what the kernel refuses comes back as the reactor's own register would report
//! it, nothing is leaked (drop counters, the open-fd count), and a registrar refuses after
//! its reactor is gone and in a `fork()`ed child.
#![cfg(feature = "std")]
mod common;

use barepoll::sys::{self, AsFd, BorrowedFd, OwnedFd};
use barepoll::{Error, Key, Ops, Reactor, Sendable, Subscriber};
use common::{drain, fd_check, open_fds, poke, under_valgrind};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

const NOW: Option<Duration> = Some(Duration::ZERO);

type SReactor = Reactor<(), Sendable>;

fn sendable() -> SReactor {
    Reactor::builder().sendable().build().unwrap()
}

/// Level-triggered read interest, except under Miri (edge-triggered only there).
fn readable() -> barepoll::Interest {
    common::readable()
}

/// An eventfd that counts its drops: the subscribers of these tests own one each.
struct Counted {
    fd: OwnedFd,
    drops: Arc<AtomicU32>,
}

impl Counted {
    fn new(init: u32, drops: &Arc<AtomicU32>) -> Counted {
        Counted {
            fd: common::eventfd(init),
            drops: drops.clone(),
        }
    }
}

impl AsFd for Counted {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

/// A hand-written subscriber over a shared fd (so two of them can name one number), counting
/// its drops.
struct Shared {
    fd: Arc<OwnedFd>,
    drops: Arc<AtomicU32>,
}

impl AsFd for Shared {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Subscriber<(), Sendable> for Shared {
    fn has_init(&self) -> bool {
        false
    }
    fn handle(&mut self, _: barepoll::Event, _: &mut Ops<'_, (), Sendable>) {
        drain(self.fd.as_fd());
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

/// Iterations for the threaded tests: fewer under valgrind, which runs them one at a time.
fn rounds(normal: usize) -> usize {
    if under_valgrind() || cfg!(miri) {
        (normal / 10).max(2)
    } else {
        normal
    }
}

/// Runs `reactor` on a thread of its own until a remote job stops it; returns the reactor.
fn run_on_a_thread(
    mut reactor: SReactor,
) -> (
    barepoll::remote::Remote<(), Sendable>,
    std::thread::JoinHandle<SReactor>,
) {
    let remote = reactor.remote().unwrap();
    let runner = std::thread::spawn(move || {
        reactor.run().unwrap();
        reactor
    });
    (remote, runner)
}

#[test]
fn registrars_on_several_threads_register_while_the_reactor_runs() {
    let _fds = fd_check();
    let mut reactor = sendable();
    let registrar = reactor.registrar().unwrap();
    let (remote, runner) = run_on_a_thread(reactor);
    let (threads, per_thread) = (4, rounds(50));
    let drops = Arc::new(AtomicU32::new(0));
    let delivered = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let (registrar, remote) = (registrar.clone(), remote.clone());
            let (drops, delivered) = (drops.clone(), delivered.clone());
            std::thread::spawn(move || {
                let (told, seen) = mpsc::channel::<(Key, Result<(), Error>)>();
                for i in 0..per_thread {
                    // Even rounds: the handler deletes its subscriber with the key the
                    // registrar returned (handed over after `register`). Odd rounds: the
                    // thread deletes it through `Remote` once the event was seen.
                    let by_handler = i % 2 == 0;
                    let key_slot: Arc<Mutex<Option<Key>>> = Arc::new(Mutex::new(None));
                    let (slot, told) = (key_slot.clone(), told.clone());
                    let delivered = delivered.clone();
                    let counted = Counted::new(0, &drops);
                    let writer = sys::dup(counted.fd.as_fd()).unwrap();
                    let key = barepoll::interest()
                        .read()
                        .with_fd(counted)
                        .with_handler(move |c: &mut Counted, ops: &mut Ops<'_, (), Sendable>| {
                            drain(c.fd.as_fd());
                            delivered.fetch_add(1, Ordering::SeqCst);
                            let key = slot.lock().unwrap().expect("key handed over first");
                            assert_eq!(ops.key(), key, "the registrar's key names this node");
                            let deleted = if by_handler { ops.delete(key) } else { Ok(()) };
                            told.send((key, deleted)).unwrap();
                        })
                        .register_into(&mut registrar.clone())
                        .unwrap();
                    *key_slot.lock().unwrap() = Some(key);
                    poke(writer.as_fd());
                    let (seen_key, deleted) = seen.recv().unwrap();
                    assert_eq!(seen_key, key, "thread {t} round {i}");
                    deleted.unwrap();
                    if !by_handler {
                        remote
                            .call(move |ops: &mut Ops<'_, (), Sendable>| ops.delete(key))
                            .unwrap()
                            .unwrap();
                    }
                    // Deleted either way: a second delete finds it stale.
                    let again = remote
                        .call(move |ops: &mut Ops<'_, (), Sendable>| ops.delete(key))
                        .unwrap();
                    assert_eq!(again, Err(Error::StaleKey(key)));
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    remote
        .post(|ops: &mut Ops<'_, (), Sendable>| ops.stop())
        .unwrap();
    let reactor = runner.join().unwrap();
    let total = (threads * per_thread) as u32;
    assert_eq!(delivered.load(Ordering::SeqCst), total as usize);
    assert_eq!(reactor.len(), 0);
    assert_eq!(drops.load(Ordering::SeqCst), total);
    drop((reactor, remote, registrar));
}

#[test]
fn a_key_from_a_registrar_works_at_once_on_the_reactors_side() {
    let _fds = fd_check();
    let mut reactor = sendable();
    let registrar = reactor.registrar().unwrap();
    let drops = Arc::new(AtomicU32::new(0));
    let register = || {
        let registrar = registrar.clone();
        let drops = drops.clone();
        std::thread::spawn(move || {
            let sub = Shared {
                fd: Arc::new(common::eventfd(0)),
                drops,
            };
            registrar.register(sub, readable()).unwrap()
        })
        .join()
        .unwrap()
    };
    let (one, two) = (register(), register());
    // No turn ran: the reactor takes the registrations in before it looks a key up.
    assert_eq!(reactor.len(), 0, "a `&self` view: not taken in yet");
    reactor.delete(one).unwrap();
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    assert_eq!(reactor.delete(one), Err(Error::StaleKey(one)));
    assert!(reactor.get_mut::<Shared>(two).is_ok());
    assert_eq!(reactor.interest(two), Ok(readable()));
    assert_eq!(reactor.len(), 1);
    reactor.modify(two, barepoll::interest().write()).unwrap();
    assert_eq!(reactor.run_once(NOW).unwrap(), 1, "an eventfd is writable");
    // A turn takes what arrived in before it dispatches: the `&self` views see it after.
    let three = register();
    assert_eq!(
        reactor.run_once(NOW).unwrap(),
        1,
        "`two` is writable, `three` not readable"
    );
    assert_eq!(reactor.len(), 2);
    assert_eq!(reactor.interest(three), Ok(readable()));
    assert_eq!(reactor.key_of(three.fd()), Some(three));
    reactor.delete(two).unwrap();
    reactor.delete(three).unwrap();
    assert_eq!(drops.load(Ordering::SeqCst), 3);
    assert_eq!(reactor.run_once(NOW).unwrap(), 0);
}

#[test]
fn a_registrar_after_its_reactor_is_dropped_says_closed_and_drops_the_subscriber() {
    let _fds = fd_check();
    let mut reactor = sendable();
    let registrar = reactor.registrar().unwrap();
    let drops = Arc::new(AtomicU32::new(0));
    drop(reactor);
    let before = open_fds();
    let counted = Counted::new(1, &drops);
    // (Under Miri `open_fds` is 0: the drop counter is the evidence there.)
    assert_eq!(open_fds(), if cfg!(miri) { 0 } else { before + 1 });
    let refused = barepoll::interest()
        .read()
        .with_fd(counted)
        .with_handler(|| {})
        .register_into(&mut registrar.clone());
    assert_eq!(refused, Err(Error::Closed));
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    assert_eq!(open_fds(), before, "the subscriber's eventfd was closed");
    // From another thread, and through a clone, the same.
    let other = registrar.clone();
    let drops2 = drops.clone();
    let refused = std::thread::spawn(move || {
        let sub = Shared {
            fd: Arc::new(common::eventfd(0)),
            drops: drops2,
        };
        other.register(sub, readable())
    })
    .join()
    .unwrap();
    assert_eq!(refused, Err(Error::Closed));
    assert_eq!(drops.load(Ordering::SeqCst), 2);
}

#[test]
#[cfg_attr(miri, ignore = "regular files and /proc")]
fn an_add_the_kernel_refuses_comes_back_and_drops_the_subscriber() {
    let _fds = fd_check();
    let mut reactor = sendable();
    let registrar = reactor.registrar().unwrap();
    let drops = Arc::new(AtomicU32::new(0));

    // A regular file: the kernel says EPERM, as it does to the reactor's own register.
    let file: OwnedFd = std::fs::File::open("/proc/self/exe").unwrap().into();
    let file = Arc::new(file);
    let sub = |fd: &Arc<OwnedFd>| Shared {
        fd: fd.clone(),
        drops: drops.clone(),
    };
    let by_registrar = registrar.register(sub(&file), readable());
    let by_reactor = reactor.register(sub(&file), readable());
    assert_eq!(by_registrar, Err(Error::Os(sys::Errno::EPERM)));
    assert_eq!(by_registrar, by_reactor);
    assert_eq!(drops.load(Ordering::SeqCst), 2);

    // The same fd twice: the second is `AlreadyRegistered`, whoever registered the first.
    let efd = Arc::new(common::eventfd(1));
    let raw = sys::AsRawFd::as_raw_fd(&*efd);
    let first = registrar.register(sub(&efd), readable()).unwrap();
    let second = registrar.register(sub(&efd), readable());
    assert_eq!(second, Err(Error::AlreadyRegistered(raw)));
    let third = reactor.register(sub(&efd), readable());
    assert_eq!(third, Err(Error::AlreadyRegistered(raw)));
    assert_eq!(drops.load(Ordering::SeqCst), 4);
    // The first is intact: its event is dispatched, once.
    assert_eq!(reactor.run_once(NOW).unwrap(), 1);
    assert_eq!(reactor.run_once(NOW).unwrap(), 0);
    assert_eq!(reactor.len(), 1);
    reactor.delete(first).unwrap();
    assert_eq!(drops.load(Ordering::SeqCst), 5);
    // The number is free again for the registrar.
    let again = registrar.register(sub(&efd), readable()).unwrap();
    drop(reactor);
    assert_eq!(drops.load(Ordering::SeqCst), 6, "dropped with the reactor");
    let _ = again;
}

#[test]
fn the_reactors_drop_frees_what_its_inbox_still_holds() {
    let _fds = fd_check();
    let mut reactor = sendable();
    let registrar = reactor.registrar().unwrap();
    let drops = Arc::new(AtomicU32::new(0));
    let n = 16;
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..n / 4 {
                    let c = Counted::new(1, &drops);
                    barepoll::interest()
                        .read()
                        .with_fd(c)
                        .with_handler(|| -> () { unreachable!("no turn runs") })
                        .register_into(&mut registrar.clone())
                        .unwrap();
                }
            });
        }
    });
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    drop(reactor); // no turn ran: every node is still in the inbox
    assert_eq!(drops.load(Ordering::SeqCst), n);
    let c = Counted::new(0, &drops);
    let refused = barepoll::interest()
        .read()
        .with_fd(c)
        .with_handler(|| {})
        .register_into(&mut registrar.clone());
    assert_eq!(refused, Err(Error::Closed));
    assert_eq!(drops.load(Ordering::SeqCst), n + 1);
}

/// A number that a live subscriber still holds (its fd was closed behind its back and the
/// number reused) cannot take the registrar's node: the reactor takes the node out of the
/// kernel's set again, drops it, and the turn reports `AlreadyRegistered`.
#[test]
fn a_node_whose_number_is_taken_is_dropped_and_the_turn_says_so() {
    let _fds = fd_check();
    let mut reactor = sendable();
    let registrar = reactor.registrar().unwrap();
    let drops = Arc::new(AtomicU32::new(0));
    let (held, sub, raw) = number_reused(&mut reactor, &drops, 1);
    let key = registrar.register(sub, readable()).unwrap();
    assert_eq!(reactor.run_once(NOW), Err(Error::AlreadyRegistered(raw)));
    assert_eq!(
        drops.load(Ordering::SeqCst),
        1,
        "the registrar's subscriber went"
    );
    assert_eq!(
        reactor.key_of(raw),
        Some(held),
        "the live subscriber keeps its number"
    );
    assert_eq!(reactor.interest(key), Err(Error::StaleKey(key)));
    assert_eq!(
        reactor.run_once(NOW),
        Ok(0),
        "no event names the dropped node"
    );
    assert_eq!(reactor.len(), 1);
    drop(reactor);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
#[cfg_attr(miri, ignore = "Miri cannot fork")]
fn a_registrar_in_a_forked_child_refuses() {
    let _fds = fd_check();
    let mut reactor = sendable();
    let registrar = reactor.registrar().unwrap();
    let drops = Arc::new(AtomicU32::new(0));
    let efd = Arc::new(common::eventfd(1));
    let sub = Shared {
        fd: efd.clone(),
        drops: drops.clone(),
    };
    // The child's verdict comes through a socket, not its exit status: under valgrind with
    // `--error-exitcode`, the child's own leak check (other test threads' memory is
    // unreachable in it) sets that status.
    let (mut verdict_tx, mut verdict_rx) = std::os::unix::net::UnixStream::pair().unwrap();
    // The other tests of this binary wait for `fd_check`'s lock, so no thread of theirs is
    // copied mid-registration.
    // SAFETY (test code): the child only runs the checks below and leaves with `_exit`.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let status = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            match registrar.register(sub, readable()) {
                Err(Error::Inherited) if drops.load(Ordering::SeqCst) == 1 => 0,
                Err(Error::Inherited) => 10 + drops.load(Ordering::SeqCst) as u8,
                Err(_) => 1,
                Ok(_) => 2,
            }
        }))
        .unwrap_or(99);
        let _ = std::io::Write::write_all(&mut verdict_tx, &[status]);
        // SAFETY (test code): leaves the child at once, running no parent-owned destructor.
        unsafe { libc::_exit(0) };
    }
    drop(verdict_tx);
    let mut verdict = Vec::new();
    std::io::Read::read_to_end(&mut verdict_rx, &mut verdict).unwrap();
    let mut status = 0;
    // SAFETY (test code): waits for the child just forked.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(libc::WIFEXITED(status), "child died: status {status:#x}");
    assert_eq!(verdict, [0], "child check failed");
    // Nothing the child tried reached the shared epoll set: the readable eventfd reports
    // nothing here, and the parent's registrar still registers it.
    assert_eq!(reactor.run_once(NOW).unwrap(), 0);
    let key = registrar.register(sub, readable()).unwrap();
    assert_eq!(reactor.run_once(NOW).unwrap(), 1);
    reactor.delete(key).unwrap();
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

/// Threads register eventfds and delete them through `Remote` against a running reactor,
/// while its handlers delete others: every subscriber is dropped once, no fd is left open.
#[test]
#[cfg_attr(miri, ignore = "many threads and syscalls")]
fn stress_registering_and_deleting_from_threads_against_a_running_reactor() {
    let _fds = fd_check();
    let mut reactor = sendable();
    let registrar = reactor.registrar().unwrap();
    let (remote, runner) = run_on_a_thread(reactor);
    let (threads, per_thread) = (4, rounds(400));
    let drops = Arc::new(AtomicU32::new(0));
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let (registrar, remote, drops) = (registrar.clone(), remote.clone(), drops.clone());
            std::thread::spawn(move || {
                let mut keys = Vec::new();
                for i in 0..per_thread {
                    // Readable at once; a third of them delete themselves from their handler.
                    let c = Counted::new(1, &drops);
                    let deletes_itself = i % 3 == 0;
                    let key = barepoll::interest()
                        .read()
                        .with_fd(c)
                        .with_handler(move |c: &mut Counted, ops: &mut Ops<'_, (), Sendable>| {
                            drain(c.fd.as_fd());
                            if deletes_itself {
                                ops.delete_self().unwrap();
                            }
                        })
                        .register_into(&mut registrar.clone())
                        .unwrap();
                    if !deletes_itself {
                        keys.push(key);
                    }
                    if keys.len() >= 8 || (i + t) % 5 == 0 {
                        // Deleted from here, by jobs the reactor runs in a later turn.
                        for key in keys.drain(..) {
                            remote
                                .post(move |ops: &mut Ops<'_, (), Sendable>| {
                                    ops.delete(key).unwrap();
                                })
                                .unwrap();
                        }
                    }
                }
                for key in keys {
                    remote
                        .call(move |ops: &mut Ops<'_, (), Sendable>| ops.delete(key))
                        .unwrap()
                        .unwrap();
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    // Let the self-deleting ones be dispatched: wait until the reactor holds none.
    let total = (threads * per_thread) as u32;
    loop {
        // A round trip through a turn, then a look at the count.
        remote.call(|_: &mut Ops<'_, (), Sendable>| ()).unwrap();
        if drops.load(Ordering::SeqCst) == total {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    remote
        .post(|ops: &mut Ops<'_, (), Sendable>| ops.stop())
        .unwrap();
    let reactor = runner.join().unwrap();
    assert_eq!(reactor.len(), 0);
    drop(reactor);
    assert_eq!(drops.load(Ordering::SeqCst), (threads * per_thread) as u32);
}

/// A subscriber whose fd safe code can close behind the reactor's back (`fd.take()` through
/// `get_mut`), so its DEL is refused and the reactor rebuilds its epoll set; `on_drop` runs in
/// its destructor (to count its drops, panic, or register through a registrar).
struct Closable {
    fd: Option<OwnedFd>,
    on_drop: Option<Box<dyn FnOnce() + Send>>,
}

impl Closable {
    fn new(fd: OwnedFd) -> Closable {
        Closable {
            fd: Some(fd),
            on_drop: None,
        }
    }

    fn on_drop(fd: OwnedFd, on_drop: impl FnOnce() + Send + 'static) -> Closable {
        Closable {
            fd: Some(fd),
            on_drop: Some(Box::new(on_drop)),
        }
    }

    /// Counts its drops in `drops`.
    fn counted(fd: OwnedFd, drops: &Arc<AtomicU32>) -> Closable {
        let drops = drops.clone();
        Closable::on_drop(fd, move || {
            drops.fetch_add(1, Ordering::SeqCst);
        })
    }
}

impl AsFd for Closable {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_ref().expect("only at registration").as_fd()
    }
}

impl Subscriber<(), Sendable> for Closable {
    fn has_init(&self) -> bool {
        false
    }
    fn handle(&mut self, _: barepoll::Event, _: &mut Ops<'_, (), Sendable>) {}
}

impl Drop for Closable {
    fn drop(&mut self) {
        if let Some(on_drop) = self.on_drop.take() {
            on_drop();
        }
    }
}

/// A reactor's subscriber whose fd was closed behind its back, and a registrar's subscriber
/// (counting its drops in `drops`; its eventfd readable if `ready`) whose new fd took the
/// number: the held key, the registrar's subscriber, the number.
fn number_reused(reactor: &mut SReactor, drops: &Arc<AtomicU32>, ready: u32) -> (Key, Shared, i32) {
    let held = reactor
        .register(Closable::new(common::eventfd(0)), readable())
        .unwrap();
    // Closed behind the reactor's back (the kernel's entry goes with the file) ...
    drop(reactor.get_mut::<Closable>(held).unwrap().fd.take());
    // ... and the number reused by the next eventfd.
    let sub = Shared {
        fd: Arc::new(common::eventfd(ready)),
        drops: drops.clone(),
    };
    let raw = sys::AsRawFd::as_raw_fd(&*sub.fd);
    assert_eq!(raw, held.fd(), "the lowest free number is reused");
    (held, sub, raw)
}

/// The reactor rebuilds its epoll set again and again (refused DELs) while threads register:
/// no registration is lost to a set that was replaced (each registered eventfd is readable,
/// and its handler counts it and deletes it). Idle subscribers make each rebuild take a while,
/// so registrations land while one runs.
#[test]
#[cfg_attr(miri, ignore = "many threads and syscalls")]
// Under qemu-user on an AMD EPYC host this test hung in 1 to 3 of 8 runs of the whole binary,
// at the previous release's code too (never alone, never natively): not yet understood.
#[cfg_attr(
    target_arch = "aarch64",
    ignore = "hangs now and then under qemu-user on some hosts; under investigation"
)]
fn rebuilds_of_the_epoll_set_lose_no_registration_of_a_registrar() {
    let _fds = fd_check();
    let mut reactor = sendable();
    let registrar = reactor.registrar().unwrap();
    let idle: Vec<Key> = (0..rounds(200))
        .map(|_| {
            let sub = Shared {
                fd: Arc::new(common::eventfd(0)),
                drops: Arc::new(AtomicU32::new(0)),
            };
            reactor.register(sub, readable()).unwrap()
        })
        .collect();
    let threads = 3;
    let seen = Arc::new(AtomicUsize::new(0));
    let registered = Arc::new(AtomicUsize::new(0));
    let drops = Arc::new(AtomicU32::new(0));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let go = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Registrars between their look at `go` and the end of their registration.
    let at_work = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (registrar, seen, drops) = (registrar.clone(), seen.clone(), drops.clone());
            let (registered, stop, go) = (registered.clone(), stop.clone(), go.clone());
            let at_work = at_work.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    // Registering only while the reactor rebuilds, and at most 64 in flight.
                    at_work.fetch_add(1, Ordering::SeqCst);
                    let busy = registered.load(Ordering::SeqCst) > seen.load(Ordering::SeqCst) + 64;
                    if !go.load(Ordering::SeqCst) || busy {
                        at_work.fetch_sub(1, Ordering::SeqCst);
                        std::thread::yield_now();
                        continue;
                    }
                    let seen = seen.clone();
                    barepoll::interest()
                        .read()
                        .with_fd(Counted::new(1, &drops))
                        .with_handler(move |c: &mut Counted, ops: &mut Ops<'_, (), Sendable>| {
                            drain(c.fd.as_fd());
                            seen.fetch_add(1, Ordering::SeqCst);
                            ops.delete_self().unwrap();
                        })
                        .register_into(&mut registrar.clone())
                        .unwrap();
                    registered.fetch_add(1, Ordering::SeqCst);
                    at_work.fetch_sub(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    for _ in 0..rounds(100) {
        go.store(true, Ordering::SeqCst);
        let before = registered.load(Ordering::SeqCst);
        while registered.load(Ordering::SeqCst) < before + threads {
            std::thread::yield_now(); // the registrars are at work
        }
        // A refused DEL: the subscriber's fd closed behind its back while a dup keeps the
        // file (and so the kernel's entry) alive. The reactor rebuilds its set to delete it.
        let efd = common::eventfd(0);
        let keeper = sys::dup(efd.as_fd()).unwrap();
        let key = reactor.register(Closable::new(efd), readable()).unwrap();
        drop(reactor.get_mut::<Closable>(key).unwrap().fd.take());
        reactor.delete(key).unwrap();
        drop(keeper);
        go.store(false, Ordering::SeqCst);
        while at_work.load(Ordering::SeqCst) != 0 {
            std::thread::yield_now(); // a registration under way finishes; no other starts
        }
        // Every registration so far is of a readable eventfd, so the turns until one finds
        // nothing dispatch each of them (before the next rebuild, which would add one lost to
        // the closed set back).
        while reactor.run_once(NOW).unwrap() != 0 {}
        assert_eq!(
            seen.load(Ordering::SeqCst),
            registered.load(Ordering::SeqCst),
            "registrations lost to a replaced epoll set"
        );
    }
    stop.store(true, Ordering::SeqCst);
    for w in workers {
        w.join().unwrap();
    }
    let total = registered.load(Ordering::SeqCst);
    assert_eq!(seen.load(Ordering::SeqCst), total);
    assert_eq!(reactor.len(), idle.len());
    for key in idle {
        reactor.delete(key).unwrap();
    }
    assert_eq!(reactor.run_once(NOW).unwrap(), 0);
    assert_eq!(drops.load(Ordering::SeqCst), total as u32);
}

/// A subscriber with a further registration (a record, `add_fd`).
struct Device {
    own: OwnedFd,
    extra: Option<OwnedFd>,
}

impl AsFd for Device {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.own.as_fd()
    }
}

impl Subscriber<(), Sendable> for Device {
    fn has_init(&self) -> bool {
        false
    }
    fn handle(&mut self, _: barepoll::Event, _: &mut Ops<'_, (), Sendable>) {
        panic!("no event of a device is expected here");
    }
}

/// A record's fd closed behind the reactor's back (a dup keeps the file, and so the kernel's
/// entry), its number reused by a registrar's subscriber: deleting the record's owner must not
/// DEL the registrar's registration in place of the record's own.
#[test]
fn a_records_number_reused_by_a_registrar_survives_the_owners_delete() {
    let _fds = fd_check();
    let mut reactor = sendable();
    let registrar = reactor.registrar().unwrap();
    let device = Device {
        own: common::eventfd(0),
        extra: Some(common::eventfd(0)),
    };
    let owner = reactor.register(device, readable()).unwrap();
    let dev = reactor.get_mut::<Device>(owner).unwrap();
    let extra = dev.extra.take().unwrap();
    let number = sys::AsRawFd::as_raw_fd(&extra);
    reactor.add_fd(owner, extra.as_fd(), 1, readable()).unwrap();
    let keeper = sys::dup(extra.as_fd()).unwrap();
    drop(extra); // closed behind the reactor's back
    let mut spare = Vec::new();
    let fd = loop {
        let fd = common::eventfd(1);
        if sys::AsRawFd::as_raw_fd(&fd) == number {
            break fd;
        }
        assert!(spare.len() < 8, "the number was not free");
        spare.push(fd);
    };
    let drops = Arc::new(AtomicU32::new(0));
    let sub = Shared {
        fd: Arc::new(fd),
        drops: drops.clone(),
    };
    let key = std::thread::spawn(move || registrar.register(sub, readable()))
        .join()
        .unwrap()
        .unwrap();
    assert_eq!(key.fd(), number);
    reactor.delete(owner).unwrap();
    // The registrar's subscriber took the number and reports (its eventfd is readable) ...
    assert_eq!(reactor.run_once(NOW), Ok(1));
    assert_eq!(reactor.key_of(number), Some(key));
    // ... and the record's own registration is gone: its file reports nothing.
    poke(keeper.as_fd());
    assert_eq!(reactor.run_once(NOW), Ok(0));
    reactor.delete(key).unwrap();
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    assert_eq!(reactor.run_once(NOW), Ok(0));
}

/// As above, but the registrar's fd is not ready: the wait returns no event, and the turn that
/// took the node in and gave it up still reports the error (it is not lost, nor left to surface
/// at some later turn).
#[test]
fn a_node_whose_number_is_taken_is_reported_by_a_turn_without_events() {
    let _fds = fd_check();
    let mut reactor = sendable();
    let registrar = reactor.registrar().unwrap();
    let drops = Arc::new(AtomicU32::new(0));
    let (_, sub, raw) = number_reused(&mut reactor, &drops, 0); // never readable: no event
    registrar.register(sub, readable()).unwrap();
    assert_eq!(reactor.run_once(NOW), Err(Error::AlreadyRegistered(raw)));
    assert_eq!(
        drops.load(Ordering::SeqCst),
        1,
        "the registrar's subscriber went"
    );
    assert_eq!(reactor.run_once(NOW), Ok(0), "reported once");
    drop(reactor);
}

/// A node given up by an operation outside a turn (here `get_mut`, which takes the inbox in):
/// the next turn reports the error, though it has no event.
#[test]
fn a_node_given_up_outside_a_turn_is_reported_by_the_next_turn() {
    let _fds = fd_check();
    let mut reactor = sendable();
    let registrar = reactor.registrar().unwrap();
    let drops = Arc::new(AtomicU32::new(0));
    let (held, sub, raw) = number_reused(&mut reactor, &drops, 0);
    registrar.register(sub, readable()).unwrap();
    assert!(reactor.get_mut::<Closable>(held).is_ok()); // takes the inbox in
    assert_eq!(
        drops.load(Ordering::SeqCst),
        1,
        "the registrar's subscriber went"
    );
    assert_eq!(reactor.run_once(NOW), Err(Error::AlreadyRegistered(raw)));
    assert_eq!(reactor.run_once(NOW), Ok(0), "reported once");
    drop(reactor);
}

/// A registration on the reactor's side whose ADD meets a ghost (a record retired when no
/// epoll set could be made without it) rebuilds the set, and that rebuild takes in what a
/// registrar left, between the registration's reserving a slot and its placing the node: the
/// nodes taken in must stay in the table (none dropped while the kernel names it), and both
/// keys must work.
#[test]
#[cfg_attr(miri, ignore = "fd limits")]
fn a_rebuild_inside_a_registration_keeps_the_nodes_it_takes_in() {
    let _fds = fd_check();
    let mut reactor = sendable();
    let registrar = reactor.registrar().unwrap();
    let owner_drops = Arc::new(AtomicU32::new(0));
    let owner_fd = Arc::new(common::eventfd(0)); // kept open: its number is not reused
    let owner = reactor
        .register(
            Shared {
                fd: owner_fd.clone(),
                drops: owner_drops.clone(),
            },
            readable(),
        )
        .unwrap();
    // Higher numbers than any the slot table has room for yet.
    let mut fillers: Vec<OwnedFd> = (0..64).map(|_| common::eventfd(0)).collect();
    let rec = common::eventfd(0);
    let keeper = common::dup(&rec);
    let number = sys::AsRawFd::as_raw_fd(&rec);
    reactor.add_fd(owner, rec.as_fd(), 1, readable()).unwrap();
    drop(rec); // closed behind the reactor's back; `keeper` keeps the file registered
    loop {
        // Every number below `number` in use, so `number` is the lowest free one.
        let f = common::eventfd(0);
        if sys::AsRawFd::as_raw_fd(&f) == number {
            break;
        }
        fillers.push(f);
    }
    // No epoll set can be made now: the record's refused DEL retires it.
    let old = common::fd_limit(number as u64);
    let deleted = reactor.delete(owner);
    common::fd_limit(old);
    deleted.unwrap();
    assert_eq!(owner_drops.load(Ordering::SeqCst), 1);
    // The ghost's file under its own number again (the lowest free).
    let again = common::dup(&keeper);
    assert_eq!(sys::AsRawFd::as_raw_fd(&again), number);
    // The registrar's node waits in the inbox.
    let arrival_drops = Arc::new(AtomicU32::new(0));
    let arrival = registrar
        .register(
            Shared {
                fd: Arc::new(common::eventfd(0)),
                drops: arrival_drops.clone(),
            },
            readable(),
        )
        .unwrap();
    // The reactor's ADD of it meets the ghost and rebuilds the set.
    let mine_drops = Arc::new(AtomicU32::new(0));
    let mine = reactor
        .register(
            Shared {
                fd: Arc::new(again),
                drops: mine_drops.clone(),
            },
            readable(),
        )
        .unwrap();
    assert_eq!(
        arrival_drops.load(Ordering::SeqCst),
        0,
        "the arrival was dropped"
    );
    assert_eq!(mine_drops.load(Ordering::SeqCst), 0);
    assert!(reactor.interest(arrival).is_ok(), "the arrival's key");
    assert!(reactor.interest(mine).is_ok(), "the registration's key");
    assert_eq!(reactor.len(), 2);
    reactor.delete(arrival).unwrap();
    reactor.delete(mine).unwrap();
    assert_eq!(arrival_drops.load(Ordering::SeqCst), 1);
    assert_eq!(mine_drops.load(Ordering::SeqCst), 1);
    drop(reactor);
    drop(keeper);
    drop(fillers);
    drop(owner_fd);
}

/// `Reactor::arm_own` looks its key up like the other `&mut` operations: a registrar's key
/// works there at once, before any turn.
#[test]
fn a_key_from_a_registrar_arms_an_owned_timer_at_once() {
    let _fds = fd_check();
    let mut reactor = sendable();
    let registrar = reactor.registrar().unwrap();
    let drops = Arc::new(AtomicU32::new(0));
    let key = registrar
        .register(
            Shared {
                fd: Arc::new(common::eventfd(0)),
                drops: drops.clone(),
            },
            readable(),
        )
        .unwrap();
    let timer = barepoll::Timer::after(Duration::from_secs(3600));
    assert!(reactor.arm_own(key, timer, 2).is_ok());
    reactor.delete(key).unwrap(); // its timer goes with it
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

/// Panics in its handler after deleting `victim` while no epoll set can be made (the fd
/// limit is at the lowest free number), so the victim's refused DEL retires it with its
/// value, and the batch ends by the panic.
struct RetiresThenPanics {
    fd: OwnedFd,
    victim: Key,
}

impl AsFd for RetiresThenPanics {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Subscriber<(), Sendable> for RetiresThenPanics {
    fn has_init(&self) -> bool {
        false
    }
    fn handle(&mut self, _: barepoll::Event, ops: &mut Ops<'_, (), Sendable>) {
        drain(self.fd.as_fd());
        let lowest_free = sys::AsRawFd::as_raw_fd(&common::eventfd(0));
        let old = common::fd_limit(lowest_free as u64);
        let deleted = ops.delete(self.victim);
        common::fd_limit(old);
        deleted.unwrap();
        panic!("out of the batch");
    }
}

/// A node retired in a batch that a handler panicked out of keeps its value until a later
/// epoll-set rebuild gives it up; when that rebuild comes from a refused delete outside a
/// turn, the value's destructor must not run under the registrars' lock: here it registers
/// through a registrar of the same reactor, which would wait for that lock for ever.
#[test]
#[cfg_attr(miri, ignore = "fd limits")]
fn a_destructor_that_a_rebuild_runs_may_register_through_a_registrar() {
    let _fds = fd_check();
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reactor = sendable();
        let registrar = reactor.registrar().unwrap();
        let (registered_tx, registered_rx) = mpsc::channel();
        let fd = common::eventfd(0);
        let keeper = common::dup(&fd);
        // Its destructor registers through a registrar of its own reactor.
        let from_drop = registrar.clone();
        let victim = reactor
            .register(
                Closable::on_drop(fd, move || {
                    let sub = Shared {
                        fd: Arc::new(common::eventfd(0)),
                        drops: Arc::new(AtomicU32::new(0)),
                    };
                    let _ = registered_tx.send(from_drop.register(sub, readable()));
                }),
                readable(),
            )
            .unwrap();
        let trigger = common::eventfd(1);
        reactor
            .register(
                RetiresThenPanics {
                    fd: trigger,
                    victim,
                },
                readable(),
            )
            .unwrap();
        // Closed behind the reactor's back; `keeper` keeps its registration in the kernel.
        reactor.get_mut::<Closable>(victim).unwrap().fd = None;
        let turn = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| reactor.run_once(NOW)));
        assert!(turn.is_err(), "the handler panicked out of the turn");
        assert!(
            registered_rx.try_recv().is_err(),
            "the victim's value is kept"
        );
        // A second ghost, deleted outside a turn: its refused DEL rebuilds the set, which
        // gives the retired victim up.
        let other = common::eventfd(0);
        let other_keeper = common::dup(&other);
        let other = reactor.register(Closable::new(other), readable()).unwrap();
        drop(reactor.get_mut::<Closable>(other).unwrap().fd.take());
        reactor.delete(other).unwrap();
        let key = registered_rx
            .recv_timeout(Duration::from_secs(5))
            .expect("the victim's destructor ran")
            .expect("its registration was taken");
        reactor.delete(key).unwrap();
        drop((reactor, keeper, other_keeper));
        done_tx.send(()).unwrap();
    });
    done_rx.recv_timeout(Duration::from_secs(20)).expect(
        "the reactor went on (a registration waiting for a lock held by its own thread never ends)",
    );
}

/// In a batch: deletes `fillers` (so the graveyard holds some nodes), registers `arrival`
/// through a registrar (its number a live subscriber's: it cannot be placed), then deletes
/// `ghost`, whose DEL is refused: the rebuild that follows gives the arrival up into the
/// graveyard, and the ghost goes there after it.
struct DeletesAfterAnArrival {
    fd: OwnedFd,
    fillers: Vec<Key>,
    arrival: Option<Shared>,
    registrar: barepoll::registrar::Registrar,
    ghost: Key,
    deleted: Option<barepoll::Result<()>>,
}

impl AsFd for DeletesAfterAnArrival {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Subscriber<(), Sendable> for DeletesAfterAnArrival {
    fn has_init(&self) -> bool {
        false
    }
    fn handle(&mut self, _: barepoll::Event, ops: &mut Ops<'_, (), Sendable>) {
        drain(self.fd.as_fd());
        for key in self.fillers.drain(..) {
            ops.delete(key).unwrap();
        }
        let arrival = self.arrival.take().expect("one event");
        self.registrar.register(arrival, readable()).unwrap();
        self.deleted = Some(ops.delete(self.ghost));
    }
}

/// A delete in a batch whose refused DEL rebuilds the set while a registrar's node waits
/// unplaced: the rebuild buries that node in the graveyard, and the deleted node still finds
/// the room reserved for it there (whatever the graveyard held before: one of the filler
/// counts leaves it exactly one free place). Each subscriber is dropped exactly once.
#[test]
#[cfg_attr(miri, ignore = "fd numbers")]
fn an_arrival_a_rebuild_buries_leaves_the_deleted_node_its_room_in_the_graveyard() {
    let _fds = fd_check();
    for count in 0..9 {
        let mut reactor = sendable();
        let registrar = reactor.registrar().unwrap();
        let drops = Arc::new(AtomicU32::new(0));
        let ghost_drops = Arc::new(AtomicU32::new(0));
        let fillers: Vec<Key> = (0..count)
            .map(|_| {
                let sub = Shared {
                    fd: Arc::new(common::eventfd(0)),
                    drops: drops.clone(),
                };
                reactor.register(sub, readable()).unwrap()
            })
            .collect();
        let ghost_fd = common::eventfd(0);
        let keeper = sys::dup(ghost_fd.as_fd()).unwrap();
        let ghost = reactor
            .register(Closable::counted(ghost_fd, &ghost_drops), readable())
            .unwrap();
        let (held, arrival, raw) = number_reused(&mut reactor, &drops, 0);
        let trigger = reactor
            .register(
                DeletesAfterAnArrival {
                    fd: common::eventfd(1),
                    fillers,
                    arrival: Some(arrival),
                    registrar: registrar.clone(),
                    ghost,
                    deleted: None,
                },
                readable(),
            )
            .unwrap();
        // Closed behind the reactor's back; `keeper` keeps its entry in the kernel.
        drop(reactor.get_mut::<Closable>(ghost).unwrap().fd.take());
        let turn = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| reactor.run_once(NOW)));
        let turn = turn.unwrap_or_else(|_| panic!("the turn panicked ({count} fillers)"));
        assert_eq!(turn, Err(Error::AlreadyRegistered(raw)), "{count} fillers");
        let handler = reactor.get_mut::<DeletesAfterAnArrival>(trigger).unwrap();
        assert_eq!(handler.deleted, Some(Ok(())), "{count} fillers");
        assert_eq!(
            ghost_drops.load(Ordering::SeqCst),
            1,
            "the deleted ghost was dropped when the batch was done ({count} fillers)"
        );
        assert_eq!(
            drops.load(Ordering::SeqCst),
            count + 1,
            "the fillers and the arrival went ({count} fillers)"
        );
        reactor.delete(held).unwrap();
        reactor.delete(trigger).unwrap();
        drop((reactor, keeper));
        assert_eq!(ghost_drops.load(Ordering::SeqCst), 1);
    }
}

/// A rebuild outside a turn gives up a retired value whose destructor panics, while a
/// registrar's node waits unplaced (its number a live subscriber's): that node is still given
/// up and reported, never placed later in a set that does not hold it (where its key would
/// work and its events never come).
#[test]
#[cfg_attr(miri, ignore = "fd limits")]
fn a_retired_destructor_panic_in_a_rebuild_leaves_no_arrival_out_of_the_set() {
    let _fds = fd_check();
    let mut reactor = sendable();
    let registrar = reactor.registrar().unwrap();
    let victim_drops = Arc::new(AtomicU32::new(0));
    let victim_fd = common::eventfd(0);
    let victim_keeper = common::dup(&victim_fd);
    let victim = reactor
        .register(
            {
                let drops = victim_drops.clone();
                Closable::on_drop(victim_fd, move || {
                    drops.fetch_add(1, Ordering::SeqCst);
                    panic!("destructor panic (planted by the test)");
                })
            },
            readable(),
        )
        .unwrap();
    let trigger = reactor
        .register(
            RetiresThenPanics {
                fd: common::eventfd(1),
                victim,
            },
            readable(),
        )
        .unwrap();
    let other_fd = common::eventfd(0);
    let other_keeper = common::dup(&other_fd);
    let other = reactor
        .register(Closable::new(other_fd), readable())
        .unwrap();
    let arrival_drops = Arc::new(AtomicU32::new(0));
    let (held, arrival, raw) = number_reused(&mut reactor, &arrival_drops, 1);
    // Both closed behind the reactor's back; the keepers keep their entries in the kernel.
    drop(reactor.get_mut::<Closable>(victim).unwrap().fd.take());
    drop(reactor.get_mut::<Closable>(other).unwrap().fd.take());
    let turn = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| reactor.run_once(NOW)));
    assert!(turn.is_err(), "the handler panicked out of the turn");
    assert_eq!(victim_drops.load(Ordering::SeqCst), 0, "the victim is kept");
    // Waits in the inbox: its number is `held`'s.
    let arrival = registrar.register(arrival, readable()).unwrap();
    // The refused DEL rebuilds the set, which gives the retired victim up: its destructor
    // panics out of the delete.
    let deleted = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| reactor.delete(other)));
    assert!(deleted.is_err(), "the victim's destructor panicked");
    assert_eq!(victim_drops.load(Ordering::SeqCst), 1);
    // The number is free now: were the arrival still waiting, it would be placed.
    reactor.delete(held).unwrap();
    assert_eq!(
        reactor.run_once(NOW),
        Err(Error::AlreadyRegistered(raw)),
        "the arrival was given up and reported"
    );
    assert_eq!(reactor.interest(arrival), Err(Error::StaleKey(arrival)));
    assert_eq!(arrival_drops.load(Ordering::SeqCst), 1);
    assert_eq!(reactor.len(), 1);
    reactor.delete(trigger).unwrap();
    drop((reactor, victim_keeper, other_keeper));
    assert_eq!(victim_drops.load(Ordering::SeqCst), 1);
    assert_eq!(arrival_drops.load(Ordering::SeqCst), 1);
}

/// A subscriber whose fd safe code can close behind the reactor's back, counting its events.
struct Watched(Option<OwnedFd>, Arc<AtomicU32>);

impl AsFd for Watched {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_ref().expect("only at registration").as_fd()
    }
}

impl Subscriber<(), Sendable> for Watched {
    fn has_init(&self) -> bool {
        false
    }
    fn handle(&mut self, _: barepoll::Event, _: &mut Ops<'_, (), Sendable>) {
        self.1.fetch_add(1, Ordering::SeqCst);
        if let Some(fd) = &self.0 {
            drain(fd.as_fd());
        }
    }
}

/// With registrars, a rebuild that fails (no descriptor for a new epoll set) keeps the nodes
/// retired before it: the kernel still names them. Were one given up, its memory would go to
/// the next registration, and the ghost's event would reach that subscriber.
#[test]
#[cfg_attr(miri, ignore = "fd limits")]
fn a_failed_rebuild_with_registrars_keeps_the_nodes_retired_before_it() {
    let _fds = fd_check();
    let mut reactor = sendable();
    let _registrar = reactor.registrar().unwrap();
    let mut ghosts = Vec::new();
    let mut keepers = Vec::new();
    let ghost_hits = Arc::new(AtomicU32::new(0));
    for _ in 0..2 {
        let fd = common::eventfd(0);
        keepers.push(common::dup(&fd));
        let watched = Watched(Some(fd), ghost_hits.clone());
        ghosts.push(reactor.register(watched, readable()).unwrap());
    }
    for key in &ghosts {
        drop(reactor.get_mut::<Watched>(*key).unwrap().0.take()); // behind its back
    }
    // No epoll set can be made: each refused DEL retires its node.
    let lowest_free = sys::AsRawFd::as_raw_fd(&common::eventfd(0));
    let old = common::fd_limit(lowest_free as u64);
    let deleted: Vec<_> = ghosts.iter().map(|key| reactor.delete(*key)).collect();
    common::fd_limit(old);
    assert_eq!(deleted, [Ok(()), Ok(())]);
    // A new subscriber of the same type (a spare node's memory would be its).
    let hits = Arc::new(AtomicU32::new(0));
    let fresh = reactor
        .register(Watched(Some(common::eventfd(0)), hits.clone()), readable())
        .unwrap();
    for keeper in &keepers {
        poke(keeper.as_fd());
    }
    // The ghosts report (not counted); the set is rebuilt without them.
    assert_eq!(reactor.run_once(NOW), Ok(0));
    assert_eq!(hits.load(Ordering::SeqCst), 0, "a ghost's event reached it");
    assert_eq!(ghost_hits.load(Ordering::SeqCst), 0);
    assert_eq!(reactor.run_once(NOW), Ok(0), "the ghosts are gone");
    reactor.delete(fresh).unwrap();
    drop((reactor, keepers));
}

/// In a batch, once: deletes `fillers` (the graveyard holds them); has a registrar on another
/// thread register `arrival` (its number a live subscriber's: it cannot be placed); registers
/// `again`, the ghost's file under the ghost's number, whose ADD meets the ghost's entry, so
/// the set is rebuilt: the rebuild buries the arrival in the graveyard and releases the
/// ghost; then deletes `last`, which gives the released ghost up.
struct RebuildsBetweenDeletes {
    fd: OwnedFd,
    fillers: Vec<Key>,
    last: Key,
    arrival: Option<Shared>,
    registrar: barepoll::registrar::Registrar,
    again: Option<OwnedFd>,
    added: Option<barepoll::Result<Key>>,
}

impl AsFd for RebuildsBetweenDeletes {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Subscriber<(), Sendable> for RebuildsBetweenDeletes {
    fn has_init(&self) -> bool {
        false
    }
    fn handle(&mut self, _: barepoll::Event, ops: &mut Ops<'_, (), Sendable>) {
        let Some(again) = self.again.take() else {
            return; // once
        };
        drain(self.fd.as_fd());
        for key in self.fillers.drain(..) {
            ops.delete(key).unwrap();
        }
        let (registrar, arrival) = (&self.registrar, self.arrival.take().unwrap());
        std::thread::scope(|s| {
            s.spawn(|| registrar.register(arrival, readable()).unwrap())
                .join()
                .unwrap();
        });
        self.added = Some(ops.add(Closable::new(again), readable()));
        ops.delete(self.last).unwrap();
    }
}

/// With registrars: a rebuild in a batch (a registration met a ghost's entry) buries an
/// arrival it could not place beside the room it reserves for the ghost it releases; a delete
/// of the same handler after it takes its own room, and the ghost, given up by that delete,
/// never wants for room (whatever the graveyard held before: one of the filler counts leaves
/// it exactly one place short). Each subscriber is dropped exactly once, the arrival reported.
#[test]
#[cfg_attr(miri, ignore = "fd limits")]
fn a_delete_after_a_rebuild_with_registrars_leaves_the_released_ghost_room() {
    let _fds = fd_check();
    for count in 0..9 {
        let mut reactor = sendable();
        let registrar = reactor.registrar().unwrap();
        // The ghost, on a high number: retired, no set could be made without it.
        let keeper = common::eventfd(0);
        let high = sys::dup_at_least(keeper.as_fd(), 600).unwrap();
        let number = sys::AsRawFd::as_raw_fd(&high);
        let ghost_drops = Arc::new(AtomicU32::new(0));
        let ghost = reactor
            .register(Closable::counted(high, &ghost_drops), readable())
            .unwrap();
        drop(reactor.get_mut::<Closable>(ghost).unwrap().fd.take()); // behind its back
        let lowest_free = sys::AsRawFd::as_raw_fd(&common::eventfd(0));
        let old = common::fd_limit(lowest_free as u64);
        let deleted = reactor.delete(ghost);
        common::fd_limit(old);
        assert_eq!(deleted, Ok(()));
        assert_eq!(ghost_drops.load(Ordering::SeqCst), 1);
        let drops = Arc::new(AtomicU32::new(0));
        let mut doomed: Vec<Key> = (0..=count)
            .map(|_| {
                let sub = Shared {
                    fd: Arc::new(common::eventfd(0)),
                    drops: drops.clone(),
                };
                reactor.register(sub, readable()).unwrap()
            })
            .collect();
        let last = doomed.pop().unwrap();
        let (held, arrival, raw) = number_reused(&mut reactor, &drops, 0);
        let again = sys::dup_at_least(keeper.as_fd(), 600).unwrap();
        assert_eq!(sys::AsRawFd::as_raw_fd(&again), number);
        let trigger = reactor
            .register(
                RebuildsBetweenDeletes {
                    fd: common::eventfd(1),
                    fillers: doomed,
                    last,
                    arrival: Some(arrival),
                    registrar: registrar.clone(),
                    again: Some(again),
                    added: None,
                },
                readable(),
            )
            .unwrap();
        let turn = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| reactor.run_once(NOW)));
        let turn = turn.unwrap_or_else(|_| panic!("the turn panicked ({count} fillers)"));
        assert_eq!(turn, Err(Error::AlreadyRegistered(raw)), "{count} fillers");
        let handler = reactor.get_mut::<RebuildsBetweenDeletes>(trigger).unwrap();
        let added = handler.added.take().expect("the handler ran").unwrap();
        assert_eq!(added.fd(), number);
        assert_eq!(
            drops.load(Ordering::SeqCst) as usize,
            count + 2,
            "the fillers, the last one and the arrival went ({count} fillers)"
        );
        assert_eq!(reactor.run_once(NOW), Ok(0), "{count} fillers");
        reactor.delete(added).unwrap();
        reactor.delete(held).unwrap();
        reactor.delete(trigger).unwrap();
        assert_eq!(reactor.len(), 0);
        drop((reactor, keeper));
        assert_eq!(ghost_drops.load(Ordering::SeqCst), 1);
        assert_eq!(drops.load(Ordering::SeqCst) as usize, count + 2);
    }
}
