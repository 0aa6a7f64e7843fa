//! The dispatch loop and its panic guard: from a wait's events to their handlers, with no
//! lookup, and nothing lost or freed too early if a handler panics.

use super::node::Header;
use super::registry::Registry;
use crate::error::{Error, Result};
use crate::interest::Event;
use crate::sys::{self, AsFd, EpollEvent, Errno};
use alloc::vec::Vec;
use core::ptr::NonNull;
use core::time::Duration;

/// The most events one wait can return, whatever capacity is asked for: a few thousand cover
/// any load (more ready fds are reported by the next wait), and the buffer costs 12 or 16
/// bytes an event.
pub const MAX_CAPACITY: usize = 4096;

/// The last wait's events, out of `Ops`'s reach: `buf[next..filled]` are still to be
/// dispatched (between turns, only when a handler panicked out of the batch).
pub(crate) struct Events {
    buf: Vec<EpollEvent>,
    next: usize,
    filled: usize,
}

/// The dispatch loop's state. If a handler panics, its drop records how far the batch got
/// (the panicking event included), so the next turn dispatches the rest; no destructor runs
/// during unwinding. `at` lives in a register; the landing pad reads it from there.
struct Batch<'a> {
    registry: &'a mut Registry,
    next: &'a mut usize,
    at: usize,
    filled: usize,
}

impl Drop for Batch<'_> {
    fn drop(&mut self) {
        *self.next = self.at;
        self.registry.in_batch = self.at < self.filled;
    }
}

impl Events {
    /// A buffer for `capacity` events, bounded to `1..=MAX_CAPACITY`.
    pub(crate) fn new(capacity: usize) -> Result<Events> {
        let capacity = capacity.clamp(1, MAX_CAPACITY);
        let mut buf = Vec::new();
        buf.try_reserve_exact(capacity)
            .map_err(|_| Error::Os(Errno::ENOMEM))?;
        buf.resize(capacity, EpollEvent { events: 0, data: 0 });
        Ok(Events {
            buf,
            next: 0,
            filled: 0,
        })
    }

    pub(crate) fn pending(&self) -> usize {
        self.filled - self.next
    }

    /// Dispatches what is left of a batch a handler panicked out of or, if nothing is, waits
    /// once and dispatches what the wait returned. Returns how many events it dispatched. A
    /// signal that interrupts the wait is zero events.
    #[inline(always)]
    pub(crate) fn turn(
        &mut self,
        registry: &mut Registry,
        timeout: Option<Duration>,
    ) -> Result<usize> {
        registry.check_owner()?;
        if self.next == self.filled {
            registry.bury(); // left over if a handler panicked out of the last event
            registry.stop = false; // a new batch begins: a stop is asked for anew
            let n = match sys::epoll_wait(registry.epfd.as_fd(), &mut self.buf, timeout) {
                Ok(n) => n,
                Err(Errno::EINTR) => 0,
                Err(e) => return Err(Error::Os(e)),
            };
            (self.next, self.filled) = (0, n);
        }
        let n = self.filled - self.next;
        if n != 0 {
            self.dispatch(registry);
            registry.bury();
        }
        Ok(n)
    }

    #[inline(always)]
    fn dispatch(&mut self, registry: &mut Registry) {
        let Events { buf, next, filled } = self;
        let (at, filled) = (*next, *filled);
        registry.in_batch = true;
        let mut batch = Batch {
            registry,
            next,
            at,
            filled,
        };
        for event in &buf[at..filled] {
            batch.at += 1;
            let (bits, data) = (event.events, event.data);
            let node = data as usize as *mut Header;
            // SAFETY: `data` came from `NodeBox::data` of a node the kernel still knew about
            // when the wait returned. While `buf[next..filled]` may hold it, the node is in a
            // slot (live or retired) or in the graveyard, so it is allocated (invariant 1).
            let entry = unsafe { (*node).vtable.get().handle };
            // SAFETY: the node is allocated (above) and of its vtable's type; dispatch is not
            // re-entrant and handlers cannot reach other nodes' values, so this is the only
            // `&mut` to the value; a dead node's entry touches nothing.
            unsafe {
                entry(
                    NonNull::new_unchecked(node),
                    Event::from_bits(bits),
                    batch.registry,
                )
            };
        }
    }
}
