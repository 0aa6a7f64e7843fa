//! A test double for handlers: call a handler, a [`Subscriber`] or a timer callback with a
//! synthetic [`Event`] and a recording [`Ops`], then assert what it asked for. No reactor, no
//! kernel event; the fds a subscriber owns are never touched by the recorder.
//!
//! The recorder checks keys and timer keys as the reactor does: an operation on a key that
//! names no live subscriber of this recorder (deleted, never known, or another recorder's or
//! reactor's) gets [`Error::StaleKey`], one on a timer key that names no armed timer (cancelled,
//! fired, foreign) gets [`Error::StaleTimer`], and a second subscriber for a registered fd
//! number gets [`Error::AlreadyRegistered`]. The keys it knows as live are those of the
//! subscribers it delivered to, the ones `add` returned, and the ones minted for fixtures by
//! [`Recorder::key`] and [`Recorder::timer_key`]. A test can also make the next operation of
//! a kind fail ([`Recorder::fail_next`]), to see how a handler copes.
//!
//! What succeeds is kept, in order, as [`Request`]s, subscribers and callbacks included;
//! [`Recorder::take_requests`] hands them back by value, so a test can call those in turn. A
//! refused operation records nothing, as the reactor changes nothing when it refuses.
//!
//! Needs the `testing` feature (on by default).
//!
//! ```
//! use barepoll::testing::{Recorder, Request};
//! use barepoll::{sys, Event, Ops, Timer};
//! use std::time::Duration;
//!
//! // The handler under test: on hang-up, delete itself; otherwise arm a timeout.
//! let handler = |ev: Event, ops: &mut Ops<'_>| {
//!     if ev.is_hangup() {
//!         ops.delete_self().unwrap();
//!     } else {
//!         ops.arm(Timer::after(Duration::from_secs(30)), |ops: &mut Ops<'_>| ops.stop())
//!             .unwrap();
//!     }
//! };
//! let mut sub = barepoll::interest().read()
//!     .with_fd(sys::eventfd(0, 0)?)
//!     .with_handler(handler)
//!     .into_subscriber();
//!
//! let mut rec = Recorder::new();
//! rec.deliver(&mut sub, Event::readable());
//! let request = rec.take_requests().pop().unwrap();
//! assert!(matches!(request, Request::Arm { timer, .. }
//!     if timer == Timer::after(Duration::from_secs(30))));
//! let mut callback = request.into_callback().unwrap();
//! rec.fire(&mut callback); // the timeout's callback, on its own
//! assert!(rec.stopped());
//!
//! rec.clear();
//! rec.deliver(&mut sub, Event::hangup());
//! assert!(rec.deleted(rec.key_of(&sub)));
//! # Ok::<(), barepoll::Error>(())
//! ```

use crate::error::{Error, Result};
use crate::interest::{Event, Interest};
use crate::key::Key;
use crate::ops::Ops;
use crate::subscriber::Subscriber;
use crate::sys::{AsFd, AsRawFd, RawFd};
use crate::threads::{Admit, Local, Threads};
use crate::timer::{Callback, Timer, TimerKey};
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;

/// What a handler asked of its recording [`Ops`].
pub enum Request<D = (), T: 'static = Local> {
    /// [`Ops::add`]: the subscriber, kept so a test can call it too.
    Add {
        /// The key `add` returned.
        key: Key,
        /// The interest it was added with.
        interest: Interest,
        /// The subscriber.
        subscriber: Box<dyn Subscriber<D, T>>,
    },
    /// [`Ops::modify`], [`Ops::modify_self`] or [`Ops::rearm`].
    Modify {
        /// Whose interest.
        key: Key,
        /// The new interest.
        interest: Interest,
    },
    /// [`Ops::delete`] or [`Ops::delete_self`].
    Delete {
        /// Whose registration.
        key: Key,
    },
    /// [`Ops::stop`].
    Stop,
    /// [`Ops::fail`] (or a handler that returned `Err`).
    Fail {
        /// The error.
        error: crate::Error,
    },
    /// [`Ops::add_fd`].
    AddFd {
        /// The subscriber that asked.
        key: Key,
        /// The fd number.
        fd: RawFd,
        /// Its tag.
        tag: u32,
        /// Its interest.
        interest: Interest,
    },
    /// [`Ops::modify_fd`].
    ModifyFd {
        /// The subscriber that asked.
        key: Key,
        /// Which registration.
        tag: u32,
        /// The new interest.
        interest: Interest,
    },
    /// [`Ops::remove_fd`].
    RemoveFd {
        /// The subscriber that asked.
        key: Key,
        /// Which registration.
        tag: u32,
    },
    /// [`Ops::arm`]: the callback, kept so a test can call it.
    Arm {
        /// The key `arm` returned.
        key: TimerKey,
        /// When it would fire.
        timer: Timer,
        /// The callback.
        callback: Callback<D, T>,
    },
    /// [`Ops::cancel`].
    Cancel {
        /// Which timer.
        key: TimerKey,
    },
    /// [`Ops::reset`].
    Reset {
        /// Which timer.
        key: TimerKey,
        /// Its new schedule.
        timer: Timer,
    },
}

impl<D, T: Threads> Request<D, T> {
    /// The callback of an [`Arm`](Request::Arm) request, by value; `None` for any other.
    ///
    /// ```
    /// use barepoll::{testing::Recorder, Ops, Timer};
    /// use std::time::Duration;
    ///
    /// let mut rec = Recorder::new();
    /// rec.fire(&mut |ops: &mut Ops<'_>| {
    ///     ops.arm(Timer::after(Duration::from_secs(1)), |ops: &mut Ops<'_>| ops.stop()).unwrap();
    /// });
    /// let mut callback = rec.take_requests().pop().unwrap().into_callback().unwrap();
    /// rec.fire(&mut callback);
    /// assert!(rec.stopped());
    /// ```
    pub fn into_callback(self) -> Option<Callback<D, T>> {
        match self {
            Request::Arm { callback, .. } => Some(callback),
            _ => None,
        }
    }

    /// The subscriber of an [`Add`](Request::Add) request, by value; `None` for any other.
    ///
    /// ```
    /// use barepoll::{testing::Recorder, sys, Event, Ops};
    ///
    /// let mut rec = Recorder::new();
    /// rec.fire(&mut |ops: &mut Ops<'_>| {
    ///     barepoll::interest().read()
    ///         .with_fd(sys::eventfd(0, 0).unwrap())
    ///         .with_handler(|ops: &mut Ops<'_>| ops.stop())
    ///         .register_into(ops)
    ///         .unwrap();
    /// });
    /// let mut added = rec.take_requests().pop().unwrap().into_subscriber().unwrap();
    /// rec.deliver(&mut added, Event::readable()); // the subscriber the handler made
    /// assert!(rec.stopped());
    /// ```
    pub fn into_subscriber(self) -> Option<Box<dyn Subscriber<D, T>>> {
        match self {
            Request::Add { subscriber, .. } => Some(subscriber),
            _ => None,
        }
    }
}

impl<D, T: Threads> fmt::Debug for Request<D, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Request::Add { key, interest, .. } => write!(f, "Add({key:?}, {interest:?})"),
            Request::Modify { key, interest } => write!(f, "Modify({key:?}, {interest:?})"),
            Request::Delete { key } => write!(f, "Delete({key:?})"),
            Request::Stop => write!(f, "Stop"),
            Request::Fail { error } => write!(f, "Fail({error:?})"),
            Request::AddFd {
                key,
                fd,
                tag,
                interest,
            } => {
                write!(f, "AddFd({key:?}, fd {fd}, tag {tag}, {interest:?})")
            }
            Request::ModifyFd { key, tag, interest } => {
                write!(f, "ModifyFd({key:?}, tag {tag}, {interest:?})")
            }
            Request::RemoveFd { key, tag } => write!(f, "RemoveFd({key:?}, tag {tag})"),
            Request::Arm { key, timer, .. } => write!(f, "Arm({key:?}, {timer:?})"),
            Request::Cancel { key } => write!(f, "Cancel({key:?})"),
            Request::Reset { key, timer } => write!(f, "Reset({key:?}, {timer:?})"),
        }
    }
}

/// A kind of operation a test can make fail with [`Recorder::fail_next`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Op {
    /// [`Ops::add`] (and `register_into(ops)`).
    Add,
    /// [`Ops::modify`], [`Ops::modify_self`], [`Ops::rearm`].
    Modify,
    /// [`Ops::delete`], [`Ops::delete_self`].
    Delete,
    /// [`Ops::arm`].
    Arm,
    /// [`Ops::cancel`].
    Cancel,
    /// [`Ops::reset`].
    Reset,
}

/// Records what handlers ask of their [`Ops`], refusing what the reactor would refuse; see the
/// [module docs](self).
pub struct Recorder<D = (), T: 'static = Local> {
    requests: Vec<Request<D, T>>,
    /// Every key this recorder knows, the newest last, and whether it is live.
    keys: Vec<(Key, bool)>,
    /// Every timer key this recorder handed out, and whether it names an armed timer.
    timers: Vec<(TimerKey, bool)>,
    /// The owned timers armed here, with their owners: they go when their owner does.
    owned: Vec<(TimerKey, Key)>,
    /// The tags of further descriptors seen added (`true`) or removed (`false`) here, with
    /// their subscribers. A tag not seen may have been added where the double did not look
    /// (in `init` under a reactor): it is taken on trust.
    tags: Vec<(Key, u32, bool)>,
    /// Failures to return, each from the next operation of its kind.
    failures: Vec<(Op, Error)>,
    /// The generation of the keys this recorder gives the subscribers it calls first.
    generation: u64,
}

impl Recorder {
    /// A recorder for handlers of a reactor with no state (`Ops<'_>`). For other reactors,
    /// use `Recorder::<D, T>::default()`.
    ///
    /// ```
    /// let rec = barepoll::testing::Recorder::new();
    /// assert!(rec.requests().is_empty());
    /// ```
    pub fn new() -> Recorder {
        Recorder::default()
    }
}

impl<D, T: Threads> Default for Recorder<D, T> {
    fn default() -> Self {
        Recorder {
            requests: Vec::new(),
            keys: Vec::new(),
            timers: Vec::new(),
            owned: Vec::new(),
            tags: Vec::new(),
            failures: Vec::new(),
            generation: Key::next_generation(),
        }
    }
}

impl<T: Threads> Recorder<(), T> {
    /// Calls `subscriber` with `event`, as the reactor would, with a recording `Ops`. A
    /// delivery stands for a registered subscriber: its key ([`key_of`](Recorder::key_of)) is
    /// live from the first one, and a delivery after a delete (the fd number registered again,
    /// perhaps by a new subscriber) gets a new key.
    ///
    /// ```
    /// use barepoll::testing::Recorder;
    /// use barepoll::{sys, Event, Ops};
    ///
    /// let mut sub = barepoll::interest().read()
    ///     .with_fd(sys::eventfd(0, 0)?)
    ///     .with_handler(|ops: &mut Ops<'_>| ops.stop())
    ///     .into_subscriber();
    /// let mut rec = Recorder::new();
    /// rec.deliver(&mut sub, Event::readable());
    /// assert!(rec.stopped());
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn deliver<S: Subscriber<(), T> + ?Sized>(&mut self, subscriber: &mut S, event: Event) {
        self.deliver_with(subscriber, event, Interest::empty(), &mut ())
    }

    /// Calls a timer callback as the reactor calls a one-shot timer's, with a recording `Ops`
    /// whose [`timer`](Ops::timer) is a fresh timer key: live during the call (the callback
    /// may reset or cancel it), stale after it unless the callback reset it.
    ///
    /// ```
    /// use barepoll::testing::Recorder;
    /// use barepoll::Ops;
    ///
    /// let mut rec = Recorder::new();
    /// rec.fire(&mut |ops: &mut Ops<'_>| ops.stop());
    /// assert!(rec.stopped());
    /// ```
    pub fn fire(&mut self, callback: &mut dyn FnMut(&mut Ops<'_, (), T>)) {
        self.fire_with(callback, &mut ())
    }
}

impl<D, T: Threads> Recorder<D, T> {
    /// The key this recorder gives `subscriber` while it calls it (what `Ops::key` returns):
    /// the key of the newest subscriber this recorder knows with the same fd number.
    ///
    /// ```
    /// use barepoll::testing::Recorder;
    /// use barepoll::{sys, sys::AsRawFd, Event, Ops};
    ///
    /// let fd = sys::eventfd(0, 0)?;
    /// let raw = fd.as_raw_fd();
    /// let mut sub = barepoll::interest().read()
    ///     .with_fd(fd)
    ///     .with_handler(|ops: &mut Ops<'_>| ops.delete_self().unwrap())
    ///     .into_subscriber();
    /// let mut rec = Recorder::new();
    /// rec.deliver(&mut sub, Event::readable());
    /// assert_eq!(rec.key_of(&sub).fd(), raw);
    /// assert!(rec.deleted(rec.key_of(&sub)));
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn key_of<S: AsFd + ?Sized>(&self, subscriber: &S) -> Key {
        let fd = subscriber.as_fd().as_raw_fd();
        self.keys
            .iter()
            .rev()
            .find(|(k, _)| k.fd() == fd)
            .map_or(Key::from_parts(fd, self.generation), |(k, _)| *k)
    }

    /// A key for a fixture: it names no subscriber, but this recorder takes it as live until a
    /// handler deletes it (the key of a peer a handler under test modifies or deletes).
    ///
    /// ```
    /// use barepoll::{testing::Recorder, Error, Ops};
    ///
    /// let mut rec = Recorder::new();
    /// let peer = rec.key();
    /// rec.fire(&mut |ops: &mut Ops<'_>| ops.delete(peer).unwrap());
    /// assert!(rec.deleted(peer));
    /// rec.fire(&mut |ops: &mut Ops<'_>| assert_eq!(ops.delete(peer), Err(Error::StaleKey(peer))));
    /// ```
    pub fn key(&mut self) -> Key {
        let key = Key::fresh(-1);
        self.keys.push((key, true));
        key
    }

    /// A timer key for a fixture: this recorder takes it as naming an armed timer until a
    /// handler cancels it.
    ///
    /// ```
    /// use barepoll::{testing::Recorder, Error, Ops};
    ///
    /// let mut rec = Recorder::new();
    /// let idle = rec.timer_key();
    /// rec.fire(&mut |ops: &mut Ops<'_>| ops.cancel(idle).unwrap());
    /// rec.fire(&mut |ops: &mut Ops<'_>| {
    ///     assert_eq!(ops.cancel(idle), Err(Error::StaleTimer(idle))); // cancelled twice
    /// });
    /// ```
    pub fn timer_key(&mut self) -> TimerKey {
        let index = u32::try_from(self.timers.len()).unwrap_or(u32::MAX);
        let key = TimerKey::recorded(index, self.generation);
        self.timers.push((key, true));
        key
    }

    /// Makes the next operation of kind `op` fail with `error` (after the checks the reactor
    /// makes first: a stale key is still [`Error::StaleKey`]). Several failures queued for one
    /// kind are returned in order.
    ///
    /// ```
    /// use barepoll::testing::{Op, Recorder};
    /// use barepoll::{sys::Errno, Error, Ops, Timer};
    /// use std::time::Duration;
    ///
    /// let mut rec = Recorder::new();
    /// rec.fail_next(Op::Arm, Error::Os(Errno::ENOMEM));
    /// rec.fire(&mut |ops: &mut Ops<'_>| {
    ///     let armed = ops.arm(Timer::after(Duration::from_secs(1)), |_: &mut Ops<'_>| {});
    ///     assert_eq!(armed, Err(Error::Os(Errno::ENOMEM)));
    /// });
    /// assert_eq!(rec.armed().count(), 0); // nothing was armed
    /// ```
    pub fn fail_next(&mut self, op: Op, error: Error) {
        self.failures.push((op, error));
    }

    /// Calls `subscriber` with `event`, its registered `interest` and the reactor's state.
    ///
    /// ```
    /// use barepoll::testing::Recorder;
    /// use barepoll::{sys, Event, Interest, Ops};
    ///
    /// let mut sub = barepoll::interest().read()
    ///     .with_fd(sys::eventfd(0, 0)?)
    ///     .with_handler(|it: Interest, ops: &mut Ops<'_, u32>| {
    ///         *ops.data() += 1;
    ///         assert!(it.is_read());
    ///     })
    ///     .into_subscriber();
    /// let mut rec = Recorder::<u32>::default();
    /// let mut count = 0;
    /// rec.deliver_with(&mut sub, Event::readable(), barepoll::interest().read(), &mut count);
    /// assert_eq!(count, 1);
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn deliver_with<S: Subscriber<D, T> + ?Sized>(
        &mut self,
        subscriber: &mut S,
        event: Event,
        interest: Interest,
        data: &mut D,
    ) {
        let mut key = self.key_of(subscriber);
        match self.keys.iter().rev().find(|(k, _)| *k == key) {
            Some((_, true)) => {}
            Some((_, false)) => {
                key = Key::fresh(key.fd()); // deleted: this is a new registration
                self.keys.push((key, true));
            }
            None => self.keys.push((key, true)),
        }
        let mut ops = Ops::recording(self, data, key, interest, None);
        subscriber.handle(event, &mut ops);
    }

    /// Calls a timer callback with the reactor's state; see [`fire`](Recorder::fire).
    ///
    /// ```
    /// use barepoll::testing::Recorder;
    /// use barepoll::Ops;
    ///
    /// let mut rec = Recorder::<Vec<&str>>::default();
    /// let mut log = Vec::new();
    /// rec.fire_with(&mut |ops: &mut Ops<'_, Vec<&str>>| ops.data().push("tick"), &mut log);
    /// assert_eq!(log, ["tick"]);
    /// ```
    pub fn fire_with(&mut self, callback: &mut dyn FnMut(&mut Ops<'_, D, T>), data: &mut D) {
        let key = self.timer_key();
        let resets_before = self.resets_of(key);
        let mut ops = Ops::recording(self, data, Key::NONE, Interest::empty(), Some(key));
        callback(&mut ops);
        if self.resets_of(key) == resets_before {
            self.retire_timer(key); // a one-shot timer is done once it fired
        }
    }

    /// Everything asked for so far, in order.
    ///
    /// ```
    /// let rec = barepoll::testing::Recorder::new();
    /// assert!(rec.requests().is_empty());
    /// ```
    pub fn requests(&self) -> &[Request<D, T>] {
        &self.requests
    }

    /// Everything asked for so far, handed back by value (subscribers and callbacks to call in
    /// turn); the recorder keeps none of it, as after [`clear`](Recorder::clear). Which keys
    /// and timer keys are live is kept.
    ///
    /// ```
    /// use barepoll::{testing::{Recorder, Request}, Ops};
    ///
    /// let mut rec = Recorder::new();
    /// rec.fire(&mut |ops: &mut Ops<'_>| ops.stop());
    /// assert!(matches!(rec.take_requests()[..], [Request::Stop]));
    /// assert!(rec.requests().is_empty());
    /// ```
    pub fn take_requests(&mut self) -> Vec<Request<D, T>> {
        core::mem::take(&mut self.requests)
    }

    /// Everything asked for so far, mutably.
    ///
    /// ```
    /// let mut rec = barepoll::testing::Recorder::new();
    /// assert!(rec.requests_mut().is_empty());
    /// ```
    pub fn requests_mut(&mut self) -> &mut Vec<Request<D, T>> {
        &mut self.requests
    }

    /// Forgets what was asked for so far (dropping recorded subscribers and callbacks). Which
    /// keys and timer keys are live is kept.
    ///
    /// ```
    /// let mut rec = barepoll::testing::Recorder::new();
    /// rec.fire(&mut |ops: &mut barepoll::Ops<'_>| ops.stop());
    /// rec.clear();
    /// assert!(!rec.stopped());
    /// ```
    pub fn clear(&mut self) {
        self.requests.clear();
    }

    /// Whether `stop` was asked for.
    ///
    /// ```
    /// let mut rec = barepoll::testing::Recorder::new();
    /// assert!(!rec.stopped());
    /// ```
    pub fn stopped(&self) -> bool {
        self.requests.iter().any(|r| matches!(r, Request::Stop))
    }

    /// Whether the registration of `key` was deleted.
    ///
    /// ```
    /// let rec = barepoll::testing::Recorder::new();
    /// # let key = rec.key_of(&barepoll::sys::eventfd(0, 0)?);
    /// assert!(!rec.deleted(key));
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn deleted(&self, key: Key) -> bool {
        self.requests
            .iter()
            .any(|r| matches!(r, Request::Delete { key: k } if *k == key))
    }

    /// The last interest `key` was modified to, if it was.
    ///
    /// ```
    /// use barepoll::{testing::Recorder, sys, Event, Ops};
    ///
    /// let mut sub = barepoll::interest().read()
    ///     .with_fd(sys::eventfd(0, 0)?)
    ///     .with_handler(|ops: &mut Ops<'_>| ops.modify_self(barepoll::interest().write()).unwrap())
    ///     .into_subscriber();
    /// let mut rec = Recorder::new();
    /// rec.deliver(&mut sub, Event::readable());
    /// assert_eq!(rec.modified(rec.key_of(&sub)), Some(barepoll::interest().write()));
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn modified(&self, key: Key) -> Option<Interest> {
        self.requests.iter().rev().find_map(|r| match r {
            Request::Modify { key: k, interest } if *k == key => Some(*interest),
            _ => None,
        })
    }

    /// The timers armed, with their schedules.
    ///
    /// ```
    /// use barepoll::{testing::Recorder, Ops, Timer};
    /// use std::time::Duration;
    ///
    /// let mut rec = Recorder::new();
    /// rec.fire(&mut |ops: &mut Ops<'_>| {
    ///     ops.arm(Timer::after(Duration::from_secs(1)), |_: &mut Ops<'_>| {}).unwrap();
    /// });
    /// assert_eq!(rec.armed().count(), 1);
    /// ```
    pub fn armed(&self) -> impl Iterator<Item = (TimerKey, Timer)> + '_ {
        self.requests.iter().filter_map(|r| match r {
            Request::Arm { key, timer, .. } => Some((*key, *timer)),
            _ => None,
        })
    }

    /// The failure queued for the next operation of kind `op`, if any (taken).
    fn injected(&mut self, op: Op) -> Result<()> {
        match self.failures.iter().position(|(o, _)| *o == op) {
            Some(i) => Err(self.failures.remove(i).1),
            None => Ok(()),
        }
    }

    fn live_key(&self, key: Key) -> Result<usize> {
        match self.keys.iter().position(|(k, live)| *k == key && *live) {
            Some(i) => Ok(i),
            None => Err(Error::StaleKey(key)),
        }
    }

    /// Whether the tag `tag` of `key` was seen added (`true`) or removed (`false`) here.
    fn tag_seen(&self, key: Key, tag: u32) -> Option<bool> {
        let seen = self.tags.iter().find(|&&(k, t, _)| (k, t) == (key, tag));
        seen.map(|&(_, _, added)| added)
    }

    fn see_tag(&mut self, key: Key, tag: u32, added: bool) {
        match self
            .tags
            .iter_mut()
            .find(|(k, t, _)| (*k, *t) == (key, tag))
        {
            Some(seen) => seen.2 = added,
            None => self.tags.push((key, tag, added)),
        }
    }

    /// Refuses, as the reactor does, an operation on a registration of a subscriber that is
    /// gone (`StaleKey`), of tag 0 or of a tag seen removed (`Invalid`).
    fn tag_in_use(&self, key: Key, tag: u32) -> Result<()> {
        self.live_key(key)?;
        if tag == 0 || self.tag_seen(key, tag) == Some(false) {
            return Err(Error::Invalid("no registration has this tag"));
        }
        Ok(())
    }

    fn live_timer(&self, key: TimerKey) -> Result<usize> {
        match self.timers.iter().position(|(k, live)| *k == key && *live) {
            Some(i) => Ok(i),
            None => Err(Error::StaleTimer(key)),
        }
    }

    fn retire_timer(&mut self, key: TimerKey) {
        if let Ok(i) = self.live_timer(key) {
            self.timers[i].1 = false;
        }
    }

    fn resets_of(&self, key: TimerKey) -> usize {
        self.requests
            .iter()
            .filter(|r| matches!(r, Request::Reset { key: k, .. } if *k == key))
            .count()
    }

    pub(crate) fn add<S>(&mut self, subscriber: S, interest: Interest) -> Result<Key>
    where
        S: Subscriber<D, T>,
        T: Admit<S>,
    {
        let fd = subscriber.as_fd().as_raw_fd();
        if self.keys.iter().any(|(k, live)| k.fd() == fd && *live) {
            return Err(Error::AlreadyRegistered(fd));
        }
        self.injected(Op::Add)?;
        // The key `key_of` gives before the first add of this fd; a new one after a delete.
        let key = match self.keys.iter().any(|(k, _)| k.fd() == fd) {
            false => Key::from_parts(fd, self.generation),
            true => Key::fresh(fd),
        };
        self.keys.push((key, true));
        let subscriber = Box::new(subscriber);
        self.requests.push(Request::Add {
            key,
            interest,
            subscriber,
        });
        Ok(key)
    }

    pub(crate) fn modify(&mut self, key: Key, interest: Interest) -> Result<()> {
        self.live_key(key)?;
        self.injected(Op::Modify)?;
        self.requests.push(Request::Modify { key, interest });
        Ok(())
    }

    pub(crate) fn delete(&mut self, key: Key) -> Result<()> {
        let i = self.live_key(key)?;
        self.injected(Op::Delete)?;
        self.keys[i].1 = false;
        // Its owned timers go with it, as the reactor cancels them (no request of their own).
        let mut owned = core::mem::take(&mut self.owned);
        owned.retain(|&(timer, owner)| {
            if owner == key {
                self.retire_timer(timer);
            }
            owner != key
        });
        self.owned = owned;
        self.tags.retain(|&(owner, _, _)| owner != key);
        self.requests.push(Request::Delete { key });
        Ok(())
    }

    pub(crate) fn add_fd(
        &mut self,
        key: Key,
        fd: RawFd,
        tag: u32,
        interest: Interest,
    ) -> Result<()> {
        // The reactor's checks, in its order.
        if tag == 0 {
            return Err(Error::Invalid("tag 0 is the subscriber's own fd"));
        }
        if fd < 0 {
            return Err(Error::Os(crate::sys::Errno::EBADF));
        }
        if self.live_key(key).is_ok() && self.tag_seen(key, tag) == Some(true) {
            return Err(Error::Invalid(
                "a registration of this subscriber has this tag",
            ));
        }
        self.live_key(key)?;
        self.see_tag(key, tag, true);
        self.requests.push(Request::AddFd {
            key,
            fd,
            tag,
            interest,
        });
        Ok(())
    }

    pub(crate) fn modify_fd(&mut self, key: Key, tag: u32, interest: Interest) -> Result<()> {
        self.tag_in_use(key, tag)?;
        self.requests.push(Request::ModifyFd { key, tag, interest });
        Ok(())
    }

    pub(crate) fn remove_fd(&mut self, key: Key, tag: u32) -> Result<()> {
        self.tag_in_use(key, tag)?;
        self.see_tag(key, tag, false);
        self.requests.push(Request::RemoveFd { key, tag });
        Ok(())
    }

    pub(crate) fn fail(&mut self, error: crate::Error) {
        self.requests.push(Request::Fail { error });
    }

    pub(crate) fn stop(&mut self) {
        self.requests.push(Request::Stop);
    }

    pub(crate) fn arm<F>(&mut self, timer: Timer, callback: F) -> Result<TimerKey>
    where
        F: FnMut(&mut Ops<'_, D, T>) + 'static,
        T: Admit<F>,
    {
        self.arm_send_any(timer, callback)
    }

    /// An owned timer of `owner` (its callback the reactor's own, `Send` whatever the thread
    /// mode): refused unless `owner` is live, as the reactor refuses it; it goes with its owner.
    pub(crate) fn arm_own<F>(&mut self, owner: Key, timer: Timer, callback: F) -> Result<TimerKey>
    where
        F: FnMut(&mut Ops<'_, D, T>) + Send + 'static,
    {
        self.live_key(owner)?;
        let key = self.arm_send_any(timer, callback)?;
        self.owned.push((key, owner));
        Ok(key)
    }

    fn arm_send_any<F>(&mut self, timer: Timer, callback: F) -> crate::Result<TimerKey>
    where
        F: FnMut(&mut Ops<'_, D, T>) + 'static,
    {
        timer.checked_period()?;
        self.injected(Op::Arm)?;
        let key = self.timer_key();
        let callback = Box::new(callback);
        self.requests.push(Request::Arm {
            key,
            timer,
            callback,
        });
        Ok(key)
    }

    pub(crate) fn cancel(&mut self, key: TimerKey) -> Result<()> {
        let i = self.live_timer(key)?;
        self.injected(Op::Cancel)?;
        self.timers[i].1 = false;
        self.requests.push(Request::Cancel { key });
        Ok(())
    }

    pub(crate) fn reset(&mut self, key: TimerKey, timer: Timer) -> Result<()> {
        timer.checked_period()?;
        self.live_timer(key)?;
        self.injected(Op::Reset)?;
        self.requests.push(Request::Reset { key, timer });
        Ok(())
    }
}
