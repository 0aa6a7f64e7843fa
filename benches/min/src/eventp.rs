//! eventp as its README shows it: a reactor, a handler registered through its builder, one
//! turn. std has no eventfd, so the ready fd is one end of a socket pair with a byte waiting.
use eventp::tri_subscriber::WithHandler;
use eventp::{Eventp, Subscriber};
use std::io::Write;
use std::os::unix::net::UnixStream;

fn main() {
    let (ready, mut other) = UnixStream::pair().unwrap();
    other.write_all(&[1]).unwrap();
    let mut reactor = Eventp::default();
    eventp::interest()
        .read()
        .with_fd(ready)
        .with_handler(|| {})
        .register_into(&mut reactor)
        .unwrap();
    reactor.run_once().unwrap();
    println!("done");
}
