//! Out of memory in the handles' operations (invariant 10): `Waker::new`, `Reactor::remote`,
//! `Remote::post`, `Remote::call` and `channel::bounded` fail with `ENOMEM` at whichever
//! allocation is refused, leave memory as they found it, and never abort; dropping what they
//! made allocates nothing.
//!
//! A counting global allocator with a per-thread budget: with a budget of `n`, the thread's
//! `n + 1`-th allocation fails. Each operation is run with budgets 0, 1, 2, … until it
//! succeeds, so every allocation it makes is refused once. Shrinking reallocations always
//! succeed (as every real allocator's do); they are not allocations.
#![cfg(feature = "std")]
mod common;

use barepoll::remote::Remote;
use barepoll::sys::Errno;
use barepoll::{Error, Ops, Reactor, Waker};
use common::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Duration;

const NOW: Option<Duration> = Some(Duration::ZERO);

struct Budgeted;

thread_local! {
    /// Bytes this thread holds from the allocator.
    static HELD: Cell<isize> = const { Cell::new(0) };
    /// How many more allocations of this thread may succeed (`None`: any number).
    static BUDGET: Cell<Option<u32>> = const { Cell::new(None) };
}

/// Takes one allocation from this thread's budget: whether it may go ahead.
fn spend() -> bool {
    BUDGET.with(|b| match b.get() {
        None => true,
        Some(0) => false,
        Some(n) => {
            b.set(Some(n - 1));
            true
        }
    })
}

// SAFETY (test code): forwards to the system allocator; only counts and refuses.
unsafe impl GlobalAlloc for Budgeted {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !spend() {
            return std::ptr::null_mut();
        }
        HELD.with(|h| h.set(h.get() + layout.size() as isize));
        // SAFETY (test code): the caller's contract is System's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        HELD.with(|h| h.set(h.get() - layout.size() as isize));
        // SAFETY (test code): as above.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > layout.size() && !spend() {
            return std::ptr::null_mut();
        }
        // SAFETY (test code): as above.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            HELD.with(|h| h.set(h.get() + new_size as isize - layout.size() as isize));
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: Budgeted = Budgeted;

fn held() -> isize {
    HELD.with(Cell::get)
}

/// Runs `op` on this thread with a budget of 0, 1, 2, … allocations until it succeeds. Every
/// refusal must be `ENOMEM` and leave this thread's memory as it was. Returns the result and
/// how many times `op` was refused.
fn refused_cleanly_at_every_allocation<R>(mut op: impl FnMut() -> Result<R, Error>) -> (R, u32) {
    for budget in 0..100 {
        let before = held();
        BUDGET.with(|b| b.set(Some(budget)));
        let result = op();
        BUDGET.with(|b| b.set(None));
        match result {
            Ok(value) => return (value, budget),
            Err(e) => {
                assert_eq!(e, Error::Os(Errno::ENOMEM), "with {budget} allocations");
                assert_eq!(
                    held(),
                    before,
                    "refused with {budget} allocations: memory kept"
                );
            }
        }
    }
    panic!("refused even with 100 allocations");
}

// Defect: `Waker::new` aborted the process ("memory allocation of 24 bytes failed").
#[test]
fn waker_new_fails_with_enomem_at_every_allocation() {
    let _fds = fd_check();
    let mut r = Reactor::builder().state::<u32>().build().unwrap();
    let (waker, refusals) = refused_cleanly_at_every_allocation(|| {
        Waker::new(&mut r, |ops: &mut Ops<'_, u32>| *ops.data() += 1)
    });
    assert!(refusals >= 2, "{refusals}: the waker's block and its node");
    assert_eq!(r.len(), 1, "a refused waker stayed registered");
    waker.wake();
    let mut runs = 0;
    r.run_once_with(NOW, &mut runs).unwrap();
    assert_eq!(runs, 1);
}

// Defect: `Reactor::remote` aborted the process.
#[test]
fn remote_fails_with_enomem_at_every_allocation() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let (remote, refusals) = refused_cleanly_at_every_allocation(|| r.remote());
    assert!(refusals >= 2, "{refusals}: the shared block and the node");
    remote.post(|ops: &mut Ops<'_>| ops.stop()).unwrap();
    r.run().unwrap();
}

// Defect: `Remote::post` aborted the process.
#[test]
fn post_fails_with_enomem_at_every_allocation() {
    let _fds = fd_check();
    let mut r = Reactor::builder().state::<u32>().build().unwrap();
    let remote = r.remote().unwrap();
    let payload = [1u64; 4]; // so the job's box is not zero-sized
    let ((), refusals) = refused_cleanly_at_every_allocation(|| {
        remote.post(move |ops: &mut Ops<'_, u32>| {
            *ops.data() += payload.len() as u32;
            ops.stop();
        })
    });
    assert!(refusals >= 1, "{refusals}: the job's box");
    let mut ran = 0;
    r.run_with(&mut ran).unwrap();
    assert_eq!(ran, 4, "a refused post was run");
}

// The queue's list past its ring (1,024 jobs) grows with the posts: a post that needs room
// there is refused cleanly when none can be had, and the posts keep their order.
#[test]
fn a_post_past_the_ring_fails_with_enomem_at_every_allocation() {
    let _fds = fd_check();
    let mut r = Reactor::builder().state::<Vec<u32>>().build().unwrap();
    let remote = r.remote().unwrap();
    for i in 0..1024 {
        remote
            .post(move |ops: &mut Ops<'_, Vec<u32>>| ops.data().push(i))
            .unwrap();
    }
    // The list grows now and then: at least one of these posts needs room in it.
    let mut most = 0;
    for i in 1024..1300 {
        let payload = [i; 4]; // so the job's box is not zero-sized
        let ((), refusals) = refused_cleanly_at_every_allocation(|| {
            remote.post(move |ops: &mut Ops<'_, Vec<u32>>| ops.data().push(payload[3]))
        });
        most = most.max(refusals);
    }
    assert!(most >= 2, "{most}: the job's box and the list's room");
    remote
        .post(|ops: &mut Ops<'_, Vec<u32>>| ops.stop())
        .unwrap();
    let mut ran = Vec::new();
    r.run_with(&mut ran).unwrap();
    let expected: Vec<u32> = (0..1300).collect();
    assert_eq!(
        ran, expected,
        "a refused post was run, or the order was lost"
    );
}

// Defect: `Remote::call` aborted the process (its reply channel, its job).
#[test]
fn call_fails_with_enomem_at_every_allocation() {
    let _fds = fd_check();
    let mut r = Reactor::builder().state::<u32>().build().unwrap();
    let remote: Remote<u32> = r.remote().unwrap();
    let caller = std::thread::spawn(move || {
        refused_cleanly_at_every_allocation(|| {
            remote.call(|ops: &mut Ops<'_, u32>| {
                *ops.data() += 1;
                ops.stop();
                7
            })
        })
    });
    let mut ran = 0;
    r.run_with(&mut ran).unwrap();
    let (value, refusals) = caller.join().unwrap();
    assert_eq!((value, ran), (7, 1), "a refused call was run");
    assert!(refusals >= 2, "{refusals}: the reply and the job's box");
}

// Closing and dropping never allocate: a reactor with a waker, queued jobs and a waiting
// caller drops with every allocation of its thread refused.
#[test]
fn dropping_the_handles_and_the_reactor_allocates_nothing() {
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let waker = Waker::new(&mut r, |_: &mut Ops<'_>| {}).unwrap();
    let remote = r.remote().unwrap();
    for i in 0..3u64 {
        let payload = Box::new(i); // freed, unrun, when the queue closes
        remote
            .post(move |_: &mut Ops<'_>| assert_eq!(*payload, i))
            .unwrap();
    }
    let caller = {
        let remote = remote.clone();
        std::thread::spawn(move || remote.call(|_: &mut Ops<'_>| 1))
    };
    // Let the caller queue its job (if it has not yet, it finds the queue closed: the same).
    std::thread::sleep(Duration::from_millis(20));
    BUDGET.with(|b| b.set(Some(0)));
    drop(r);
    waker.wake();
    drop(waker);
    assert_eq!(remote.post(|_: &mut Ops<'_>| {}), Err(Error::Closed));
    drop(remote);
    BUDGET.with(|b| b.set(None));
    assert_eq!(caller.join().unwrap(), Err(Error::Closed));
}

// `channel::bounded` and registering its subscriber report out of memory as `ENOMEM` at each
// allocation (the ring, the shared block, the subscriber's node), with nothing kept.
#[test]
fn a_channel_fails_with_enomem_at_every_allocation() {
    let _fds = fd_check();
    let mut r = Reactor::builder().state::<u64>().build().unwrap();
    let (sender, refusals) = refused_cleanly_at_every_allocation(|| {
        let (tx, rx) = barepoll::channel::bounded::<[u64; 4]>(16)?;
        rx.on_message(|v: [u64; 4], ops: &mut Ops<'_, u64>| *ops.data() += v[0])
            .register_into(&mut r)?;
        Ok(tx)
    });
    assert!(
        refusals >= 3,
        "{refusals}: the ring, the shared block, the node"
    );
    assert_eq!(r.len(), 1, "a refused channel stayed registered");
    // Sending and dropping allocate nothing.
    BUDGET.with(|b| b.set(Some(0)));
    sender.try_send([5; 4]).unwrap();
    let again = sender.clone();
    drop(sender);
    BUDGET.with(|b| b.set(None));
    let mut sum = 0;
    r.run_once_with(NOW, &mut sum).unwrap();
    assert_eq!(sum, 5);
    BUDGET.with(|b| b.set(Some(0)));
    drop(again);
    drop(r);
    BUDGET.with(|b| b.set(None));
}

// A reactor whose sleeps are awaited by another reactor's tasks drops, waking those tasks,
// with every allocation of its thread refused.
#[cfg(feature = "tasks")]
#[test]
fn dropping_a_reactor_whose_sleeps_others_await_allocates_nothing() {
    let _fds = fd_check();
    let mut a = Reactor::new().unwrap();
    let mut b = Reactor::new().unwrap();
    let handles: Vec<_> = (0..3)
        .map(|_| {
            let sleep = a.spawner().unwrap().sleep(Duration::from_secs(600));
            b.spawn(sleep).unwrap()
        })
        .collect();
    b.run_once(NOW).unwrap(); // each parks on a's wheel
    BUDGET.with(|b| b.set(Some(0)));
    drop(a);
    BUDGET.with(|b| b.set(None));
    for _ in 0..3 {
        b.run_once(NOW).unwrap();
    }
    for h in handles {
        assert_eq!(h.try_take(), Some(Ok(Err(Error::Closed))));
    }
}

// Out of memory for a task's cell, the future is dropped with no borrow of the executor held:
// its destructor may use a spawner (here, to spawn: refused with `ENOMEM` too).
#[cfg(feature = "tasks")]
#[test]
fn a_spawn_refused_for_memory_drops_its_future_where_its_destructor_may_spawn() {
    use barepoll::task::Spawner;
    struct SpawnsOnDrop(Spawner, std::rc::Rc<Cell<u32>>);
    impl std::future::Future for SpawnsOnDrop {
        type Output = ();
        fn poll(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<()> {
            std::task::Poll::Ready(())
        }
    }
    impl Drop for SpawnsOnDrop {
        fn drop(&mut self) {
            self.1.set(self.1.get() + 1);
            drop(self.0.spawn(async {}));
        }
    }
    let _fds = fd_check();
    let mut r = Reactor::new().unwrap();
    let spawner = r.spawner().unwrap();
    let drops = std::rc::Rc::new(Cell::new(0));
    let mut refusals = 0;
    let handle = loop {
        BUDGET.with(|b| b.set(Some(refusals)));
        let spawned = spawner.spawn(SpawnsOnDrop(spawner.clone(), drops.clone()));
        BUDGET.with(|b| b.set(None));
        match spawned {
            Ok(handle) => break handle,
            Err(e) => assert_eq!(e, Error::Os(Errno::ENOMEM)),
        }
        assert_eq!(drops.get(), refusals + 1, "the refused future is dropped");
        refusals += 1;
        assert!(refusals < 100);
    };
    assert!(refusals >= 1, "the task's cell was refused once");
    assert_eq!(r.block_on(handle).unwrap(), Ok(()));
}
