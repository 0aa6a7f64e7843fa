//! Calls into a subscriber's value off the dispatch path: its `init` right after registration,
//! and its handler for a timer it owns. Each runs with a `&mut` to the value outside any
//! batch's control, so the registry is held open meanwhile (a node deleted then is only buried
//! afterwards): nothing frees the node under that `&mut`.

use super::{Core, Registry};
use crate::error::Result;
use crate::interest::Event;
use crate::key::Key;
use crate::ops::Ops;
use crate::threads::Threads;
use crate::timer::Timers;

/// Runs the `init` of the subscriber `key` names (just registered). If it fails, the
/// registration is undone: its registrations removed, its timers cancelled, the subscriber
/// dropped (when the batch is done, if one is open).
pub(crate) fn init<D, T: Threads>(
    registry: &mut Registry<D, T>,
    timers: &mut Timers<D, T>,
    data: Option<&mut D>,
    key: Key,
) -> Result<()> {
    let node = registry.lookup(key)?;
    let (ptr, interest) = (node.ptr(), node.header().interest());
    let entry = node.header().vtable.get().init;
    let held = registry.hold();
    let result = {
        let mut ops = Ops::for_init(registry, timers, data, key, interest);
        // SAFETY: the node is live (looked up above) and of its vtable's type. Nothing else
        // uses its value: it was registered just now, so no event of a batch being dispatched
        // points at it, and no `Ops` reaches a subscriber's value. The registry is held open,
        // so if `init` deletes its own subscriber the node stays allocated until `release`.
        unsafe { entry(ptr, &mut ops) }
    };
    if result.is_err() {
        if let Ok(Some(owned)) = registry.remove(key) {
            timers.cancel_all(owned.timers());
        }
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
    init(&mut core.registry, &mut core.timers, data, key)
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
    let (ptr, interest) = (node.ptr(), node.header().interest());
    let entry = node.header().vtable.get().call;
    let held = registry.hold();
    {
        let mut ops = Ops::for_init(registry, timers, data, key, interest);
        // SAFETY: the node is live (looked up above) and of its vtable's type. Nothing else
        // uses its value: timer callbacks run between batches, where no handler and no `init`
        // is running, and no `Ops` reaches a subscriber's value. The registry is held open, so
        // if the handler deletes its own subscriber the node stays allocated until `release`.
        unsafe { entry(ptr, event, &mut ops) };
    }
    registry.release(held);
}
