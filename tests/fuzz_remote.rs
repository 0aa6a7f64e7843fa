//! A hand-written input for the fuzz harness's model of remote posts, so that part of the
//! model runs in every `cargo test` whatever the corpus decodes to. Its own binary: the
//! harness checks the process's open-fd count.
#![cfg(feature = "std")]

#[path = "fuzz/harness/lib.rs"]
#[allow(dead_code)]
mod harness;

/// The remote queue's part of the model runs: a burst past the ring, posts from a job, from
/// another thread, with no memory, a stop in the middle, and jobs left for the draining turns.
#[test]
#[cfg_attr(miri, ignore = "thousands of posts")]
fn remote_posts_through_the_model() {
    use harness::{Input, JobKind, Op};
    harness::quiet_planted_panics();
    harness::run(Input {
        scripts: Vec::new(),
        timer_scripts: Vec::new(),
        #[cfg(feature = "tasks")]
        task_scripts: Vec::new(),
        ops: vec![
            Op::Post(JobKind::Post),
            Op::PostMany(40),
            Op::Turn,
            Op::Turn,
            // In the ring: the stop ends the turn there.
            Op::Post(JobKind::Stop),
            Op::Post(JobKind::Plain),
            Op::Post(JobKind::Post),
            Op::Turn,
            Op::Turn,
            Op::PostFromThread(60),
            Op::Post(JobKind::Stop),
            Op::Post(JobKind::Plain),
            Op::PostStarved(JobKind::Plain),
            Op::Turn,
            Op::Turn,
            Op::PostMany(200),
            Op::Post(JobKind::Stop),
            Op::PostFromThread(255),
        ],
    });
}
