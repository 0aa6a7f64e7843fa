//! The runtime's heap: [`Allocator`], size classes over `mmap`.
//!
//! Requests up to 1 KiB (size and alignment) are served from 4 KiB pages of one size class
//! each (16, 32, ..., 1024 bytes): a page starts with its header, the rest is blocks aligned
//! to the class size. A page with a free block is on its class's list; a page whose last
//! block is freed goes back to the kernel (`munmap`) at once. Larger requests are mappings of
//! their own, page-aligned, given back when freed. `realloc` is the trait's own (a new block,
//! a copy, the old one freed). Alignment up to a page is honoured; a larger one is refused.
//!
//! Every failure is a null pointer, never an abort: what to do about it is the caller's
//! business (`Vec::try_reserve`, the reactor's `ENOMEM`, or `handle_alloc_error`). One spin
//! lock guards the lists, so the allocator is sound with threads; it is held for list work and
//! for the `mmap` of a new class page, never for a `munmap`.

use super::kernel::{map, unmap, PAGE};
use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::ptr::null_mut;
use core::sync::atomic::{AtomicBool, Ordering};

/// Smallest class: 16 bytes (1 << 4).
const MIN_SHIFT: u32 = 4;
/// Classes 16, 32, ..., 1024 bytes.
const CLASSES: usize = 7;
/// The largest size served from a class page.
const MAX_SMALL: usize = 1 << (MIN_SHIFT as usize + CLASSES - 1);
/// Bytes at the start of each class page that its header may use (blocks start at
/// `max(HEADER, class size)`, so they stay aligned to the class size).
const HEADER: usize = 32;

/// A class page's header, at the start of the page.
struct Page {
    /// The neighbours on the class's list of pages with a free block (null at the ends).
    next: *mut Page,
    prev: *mut Page,
    /// The first freed block of this page; each free block's first word links the next.
    free: *mut u8,
    /// Blocks handed out.
    used: u32,
    /// Offset of the first block never handed out ([`PAGE`] once all have been).
    fresh: u32,
}
static_assertions::const_assert!(core::mem::size_of::<Page>() <= HEADER);

struct Lists {
    /// Per class, the first page with a free block (one spare slot: indexed `class & 7`,
    /// which needs no bounds check).
    partial: [*mut Page; 8],
}
static_assertions::const_assert!(CLASSES <= 8);

/// A general-purpose allocator over `mmap`: fallible, thread-safe, and it gives memory back.
///
/// Installed as the global allocator by `barepoll::main!` (feature `rt`); it can also be
/// used on its own, as any [`GlobalAlloc`].
///
/// ```
/// use barepoll::sys::rt::Allocator;
/// use core::alloc::{GlobalAlloc, Layout};
///
/// static HEAP: Allocator = Allocator::new();
/// let layout = Layout::from_size_align(100, 8).unwrap();
/// // SAFETY: the layout has a non-zero size; the block is freed once, with its layout.
/// unsafe {
///     let p = HEAP.alloc(layout);
///     assert!(!p.is_null());
///     p.write_bytes(7, 100);
///     HEAP.dealloc(p, layout);
/// }
/// ```
pub struct Allocator {
    lock: AtomicBool,
    lists: UnsafeCell<Lists>,
}

// SAFETY: `lists` (and every page header it leads to) is read and written only with `lock`
// held (see `Allocator::locked`); the blocks themselves belong to whoever holds them.
unsafe impl Sync for Allocator {}

/// The length of the block that serves `layout`: a power of two from 16 to [`MAX_SMALL`] (a
/// block of a class page), or whole pages (a mapping of its own, which the kernel refuses if
/// it is too large); 0 if it cannot be served (alignment above a page).
fn block_len(layout: Layout) -> usize {
    // A layout's size is at most `isize::MAX`, so rounding it up to pages cannot overflow.
    let size = layout.size().max(layout.align());
    if layout.align() > PAGE {
        0
    } else if size <= MAX_SMALL {
        size.max(1 << MIN_SHIFT).next_power_of_two()
    } else {
        (size + PAGE - 1) & !(PAGE - 1)
    }
}

/// The class of a block length of at most [`MAX_SMALL`] (below [`CLASSES`]; masked to index
/// `partial` without a bounds check).
fn class_of(len: usize) -> usize {
    (len.trailing_zeros() - MIN_SHIFT) as usize & 7
}

impl Allocator {
    /// An allocator with nothing mapped yet.
    ///
    /// ```
    /// static HEAP: barepoll::sys::rt::Allocator = barepoll::sys::rt::Allocator::new();
    /// ```
    pub const fn new() -> Allocator {
        Allocator {
            lock: AtomicBool::new(false),
            lists: UnsafeCell::new(Lists {
                partial: [null_mut(); 8],
            }),
        }
    }

    /// Runs `f` with the lists, under the lock.
    fn locked<R>(&self, f: impl FnOnce(&mut Lists) -> R) -> R {
        while self.lock.swap(true, Ordering::Acquire) {
            core::hint::spin_loop();
        }
        // SAFETY: the lock is held, so this is the only reference to the lists.
        let r = f(unsafe { &mut *self.lists.get() });
        self.lock.store(false, Ordering::Release);
        r
    }

    fn alloc_small(&self, size: usize) -> *mut u8 {
        let class = class_of(size);
        self.locked(|lists| {
            let mut page = lists.partial[class];
            if page.is_null() {
                page = match map(PAGE) {
                    Some(p) => p.cast::<Page>(),
                    None => return null_mut(),
                };
                // SAFETY: a fresh page of ours, zeroed by the kernel: its header reads as no
                // neighbours, no free block, none used; only the first fresh block is set.
                unsafe { (*page).fresh = size.max(HEADER) as u32 };
                lists.partial[class] = page;
            }
            // SAFETY: `page` is a class page on this class's list (under the lock): its
            // header is valid and its free blocks are the list's to hand out.
            unsafe {
                let p = &mut *page;
                let block = if !p.free.is_null() {
                    let block = p.free;
                    p.free = block.cast::<*mut u8>().read();
                    block
                } else {
                    let block = page.cast::<u8>().add(p.fresh as usize);
                    p.fresh += size as u32;
                    block
                };
                p.used += 1;
                if p.free.is_null() && p.fresh as usize >= PAGE {
                    unlink(lists, class, page); // full
                }
                block
            }
        })
    }

    /// # Safety
    /// `block` was handed out by `alloc_small(size)` and is given back once.
    unsafe fn dealloc_small(&self, block: *mut u8, size: usize) {
        let class = class_of(size);
        let page = (block as usize & !(PAGE - 1)) as *mut Page;
        let empty = self.locked(|lists| {
            // SAFETY: `block` lies in a class page of ours (the caller's contract), whose
            // header is read and written under the lock.
            unsafe {
                let p = &mut *page;
                let was_full = p.free.is_null() && p.fresh as usize >= PAGE;
                block.cast::<*mut u8>().write(p.free);
                p.free = block;
                p.used -= 1;
                if was_full {
                    push(lists, class, page);
                }
                // An empty page goes back at once.
                if p.used == 0 {
                    unlink(lists, class, page);
                    return true;
                }
                false
            }
        });
        if empty {
            // SAFETY: the page is off every list and has no block in use: nothing names it.
            unsafe { unmap(page.cast(), PAGE) };
        }
    }
}

impl Default for Allocator {
    fn default() -> Allocator {
        Allocator::new()
    }
}

/// # Safety
/// Under the lock; `page` is a class page of `class`, not on the list.
unsafe fn push(lists: &mut Lists, class: usize, page: *mut Page) {
    let head = lists.partial[class];
    // SAFETY: the caller's contract; `head`, if any, is a page on the list.
    unsafe {
        (*page).prev = null_mut();
        (*page).next = head;
        if !head.is_null() {
            (*head).prev = page;
        }
    }
    lists.partial[class] = page;
}

/// # Safety
/// Under the lock; `page` is on the list of `class`.
unsafe fn unlink(lists: &mut Lists, class: usize, page: *mut Page) {
    // SAFETY: the caller's contract; the neighbours are pages on the same list.
    unsafe {
        let (next, prev) = ((*page).next, (*page).prev);
        if prev.is_null() {
            lists.partial[class] = next;
        } else {
            (*prev).next = next;
        }
        if !next.is_null() {
            (*next).prev = prev;
        }
        (*page).next = null_mut();
        (*page).prev = null_mut();
    }
}

// SAFETY: a small block is handed out by exactly one page and list (under the lock) until it
// is given back; it is `size.max(align)` rounded up to a power of two, and aligned to that
// (pages are page-aligned, blocks start at multiples of their size). A large block is a
// mapping of its own, page-aligned, at least `size` long. Alignment above a page, sizes that
// cannot be mapped, and a refused mapping all give null.
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match block_len(layout) {
            0 => null_mut(),
            len if len <= MAX_SMALL => self.alloc_small(len),
            len => map(len).unwrap_or(null_mut()),
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        match block_len(layout) {
            // SAFETY: the caller's contract: `ptr` came from `alloc` with this layout.
            len if len <= MAX_SMALL => unsafe { self.dealloc_small(ptr, len) },
            // SAFETY: a large block is a whole mapping of `len` bytes, now unused.
            len => unsafe { unmap(ptr, len) },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    fn fill(p: *mut u8, len: usize, seed: u8) {
        for i in 0..len {
            // SAFETY (test): `p` is a live block of at least `len` bytes.
            unsafe { p.add(i).write(seed.wrapping_add(i as u8)) };
        }
    }

    fn holds(p: *const u8, len: usize, seed: u8) -> bool {
        // SAFETY (test): `p` is a live block of at least `len` bytes.
        (0..len).all(|i| unsafe { p.add(i).read() } == seed.wrapping_add(i as u8))
    }

    #[test]
    #[cfg_attr(miri, ignore = "mmap is not routed under Miri")]
    fn many_sizes_and_alignments_up_to_a_page_hold_their_bytes() {
        let heap = Allocator::new();
        let mut live: Vec<(*mut u8, Layout, u8)> = Vec::new();
        let mut seed = 0u8;
        for align_shift in 0..=12 {
            for size in [
                1, 7, 16, 17, 100, 512, 1000, 1024, 1025, 3000, 4096, 5000, 70_000,
            ] {
                let layout = Layout::from_size_align(size, 1 << align_shift).unwrap();
                // SAFETY (test): non-zero size.
                let p = unsafe { heap.alloc(layout) };
                assert!(!p.is_null(), "{layout:?}");
                assert_eq!(p as usize % layout.align(), 0, "{layout:?}");
                seed = seed.wrapping_add(31);
                fill(p, size, seed);
                live.push((p, layout, seed));
            }
        }
        // Free every other block, allocate again in the holes, then check everything.
        let mut kept = Vec::new();
        for (i, (p, layout, seed)) in live.into_iter().enumerate() {
            if i % 2 == 0 {
                // SAFETY (test): allocated above with this layout, freed once.
                unsafe { heap.dealloc(p, layout) };
            } else {
                kept.push((p, layout, seed));
            }
        }
        for &(p, layout, seed) in &kept {
            assert!(holds(p, layout.size(), seed), "{layout:?} lost its bytes");
            // SAFETY (test): as above.
            unsafe { heap.dealloc(p, layout) };
        }
    }

    #[test]
    #[cfg_attr(miri, ignore = "mmap is not routed under Miri")]
    fn alignment_above_a_page_and_impossible_sizes_are_null() {
        let heap = Allocator::new();
        for layout in [
            Layout::from_size_align(8, 8192).unwrap(),
            Layout::from_size_align(isize::MAX as usize - 10, 1).unwrap(),
        ] {
            // SAFETY (test): non-zero size.
            assert!(unsafe { heap.alloc(layout) }.is_null(), "{layout:?}");
        }
    }

    #[test]
    #[cfg_attr(miri, ignore = "mmap is not routed under Miri")]
    fn realloc_keeps_the_bytes_across_classes_and_mappings() {
        let heap = Allocator::new();
        let mut layout = Layout::from_size_align(10, 8).unwrap();
        // SAFETY (test): non-zero size.
        let mut p = unsafe { heap.alloc(layout) };
        fill(p, 10, 5);
        for new_size in [
            12, 16, 17, 900, 1500, 4096, 100_000, 300_000, 20_000, 2000, 600, 3,
        ] {
            // SAFETY (test): `p` is live with `layout`; the new size is non-zero.
            let q = unsafe { heap.realloc(p, layout, new_size) };
            assert!(!q.is_null());
            let kept = layout.size().min(new_size).min(10);
            assert!(holds(q, kept, 5), "{} -> {new_size}", layout.size());
            if new_size >= 10 {
                fill(q, 10, 5);
            }
            p = q;
            layout = Layout::from_size_align(new_size, 8).unwrap();
            fill(p, new_size.min(10), 5);
        }
        // SAFETY (test): live with `layout`.
        unsafe { heap.dealloc(p, layout) };
    }

    #[test]
    #[cfg_attr(miri, ignore = "mmap is not routed under Miri")]
    fn threads_share_one_allocator_soundly() {
        static HEAP: Allocator = Allocator::new();
        let workers: Vec<_> = (0..4u8)
            .map(|t| {
                std::thread::spawn(move || {
                    let mut live: Vec<(usize, Layout, u8)> = Vec::new();
                    for round in 0..2000usize {
                        let size = 1 + (round * 37 + t as usize * 101) % 2500;
                        let layout = Layout::from_size_align(size, 8).unwrap();
                        // SAFETY (test): non-zero size.
                        let p = unsafe { HEAP.alloc(layout) };
                        assert!(!p.is_null());
                        let seed = (round as u8) ^ t;
                        fill(p, size, seed);
                        live.push((p as usize, layout, seed));
                        if round % 3 == 0 {
                            let (p, layout, seed) = live.swap_remove(round % live.len());
                            assert!(holds(p as *const u8, layout.size(), seed));
                            // SAFETY (test): live, freed once.
                            unsafe { HEAP.dealloc(p as *mut u8, layout) };
                        }
                    }
                    for (p, layout, seed) in live {
                        assert!(holds(p as *const u8, layout.size(), seed));
                        // SAFETY (test): live, freed once.
                        unsafe { HEAP.dealloc(p as *mut u8, layout) };
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
    }
}
