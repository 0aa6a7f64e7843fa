//! barepoll as its README shows it: a reactor, a ready eventfd whose handler stops the loop.
use barepoll::{sys, Ops, Reactor};

fn main() {
    let mut reactor = Reactor::new().unwrap();
    barepoll::interest()
        .read()
        .with_fd(sys::eventfd(1, sys::EFD_NONBLOCK).unwrap())
        .with_handler(|ops: &mut Ops<'_>| ops.stop())
        .register_into(&mut reactor)
        .unwrap();
    reactor.run().unwrap();
    println!("done");
}
