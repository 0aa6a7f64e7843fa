//! The benchmark suite as a library: the cases, the variants (two hand-written epoll loops,
//! barepoll two ways, and the peers; timers and remote calls for those that have them), the
//! instruments and the report. Two binaries use it:
//! the driver (`main.rs`) and the memory probe (`bin/memory.rs`).

pub mod cases;
pub mod clock;
pub mod count;
pub mod goals;
pub mod lateness;
pub mod machine;
pub mod measure;
pub mod memory;
pub mod notes;
pub mod raw;
pub mod report;
pub mod report_timers;
pub mod setup;
pub mod sizes;
pub mod slab;
pub mod svg;
pub mod syscalls;
pub mod valgrind;
pub mod variants;
