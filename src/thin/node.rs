//! Nodes: one heap allocation per subscriber, header first, and the hand-written per-type
//! vtables that dispatch and the registry reach them through.
//!
//! ```text
//!   epoll data word ──► ┌──────────────────────────────┐  24 bytes
//!                       │ vtable: Cell<&'static VTable>│──► handle / drop / layout / type
//!                       │ generation: u64              │
//!                       │ fd: i32    interest: u32     │
//!                       ├──────────────────────────────┤
//!                       │ value: S (the subscriber)    │
//!                       └──────────────────────────────┘
//! ```
//!
//! Each subscriber type has two vtables: its live one and a dead twin whose `handle` does
//! nothing. Killing a node swaps the first for the second, so dispatch needs no liveness check
//! and a dead node still knows how to drop and free itself.

use super::Core;
use crate::error::Result;
use crate::interest::{Event, Interest};
use crate::key::Key;
use crate::ops::Ops;
use crate::subscriber::Subscriber;
use crate::sys::RawFd;
use crate::threads::Threads;
use alloc::alloc::{alloc, dealloc, Layout};
use alloc::boxed::Box;
use core::any::TypeId;
use core::cell::Cell;
use core::marker::PhantomData;
use core::ptr::{addr_of_mut, NonNull};

/// The per-type entry point: `node` points to a live node of the vtable's type, `core` to the
/// `Core<D, T>` of its reactor. The vtables name no type of the reactor's (its state may
/// borrow from the caller's stack, and a `&'static` vtable cannot name a type that is not
/// `'static`): the entry points take untyped pointers and type them again inside, where the
/// node's subscriber type and the reactor's types are known. Called through [`enter`].
pub(super) type HandleFn = unsafe fn(NonNull<u8>, Event, NonNull<u8>);

/// The entry point off the dispatch path: `node` points to a live node of the vtable's type,
/// whose value nothing else uses; `ops` to its own `Ops<'_, D, T>`. Called through
/// [`enter_call`].
pub(super) type CallFn = unsafe fn(NonNull<u8>, Event, NonNull<u8>);

/// The subscriber's `init`, under the same contract as [`CallFn`]. Called through
/// [`enter_init`].
pub(super) type InitFn = unsafe fn(NonNull<u8>, NonNull<u8>) -> Result<()>;

/// Calls a node's dispatch entry.
///
/// # Safety
/// `entry` is the `handle` of `node`'s vtable, read from the node (so of the reactor whose
/// `core` this is), under [`HandleFn`]'s contract.
#[inline(always)]
pub(super) unsafe fn enter<D, T>(
    entry: HandleFn,
    node: NonNull<Header<D, T>>,
    event: Event,
    core: &mut Core<D, T>,
) {
    // SAFETY: the caller's contract; the `core` pointer is typed again as `Core<D, T>`.
    unsafe { entry(node.cast(), event, NonNull::from(core).cast()) }
}

/// Calls a node's `call` entry.
///
/// # Safety
/// `entry` is the `call` of `node`'s vtable, read from the node, under [`CallFn`]'s contract.
pub(super) unsafe fn enter_call<D, T>(
    entry: CallFn,
    node: NonNull<Header<D, T>>,
    event: Event,
    ops: &mut Ops<'_, D, T>,
) {
    // SAFETY: the caller's contract; the `ops` pointer is typed again as `Ops<'_, D, T>`.
    unsafe { entry(node.cast(), event, NonNull::from(ops).cast()) }
}

/// Calls a node's `init` entry.
///
/// # Safety
/// `entry` is the `init` of `node`'s vtable, read from the node, under [`InitFn`]'s contract.
pub(super) unsafe fn enter_init<D, T>(
    entry: InitFn,
    node: NonNull<Header<D, T>>,
    ops: &mut Ops<'_, D, T>,
) -> Result<()> {
    // SAFETY: the caller's contract; the `ops` pointer is typed again as `Ops<'_, D, T>`.
    unsafe { entry(node.cast(), NonNull::from(ops).cast()) }
}

/// The hand-written vtable: one `'static` set (live, dead, moved) per subscriber type.
#[repr(C)]
pub(super) struct VTable {
    /// First, so dispatch calls it with one load from the vtable pointer.
    pub(super) handle: HandleFn,
    /// The handler, called with an `Ops` made elsewhere (an owned timer's event).
    pub(super) call: CallFn,
    /// The subscriber's `init`.
    pub(super) init: InitFn,
    drop_value: unsafe fn(NonNull<u8>),
    layout: Layout,
    type_id: fn() -> TypeId,
    /// The dead twin of a live vtable; `None` in the others.
    dead: Option<&'static VTable>,
    /// The twin for a node whose value was moved out: it drops nothing. `None` in itself.
    moved: Option<&'static VTable>,
    /// The twin for a retired node (a registration the reactor cannot name may report it):
    /// no value, and its events tell the registry a ghost reported. `None` in itself.
    ghost: Option<&'static VTable>,
    /// The borrowed twin of a live vtable (a copy with its own address: its value is lent to
    /// a `with` further up the stack); `None` in the others.
    borrowed: Option<&'static VTable>,
    /// The live vtable of a borrowed twin, put back when the loan ends; `None` in the others.
    /// (A function: the two constants cannot name each other.)
    unborrowed: Option<fn() -> &'static VTable>,
}

/// First in every node; dispatch reads `vtable` straight from the data word.
#[repr(C)]
pub(super) struct Header<D, T> {
    pub(super) vtable: Cell<&'static VTable>,
    generation: u64,
    fd: RawFd,
    interest: Cell<Interest>,
    /// The reactor's types, which the vtable's entry points expect (named only here).
    of: PhantomData<fn(&mut D, T)>,
}

static_assertions::assert_eq_size!(Header<(), crate::threads::Local>, [u64; 3]);

#[repr(C)]
struct Node<D, T, S> {
    header: Header<D, T>,
    value: S,
}

/// The vtables of subscriber type `S` in a reactor of state `D` and thread mode `T`.
struct VTables<S, D, T>(PhantomData<(S, D, T)>);

impl<S: Subscriber<D, T>, D, T: Threads> VTables<S, D, T> {
    const GHOST: &'static VTable = &VTable {
        handle: ghost::<D, T>,
        call: call_nothing,
        init: init_nothing,
        drop_value: drop_nothing,
        layout: Layout::new::<Node<D, T, S>>(),
        type_id: TypeId::of::<S>,
        dead: None,
        moved: None,
        ghost: None,
        borrowed: None,
        unborrowed: None,
    };
    const MOVED: &'static VTable = &VTable {
        handle: skip,
        call: call_nothing,
        init: init_nothing,
        drop_value: drop_nothing,
        layout: Layout::new::<Node<D, T, S>>(),
        type_id: TypeId::of::<S>,
        dead: None,
        moved: None,
        ghost: Some(Self::GHOST),
        borrowed: None,
        unborrowed: None,
    };
    const DEAD: &'static VTable = &VTable {
        handle: skip,
        call: call_nothing,
        init: init_nothing,
        drop_value: drop_value::<D, T, S>,
        layout: Layout::new::<Node<D, T, S>>(),
        type_id: TypeId::of::<S>,
        dead: None,
        moved: Some(Self::MOVED),
        ghost: Some(Self::GHOST),
        borrowed: None,
        unborrowed: None,
    };
    /// A copy of `LIVE` with its own address: a node whose value is lent to a `with` (or in
    /// use by `init`, an owned timer's handler, or a handler that lends others).
    const BORROWED: &'static VTable = &VTable {
        handle: handle::<S, D, T>,
        call: call::<S, D, T>,
        init: init::<S, D, T>,
        drop_value: drop_value::<D, T, S>,
        layout: Layout::new::<Node<D, T, S>>(),
        type_id: TypeId::of::<S>,
        dead: Some(Self::DEAD),
        moved: Some(Self::MOVED),
        ghost: Some(Self::GHOST),
        borrowed: None,
        unborrowed: Some(live::<S, D, T>),
    };
    const LIVE: &'static VTable = &VTable {
        handle: handle::<S, D, T>,
        call: call::<S, D, T>,
        init: init::<S, D, T>,
        drop_value: drop_value::<D, T, S>,
        layout: Layout::new::<Node<D, T, S>>(),
        type_id: TypeId::of::<S>,
        dead: Some(Self::DEAD),
        moved: Some(Self::MOVED),
        ghost: Some(Self::GHOST),
        borrowed: Some(Self::BORROWED),
        unborrowed: None,
    };
}

/// The value of a record node: a further registration of a subscriber (its *owner*), under
/// its own fd and data word. Records are killed with their owner, so a live record's owner is
/// live and allocated.
pub(super) struct Extra<D, T> {
    owner: NonNull<Header<D, T>>,
    tag: u32,
}

/// What a record node's `type_id` names (an `Extra<D, T>` need not be `'static`).
struct Record;

impl<D, T> Clone for Extra<D, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<D, T> Copy for Extra<D, T> {}

/// The vtables of a record node: its live entry relays to its owner's.
struct RecordVTables<D, T>(PhantomData<(D, T)>);

impl<D, T: 'static> RecordVTables<D, T> {
    const GHOST: &'static VTable = &VTable {
        handle: ghost::<D, T>,
        call: call_nothing,
        init: init_nothing,
        drop_value: drop_nothing,
        layout: Layout::new::<Node<D, T, Extra<D, T>>>(),
        type_id: TypeId::of::<Record>,
        dead: None,
        moved: None,
        ghost: None,
        borrowed: None,
        unborrowed: None,
    };
    const DEAD: &'static VTable = &VTable {
        handle: skip,
        call: call_nothing,
        init: init_nothing,
        drop_value: drop_nothing,
        layout: Layout::new::<Node<D, T, Extra<D, T>>>(),
        type_id: TypeId::of::<Record>,
        dead: None,
        moved: None,
        ghost: Some(Self::GHOST),
        borrowed: None,
        unborrowed: None,
    };
    const LIVE: &'static VTable = &VTable {
        handle: relay::<D, T>,
        call: call_nothing,
        init: init_nothing,
        drop_value: drop_nothing,
        layout: Layout::new::<Node<D, T, Extra<D, T>>>(),
        type_id: TypeId::of::<Record>,
        dead: Some(Self::DEAD),
        moved: None,
        ghost: Some(Self::GHOST),
        borrowed: None,
        unborrowed: None,
    };
}

/// The dispatch entry of a live record: its owner's entry, with the record's tag.
///
/// # Safety
/// As for the owner's entry ([`HandleFn`]): `node` points to a live record node of a reactor
/// of state `D` and thread mode `T` (so its owner is live and allocated: records die with
/// their owner), and the owner's value is used by no one else.
unsafe fn relay<D, T>(node: NonNull<u8>, event: Event, core: NonNull<u8>) {
    let record = node.as_ptr().cast::<Node<D, T, Extra<D, T>>>();
    // SAFETY: a node with a record's live vtable is a record node, initialised; its value is
    // only ever read (it is `Copy`).
    let Extra { owner, tag } = unsafe { (*record).value };
    // SAFETY: a live record's owner is live and allocated (records are killed with it); its
    // header is only read through `&Header` (Cells inside).
    let entry = unsafe { owner.as_ref() }.vtable.get().handle;
    // SAFETY: the owner is live, of its vtable's type, of the same reactor; the caller's
    // contract carries over (`core` is passed on as it came).
    unsafe { entry(owner.cast(), event.with_tag(tag), core) }
}

/// The live vtable of `S` (what a borrowed twin goes back to).
fn live<S: Subscriber<D, T>, D, T: Threads>() -> &'static VTable {
    VTables::<S, D, T>::LIVE
}

/// # Safety
/// [`HandleFn`]'s contract, with `node` a live `Node<D, T, S>` and `core` a `Core<D, T>`
/// borrowed for the call: no other reference to the node's value exists; `core.data` points
/// to the state of the batch being dispatched, which nothing else uses (or, for a zero-sized
/// state, is the dangling pointer it was made with).
unsafe fn handle<S: Subscriber<D, T>, D, T: Threads>(
    node: NonNull<u8>,
    event: Event,
    core: NonNull<u8>,
) {
    // SAFETY: per the contract `core` is a `Core<D, T>` borrowed by the caller for this call,
    // and nothing else uses it meanwhile.
    let core = unsafe { &mut *core.cast::<Core<D, T>>().as_ptr() };
    // SAFETY: the node is live; its header is only read through `&Header` (Cells inside).
    let header = unsafe { node.cast::<Header<D, T>>().as_ref() };
    let (key, interest) = (header.key(), header.interest.get());
    // Built here, from this node's own header, so a handler that ignores `Ops` costs nothing.
    // SAFETY: per the contract `core.data` is the batch's state, and only this handler uses
    // it while it runs; or `D` is zero-sized and the pointer dangling, non-null and aligned,
    // which is a valid reference to a zero-sized value.
    let data = unsafe { &mut *core.data };
    let mut ops = Ops::for_event(&mut core.registry, &mut core.timers, data, key, interest);
    let node = node.as_ptr().cast::<Node<D, T, S>>();
    // SAFETY: per the contract the value is live and unaliased; the `&mut` covers only the
    // value, never the header, which Ops may update through `Cell`s meanwhile.
    let value = unsafe { &mut *addr_of_mut!((*node).value) };
    value.handle(event, &mut ops);
}

/// # Safety
/// [`CallFn`]'s contract, with `node` a live `Node<D, T, S>` whose value nothing else uses,
/// and `ops` an `Ops<'_, D, T>` borrowed for the call.
unsafe fn call<S: Subscriber<D, T>, D, T: Threads>(
    node: NonNull<u8>,
    event: Event,
    ops: NonNull<u8>,
) {
    // SAFETY: per the contract `ops` is an `Ops<'_, D, T>` lent for this call; the lifetime
    // given back here ends with the call.
    let ops = unsafe { &mut *ops.cast::<Ops<'_, D, T>>().as_ptr() };
    let node = node.as_ptr().cast::<Node<D, T, S>>();
    // SAFETY: per the contract the value is live and unaliased; the `&mut` covers only the
    // value, never the header, which Ops may update through `Cell`s meanwhile.
    let value = unsafe { &mut *addr_of_mut!((*node).value) };
    value.handle(event, ops);
}

/// # Safety
/// As for [`call`].
unsafe fn init<S: Subscriber<D, T>, D, T: Threads>(
    node: NonNull<u8>,
    ops: NonNull<u8>,
) -> Result<()> {
    // SAFETY: as in `call`.
    let ops = unsafe { &mut *ops.cast::<Ops<'_, D, T>>().as_ptr() };
    let node = node.as_ptr().cast::<Node<D, T, S>>();
    // SAFETY: as in `call`.
    let value = unsafe { &mut *addr_of_mut!((*node).value) };
    value.init(ops)
}

/// The `call` of a node that is not a live subscriber's: nothing to call.
unsafe fn call_nothing(_: NonNull<u8>, _: Event, _: NonNull<u8>) {}

/// The `init` of a node that is not a live subscriber's: nothing to do.
unsafe fn init_nothing(_: NonNull<u8>, _: NonNull<u8>) -> Result<()> {
    Ok(())
}

/// The dispatch entry of a dead node: later events for it in the same batch land here.
unsafe fn skip(_: NonNull<u8>, _: Event, _: NonNull<u8>) {}

/// The dispatch entry of a retired node: a registration the reactor could not remove (its DEL
/// was refused, and no new epoll set could be made yet) reported. The turn tries again.
///
/// # Safety
/// [`HandleFn`]'s contract: `core` is the `Core<D, T>` of the node's reactor, borrowed for
/// the call.
unsafe fn ghost<D, T: 'static>(_: NonNull<u8>, _: Event, core: NonNull<u8>) {
    // SAFETY: the caller's contract.
    let core = unsafe { &mut *core.cast::<Core<D, T>>().as_ptr() };
    core.registry.ghost_reported();
}

/// The drop of a node whose value was moved out.
unsafe fn drop_nothing(_: NonNull<u8>) {}

/// # Safety
/// `node` points to a `Node<D, T, S>` whose value is initialised and is never used again.
unsafe fn drop_value<D, T, S>(node: NonNull<u8>) {
    let node = node.as_ptr().cast::<Node<D, T, S>>();
    // SAFETY: per the contract the value is initialised and this is its last use.
    unsafe { core::ptr::drop_in_place(addr_of_mut!((*node).value)) }
}

impl<D, T> Header<D, T> {
    pub(super) fn key(&self) -> Key {
        Key::from_parts(self.fd, self.generation)
    }

    pub(super) fn interest(&self) -> Interest {
        self.interest.get()
    }

    pub(super) fn set_interest(&self, interest: Interest) {
        self.interest.set(interest)
    }
}

/// The owner of one node. Only the registry creates and drops them.
pub(super) struct NodeBox<D, T>(NonNull<Header<D, T>>);

impl<D, T: Threads> NodeBox<D, T> {
    /// A node for `value`, in spare memory of its layout if there is some (then the flag is
    /// set). `None` if memory for it cannot be had; `value` is then dropped.
    pub(super) fn new<S: Subscriber<D, T>>(
        value: S,
        key: Key,
        interest: Interest,
        spares: &mut Spares,
    ) -> Option<(NodeBox<D, T>, bool)> {
        let vtable = VTables::<S, D, T>::LIVE;
        Self::place(value, vtable, key.fd(), key.generation(), interest, spares)
    }

    /// A node for `value` in fresh memory (made off the reactor's thread, whose spare memory
    /// is its own). `None` if memory for it cannot be had; `value` is then dropped. Freed
    /// later by the reactor, its memory may join the reactor's spares like any node's.
    #[cfg(feature = "std")]
    pub(super) fn fresh<S: Subscriber<D, T>>(
        value: S,
        key: Key,
        interest: Interest,
    ) -> Option<NodeBox<D, T>> {
        let vtable = VTables::<S, D, T>::LIVE;
        let mut none = Spares::new(); // empty: `place` allocates
        let made = Self::place(
            value,
            vtable,
            key.fd(),
            key.generation(),
            interest,
            &mut none,
        );
        made.map(|(node, _)| node)
    }

    /// A record node: a registration of `fd` for `owner`, its events tagged `tag`.
    pub(super) fn record(
        owner: &NodeBox<D, T>,
        fd: RawFd,
        tag: u32,
        interest: Interest,
        spares: &mut Spares,
    ) -> Option<(NodeBox<D, T>, bool)> {
        let value = Extra {
            owner: owner.0,
            tag,
        };
        let (vtable, generation) = (RecordVTables::<D, T>::LIVE, owner.header().generation);
        Self::place(value, vtable, fd, generation, interest, spares)
    }

    fn place<V>(
        value: V,
        vtable: &'static VTable,
        fd: RawFd,
        generation: u64,
        interest: Interest,
        spares: &mut Spares,
    ) -> Option<(NodeBox<D, T>, bool)> {
        let header = Header {
            vtable: Cell::new(vtable),
            generation,
            fd,
            interest: Cell::new(interest),
            of: PhantomData,
        };
        let layout = Layout::new::<Node<D, T, V>>();
        debug_assert!(layout == vtable.layout);
        let (memory, was_spare) = match spares.take(layout) {
            Some(memory) => (memory, true),
            None => (allocate(layout)?, false),
        };
        let node = memory.cast::<Node<D, T, V>>();
        // SAFETY: `memory` is unused and was allocated with the node's layout (fresh, or a
        // spare kept with that layout), so it is valid and aligned for one node.
        unsafe { node.as_ptr().write(Node { header, value }) };
        Some((NodeBox(node.cast()), was_spare))
    }

    /// The tag of a record node; 0 for a subscriber's node.
    pub(super) fn tag(&self) -> u32 {
        if !self.is::<Record>() {
            return 0;
        }
        // SAFETY: the node holds an `Extra` (checked above), which is only ever read.
        unsafe { (*self.value::<Extra<D, T>>()).tag }
    }

    /// The node's address, for the entry points of its vtable.
    pub(super) fn ptr(&self) -> NonNull<Header<D, T>> {
        self.0
    }

    pub(super) fn header(&self) -> &Header<D, T> {
        // SAFETY: a NodeBox owns a node that stays allocated at least as long as itself.
        unsafe { self.0.as_ref() }
    }

    /// The epoll `data` word: the node's address.
    pub(super) fn data(&self) -> u64 {
        self.0.as_ptr() as usize as u64
    }

    /// Marks the node dead: its dispatch entry does nothing from now on.
    pub(super) fn kill(&self) {
        let vtable = &self.header().vtable;
        if let Some(dead) = vtable.get().dead {
            vtable.set(dead);
        }
    }

    /// Marks a live, unborrowed node borrowed; `false` (and nothing changes) if it is not one.
    pub(super) fn lend(&self) -> bool {
        let vtable = &self.header().vtable;
        match vtable.get().borrowed {
            Some(borrowed) => {
                vtable.set(borrowed);
                true
            }
            None => false,
        }
    }

    /// Live and not lent (see [`lend`](Self::lend)).
    pub(super) fn is_unborrowed(&self) -> bool {
        self.header().vtable.get().borrowed.is_some()
    }

    pub(super) fn is_live(&self) -> bool {
        self.header().vtable.get().dead.is_some()
    }

    pub(super) fn is<S: 'static>(&self) -> bool {
        (self.header().vtable.get().type_id)() == TypeId::of::<S>()
    }

    /// The value, as an `S`.
    ///
    /// # Safety
    /// The node holds an `S` (see [`is`](NodeBox::is)).
    pub(super) unsafe fn value<S>(&self) -> *mut S {
        let node = self.0.as_ptr().cast::<Node<D, T, S>>();
        // SAFETY: per the contract the node holds an `S`; no reference is made here.
        unsafe { addr_of_mut!((*node).value) }
    }

    /// Moves the value out; the node, now empty, drops nothing when it is given up.
    ///
    /// # Safety
    /// The node holds an `S` whose value is initialised and used by no one else.
    pub(super) unsafe fn take_value<S>(&self) -> S {
        let vtable = &self.header().vtable;
        let moved = vtable.get().moved.expect("a value is moved out once");
        // SAFETY: per the contract the value is an initialised `S`; the vtable swap below
        // makes sure it is never dropped in place nor read again.
        let value = unsafe { self.value::<S>().read() };
        vtable.set(moved);
        value
    }

    /// Makes a dead node a ghost: its value (if it still has one) is dropped now, its memory
    /// stays until the registry gives the node up, and its events tell the registry a ghost
    /// reported. The vtable is swapped first, so a destructor that panics leaves a node that
    /// drops nothing more (invariant 8).
    pub(super) fn haunt(&self) {
        let vtable = &self.header().vtable;
        let old = vtable.get();
        let Some(ghost) = old.ghost else {
            return; // a ghost already
        };
        vtable.set(ghost);
        // SAFETY: the node was dead or moved (`old` is its vtable then): its value, if it has
        // one, is initialised and used by no one (no handler runs on a dead node), and the
        // swap above makes this its last use.
        unsafe { (old.drop_value)(self.0.cast()) };
    }

    /// Drops the value and keeps the memory in `spares` for a later registration.
    pub(super) fn recycle(self, spares: &mut Spares) {
        let node = core::mem::ManuallyDrop::new(self);
        spares.put(drop_value_of(node.0));
    }

    /// Drops the value and frees the memory: for a node the kernel never saw, whose memory
    /// must go back where it came from.
    pub(super) fn discard(self, spares: &mut Spares, was_spare: bool) {
        let node = core::mem::ManuallyDrop::new(self);
        let spare = drop_value_of(node.0);
        if was_spare {
            spares.put(spare);
        } else {
            spare.free();
        }
    }
}

impl<D, T> Drop for NodeBox<D, T> {
    fn drop(&mut self) {
        drop_value_of(self.0).free();
    }
}

/// Ends a loan ([`NodeBox::lend`]): a node still borrowed is live again; one killed meanwhile
/// stays dead.
///
/// # Safety
/// `node` is allocated (its loan is covered by a hold of the registry: nothing was freed).
pub(super) unsafe fn unlend<D, T>(node: NonNull<Header<D, T>>) {
    // SAFETY: per the contract the node is allocated; its header is read through `&Header`.
    let vtable = unsafe { &node.as_ref().vtable };
    if let Some(live) = vtable.get().unborrowed {
        vtable.set(live());
    }
}

/// Drops a node's value and returns its memory. If the value's destructor panics, the memory
/// is freed before the panic goes on (invariant 6).
fn drop_value_of<D, T>(node: NonNull<Header<D, T>>) -> Spare {
    let spare = Spare::of(node);
    struct FreeOnUnwind(Spare);
    impl Drop for FreeOnUnwind {
        fn drop(&mut self) {
            self.0.free();
        }
    }
    let guard = FreeOnUnwind(spare);
    // SAFETY: `node` is owned by the NodeBox being given up, so its header is readable.
    let vtable = unsafe { node.as_ref() }.vtable.get();
    // SAFETY: the value is initialised (a NodeBox is given up once) and never used again.
    unsafe { (vtable.drop_value)(node.cast()) };
    core::mem::forget(guard);
    spare
}

fn allocate(layout: Layout) -> Option<NonNull<u8>> {
    // SAFETY: a node's layout is never zero-sized (the header is in it).
    NonNull::new(unsafe { alloc(layout) })
}

/// `Box::new(value)`, or `value` back if memory for it cannot be had.
pub(crate) fn try_box<F>(value: F) -> Result<Box<F>, F> {
    let layout = Layout::new::<F>();
    if layout.size() == 0 {
        return Ok(Box::new(value)); // allocates nothing
    }
    // SAFETY: the layout is not zero-sized (checked above).
    let Some(memory) = NonNull::new(unsafe { alloc(layout) }) else {
        return Err(value);
    };
    let memory = memory.cast::<F>();
    // SAFETY: `memory` is fresh, valid and aligned for one `F`, allocated by the global
    // allocator with `F`'s layout, which is what `Box` owns and frees: the box takes it over.
    unsafe {
        memory.as_ptr().write(value);
        Ok(Box::from_raw(memory.as_ptr()))
    }
}

/// The memory of a node whose value is gone: owned by whoever holds it, freed once.
#[derive(Clone, Copy)]
pub(super) struct Spare {
    memory: NonNull<u8>,
    layout: Layout,
}

impl Spare {
    fn of<D, T>(node: NonNull<Header<D, T>>) -> Spare {
        // SAFETY: callers pass a node they own, whose header is initialised.
        let layout = unsafe { node.as_ref() }.vtable.get().layout;
        Spare {
            memory: node.cast(),
            layout,
        }
    }

    fn free(self) {
        // SAFETY: `memory` was allocated with `layout` and its holder gives it up here.
        unsafe { dealloc(self.memory.as_ptr(), self.layout) }
    }
}

/// Memory of freed nodes, kept by layout for later registrations of the same layout, so that
/// churn (registrations added and deleted, again and again, or in bursts) does not go through
/// the allocator. A node gets here only where it could be freed (its DEL succeeded and no
/// batch can point at it), so reuse is no different from the allocator handing the address
/// back; keys carry generations for that reason.
///
/// One block at hand (the common churn: one node freed, one made, again and again), then a
/// few layouts ([`SPARE_LAYOUTS`]), each a list threaded through the first word of its blocks,
/// at most [`SPARE_BYTES`] of each: little resident, and little code on the churn path.
pub(super) struct Spares {
    hot: Option<Spare>,
    lists: [Option<SpareList>; SPARE_LAYOUTS],
}

/// Free memory of one layout: `head` is the first block; each block's first word holds the
/// next (null in the last).
#[derive(Clone, Copy)]
struct SpareList {
    layout: Layout,
    head: NonNull<u8>,
    len: usize,
}

/// Layouts kept in lists at a time; memory of another layout goes back to the allocator.
const SPARE_LAYOUTS: usize = 4;

/// Bytes kept in a layout's list.
const SPARE_BYTES: usize = 4096;

/// Larger nodes go back to the allocator, so a big subscriber does not stay resident.
const SPARE_MAX_SIZE: usize = 512;

// A block holds the link to the next: every node is at least a header, aligned as one.
static_assertions::const_assert!(
    core::mem::size_of::<Header<(), crate::threads::Local>>() >= core::mem::size_of::<*mut u8>()
);
static_assertions::const_assert!(
    core::mem::align_of::<Header<(), crate::threads::Local>>() >= core::mem::align_of::<*mut u8>()
);

impl Spares {
    pub(super) fn new() -> Spares {
        Spares {
            hot: None,
            lists: [None; SPARE_LAYOUTS],
        }
    }

    /// Memory for a node of `layout`, if some is kept.
    #[inline]
    pub(super) fn take(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        match self.hot {
            Some(spare) if spare.layout == layout => self.hot.take().map(|spare| spare.memory),
            _ => self.take_listed(layout),
        }
    }

    #[inline(never)]
    fn take_listed(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        let entry = self
            .lists
            .iter_mut()
            .find(|list| matches!(list, Some(list) if list.layout == layout))?;
        let list = entry.as_mut()?;
        let memory = list.head;
        if list.len == 1 {
            *entry = None;
        } else {
            // SAFETY: `memory` is a block of this list: unused node memory, aligned for a
            // pointer and large enough for one (asserted above), whose first word `put_listed`
            // wrote; only this list reads it.
            let next = unsafe { memory.cast::<*mut u8>().as_ptr().read() };
            // A list of `len` blocks links `len - 1` of them: `next` is not null.
            list.head = NonNull::new(next)?;
            list.len -= 1;
        }
        Some(memory)
    }

    /// Keeps `spare` for a later node of its layout, or frees it if it is too large or its
    /// layout's list is full (or no list is free for a new layout).
    #[inline]
    pub(super) fn put(&mut self, spare: Spare) {
        if spare.layout.size() > SPARE_MAX_SIZE {
            return spare.free();
        }
        match self.hot {
            None => self.hot = Some(spare),
            Some(_) => self.put_listed(spare),
        }
    }

    #[inline(never)]
    fn put_listed(&mut self, spare: Spare) {
        let size = spare.layout.size();
        let (mut found, mut empty) = (None, None);
        for (at, list) in self.lists.iter().enumerate() {
            match list {
                Some(list) if list.layout == spare.layout => found = Some(at),
                None if empty.is_none() => empty = Some(at),
                _ => {}
            }
        }
        let link = spare.memory.cast::<*mut u8>().as_ptr();
        match (found, empty) {
            (Some(at), _) => {
                let Some(list) = self.lists[at].as_mut() else {
                    return spare.free(); // found above: cannot happen
                };
                if (list.len + 1) * size > SPARE_BYTES {
                    return spare.free();
                }
                // SAFETY: the block is unused node memory of this layout, owned by the caller
                // and given to the list here: aligned for a pointer and large enough for one
                // (asserted above).
                unsafe { link.write(list.head.as_ptr()) };
                list.head = spare.memory;
                list.len += 1;
            }
            (None, Some(at)) => {
                // SAFETY: as above; the first block of a list links to nothing.
                unsafe { link.write(core::ptr::null_mut()) };
                self.lists[at] = Some(SpareList {
                    layout: spare.layout,
                    head: spare.memory,
                    len: 1,
                });
            }
            (None, None) => spare.free(),
        }
    }
}

impl Drop for Spares {
    fn drop(&mut self) {
        if let Some(spare) = self.hot.take() {
            spare.free();
        }
        for at in 0..SPARE_LAYOUTS {
            // Lists have distinct layouts, so `take_listed` pops from this one.
            while let Some(layout) = self.lists[at].map(|list| list.layout) {
                let Some(memory) = self.take_listed(layout) else {
                    break;
                };
                Spare { memory, layout }.free();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::{self, AsFd};
    use alloc::vec::Vec;

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

    fn node<S: Subscriber>(value: S, spares: &mut Spares) -> NodeBox<(), crate::threads::Local> {
        NodeBox::new(value, Key::fresh(0), Interest::empty(), spares)
            .unwrap()
            .0
    }

    #[test]
    fn header_is_first_and_nodes_are_aligned_for_the_data_word() {
        assert_eq!(
            core::mem::offset_of!(Node<(), crate::threads::Local, Zst>, header),
            0
        );
        let mut spares = Spares::new();
        let n = node(Zst, &mut spares);
        let align = core::mem::align_of::<Header<(), crate::threads::Local>>();
        assert_eq!(n.data() % align as u64, 0);
        assert!(n.is::<Zst>() && !n.is::<u8>());
        assert!(n.is_live());
        n.kill();
        assert!(!n.is_live() && n.is::<Zst>(), "a dead node forgot its type");
        n.kill();
        assert!(!n.is_live());
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
        let first = node(Zst, &mut spares);
        let address = first.data();
        first.recycle(&mut spares);
        let big = node(Big([7; 8]), &mut spares);
        assert_ne!(big.data(), address, "memory of another layout reused");
        let again = node(Zst, &mut spares);
        assert_eq!(again.data(), address, "spare memory not reused");
        assert!(again.is::<Zst>() && big.is::<Big>());
        // Several kept per layout, the last freed first.
        let (a, b) = (node(Zst, &mut spares), node(Zst, &mut spares));
        let (first, last) = (a.data(), b.data());
        a.recycle(&mut spares);
        b.recycle(&mut spares);
        let (c, d) = (node(Zst, &mut spares), node(Zst, &mut spares));
        let mut reused = [c.data(), d.data()];
        reused.sort_unstable();
        let mut freed = [first, last];
        freed.sort_unstable();
        assert_eq!(reused, freed, "spare memory not reused");
        // Up to `SPARE_BYTES` of a layout.
        let size = Layout::new::<Node<(), crate::threads::Local, Zst>>().size();
        let many: Vec<_> = (0..SPARE_BYTES / size + 3)
            .map(|_| node(Zst, &mut spares))
            .collect();
        for n in many {
            n.recycle(&mut spares);
        }
        let kept = spares
            .lists
            .iter()
            .flatten()
            .find(|l| l.layout.size() == size);
        assert_eq!(kept.map(|l| l.len), Some(SPARE_BYTES / size));
        c.recycle(&mut spares);
        d.recycle(&mut spares);
        // SAFETY: `big` holds a `Big`, used by nothing else.
        let value = unsafe { big.take_value::<Big>() };
        assert_eq!(value.0, [7; 8]);
        assert!(!big.is_live());
        big.recycle(&mut spares); // drops nothing
        drop(again); // the rest is freed by `Spares`' drop (leak checks watch it)
        let mut spares = Spares::new();
        let huge = node(Huge([0; 1024]), &mut spares);
        huge.recycle(&mut spares);
        let kept = spares.hot.is_some() || spares.lists.iter().any(Option::is_some);
        assert!(!kept, "a large node's memory was kept");
    }
}
