//! The per-connection step of the readiness-based peers (mio, calloop, polling, eventp): read
//! into the server's one buffer, write it back at once, keep only what the socket did not take.
//! While anything waits, reading pauses, so a client that does not read cannot grow the server.

use std::io::{self, ErrorKind, Read, Write};

/// A connection's echo state: the bytes read but not yet written back.
#[derive(Default)]
pub struct Echo {
    pending: Vec<u8>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Status {
    Open,
    /// The client shut its writing half and everything is echoed: close the connection.
    Closed,
}

impl Echo {
    /// Whether bytes wait for the socket to take them (a level-triggered server then asks for
    /// writability instead of readability).
    pub fn waiting(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Does what a readiness event allows. Edge-triggered servers pass `drain`: read until
    /// `WouldBlock`, as that registration requires; level-triggered ones read once per event.
    pub fn ready<S: Read + Write>(
        &mut self,
        stream: &mut S,
        buf: &mut [u8],
        drain: bool,
    ) -> io::Result<Status> {
        let flushed = write_some(stream, &self.pending)?;
        self.pending.drain(..flushed);
        if self.waiting() {
            return Ok(Status::Open);
        }
        loop {
            match stream.read(buf) {
                Ok(0) => return Ok(Status::Closed),
                Ok(n) => {
                    let sent = write_some(stream, &buf[..n])?;
                    if sent < n {
                        self.pending.extend_from_slice(&buf[sent..n]);
                        return Ok(Status::Open);
                    }
                    if !drain {
                        return Ok(Status::Open);
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(Status::Open),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

/// Writes as much of `data` as the socket takes now; returns how much that was.
fn write_some<S: Write>(stream: &mut S, data: &[u8]) -> io::Result<usize> {
    let mut done = 0;
    while done < data.len() {
        match stream.write(&data[done..]) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => done += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}
