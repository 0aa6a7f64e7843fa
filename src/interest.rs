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

/// What the kernel reported for one registration in one wait, or a subscriber's own timer
/// firing.
///
/// A subscriber with several descriptors tells them apart by [`tag`](Event::tag): 0 for the
/// fd it was registered with, the tag given to `Ops::add_fd` for the
/// others; a timer armed with `Ops::arm_own` reports with
/// [`is_timer`](Event::is_timer) and its own tag.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Event(
    /// The `EPOLL*` bits (and [`TIMER`] for a timer's event, a bit epoll never reports) in the
    /// low half, the tag in the high half: one word, so dispatch passes it in one register
    /// and a kernel event's (tag 0) costs nothing to make.
    u64,
);

/// Marks a timer's event in `Event::bits` (epoll reports only the low 16 bits).
const TIMER: u32 = 1 << 26;

impl Event {
    /// Wraps raw `EPOLL*` bits (for tests and hand-made events), with tag 0.
    ///
    /// ```
    /// let ev = barepoll::Event::from_bits(0x1);
    /// assert!(ev.is_readable() && ev.tag() == 0 && !ev.is_timer());
    /// ```
    pub const fn from_bits(bits: u32) -> Event {
        Event((bits & !TIMER) as u64)
    }

    /// The kernel's bits as they are (it never reports [`TIMER`]): dispatch's constructor.
    #[inline(always)]
    pub(crate) const fn from_kernel(bits: u32) -> Event {
        Event(bits as u64)
    }

    /// The same event, reported for the registration tagged `tag` (for tests and hand-made
    /// events).
    ///
    /// ```
    /// let ev = barepoll::Event::readable().with_tag(3);
    /// assert_eq!(ev.tag(), 3);
    /// assert!(ev.is_readable());
    /// ```
    #[inline(always)]
    pub const fn with_tag(self, tag: u32) -> Event {
        Event(self.0 as u32 as u64 | (tag as u64) << 32)
    }

    /// The event of a subscriber's own timer tagged `tag` firing (for tests and hand-made
    /// events).
    ///
    /// ```
    /// let ev = barepoll::Event::timer(7);
    /// assert!(ev.is_timer() && ev.tag() == 7 && !ev.is_readable());
    /// ```
    pub const fn timer(tag: u32) -> Event {
        Event(TIMER as u64 | (tag as u64) << 32)
    }

    /// Which registration reported: 0 for the fd the subscriber was registered with, the tag
    /// given to `Ops::add_fd` for the others; for a timer's event, the
    /// tag given to `Ops::arm_own`.
    ///
    /// ```
    /// assert_eq!(barepoll::Event::readable().tag(), 0);
    /// ```
    #[inline(always)]
    pub const fn tag(self) -> u32 {
        (self.0 >> 32) as u32
    }

    /// The bits, [`TIMER`] included.
    #[inline(always)]
    const fn raw(self) -> u32 {
        self.0 as u32
    }

    /// Whether this is a subscriber's own timer firing (`Ops::arm_own`)
    /// rather than a descriptor's readiness.
    ///
    /// ```
    /// assert!(barepoll::Event::timer(1).is_timer());
    /// assert!(!barepoll::Event::readable().is_timer());
    /// ```
    #[inline(always)]
    pub const fn is_timer(self) -> bool {
        self.raw() & TIMER != 0
    }

    /// A readable event (`EPOLLIN`), for tests.
    ///
    /// ```
    /// assert!(barepoll::Event::readable().is_readable());
    /// ```
    pub const fn readable() -> Event {
        Event::from_bits(k::EPOLLIN)
    }

    /// A writable event (`EPOLLOUT`), for tests.
    ///
    /// ```
    /// assert!(barepoll::Event::writable().is_writable());
    /// ```
    pub const fn writable() -> Event {
        Event::from_bits(k::EPOLLOUT)
    }

    /// A hang-up (`EPOLLHUP`), for tests.
    ///
    /// ```
    /// assert!(barepoll::Event::hangup().is_read_closed());
    /// ```
    pub const fn hangup() -> Event {
        Event::from_bits(k::EPOLLHUP)
    }

    /// The raw `EPOLL*` bits (none for a timer's event).
    ///
    /// ```
    /// assert_eq!(barepoll::Event::hangup().bits(), 0x10); // EPOLLHUP
    /// assert_eq!(barepoll::Event::timer(1).bits(), 0);
    /// ```
    pub const fn bits(self) -> u32 {
        self.raw() & !TIMER
    }

    /// Data can be read (`EPOLLIN`).
    ///
    /// ```
    /// assert!(barepoll::Event::readable().is_readable());
    /// assert!(!barepoll::Event::from_bits(0).is_readable());
    /// ```
    pub const fn is_readable(self) -> bool {
        self.raw() & k::EPOLLIN != 0
    }

    /// Data can be written (`EPOLLOUT`).
    ///
    /// ```
    /// assert!(barepoll::Event::writable().is_writable());
    /// assert!(!barepoll::Event::from_bits(0).is_writable());
    /// ```
    pub const fn is_writable(self) -> bool {
        self.raw() & k::EPOLLOUT != 0
    }

    /// An error is pending on the fd (`EPOLLERR`); always reported, whatever the interest.
    ///
    /// ```
    /// assert!(barepoll::Event::from_bits(0x8).is_error());
    /// assert!(!barepoll::Event::from_bits(0).is_error());
    /// ```
    pub const fn is_error(self) -> bool {
        self.raw() & k::EPOLLERR != 0
    }

    /// Both directions are closed (`EPOLLHUP`); always reported, whatever the interest.
    ///
    /// ```
    /// assert!(barepoll::Event::hangup().is_hangup());
    /// assert!(!barepoll::Event::from_bits(0).is_hangup());
    /// ```
    pub const fn is_hangup(self) -> bool {
        self.raw() & k::EPOLLHUP != 0
    }

    /// No more data will arrive: the peer shut its writing half (`EPOLLRDHUP`, needs
    /// [`Interest::rdhup`]) or the fd hung up entirely (`EPOLLHUP`).
    ///
    /// ```
    /// assert!(barepoll::Event::hangup().is_read_closed());
    /// assert!(!barepoll::Event::from_bits(0).is_read_closed());
    /// ```
    pub const fn is_read_closed(self) -> bool {
        self.raw() & (k::EPOLLRDHUP | k::EPOLLHUP) != 0
    }

    /// Nothing more can be written: the fd hung up (`EPOLLHUP`), or it reports an error as
    /// its only news or together with writability (`EPOLLERR`, alone or with `EPOLLOUT`: a
    /// pipe whose reading end is closed, a socket reset by its peer). A write would fail
    /// with `EPIPE` or the socket's error.
    ///
    /// ```
    /// use barepoll::Event;
    /// assert!(Event::hangup().is_write_closed());
    /// assert!(Event::from_bits(0x8 | 0x4).is_write_closed()); // EPOLLERR | EPOLLOUT
    /// assert!(Event::from_bits(0x8).is_write_closed()); // EPOLLERR alone
    /// assert!(!Event::from_bits(0x8 | 0x1).is_write_closed()); // an error to read first
    /// assert!(!Event::writable().is_write_closed());
    /// ```
    pub const fn is_write_closed(self) -> bool {
        let bits = self.bits();
        bits & k::EPOLLHUP != 0
            || bits & (k::EPOLLOUT | k::EPOLLERR) == k::EPOLLOUT | k::EPOLLERR
            || bits == k::EPOLLERR
    }

    /// Urgent or exceptional data is available (`EPOLLPRI`).
    ///
    /// ```
    /// assert!(barepoll::Event::from_bits(0x2).is_priority());
    /// assert!(!barepoll::Event::from_bits(0).is_priority());
    /// ```
    pub const fn is_priority(self) -> bool {
        self.raw() & k::EPOLLPRI != 0
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
        write_bits(f, "Event", self.bits(), EVENT_NAMES)?;
        if self.is_timer() {
            write!(f, " timer")?;
        }
        if self.tag() != 0 {
            write!(f, " tag {}", self.tag())?;
        }
        Ok(())
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

    #[test]
    fn tags_and_timer_events() {
        let e = Event::from_kernel(k::EPOLLIN).with_tag(5);
        assert_eq!((e.tag(), e.bits(), e.is_timer()), (5, k::EPOLLIN, false));
        assert_eq!(format!("{e:?}"), "Event(readable) tag 5");
        let t = Event::timer(9);
        assert!(t.is_timer() && !t.is_readable() && t.bits() == 0 && t.tag() == 9);
        assert_eq!(format!("{t:?}"), "Event() timer tag 9");
        assert!(
            !Event::from_bits(TIMER | k::EPOLLIN).is_timer(),
            "a timer made of bits"
        );
        assert_eq!(core::mem::size_of::<Event>(), 8);
    }
}
