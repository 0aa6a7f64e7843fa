//! What a program without libc has to bring itself: the entry point, a heap, the panic
//! handler, and the memory functions the compiler calls. All of the program's `unsafe` is in
//! this file.

use barepoll::sys;
use core::alloc::{GlobalAlloc, Layout};
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

// ---- Entry point -------------------------------------------------------------------------
//
// The kernel starts the program at `_start` with the stack pointer on `argc`, followed by
// `argc` pointers to the arguments, a null, the environment and the auxiliary vector. `_start`
// hands that address to `start` as its first argument, with an aligned stack and a zero frame
// pointer (the outermost frame).

#[cfg(target_arch = "x86_64")]
core::arch::global_asm!(
    ".globl _start",
    ".type _start, @function",
    "_start:",
    "xor ebp, ebp",
    "mov rdi, rsp",
    "and rsp, -16",
    "call {start}",
    "ud2",
    start = sym start,
);

#[cfg(target_arch = "aarch64")]
core::arch::global_asm!(
    ".globl _start",
    ".type _start, %function",
    "_start:",
    "mov x29, xzr",
    "mov x30, xzr",
    "mov x0, sp",
    "bl {start}",
    "brk #0",
    start = sym start,
);

/// Runs `main` with the arguments and exits with its status.
///
/// # Safety
/// Called once, by `_start`, with the stack pointer the kernel started the program with.
unsafe extern "C" fn start(stack: *const usize) -> ! {
    // SAFETY: the kernel put `argc` at the top of the initial stack, then the `argv` array.
    let args = unsafe {
        Args {
            argc: *stack,
            argv: stack.add(1).cast(),
        }
    };
    sys::exit_group(crate::main(args))
}

/// The program's arguments, the program's name first.
pub struct Args {
    argc: usize,
    /// `argc` pointers to NUL-terminated strings, on the initial stack.
    argv: *const *const u8,
}

impl Args {
    /// How many arguments there are, the program's name included.
    pub fn len(&self) -> usize {
        self.argc
    }

    /// Argument `i`, without its NUL.
    pub fn get(&self, i: usize) -> Option<&'static [u8]> {
        if i >= self.argc {
            return None;
        }
        // `argv` holds `argc` pointers to NUL-terminated strings (made only by `start`, from
        // what the kernel gave). The strings stay mapped and unchanged for the life of the
        // process (nothing writes to them), so they may be borrowed for `'static`.
        // SAFETY: `i < argc` indexes `argv`, whose strings live for `'static` (above).
        unsafe {
            let arg = *self.argv.add(i);
            let mut len = 0;
            // Volatile, so the loop cannot become a call to `strlen`, which nobody defines.
            while arg.add(len).read_volatile() != 0 {
                len += 1;
            }
            Some(core::slice::from_raw_parts(arg, len))
        }
    }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    // The message is not formatted: that would pull in `core::fmt`.
    let _ = sys::write(sys::stderr(), b"nolibc-echo: panicked\n");
    sys::exit_group(101)
}

// ---- Heap ----------------------------------------------------------------------------------
//
// A static arena (in `.bss`: it costs no bytes in the file) carved into blocks of power-of-two
// sizes, 16 bytes to 1 MiB. A freed block goes on the free list of its size and is handed out
// again before the arena is touched; the arena is never given back. Each block is aligned to
// its size (at most a page), so any layout whose alignment is at most a page fits the block
// its size (or alignment, if larger) rounds up to.

const ARENA_SIZE: usize = 8 << 20;
const PAGE: usize = 4096;
const MIN_SHIFT: u32 = 4;
const CLASSES: usize = 17; // 16 B ..= 1 MiB

#[repr(C, align(4096))]
struct Arena([u8; ARENA_SIZE]);

static mut ARENA: Arena = Arena([0; ARENA_SIZE]);

struct Heap {
    /// Held while the fields below change: the allocator is sound with threads too.
    lock: AtomicBool,
    /// Bytes of the arena handed out so far (blocks, and the padding that aligned them).
    used: AtomicUsize,
    /// Per size class, the address of the first free block (0: none); each free block's
    /// first word holds the address of the next.
    free: [AtomicUsize; CLASSES],
}

#[global_allocator]
static HEAP: Heap = Heap {
    lock: AtomicBool::new(false),
    used: AtomicUsize::new(0),
    free: [const { AtomicUsize::new(0) }; CLASSES],
};

/// The size class for `layout`, if it has one.
fn class_of(layout: Layout) -> Option<usize> {
    let size = layout.size().max(layout.align()).max(1 << MIN_SHIFT);
    let class = (usize::BITS - (size - 1).leading_zeros() - MIN_SHIFT) as usize;
    (class < CLASSES && layout.align() <= PAGE).then_some(class)
}

impl Heap {
    fn lock(&self) {
        while self.lock.swap(true, Ordering::Acquire) {
            core::hint::spin_loop();
        }
    }

    fn unlock(&self) {
        self.lock.store(false, Ordering::Release);
    }
}

// SAFETY: `alloc` hands out blocks of the arena that no one else owns: a block is either on
// exactly one free list, in use by exactly one owner, or not yet handed out (beyond `used`);
// every change to the lists and to `used` is made under the lock. A block is at least as
// large as the layout asks and aligned to its size (or to a page), which covers the
// alignment (see `class_of`).
unsafe impl GlobalAlloc for Heap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some(class) = class_of(layout) else {
            return core::ptr::null_mut();
        };
        let size = 1usize << (class as u32 + MIN_SHIFT);
        self.lock();
        let head = self.free[class].load(Ordering::Relaxed);
        let block = if head != 0 {
            // SAFETY: `head` is a free block of this class, owned by the list (under the
            // lock); its first word holds the next free block's address.
            let next = unsafe { (head as *const usize).read() };
            self.free[class].store(next, Ordering::Relaxed);
            head
        } else {
            let base = (&raw mut ARENA) as usize;
            let used = self.used.load(Ordering::Relaxed);
            let align = size.min(PAGE);
            let start = (base + used + align - 1) & !(align - 1);
            if start + size > base + ARENA_SIZE {
                self.unlock();
                return core::ptr::null_mut();
            }
            self.used.store(start + size - base, Ordering::Relaxed);
            start
        };
        self.unlock();
        block as *mut u8
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // `ptr` came from `alloc` with this layout, so the layout has a class.
        let Some(class) = class_of(layout) else {
            return;
        };
        self.lock();
        // SAFETY: the caller gives the block back; it is at least 16 bytes and aligned, so its
        // first word can hold the list's link.
        unsafe {
            ptr.cast::<usize>()
                .write(self.free[class].load(Ordering::Relaxed))
        };
        self.free[class].store(ptr as usize, Ordering::Relaxed);
        self.unlock();
    }
}

// ---- Memory functions ------------------------------------------------------------------------
//
// The compiler turns copies, fills and comparisons into calls to these. They must not call
// themselves: on x86_64 they are `rep movsb` / `rep stosb`, elsewhere loops of volatile
// accesses, which the optimizer never turns back into a call.

/// # Safety
/// As C's `memcpy`: `src` readable and `dst` writable for `n` bytes, not overlapping.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memcpy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the caller's contract; `rep movsb` copies `rcx` bytes forward from `rsi` to
    // `rdi` (the direction flag is clear, as the ABI requires).
    unsafe {
        core::arch::asm!(
            "rep movsb",
            inout("rcx") n => _,
            inout("rdi") dst => _,
            inout("rsi") src => _,
            options(nostack, preserves_flags),
        );
    }
    #[cfg(not(target_arch = "x86_64"))]
    for i in 0..n {
        // SAFETY: the caller's contract; `i < n`.
        unsafe { dst.add(i).write_volatile(src.add(i).read_volatile()) };
    }
    dst
}

/// # Safety
/// As C's `memmove`: `src` readable and `dst` writable for `n` bytes; they may overlap.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memmove(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    // Forward is safe unless `dst` starts inside `src..src + n`.
    if (dst as usize).wrapping_sub(src as usize) >= n {
        // SAFETY: the caller's contract; a forward copy reads each byte before it is written.
        return unsafe { memcpy(dst, src, n) };
    }
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the caller's contract; with the direction flag set, `rep movsb` copies backward
    // from the last byte, and `cld` clears the flag again before the ABI can see it.
    unsafe {
        core::arch::asm!(
            "std",
            "rep movsb",
            "cld",
            inout("rcx") n => _,
            inout("rdi") dst.wrapping_add(n).wrapping_sub(1) => _,
            inout("rsi") src.wrapping_add(n).wrapping_sub(1) => _,
            options(nostack),
        );
    }
    #[cfg(not(target_arch = "x86_64"))]
    for i in (0..n).rev() {
        // SAFETY: the caller's contract; `i < n`, and copying from the end reads each byte
        // before it is overwritten.
        unsafe { dst.add(i).write_volatile(src.add(i).read_volatile()) };
    }
    dst
}

/// # Safety
/// As C's `memset`: `dst` writable for `n` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memset(dst: *mut u8, c: i32, n: usize) -> *mut u8 {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the caller's contract; `rep stosb` stores `al` into `rcx` bytes from `rdi`.
    unsafe {
        core::arch::asm!(
            "rep stosb",
            inout("rcx") n => _,
            inout("rdi") dst => _,
            in("al") c as u8,
            options(nostack, preserves_flags),
        );
    }
    #[cfg(not(target_arch = "x86_64"))]
    for i in 0..n {
        // SAFETY: the caller's contract; `i < n`.
        unsafe { dst.add(i).write_volatile(c as u8) };
    }
    dst
}

/// # Safety
/// As C's `memcmp`: `a` and `b` readable for `n` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    for i in 0..n {
        // SAFETY: the caller's contract; `i < n`.
        let (x, y) = unsafe { (a.add(i).read_volatile(), b.add(i).read_volatile()) };
        if x != y {
            return i32::from(x) - i32::from(y);
        }
    }
    0
}

/// # Safety
/// As C's `bcmp`: `a` and `b` readable for `n` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    // SAFETY: the caller's contract, which is `memcmp`'s.
    unsafe { memcmp(a, b, n) }
}

/// compiler-builtins' atomics helpers for aarch64 come with constructors that ask libc's
/// `getauxval` whether the CPU has the LSE atomics. No constructor ever runs here (there is no
/// C runtime to run them), so this is never called: it only satisfies the linker, and the
/// helpers keep their baseline path, which is correct on every CPU. 0: no features known.
#[cfg(target_arch = "aarch64")]
#[unsafe(no_mangle)]
pub extern "C" fn getauxval(_kind: u64) -> u64 {
    0
}
