//! Interoperation with std (the `std` feature): std sockets register directly through `AsFd`,
//! and errors convert into `std::io::Error`.
#![cfg(feature = "std")]
mod common;

use barepoll::sys;
use barepoll::{interest, Error, Event, Ops, Reactor};
use common::*;
use std::cell::{Cell, RefCell};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::rc::Rc;

#[test]
#[cfg_attr(miri, ignore = "Miri has no sockets")]
fn loopback_tcp_accept_read_and_rdhup() {
    const MSG: &[u8] = b"ping over loopback";
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let received: Rc<RefCell<Vec<u8>>> = Rc::default();
    let closed = Rc::new(Cell::new(false));
    // The client closes only once the server has everything, so the close is reported as an
    // event of its own, with RDHUP set.
    let (got_all, client_may_close) = std::sync::mpsc::channel::<()>();
    let (rc, cl) = (received.clone(), closed.clone());
    interest()
        .read()
        .with_fd(listener)
        .with_handler(move |l: &mut TcpListener, ops: &mut Ops<'_>| {
            let (stream, _) = l.accept().unwrap();
            stream.set_nonblocking(true).unwrap();
            let (rc, cl, got_all) = (rc.clone(), cl.clone(), got_all.clone());
            interest()
                .read()
                .rdhup()
                .with_fd(stream)
                .with_handler(move |s: &mut TcpStream, ev: Event, ops: &mut Ops<'_>| {
                    let mut buf = [0u8; 256];
                    loop {
                        match s.read(&mut buf) {
                            Ok(0) => break,
                            Ok(n) => rc.borrow_mut().extend_from_slice(&buf[..n]),
                            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                                if rc.borrow().len() == MSG.len() {
                                    let _ = got_all.send(());
                                }
                                return;
                            }
                            Err(e) => panic!("{e}"),
                        }
                    }
                    cl.set(ev.is_read_closed());
                    ops.delete_self().unwrap();
                    ops.stop();
                })
                .register_into(ops)
                .unwrap();
        })
        .register_into(&mut r)
        .unwrap();
    let client = std::thread::spawn(move || {
        let mut c = TcpStream::connect(addr).unwrap();
        c.write_all(MSG).unwrap();
        client_may_close.recv().unwrap();
    });
    r.run().unwrap();
    client.join().unwrap();
    assert_eq!(&received.borrow()[..], MSG);
    assert!(
        closed.get(),
        "the peer's close was not reported as read-closed"
    );
    assert_eq!(r.len(), 1);
}

#[test]
fn errors_convert_to_io_errors() {
    let k = {
        let _fds = fd_check();
        let mut r = Reactor::new().unwrap();
        let k = r.register(Probe::new(eventfd(0)).0, readable()).unwrap();
        r.delete(k).unwrap();
        k
    };
    assert_eq!(
        Error::Os(sys::Errno::EPERM).to_string(),
        "operation not permitted (EPERM)"
    );
    assert_eq!(
        Error::AlreadyRegistered(7).to_string(),
        "fd 7 is already registered"
    );
    let e: Box<dyn std::error::Error> = Box::new(Error::Os(sys::Errno::EBADF));
    assert!(e.source().is_some());
    let e: std::io::Error = Error::Os(sys::Errno::EBADF).into();
    assert_eq!(e.raw_os_error(), Some(libc::EBADF));
    let e: std::io::Error = Error::WrongType(k).into();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    let e: std::io::Error = Error::StaleKey(k).into();
    assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
    let e: std::io::Error = Error::AlreadyRegistered(3).into();
    assert_eq!(e.kind(), std::io::ErrorKind::AlreadyExists);
}
