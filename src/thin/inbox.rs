//! The inbox through which wakes from any thread schedule tasks (a lock-free stack of task
//! headers, and the eventfd that wakes a sleeping reactor), and the executor's state on the
//! reactor's thread. It may not touch a task's future or output (that is `task.rs`, through a
//! `TaskRef`); what it holds of a task is one count, as a header pointer on the stack or a
//! `TaskRef`.

use super::task::{header, release, Header, TaskRef};
use super::SharedBox;
use crate::error::Result;
use crate::interest::Event;
use crate::key::Key;
use crate::sys::{self, AsFd, BorrowedFd, Errno, OwnedFd};
use alloc::collections::VecDeque;
use alloc::rc::Rc;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicBool, AtomicPtr, Ordering};

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

    /// Moves what wakes pushed to the back of `ready`, oldest first. The check is inlined: it
    /// runs after every poll, and most find the inbox empty.
    #[inline]
    pub(crate) fn drain(&self, ready: &mut VecDeque<TaskRef>) {
        if !self.head.load(Ordering::Relaxed).is_null() {
            self.take_all(ready);
        }
    }

    #[inline(never)]
    fn take_all(&self, ready: &mut VecDeque<TaskRef>) {
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
    pub(super) fn notify(&self) {
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

/// Moves every task of `from` to the back of `to`, in order: by a swap if `to` is empty (the
/// common case), else one by one (`VecDeque::append` would bring its ring copy routines into
/// every binary with tasks).
pub(crate) fn move_back(to: &mut VecDeque<TaskRef>, from: &mut VecDeque<TaskRef>) {
    if to.is_empty() {
        core::mem::swap(to, from);
    }
    while let Some(task) = from.pop_front() {
        to.push_back(task);
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
    // Newest first as pushed: reversed in place, by swaps (`make_contiguous` would bring a
    // rotation routine into every binary with tasks).
    let (mut older, mut newer) = (start, ready.len());
    while older + 1 < newer {
        newer -= 1;
        ready.swap(older, newer);
        older += 1;
    }
}

/// A reactor's tasks, on its thread: the inbox, the run queue, and every live task (by the
/// index each keeps in its cell, with the free indexes). Shared by the reactor and its
/// spawners, and borrowed only between polls.
pub(crate) struct Executor {
    pub(crate) inbox: SharedBox<Inbox>,
    pub(crate) ready: VecDeque<TaskRef>,
    /// Tasks that woke themselves in the task phase under way: they wait for the next turn.
    pub(crate) yielded: VecDeque<TaskRef>,
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
    /// The reactor is gone (or the registration is): operations report `Closed` unless a
    /// refusal came first, and the tasks waiting are woken.
    fn closed(&self);
    /// An event: readiness to record, wakers to wake.
    fn ready(&self, event: Event);
}

/// The registry's handle on its executor: dropped with the reactor, it closes the inbox and
/// drops every task's future there and then, on the reactor's thread (the futures may hold
/// spawners of this executor: only this breaks that cycle).
pub(crate) struct Tasks(pub(crate) Rc<RefCell<Executor>>);

impl Drop for Tasks {
    fn drop(&mut self) {
        let (ready, live, unregistered) = {
            let mut executor = self.0.borrow_mut();
            executor.closed = true;
            let mut ready = core::mem::take(&mut executor.ready);
            move_back(&mut ready, &mut executor.yielded);
            executor.inbox.close(&mut ready);
            let unregistered = core::mem::take(&mut executor.io_add);
            (ready, core::mem::take(&mut executor.live), unregistered)
        };
        // No borrow is held: a future's destructor may use a spawner (it is refused) or a
        // join handle; a waker may be anyone's.
        cancel_all(&live);
        drop((ready, live));
        // Sleeps and sources of this reactor awaited by tasks of another one end with `Closed`
        // (no turn of this reactor will fire or register them): their tasks are woken. The
        // registered sources are told when their nodes are dropped.
        for io in unregistered {
            io.closed();
        }
        // One at a time, with no borrow held while it wakes; nothing allocated.
        let mut from = 0;
        loop {
            let Some((waker, next)) = self.0.borrow_mut().sleeps.take_waker(from) else {
                break;
            };
            waker.wake();
            from = next;
        }
    }
}

/// Cancels every task of `tasks`, in order. If a future's destructor panics, the tasks after
/// it are still cancelled while the panic goes on (a second panic then aborts, as any panic
/// while unwinding does): no future is left undropped.
fn cancel_all(tasks: &[Option<TaskRef>]) {
    /// Armed while a task is cancelled: on unwind, cancels the tasks after it.
    struct Rest<'a>(&'a [Option<TaskRef>]);
    impl Drop for Rest<'_> {
        fn drop(&mut self) {
            cancel_all(self.0);
        }
    }
    for (i, task) in tasks.iter().enumerate() {
        if let Some(task) = task {
            let rest = Rest(&tasks[i + 1..]);
            task.cancel();
            core::mem::forget(rest);
        }
    }
}

/// Pushes `h` on its inbox's stack, handing over one count (given back if the inbox closed).
///
/// # Safety
/// `h` is live and the caller hands one count over.
pub(super) unsafe fn push(h: NonNull<Header>) {
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
