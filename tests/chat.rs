//! The chat example as built by cargo, run as a process with real clients on 127.0.0.1: a
//! line reaches every other client and not its sender; a client that never reads is cut off
//! while the server's memory stays put; an idle client is closed; SIGTERM exits 0.
#![cfg(feature = "std")]

use barepoll::sys;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::process::Child;
use std::time::{Duration, Instant};

mod common;

/// The running server; killed if a test fails before it stops it.
struct Chat {
    child: Child,
    addr: String,
}

impl Chat {
    fn start(idle_ms: u64) -> Option<Chat> {
        let idle = idle_ms.to_string();
        let (child, addr) =
            common::start_example("chat", &["0", "--idle-ms", &idle], "listening on ")?;
        Some(Chat { child, addr })
    }

    fn connect(&self) -> Client {
        let stream = TcpStream::connect(&self.addr).unwrap();
        stream.set_nodelay(true).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        Client {
            lines: BufReader::new(stream.try_clone().unwrap()),
            stream,
        }
    }

    /// Whether the server was built with AddressSanitizer (the sanitizer CI stage): freed
    /// memory then waits in its quarantine, so its RSS says nothing about what it keeps.
    fn sanitized(&self) -> bool {
        let exe = std::fs::read(format!("/proc/{}/exe", self.child.id())).unwrap_or_default();
        exe.windows(16).any(|w| w == b"AddressSanitizer")
    }

    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    /// SIGTERM; returns its exit code and what it wrote on stderr.
    fn stop(mut self) -> (Option<i32>, String) {
        let pid = sys::Pid::from_u32(self.child.id()).unwrap();
        sys::kill(pid, sys::Signal::TERM).unwrap();
        let status = self.child.wait().unwrap();
        let mut err = String::new();
        let _ = self.child.stderr.take().unwrap().read_to_string(&mut err);
        (status.code(), err)
    }
}

impl Drop for Chat {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Client {
    stream: TcpStream,
    lines: BufReader<TcpStream>,
}

impl Client {
    fn say(&mut self, text: &str) {
        self.stream
            .write_all(format!("{text}\n").as_bytes())
            .unwrap();
    }

    fn hear(&mut self) -> String {
        let mut line = String::new();
        self.lines.read_line(&mut line).expect("read (timed out?)");
        line
    }
}

/// Makes sure every client has joined: the first says numbered lines until each other one
/// has heard one (a client joins when the server accepts it, which nothing here orders with
/// the lines). Returns how many it said.
fn join(clients: &mut [Client]) -> usize {
    let (first, others) = clients.split_first_mut().unwrap();
    let mut said = 0;
    for other in others.iter_mut() {
        other
            .stream
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let mut line = String::new();
        loop {
            match other.lines.read_line(&mut line) {
                Ok(n) if n > 0 && line.ends_with('\n') => break,
                Ok(0) => panic!("closed while joining"),
                Ok(_) => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    first.say(&format!("sync {said}"));
                    said += 1;
                }
                Err(e) => panic!("joining: {e}"),
            }
        }
        other
            .stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
    }
    said
}

/// Reads lines until one ends with `text`; panics on anything else but the sync lines of
/// `join`.
fn hear_until(client: &mut Client, text: &str) {
    loop {
        let line = client.hear();
        if line.trim_end().ends_with(text) {
            return;
        }
        assert!(line.contains(": sync "), "unexpected line {line:?}");
    }
}

#[test]
#[cfg_attr(miri, ignore = "Miri cannot run processes")]
fn a_line_reaches_every_other_client_and_not_its_sender() {
    let Some(chat) = Chat::start(60_000) else {
        return;
    };
    let mut clients = vec![chat.connect(), chat.connect(), chat.connect()];
    join(&mut clients);
    clients[0].say("hello from a");
    hear_until(&mut clients[1], "hello from a");
    hear_until(&mut clients[2], "hello from a");
    clients[1].say("hello from b");
    hear_until(&mut clients[2], "hello from b");
    // The first line a hears is b's: none of its own came back.
    let heard = clients[0].hear();
    assert!(heard.trim_end().ends_with(": hello from b"), "{heard:?}");
    let (code, err) = chat.stop();
    assert_eq!(code, Some(0), "{err}");
}

#[test]
#[cfg_attr(miri, ignore = "Miri cannot run processes")]
fn a_client_that_never_reads_is_cut_off_and_the_server_stays_small() {
    const ROUNDS: usize = 512; // of 32 lines of 1 KiB: 16 MiB in all
    let Some(chat) = Chat::start(600_000) else {
        return;
    };
    let mut clients = vec![chat.connect(), chat.connect(), chat.connect()];
    join(&mut clients);
    let mut slow = clients.pop().unwrap();
    let (mut talker, mut reader) = (clients.remove(0), clients.remove(0));
    let before = chat.rss_kib();
    let line = "x".repeat(1000);
    // The reader hears each round before the next is said, so its own queue never fills.
    for _ in 0..ROUNDS {
        for _ in 0..32 {
            talker.say(&line);
        }
        for _ in 0..32 {
            hear_until(&mut reader, &line);
        }
    }
    let after = chat.rss_kib();
    // What the slow one gets is what the kernel's buffers and its queue held when it was
    // cut off, then its end of file (or a reset), never all 16 MiB.
    let mut got = Vec::new();
    match slow.lines.read_to_end(&mut got) {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        Err(e) => panic!(
            "the slow client was not cut off: {e} after {} bytes",
            got.len()
        ),
    }
    assert!(got.len() < ROUNDS * 32 * 1000, "{} bytes", got.len());
    assert!(
        after < before + 8192 || chat.sanitized(),
        "RSS {before} KiB before, {after} KiB after 16 MiB for a client that never reads"
    );
    // The others are still served.
    talker.say("still here");
    hear_until(&mut reader, "still here");
    let (code, err) = chat.stop();
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains("cutting off a member that does not read"),
        "{err:?}"
    );
}

#[test]
#[cfg_attr(miri, ignore = "Miri cannot run processes")]
fn an_idle_client_is_closed_never_early() {
    let idle = Duration::from_millis(300);
    let Some(chat) = Chat::start(idle.as_millis() as u64) else {
        return;
    };
    let opened = Instant::now();
    let mut quiet = chat.connect();
    let mut rest = String::new();
    quiet.lines.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "idle for too long, bye\n");
    assert!(
        opened.elapsed() >= idle,
        "closed after {:?}",
        opened.elapsed()
    );
    let (code, err) = chat.stop();
    assert_eq!(code, Some(0), "{err}");
}

#[test]
#[cfg_attr(miri, ignore = "Miri cannot run processes")]
fn sigterm_tells_every_client_and_exits_zero() {
    let Some(chat) = Chat::start(60_000) else {
        return;
    };
    let mut clients = vec![chat.connect(), chat.connect()];
    join(&mut clients);
    let (code, err) = chat.stop();
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("stopping: SIGTERM"), "{err:?}");
    for mut c in clients {
        let mut rest = String::new();
        c.lines.read_to_string(&mut rest).unwrap();
        assert!(
            rest.ends_with("the server is shutting down, bye\n"),
            "{rest:?}"
        );
    }
}
