//! What a subscriber owns besides its fd, reached from outside the reactor's turns by key:
//! further descriptors, each registered under a tag, and timers of its own. Nothing here
//! reaches a subscriber's value.

use super::Reactor;
use crate::error::Result;
use crate::interest::Interest;
use crate::key::Key;
use crate::ops::owned::owned_callback;
use crate::sys::{AsRawFd, BorrowedFd};
use crate::thin::{Core, TIMERS};
use crate::threads::Threads;
use crate::timer::{self, Timer, TimerKey};

impl<D, T: Threads> Reactor<D, T> {
    /// Registers `fd` for the subscriber of `key` too: its events reach that subscriber's
    /// handler with [`Event::tag`](crate::Event::tag) `tag`. The subscriber should own `fd`.
    /// Like [`Ops::add_fd`](crate::Ops::add_fd), from outside.
    ///
    /// # Errors
    /// [`Error::StaleKey`](crate::Error::StaleKey) if `key` names no live subscriber;
    /// otherwise as [`Ops::add_fd`](crate::Ops::add_fd).
    ///
    /// ```
    /// use barepoll::{sys, sys::AsFd, Event, Ops, Reactor, Subscriber};
    ///
    /// use std::rc::Rc;
    ///
    /// struct Two { a: sys::OwnedFd, b: Rc<sys::OwnedFd> }
    /// impl sys::AsFd for Two {
    ///     fn as_fd(&self) -> sys::BorrowedFd<'_> { self.a.as_fd() }
    /// }
    /// impl Subscriber for Two {
    ///     fn handle(&mut self, event: Event, ops: &mut Ops<'_>) {
    ///         assert_eq!(event.tag(), 7);
    ///         ops.stop();
    ///     }
    /// }
    /// let mut reactor = Reactor::new()?;
    /// let b = Rc::new(sys::eventfd(1, 0)?);
    /// let two = Two { a: sys::eventfd(0, 0)?, b: b.clone() };
    /// let key = reactor.register(two, barepoll::interest().read())?;
    /// reactor.add_fd(key, b.as_fd(), 7, barepoll::interest().read())?;
    /// reactor.run()?;
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn add_fd(
        &mut self,
        key: Key,
        fd: BorrowedFd<'_>,
        tag: u32,
        interest: Interest,
    ) -> Result<()> {
        self.settle();
        self.core
            .registry
            .add_fd(key, fd.as_raw_fd(), tag, interest)
    }

    /// Changes the interest of the registration of `key`'s subscriber tagged `tag`.
    ///
    /// # Errors
    /// [`Error::StaleKey`](crate::Error::StaleKey) if `key` names no live subscriber;
    /// otherwise as [`Ops::modify_fd`](crate::Ops::modify_fd).
    ///
    /// ```
    /// # use barepoll::{sys, sys::AsFd, Event, Ops, Reactor, Subscriber};
    /// # struct Two { a: sys::OwnedFd, b: sys::OwnedFd }
    /// # impl sys::AsFd for Two {
    /// #     fn as_fd(&self) -> sys::BorrowedFd<'_> { self.a.as_fd() }
    /// # }
    /// # impl Subscriber for Two {
    /// #     fn init(&mut self, ops: &mut Ops<'_>) -> barepoll::Result<()> {
    /// #         ops.add_fd(self.b.as_fd(), 1, barepoll::interest().read())
    /// #     }
    /// #     fn handle(&mut self, _: Event, _: &mut Ops<'_>) { unreachable!() }
    /// # }
    /// let mut reactor = Reactor::new()?;
    /// let key = reactor.register(Two { a: sys::eventfd(0, 0)?, b: sys::eventfd(1, 0)? },
    ///                            barepoll::interest().read())?;
    /// reactor.modify_fd(key, 1, barepoll::interest())?; // no longer reported
    /// assert_eq!(reactor.run_once(Some(std::time::Duration::ZERO))?, 0);
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn modify_fd(&mut self, key: Key, tag: u32, interest: Interest) -> Result<()> {
        self.core.registry.modify_fd(key, tag, interest)
    }

    /// Removes the registration of `key`'s subscriber tagged `tag`.
    ///
    /// # Errors
    /// [`Error::StaleKey`](crate::Error::StaleKey) if `key` names no live subscriber;
    /// otherwise as [`Ops::remove_fd`](crate::Ops::remove_fd).
    ///
    /// ```
    /// # use barepoll::{sys, sys::AsFd, Event, Ops, Reactor, Subscriber};
    /// # struct Two { a: sys::OwnedFd, b: sys::OwnedFd }
    /// # impl sys::AsFd for Two {
    /// #     fn as_fd(&self) -> sys::BorrowedFd<'_> { self.a.as_fd() }
    /// # }
    /// # impl Subscriber for Two {
    /// #     fn init(&mut self, ops: &mut Ops<'_>) -> barepoll::Result<()> {
    /// #         ops.add_fd(self.b.as_fd(), 1, barepoll::interest().read())
    /// #     }
    /// #     fn handle(&mut self, _: Event, _: &mut Ops<'_>) { unreachable!() }
    /// # }
    /// let mut reactor = Reactor::new()?;
    /// let key = reactor.register(Two { a: sys::eventfd(0, 0)?, b: sys::eventfd(1, 0)? },
    ///                            barepoll::interest().read())?;
    /// reactor.remove_fd(key, 1)?;
    /// assert!(reactor.remove_fd(key, 1).is_err()); // gone
    /// assert_eq!(reactor.run_once(Some(std::time::Duration::ZERO))?, 0);
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn remove_fd(&mut self, key: Key, tag: u32) -> Result<()> {
        self.settle();
        self.core.registry.remove_fd(key, tag)
    }

    /// Arms a timer the subscriber of `key` owns: like [`Ops::arm_own`](crate::Ops::arm_own),
    /// from outside.
    ///
    /// # Errors
    /// [`Error::StaleKey`](crate::Error::StaleKey) if `key` names no live subscriber;
    /// otherwise as [`arm`](Reactor::arm).
    ///
    /// ```
    /// use barepoll::{sys, Event, Ops, Reactor, Subscriber, Timer};
    /// use std::time::Duration;
    ///
    /// struct Alarm(sys::OwnedFd);
    /// impl sys::AsFd for Alarm {
    ///     fn as_fd(&self) -> sys::BorrowedFd<'_> { self.0.as_fd() }
    /// }
    /// impl Subscriber for Alarm {
    ///     fn handle(&mut self, event: Event, ops: &mut Ops<'_>) {
    ///         assert!(event.is_timer() && event.tag() == 2);
    ///         ops.stop();
    ///     }
    /// }
    /// let mut reactor = Reactor::new()?;
    /// let key = reactor.register(Alarm(sys::eventfd(0, 0)?), barepoll::interest().read())?;
    /// reactor.arm_own(key, Timer::after(Duration::from_millis(1)), 2)?;
    /// reactor.run()?;
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn arm_own(&mut self, key: Key, timer: Timer, tag: u32) -> Result<TimerKey> {
        let Core {
            registry, timers, ..
        } = &mut self.core;
        registry.check_owner()?;
        registry.take_in(); // a registrar's key works here at once
        registry.interest(key)?; // a live subscriber, or stale
        if self.events.pending() == 0 {
            registry.settle(); // see `settle`
        }
        timer::alarm::prepare(registry, timers);
        let timer_key = timers.arm_send(timer, owned_callback(key, tag))?;
        if let Err(e) = registry.own_timer(key, timer_key, |k| timers.is_armed(k)) {
            let _ = timers.cancel(timer_key);
            return Err(e);
        }
        registry.flag(TIMERS, true);
        Ok(timer_key)
    }
}
