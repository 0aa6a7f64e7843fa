//! A test double for handlers: call a handler, a [`Subscriber`] or a timer callback with a
//! synthetic [`Event`] and a recording [`Ops`], then assert what it asked for. No reactor, no
//! kernel event; the fds a subscriber owns are never touched by the recorder.
//!
//! Every request succeeds (adds get fresh keys, deletes and modifies are taken as done); they
//! are kept, in order, as [`Request`]s, subscribers and callbacks included, so a test can call
//! those in turn.
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
//! let Some(Request::Arm { timer, callback, .. }) = rec.requests_mut().first_mut() else {
//!     panic!("no timer armed")
//! };
//! assert_eq!(*timer, Timer::after(Duration::from_secs(30)));
//! let mut callback = std::mem::replace(callback, Box::new(|_: &mut Ops<'_>| {}));
//! rec.clear();
//! rec.fire(&mut callback); // the timeout's callback, on its own
//! assert!(rec.stopped());
//!
//! rec.clear();
//! rec.deliver(&mut sub, Event::hangup());
//! assert!(rec.deleted(rec.key_of(&sub)));
//! # Ok::<(), barepoll::Error>(())
//! ```

use crate::interest::{Event, Interest};
use crate::key::Key;
use crate::ops::Ops;
use crate::subscriber::Subscriber;
use crate::sys::{AsFd, AsRawFd, RawFd};
use crate::threads::{Admit, Local, Threads};
use crate::timer::{Callback, Timer, TimerKey};
use crate::Result;
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;

/// What a handler asked of its recording [`Ops`].
pub enum Request<D: 'static = (), T: 'static = Local> {
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

/// Records what handlers ask of their [`Ops`]; see the [module docs](self).
pub struct Recorder<D: 'static = (), T: 'static = Local> {
    requests: Vec<Request<D, T>>,
    /// The generation of the keys this recorder gives the subscribers it calls.
    generation: u64,
    next_timer: u32,
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
            generation: Key::next_generation(),
            next_timer: 0,
        }
    }
}

impl<T: Threads> Recorder<(), T> {
    /// Calls `subscriber` with `event`, as the reactor would, with a recording `Ops`.
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
    pub fn deliver<S: Subscriber<(), T>>(&mut self, subscriber: &mut S, event: Event) {
        self.deliver_with(subscriber, event, Interest::empty(), &mut ())
    }

    /// Calls a timer callback, as the reactor would when it fires, with a recording `Ops`.
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
    /// The key this recorder gives `subscriber` while it calls it (what `Ops::key` returns).
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
        Key::from_parts(subscriber.as_fd().as_raw_fd(), self.generation)
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
    pub fn deliver_with<S: Subscriber<D, T>>(
        &mut self,
        subscriber: &mut S,
        event: Event,
        interest: Interest,
        data: &mut D,
    ) {
        let key = self.key_of(subscriber);
        let mut ops = Ops::recording(self, data, key, interest, None);
        subscriber.handle(event, &mut ops);
    }

    /// Calls a timer callback with the reactor's state.
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
        let mut ops = Ops::recording(self, data, Key::NONE, Interest::empty(), Some(key));
        callback(&mut ops);
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

    /// Everything asked for so far, to take subscribers or callbacks out of.
    ///
    /// ```
    /// let mut rec = barepoll::testing::Recorder::new();
    /// assert!(rec.requests_mut().is_empty());
    /// ```
    pub fn requests_mut(&mut self) -> &mut Vec<Request<D, T>> {
        &mut self.requests
    }

    /// Forgets what was asked for so far (dropping recorded subscribers and callbacks).
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

    fn timer_key(&mut self) -> TimerKey {
        self.next_timer += 1;
        TimerKey::recorded(self.next_timer, self.generation)
    }

    pub(crate) fn add<S>(&mut self, subscriber: S, interest: Interest) -> Key
    where
        S: Subscriber<D, T>,
        T: Admit<S>,
    {
        let key = Key::fresh(subscriber.as_fd().as_raw_fd());
        let subscriber = Box::new(subscriber);
        self.requests.push(Request::Add {
            key,
            interest,
            subscriber,
        });
        key
    }

    pub(crate) fn modify(&mut self, key: Key, interest: Interest) {
        self.requests.push(Request::Modify { key, interest });
    }

    pub(crate) fn delete(&mut self, key: Key) {
        self.requests.push(Request::Delete { key });
    }

    pub(crate) fn add_fd(
        &mut self,
        key: Key,
        fd: RawFd,
        tag: u32,
        interest: Interest,
    ) -> Result<()> {
        self.requests.push(Request::AddFd {
            key,
            fd,
            tag,
            interest,
        });
        Ok(())
    }

    pub(crate) fn modify_fd(&mut self, key: Key, tag: u32, interest: Interest) -> Result<()> {
        self.requests.push(Request::ModifyFd { key, tag, interest });
        Ok(())
    }

    pub(crate) fn remove_fd(&mut self, key: Key, tag: u32) -> Result<()> {
        self.requests.push(Request::RemoveFd { key, tag });
        Ok(())
    }

    pub(crate) fn fail(&mut self, error: crate::Error) {
        self.requests.push(Request::Fail { error });
    }

    pub(crate) fn stop(&mut self) {
        self.requests.push(Request::Stop);
    }

    pub(crate) fn arm<F>(&mut self, timer: Timer, callback: F) -> crate::Result<TimerKey>
    where
        F: FnMut(&mut Ops<'_, D, T>) + 'static,
        T: Admit<F>,
    {
        self.arm_send_any(timer, callback)
    }

    /// A callback of the reactor's own (an owned timer's), `Send` whatever the thread mode.
    pub(crate) fn arm_send<F>(&mut self, timer: Timer, callback: F) -> crate::Result<TimerKey>
    where
        F: FnMut(&mut Ops<'_, D, T>) + Send + 'static,
    {
        self.arm_send_any(timer, callback)
    }

    fn arm_send_any<F>(&mut self, timer: Timer, callback: F) -> crate::Result<TimerKey>
    where
        F: FnMut(&mut Ops<'_, D, T>) + 'static,
    {
        timer.checked_period()?;
        let key = self.timer_key();
        let callback = Box::new(callback);
        self.requests.push(Request::Arm {
            key,
            timer,
            callback,
        });
        Ok(key)
    }

    pub(crate) fn cancel(&mut self, key: TimerKey) {
        self.requests.push(Request::Cancel { key });
    }

    pub(crate) fn reset(&mut self, key: TimerKey, timer: Timer) -> crate::Result<()> {
        timer.checked_period()?;
        self.requests.push(Request::Reset { key, timer });
        Ok(())
    }
}
