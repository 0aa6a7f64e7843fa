//! The chat example as built by cargo, run as a process with real clients on 127.0.0.1: a
//! line reaches every other client and not its sender; a client that never reads is cut off
//! while the server's memory stays put; an idle client is closed; SIGTERM exits 0. And a
//! member's handler under the test double (the example's source included as a module), with
//! keys planted wrong.
#![cfg(feature = "std")]

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

mod common;
#[cfg(feature = "testing")]
#[path = "common/planted.rs"]
mod planted;

#[path = "../examples/chat.rs"]
#[allow(dead_code)] // the server itself runs in the built example; the tests drive a member
mod chat;

/// The running server.
struct Chat(common::Running);

impl Chat {
    fn start(idle_ms: u64) -> Option<Chat> {
        let idle = idle_ms.to_string();
        common::Running::start("chat", &["0", "--idle-ms", &idle], "listening on ").map(Chat)
    }

    fn connect(&self) -> Client {
        let stream = self.0.connect();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        Client {
            lines: BufReader::new(stream.try_clone().unwrap()),
            stream,
        }
    }

    fn stop(self) -> (Option<i32>, String) {
        self.0.stop()
    }
}

struct Client {
    stream: TcpStream,
    lines: BufReader<TcpStream>,
}

impl Client {
    fn say(&mut self, text: &str) {
        self.stream
            .write_all(format!("{text}\n").as_bytes())
            .unwrap();
    }

    fn hear(&mut self) -> String {
        let mut line = String::new();
        self.lines.read_line(&mut line).expect("read (timed out?)");
        line
    }
}

/// Makes sure every client has joined: the first says numbered lines until each other one
/// has heard one (a client joins when the server accepts it, which nothing here orders with
/// the lines). Returns how many it said.
fn join(clients: &mut [Client]) -> usize {
    let (first, others) = clients.split_first_mut().unwrap();
    let mut said = 0;
    for other in others.iter_mut() {
        other
            .stream
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let mut line = String::new();
        loop {
            match other.lines.read_line(&mut line) {
                Ok(n) if n > 0 && line.ends_with('\n') => break,
                Ok(0) => panic!("closed while joining"),
                Ok(_) => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    first.say(&format!("sync {said}"));
                    said += 1;
                }
                Err(e) => panic!("joining: {e}"),
            }
        }
        other
            .stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
    }
    said
}

/// Reads lines until one ends with `text`; panics on anything else but the sync lines of
/// `join`.
fn hear_until(client: &mut Client, text: &str) {
    loop {
        let line = client.hear();
        if line.trim_end().ends_with(text) {
            return;
        }
        assert!(line.contains(": sync "), "unexpected line {line:?}");
    }
}

#[test]
#[cfg_attr(miri, ignore = "Miri cannot run processes")]
fn a_line_reaches_every_other_client_and_not_its_sender() {
    let Some(chat) = Chat::start(60_000) else {
        return;
    };
    let mut clients = vec![chat.connect(), chat.connect(), chat.connect()];
    join(&mut clients);
    clients[0].say("hello from a");
    hear_until(&mut clients[1], "hello from a");
    hear_until(&mut clients[2], "hello from a");
    clients[1].say("hello from b");
    hear_until(&mut clients[2], "hello from b");
    // The first line a hears is b's: none of its own came back.
    let heard = clients[0].hear();
    assert!(heard.trim_end().ends_with(": hello from b"), "{heard:?}");
    let (code, err) = chat.stop();
    assert_eq!(code, Some(0), "{err}");
}

#[test]
#[cfg_attr(miri, ignore = "Miri cannot run processes")]
fn a_client_that_never_reads_is_cut_off_and_the_server_stays_small() {
    const ROUNDS: usize = 512; // of 32 lines of 1 KiB: 16 MiB in all
    let Some(chat) = Chat::start(600_000) else {
        return;
    };
    let mut clients = vec![chat.connect(), chat.connect(), chat.connect()];
    join(&mut clients);
    let mut slow = clients.pop().unwrap();
    let (mut talker, mut reader) = (clients.remove(0), clients.remove(0));
    let before = chat.0.rss_kib();
    let line = "x".repeat(1000);
    // The reader hears each round before the next is said, so its own queue never fills.
    for _ in 0..ROUNDS {
        for _ in 0..32 {
            talker.say(&line);
        }
        for _ in 0..32 {
            hear_until(&mut reader, &line);
        }
    }
    let after = chat.0.rss_kib();
    // What the slow one gets is what the kernel's buffers and its queue held when it was
    // cut off, then its end of file (or a reset), never all 16 MiB.
    let mut got = Vec::new();
    match slow.lines.read_to_end(&mut got) {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        Err(e) => panic!(
            "the slow client was not cut off: {e} after {} bytes",
            got.len()
        ),
    }
    assert!(got.len() < ROUNDS * 32 * 1000, "{} bytes", got.len());
    assert!(
        after < before + 8192 || chat.0.sanitized(),
        "RSS {before} KiB before, {after} KiB after 16 MiB for a client that never reads"
    );
    // The others are still served.
    talker.say("still here");
    hear_until(&mut reader, "still here");
    let (code, err) = chat.stop();
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains("cutting off a member that does not read"),
        "{err:?}"
    );
}

#[test]
#[cfg_attr(miri, ignore = "Miri cannot run processes")]
fn an_idle_client_is_closed_never_early() {
    let idle = Duration::from_millis(300);
    let Some(chat) = Chat::start(idle.as_millis() as u64) else {
        return;
    };
    let opened = Instant::now();
    let mut quiet = chat.connect();
    let mut rest = String::new();
    quiet.lines.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "idle for too long, bye\n");
    assert!(
        opened.elapsed() >= idle,
        "closed after {:?}",
        opened.elapsed()
    );
    let (code, err) = chat.stop();
    assert_eq!(code, Some(0), "{err}");
}

#[test]
#[cfg_attr(miri, ignore = "Miri cannot run processes")]
fn sigterm_tells_every_client_and_exits_zero() {
    let Some(chat) = Chat::start(60_000) else {
        return;
    };
    let mut clients = vec![chat.connect(), chat.connect()];
    join(&mut clients);
    let (code, err) = chat.stop();
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("stopping: SIGTERM"), "{err:?}");
    for mut c in clients {
        let mut rest = String::new();
        c.lines.read_to_string(&mut rest).unwrap();
        assert!(
            rest.ends_with("the server is shutting down, bye\n"),
            "{rest:?}"
        );
    }
}

// Keys planted wrong in a member: the test double refuses them as the reactor does (each
// refusal is checked against a real reactor), and the handler's answer to the refusal is what
// the tests assert. A double that accepted every key would let each of these pass unnoticed.
// A recording `Ops` lends no values (`Ops::with`), so a broadcast to the other members cannot
// run under it: the tests take the member's own paths (its idle timer, `leave`, the write
// interest `flush` asks for).
#[cfg(feature = "testing")]
mod planted_keys {
    use super::chat::{self, Member, Room};
    use super::planted::{
        reactor_after_delete, reactor_resets_stale, stale_for, wait_readable, Stale, LATER,
    };
    use barepoll::testing::{Recorder, Request};
    use barepoll::{Error, Event, Key, Ops, Timer, TimerKey};
    use std::io::{ErrorKind, Read, Write};
    use std::net::{Shutdown, TcpListener, TcpStream};

    /// The tag of a member's idle timer.
    const IDLE: u32 = 1;

    /// A member in `room` (keyed as the double will deliver to it; its idle timer `idle`, or
    /// one the double takes as armed) and its client, which reads nothing unless a test
    /// makes it.
    fn new_member(
        rec: &mut Recorder<Room>,
        room: &mut Room,
        idle: Option<TimerKey>,
    ) -> (Member, Key, TcpStream) {
        let idle = idle.unwrap_or_else(|| rec.timer_key());
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (stream, _) = listener.accept().unwrap();
        stream.set_nonblocking(true).unwrap();
        client.set_nonblocking(true).unwrap();
        let key = rec.key_of(&stream);
        (chat::test_member(room, stream, key, idle), key, client)
    }

    /// Whether `client` has been sent nothing (and its connection is open).
    fn heard_nothing(client: &mut TcpStream) -> bool {
        let mut buf = [0u8; 64];
        matches!(client.read(&mut buf), Err(e) if e.kind() == ErrorKind::WouldBlock)
    }

    // Planted: a member's idle timer key is stale. Its first line resets the timer before it
    // is broadcast; refused, the member leaves, its line reaches no one, the others stay.
    #[test]
    #[cfg_attr(miri, ignore = "Miri has no sockets")]
    fn a_stale_idle_timer_is_refused_as_the_reactor_refuses_it_and_the_member_leaves() {
        for how in Stale::ALL {
            let (real_key, real) = reactor_resets_stale(how);
            assert_eq!(real, Err(Error::StaleTimer(real_key)), "{how:?}");

            let mut rec = Recorder::<Room>::default();
            let mut room = Room::new(LATER);
            let stale = stale_for(&mut rec, &mut room, how);
            rec.clear();

            let (_a, a, mut a_client) = new_member(&mut rec, &mut room, None);
            let (mut member, me, mut client) = new_member(&mut rec, &mut room, Some(stale));
            let (_b, b, mut b_client) = new_member(&mut rec, &mut room, None);
            client.write_all(b"hello\n").unwrap();
            wait_readable(&member);
            rec.deliver_with(
                &mut member,
                Event::readable(),
                barepoll::interest().read(),
                &mut room,
            );
            assert!(
                matches!(rec.requests(), [Request::Delete { key }] if *key == me),
                "{how:?}: the refused reset did not make it leave: {:?}",
                rec.requests()
            );
            assert_eq!(room.members(), [a, b], "{how:?}");
            assert!(
                heard_nothing(&mut a_client) && heard_nothing(&mut b_client),
                "{how:?}"
            );

            // The double's own answer, as the reactor's above.
            let mut answer = None;
            rec.fire_with(
                &mut |ops: &mut Ops<'_, Room>| answer = Some(ops.reset(stale, Timer::after(LATER))),
                &mut room,
            );
            assert_eq!(
                answer,
                Some(Err(Error::StaleTimer(stale))),
                "{how:?}: not as the reactor"
            );
        }
    }

    // Planted: a message still reaches a member that has left (its key deleted). Once the
    // socket takes no more, asking for write interest at that key is refused as the reactor
    // refuses it: `send` fails (the broadcast would cut it off) and nothing is modified.
    #[test]
    #[cfg_attr(miri, ignore = "Miri has no sockets")]
    fn write_interest_at_the_key_of_a_member_that_left_is_refused_as_the_reactor_refuses_it() {
        let (real_key, _, real) = reactor_after_delete();
        assert_eq!(real, Err(Error::StaleKey(real_key)));

        let mut rec = Recorder::<Room>::default();
        let mut room = Room::new(LATER);
        let (_a, a, _a_client) = new_member(&mut rec, &mut room, None);
        let (mut member, me, mut client) = new_member(&mut rec, &mut room, None);
        // Its idle timer fires: it says goodbye and leaves.
        let registered = barepoll::interest().read();
        rec.deliver_with(&mut member, Event::timer(IDLE), registered, &mut room);
        assert!(
            matches!(rec.requests(), [Request::Delete { key }] if *key == me),
            "{:?}",
            rec.requests()
        );
        assert_eq!(room.members(), [a]);
        rec.clear();

        // Lines until the socket takes no more (its client reads nothing) and one is queued.
        let line = [b'x'; 1000];
        let mut sent = Ok(true);
        rec.fire_with(
            &mut |ops: &mut Ops<'_, Room>| {
                for _ in 0..1_000_000 {
                    sent = member.send(&line, ops);
                    if !matches!(sent, Ok(true)) {
                        return;
                    }
                }
            },
            &mut room,
        );
        let refused = sent.expect_err("write interest asked for at a deleted key");
        assert_eq!(refused.kind(), ErrorKind::NotFound);
        let refused = refused
            .into_inner()
            .and_then(|e| e.downcast::<Error>().ok());
        assert_eq!(refused.as_deref(), Some(&Error::StaleKey(me)));
        assert!(rec.requests().is_empty(), "{:?}", rec.requests());
        assert_eq!(room.members(), [a]);
        let mut bye = [0u8; 23];
        client.read_exact(&mut bye).unwrap();
        assert_eq!(&bye, b"idle for too long, bye\n");

        // The double's own answer, as the reactor's above.
        let mut answer = None;
        rec.fire_with(
            &mut |ops: &mut Ops<'_, Room>| answer = Some(ops.modify(me, registered)),
            &mut room,
        );
        assert_eq!(answer, Some(Err(Error::StaleKey(me))), "not as the reactor");
    }

    // Planted: a member leaves twice (its own end of file, then a broadcast holding a stale
    // list cuts it off). The second delete is refused as the reactor refuses it: it is
    // deleted once, and the room keeps every other member.
    #[test]
    #[cfg_attr(miri, ignore = "Miri has no sockets")]
    fn a_member_that_leaves_twice_is_deleted_once_and_the_room_keeps_the_others() {
        let (real_key, real, _) = reactor_after_delete();
        assert_eq!(real, Err(Error::StaleKey(real_key)));

        let mut rec = Recorder::<Room>::default();
        let mut room = Room::new(LATER);
        let (_a, a, _a_client) = new_member(&mut rec, &mut room, None);
        let (mut member, me, client) = new_member(&mut rec, &mut room, None);
        let (_b, b, _b_client) = new_member(&mut rec, &mut room, None);
        client.shutdown(Shutdown::Write).unwrap();
        wait_readable(&member);
        let registered = barepoll::interest().read();
        rec.deliver_with(&mut member, Event::readable(), registered, &mut room);
        assert!(rec.deleted(me), "its end of file: {:?}", rec.requests());
        assert_eq!(room.members(), [a, b]);

        rec.fire_with(
            &mut |ops: &mut Ops<'_, Room>| chat::leave(me, ops),
            &mut room,
        );
        let deletes = rec
            .requests()
            .iter()
            .filter(|r| matches!(r, Request::Delete { .. }))
            .count();
        assert_eq!(deletes, 1, "{:?}", rec.requests());
        assert_eq!(room.members(), [a, b]);
        let mut answer = None;
        rec.fire_with(
            &mut |ops: &mut Ops<'_, Room>| answer = Some(ops.delete(me)),
            &mut room,
        );
        assert_eq!(answer, Some(Err(Error::StaleKey(me))), "not as the reactor");
    }
}
