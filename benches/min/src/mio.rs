//! mio as its docs show it: a `Poll`, a `Waker` (mio's eventfd), one wake, one poll.
use mio::{Events, Poll, Token, Waker};

fn main() {
    let mut poll = Poll::new().unwrap();
    let waker = Waker::new(poll.registry(), Token(0)).unwrap();
    waker.wake().unwrap();
    let mut events = Events::with_capacity(64);
    poll.poll(&mut events, None).unwrap();
    assert!(events.iter().any(|e| e.token() == Token(0)));
    println!("done");
}
