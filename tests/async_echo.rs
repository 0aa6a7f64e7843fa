//! The async_echo example as built by cargo, run as a process with real clients on
//! 127.0.0.1: concurrent clients get their bytes back, an idle client is closed, SIGTERM
//! exits 0.
#![cfg(all(feature = "std", feature = "tasks"))]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Child;
use std::time::{Duration, Instant};

mod common;

/// The running server; killed if a test fails before it stops it.
struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(idle_ms: u64) -> Option<Server> {
    let idle = idle_ms.to_string();
    let (child, addr) = common::start_example(
        "async_echo",
        &["0", "--idle-ms", &idle],
        "async echo listening on ",
    )?;
    Some(Server { child, addr })
}

fn connect(addr: &str) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream
}

#[test]
#[cfg_attr(miri, ignore = "runs a process")]
fn clients_get_their_bytes_back_idle_ones_are_closed_and_sigterm_stops_it() {
    let Some(mut server) = start(300) else {
        return;
    };
    // Concurrent clients, each sending 256 KiB in pieces while reading the echo.
    let clients: Vec<_> = (0..8)
        .map(|seed| {
            let addr = server.addr.clone();
            std::thread::spawn(move || {
                let data: Vec<u8> = (0..256 * 1024).map(|i| (i * 7 + seed) as u8).collect();
                let mut stream = connect(&addr);
                let mut reader = stream.try_clone().unwrap();
                let expected = data.clone();
                let reading = std::thread::spawn(move || {
                    let mut back = vec![0u8; expected.len()];
                    reader.read_exact(&mut back).unwrap();
                    assert!(back == expected, "the echo differs");
                });
                for chunk in data.chunks(10_000) {
                    stream.write_all(chunk).unwrap();
                }
                reading.join().unwrap();
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    // An idle client is closed after the idle timeout, never before.
    let mut idle = connect(&server.addr);
    idle.write_all(b"ping").unwrap();
    let mut buf = [0u8; 4];
    idle.read_exact(&mut buf).unwrap();
    let since = Instant::now();
    assert_eq!(idle.read(&mut buf).unwrap(), 0, "closed by the server");
    assert!(since.elapsed() >= Duration::from_millis(300));
    // SIGTERM: exit 0, saying why.
    let pid = barepoll::sys::Pid::from_u32(server.child.id()).unwrap();
    barepoll::sys::kill(pid, barepoll::sys::Signal::TERM).unwrap();
    let status = server.child.wait().unwrap();
    let mut err = String::new();
    server
        .child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "{status:?}: {err}");
    assert!(err.contains("stopping: SIGTERM"), "{err}");
}
