//! The runtime kit's allocator against the kernel: pages go back when they empty, and running
//! out of address space (a real `RLIMIT_AS`, in a forked child) gives null pointers, never a
//! crash, after which freed memory can be had again. One test in its own binary: it forks,
//! and it reads which pages are mapped, which another test's mappings could disturb.
use barepoll::sys::rt::Allocator;
use std::alloc::{GlobalAlloc, Layout};

/// Whether the page at `addr` is mapped (`mincore` says `ENOMEM` for an unmapped range).
fn mapped(addr: usize) -> bool {
    let mut vec = 0u8;
    // SAFETY (test code): mincore writes one byte for one page into `vec`.
    unsafe { libc::mincore((addr & !4095) as *mut libc::c_void, 4096, &mut vec) == 0 }
}

/// Class pages that empty are unmapped; large blocks too.
fn pages_go_back(heap: &Allocator) {
    let small = Layout::from_size_align(1000, 8).unwrap(); // class 1024: three per page
                                                           // SAFETY (test code): non-zero sizes; each block freed once, with its layout.
    unsafe {
        let blocks: Vec<*mut u8> = (0..9).map(|_| heap.alloc(small)).collect();
        assert!(blocks.iter().all(|p| !p.is_null()));
        let mut pages: Vec<usize> = blocks.iter().map(|&p| p as usize & !4095).collect();
        pages.dedup();
        assert_eq!(pages.len(), 3, "three blocks of 1 KiB per page");
        for &p in &blocks {
            heap.dealloc(p, small);
        }
        let still: Vec<bool> = pages.iter().map(|&p| mapped(p)).collect();
        assert!(
            still.iter().all(|&m| !m),
            "emptied pages still mapped: {still:?}"
        );

        let large = Layout::from_size_align(64 * 1024, 4096).unwrap();
        let p = heap.alloc(large);
        assert!(!p.is_null() && mapped(p as usize));
        heap.dealloc(p, large);
        assert!(!mapped(p as usize), "a large block goes back at once");
    }
}

/// The child's status when the address-space limit does not bind (qemu-user).
const UNBOUND: i32 = 77;

/// In the child: with the address space capped, allocations fail cleanly, then work again.
/// The exit status names the failed check (0: none).
fn exhaustion(heap: &Allocator, limit: u64) -> i32 {
    let lim = libc::rlimit {
        rlim_cur: limit,
        rlim_max: limit,
    };
    // SAFETY (test code): setrlimit with a valid struct.
    if unsafe { libc::setrlimit(libc::RLIMIT_AS, &lim) } != 0 {
        return 1;
    }
    // No allocation through std from here on: only `heap`, and a fixed array for the blocks.
    let mut blocks = [core::ptr::null_mut::<u8>(); 512];
    let big = Layout::from_size_align(1 << 20, 8).unwrap();
    let mut n = 0;
    // SAFETY (test code): non-zero sizes; each block is freed once, with its layout.
    unsafe {
        while n < blocks.len() {
            let p = heap.alloc(big);
            if p.is_null() {
                break;
            }
            p.write_bytes(1, 1 << 20); // really used, not just reserved
            blocks[n] = p;
            n += 1;
        }
        if n == blocks.len() {
            // 512 MiB under a limit 48 MiB above what was mapped: the limit never bit. So it
            // is under qemu-user, which reserves the guest's address space up front and maps
            // into that reservation (the only aarch64 this suite runs on in CI).
            return if cfg!(target_arch = "aarch64") {
                UNBOUND
            } else {
                2
            };
        }
        if n == 0 {
            return 2; // nothing could be had at all
        }
        // Small blocks run out too, cleanly, once the space left is gone.
        let small = Layout::from_size_align(64, 8).unwrap();
        let mut smalls = 0usize;
        let mut last = core::ptr::null_mut();
        while smalls < 1 << 20 {
            let p = heap.alloc(small);
            if p.is_null() {
                break;
            }
            p.cast::<*mut u8>().write(last);
            last = p;
            smalls += 1;
        }
        if smalls == 1 << 20 {
            return 3; // small allocations never ran out
        }
        // Growing a block past what is left fails and leaves it as it was.
        if !heap.realloc(blocks[0], big, 64 << 20).is_null() {
            return 4;
        }
        if *blocks[0].add(12345) != 1 {
            return 5;
        }
        // Give everything back: then the same amount can be had again.
        while !last.is_null() {
            let next = last.cast::<*mut u8>().read();
            heap.dealloc(last, small);
            last = next;
        }
        for &p in &blocks[..n] {
            heap.dealloc(p, big);
        }
        for slot in blocks.iter_mut().take(n) {
            *slot = heap.alloc(big);
            if slot.is_null() {
                return 6;
            }
        }
    }
    0
}

/// The process's address space now, in bytes (VmSize).
fn address_space() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmSize:")).unwrap();
    let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

#[test]
#[cfg_attr(miri, ignore = "Miri cannot fork or mmap")]
fn pages_go_back_and_exhaustion_is_a_clean_null() {
    static HEAP: Allocator = Allocator::new();
    pages_go_back(&HEAP);

    // Room for a few dozen 1 MiB blocks above what the process has mapped now.
    let limit = address_space() + (48 << 20);
    // SAFETY (test code): this binary runs one test, so no other thread is copied mid-flight;
    // the child uses only `HEAP` and leaves with `_exit`.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let status = exhaustion(&HEAP, limit);
        // SAFETY (test code): leaves the child at once.
        unsafe { libc::_exit(status) };
    }
    let mut status = 0;
    // SAFETY (test code): waits for the child just forked.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(libc::WIFEXITED(status), "child died: status {status:#x}");
    if libc::WEXITSTATUS(status) == UNBOUND {
        eprintln!("RLIMIT_AS does not bind here (qemu-user): the exhaustion half did not run");
        return;
    }
    assert_eq!(libc::WEXITSTATUS(status), 0, "child check failed");
}
