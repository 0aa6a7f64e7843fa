//! The dispatch loop and its panic guard: from a wait's events to their handlers, with no
//! lookup, and nothing lost or freed too early if a handler panics.

use super::node::Header;
use super::registry::Registry;
use super::registry::{DIRTY, OPEN};
use super::Core;
use crate::error::{Error, Result};
use crate::grow;
use crate::interest::Event;
use crate::sys::{self, AsFd, EpollEvent, Errno};
use crate::threads::Threads;
use alloc::vec::Vec;
use core::ptr::NonNull;

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
/// (the panicking event included), so the next turn dispatches the rest, and flags the
/// registry for that turn; no destructor runs during unwinding. On the normal path it is
/// forgotten, so a batch that ends normally stores nothing.
struct Batch<'a, D, T: 'static> {
    core: &'a mut Core<D, T>,
    events: &'a mut Events,
    /// The event after the one being dispatched (in `events.buf`, or just past its events).
    cursor: *const EpollEvent,
    /// The events not yet done, the one being dispatched included (at least one). The
    /// landing pad needs no end pointer besides: the loop's own count tells it where the
    /// batch ends, so nothing is kept for it on the normal path.
    left: usize,
}

impl<D, T> Drop for Batch<'_, D, T> {
    fn drop(&mut self) {
        let base = self.events.buf.as_ptr() as usize;
        let size = core::mem::size_of::<EpollEvent>();
        self.events.next = (self.cursor as usize - base) / size;
        self.events.filled = self.events.next + self.left - 1;
        // The batch stays open (`OPEN`) until its remainder, if any, is dispatched.
        self.core.registry.guard.set(DIRTY);
    }
}

impl<D, T: Threads> Batch<'_, D, T> {
    /// Dispatches the `left` events from `cursor` (at least one), then recycles
    /// what the batch deleted.
    #[inline(always)]
    fn run(mut self, data: &mut D) {
        // Handlers reach the state through the core, so dispatch passes one pointer fewer. A
        // zero-sized state needs no address: the core's is dangling, and stays so.
        if core::mem::size_of::<D>() != 0 {
            self.core.data = data;
        }
        // Counting down makes a tighter loop than comparing pointers.
        loop {
            let event = self.cursor;
            // SAFETY: `left` (at least one) counts the events from `event` that are in the
            // buffer, so the next one is in it or just past it.
            self.cursor = unsafe { event.add(1) };
            // SAFETY: `event` is in the buffer and was filled by the kernel (or is the rest of
            // such a fill); `epoll_event` is packed on x86_64, so it is read unaligned, by value.
            let (bits, data) = unsafe { ((*event).events, (*event).data) };
            let node = data as usize as *mut Header<D, T>;
            // SAFETY: `data` came from `NodeBox::data` of a node the kernel still knew about
            // when the wait returned. While the rest of the batch may hold it, the node is in
            // a slot (live or retired) or in the graveyard, so it is allocated (invariant 1).
            let entry = unsafe { (*node).vtable.get().handle };
            // Dispatch is not re-entrant and handlers cannot reach other nodes' values, so the
            // entry's `&mut` to the value is the only one; a dead node's entry touches nothing.
            // `core.data` is the caller's state, borrowed for the batch (or dangling for a
            // zero-sized state), used by nothing else.
            // SAFETY: the node is allocated (above) and of its vtable's type; see just above.
            unsafe {
                super::node::enter(
                    entry,
                    NonNull::new_unchecked(node),
                    Event::from_kernel(bits),
                    self.core,
                )
            };
            self.left -= 1;
            if self.left == 0 {
                break;
            }
        }
        // What the batch deleted is recycled by the caller, which sees the flag that says so
        // (`GRAVE`) in the one check it makes after every batch. The batch stays marked
        // open until the caller settles it.
        core::mem::forget(self);
    }
}

/// A wait's answer that was not a positive count: no events, a signal (`EINTR`, also no
/// events), or an error.
#[cold]
pub(crate) fn waited(raw: isize) -> Result<usize> {
    match Errno::result(raw as usize) {
        Ok(n) => Ok(n),
        Err(Errno::EINTR) => Ok(0),
        Err(e) => Err(Error::Os(e)),
    }
}

impl Events {
    /// A buffer for `capacity` events, bounded to `1..=MAX_CAPACITY`.
    pub(crate) fn new(capacity: usize) -> Result<Events> {
        let capacity = capacity.clamp(1, MAX_CAPACITY);
        let mut buf = Vec::new();
        // On an empty vector this reserves `capacity` (a few more if tiny); it shares its code
        // with every other reservation here, unlike `try_reserve_exact`.
        buf.try_reserve(capacity)
            .map_err(|_| Error::Os(Errno::ENOMEM))?;
        grow::fill_within(&mut buf, capacity, || EpollEvent { events: 0, data: 0 });
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

    /// Waits once for events (up to `timeout`; `None` waits for ever). Returns the kernel's
    /// answer as is: how many events arrived (now at the start of the buffer), or `-errno`;
    /// [`waited`] makes it a `Result`. Only with nothing pending.
    #[inline(always)]
    pub(crate) fn wait<D, T: Threads>(
        &mut self,
        registry: &Registry<D, T>,
        timeout: Option<u64>,
    ) -> isize {
        sys::epoll_wait(registry.epfd.as_fd(), &mut self.buf, timeout)
    }

    /// Dispatches the `n` events the last wait returned (at least one).
    #[inline(always)]
    pub(crate) fn dispatch<D, T: Threads>(
        &mut self,
        n: usize,
        core: &mut Core<D, T>,
        data: &mut D,
    ) {
        // From here until the batch is settled, events may point at any node (invariant 13).
        // The fast path starts with nothing else in the byte (a turn that left anything there
        // also left a flag that sends the next turn off the fast path): one store.
        debug_assert!(core.registry.after & !OPEN == 0);
        core.registry.after = OPEN;
        // The kernel fills at most `maxevents` events, the buffer's length, and returns how
        // many: the `n` events from the start are in the buffer.
        let batch = Batch {
            core,
            cursor: self.buf.as_ptr(),
            events: self,
            left: n,
        };
        batch.run(data);
    }

    /// Dispatches what a batch a handler panicked out of left; returns how many events.
    pub(crate) fn dispatch_rest<D, T: Threads>(
        &mut self,
        core: &mut Core<D, T>,
        data: &mut D,
    ) -> usize {
        let (at, end) = (self.next, self.filled);
        (self.next, self.filled) = (0, 0); // set again if a handler panics
                                           // The reactor's own events before the panic belong to no turn's count.
        core.registry.skipped = 0;
        self.dispatch_range(at, end, core, data);
        end - at
    }

    /// [`dispatch`](Self::dispatch) out of line, for the turns off the fast path: the events
    /// `buf[at..end]` (at least one) of the last wait.
    #[inline(never)]
    pub(crate) fn dispatch_range<D, T: Threads>(
        &mut self,
        at: usize,
        end: usize,
        core: &mut Core<D, T>,
        data: &mut D,
    ) {
        let end = end.min(self.buf.len()); // never past the buffer (callers pass less)
        if at >= end {
            return;
        }
        core.registry.after |= OPEN; // as in `dispatch`
                                     // SAFETY: `at < end <= buf.len()` (checked above), so the `end - at` events from
                                     // `at` are in the buffer.
        let cursor = unsafe { self.buf.as_ptr().add(at) };
        let batch = Batch {
            core,
            events: self,
            cursor,
            left: end - at,
        };
        batch.run(data);
    }
}
