//! `Interest` (what a subscriber asks the kernel for) and `Event` (what the kernel reports).
//!
//! Both are thin wrappers over the kernel's `EPOLL*` bits; neither allocates or calls anything.

use core::fmt;
use linux_raw_sys::general as k;

/// What a subscriber asks to be woken for. Start from [`interest()`](crate::interest) or
/// [`Interest::empty`] and chain:
///
/// ```
/// let i = barepoll::interest().read().edge();
/// assert!(i.is_read() && i.is_edge() && !i.is_write());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Interest(u32);

macro_rules! interest_bits {
    ($($(#[$doc:meta])* $add:ident, $is:ident = $bit:ident;)*) => {
        impl Interest {
            $(
                $(#[$doc])*
                ///
                #[doc = concat!("```\nlet i = barepoll::interest().", stringify!($add), "();\nassert!(i.", stringify!($is), "());\n```")]
                #[must_use]
                pub const fn $add(self) -> Interest {
                    Interest(self.0 | k::$bit)
                }

                #[doc = concat!("Whether `", stringify!($bit), "` is asked for.")]
                ///
                #[doc = concat!("```\nassert!(!barepoll::Interest::empty().", stringify!($is), "());\n```")]
                pub const fn $is(self) -> bool {
                    self.0 & k::$bit != 0
                }
            )*
        }

        const NAMES: &[(u32, &str)] = &[$((k::$bit, stringify!($add))),*];
    };
}

interest_bits! {
    /// Readable (`EPOLLIN`).
    read, is_read = EPOLLIN;
    /// Writable (`EPOLLOUT`).
    write, is_write = EPOLLOUT;
    /// Urgent or exceptional data (`EPOLLPRI`).
    priority, is_priority = EPOLLPRI;
    /// The peer closed its writing half (`EPOLLRDHUP`).
    rdhup, is_rdhup = EPOLLRDHUP;
    /// Edge-triggered: one event per change of readiness (`EPOLLET`).
    edge, is_edge = EPOLLET;
    /// Report once, then stay silent until re-armed with `Ops::rearm` or a modify
    /// (`EPOLLONESHOT`).
    oneshot, is_oneshot = EPOLLONESHOT;
    /// Wake only one of several epoll instances waiting on the same fd (`EPOLLEXCLUSIVE`, for
    /// a listener shared by several reactors).
    ///
    /// The kernel allows it at registration only, and only with `read`, `write`, `edge` and
    /// `wakeup`: combined with `oneshot`, `rdhup` or `priority` the registration fails with
    /// `EINVAL`. Once registered exclusive, every modify is refused with `EINVAL`
    /// ([`Reactor::modify`](crate::Reactor::modify), [`Ops::modify`](crate::Ops::modify),
    /// [`Ops::modify_self`](crate::Ops::modify_self) and [`Ops::rearm`](crate::Ops::rearm)
    /// alike), as is adding `exclusive` by a modify: delete and register again instead.
    exclusive, is_exclusive = EPOLLEXCLUSIVE;
    /// Hold a wakeup source while the event is pending (`EPOLLWAKEUP`; needs
    /// `CAP_BLOCK_SUSPEND`, silently ignored without it).
    wakeup, is_wakeup = EPOLLWAKEUP;
}

impl Interest {
    /// No readiness at all: only errors and hang-ups are reported.
    ///
    /// ```
    /// assert_eq!(barepoll::Interest::empty(), barepoll::interest());
    /// ```
    pub const fn empty() -> Interest {
        Interest(0)
    }

    /// The kernel bits, as passed to `epoll_ctl`.
    ///
    /// ```
    /// assert_eq!(barepoll::interest().read().bits(), 0x1); // EPOLLIN
    /// ```
    pub const fn bits(self) -> u32 {
        self.0
    }
}

/// Starts an interest chain: `barepoll::interest().read().write()`.
///
/// ```
/// let i = barepoll::interest().read().write();
/// assert!(i.is_read() && i.is_write());
/// ```
pub const fn interest() -> Interest {
    Interest::empty()
}

impl fmt::Debug for Interest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_bits(f, "Interest", self.0, NAMES)
    }
}

/// What the kernel reported for one subscriber in one wait.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Event(u32);

impl Event {
    /// Wraps raw `EPOLL*` bits (for tests and hand-made events).
    ///
    /// ```
    /// let ev = barepoll::Event::from_bits(0x1);
    /// assert!(ev.is_readable());
    /// ```
    pub const fn from_bits(bits: u32) -> Event {
        Event(bits)
    }

    /// A readable event (`EPOLLIN`), for tests.
    ///
    /// ```
    /// assert!(barepoll::Event::readable().is_readable());
    /// ```
    pub const fn readable() -> Event {
        Event(k::EPOLLIN)
    }

    /// A writable event (`EPOLLOUT`), for tests.
    ///
    /// ```
    /// assert!(barepoll::Event::writable().is_writable());
    /// ```
    pub const fn writable() -> Event {
        Event(k::EPOLLOUT)
    }

    /// A hang-up (`EPOLLHUP`), for tests.
    ///
    /// ```
    /// assert!(barepoll::Event::hangup().is_read_closed());
    /// ```
    pub const fn hangup() -> Event {
        Event(k::EPOLLHUP)
    }

    /// The raw `EPOLL*` bits.
    ///
    /// ```
    /// assert_eq!(barepoll::Event::hangup().bits(), 0x10); // EPOLLHUP
    /// ```
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// Data can be read (`EPOLLIN`).
    ///
    /// ```
    /// assert!(barepoll::Event::readable().is_readable());
    /// assert!(!barepoll::Event::from_bits(0).is_readable());
    /// ```
    pub const fn is_readable(self) -> bool {
        self.0 & k::EPOLLIN != 0
    }

    /// Data can be written (`EPOLLOUT`).
    ///
    /// ```
    /// assert!(barepoll::Event::writable().is_writable());
    /// assert!(!barepoll::Event::from_bits(0).is_writable());
    /// ```
    pub const fn is_writable(self) -> bool {
        self.0 & k::EPOLLOUT != 0
    }

    /// An error is pending on the fd (`EPOLLERR`); always reported, whatever the interest.
    ///
    /// ```
    /// assert!(barepoll::Event::from_bits(0x8).is_error());
    /// assert!(!barepoll::Event::from_bits(0).is_error());
    /// ```
    pub const fn is_error(self) -> bool {
        self.0 & k::EPOLLERR != 0
    }

    /// Both directions are closed (`EPOLLHUP`); always reported, whatever the interest.
    ///
    /// ```
    /// assert!(barepoll::Event::hangup().is_hangup());
    /// assert!(!barepoll::Event::from_bits(0).is_hangup());
    /// ```
    pub const fn is_hangup(self) -> bool {
        self.0 & k::EPOLLHUP != 0
    }

    /// No more data will arrive: the peer shut its writing half (`EPOLLRDHUP`, needs
    /// [`Interest::rdhup`]) or the fd hung up entirely (`EPOLLHUP`).
    ///
    /// ```
    /// assert!(barepoll::Event::hangup().is_read_closed());
    /// assert!(!barepoll::Event::from_bits(0).is_read_closed());
    /// ```
    pub const fn is_read_closed(self) -> bool {
        self.0 & (k::EPOLLRDHUP | k::EPOLLHUP) != 0
    }

    /// Urgent or exceptional data is available (`EPOLLPRI`).
    ///
    /// ```
    /// assert!(barepoll::Event::from_bits(0x2).is_priority());
    /// assert!(!barepoll::Event::from_bits(0).is_priority());
    /// ```
    pub const fn is_priority(self) -> bool {
        self.0 & k::EPOLLPRI != 0
    }
}

const EVENT_NAMES: &[(u32, &str)] = &[
    (k::EPOLLIN, "readable"),
    (k::EPOLLOUT, "writable"),
    (k::EPOLLERR, "error"),
    (k::EPOLLHUP, "hangup"),
    (k::EPOLLRDHUP, "read_closed"),
    (k::EPOLLPRI, "priority"),
];

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_bits(f, "Event", self.0, EVENT_NAMES)
    }
}

fn write_bits(
    f: &mut fmt::Formatter<'_>,
    ty: &str,
    bits: u32,
    names: &[(u32, &str)],
) -> fmt::Result {
    write!(f, "{ty}(")?;
    let mut rest = bits;
    let mut sep = "";
    for &(bit, name) in names {
        if bits & bit != 0 {
            write!(f, "{sep}{name}")?;
            sep = " | ";
            rest &= !bit;
        }
    }
    if rest != 0 {
        write!(f, "{sep}{rest:#x}")?;
    }
    write!(f, ")")
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate alloc;
    use alloc::format;

    #[test]
    fn interest_maps_to_kernel_bits() {
        let all = interest()
            .read()
            .write()
            .priority()
            .rdhup()
            .edge()
            .oneshot();
        let bits = k::EPOLLIN | k::EPOLLOUT | k::EPOLLPRI | k::EPOLLRDHUP | k::EPOLLET;
        assert_eq!(all.bits(), bits | k::EPOLLONESHOT);
        assert_eq!(
            interest().exclusive().wakeup().bits(),
            k::EPOLLEXCLUSIVE | k::EPOLLWAKEUP
        );
        assert!(!interest().is_read() && interest().read().is_read());
        assert_eq!(
            format!("{:?}", interest().read().edge()),
            "Interest(read | edge)"
        );
    }

    #[test]
    fn event_decodes_kernel_bits() {
        let e = Event::from_bits(k::EPOLLIN | k::EPOLLHUP | 0x4000_0000);
        assert!(e.is_readable() && e.is_hangup() && e.is_read_closed());
        assert!(!e.is_writable() && !e.is_error() && !e.is_priority());
        assert!(Event::from_bits(k::EPOLLRDHUP).is_read_closed());
        assert_eq!(format!("{e:?}"), "Event(readable | hangup | 0x40000000)");
    }
}
