//! A global allocator that fails on demand, per thread: for operations that must fail cleanly
//! (ENOMEM, nothing changed, nothing leaked) when memory runs out.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Failable;

thread_local! {
    static STARVED: Cell<bool> = const { Cell::new(false) };
}

// SAFETY: forwards to the system allocator, or fails (returns null) while starved.
unsafe impl GlobalAlloc for Failable {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if STARVED.with(Cell::get) {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's contract is System's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if STARVED.with(Cell::get) {
            return std::ptr::null_mut();
        }
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Failable = Failable;

/// Runs `f` with every allocation of this thread failing.
pub fn starved<R>(f: impl FnOnce() -> R) -> R {
    STARVED.with(|s| s.set(true));
    let r = f();
    STARVED.with(|s| s.set(false));
    r
}
