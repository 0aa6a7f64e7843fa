//! Replays the committed fuzz corpus (`tests/fuzz/corpus`) and every input that once found a
//! bug (`tests/fuzz/regressions`) through the fuzz harness (`tests/fuzz/harness`, which the
//! cargo-fuzz target in `fuzz/` also builds on) and its model, so plain `cargo test` keeps
//! them passing. The harness aborts the process on any disagreement.
//! One test in its own binary: the harness checks the process's open-fd count.
#![cfg(feature = "std")]

#[path = "fuzz/harness/lib.rs"]
#[allow(dead_code)]
mod harness;

use arbitrary::{Arbitrary, Unstructured};
use std::path::Path;

fn replay(dir: &str) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        // Decoded as the fuzz target decodes it; inputs that do not decode do nothing there.
        if let Ok(input) = harness::Input::arbitrary_take_rest(Unstructured::new(&bytes)) {
            harness::run(input);
        }
    }
    files.len()
}

#[test]
#[cfg_attr(miri, ignore = "thousands of runs with level-triggered epoll")]
fn fuzz_corpus_and_regressions_replay_clean() {
    harness::quiet_planted_panics();
    let regressions = replay("tests/fuzz/regressions");
    let corpus = replay("tests/fuzz/corpus");
    assert!(corpus > 0, "the committed corpus is empty");
    eprintln!("replayed {regressions} regression inputs and {corpus} corpus inputs");
}
