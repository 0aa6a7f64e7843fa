//! One subscriber, several descriptors and timers of its own: tags on events, records deleted
//! with their owner (pending events skipped, freed once), ghost records, `init`, owned timers.

mod common;
use barepoll::sys::{self, AsFd, AsRawFd, BorrowedFd, OwnedFd};
use barepoll::{Error, Event, Key, Ops, Reactor, Subscriber, Timer, TimerKey};
use common::*;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

const NOW: Option<Duration> = Some(Duration::ZERO);

fn exhaust_descriptors() -> u64 {
    let limit = eventfd(0).as_raw_fd() as u64;
    fd_limit(limit)
}

/// A device in the style of a VMM's: its own eventfd and three more, added in `init` under
/// tags 1..=3, with what it saw and whether it was dropped.
struct Device {
    own: OwnedFd,
    extra: Vec<Option<OwnedFd>>,
    seen: Rc<RefCell<Vec<u32>>>,
    drops: Rc<Cell<u32>>,
    on_event: fn(&mut Device, Event, &mut Ops<'_>),
    fail_init: bool,
    key: Option<Key>,
}

impl Device {
    fn new(ready: [u32; 4]) -> Device {
        Device {
            own: eventfd(ready[0]),
            extra: ready[1..].iter().map(|&n| Some(eventfd(n))).collect(),
            seen: Rc::default(),
            drops: Rc::default(),
            on_event: |d, e, _| {
                let _ = sys::read(d.fd(e.tag()), &mut [0; 8]);
            },
            fail_init: false,
            key: None,
        }
    }

    fn fd(&self, tag: u32) -> BorrowedFd<'_> {
        match tag {
            0 => self.own.as_fd(),
            t => self.extra[t as usize - 1].as_ref().unwrap().as_fd(),
        }
    }
}

impl AsFd for Device {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.own.as_fd()
    }
}

impl Subscriber for Device {
    fn init(&mut self, ops: &mut Ops<'_>) -> barepoll::Result<()> {
        self.key = Some(ops.key());
        for tag in 1..=self.extra.len() as u32 {
            ops.add_fd(self.fd(tag), tag, readable())?;
        }
        if self.fail_init {
            return Err(Error::Invalid("refused by the test"));
        }
        Ok(())
    }

    fn handle(&mut self, event: Event, ops: &mut Ops<'_>) {
        self.seen.borrow_mut().push(event.tag());
        (self.on_event)(self, event, ops);
    }
}

impl Drop for Device {
    fn drop(&mut self) {
        self.drops.set(self.drops.get() + 1);
    }
}

// Each registration reports under its own tag; the handler changes the interest list (stops
// one, removes another) and the kernel follows.
#[test]
fn a_device_with_three_eventfds_added_in_init_sees_each_by_tag() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let mut d = Device::new([0, 1, 1, 1]);
    d.on_event = |d, e, ops| {
        assert!(!e.is_timer() && e.is_readable());
        if e.tag() == 1 {
            drain(d.fd(1));
            ops.modify_fd(2, barepoll::interest()).unwrap();
            ops.remove_fd(3).unwrap();
        }
        assert_eq!(ops.key(), d.key.unwrap());
    };
    let seen = d.seen.clone();
    let key = r.register(d, readable()).unwrap();
    assert_eq!(r.get::<Device>(key).unwrap().key, Some(key), "init's key");
    // Level-triggered and never read: each reports until the handler changes its interest.
    assert_eq!(r.run_once(NOW).unwrap(), 3);
    assert_eq!(r.run_once(NOW).unwrap(), 0, "a registration still reports");
    // Tag 3's event is skipped if tag 1's handler removed it first (the kernel's order).
    let got = seen.borrow().clone();
    assert!(
        got.contains(&1) && got.iter().all(|t| (1..=3).contains(t)),
        "{got:?}"
    );
    assert!(
        matches!(r.remove_fd(key, 3), Err(Error::Invalid(_))),
        "removed twice"
    );
    // The reactor can change them too, and the tag comes through.
    r.modify_fd(key, 2, readable()).unwrap();
    seen.borrow_mut().clear();
    r.get_mut::<Device>(key).unwrap().on_event = |d, e, _| {
        let _ = sys::read(d.fd(e.tag()), &mut [0; 8]);
    };
    r.run_once(NOW).unwrap();
    assert_eq!(*seen.borrow(), [2]);
    // Tags are unique, 0 is the device's own, numbers are registered once.
    let other = eventfd(0);
    assert!(matches!(
        r.add_fd(key, other.as_fd(), 1, readable()),
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        r.add_fd(key, other.as_fd(), 0, readable()),
        Err(Error::Invalid(_))
    ));
    let drops = r.get::<Device>(key).unwrap().drops.clone();
    r.delete(key).unwrap();
    assert_eq!(drops.get(), 1);
    assert_eq!(r.remove_fd(key, 2), Err(Error::StaleKey(key)));
}

/// A subscriber whose own fd and further fd are shared (to register one number twice).
struct Shared {
    own: Rc<OwnedFd>,
    extra: Option<Rc<OwnedFd>>,
}

impl AsFd for Shared {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.own.as_fd()
    }
}

impl Subscriber for Shared {
    fn init(&mut self, ops: &mut Ops<'_>) -> barepoll::Result<()> {
        match &self.extra {
            Some(fd) => ops.add_fd(fd.as_fd(), 1, readable()),
            None => Ok(()),
        }
    }
    fn handle(&mut self, _: Event, _: &mut Ops<'_>) {}
}

// A number registered already (another subscriber's own fd, or a record's) is refused as such,
// and the refused registration is undone.
#[test]
fn a_number_registered_twice_is_already_registered() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let x = Rc::new(eventfd(0));
    r.register(
        Shared {
            own: x.clone(),
            extra: None,
        },
        readable(),
    )
    .unwrap();
    let y = Rc::new(eventfd(0));
    let z = Rc::new(eventfd(0));
    let refused = r.register(
        Shared {
            own: y.clone(),
            extra: Some(x.clone()),
        },
        readable(),
    );
    assert_eq!(refused, Err(Error::AlreadyRegistered(x.as_raw_fd())));
    assert_eq!(r.len(), 1, "the refused subscriber stayed");
    // Its own number is free again; a record's number cannot be another's own fd.
    let k = r
        .register(
            Shared {
                own: y.clone(),
                extra: Some(z.clone()),
            },
            readable(),
        )
        .unwrap();
    assert_eq!(
        r.register(
            Shared {
                own: z.clone(),
                extra: None
            },
            readable()
        ),
        Err(Error::AlreadyRegistered(z.as_raw_fd()))
    );
    r.delete(k).unwrap();
    r.register(
        Shared {
            own: z.clone(),
            extra: None,
        },
        readable(),
    )
    .unwrap();
}

// A failed `init` undoes the registration: its records removed (their numbers free), the
// subscriber dropped once, the error returned.
#[test]
fn a_failed_init_undoes_everything() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let mut d = Device::new([1, 1, 1, 1]);
    d.fail_init = true;
    let drops = d.drops.clone();
    let numbers: Vec<i32> = (1..=3).map(|t| d.fd(t).as_raw_fd()).collect();
    assert_eq!(
        r.register(d, readable()),
        Err(Error::Invalid("refused by the test"))
    );
    assert_eq!(drops.get(), 1);
    assert_eq!(r.len(), 0);
    assert_eq!(r.run_once(NOW).unwrap(), 0, "a record outlived its owner");
    // The numbers were closed with the device; new fds take them and register.
    let fresh: Vec<OwnedFd> = (0..4).map(|_| eventfd(1)).collect();
    for fd in fresh {
        if numbers.contains(&fd.as_raw_fd()) {
            r.register(Probe::new(fd).0, readable()).unwrap();
        }
    }
}

// Invariants 2 and 3 per registration: the owner deletes itself at its first event; the
// events of its other registrations pending in the same batch are skipped; it is dropped
// once, when the batch is done.
#[test]
fn deleting_a_multi_fd_subscriber_skips_its_pending_events_and_frees_once() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let mut d = Device::new([1, 1, 1, 1]);
    d.on_event = |d, _, ops| {
        ops.delete_self().unwrap();
        assert_eq!(d.drops.get(), 0, "dropped under its handler");
    };
    let (seen, drops) = (d.seen.clone(), d.drops.clone());
    let key = r.register(d, readable()).unwrap();
    assert_eq!(
        r.run_once(NOW).unwrap(),
        4,
        "one batch of its four registrations"
    );
    assert_eq!(
        seen.borrow().len(),
        1,
        "a dead registration's event ran: {:?}",
        seen.borrow()
    );
    assert_eq!(drops.get(), 1);
    assert_eq!(r.delete(key), Err(Error::StaleKey(key)));
    assert_eq!(r.run_once(NOW).unwrap(), 0);
}

/// A device whose further fd safe code can close behind the reactor's back.
fn closable_device(r: &mut Reactor) -> (Key, i32, OwnedFd, Rc<Cell<u32>>) {
    let d = Device::new([0, 0, 0, 0]);
    let drops = d.drops.clone();
    let key = r.register(d, readable()).unwrap();
    let dev = r.get_mut::<Device>(key).unwrap();
    let fd = dev.extra[0].take().unwrap(); // tag 1's fd, out of the device
    let number = fd.as_raw_fd();
    let keeper = dup(&fd);
    drop(fd); // closes `number`; the dup keeps the file and the kernel's registration
    (key, number, keeper, drops)
}

// A record's fd closed behind the reactor's back while a dup keeps the file: its DEL is refused
// when the owner is deleted, the set is rebuilt without it, and nothing of it reports again.
#[test]
fn a_record_closed_behind_the_reactors_back_is_rebuilt_away() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let (key, number, keeper, drops) = closable_device(&mut r);
    r.delete(key).unwrap();
    assert_eq!(drops.get(), 1);
    poke(keeper.as_fd());
    assert_eq!(r.run_once(NOW).unwrap(), 0, "the ghost record reported");
    // The number is free: another subscriber takes it.
    let mut spare = Vec::new();
    let fd = loop {
        let fd = eventfd(1);
        if fd.as_raw_fd() == number {
            break fd;
        }
        assert!(spare.len() < 8, "the number was not free");
        spare.push(fd);
    };
    let (p, c) = Probe::new(fd);
    r.register(p, readable()).unwrap();
    assert_eq!(r.run_once(NOW).unwrap(), 1);
    assert_eq!(c.hits(), 1);
}

// A subscriber's own fd closed behind the reactor's back (a dup keeps the file) keeps its
// number until the subscriber goes: another one cannot add a descriptor under it (the old
// owner's DEL would remove the newcomer's registration and leave its own behind).
#[test]
fn a_number_closed_behind_the_reactors_back_stays_its_subscribers() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let a = r.register(Device::new([0; 4]), readable()).unwrap();
    let b = r.register(Device::new([0; 4]), readable()).unwrap();
    let dev = r.get_mut::<Device>(a).unwrap();
    let keeper = dup(&dev.own);
    let number = dev.own.as_raw_fd();
    drop(std::mem::replace(&mut dev.own, eventfd(0))); // `keeper` keeps the file
    let mut spare = Vec::new();
    let fd = loop {
        let fd = eventfd(1);
        if fd.as_raw_fd() == number {
            break fd;
        }
        assert!(spare.len() < 8, "the number was not free");
        spare.push(fd);
    };
    let refused = r.add_fd(b, fd.as_fd(), 4, readable());
    assert_eq!(refused, Err(Error::AlreadyRegistered(number)));
    // Once its subscriber is gone, the number is anyone's.
    r.delete(a).unwrap();
    r.add_fd(b, fd.as_fd(), 4, readable()).unwrap();
    r.get_mut::<Device>(b).unwrap().extra.push(Some(fd));
    poke(keeper.as_fd());
    assert_eq!(r.run_once(NOW).unwrap(), 1);
    assert_eq!(*r.get::<Device>(b).unwrap().seen.borrow(), [4]);
}

// The same for a further registration's number: until it is removed (or its subscriber goes),
// nothing else registers under it, neither as a subscriber nor as a further registration.
#[test]
fn a_records_number_closed_behind_the_reactors_back_stays_its_own() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let other = r.register(Device::new([0; 4]), readable()).unwrap();
    let (key, number, keeper, _) = closable_device(&mut r);
    let take_number = || {
        let mut spare = Vec::new();
        loop {
            let fd = eventfd(1);
            if fd.as_raw_fd() == number {
                break fd;
            }
            assert!(spare.len() < 8, "the number was not free");
            spare.push(fd);
        }
    };
    let fd = take_number();
    let refused = r.add_fd(other, fd.as_fd(), 4, readable());
    assert_eq!(refused, Err(Error::AlreadyRegistered(number)));
    let (p, _) = Probe::new(fd);
    match r.register(p, readable()) {
        Err(Error::AlreadyRegistered(n)) => assert_eq!(n, number),
        got => panic!("registered under a record's number: {got:?}"),
    }
    // Removed (its DEL refused, the set rebuilt without it), the number is anyone's.
    r.remove_fd(key, 1).unwrap();
    let (p, c) = Probe::new(take_number());
    r.register(p, readable()).unwrap();
    poke(keeper.as_fd());
    assert_eq!(r.run_once(NOW).unwrap(), 1, "one report, the newcomer's");
    assert_eq!(c.hits(), 1);
}

// The same without descriptors for the rebuild: the record is kept as a ghost (the value is
// dropped at once), its reports are not counted, and it goes once a rebuild works.
#[test]
#[cfg_attr(miri, ignore = "resource limits")]
fn a_ghost_record_without_descriptors_goes_once_a_rebuild_works() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let (key, _, keeper, drops) = closable_device(&mut r);
    let plug = eventfd(0);
    let old = exhaust_descriptors();
    let deleted = r.delete(key);
    fd_limit(old);
    assert_eq!(deleted, Ok(()));
    assert_eq!(drops.get(), 1, "the value was kept with the ghost");
    drop(plug);
    poke(keeper.as_fd()); // level-triggered: reports until the set is rebuilt without it
    assert_eq!(r.run_once(NOW).unwrap(), 0, "a ghost's report was counted");
    assert_eq!(r.run_once(NOW).unwrap(), 0, "rebuilt, it reports no more");
    assert_eq!(r.delete(key), Err(Error::StaleKey(key)));
}

/// A subscriber with a timer of its own, counting what it gets.
struct Clock {
    fd: OwnedFd,
    got: Rc<RefCell<Vec<(bool, u32)>>>,
    timer: Option<TimerKey>,
    stop_after: usize,
}

impl AsFd for Clock {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Subscriber for Clock {
    fn init(&mut self, ops: &mut Ops<'_>) -> barepoll::Result<()> {
        let every = Duration::from_millis(1);
        self.timer = Some(ops.arm_own(Timer::after(every).every(every), 5)?);
        Ok(())
    }
    fn handle(&mut self, event: Event, ops: &mut Ops<'_>) {
        self.got.borrow_mut().push((event.is_timer(), event.tag()));
        if self.got.borrow().len() == self.stop_after {
            ops.stop();
        }
    }
}

// An owned timer fires to its owner with its tag; it goes with its owner: no event after, its
// key stale.
#[test]
fn an_owned_timer_fires_to_its_owner_and_goes_with_it() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let got = Rc::new(RefCell::new(Vec::new()));
    let clock = Clock {
        fd: eventfd(0),
        got: got.clone(),
        timer: None,
        stop_after: 3,
    };
    let key = r.register(clock, readable()).unwrap();
    let timer = r.get::<Clock>(key).unwrap().timer.unwrap();
    r.run().unwrap();
    assert_eq!(*got.borrow(), [(true, 5); 3]);
    // A one-shot owned timer from outside, with another tag.
    r.arm_own(key, Timer::after(Duration::ZERO), 6).unwrap();
    got.borrow_mut().clear();
    r.get_mut::<Clock>(key).unwrap().stop_after = 1;
    // Reset by key, then cancelled by key.
    r.reset(timer, Timer::after(Duration::from_secs(3600)))
        .unwrap();
    r.cancel(timer).unwrap();
    r.run().unwrap();
    assert_eq!(*got.borrow(), [(true, 6)]);
    // Deleted with an owned periodic timer armed: the timer goes too.
    let periodic = Timer::after(Duration::from_millis(1)).every(Duration::from_millis(1));
    let t = r.arm_own(key, periodic, 7).unwrap();
    r.delete(key).unwrap();
    assert_eq!(r.cancel(t), Err(Error::StaleTimer(t)));
    let n = got.borrow().len();
    std::thread::sleep(Duration::from_millis(3));
    r.run_once(Some(Duration::from_millis(5))).unwrap();
    assert_eq!(
        got.borrow().len(),
        n,
        "an owned timer fired after its owner went"
    );
    assert_eq!(
        r.arm_own(key, Timer::after(Duration::ZERO), 1),
        Err(Error::StaleKey(key))
    );
}

// A handler of an owned timer's event may delete its own subscriber: dropped after the handler
// returns (never under it), once; the timer goes with it.
#[test]
fn an_owned_timers_handler_deletes_its_owner() {
    struct Bye(OwnedFd, Rc<Cell<u32>>);
    impl AsFd for Bye {
        fn as_fd(&self) -> BorrowedFd<'_> {
            self.0.as_fd()
        }
    }
    impl Subscriber for Bye {
        fn handle(&mut self, _: Event, ops: &mut Ops<'_>) {
            ops.delete_self().unwrap();
            assert_eq!(self.1.get(), 0, "dropped under its handler");
            self.1.set(100); // written through the `&mut`: a freed node would show it
            ops.stop();
        }
    }
    impl Drop for Bye {
        fn drop(&mut self) {
            self.1.set(self.1.get() + 1);
        }
    }
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let drops = Rc::new(Cell::new(0));
    let key = r
        .register(Bye(eventfd(0), drops.clone()), readable())
        .unwrap();
    let every = Duration::from_millis(1);
    let t = r.arm_own(key, Timer::after(every).every(every), 1).unwrap();
    r.run().unwrap();
    assert_eq!(drops.get(), 101);
    assert_eq!(r.cancel(t), Err(Error::StaleTimer(t)));
    assert!(r.is_empty());
}

/// A plain subscriber with a number and a drop counter, reached through `with`.
struct Cell2 {
    fd: OwnedFd,
    n: u32,
    drops: Rc<Cell<u32>>,
}

impl Cell2 {
    fn new(ready: u32) -> (Cell2, Rc<Cell<u32>>) {
        let drops = Rc::new(Cell::new(0));
        (
            Cell2 {
                fd: eventfd(ready),
                n: 0,
                drops: drops.clone(),
            },
            drops,
        )
    }
}

impl AsFd for Cell2 {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Subscriber for Cell2 {
    fn handle(&mut self, _: Event, _: &mut Ops<'_>) {
        let _ = sys::read(self.fd.as_fd(), &mut [0; 8]);
    }
}

impl Drop for Cell2 {
    fn drop(&mut self) {
        self.drops.set(self.drops.get() + 1);
    }
}

// Invariant 12: `with` never lends the running subscriber, nor one lent further up the stack;
// others are lent, nested, and their changes stay.
#[test]
fn with_refuses_the_running_and_the_outer_borrowed_subscriber() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let (b, _) = Cell2::new(0);
    let (c, _) = Cell2::new(0);
    let (kb, kc) = (
        r.register(b, readable()).unwrap(),
        r.register(c, readable()).unwrap(),
    );
    let p = Probe::new(eventfd(1)).0.on_event(move |_, ops| {
        let me = ops.key();
        assert_eq!(ops.with(me, |_: &mut Probe, _| ()), Err(Error::Busy(me)));
        let got = ops.with(kb, |b: &mut Cell2, ops| {
            b.n += 1;
            assert_eq!(ops.with(kb, |_: &mut Cell2, _| ()), Err(Error::Busy(kb)));
            assert_eq!(ops.with(me, |_: &mut Probe, _| ()), Err(Error::Busy(me)));
            ops.with(kc, |c: &mut Cell2, ops| {
                c.n += 10;
                assert_eq!(ops.with(kb, |_: &mut Cell2, _| ()), Err(Error::Busy(kb)));
                c.n
            })
        });
        assert_eq!(got, Ok(Ok(10)));
        assert_eq!(
            ops.with(kb, |_: &mut Probe, _| ()),
            Err(Error::WrongType(kb))
        );
        // The loans ended: lent again.
        assert_eq!(ops.with(kb, |b: &mut Cell2, _| b.n), Ok(1));
        ops.stop();
    });
    let kp = r.register(p, readable()).unwrap();
    r.run().unwrap();
    assert_eq!(
        (r.get::<Cell2>(kb).unwrap().n, r.get::<Cell2>(kc).unwrap().n),
        (1, 10)
    );
    // The running subscriber is lent again once its handler returned.
    r.delete(kc).unwrap();
    r.arm(Timer::after(Duration::ZERO), move |ops: &mut Ops<'_>| {
        assert_eq!(ops.with(kp, |_: &mut Probe, _| 7), Ok(7));
        assert_eq!(
            ops.with(kc, |_: &mut Cell2, _| ()),
            Err(Error::StaleKey(kc))
        );
        ops.stop();
    })
    .unwrap();
    r.run().unwrap();
}

// Deleting the lent subscriber inside the closure: dead at once, dropped after the closure and
// the batch, exactly once; the `&mut` stays valid until the closure returns.
#[test]
fn deleting_the_lent_subscriber_inside_with_drops_it_after_the_closure_once() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let (b, drops) = Cell2::new(0);
    let kb = r.register(b, readable()).unwrap();
    let seen = drops.clone();
    let p = Probe::new(eventfd(1)).0.on_event(move |_, ops| {
        ops.with(kb, |b: &mut Cell2, ops| {
            ops.delete(kb).unwrap();
            b.n = 99; // written through the loan after the delete: a freed node would show
            assert_eq!(seen.get(), 0, "dropped under the loan");
        })
        .unwrap();
        assert_eq!(seen.get(), 0, "dropped before the batch is done");
        assert_eq!(
            ops.with(kb, |_: &mut Cell2, _| ()),
            Err(Error::StaleKey(kb))
        );
        ops.delete_self().unwrap();
    });
    r.register(p, readable()).unwrap();
    r.run_once(None).unwrap();
    assert_eq!(drops.get(), 1);
    // From a timer callback (no batch): dropped when the closure returns.
    let (c, drops) = Cell2::new(0);
    let kc = r.register(c, readable()).unwrap();
    let seen = drops.clone();
    r.arm(Timer::after(Duration::ZERO), move |ops: &mut Ops<'_>| {
        ops.with(kc, |c: &mut Cell2, ops| {
            ops.delete(kc).unwrap();
            c.n = 1;
            assert_eq!(seen.get(), 0, "dropped under the loan");
        })
        .unwrap();
        assert_eq!(seen.get(), 1, "not dropped once the loan ended");
        ops.stop();
    })
    .unwrap();
    r.run().unwrap();
    assert_eq!(drops.get(), 1);
    assert!(r.is_empty());
}

/// A device for a remote call.
#[cfg(feature = "std")]
struct Meter {
    fd: OwnedFd,
    reads: u64,
}

#[cfg(feature = "std")]
impl AsFd for Meter {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(feature = "std")]
impl Subscriber for Meter {
    fn init(&mut self, ops: &mut Ops<'_>) -> barepoll::Result<()> {
        ops.arm_own(Timer::after(Duration::ZERO), 1)?;
        Ok(())
    }
    fn handle(&mut self, event: Event, _: &mut Ops<'_>) {
        if event.is_timer() {
            self.reads += 20;
        } else {
            self.reads += drain(self.fd.as_fd());
        }
    }
}

// The device pattern's remote call: a value computed from the device on the reactor's thread,
// through `with`, returned to another thread.
#[test]
#[cfg(feature = "std")]
fn a_remote_call_reads_a_device_through_with() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let key = r
        .register(
            Meter {
                fd: eventfd(3),
                reads: 0,
            },
            readable(),
        )
        .unwrap();
    let remote = r.remote().unwrap();
    let worker = std::thread::spawn(move || {
        // Until the device saw its eventfd's 3 and its timer's 20.
        loop {
            let reads = remote
                .call(move |ops: &mut Ops<'_>| ops.with(key, |m: &mut Meter, _| m.reads * 2))
                .unwrap()
                .unwrap();
            if reads == 46 {
                remote.call(|ops: &mut Ops<'_>| ops.stop()).unwrap();
                return reads;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    });
    r.run().unwrap();
    assert_eq!(worker.join().unwrap(), 46);
}

// A handler that returns `Err`: the rest of the batch is dispatched, `run` returns the first
// error after it, and later turns run as usual. Timer callbacks report with `Ops::fail`.
#[test]
fn a_failing_handler_ends_run_with_its_error_after_the_batch() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let hits = Rc::new(Cell::new(0u32));
    let (a, b) = (eventfd(1), eventfd(1));
    for (fd, what) in [(a, "a"), (b, "b")] {
        let hits = hits.clone();
        barepoll::interest()
            .read()
            .with_fd(fd)
            .with_handler(move |fd: &mut OwnedFd| -> Result<(), Error> {
                hits.set(hits.get() + 1);
                if drain(fd.as_fd()) == 1 {
                    return Err(Error::Invalid(what)); // the first time only
                }
                Ok(())
            })
            .register_into(&mut r)
            .unwrap();
    }
    let quiet = Rc::new(Cell::new(0u32));
    let seen = quiet.clone();
    barepoll::interest()
        .read()
        .with_fd(eventfd(1))
        .with_handler(move |fd: &mut OwnedFd| {
            seen.set(seen.get() + 1);
            drain(fd.as_fd());
        })
        .register_into(&mut r)
        .unwrap();
    let failed = r.run();
    assert!(
        matches!(failed, Err(Error::Invalid("a" | "b"))),
        "{failed:?}"
    );
    assert_eq!(
        (hits.get(), quiet.get()),
        (2, 1),
        "the rest of the batch was not dispatched"
    );
    // Later turns run as usual, and only the first error of a batch is returned.
    assert_eq!(r.run_once(NOW).unwrap(), 0);
    // A callback reports with `fail`; `run_once` returns it too.
    r.arm(Timer::after(Duration::ZERO), |ops: &mut Ops<'_>| {
        ops.fail(Error::Os(sys::Errno::EIO))
    })
    .unwrap();
    let mut got = Ok(0);
    for _ in 0..100 {
        got = r.run_once(Some(Duration::from_millis(10)));
        if got.is_err() {
            break;
        }
    }
    assert_eq!(got, Err(Error::Os(sys::Errno::EIO)));
    assert_eq!(r.run_once(NOW).unwrap(), 0);
}

// `Ops::take` moves another subscriber out of the reactor from a handler: its fd stays open
// and leaves the epoll set, its pending event in this batch is dropped, its own timers go;
// the running subscriber and one lent by `with` are refused, as are a stale key and a wrong
// type; the taken value is dropped by whoever holds it, once.
#[test]
fn a_handler_takes_another_subscriber_out_with_its_fd_open() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let (victim, drops) = Cell2::new(1); // ready: its event is in the first batch
    let kv = r.register(victim, readable()).unwrap();
    let periodic = Timer::after(Duration::from_millis(1)).every(Duration::from_millis(1));
    let owned_timer = r.arm_own(kv, periodic, 3).unwrap();
    let (other, _) = Cell2::new(0);
    let ko = r.register(other, readable()).unwrap();
    let taken: Rc<RefCell<Option<Cell2>>> = Rc::default();
    let t = taken.clone();
    let p = Probe::new(eventfd(1)).0.on_event(move |_, ops| {
        let me = ops.key();
        assert_eq!(ops.take::<Probe>(me).err(), Some(Error::Busy(me)));
        assert_eq!(ops.take::<Probe>(kv).err(), Some(Error::WrongType(kv)));
        let inner = ops.with(ko, |_: &mut Cell2, ops| {
            assert_eq!(ops.take::<Cell2>(ko).err(), Some(Error::Busy(ko)));
            assert_eq!(ops.take::<Probe>(me).err(), Some(Error::Busy(me)));
        });
        assert_eq!(inner, Ok(()));
        *t.borrow_mut() = Some(ops.take::<Cell2>(kv).unwrap());
        assert_eq!(ops.take::<Cell2>(kv).err(), Some(Error::StaleKey(kv)));
        ops.stop();
    });
    // Registered after the victim; the kernel reports in readiness order, so the victim's
    // event may come before or after the probe's: either way it runs at most once, before.
    let kp = r.register(p, readable()).unwrap();
    r.run().unwrap();
    r.delete(kp).unwrap();
    let value = taken.borrow_mut().take().expect("taken");
    assert_eq!(drops.get(), 0, "dropped by the reactor");
    assert_eq!(r.cancel(owned_timer), Err(Error::StaleTimer(owned_timer)));
    // Its fd is open and out of the set: readable, yet no event comes.
    assert_eq!(sys::write(value.fd.as_fd(), &1u64.to_ne_bytes()), Ok(8));
    std::thread::sleep(Duration::from_millis(3));
    assert_eq!(r.run_once(Some(Duration::from_millis(5))).unwrap(), 0);
    // It can be registered again, in this reactor or another.
    let again = r.register(value, readable()).unwrap();
    assert_eq!(r.run_once(Some(Duration::ZERO)).unwrap(), 1);
    r.delete(again).unwrap();
    assert_eq!(drops.get(), 1);
}

/// A subscriber whose destructor panics.
struct Grenade(OwnedFd);
impl AsFd for Grenade {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}
impl Subscriber for Grenade {
    fn handle(&mut self, _: Event, _: &mut Ops<'_>) {}
}
impl Drop for Grenade {
    fn drop(&mut self) {
        std::panic::panic_any("grenade");
    }
}

// An owner whose destructor panics when a delete drops it at once (from outside, or from a
// timer callback) still takes its timers with it: their keys are stale afterwards.
#[test]
fn an_owner_whose_destructor_panics_takes_its_timers_along() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let far = Duration::from_secs(3600);
    let key = r.register(Grenade(eventfd(0)), readable()).unwrap();
    let t = r.arm_own(key, Timer::after(far).every(far), 1).unwrap();
    let deleted = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| r.delete(key)));
    assert!(deleted.is_err(), "the destructor's panic");
    assert_eq!(r.cancel(t), Err(Error::StaleTimer(t)), "from outside");

    let key = r.register(Grenade(eventfd(0)), readable()).unwrap();
    let t = r.arm_own(key, Timer::after(far).every(far), 1).unwrap();
    r.arm(Timer::after(Duration::ZERO), move |ops: &mut Ops<'_>| {
        let _ = ops.delete(key);
    })
    .unwrap();
    let turn = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| r.run_once(NOW)));
    assert!(turn.is_err(), "the destructor's panic");
    assert_eq!(
        r.cancel(t),
        Err(Error::StaleTimer(t)),
        "from a timer callback"
    );
}

/// Counts its `init` calls; says it has one only if `announced`.
struct Initialised {
    fd: OwnedFd,
    announced: bool,
    inits: Rc<Cell<u32>>,
}

impl AsFd for Initialised {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Subscriber for Initialised {
    fn has_init(&self) -> bool {
        self.announced
    }

    fn init(&mut self, _: &mut Ops<'_>) -> barepoll::Result<()> {
        self.inits.set(self.inits.get() + 1);
        Ok(())
    }

    fn handle(&mut self, _: Event, _: &mut Ops<'_>) {}
}

#[test]
fn init_runs_once_for_a_subscriber_that_has_one_and_never_otherwise() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let inits = Rc::new(Cell::new(0));
    let make = |announced| Initialised {
        fd: eventfd(1),
        announced,
        inits: inits.clone(),
    };
    r.register(make(true), readable()).unwrap();
    assert_eq!(inits.get(), 1, "register ran init {} times", inits.get());
    r.register(make(false), readable()).unwrap();
    assert_eq!(
        inits.get(),
        1,
        "init ran though has_init says there is none"
    );
    // The same from a handler, through `Ops::add`.
    let (with, without) = (make(true), make(false));
    let mut pending = Some((with, without));
    barepoll::interest()
        .read()
        .with_fd(eventfd(1))
        .with_handler(move |ops: &mut Ops<'_>| {
            if let Some((with, without)) = pending.take() {
                ops.add(with, readable()).unwrap();
                ops.add(without, readable()).unwrap();
            }
            ops.stop();
        })
        .register_into(&mut r)
        .unwrap();
    r.run_once(NOW).unwrap();
    assert_eq!(
        inits.get(),
        2,
        "Ops::add ran init {} times",
        inits.get() - 1
    );
    assert_eq!(r.len(), 5);
}
