//! What a subscriber owns besides its fd, reached through its `Ops`: further descriptors
//! (each registered under a tag, its events reaching the same handler) and timers of its own.
//! It may not reach another subscriber's registrations: every operation here acts on the
//! running subscriber, named by `Ops::key`.

use super::{Ops, Target};
use crate::error::Result;
use crate::interest::Event;
use crate::interest::Interest;
use crate::key::Key;
use crate::subscriber::Subscriber;
use crate::sys::{AsRawFd, BorrowedFd};
use crate::thin::TIMERS;
use crate::threads::Threads;
use crate::timer::{Timer, TimerKey};

impl<D, T: Threads> Ops<'_, D, T> {
    /// Registers `fd` for the running subscriber too: its events reach the same handler, with
    /// [`Event::tag`](crate::Event::tag) `tag`. The subscriber should own `fd` (close it only
    /// after [`remove_fd`](Ops::remove_fd), or by being dropped: deleting the subscriber
    /// removes every registration it has). As for the subscriber's own fd, the number is read
    /// once, here, and used for every later call about this registration.
    ///
    /// # Errors
    /// [`Error::Invalid`](crate::Error::Invalid) if `tag` is 0 (the subscriber's own fd) or
    /// one of its registrations has it already;
    /// [`Error::AlreadyRegistered`](crate::Error::AlreadyRegistered) if the number is
    /// registered already (by this subscriber or another, even if its fd was closed behind the
    /// reactor's back: the number is that registration's until it goes);
    /// [`Error::StaleKey`](crate::Error::StaleKey)
    /// from a timer callback (no subscriber runs); `ENOMEM`; what `epoll_ctl` refuses.
    ///
    /// ```
    /// use barepoll::{sys, sys::AsFd, Event, Ops, Reactor, Subscriber};
    ///
    /// struct Pair { a: sys::OwnedFd, b: sys::OwnedFd, seen: Vec<u32> }
    /// impl sys::AsFd for Pair {
    ///     fn as_fd(&self) -> sys::BorrowedFd<'_> { self.a.as_fd() }
    /// }
    /// impl Subscriber for Pair {
    ///     fn init(&mut self, ops: &mut Ops<'_>) -> barepoll::Result<()> {
    ///         ops.add_fd(self.b.as_fd(), 1, barepoll::interest().read())
    ///     }
    ///     fn handle(&mut self, event: Event, ops: &mut Ops<'_>) {
    ///         let fd = if event.tag() == 0 { self.a.as_fd() } else { self.b.as_fd() };
    ///         match sys::read(fd, &mut [0; 8]) {
    ///             Ok(_) | Err(sys::Errno::EAGAIN) => {}
    ///             Err(e) => panic!("read: {e}"),
    ///         }
    ///         self.seen.push(event.tag());
    ///         if self.seen.len() == 2 { ops.stop() }
    ///     }
    /// }
    ///
    /// let mut reactor = Reactor::new()?;
    /// let (a, b) = (sys::eventfd(1, sys::EFD_NONBLOCK)?, sys::eventfd(1, sys::EFD_NONBLOCK)?);
    /// let key = reactor.register(Pair { a, b, seen: vec![] }, barepoll::interest().read())?;
    /// reactor.run()?;
    /// let mut seen = reactor.get::<Pair>(key)?.seen.clone();
    /// seen.sort();
    /// assert_eq!(seen, [0, 1]);
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn add_fd(&mut self, fd: BorrowedFd<'_>, tag: u32, interest: Interest) -> Result<()> {
        let key = self.current;
        match &mut self.target {
            Target::Live { registry, .. } => registry.add_fd(key, fd.as_raw_fd(), tag, interest),
            #[cfg(feature = "testing")]
            Target::Record(r) => r.add_fd(key, fd.as_raw_fd(), tag, interest),
        }
    }

    /// Changes the interest of the running subscriber's registration tagged `tag`.
    ///
    /// # Errors
    /// [`Error::Invalid`](crate::Error::Invalid) if no registration of the running subscriber
    /// has `tag`; [`Error::StaleKey`](crate::Error::StaleKey) from a timer callback; what
    /// `epoll_ctl` refuses.
    ///
    /// ```
    /// # use barepoll::{sys, sys::AsFd, Event, Ops, Reactor, Subscriber};
    /// struct Quiet { a: sys::OwnedFd, b: sys::OwnedFd }
    /// impl sys::AsFd for Quiet {
    ///     fn as_fd(&self) -> sys::BorrowedFd<'_> { self.a.as_fd() }
    /// }
    /// impl Subscriber for Quiet {
    ///     fn init(&mut self, ops: &mut Ops<'_>) -> barepoll::Result<()> {
    ///         ops.add_fd(self.b.as_fd(), 1, barepoll::interest().read())?;
    ///         ops.modify_fd(1, barepoll::interest()) // nothing reported for it from now on
    ///     }
    ///     fn handle(&mut self, event: Event, ops: &mut Ops<'_>) {
    ///         assert_eq!(event.tag(), 0);
    ///         ops.stop();
    ///     }
    /// }
    /// let mut reactor = Reactor::new()?;
    /// let (a, b) = (sys::eventfd(1, 0)?, sys::eventfd(1, 0)?);
    /// reactor.register(Quiet { a, b }, barepoll::interest().read())?;
    /// reactor.run()?;
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn modify_fd(&mut self, tag: u32, interest: Interest) -> Result<()> {
        let key = self.current;
        match &mut self.target {
            Target::Live { registry, .. } => registry.modify_fd(key, tag, interest),
            #[cfg(feature = "testing")]
            Target::Record(r) => r.modify_fd(key, tag, interest),
        }
    }

    /// Removes the running subscriber's registration tagged `tag`: its later events in this
    /// batch are skipped. The subscriber keeps its fd (close it afterwards, if it is done).
    ///
    /// # Errors
    /// [`Error::Invalid`](crate::Error::Invalid) if no registration of the running subscriber
    /// has `tag`; [`Error::StaleKey`](crate::Error::StaleKey) from a timer callback; `ENOMEM`
    /// if memory to keep the record until the batch is done cannot be had (it stays
    /// registered).
    ///
    /// ```
    /// # use barepoll::{sys, sys::AsFd, Event, Ops, Reactor, Subscriber};
    /// struct Once { a: sys::OwnedFd, b: sys::OwnedFd }
    /// impl sys::AsFd for Once {
    ///     fn as_fd(&self) -> sys::BorrowedFd<'_> { self.a.as_fd() }
    /// }
    /// impl Subscriber for Once {
    ///     fn init(&mut self, ops: &mut Ops<'_>) -> barepoll::Result<()> {
    ///         ops.add_fd(self.b.as_fd(), 1, barepoll::interest().read())
    ///     }
    ///     fn handle(&mut self, event: Event, ops: &mut Ops<'_>) {
    ///         if event.tag() == 1 {
    ///             ops.remove_fd(1).unwrap(); // level-triggered and never read: would repeat
    ///         }
    ///     }
    /// }
    /// let mut reactor = Reactor::new()?;
    /// let (a, b) = (sys::eventfd(0, 0)?, sys::eventfd(1, 0)?);
    /// reactor.register(Once { a, b }, barepoll::interest().read())?;
    /// assert_eq!(reactor.run_once(None)?, 1);
    /// assert_eq!(reactor.run_once(Some(std::time::Duration::ZERO))?, 0);
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn remove_fd(&mut self, tag: u32) -> Result<()> {
        let key = self.current;
        match &mut self.target {
            Target::Live { registry, .. } => registry.remove_fd(key, tag),
            #[cfg(feature = "testing")]
            Target::Record(r) => r.remove_fd(key, tag),
        }
    }

    /// Arms a timer of the running subscriber's own: when it fires, the subscriber's handler
    /// runs with an event whose [`is_timer`](Event::is_timer) is true and whose
    /// [`tag`](Event::tag) is `tag`. It is cancelled (its key stale) when the subscriber is
    /// deleted or taken; [`cancel`](Ops::cancel) and [`reset`](Ops::reset) work on its key.
    ///
    /// # Errors
    /// [`Error::StaleKey`](crate::Error::StaleKey) from a timer callback (no subscriber runs);
    /// otherwise as [`arm`](Ops::arm).
    ///
    /// ```
    /// use barepoll::{sys, Event, Ops, Reactor, Subscriber, Timer};
    /// use std::time::Duration;
    ///
    /// struct Ticker { fd: sys::OwnedFd, ticks: u32 }
    /// impl sys::AsFd for Ticker {
    ///     fn as_fd(&self) -> sys::BorrowedFd<'_> { self.fd.as_fd() }
    /// }
    /// impl Subscriber for Ticker {
    ///     fn init(&mut self, ops: &mut Ops<'_>) -> barepoll::Result<()> {
    ///         ops.arm_own(Timer::after(Duration::from_millis(1)).every(Duration::from_millis(1)), 9)?;
    ///         Ok(())
    ///     }
    ///     fn handle(&mut self, event: Event, ops: &mut Ops<'_>) {
    ///         assert!(event.is_timer() && event.tag() == 9);
    ///         self.ticks += 1;
    ///         if self.ticks == 3 { ops.stop() }
    ///     }
    /// }
    /// let mut reactor = Reactor::new()?;
    /// let key = reactor.register(Ticker { fd: sys::eventfd(0, 0)?, ticks: 0 }, barepoll::interest().read())?;
    /// reactor.run()?;
    /// reactor.delete(key)?; // its timer goes with it
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn arm_own(&mut self, timer: Timer, tag: u32) -> Result<TimerKey> {
        let owner = self.current;
        match &mut self.target {
            Target::Live { registry, timers } => {
                registry.interest(owner)?; // a live subscriber, or stale
                crate::timer::alarm::prepare(registry, timers);
                let key = timers.arm_send(timer, owned_callback(owner, tag))?;
                if let Err(e) = registry.own_timer(owner, key, |k| timers.is_armed(k)) {
                    let _ = timers.cancel(key);
                    return Err(e);
                }
                registry.flag(TIMERS, true);
                Ok(key)
            }
            #[cfg(feature = "testing")]
            Target::Record(r) => r.arm_own(owner, timer, owned_callback(owner, tag)),
        }
    }

    /// Lends `f` the value of the subscriber of `key`, an `S`, with an `Ops` like this one (on
    /// the same reactor, for the same running subscriber): to reach another subscriber from a
    /// handler, a timer callback or a remote job, with no `Rc` or `RefCell`. Neither the value
    /// nor the `Ops` can outlive the call. A subscriber deleted inside `f` (even the lent one)
    /// is dropped after `f` returns, when the batch is done if one is open.
    ///
    /// # Errors
    /// [`Error::Busy`](crate::Error::Busy) for the running subscriber (its handler or `init`
    /// has it) and for one lent to a `with` further up the stack;
    /// [`Error::StaleKey`](crate::Error::StaleKey) if `key` names no live subscriber;
    /// [`Error::WrongType`](crate::Error::WrongType) if it is not an `S`;
    /// [`Error::Invalid`](crate::Error::Invalid) with a recording `Ops` (no values there).
    ///
    /// ```
    /// use barepoll::{sys, sys::AsFd, Event, Key, Ops, Reactor, Subscriber};
    ///
    /// struct Counter { fd: sys::OwnedFd, n: u32 }
    /// impl sys::AsFd for Counter {
    ///     fn as_fd(&self) -> sys::BorrowedFd<'_> { self.fd.as_fd() }
    /// }
    /// impl Subscriber for Counter {
    ///     fn handle(&mut self, _: Event, _: &mut Ops<'_>) {}
    /// }
    /// struct Bumper { fd: sys::OwnedFd, counter: Key }
    /// impl sys::AsFd for Bumper {
    ///     fn as_fd(&self) -> sys::BorrowedFd<'_> { self.fd.as_fd() }
    /// }
    /// impl Subscriber for Bumper {
    ///     fn handle(&mut self, _: Event, ops: &mut Ops<'_>) {
    ///         match sys::read(self.fd.as_fd(), &mut [0; 8]) {
    ///             Ok(_) | Err(sys::Errno::EAGAIN) => {}
    ///             Err(e) => panic!("read: {e}"),
    ///         }
    ///         let n = ops.with(self.counter, |c: &mut Counter, _| { c.n += 1; c.n }).unwrap();
    ///         let me = ops.key();
    ///         assert!(matches!(ops.with(me, |_: &mut Bumper, _| ()), Err(barepoll::Error::Busy(_))));
    ///         if n == 1 { ops.stop() }
    ///     }
    /// }
    /// let mut reactor = Reactor::new()?;
    /// let counter = reactor.register(Counter { fd: sys::eventfd(0, 0)?, n: 0 }, barepoll::interest().read())?;
    /// reactor.register(Bumper { fd: sys::eventfd(1, 0)?, counter }, barepoll::interest().read())?;
    /// reactor.run()?;
    /// assert_eq!(reactor.get::<Counter>(counter)?.n, 1);
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    ///
    /// The value cannot leave the closure:
    ///
    /// ```compile_fail
    /// # use barepoll::{Key, Ops};
    /// # struct S;
    /// # impl barepoll::sys::AsFd for S { fn as_fd(&self) -> barepoll::sys::BorrowedFd<'_> { unimplemented!() } }
    /// # impl barepoll::Subscriber for S { fn handle(&mut self, _: barepoll::Event, _: &mut Ops<'_>) {} }
    /// fn keep<'a>(ops: &mut Ops<'a>, key: Key) -> &'a mut S {
    ///     ops.with(key, |s: &mut S, _| s).unwrap()
    /// }
    /// ```
    ///
    /// nor can the `Ops` it is given, nor can it use the outer one:
    ///
    /// ```compile_fail,E0501
    /// # use barepoll::{Key, Ops};
    /// # struct S;
    /// # impl barepoll::sys::AsFd for S { fn as_fd(&self) -> barepoll::sys::BorrowedFd<'_> { unimplemented!() } }
    /// # impl barepoll::Subscriber for S { fn handle(&mut self, _: barepoll::Event, _: &mut Ops<'_>) {} }
    /// fn outer(ops: &mut Ops<'_>, key: Key) {
    ///     let other = key;
    ///     ops.with(key, |_: &mut S, _| { ops.delete(other).unwrap(); }).unwrap();
    /// }
    /// ```
    ///
    /// ```compile_fail,E0521
    /// # use barepoll::{Key, Ops};
    /// # struct S;
    /// # impl barepoll::sys::AsFd for S { fn as_fd(&self) -> barepoll::sys::BorrowedFd<'_> { unimplemented!() } }
    /// # impl barepoll::Subscriber for S { fn handle(&mut self, _: barepoll::Event, _: &mut Ops<'_>) {} }
    /// fn keep_ops(ops: &mut Ops<'_>, key: Key) {
    ///     let mut kept = None;
    ///     ops.with(key, |_: &mut S, inner: &mut Ops<'_>| { kept = Some(inner); }).unwrap();
    /// }
    /// ```
    pub fn with<S, R>(
        &mut self,
        key: Key,
        f: impl FnOnce(&mut S, &mut Ops<'_, D, T>) -> R,
    ) -> Result<R>
    where
        S: Subscriber<D, T>,
    {
        let running = (self.current, self.interest, self.timer);
        let data = self.data.as_deref_mut();
        match &mut self.target {
            Target::Live { registry, timers } => {
                crate::thin::with(registry, timers, data, running, key, f)
            }
            #[cfg(feature = "testing")]
            Target::Record(_) => Err(crate::Error::Invalid("a recording Ops lends no values")),
        }
    }

    /// Takes another subscriber out of the reactor and gives its value back, with its fd open
    /// (mio's `deregister`, which leaves the socket to its owner): its registrations go, its
    /// own timers are cancelled, and an event of it still waiting in this batch is dropped.
    ///
    /// # Errors
    /// [`Error::Busy`](crate::Error::Busy) for the running subscriber (use
    /// [`delete_self`](Ops::delete_self)) and for one lent further up by [`with`](Ops::with);
    /// [`Error::StaleKey`](crate::Error::StaleKey) and
    /// [`Error::WrongType`](crate::Error::WrongType) as for
    /// [`Reactor::take`](crate::Reactor::take); `ENOMEM` as for [`delete`](Ops::delete); and
    /// [`Error::Invalid`](crate::Error::Invalid) on a recording `Ops`, which holds no values.
    ///
    /// ```
    /// use barepoll::{sys, Event, Key, Ops, Reactor, Subscriber};
    /// use barepoll::sys::{AsFd, BorrowedFd, OwnedFd};
    ///
    /// struct Conn(OwnedFd);
    /// impl AsFd for Conn {
    ///     fn as_fd(&self) -> BorrowedFd<'_> { self.0.as_fd() }
    /// }
    /// impl Subscriber<Option<Conn>> for Conn {
    ///     fn handle(&mut self, _: Event, _: &mut Ops<'_, Option<Conn>>) {}
    /// }
    /// let mut reactor = Reactor::builder().state::<Option<Conn>>().build()?;
    /// let conn = reactor.register(Conn(sys::eventfd(0, 0)?), barepoll::interest().read())?;
    /// barepoll::interest()
    ///     .read()
    ///     .with_fd(sys::eventfd(1, 0)?)
    ///     .with_handler(move |ops: &mut Ops<'_, Option<Conn>>| {
    ///         let taken = ops.take::<Conn>(conn).unwrap(); // out of the reactor, fd open
    ///         *ops.data() = Some(taken);
    ///         ops.stop();
    ///     })
    ///     .register_into(&mut reactor)?;
    /// let mut handed_over = None;
    /// reactor.run_with(&mut handed_over)?;
    /// assert!(handed_over.is_some() && reactor.len() == 1);
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn take<S>(&mut self, key: Key) -> Result<S>
    where
        S: Subscriber<D, T>,
    {
        match &mut self.target {
            Target::Live { registry, timers } => {
                let (value, owned) = crate::thin::take::<S, D, T>(registry, self.current, key)?;
                if let Some(owned) = owned {
                    timers.cancel_all(owned.timers());
                }
                Ok(value)
            }
            #[cfg(feature = "testing")]
            Target::Record(_) => Err(crate::Error::Invalid("a recording Ops holds no values")),
        }
    }

    /// The event of `owner`'s own timer: its handler runs with it (nothing if it is gone).
    pub(crate) fn deliver(&mut self, owner: Key, event: Event) {
        let data = self.data.as_deref_mut();
        match &mut self.target {
            Target::Live { registry, timers } => {
                crate::thin::deliver(registry, timers, data, owner, event)
            }
            #[cfg(feature = "testing")]
            Target::Record(_) => {}
        }
    }
}

/// The callback of a timer `owner` owns.
pub(crate) fn owned_callback<D, T: Threads>(
    owner: Key,
    tag: u32,
) -> impl FnMut(&mut Ops<'_, D, T>) + Send + 'static {
    move |ops: &mut Ops<'_, D, T>| ops.deliver(owner, Event::timer(tag))
}
