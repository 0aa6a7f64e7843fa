//! Tasks' memory and their raw wakers: one heap cell per spawned future, and the inbox through
//! which a wake, from any thread, schedules a task on its reactor.
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

use super::SharedBox;
use crate::error::{Error, Result};
use crate::interest::Event;
use crate::key::Key;
use crate::sys::{self, AsFd, BorrowedFd, Errno, OwnedFd};
use alloc::alloc::{alloc, dealloc, Layout};
use alloc::collections::VecDeque;
use alloc::rc::Rc;
use alloc::vec::Vec;
use core::cell::{Cell, RefCell, UnsafeCell};
use core::future::Future;
use core::marker::PhantomData;
use core::mem::ManuallyDrop;
use core::pin::Pin;
use core::ptr::{self, addr_of, NonNull};
use core::sync::atomic::{fence, AtomicBool, AtomicPtr, AtomicUsize, Ordering};
use core::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

/// In the inbox or the run queue, or claimed by a wake that is pushing it.
const SCHEDULED: usize = 1;
/// The future is gone (finished, panicked or cancelled): wakes do nothing.
const DONE: usize = 2;
/// How many times a wake writes if its writes are interrupted (`EINTR`).
const WRITE_TRIES: usize = 8;

/// Where wakes from any thread put the tasks they schedule, and the eventfd that wakes the
/// reactor when it sleeps.
pub(crate) struct Inbox {
    /// A stack of headers linked by `next`, newest first; `closed()` once the reactor is gone.
    head: AtomicPtr<Header>,
    /// The reactor will look at `head` before it blocks: a wake need not write.
    awake: AtomicBool,
    fd: OwnedFd,
}

/// The sentinel `head` of a closed inbox: never a header's address (headers are aligned).
fn closed() -> *mut Header {
    1usize as *mut Header
}

impl Inbox {
    pub(crate) fn new() -> Result<Inbox> {
        Ok(Inbox {
            head: AtomicPtr::new(ptr::null_mut()),
            awake: AtomicBool::new(true),
            fd: sys::eventfd(0, sys::EFD_NONBLOCK)?,
        })
    }

    /// Before the reactor waits: from now on wakes write the eventfd. Returns whether it may
    /// block (nothing was pushed); if not, it stays awake (its wait must not block).
    pub(crate) fn may_sleep(&self) -> bool {
        // SeqCst pairs with the push's SeqCst exchange and swap: either this load sees the
        // push, or the pusher's swap sees `false` and writes.
        self.awake.store(false, Ordering::SeqCst);
        if self.head.load(Ordering::SeqCst).is_null() {
            return true;
        }
        self.awake.store(true, Ordering::SeqCst);
        false
    }

    /// After the reactor's wait: it is awake, so wakes need not write until the next wait.
    pub(crate) fn awake(&self) {
        self.awake.store(true, Ordering::SeqCst);
    }

    /// Empties the eventfd (the reactor's thread, when it reported readable).
    pub(crate) fn clear(&self) {
        // EAGAIN: empty already. Nothing else can fail for this eventfd; if something did, it
        // stays readable and the next turn comes back here: a spurious wake at worst.
        if sys::read(self.fd.as_fd(), &mut [0u8; 8]).is_err() {}
    }

    /// Moves what wakes pushed to the back of `ready`, oldest first.
    pub(crate) fn drain(&self, ready: &mut VecDeque<TaskRef>) {
        if self.head.load(Ordering::Relaxed).is_null() {
            return;
        }
        let top = self.head.swap(ptr::null_mut(), Ordering::Acquire);
        adopt_stack(top, ready);
    }

    /// The reactor is gone: later pushes give their count back at once. Moves what was
    /// pushed to `ready`, for the caller to drop on the reactor's thread.
    pub(crate) fn close(&self, ready: &mut VecDeque<TaskRef>) {
        let top = self.head.swap(closed(), Ordering::AcqRel);
        adopt_stack(top, ready);
    }

    /// Makes the eventfd readable unless the reactor is awake or a write is under way. A write
    /// that fails (other than a full counter, which is readable already) lets the next wake
    /// write again, so the inbox never stays mute.
    fn notify(&self) {
        if self.awake.swap(true, Ordering::SeqCst) {
            return;
        }
        for _ in 0..WRITE_TRIES {
            match sys::write(self.fd.as_fd(), &1u64.to_ne_bytes()) {
                Ok(_) | Err(Errno::EAGAIN) => return,
                Err(Errno::EINTR) => continue,
                Err(_) => break,
            }
        }
        self.awake.store(false, Ordering::SeqCst);
    }
}

impl AsFd for Inbox {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Moves a stack taken from an inbox to the back of `ready`, oldest first.
fn adopt_stack(mut top: *mut Header, ready: &mut VecDeque<TaskRef>) {
    if top == closed() {
        return;
    }
    let start = ready.len();
    while !top.is_null() {
        // SAFETY: every header on the stack was pushed with a count handed over to the stack
        // (see `push`), so it is allocated; the caller's Acquire swap makes its `next`, written
        // before its push, visible. The count goes on to the `TaskRef`.
        let next = unsafe { (*top).next.load(Ordering::Relaxed) };
        // SAFETY: as above; `top` is not null.
        ready.push_back(TaskRef::adopt(unsafe { NonNull::new_unchecked(top) }));
        top = next;
    }
    ready.make_contiguous()[start..].reverse();
}

/// A reactor's tasks, on its thread: the inbox, the run queue, and every live task (by the
/// index each keeps in its cell, with the free indexes). Shared by the reactor and its
/// spawners, and borrowed only between polls.
pub(crate) struct Executor {
    pub(crate) inbox: SharedBox<Inbox>,
    pub(crate) ready: VecDeque<TaskRef>,
    pub(crate) live: Vec<Option<TaskRef>>,
    pub(crate) free: Vec<usize>,
    /// The reactor is gone: spawns are refused.
    pub(crate) closed: bool,
    /// I/O sources tasks made, for the next turn to register (a task cannot reach the
    /// registry), and the keys of those they dropped, to delete.
    pub(crate) io_add: Vec<Rc<dyn TaskIo>>,
    pub(crate) io_delete: Vec<Key>,
    /// Tasks' sleeps, on a wheel of their own (wakers, not callbacks).
    pub(crate) sleeps: crate::timer::Sleeps,
}

/// An I/O source of tasks, as its registration sees it (`task::io` implements it).
pub(crate) trait TaskIo {
    /// Its fd, registered for the source's whole life.
    fn fd(&self) -> BorrowedFd<'_>;
    /// Its handle was dropped before it was registered: it is not.
    fn dropped(&self) -> bool;
    /// What the registration gave: its key, or the error that refused it.
    fn registered(&self, result: Result<Key>);
    /// An event: readiness to record, wakers to wake.
    fn ready(&self, event: Event);
}

/// The registry's handle on its executor: dropped with the reactor, it closes the inbox and
/// drops every task's future there and then, on the reactor's thread (the futures may hold
/// spawners of this executor: only this breaks that cycle).
pub(crate) struct Tasks(pub(crate) Rc<RefCell<Executor>>);

impl Drop for Tasks {
    fn drop(&mut self) {
        let (ready, live) = {
            let mut executor = self.0.borrow_mut();
            executor.closed = true;
            let mut ready = core::mem::take(&mut executor.ready);
            executor.inbox.close(&mut ready);
            (ready, core::mem::take(&mut executor.live))
        };
        // No borrow is held: a future's destructor may use a spawner (it is refused) or a
        // join handle.
        for task in live.iter().flatten() {
            task.cancel();
        }
        drop((ready, live));
    }
}

/// What every thread may touch: atomics, and fields fixed at spawn.
#[repr(C)]
struct Header {
    refs: AtomicUsize,
    state: AtomicUsize,
    /// The next header down the inbox's stack.
    next: AtomicPtr<Header>,
    inbox: SharedBox<Inbox>,
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
    /// The executor's index of the task (its entry in the list of live tasks).
    slot: Cell<usize>,
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
unsafe fn header<'a>(h: NonNull<Header>) -> &'a Header {
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
    let before = unsafe { header(h) }.refs.fetch_add(1, Ordering::Relaxed);
    if before > isize::MAX as usize {
        // Only leaked wakers count this far: never let the count wrap.
        unsafe { header(h) }.refs.fetch_sub(1, Ordering::Relaxed);
        panic!("too many wakers of one task");
    }
}

/// Gives a count back; the last one frees the cell.
///
/// # Safety
/// The caller holds a count on `h` and gives it up.
unsafe fn release(h: NonNull<Header>) {
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
        unsafe { push(h) };
        // The caller's count kept the cell, and so the inbox, alive through the push and
        // notify: the reactor may have run and released the task meanwhile.
        head.inbox.notify();
    }
    if owned {
        // SAFETY: the caller gave its count up.
        unsafe { release(h) }
    }
}

/// Pushes `h` on its inbox's stack, handing over one count (given back if the inbox closed).
///
/// # Safety
/// `h` is live and the caller hands one count over.
unsafe fn push(h: NonNull<Header>) {
    // SAFETY: live.
    let head = unsafe { header(h) };
    let inbox = &*head.inbox;
    let mut top = inbox.head.load(Ordering::Relaxed);
    loop {
        if top == closed() {
            // SAFETY: the count handed over is not needed; the caller holds another.
            unsafe { release(h) };
            return;
        }
        head.next.store(top, Ordering::Relaxed);
        match inbox
            .head
            .compare_exchange_weak(top, h.as_ptr(), Ordering::SeqCst, Ordering::Relaxed)
        {
            Ok(_) => return,
            Err(now) => top = now,
        }
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
/// destructor runs.
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
    let joiner = prefix.local.joiner.take();
    // SAFETY: `outcome` left `Running` above, so nothing reaches the future again; it is
    // dropped here once, in place.
    unsafe { ManuallyDrop::drop(&mut *(*cell).future.get()) };
    drop(dropped);
    if let Some(joiner) = joiner {
        joiner.wake();
    }
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
    fn adopt(h: NonNull<Header>) -> TaskRef {
        TaskRef {
            h,
            _here: PhantomData,
        }
    }

    /// A new task for `future`, scheduled (its run-queue count is the second `TaskRef`).
    ///
    /// # Errors
    /// `ENOMEM` if memory for it cannot be had (the future is dropped).
    pub(crate) fn spawn<F>(future: F, inbox: &SharedBox<Inbox>) -> Result<Spawned<F::Output>>
    where
        F: Future + 'static,
    {
        let layout = Layout::new::<TaskCell<F>>();
        // SAFETY: not zero-sized (the header is in it).
        let memory = NonNull::new(unsafe { alloc(layout) }).ok_or(Error::Os(Errno::ENOMEM))?;
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
                    slot: Cell::new(usize::MAX),
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
        unsafe { prefix::<()>(self.h) }.local.slot.get()
    }

    /// Sets the executor's index of the task.
    pub(crate) fn set_slot(&self, slot: usize) {
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
