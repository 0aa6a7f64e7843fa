//! mio 1, as its `tcp_server` example with a slab in place of the `HashMap`: `mio::net`
//! sockets, connection structs in a `Slab` indexed by token, each registered readable and
//! writable once (mio is edge-triggered, so reads go on until `WouldBlock`).

use super::conn::{Echo, Status};
use super::{report, BUF};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Registry, Token};
use slab::Slab;
use std::io::{self, ErrorKind};

const SERVER: Token = Token(0);

struct Conn {
    stream: TcpStream,
    echo: Echo,
}

/// Connection `key` of the slab goes by token `key + 1`.
fn token(key: usize) -> Token {
    Token(key + 1)
}

pub fn serve(listener: std::net::TcpListener) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let mut listener = TcpListener::from_std(listener);
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(1024);
    poll.registry()
        .register(&mut listener, SERVER, Interest::READABLE)?;
    let mut conns: Slab<Conn> = Slab::new();
    let mut buf = vec![0u8; BUF];
    loop {
        if let Err(e) = poll.poll(&mut events, None) {
            if e.kind() == ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        for event in events.iter() {
            if event.token() == SERVER {
                accept(&listener, poll.registry(), &mut conns);
                continue;
            }
            let key = event.token().0 - 1;
            let Some(conn) = conns.get_mut(key) else {
                continue; // sporadic events happen
            };
            match conn.echo.ready(&mut conn.stream, &mut buf, true) {
                Ok(Status::Open) => continue,
                Ok(Status::Closed) => {}
                Err(e) => report(&e),
            }
            let mut conn = conns.remove(key);
            poll.registry().deregister(&mut conn.stream)?;
        }
    }
}

fn accept(listener: &TcpListener, registry: &Registry, conns: &mut Slab<Conn>) {
    loop {
        match listener.accept() {
            Ok((mut stream, _)) => {
                let _ = stream.set_nodelay(true);
                let entry = conns.vacant_entry();
                let interest = Interest::READABLE.add(Interest::WRITABLE);
                match registry.register(&mut stream, token(entry.key()), interest) {
                    Ok(()) => {
                        entry.insert(Conn {
                            stream,
                            echo: Echo::default(),
                        });
                    }
                    Err(e) => eprintln!("register: {e}"),
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
