//! The peers' echo servers, one file each, written as a user of that crate writes one; the
//! process `echo serve PEER PORT` runs one. What they share: binding 127.0.0.1 and announcing the
//! address as barepoll's example does, the 64 KiB read buffer, and, for the readiness-based
//! ones, the per-connection step in `conn`.

mod calloop;
mod conn;
mod eventp;
mod mio;
mod polling;
mod tokio;

use std::io::{self, ErrorKind, Write};
use std::net::TcpListener;

/// Read buffer: one per server (per connection for tokio, whose tasks each own theirs).
const BUF: usize = 64 * 1024;

/// Runs peer `id` on `port` (0: any free port) until the process is killed.
pub fn serve(id: &str, port: u16) -> io::Result<()> {
    let serve: fn(TcpListener) -> io::Result<()> = match id {
        "mio" => mio::serve,
        "tokio" => tokio::serve,
        "tokio-idle" => tokio::serve_idle,
        "calloop" => calloop::serve,
        "polling" => polling::serve,
        "eventp" => eventp::serve,
        _ => return Err(io::Error::new(ErrorKind::InvalidInput, "unknown peer")),
    };
    let listener = TcpListener::bind(("127.0.0.1", port))?;
    println!("echo server listening on {}", listener.local_addr()?);
    io::stdout().flush()?;
    serve(listener)
}

/// What a server does with a connection's error before closing it: a reset is the client's
/// business, anything else is printed.
fn report(e: &io::Error) {
    if e.kind() != ErrorKind::ConnectionReset && e.kind() != ErrorKind::BrokenPipe {
        eprintln!("connection error: {e}");
    }
}
