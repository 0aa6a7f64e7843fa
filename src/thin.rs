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
//!    only after its `EPOLL_CTL_DEL` succeeded and no batch is open (2, 3); a node whose DEL
//!    failed is freed only after the epoll fd is closed;
//! 2. a node deleted during a batch is marked dead at once: its dispatch entry becomes a no-op;
//! 3. lookups check the key's generation, unique in the process, so a stale or foreign key
//!    never reaches another node (4); an fd number whose DEL the kernel refused is retired,
//!    so the kernel never holds two of our registrations under one number;
//! 4. while a handler runs, the only `&mut` to its subscriber is the one it was given (5).

use crate::error::{Error, Result};
use crate::interest::{Event, Interest};
use crate::ops::Ops;
use crate::subscriber::Subscriber;
use crate::sys::{self, AsFd, AsRawFd, Ctl, EpollEvent, Errno, OwnedFd, RawFd};
use alloc::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use alloc::vec::Vec;
use core::any::TypeId;
use core::cell::Cell;
use core::fmt;
use core::ptr::{addr_of_mut, NonNull};
use core::sync::atomic::{AtomicU64, Ordering};
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
type HandleFn = unsafe fn(NonNull<Header>, Event, &mut Registry);

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
    /// Cleared on delete; a node still in a slot but not live is retired (see `remove`).
    live: Cell<bool>,
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
unsafe fn handle<S: Subscriber>(node: NonNull<Header>, event: Event, registry: &mut Registry) {
    // SAFETY: the node is live; its header is only read through `&Header` (Cells inside).
    let header = unsafe { node.as_ref() };
    // Built here, from this node's own header, so a handler that ignores `Ops` costs nothing.
    let mut ops = Ops::new(registry, header.key, header.interest.get());
    let node = node.as_ptr().cast::<Node<S>>();
    // SAFETY: per the contract the value is live and unaliased; the `&mut` covers only the
    // value, never the header, which Ops may update through `Cell`s meanwhile.
    let value = unsafe { &mut *addr_of_mut!((*node).value) };
    value.handle(event, &mut ops);
}

/// The dispatch entry of a dead node: later events for it in the same batch land here.
unsafe fn skip(_: NonNull<Header>, _: Event, _: &mut Registry) {}

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
    fn new<S: Subscriber>(value: S, key: Key, interest: Interest, spares: &mut Spares) -> NodeBox {
        let header = Header {
            handle: Cell::new(handle::<S>),
            key,
            interest: Cell::new(interest),
            live: Cell::new(true),
            vtable: Node::<S>::VTABLE,
        };
        let layout = Layout::new::<Node<S>>();
        let memory = spares.take(layout).unwrap_or_else(|| allocate(layout));
        let node = memory.cast::<Node<S>>();
        // SAFETY: `memory` is unused and was allocated with `Node<S>`'s layout (fresh, or a
        // spare kept with that layout), so it is valid and aligned for one `Node<S>`.
        unsafe { node.as_ptr().write(Node { header, value }) };
        NodeBox(node.cast())
    }

    /// Drops the value and keeps the node's memory in `spares` for a later registration.
    fn recycle(self, spares: &mut Spares) {
        let node = core::mem::ManuallyDrop::new(self);
        spares.put(drop_value_of(node.0));
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
        let header = self.header();
        header.live.set(false);
        header.handle.set(skip);
    }

    fn is_live(&self) -> bool {
        self.header().live.get()
    }

    fn is<S: 'static>(&self) -> bool {
        (self.header().vtable.type_id)() == TypeId::of::<S>()
    }
}

impl Drop for NodeBox {
    fn drop(&mut self) {
        drop_value_of(self.0).free();
    }
}

/// Drops a node's value and returns its memory. If the value's destructor panics, the memory
/// is freed before the panic goes on (invariant 6).
fn drop_value_of(node: NonNull<Header>) -> Spare {
    // SAFETY: `node` is owned by the NodeBox being given up, so its header is readable.
    let vtable = unsafe { node.as_ref() }.vtable;
    let spare = Spare {
        memory: node.cast(),
        layout: vtable.layout,
    };
    struct FreeOnUnwind(Spare);
    impl Drop for FreeOnUnwind {
        fn drop(&mut self) {
            self.0.free();
        }
    }
    let guard = FreeOnUnwind(spare);
    // SAFETY: the value is initialised (a NodeBox is given up once) and never used again.
    unsafe { (vtable.drop_value)(node) };
    core::mem::forget(guard);
    spare
}

fn allocate(layout: Layout) -> NonNull<u8> {
    // SAFETY: a node's layout is never zero-sized (the header is in it).
    let memory = unsafe { alloc(layout) };
    NonNull::new(memory).unwrap_or_else(|| handle_alloc_error(layout))
}

/// The memory of a node whose value is gone: owned by whoever holds it, freed once.
#[derive(Clone, Copy)]
struct Spare {
    memory: NonNull<u8>,
    layout: Layout,
}

impl Spare {
    fn free(self) {
        // SAFETY: `memory` was allocated with `layout` and its holder gives it up here.
        unsafe { dealloc(self.memory.as_ptr(), self.layout) }
    }
}

/// Freed nodes' memory, kept for registrations of the same layout so that churn does not go
/// through the allocator. A node gets here only where it could be freed (its DEL succeeded
/// and no batch can point at it), so reuse is no different from the allocator handing the
/// address back; keys carry generations for that reason.
struct Spares(Vec<Spare>);

const SPARES: usize = 16;
/// Larger nodes go back to the allocator, so a burst of big subscribers does not stay resident.
const SPARE_MAX_SIZE: usize = 512;

impl Spares {
    fn new() -> Spares {
        Spares(Vec::with_capacity(SPARES))
    }

    fn take(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        let at = self.0.iter().rposition(|spare| spare.layout == layout)?;
        let last = self.0.len() - 1;
        self.0.swap(at, last); // usually `at == last`: churn reuses what it just freed
        self.0.pop().map(|spare| spare.memory)
    }

    fn put(&mut self, spare: Spare) {
        if self.0.len() < SPARES && spare.layout.size() <= SPARE_MAX_SIZE {
            self.0.push(spare); // within the capacity reserved in `new`: no allocation
        } else {
            spare.free();
        }
    }
}

impl Drop for Spares {
    fn drop(&mut self) {
        for spare in self.0.drain(..) {
            spare.free();
        }
    }
}

/// The epoll set and its registrations: everything `Ops` may change.
///
/// Field order matters: the epoll fd closes first on drop, so no kernel entry outlives the
/// nodes, which are freed after it.
pub(crate) struct Registry {
    epfd: OwnedFd,
    /// Nodes by their registered fd number; never read on the dispatch path. A slot holds a
    /// live node, or a retired one whose DEL the kernel refused: the kernel keys registrations
    /// by (open file, fd number) and may still hold that one under the number, so the number
    /// is never registered again here, and the node stays allocated until the epoll fd closes.
    slots: Vec<Option<NodeBox>>,
    /// Nodes deleted while a batch is open; recycled when it is done.
    graveyard: Vec<NodeBox>,
    spares: Spares,
    /// Events of a batch may still point at nodes (`Events` holds undispatched ones).
    batch_open: bool,
    /// A handler is running: subscribers are not reachable through the registry. (Implies
    /// `batch_open`; kept separate so `get`/`get_mut` can refuse even if that ever changes.)
    dispatching: bool,
    stop: bool,
    live: usize,
}

/// The last wait's events, out of `Ops`'s reach: `buf[next..filled]` are still to be
/// dispatched (between turns, only when a handler panicked out of the batch).
pub(crate) struct Events {
    buf: Vec<EpollEvent>,
    next: usize,
    filled: usize,
}

/// Generations are unique in the process, so a key never names another reactor's subscriber.
static NEXT_GENERATION: AtomicU64 = AtomicU64::new(0);

/// Keeps `node` allocated in `list`; if memory for that runs out, leaks it, the only sound
/// choice while the batch may still point at it.
fn keep(list: &mut Vec<NodeBox>, node: NodeBox) {
    if list.len() < list.capacity() || list.try_reserve(1).is_ok() {
        list.push(node);
    } else {
        core::mem::forget(node);
    }
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
        self.registry.batch_open = self.at < self.filled;
        self.registry.dispatching = false;
    }
}

impl Events {
    pub(crate) fn new(capacity: usize) -> Events {
        let empty = EpollEvent { events: 0, data: 0 };
        let buf = alloc::vec![empty; capacity.clamp(1, sys::MAX_EVENTS)];
        Events {
            buf,
            next: 0,
            filled: 0,
        }
    }

    pub(crate) fn pending(&self) -> usize {
        self.filled - self.next
    }

    /// Dispatches what is left of a batch a handler panicked out of or, if nothing is, waits
    /// once and dispatches what the wait returned. Returns how many events it dispatched.
    #[inline(always)]
    pub(crate) fn turn(
        &mut self,
        registry: &mut Registry,
        timeout: Option<Duration>,
    ) -> Result<usize, Errno> {
        registry.stop = false;
        if self.next == self.filled {
            registry.bury(); // left over if a handler panicked out of the last event
            let n = sys::epoll_wait(registry.epfd.as_fd(), &mut self.buf, timeout)?;
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
        registry.batch_open = true;
        registry.dispatching = true;
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
            let entry = unsafe { (*node).handle.get() };
            // SAFETY: the node is allocated (above) and of its vtable's type; dispatch is not
            // re-entrant and handlers cannot reach other nodes' values, so this is the only
            // `&mut` to the value; a dead node's entry is `skip`, which touches nothing.
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

impl Registry {
    pub(crate) fn new() -> Result<Registry, Errno> {
        Ok(Registry {
            epfd: sys::epoll_create1()?,
            slots: Vec::new(),
            graveyard: Vec::new(),
            spares: Spares::new(),
            batch_open: false,
            dispatching: false,
            stop: false,
            live: 0,
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
        // A valid `BorrowedFd` is never negative; refuse one anyway rather than index with it.
        let Ok(index) = usize::try_from(fd) else {
            return Err(Error::Os(Errno::EBADF));
        };
        if let Some(Some(node)) = self.slots.get(index) {
            return Err(if node.is_live() {
                Error::AlreadyRegistered(fd)
            } else {
                Error::FdRetired(fd)
            });
        }
        let generation = NEXT_GENERATION.fetch_add(1, Ordering::Relaxed);
        let key = Key { fd, generation };
        if self.slots.len() <= index {
            self.slots.resize_with(index + 1, || None);
        }
        let node = NodeBox::new(value, key, interest, &mut self.spares);
        // On failure the kernel never saw the node, so dropping it here is sound.
        let (epfd, bits) = (self.epfd.as_fd(), interest.bits());
        sys::epoll_ctl(epfd, Ctl::Add, fd, bits, node.data())?;
        self.slots[index] = Some(node);
        self.live += 1;
        Ok(key)
    }

    fn lookup(&self, key: Key) -> Result<&NodeBox> {
        match self.slots.get(key.fd as usize) {
            Some(Some(node)) if node.header().key == key && node.is_live() => Ok(node),
            _ => Err(Error::StaleKey(key)),
        }
    }

    pub(crate) fn interest(&self, key: Key) -> Result<Interest> {
        Ok(self.lookup(key)?.header().interest.get())
    }

    pub(crate) fn modify(&mut self, key: Key, interest: Interest) -> Result<()> {
        let node = self.lookup(key)?;
        let (epfd, bits) = (self.epfd.as_fd(), interest.bits());
        sys::epoll_ctl(epfd, Ctl::Modify, key.fd, bits, node.data())?;
        node.header().interest.set(interest);
        Ok(())
    }

    /// Deletes the subscriber of `key`. It is marked dead at once, and dropped at once unless
    /// a batch is open (then when the batch is done). If the kernel refuses the DEL, the node
    /// is retired: kept, undropped, in its slot until the registry drops; the error is returned.
    pub(crate) fn remove(&mut self, key: Key) -> Result<()> {
        self.lookup(key)?.kill();
        self.live -= 1;
        let deleted = sys::epoll_ctl(self.epfd.as_fd(), Ctl::Delete, key.fd, 0, 0);
        if deleted.is_ok() {
            let node = self.slots[key.fd as usize].take().expect("looked up above");
            if self.batch_open || self.dispatching {
                keep(&mut self.graveyard, node);
            } else {
                node.recycle(&mut self.spares);
            }
        }
        Ok(deleted?)
    }

    /// The live node of `key` as a `Node<S>`, checked to be one, outside dispatch.
    fn typed<S: Subscriber>(&self, key: Key) -> Result<*mut Node<S>> {
        assert!(
            !self.dispatching,
            "subscribers are not reachable during dispatch"
        );
        let node = self.lookup(key)?;
        if !node.is::<S>() {
            return Err(Error::WrongType(key));
        }
        Ok(node.0.as_ptr().cast::<Node<S>>())
    }

    pub(crate) fn get<S: Subscriber>(&self, key: Key) -> Result<&S> {
        let node = self.typed::<S>(key)?;
        // SAFETY: the node is live and a `Node<S>` (`typed`); no handler is running, so no
        // `&mut` to its value exists; the `&S` borrows `self`.
        Ok(unsafe { &(*node).value })
    }

    pub(crate) fn get_mut<S: Subscriber>(&mut self, key: Key) -> Result<&mut S> {
        let node = self.typed::<S>(key)?;
        // SAFETY: as in `get`, and the `&mut S` borrows `self` mutably, so it is unique.
        Ok(unsafe { &mut *addr_of_mut!((*node).value) })
    }

    /// Recycles the graveyard. If a destructor panics, the nodes not yet recycled stay in the
    /// graveyard for the next turn (or the registry's drop): each is given up exactly once.
    #[inline]
    fn bury(&mut self) {
        while let Some(node) = self.graveyard.pop() {
            node.recycle(&mut self.spares);
        }
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
        let mut spares = Spares::new();
        let key = Key {
            fd: 0,
            generation: 0,
        };
        let node = NodeBox::new(Zst, key, Interest::empty(), &mut spares);
        assert_eq!(node.data() % core::mem::align_of::<Header>() as u64, 0);
        assert!(node.is::<Zst>() && !node.is::<u8>());
    }

    struct Big([u64; 8]);
    impl AsFd for Big {
        fn as_fd(&self) -> sys::BorrowedFd<'_> {
            Zst.as_fd()
        }
    }
    impl Subscriber for Big {
        fn handle(&mut self, _: Event, _: &mut Ops<'_>) {
            self.0[0] += 1;
        }
    }

    struct Huge([u8; 1024]);
    impl AsFd for Huge {
        fn as_fd(&self) -> sys::BorrowedFd<'_> {
            Zst.as_fd()
        }
    }
    impl Subscriber for Huge {
        fn handle(&mut self, _: Event, _: &mut Ops<'_>) {
            self.0[0] += 1;
        }
    }

    #[test]
    fn spare_memory_is_reused_by_the_same_layout_only_and_bounded() {
        let mut spares = Spares::new();
        let key = Key {
            fd: 0,
            generation: 0,
        };
        let first = NodeBox::new(Zst, key, Interest::empty(), &mut spares);
        let address = first.data();
        first.recycle(&mut spares);
        let big = NodeBox::new(Big([7; 8]), key, Interest::empty(), &mut spares);
        assert_ne!(big.data(), address, "memory of another layout reused");
        let again = NodeBox::new(Zst, key, Interest::empty(), &mut spares);
        assert_eq!(again.data(), address, "spare memory not reused");
        assert!(again.is::<Zst>() && big.is::<Big>());
        let many: Vec<NodeBox> = (0..2 * SPARES)
            .map(|_| NodeBox::new(Zst, key, Interest::empty(), &mut spares))
            .collect();
        for node in many {
            node.recycle(&mut spares);
        }
        assert_eq!(spares.0.len(), SPARES);
        drop((big, again)); // the rest is freed by `Spares`' drop (leak checks watch it)
        let mut spares = Spares::new();
        let huge = NodeBox::new(Huge([0; 1024]), key, Interest::empty(), &mut spares);
        huge.recycle(&mut spares);
        assert!(spares.0.is_empty(), "a large node's memory was kept");
    }
}
