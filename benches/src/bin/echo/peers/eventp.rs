//! eventp 1, as its echo-server example: handlers registered through its builder, one accept
//! per listener event, each connection edge-triggered. The example leaves out the send buffer;
//! here a connection's closure owns its pending bytes and asks for writability too, and the
//! server's one read buffer is shared through an `Rc<RefCell<_>>`.

use super::conn::{Echo, Status};
use super::{report, BUF};
use eventp::tri_subscriber::WithHandler;
use eventp::{Eventp, Pinned, Subscriber};
use std::cell::RefCell;
use std::io::{self, ErrorKind};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::rc::Rc;

pub fn serve(listener: TcpListener) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let buf = Rc::new(RefCell::new(vec![0u8; BUF]));
    let mut reactor = Eventp::default();
    eventp::interest()
        .read()
        .with_fd(listener)
        .with_handler(move |listener: &mut TcpListener, ep: Pinned<'_, Eventp>| {
            on_connection(listener, ep, &buf)
        })
        .register_into(&mut reactor)?;
    reactor.run_forever()
}

fn on_connection(listener: &TcpListener, mut ep: Pinned<'_, Eventp>, buf: &Rc<RefCell<Vec<u8>>>) {
    let stream = match listener.accept() {
        Ok((stream, _)) => stream,
        Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::Interrupted => return,
        Err(e) => return eprintln!("accept: {e}"),
    };
    if let Err(e) = stream.set_nonblocking(true) {
        return eprintln!("set_nonblocking: {e}");
    }
    let _ = stream.set_nodelay(true);
    let buf = buf.clone();
    let mut echo = Echo::default();
    let registered = eventp::interest()
        .edge_triggered()
        .read()
        .write()
        .with_fd(stream)
        .with_handler(move |stream: &mut TcpStream, mut ep: Pinned<'_, Eventp>| {
            match echo.ready(stream, &mut buf.borrow_mut(), true) {
                Ok(Status::Open) => return,
                Ok(Status::Closed) => {}
                Err(e) => report(&e),
            }
            if let Err(e) = ep.delete(stream.as_raw_fd()) {
                eprintln!("delete: {e}");
            }
        })
        .register_into(&mut ep);
    if let Err(e) = registered {
        eprintln!("register: {e}");
    }
}
