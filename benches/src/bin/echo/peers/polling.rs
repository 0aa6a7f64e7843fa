//! polling 3 in level mode, with connection structs in a `Slab` indexed by key. A connection
//! asks for readability, or for writability alone while a write waits. (polling's default mode
//! is oneshot, which would re-arm every fd with `epoll_ctl` after each event; Linux supports
//! level mode, which a long-lived server there would pick.)

use super::conn::{Echo, Status};
use super::{report, BUF};
use polling::{Event, Events, PollMode, Poller};
use slab::Slab;
use std::io::{self, ErrorKind};
use std::net::{TcpListener, TcpStream};

const SERVER: usize = 0;

struct Conn {
    stream: TcpStream,
    echo: Echo,
    writing: bool,
}

/// Connection `key` of the slab goes by poller key `key + 1`.
fn poller_key(key: usize) -> usize {
    key + 1
}

pub fn serve(listener: TcpListener) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let poller = Poller::new()?;
    // SAFETY: the listener outlives the poller (both live until this function returns).
    unsafe { poller.add_with_mode(&listener, Event::readable(SERVER), PollMode::Level)? };
    let mut conns: Slab<Conn> = Slab::new();
    let mut events = Events::new();
    let mut buf = vec![0u8; BUF];
    loop {
        events.clear();
        if let Err(e) = poller.wait(&mut events, None) {
            if e.kind() == ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        for event in events.iter() {
            if event.key == SERVER {
                accept(&listener, &poller, &mut conns);
                continue;
            }
            let key = event.key - 1;
            let Some(conn) = conns.get_mut(key) else {
                continue;
            };
            let result = conn
                .echo
                .ready(&mut conn.stream, &mut buf, false)
                .and_then(|status| {
                    let writing = conn.echo.waiting();
                    if status == Status::Open && writing != conn.writing {
                        let interest = if writing {
                            Event::writable(event.key)
                        } else {
                            Event::readable(event.key)
                        };
                        poller.modify_with_mode(&conn.stream, interest, PollMode::Level)?;
                        conn.writing = writing;
                    }
                    Ok(status)
                });
            match result {
                Ok(Status::Open) => continue,
                Ok(Status::Closed) => {}
                Err(e) => report(&e),
            }
            let conn = conns.remove(key);
            poller.delete(&conn.stream)?;
        }
    }
}

fn accept(listener: &TcpListener, poller: &Poller, conns: &mut Slab<Conn>) {
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                if let Err(e) = stream.set_nonblocking(true) {
                    eprintln!("set_nonblocking: {e}");
                    continue;
                }
                let _ = stream.set_nodelay(true);
                let entry = conns.vacant_entry();
                let interest = Event::readable(poller_key(entry.key()));
                // SAFETY: the stream is deleted from the poller before the slab drops it.
                match unsafe { poller.add_with_mode(&stream, interest, PollMode::Level) } {
                    Ok(()) => {
                        entry.insert(Conn {
                            stream,
                            echo: Echo::default(),
                            writing: false,
                        });
                    }
                    Err(e) => eprintln!("add: {e}"),
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => {
                eprintln!("accept: {e}");
                break;
            }
        }
    }
}
