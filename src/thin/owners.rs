//! Calls into a subscriber's value off the dispatch path: its `init` right after registration,
//! its handler for a timer it owns, and a closure lent it by `with`. Each runs with a `&mut` to
//! the value outside any batch's control, so the registry is held open meanwhile (a node
//! deleted then is only buried afterwards): nothing frees the node under that `&mut`. The node
//! is marked borrowed meanwhile (its vtable swapped for the borrowed twin), and so is the
//! subscriber whose `Ops` asked (its handler or `init` is running): `with` refuses a borrowed
//! node, so each value has at most one `&mut` at any moment (invariant 12).

use super::node::{unlend, Header, NodeBox};
use super::{Core, Registry};
use crate::error::{Error, Result};
use crate::interest::Event;
use crate::key::Key;
use crate::ops::Ops;
use crate::subscriber::Subscriber;
use crate::threads::Threads;
use crate::timer::{TimerKey, Timers};
use core::ptr::NonNull;

/// Nodes marked borrowed, unmarked when it drops (a panic included). Made only under a hold of
/// the registry, and dropped before its release: the nodes are allocated until then.
struct Loan<D, T: 'static>([Option<NonNull<Header<D, T>>>; 2]);

impl<D, T: Threads> Loan<D, T> {
    fn of(nodes: [Option<&NodeBox<D, T>>; 2]) -> Loan<D, T> {
        Loan(nodes.map(|node| node.filter(|node| node.lend()).map(NodeBox::ptr)))
    }
}

impl<D, T> Drop for Loan<D, T> {
    fn drop(&mut self) {
        for node in self.0.iter().flatten() {
            // SAFETY: the loan is dropped before the hold it was made under is released, so
            // nothing was freed meanwhile.
            unsafe { unlend(*node) };
        }
    }
}

/// Runs the `init` of the subscriber `key` names (just registered). If it fails, the
/// registration is undone: its registrations removed, its timers cancelled, the subscriber
/// dropped (when the batch is done, if one is open).
pub(crate) fn init<D, T: Threads>(
    registry: &mut Registry<D, T>,
    timers: &mut Timers<D, T>,
    data: Option<&mut D>,
    key: Key,
    running: Key,
) -> Result<()> {
    let node = registry.lookup(key)?;
    let (ptr, interest) = (node.ptr(), node.header().interest());
    let entry = node.header().vtable.get().init;
    let held = registry.hold();
    let loan = Loan::of([registry.lookup(key).ok(), registry.lookup(running).ok()]);
    let result = {
        let mut ops = Ops::for_init(registry, timers, data, key, interest);
        // The node is live (looked up above) and of its vtable's type. Nothing else uses its
        // value: it was registered just now, so no event of a batch being dispatched points at
        // it, and no `Ops` reaches a subscriber's value. The registry is held open, so if
        // `init` deletes its own subscriber the node stays allocated until `release`.
        // SAFETY: a live node of the entry's type, its value unaliased (see just above).
        unsafe { super::node::enter_init(entry, ptr, &mut ops) }
    };
    drop(loan);
    if result.is_err() {
        let _ = registry.remove(key, |owned| {
            if let Some(owned) = owned {
                timers.cancel_all(owned.timers());
            }
        }); // stale: `init` deleted it already
    }
    registry.release(held);
    result
}

/// [`init`] outside any `Ops` (from `Reactor::register`): the state is lent only when it is
/// zero-sized.
pub(crate) fn init_outside<D, T: Threads>(core: &mut Core<D, T>, key: Key) -> Result<()> {
    let data = if core::mem::size_of::<D>() == 0 {
        // SAFETY: for a zero-sized `D`, `core.data` is dangling, aligned and non-null (it is
        // never set), which is a valid, unique reference to a zero-sized value.
        Some(unsafe { &mut *core.data })
    } else {
        None
    };
    init(&mut core.registry, &mut core.timers, data, key, Key::NONE)
}

/// Calls the handler of the subscriber `key` names with `event` (its own timer fired), from a
/// timer callback. A stale key (the owner deleted meanwhile) calls nothing.
pub(crate) fn deliver<D, T: Threads>(
    registry: &mut Registry<D, T>,
    timers: &mut Timers<D, T>,
    data: Option<&mut D>,
    key: Key,
    event: Event,
) {
    let Ok(node) = registry.lookup(key) else {
        return;
    };
    if !node.is_unborrowed() {
        // Timer callbacks run between batches, where no value is in use; were one, its
        // timer's event would be dropped rather than reach it a second time.
        return;
    }
    let (ptr, interest) = (node.ptr(), node.header().interest());
    let entry = node.header().vtable.get().call;
    let held = registry.hold();
    let loan = Loan::of([registry.lookup(key).ok(), None]);
    {
        let mut ops = Ops::for_init(registry, timers, data, key, interest);
        // The node is live (looked up above) and of its vtable's type. Nothing else uses its
        // value: it is not borrowed (checked above: every `init`, owned timer's handler and
        // `with` marks the value it uses), and timer callbacks run between batches, where no
        // handler is running. The registry is held open, so if the handler deletes its own
        // subscriber the node stays allocated until `release`.
        // SAFETY: a live node of the entry's type, its value unaliased (see just above).
        unsafe { super::node::enter_call(entry, ptr, event, &mut ops) };
    }
    drop(loan);
    registry.release(held);
}

/// Takes the subscriber `key` names, an `S`, out of the reactor from a handler whose own key
/// is `running`: refused with [`Error::Busy`] for the running subscriber and for one borrowed
/// further up the stack (a `with`, an `init`, an owned timer's handler), so no reference to
/// the value exists while it moves out.
pub(crate) fn take<S, D, T>(
    registry: &mut Registry<D, T>,
    running: Key,
    key: Key,
) -> Result<(S, crate::thin::Owned<D, T>)>
where
    S: Subscriber<D, T>,
    T: Threads,
{
    registry.take_in();
    let node = registry.typed::<S>(key)?;
    if key == running || !node.is_unborrowed() {
        return Err(Error::Busy(key));
    }
    registry.take::<S>(key)
}

/// Lends the value of the subscriber `key` names, an `S`, to `f`, with an `Ops` like the
/// caller's (`running` and `timer` are its key and timer). Refused with
/// [`Error::Busy`] for the running subscriber and for one borrowed further up the stack.
#[allow(clippy::too_many_arguments)]
pub(crate) fn with<S, R, D, T, F>(
    registry: &mut Registry<D, T>,
    timers: &mut Timers<D, T>,
    data: Option<&mut D>,
    running: (Key, crate::interest::Interest, Option<TimerKey>),
    key: Key,
    f: F,
) -> Result<R>
where
    S: Subscriber<D, T>,
    T: Threads,
    F: FnOnce(&mut S, &mut Ops<'_, D, T>) -> R,
{
    registry.take_in();
    let node = registry.typed::<S>(key)?;
    if key == running.0 || !node.is_unborrowed() {
        return Err(Error::Busy(key));
    }
    // SAFETY: the node holds an `S` (`typed`); no reference is made here.
    let value = unsafe { node.value::<S>() };
    let held = registry.hold();
    let loan = Loan::of([registry.lookup(key).ok(), registry.lookup(running.0).ok()]);
    let result = {
        let (current, interest, timer) = running;
        let mut ops = Ops::for_with(registry, timers, data, current, interest, timer);
        // The node is live and holds an `S` (`typed`), and was not borrowed (checked above):
        // no handler, `init`, owned timer's handler or `with` further up the stack uses its
        // value (each marks the value it uses, and the running subscriber is refused by key).
        // It is marked borrowed now, so no nested `with` reaches it, and the registry is held,
        // so deleting it inside `f` leaves it allocated until after `f` returns.
        // SAFETY: a live `S`, unaliased while `f` runs (see just above).
        let value = unsafe { &mut *value };
        f(value, &mut ops)
    };
    drop(loan);
    registry.release(held);
    Ok(result)
}
