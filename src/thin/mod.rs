//! The pointer boundary: one heap node per subscriber, the registry that decides when a node
//! may be freed, and the dispatch loop that follows the kernel's `data` words to them.
//!
//! - `node`: the node layout and its hand-written vtables, node memory and its reuse;
//! - `registry`: the epoll set, the slots by fd number, the graveyard, the rebuild after a
//!   refused DEL, the fork guard;
//! - `registrar` (feature `std`): the desk through which other threads register into a
//!   `Sendable` reactor's epoll set, and how the reactor takes their nodes in;
//! - `table`: values by fd number in small pages made on demand (the registry's slots);
//! - `dispatch`: the event buffer and the dispatch loop with its panic guard;
//! - `owners`: calls into a value off the dispatch path (`init`, an owned timer's event);
//! - `shared`: `SharedBox`, the handles' `Arc` whose allocation can fail;
//! - `ring`: the bounded lock-free queue of values behind `barepoll::channel` and the remote
//!   queue;
//! - `task` (feature `tasks`): tasks' cells and their raw wakers; `inbox`: the stack wakes from
//!   any thread push tasks on, and the executor's state; `pinned`: a future pinned in place
//!   beside an unpinned companion (a timeout's future and its sleep).
//!
//! Everything whose misuse could free a node too early lives here, behind a safe API: the epoll
//! fd (never handed out, so nothing else can register a `data` word), the event buffer, the
//! batch flag and the graveyard. Nothing outside this folder can drop a node. The invariants
//! it keeps (numbered as in the crate's technical chapter):
//! 1. every `data` word the kernel can return points to an allocated node;
//! 2. a node is freed only once no kernel registration can name it (its DEL succeeded, or the
//!    epoll set was rebuilt without it) and no undispatched event of a batch can point at it;
//! 3. a node deleted during a batch is marked dead at once: its dispatch entry becomes a no-op;
//! 4. lookups check the key's generation, unique in the process, so a stale or foreign key
//!    never reaches another node;
//! 5. while a handler runs, the only `&mut` to its subscriber is the one it was given;
//! 9. a registry inherited through `fork()` makes no kernel call;
//! 11. a node's further registrations (records) are nodes too, killed with it, so 1-3 hold
//!     for each; a live record's owner is live and allocated;
//! 12. a value in use off the dispatch path (`init`, an owned timer's handler, `with`) is
//!     marked borrowed, and `with` lends no borrowed or running value.

mod dispatch;
#[cfg(feature = "tasks")]
mod inbox;
mod node;
mod owners;
#[cfg(feature = "tasks")]
mod pinned;
#[cfg(feature = "std")]
mod registrar;
mod registry;
mod ring;
mod shared;
mod table;
#[cfg(feature = "tasks")]
mod task;

pub use dispatch::MAX_CAPACITY;
pub(crate) use dispatch::{waited, Events};
#[cfg(feature = "tasks")]
pub(crate) use inbox::{move_back, Executor, Inbox, TaskIo, Tasks};
pub(crate) use node::try_box;
pub(crate) use owners::{deliver, init, init_outside, take, with};
#[cfg(feature = "tasks")]
pub(crate) use pinned::Pinned;
#[cfg(feature = "std")]
pub(crate) use registrar::Desk;
#[cfg(feature = "std")]
pub(crate) use registry::REMOTE;
#[cfg(feature = "tasks")]
pub(crate) use registry::TASKS;
pub(crate) use registry::{Owned, Registry, DEFERRED, OBSERVED, OPEN, TIMERS};
pub(crate) use ring::Ring;
pub(crate) use shared::SharedBox;
#[cfg(feature = "tasks")]
pub(crate) use task::{JoinRef, TaskRef};

use crate::error::Result;
use crate::threads::{Sendable, Threads};
use crate::timer::{Callback, TimerKey, Timers};

/// Everything a reactor owns but its event buffer: the registry, the timers, and the callback
/// of a timer that is running (or panicked, until the next turn finishes it).
pub(crate) struct Core<D, T: 'static> {
    pub(crate) registry: Registry<D, T>,
    pub(crate) timers: Timers<D, T>,
    pub(crate) running: Option<(TimerKey, Callback<D, T>)>,
    /// The observer, if one was given (`Reactor::observe`).
    pub(crate) watch: Option<crate::observe::Watch>,
    /// The state of the batch being dispatched (set by dispatch, read by the handlers' entry
    /// points); dangling between batches, when nothing reads it. A zero-sized state is never
    /// set: a dangling, aligned pointer is a valid address for it.
    data: *mut D,
}

impl<D, T: Threads> Core<D, T> {
    pub(crate) fn new() -> Result<Core<D, T>> {
        Ok(Core {
            registry: Registry::new()?,
            timers: Timers::new(),
            running: None,
            watch: None,
            data: core::ptr::NonNull::dangling().as_ptr(),
        })
    }
}

// SAFETY: a `Core<_, Sendable>` owns everything it points to: the registry's nodes (heap
// memory reached only through the registry and the events of its reactor, which moves with
// it), its fds and its fork guard (`Send`), boxed timer callbacks and a boxed observer. Every
// value it holds that could be `!Send` entered through `Registry::insert` (subscribers),
// `Timers::arm` and `Timers::defer` (callbacks) or `Reactor::observe` (the observer), and each
// requires
// `Sendable: Admit<X>`, which holds only for `X: Send`;
// `Registry::insert_internal` (the timers' alarm) requires `Send` itself. The executor of
// tasks (feature `tasks`), which holds `!Send` futures, is only ever made for a `Local`
// reactor (`task::executor` takes a `Registry<D, Local>`), so a `Sendable` one has none. No
// value of type `D` is stored (`data` points to the caller's state only while a batch runs,
// on the thread running it). Nothing is shared with other threads (it is not `Sync`).
unsafe impl<D> Send for Core<D, Sendable> {}
