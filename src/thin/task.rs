//! Tasks' memory and their raw wakers: one heap cell per spawned future, and the wake that,
//! from any thread, schedules a task on its reactor (through its inbox, `inbox.rs`).
//!
//! A cell is a header that any thread may touch through a `core::task::Waker` (a reference
//! count, the scheduling state, the inbox link: atomics only), then what only the reactor's
//! thread touches: the joiner's waker, the outcome, the output, the future. It may not: poll a
//! future, drop one, or read an output anywhere but through a [`TaskRef`] or a [`JoinRef`],
//! which are neither `Send` nor `Sync` (made on the reactor's thread, they stay there); free a
//! cell while a waker, the executor, a queue or a join handle holds a count on it.
//!
//! A wake sets the `SCHEDULED` bit and, if it was clear and the task is not done, pushes the
//! task on the inbox (a lock-free stack, one count handed over) and writes the inbox's eventfd
//! unless the reactor is awake (`awake`: it is running a turn or between turns, and looks at the
//! inbox before it waits). However many wakes come while it sleeps, one write.

use super::inbox::Inbox;
use super::SharedBox;
use crate::error::{Error, Result};
use alloc::alloc::{alloc, dealloc, Layout};
use core::cell::{Cell, UnsafeCell};
use core::future::Future;
use core::marker::PhantomData;
use core::mem::ManuallyDrop;
use core::pin::Pin;
use core::ptr::{self, addr_of, NonNull};
use core::sync::atomic::{fence, AtomicPtr, AtomicUsize, Ordering};
use core::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

/// In the inbox or the run queue, or claimed by a wake that is pushing it.
const SCHEDULED: usize = 1;
/// The future is gone (finished, panicked or cancelled): wakes do nothing.
const DONE: usize = 2;
/// What every thread may touch: atomics, and fields fixed at spawn.
#[repr(C)]
pub(super) struct Header {
    refs: AtomicUsize,
    state: AtomicUsize,
    /// The next header down the inbox's stack.
    pub(super) next: AtomicPtr<Header>,
    pub(super) inbox: SharedBox<Inbox>,
    vtable: &'static Vtable,
}

/// The typed operations of one future type.
struct Vtable {
    /// Polls the future once; `true` once it is gone (finished or panicked).
    poll: unsafe fn(NonNull<Header>, &mut Context<'_>) -> bool,
    /// Drops the future if it is still there.
    cancel: unsafe fn(NonNull<Header>),
    /// Frees the cell (its future and output gone).
    free: unsafe fn(NonNull<Header>),
}

/// How a task ended, as its join handle sees it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Running,
    Finished,
    Panicked,
    Cancelled,
}

/// What only the reactor's thread touches, whatever the future's type.
#[repr(C)]
struct Local {
    /// The executor's index of the task (its entry in the list of live tasks): 32 bits, so
    /// that with the two flags it takes 8 bytes (the executor has fewer live tasks).
    slot: Cell<u32>,
    /// The join handle is gone: an output is dropped as it comes.
    detached: Cell<bool>,
    outcome: Cell<Outcome>,
    joiner: Cell<Option<Waker>>,
}

/// The part of a cell a join handle can name, knowing the output's type only.
#[repr(C)]
struct Prefix<T> {
    header: Header,
    local: Local,
    output: Cell<Option<T>>,
}

/// One task: `Prefix` first, so a pointer to the cell is a pointer to its prefix and header.
#[repr(C)]
struct TaskCell<F: Future> {
    prefix: Prefix<F::Output>,
    /// Dropped in place, once, when `outcome` leaves `Running` (never moved: it is pinned).
    future: UnsafeCell<ManuallyDrop<F>>,
}

/// The header's fields, through a shared reference (all atomics or fixed).
///
/// # Safety
/// `h` is a live cell's header (a count is held on it).
pub(super) unsafe fn header<'a>(h: NonNull<Header>) -> &'a Header {
    // SAFETY: the caller holds a count, so the cell is allocated; the header is only ever
    // read through shared references (its mutable fields are atomics).
    unsafe { h.as_ref() }
}

/// The reactor-thread part of a cell.
///
/// # Safety
/// `h` is a live cell's header, and the caller is on the thread of the cell's reactor.
unsafe fn prefix<'a, T>(h: NonNull<Header>) -> &'a Prefix<T> {
    // SAFETY: the caller holds a count; the cell is a `TaskCell<F>` with `F::Output = T`
    // (checked where `JoinRef<T>` and `TaskRef` are made), whose first field is a
    // `Prefix<T>` (`repr(C)`); `Local` and `output` are `Cell`s used on one thread only.
    unsafe { h.cast::<Prefix<T>>().as_ref() }
}

/// Adds a count.
///
/// # Safety
/// The caller holds a count on `h`.
unsafe fn retain(h: NonNull<Header>) {
    // SAFETY: the caller's count keeps the cell allocated.
    let refs = &unsafe { header(h) }.refs;
    let before = refs.fetch_add(1, Ordering::Relaxed);
    if before > isize::MAX as usize {
        // Only leaked wakers count this far: never let the count wrap.
        refs.fetch_sub(1, Ordering::Relaxed);
        panic!("too many wakers of one task");
    }
}

/// Gives a count back; the last one frees the cell.
///
/// # Safety
/// The caller holds a count on `h` and gives it up.
pub(super) unsafe fn release(h: NonNull<Header>) {
    // SAFETY: the caller's count keeps the cell allocated until this decrement.
    let free = unsafe { header(h) }.vtable.free;
    // SAFETY: as above.
    if unsafe { header(h) }.refs.fetch_sub(1, Ordering::Release) == 1 {
        fence(Ordering::Acquire);
        // SAFETY: that was the last count: nothing else can reach the cell.
        unsafe { free(h) }
    }
}

/// Schedules the task unless it is scheduled already or done. `owned`: the caller gives up a
/// count (a `wake` by value), else it keeps its own (`wake_by_ref`).
///
/// # Safety
/// The caller holds a count on `h`.
unsafe fn schedule(h: NonNull<Header>, owned: bool) {
    // SAFETY: the caller's count.
    let head = unsafe { header(h) };
    let before = head.state.fetch_or(SCHEDULED, Ordering::AcqRel);
    if before & (SCHEDULED | DONE) == 0 {
        // SAFETY: the caller's count; the new one goes to the inbox.
        unsafe { retain(h) };
        // SAFETY: `h` is live (the caller's count), and the new count is handed over.
        unsafe { super::inbox::push(h) };
        // The caller's count kept the cell, and so the inbox, alive through the push and
        // notify: the reactor may have run and released the task meanwhile.
        head.inbox.notify();
    }
    if owned {
        // SAFETY: the caller gave its count up.
        unsafe { release(h) }
    }
}

static VTABLE: RawWakerVTable = RawWakerVTable::new(clone_waker, wake, wake_by_ref, drop_waker);

/// `RawWakerVTable::clone`: one more count.
unsafe fn clone_waker(data: *const ()) -> RawWaker {
    // SAFETY: `data` is a header a waker holds a count on (wakers are made only by `poll`
    // from a live task, and by this function).
    unsafe { retain(NonNull::new_unchecked(data as *mut Header)) };
    RawWaker::new(data, &VTABLE)
}

/// `RawWakerVTable::wake`: schedules, and gives the waker's count up.
unsafe fn wake(data: *const ()) {
    // SAFETY: as in `clone_waker`; the waker's count is given up.
    unsafe { schedule(NonNull::new_unchecked(data as *mut Header), true) }
}

/// `RawWakerVTable::wake_by_ref`: schedules.
unsafe fn wake_by_ref(data: *const ()) {
    // SAFETY: as in `clone_waker`; the waker keeps its count.
    unsafe { schedule(NonNull::new_unchecked(data as *mut Header), false) }
}

/// `RawWakerVTable::drop`: gives the waker's count up.
unsafe fn drop_waker(data: *const ()) {
    // SAFETY: as in `clone_waker`.
    unsafe { release(NonNull::new_unchecked(data as *mut Header)) }
}

/// Polls a `TaskCell<F>` once.
///
/// # Safety
/// `h` is a live `TaskCell<F>`, on its reactor's thread, not being polled already.
unsafe fn poll_cell<F: Future>(h: NonNull<Header>, cx: &mut Context<'_>) -> bool {
    let cell = h.cast::<TaskCell<F>>().as_ptr();
    // SAFETY: live, on the reactor's thread.
    let local = unsafe { &prefix::<F::Output>(h).local };
    if local.outcome.get() != Outcome::Running {
        return true;
    }
    /// If the poll panics: the task is done (panicked), its future dropped once.
    struct OnUnwind<F: Future>(NonNull<Header>, PhantomData<F>);
    impl<F: Future> Drop for OnUnwind<F> {
        fn drop(&mut self) {
            // SAFETY: the same cell, still live (the poller holds a count), same thread; the
            // poll that borrowed the future is over (it is unwinding).
            unsafe {
                if prefix::<F::Output>(self.0).local.outcome.get() == Outcome::Running {
                    end::<F>(self.0, Outcome::Panicked, None)
                }
            }
        }
    }
    let guard = OnUnwind::<F>(h, PhantomData);
    // SAFETY: the future is there (`Running`), only this poll reaches it now, and it is never
    // moved: it stays in the cell until it is dropped in place.
    let future = unsafe { Pin::new_unchecked(&mut **(*cell).future.get()) };
    let polled = future.poll(cx);
    core::mem::forget(guard);
    match polled {
        Poll::Pending => false,
        Poll::Ready(output) => {
            // SAFETY: as above; the borrow of the future ended with the poll.
            unsafe { end::<F>(h, Outcome::Finished, Some(output)) };
            true
        }
    }
}

/// Ends a running task: records the outcome and output (dropped if detached), marks it done,
/// wakes its joiner, then drops the future in place. Everything is consistent before any
/// destructor runs, and the joiner is woken before the future's destructor runs, so a
/// destructor that panics cannot lose the joiner's wake.
///
/// # Safety
/// `h` is a live `TaskCell<F>` whose outcome is `Running`, on its reactor's thread, and no
/// reference to its future is in use.
unsafe fn end<F: Future>(h: NonNull<Header>, outcome: Outcome, output: Option<F::Output>) {
    let cell = h.cast::<TaskCell<F>>().as_ptr();
    // SAFETY: live, on the reactor's thread.
    let prefix = unsafe { prefix::<F::Output>(h) };
    prefix.local.outcome.set(outcome);
    // SAFETY: live.
    unsafe { header(h) }.state.fetch_or(DONE, Ordering::AcqRel);
    let dropped = if prefix.local.detached.get() {
        output
    } else {
        prefix.output.set(output);
        None
    };
    if let Some(joiner) = prefix.local.joiner.take() {
        joiner.wake();
    }
    // SAFETY: `outcome` left `Running` above, so nothing reaches the future again; it is
    // dropped here once, in place.
    unsafe { ManuallyDrop::drop(&mut *(*cell).future.get()) };
    drop(dropped);
}

/// Drops the future of a `TaskCell<F>` if it is still running.
///
/// # Safety
/// `h` is a live `TaskCell<F>`, on its reactor's thread, not being polled.
unsafe fn cancel_cell<F: Future>(h: NonNull<Header>) {
    // SAFETY: live, same thread.
    if unsafe { prefix::<F::Output>(h) }.local.outcome.get() == Outcome::Running {
        // SAFETY: running, not being polled.
        unsafe { end::<F>(h, Outcome::Cancelled, None) }
    }
}

/// Frees a `TaskCell<F>`.
///
/// # Safety
/// The last count on `h` was just given up; its future was dropped and its output taken
/// (so this runs on any thread: what it drops is `Send`).
unsafe fn free_cell<F: Future>(h: NonNull<Header>) {
    let cell = h.cast::<TaskCell<F>>().as_ptr();
    // SAFETY: the last count: nothing else reaches the cell. The future was dropped in place
    // (`end` ran before the executor gave its count up) and is not dropped again; the prefix
    // holds the inbox handle, the joiner's waker (`Send`) and an empty output.
    unsafe { ptr::drop_in_place(addr_of!((*cell).prefix) as *mut Prefix<F::Output>) };
    // SAFETY: allocated in `TaskRef::spawn` with this layout.
    unsafe { dealloc(cell.cast(), Layout::new::<TaskCell<F>>()) }
}

/// A count on a task, held on its reactor's thread: the executor's list of live tasks, and
/// its run queue, hold these.
pub(crate) struct TaskRef {
    h: NonNull<Header>,
    /// Neither `Send` nor `Sync`: it polls and drops futures.
    _here: PhantomData<*mut ()>,
}

/// The counts `TaskRef::spawn` makes: one for the executor's list, one for the run queue,
/// one for the join handle.
pub(crate) type Spawned<T> = (TaskRef, TaskRef, JoinRef<T>);

impl TaskRef {
    /// Takes over a count on `h` (the inbox's, for one it pushed).
    pub(super) fn adopt(h: NonNull<Header>) -> TaskRef {
        TaskRef {
            h,
            _here: PhantomData,
        }
    }

    /// A new task for `future`, scheduled (its run-queue count is the second `TaskRef`).
    ///
    /// # Errors
    /// If memory for it cannot be had (`ENOMEM`), the future is given back, for the caller to
    /// drop once it holds no borrow its destructor may need.
    pub(crate) fn spawn<F>(future: F, inbox: &SharedBox<Inbox>) -> Result<Spawned<F::Output>, F>
    where
        F: Future + 'static,
    {
        let layout = Layout::new::<TaskCell<F>>();
        // SAFETY: not zero-sized (the header is in it).
        let Some(memory) = NonNull::new(unsafe { alloc(layout) }) else {
            return Err(future);
        };
        let cell = TaskCell {
            prefix: Prefix {
                header: Header {
                    refs: AtomicUsize::new(3),
                    state: AtomicUsize::new(SCHEDULED),
                    next: AtomicPtr::new(ptr::null_mut()),
                    inbox: inbox.clone(),
                    vtable: &Vtable {
                        poll: poll_cell::<F>,
                        cancel: cancel_cell::<F>,
                        free: free_cell::<F>,
                    },
                },
                local: Local {
                    slot: Cell::new(u32::MAX),
                    detached: Cell::new(false),
                    outcome: Cell::new(Outcome::Running),
                    joiner: Cell::new(None),
                },
                output: Cell::new(None),
            },
            future: UnsafeCell::new(ManuallyDrop::new(future)),
        };
        // SAFETY: fresh memory, valid and aligned for one `TaskCell<F>`.
        unsafe { memory.cast::<TaskCell<F>>().as_ptr().write(cell) };
        let h = memory.cast::<Header>();
        let join = JoinRef {
            h,
            _here: PhantomData,
        };
        Ok((TaskRef::adopt(h), TaskRef::adopt(h), join))
    }

    /// Polls the task once (clearing `SCHEDULED` first, so a wake during the poll schedules
    /// it again); `true` once it is done. A panic in the poll ends the task (its future
    /// dropped once) and goes on to the caller.
    pub(crate) fn poll(&self) -> bool {
        // SAFETY: this `TaskRef`'s count.
        let head = unsafe { header(self.h) };
        head.state.fetch_and(!SCHEDULED, Ordering::AcqRel);
        // A waker borrowed for the poll: it holds no count of its own (this `TaskRef`'s
        // keeps the cell alive meanwhile), so it is never dropped; clones take counts.
        // SAFETY: the data is a live header and the vtable is this module's.
        let waker = ManuallyDrop::new(unsafe {
            Waker::from_raw(RawWaker::new(self.h.as_ptr() as *const (), &VTABLE))
        });
        let mut cx = Context::from_waker(&waker);
        // SAFETY: a `TaskRef` lives on its reactor's thread, and the executor polls one task at
        // a time and is not re-entered from a poll (it is not reachable from a future).
        unsafe { (head.vtable.poll)(self.h, &mut cx) }
    }

    /// Drops the future if the task still runs (its join handle then reports `Closed`).
    pub(crate) fn cancel(&self) {
        // SAFETY: this count; on the reactor's thread; not called from the task's own poll
        // (the executor cancels only when the reactor goes, outside any poll).
        unsafe { (header(self.h).vtable.cancel)(self.h) }
    }

    /// Whether both name one task.
    pub(crate) fn same(&self, other: &TaskRef) -> bool {
        self.h == other.h
    }

    /// Whether the task is done.
    pub(crate) fn is_done(&self) -> bool {
        // SAFETY: this count.
        unsafe { header(self.h) }.state.load(Ordering::Acquire) & DONE != 0
    }

    /// The executor's index of the task.
    pub(crate) fn slot(&self) -> usize {
        // SAFETY: this count, this thread; `Local` does not depend on the output type.
        unsafe { prefix::<()>(self.h) }.local.slot.get() as usize
    }

    /// Sets the executor's index of the task.
    pub(crate) fn set_slot(&self, slot: u32) {
        // SAFETY: as in `slot`.
        unsafe { prefix::<()>(self.h) }.local.slot.set(slot)
    }
}

impl Drop for TaskRef {
    fn drop(&mut self) {
        // SAFETY: this `TaskRef`'s count, given up once.
        unsafe { release(self.h) }
    }
}

/// A join handle's count on a task whose output is a `T`.
pub(crate) struct JoinRef<T> {
    h: NonNull<Header>,
    _here: PhantomData<(*mut (), T)>,
}

impl<T> JoinRef<T> {
    fn prefix(&self) -> &Prefix<T> {
        // SAFETY: this count; made by `TaskRef::spawn` for a future whose output is `T`; not
        // `Send`, so on the reactor's thread.
        unsafe { prefix::<T>(self.h) }
    }

    /// Whether the task is done (finished, panicked or cancelled).
    pub(crate) fn is_finished(&self) -> bool {
        self.prefix().local.outcome.get() != Outcome::Running
    }

    /// The task's result, if it is done: its output (taken once; `None` after), or
    /// `Error::Panicked`, or `Error::Closed` if the reactor dropped it.
    pub(crate) fn take(&self) -> Option<Result<T>> {
        let prefix = self.prefix();
        match prefix.local.outcome.get() {
            Outcome::Running => None,
            Outcome::Finished => prefix.output.take().map(Ok),
            Outcome::Panicked => Some(Err(Error::Panicked)),
            Outcome::Cancelled => Some(Err(Error::Closed)),
        }
    }

    /// Registers the waker to wake when the task is done.
    pub(crate) fn wake_when_done(&self, waker: &Waker) {
        let joiner = &self.prefix().local.joiner;
        let old = joiner.take();
        match old {
            Some(old) if old.will_wake(waker) => joiner.set(Some(old)),
            _ => joiner.set(Some(waker.clone())),
        }
    }
}

impl<T> Drop for JoinRef<T> {
    fn drop(&mut self) {
        let prefix = self.prefix();
        prefix.local.detached.set(true);
        let output = prefix.output.take();
        let joiner = prefix.local.joiner.take();
        // SAFETY: this handle's count, given up once; nothing of the prefix is used after.
        unsafe { release(self.h) };
        drop((output, joiner));
    }
}
