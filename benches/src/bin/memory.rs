//! The memory probe: `barepoll-benches-memory VARIANT N` registers N idle eventfds with one
//! variant under a counting allocator and prints the heap growth (counted bytes, then glibc's
//! in-use bytes). The driver runs it once per variant; see `memory.rs` in the library.
//! `barepoll-benches-memory cycles VARIANT` runs a variant's timer arm+cancel cycles and
//! prints the heap its loop holds after each count of `memory::CYCLES`, one line each.
//! `barepoll-benches-memory high VARIANT` registers one eventfd under the highest number the
//! fd limit allows (19,999 under a hard limit of 20,000) and prints that number and the heap
//! growth: the tables that follow the fd number rather than the count of subscribers.

use barepoll_benches::memory::{Counting, CYCLES};
use barepoll_benches::{setup, variants};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let ["cycles", id] = args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        let variant = variants::find(id).expect("unknown variant");
        let timers = variant.timers.expect("a variant with timers");
        for held in (timers.cycles)(&CYCLES) {
            println!("{} {}", held.counted, held.heap);
        }
        return;
    }
    if let ["high", id] = args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        let variant = variants::find(id).expect("unknown variant");
        let (fd, grown) = setup::one_high_fd(|fd| (variant.memory)(&[fd]));
        println!("{} {} {fd}", grown.counted, grown.heap);
        return;
    }
    let [id, n] = &args[..] else {
        eprintln!("usage: barepoll-benches-memory VARIANT N | cycles VARIANT | high VARIANT");
        std::process::exit(2);
    };
    let variant = variants::find(id).expect("unknown variant");
    let n: usize = n.parse().expect("N");
    setup::raise_fd_limit(n as u64);
    let fds = setup::eventfds(n, 0);
    let grown = (variant.memory)(&fds);
    println!("{} {}", grown.counted, grown.heap);
}
