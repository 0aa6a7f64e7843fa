//! Valgrind's client request `CALLGRIND_START_INSTRUMENTATION` (from `valgrind/callgrind.h`),
//! for the callgrind child: it runs with `--instr-atstart=no`, so that building a harness
//! (which for a big one can take longer than its counted turns) runs uninstrumented, about ten
//! times faster than instrumented, and turns instrumentation on just before its counted
//! turns. What is counted is unchanged: collection is still limited to the measured
//! functions.
//!
//! Natively the request is a sequence of rotations that add up to nothing, and an exchange of a
//! register with itself: it does nothing.

/// `VG_USERREQ_TOOL_BASE('C','T') + 4`.
const START_INSTRUMENTATION: u64 = (b'C' as u64) << 24 | (b'T' as u64) << 16 | 4;

#[cfg(target_arch = "x86_64")]
fn client_request(request: u64) {
    let args: [u64; 6] = [request, 0, 0, 0, 0, 0];
    // SAFETY: valgrind reads the six words at rax and writes the result to rdx; natively the
    // four rotations of rdi add up to 128 bits (rdi unchanged) and xchg rbx, rbx is a no-op.
    unsafe {
        std::arch::asm!(
            "rol rdi, 3", "rol rdi, 13", "rol rdi, 61", "rol rdi, 51",
            "xchg rbx, rbx",
            in("rax") args.as_ptr(),
            inout("rdx") 0u64 => _,
            inout("rdi") 0u64 => _,
        );
    }
}

#[cfg(target_arch = "aarch64")]
fn client_request(request: u64) {
    let args: [u64; 6] = [request, 0, 0, 0, 0, 0];
    // SAFETY: valgrind reads the six words at x4 and writes the result to x3; natively the
    // four rotations of x12 add up to 128 bits (x12 unchanged) and orr x10, x10, x10 is a no-op.
    unsafe {
        std::arch::asm!(
            "ror x12, x12, #3", "ror x12, x12, #13", "ror x12, x12, #51", "ror x12, x12, #61",
            "orr x10, x10, x10",
            in("x4") args.as_ptr(),
            inout("x3") 0u64 => _,
            inout("x12") 0u64 => _,
        );
    }
}

/// Turns callgrind's instrumentation on (a no-op natively, or if it is on already).
pub fn start_instrumentation() {
    client_request(START_INSTRUMENTATION);
}
