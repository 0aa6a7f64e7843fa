//! The dispatch loop and its panic guard: from a wait's events to their handlers, with no
//! lookup, and nothing lost or freed too early if a handler panics.

use super::node::Header;
use super::registry::Registry;
use super::Core;
use crate::error::{Error, Result};
use crate::interest::Event;
use crate::sys::{self, AsFd, EpollEvent, Errno};
use crate::threads::Threads;
use crate::timer::Timers;
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

/// What a handler's `Ops` is made from: the parts of the core it may change, and the state.
pub(crate) struct Ctx<'a, D: 'static, T: 'static> {
    pub(crate) registry: &'a mut Registry<D, T>,
    pub(crate) timers: &'a mut Timers<D, T>,
    pub(crate) data: &'a mut D,
}

/// The dispatch loop's state. If a handler panics, its drop records how far the batch got
/// (the panicking event included), so the next turn dispatches the rest; no destructor runs
/// during unwinding. `at` lives in a register; the landing pad reads it from there.
struct Batch<'a, 'c, D: 'static, T: 'static> {
    ctx: Ctx<'c, D, T>,
    next: &'a mut usize,
    at: usize,
    filled: usize,
}

impl<D, T> Drop for Batch<'_, '_, D, T> {
    fn drop(&mut self) {
        *self.next = self.at;
        self.ctx.registry.in_batch = self.at < self.filled;
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

    /// Events of a batch a handler panicked out of, not yet dispatched.
    #[inline(always)]
    pub(crate) fn pending(&self) -> usize {
        self.filled - self.next
    }

    /// Waits once for events (up to `timeout`; `None` waits for ever); returns how many
    /// arrived. A signal that interrupts the wait is zero events.
    #[inline(always)]
    pub(crate) fn wait<D, T: Threads>(
        &mut self,
        registry: &Registry<D, T>,
        timeout: Option<Duration>,
    ) -> Result<usize> {
        let n = match sys::epoll_wait(registry.epfd.as_fd(), &mut self.buf, timeout) {
            Ok(n) => n,
            Err(Errno::EINTR) => 0,
            Err(e) => return Err(Error::Os(e)),
        };
        (self.next, self.filled) = (0, n);
        Ok(n)
    }

    /// Dispatches the events not yet dispatched, then recycles what the batch deleted.
    /// Returns how many events it dispatched.
    #[inline(always)]
    pub(crate) fn dispatch<D, T: Threads>(&mut self, core: &mut Core<D, T>, data: &mut D) -> usize {
        let Events { buf, next, filled } = self;
        let (at, filled) = (*next, *filled);
        core.registry.in_batch = true;
        let mut batch = Batch {
            ctx: Ctx {
                registry: &mut core.registry,
                timers: &mut core.timers,
                data,
            },
            next,
            at,
            filled,
        };
        for event in &buf[at..filled] {
            batch.at += 1;
            let (bits, data) = (event.events, event.data);
            let node = data as usize as *mut Header<D, T>;
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
                    &mut batch.ctx,
                )
            };
        }
        drop(batch);
        core.registry.bury();
        filled - at
    }
}
