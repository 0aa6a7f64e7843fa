//! The pointer boundary: one heap node per subscriber, and the registry that decides when a
//! node may be freed.
//!
//! A subscriber becomes a `#[repr(C)] Node<S> { header, value }`; the node's address is the
//! epoll `data` word, so dispatch goes from an event straight to its handler with no lookup.
//! The header carries a hand-written per-type vtable (no fat-pointer transmutes), the fd
//! captured once at registration, the key and the interest.
//!
//! Everything whose misuse could free a node too early lives here, behind a safe API: the epoll
//! fd (never handed out, so nothing else can register a `data` word), the event buffer, the
//! batch flag and the graveyard. Nothing outside this file can drop a node. The invariants
//! (numbers as in DESIGN.md) are:
//! 1. every `data` word the kernel can return points to an allocated node: a node is freed
//!    only after its `EPOLL_CTL_DEL` succeeded and no batch is being dispatched (2, 3);
//!    a node whose DEL failed is never freed;
//! 2. a node deleted during a batch is marked dead at once: its dispatch entry becomes a no-op;
//! 3. lookups check the key's generation, so a stale key never reaches a newer node (4);
//! 4. while a handler runs, the only `&mut` to its subscriber is the one it was given (5).

use crate::error::{Error, Result};
use crate::interest::{Event, Interest};
use crate::ops::Ops;
use crate::subscriber::Subscriber;
use crate::sys::{self, AsFd, AsRawFd, Ctl, EpollEvent, Errno, OwnedFd, RawFd};
use alloc::alloc::{dealloc, Layout};
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::any::TypeId;
use core::cell::Cell;
use core::fmt;
use core::ptr::{addr_of_mut, NonNull};
use core::time::Duration;

/// Names one registration in one reactor: the fd number it was registered with plus a
/// generation that is never reused, so a key outlives its subscriber harmlessly.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    fd: RawFd,
    generation: u64,
}

impl Key {
    /// The fd number captured when the subscriber was registered.
    pub fn fd(&self) -> RawFd {
        self.fd
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key(fd {}, #{})", self.fd, self.generation)
    }
}

/// The per-type entry point: `node` points to a live `Node<S>` of the vtable's type.
type HandleFn = unsafe fn(NonNull<Header>, Event, &mut Ops<'_>);

/// The hand-written vtable: one `'static` instance per subscriber type. (The entry point
/// sits in the header instead, where dispatch reaches it with one load and death can swap it.)
struct VTable {
    drop_value: unsafe fn(NonNull<Header>),
    layout: Layout,
    type_id: fn() -> TypeId,
}

/// First in every node. `handle` is first so dispatch reads it straight from the data word.
#[repr(C)]
struct Header {
    /// The dispatch entry; swapped to [`skip`] when the node dies, so the loop needs no check.
    /// This swap is the node's death mark: a dead node is never in a registry slot again.
    handle: Cell<HandleFn>,
    key: Key,
    interest: Cell<Interest>,
    vtable: &'static VTable,
}

#[repr(C)]
struct Node<S> {
    header: Header,
    value: S,
}

impl<S: Subscriber> Node<S> {
    const VTABLE: &'static VTable = &VTable {
        drop_value: drop_value::<S>,
        layout: Layout::new::<Node<S>>(),
        type_id: TypeId::of::<S>,
    };
}

/// # Safety
/// `node` points to a live `Node<S>`, and no other reference to its value exists.
unsafe fn handle<S: Subscriber>(node: NonNull<Header>, event: Event, ops: &mut Ops<'_>) {
    let node = node.as_ptr().cast::<Node<S>>();
    // SAFETY: per the contract the value is live and unaliased; the `&mut` covers only the
    // value, never the header, which Ops may update through `Cell`s meanwhile.
    let value = unsafe { &mut *addr_of_mut!((*node).value) };
    value.handle(event, ops);
}

/// The dispatch entry of a dead node: later events for it in the same batch land here.
unsafe fn skip(_: NonNull<Header>, _: Event, _: &mut Ops<'_>) {}

/// # Safety
/// `node` points to a `Node<S>` whose value is initialised and is never used again.
unsafe fn drop_value<S>(node: NonNull<Header>) {
    let node = node.as_ptr().cast::<Node<S>>();
    // SAFETY: per the contract the value is initialised and this is its last use.
    unsafe { core::ptr::drop_in_place(addr_of_mut!((*node).value)) }
}

/// The owner of one node. Private to this file: only the registry creates and drops them.
struct NodeBox(NonNull<Header>);

impl NodeBox {
    fn new<S: Subscriber>(value: S, key: Key, interest: Interest) -> NodeBox {
        let header = Header {
            handle: Cell::new(handle::<S>),
            key,
            interest: Cell::new(interest),
            vtable: Node::<S>::VTABLE,
        };
        // Leaked here, freed by `Drop for NodeBox` with the same layout.
        NodeBox(NonNull::from(Box::leak(Box::new(Node { header, value }))).cast())
    }

    fn header(&self) -> &Header {
        // SAFETY: a NodeBox owns a node that stays allocated at least as long as itself.
        unsafe { self.0.as_ref() }
    }

    /// The epoll `data` word: the node's address.
    fn data(&self) -> u64 {
        self.0.as_ptr() as usize as u64
    }

    fn kill(&self) {
        self.header().handle.set(skip);
    }

    fn is<S: 'static>(&self) -> bool {
        (self.header().vtable.type_id)() == TypeId::of::<S>()
    }
}

impl Drop for NodeBox {
    fn drop(&mut self) {
        let vtable = self.header().vtable;
        // Frees the memory even if the value's destructor panics (invariant 6).
        struct Free(NonNull<Header>, Layout);
        impl Drop for Free {
            fn drop(&mut self) {
                // SAFETY: the node was allocated as a `Box<Node<S>>`, whose layout this is,
                // and its only owner is being dropped.
                unsafe { dealloc(self.0.as_ptr().cast(), self.1) }
            }
        }
        let _free = Free(self.0, vtable.layout);
        // SAFETY: the value is initialised (a NodeBox is dropped once) and never used again.
        unsafe { (vtable.drop_value)(self.0) }
    }
}

/// The epoll set, its registrations and the batch being dispatched.
///
/// Field order matters: the epoll fd closes first on drop, so no kernel entry outlives the
/// nodes, which are freed after it.
pub(crate) struct Registry {
    epfd: OwnedFd,
    events: Vec<EpollEvent>,
    /// Live nodes, indexed by their registered fd number. Never read on the dispatch path.
    slots: Vec<Option<NodeBox>>,
    /// Nodes deleted during the current batch; freed when the batch ends.
    graveyard: Vec<NodeBox>,
    /// Nodes whose DEL the kernel refused: it may still report them, so they stay allocated
    /// (dead, their subscriber undropped) until the epoll fd is closed, in `drop`.
    zombies: Vec<NodeBox>,
    in_batch: bool,
    stop: bool,
    live: usize,
    next_generation: u64,
}

/// Keeps `node` allocated in `list`; if memory for that runs out, leaks it, the only sound
/// choice while the kernel or the batch may still point at it.
fn keep(list: &mut Vec<NodeBox>, node: NodeBox) {
    if list.try_reserve(1).is_ok() {
        list.push(node);
    } else {
        core::mem::forget(node);
    }
}

/// Marks a batch as in flight; clears the mark even if a handler panics out of it. The
/// graveyard is left for the next turn, so no destructor runs during unwinding.
struct Batch<'a>(&'a mut Registry);

impl Drop for Batch<'_> {
    fn drop(&mut self) {
        self.0.in_batch = false;
    }
}

impl Registry {
    pub(crate) fn new(capacity: usize) -> Result<Registry, Errno> {
        let empty = EpollEvent { events: 0, data: 0 };
        Ok(Registry {
            epfd: sys::epoll_create1()?,
            events: alloc::vec![empty; capacity.clamp(1, i32::MAX as usize)],
            slots: Vec::new(),
            graveyard: Vec::new(),
            zombies: Vec::new(),
            in_batch: false,
            stop: false,
            live: 0,
            next_generation: 0,
        })
    }

    pub(crate) fn len(&self) -> usize {
        self.live
    }

    pub(crate) fn request_stop(&mut self) {
        self.stop = true;
    }

    pub(crate) fn stop_requested(&self) -> bool {
        self.stop
    }

    /// Registers `value` for `interest`. Its fd is read once, here, and used for every later
    /// `epoll_ctl` (invariant 7). On error `value` is dropped and nothing is left behind.
    pub(crate) fn insert<S: Subscriber>(&mut self, value: S, interest: Interest) -> Result<Key> {
        let fd = value.as_fd().as_raw_fd();
        let index = fd as usize;
        if self.slots.get(index).is_some_and(Option::is_some) {
            return Err(Error::AlreadyRegistered(fd));
        }
        let key = Key {
            fd,
            generation: self.next_generation,
        };
        self.next_generation += 1;
        if self.slots.len() <= index {
            self.slots.resize_with(index + 1, || None);
        }
        let node = NodeBox::new(value, key, interest);
        // On failure the kernel never saw the node, so dropping it here is sound.
        sys::epoll_ctl(
            self.epfd.as_fd(),
            Ctl::Add,
            fd,
            interest.bits(),
            node.data(),
        )?;
        self.slots[index] = Some(node);
        self.live += 1;
        Ok(key)
    }

    fn lookup(&self, key: Key) -> Result<&NodeBox> {
        match self.slots.get(key.fd as usize) {
            Some(Some(node)) if node.header().key == key => Ok(node),
            _ => Err(Error::StaleKey(key)),
        }
    }

    pub(crate) fn interest(&self, key: Key) -> Result<Interest> {
        Ok(self.lookup(key)?.header().interest.get())
    }

    pub(crate) fn modify(&mut self, key: Key, interest: Interest) -> Result<()> {
        let node = self.lookup(key)?;
        sys::epoll_ctl(
            self.epfd.as_fd(),
            Ctl::Modify,
            key.fd,
            interest.bits(),
            node.data(),
        )?;
        node.header().interest.set(interest);
        Ok(())
    }

    /// Deletes the subscriber of `key`. It is marked dead at once; inside a batch it is dropped
    /// when the batch ends, outside at once. If the kernel refuses the DEL the subscriber is
    /// still removed, kept undropped until the registry drops, and the error returned.
    pub(crate) fn remove(&mut self, key: Key) -> Result<()> {
        self.lookup(key)?;
        let node = self.slots[key.fd as usize].take().expect("looked up above");
        self.live -= 1;
        node.kill();
        let deleted = sys::epoll_ctl(self.epfd.as_fd(), Ctl::Delete, key.fd, 0, 0);
        if deleted.is_err() {
            keep(&mut self.zombies, node);
        } else if self.in_batch {
            keep(&mut self.graveyard, node);
        } else {
            drop(node);
        }
        Ok(deleted?)
    }

    pub(crate) fn get<S: Subscriber>(&self, key: Key) -> Result<&S> {
        assert!(
            !self.in_batch,
            "subscribers are not reachable during dispatch"
        );
        let node = self.lookup(key)?;
        if !node.is::<S>() {
            return Err(Error::WrongType(key));
        }
        // SAFETY: the node is live and of type `Node<S>` (checked above); no batch is being
        // dispatched, so no handler holds `&mut` to it; the `&S` borrows `self`.
        Ok(unsafe { &(*node.0.as_ptr().cast::<Node<S>>()).value })
    }

    pub(crate) fn get_mut<S: Subscriber>(&mut self, key: Key) -> Result<&mut S> {
        assert!(
            !self.in_batch,
            "subscribers are not reachable during dispatch"
        );
        let node = self.lookup(key)?;
        if !node.is::<S>() {
            return Err(Error::WrongType(key));
        }
        let node = node.0.as_ptr().cast::<Node<S>>();
        // SAFETY: as in `get`, and the `&mut S` borrows `self` mutably, so it is unique.
        Ok(unsafe { &mut *addr_of_mut!((*node).value) })
    }

    /// Frees the graveyard. `clear` sets the length first and keeps dropping past a panicking
    /// destructor, so every node is freed exactly once.
    fn bury(&mut self) {
        self.graveyard.clear();
    }

    /// One wait and the dispatch of its events; returns how many events the wait returned.
    pub(crate) fn turn(&mut self, timeout: Option<Duration>) -> Result<usize, Errno> {
        self.bury(); // left over if a handler panicked out of the previous batch
        self.stop = false;
        let n = sys::epoll_wait(self.epfd.as_fd(), &mut self.events, timeout)?;
        self.in_batch = true;
        let batch = Batch(self);
        for i in 0..n {
            let event = batch.0.events[i];
            let (bits, data) = (event.events, event.data);
            let node = data as usize as *mut Header;
            // SAFETY: `data` came from `NodeBox::data` of a node the kernel still knew about
            // when the wait returned; such a node is freed only by `bury` after this loop, or
            // never (zombies), so it is allocated (invariant 1). Header fields are read through
            // `&Header`; the value behind it is not touched here.
            let header = unsafe { &*node };
            let (entry, key, interest) = (header.handle.get(), header.key, header.interest.get());
            let mut ops = Ops::new(&mut *batch.0, key, interest);
            // SAFETY: the node is allocated (above) and of the vtable's type; dispatch is not
            // re-entrant and handlers cannot reach other nodes' values, so this is the only
            // `&mut` to the value; a dead node's entry is `skip`, which touches nothing.
            unsafe {
                entry(
                    NonNull::new_unchecked(node),
                    Event::from_bits(bits),
                    &mut ops,
                )
            };
        }
        drop(batch);
        self.bury();
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Zst;
    impl AsFd for Zst {
        fn as_fd(&self) -> sys::BorrowedFd<'_> {
            // SAFETY: fd 0 is not used by these tests other than as a number.
            unsafe { sys::BorrowedFd::borrow_raw(0) }
        }
    }
    impl Subscriber for Zst {
        fn handle(&mut self, _: Event, _: &mut Ops<'_>) {}
    }

    #[test]
    fn header_is_first_and_nodes_are_aligned_for_the_data_word() {
        assert_eq!(core::mem::offset_of!(Node<Zst>, header), 0);
        let node = NodeBox::new(
            Zst,
            Key {
                fd: 0,
                generation: 0,
            },
            Interest::empty(),
        );
        assert_eq!(node.data() % core::mem::align_of::<Header>() as u64, 0);
        assert!(node.is::<Zst>() && !node.is::<u8>());
    }
}
