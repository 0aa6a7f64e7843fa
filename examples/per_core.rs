//! One reactor per core on one port: each worker has its own listening socket bound with
//! `SO_REUSEPORT` (the kernel spreads connections over them), and its own `Sendable` reactor,
//! built on the main thread and moved into the worker. Then a loopback load measures it.
//!
//! ```text
//! cargo run --release --example per_core [SECONDS] [CONNECTIONS]
//! ```
//!
//! Prints the port, then the round trips per second over SECONDS (default 2) of 64-byte
//! ping-pong on CONNECTIONS (default 32) client connections, and how many connections each
//! worker took. Every worker is stopped through a `Waker`, and every echoed byte is checked.
//!
//! Out of descriptors (`EMFILE`), a worker stops listening (its listener's interest becomes
//! empty) until one of its connections closes or 100 ms pass, and says so once, rather than
//! have the level-triggered listener report the same connection again and again. A delete
//! that fails is logged and tried again by a timer, not forgotten.

use barepoll::sys::{self, AsFd as _, SockOpt, SocketAddr, SocketType};
use barepoll::{interest, Error, Key, Ops, Reactor, Sendable, Timer, TimerKey, Waker};
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A worker's state: its read buffer, how many connections it accepted, and whether its
/// listener is paused.
pub struct Worker {
    scratch: Box<[u8]>,
    accepted: u64,
    listener: Key,
    /// Accepting is paused: the listener's interest is empty.
    paused: bool,
    /// The timer that resumes accepting, while paused.
    resume: Option<TimerKey>,
    /// Accepts refused since the backlog was last caught up (0: nothing to report).
    refused: u64,
}

type WOps<'a> = Ops<'a, Worker, Sendable>;

/// How long accepting pauses after `accept` fails for want of a resource (no descriptor,
/// no memory), unless a connection closes first; and how soon a failed delete is retried.
const PAUSE: Duration = Duration::from_millis(100);

/// One client connection; `closing` once a delete of it failed (a retry is armed).
struct Conn {
    stream: TcpStream,
    closing: bool,
}

impl sys::AsFd for Conn {
    fn as_fd(&self) -> sys::BorrowedFd<'_> {
        self.stream.as_fd()
    }
}

/// A listening socket on `port` (0: any) that shares the port with the others.
fn listener(port: u16) -> std::io::Result<TcpListener> {
    let fd = sys::socket(sys::Domain::V4, SocketType::Stream, sys::SOCK_NONBLOCK)?;
    sys::setsockopt(fd.as_fd(), SockOpt::ReusePort, true)?;
    sys::setsockopt(fd.as_fd(), SockOpt::ReuseAddr, true)?;
    sys::bind(fd.as_fd(), &SocketAddr::v4([127, 0, 0, 1], port))?;
    sys::listen(fd.as_fd(), 1024)?;
    Ok(TcpListener::from(fd))
}

/// Echoes one connection: one read into the worker's buffer, written back. (Clients here
/// send 64 bytes and wait for them: the socket takes them back at once.)
fn echo(conn: &mut Conn, ops: &mut WOps<'_>) {
    if conn.closing {
        return;
    }
    let scratch = &mut ops.data().scratch;
    let keep = match conn.stream.read(scratch) {
        Ok(0) => false,
        Ok(n) => conn.stream.write_all(&scratch[..n]).is_ok(),
        Err(e) => matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted),
    };
    if !keep && !close(ops.key(), ops) {
        // Muted until the retry deletes it (best effort: if this fails too, the handler
        // returns at once on each event until then).
        conn.closing = true;
        let _ = ops.modify_self(interest());
    }
}

/// Deletes a connection; a paused listener may accept again. If the delete fails, logs it
/// and arms a timer that tries again. Returns whether it is deleted.
fn close(conn: Key, ops: &mut WOps<'_>) -> bool {
    match ops.delete(conn) {
        Ok(()) => {
            if ops.data().paused {
                resume_accepting(ops);
            }
            true
        }
        Err(Error::StaleKey(_)) => true,
        Err(e) => {
            eprintln!("close: {e}; trying again in {PAUSE:?}");
            let retry = ops.arm(Timer::after(PAUSE), move |ops: &mut WOps<'_>| {
                close(conn, ops);
            });
            if let Err(e) = retry {
                eprintln!("close: {e}");
            }
            false
        }
    }
}

/// Stops listening until a connection closes or `PAUSE` passes: the level-triggered listener
/// would otherwise report the connection it cannot take again at once. Logs once until the
/// backlog is caught up.
fn pause_accepting(e: std::io::Error, ops: &mut WOps<'_>) {
    let worker = ops.data();
    worker.refused += 1;
    if worker.refused == 1 {
        eprintln!("accept: {e}; pausing until a connection closes or {PAUSE:?} pass");
    }
    if worker.paused {
        return;
    }
    let listener = worker.listener;
    if let Err(e) = ops.modify(listener, interest()) {
        eprintln!("pause accepting: {e}"); // still listening: the next turn tries again
        return;
    }
    ops.data().paused = true;
    arm_resume(ops);
}

/// Arms the timer that resumes accepting. Without it (the timers' own descriptor may be what
/// is missing), a closing connection still does.
fn arm_resume(ops: &mut WOps<'_>) {
    let resume = ops.arm(Timer::after(PAUSE), |ops: &mut WOps<'_>| {
        ops.data().resume = None;
        resume_accepting(ops);
    });
    match resume {
        Ok(timer) => ops.data().resume = Some(timer),
        Err(e) => eprintln!("arm: {e}; accepting resumes when a connection closes"),
    }
}

/// Listens again; if that fails, a timer tries again.
fn resume_accepting(ops: &mut WOps<'_>) {
    if let Some(timer) = ops.data().resume.take() {
        let _ = ops.cancel(timer);
    }
    let listener = ops.data().listener;
    match ops.modify(listener, interest().read()) {
        Ok(()) => ops.data().paused = false,
        Err(e) => {
            eprintln!("resume accepting: {e}; trying again in {PAUSE:?}");
            arm_resume(ops);
        }
    }
}

fn accept(listener: &mut TcpListener, ops: &mut WOps<'_>) {
    loop {
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                let refused = std::mem::take(&mut ops.data().refused);
                if refused > 0 {
                    eprintln!("accept: caught up, after {refused} refused attempts");
                }
                return;
            }
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::Interrupted | ErrorKind::ConnectionAborted
                ) =>
            {
                continue
            }
            Err(e) => return pause_accepting(e, ops),
        };
        if stream.set_nonblocking(true).is_err() {
            continue;
        }
        let _ = stream.set_nodelay(true);
        ops.data().accepted += 1;
        let conn = Conn {
            stream,
            closing: false,
        };
        let added = interest()
            .read()
            .with_fd(conn)
            .with_handler(echo)
            .register_into(ops);
        if let Err(e) = added {
            eprintln!("register: {e}");
        }
    }
}

/// Starts one worker per core on one port; returns the port, the workers (each gives back
/// how many connections it accepted) and the wakers that stop them.
pub fn start(workers: usize) -> std::io::Result<(u16, Vec<JoinHandle<u64>>, Vec<Waker>)> {
    let first = listener(0)?;
    let port = first.local_addr()?.port();
    let mut listeners = vec![first];
    for _ in 1..workers {
        listeners.push(listener(port)?);
    }
    let (mut handles, mut wakers) = (Vec::new(), Vec::new());
    for l in listeners {
        // Built here, on the main thread...
        let mut reactor: Reactor<Worker, Sendable> =
            Reactor::builder().state::<Worker>().sendable().build()?;
        let listener = interest()
            .read()
            .with_fd(l)
            .with_handler(accept)
            .register_into(&mut reactor)?;
        wakers.push(Waker::new(&mut reactor, |ops: &mut WOps<'_>| ops.stop())?);
        // ...and moved into its worker, which runs it.
        handles.push(std::thread::spawn(move || {
            let mut worker = Worker {
                scratch: vec![0; 64 * 1024].into_boxed_slice(),
                accepted: 0,
                listener,
                paused: false,
                resume: None,
                refused: 0,
            };
            if let Err(e) = reactor.run_with(&mut worker) {
                eprintln!("worker: {e}");
            }
            worker.accepted
        }));
    }
    Ok((port, handles, wakers))
}

/// Runs `connections` ping-pong clients against `port` for `duration` (each makes one round
/// trip at least); returns round trips.
pub fn load(port: u16, connections: usize, duration: Duration) -> u64 {
    let done = Arc::new(AtomicBool::new(false));
    let total = Arc::new(AtomicU64::new(0));
    let clients: Vec<_> = (0..connections)
        .map(|i| {
            let (done, total) = (done.clone(), total.clone());
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
                s.set_nodelay(true).unwrap();
                let msg = [i as u8; 64];
                let mut back = [0u8; 64];
                let mut n = 0;
                // At least one round trip each, however late a loaded machine starts this
                // thread: every connection is accepted and served before `load` returns.
                loop {
                    s.write_all(&msg).expect("write");
                    s.read_exact(&mut back).expect("read");
                    assert_eq!(back, msg, "echoed bytes differ");
                    n += 1;
                    if done.load(Ordering::Relaxed) {
                        break;
                    }
                }
                total.fetch_add(n, Ordering::Relaxed);
            })
        })
        .collect();
    std::thread::sleep(duration);
    done.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().expect("a client failed");
    }
    total.load(Ordering::Relaxed)
}

fn usage(problem: &str) -> ! {
    eprintln!("usage: per_core [SECONDS] [CONNECTIONS]  ({problem})");
    std::process::exit(2);
}

#[cfg_attr(test, allow(dead_code))]
fn main() {
    let mut args = std::env::args().skip(1);
    let secs: f64 = args.next().map_or(2.0, |s| {
        s.parse()
            .unwrap_or_else(|e| usage(&format!("bad SECONDS: {e}")))
    });
    let connections: usize = args.next().map_or(32, |s| {
        s.parse()
            .unwrap_or_else(|e| usage(&format!("bad CONNECTIONS: {e}")))
    });
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (port, workers, wakers) = start(cores).unwrap_or_else(|e| {
        eprintln!("per_core: {e}");
        std::process::exit(1);
    });
    println!("{cores} workers on 127.0.0.1:{port}");
    let t = Instant::now();
    let trips = load(port, connections, Duration::from_secs_f64(secs));
    let rate = trips as f64 / t.elapsed().as_secs_f64();
    println!("{trips} round trips of 64 bytes on {connections} connections: {rate:.0}/s");
    for w in &wakers {
        w.wake();
    }
    let per_worker: Vec<u64> = workers.into_iter().map(|w| w.join().unwrap()).collect();
    println!("connections per worker: {per_worker:?}");
}
