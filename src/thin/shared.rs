//! `SharedBox`: a value shared by handles on any thread and dropped with the last of them, like
//! `Arc`, but whose allocation can fail. Stable Rust has no fallible `Arc::new`, and the
//! crate's handles (`Waker`, `Remote`, a remote call's reply) are made by public operations
//! that must report out of memory as `ENOMEM` rather than abort. Nothing here talks to the
//! kernel: it is pointer code (it owns a raw allocation), and only make, clone, deref and drop
//! are offered.

use alloc::alloc::{alloc, dealloc, Layout};
use core::marker::PhantomData;
use core::ops::Deref;
use core::ptr::{addr_of_mut, NonNull};
use core::sync::atomic::{fence, AtomicUsize, Ordering};

struct Inner<T> {
    handles: AtomicUsize,
    value: T,
}

/// A shared `T`, freed with its last handle. `Clone` adds a handle (no allocation).
pub(crate) struct SharedBox<T> {
    inner: NonNull<Inner<T>>,
    _owns: PhantomData<Inner<T>>,
}

// SAFETY: as for `Arc`: every handle gives `&T` on its own thread (so `T: Sync`), and the last
// handle, wherever it is, drops the `T` (so `T: Send`). The count is atomic.
unsafe impl<T: Send + Sync> Send for SharedBox<T> {}
// SAFETY: as above: `&SharedBox<T>` gives only `&T` and clones.
unsafe impl<T: Send + Sync> Sync for SharedBox<T> {}

impl<T> SharedBox<T> {
    /// `value` in a new allocation, with one handle; `None` (and `value` dropped) if memory
    /// for it cannot be had.
    pub(crate) fn new(value: T) -> Option<SharedBox<T>> {
        let layout = Layout::new::<Inner<T>>();
        // SAFETY: the layout is not zero-sized: the count is in it.
        let memory = NonNull::new(unsafe { alloc(layout) })?.cast::<Inner<T>>();
        let inner = Inner {
            handles: AtomicUsize::new(1),
            value,
        };
        // SAFETY: `memory` is fresh, valid and aligned for one `Inner<T>`.
        unsafe { memory.as_ptr().write(inner) };
        Some(SharedBox {
            inner: memory,
            _owns: PhantomData,
        })
    }

    fn inner(&self) -> &Inner<T> {
        // SAFETY: the allocation lives while a handle does, and is only read through `&`.
        unsafe { self.inner.as_ref() }
    }
}

impl<T> Clone for SharedBox<T> {
    fn clone(&self) -> Self {
        // Relaxed, as `Arc`: a new handle comes from an existing one, which keeps it alive.
        let before = self.inner().handles.fetch_add(1, Ordering::Relaxed);
        if before > isize::MAX as usize {
            // Only leaked handles can count this far; never let the count wrap to zero.
            self.inner().handles.fetch_sub(1, Ordering::Relaxed);
            panic!("too many handles to one shared value");
        }
        SharedBox {
            inner: self.inner,
            _owns: PhantomData,
        }
    }
}

impl<T> Deref for SharedBox<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.inner().value
    }
}

impl<T> Drop for SharedBox<T> {
    fn drop(&mut self) {
        // Release: this handle's uses happen before the drop by the last one (as `Arc`).
        if self.inner().handles.fetch_sub(1, Ordering::Release) != 1 {
            return;
        }
        fence(Ordering::Acquire);
        /// Frees the memory even if the value's destructor panics.
        struct Free(NonNull<u8>, Layout);
        impl Drop for Free {
            fn drop(&mut self) {
                // SAFETY: allocated in `new` with this layout; the last handle frees it once.
                unsafe { dealloc(self.0.as_ptr(), self.1) }
            }
        }
        let _free = Free(self.inner.cast(), Layout::new::<Inner<T>>());
        // SAFETY: this was the last handle: nothing else can reach the value, which is
        // initialised and dropped here once.
        unsafe { core::ptr::drop_in_place(addr_of_mut!((*self.inner.as_ptr()).value)) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;
    use std::sync::Arc;

    struct CountsDrops(Arc<AtomicU32>);
    impl Drop for CountsDrops {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[test]
    fn the_last_handle_on_any_thread_drops_the_value_once() {
        let drops = Arc::new(AtomicU32::new(0));
        let shared = SharedBox::new(CountsDrops(drops.clone())).unwrap();
        let threads: std::vec::Vec<_> = (0..4)
            .map(|_| {
                let mine = shared.clone();
                std::thread::spawn(move || {
                    let again = mine.clone();
                    drop(mine);
                    again.0.load(Ordering::Relaxed)
                })
            })
            .collect();
        drop(shared);
        for t in threads {
            assert_eq!(t.join().unwrap(), 0, "dropped while a handle lived");
        }
        assert_eq!(drops.load(Ordering::Relaxed), 1);
    }
}
