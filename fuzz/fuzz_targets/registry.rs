//! Random operation sequences against a real `Reactor`, checked against a model.
#![no_main]

use barepoll_fuzz::{quiet_planted_panics, run, Input};
use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: quiet_planted_panics(),
    |input: Input| run(input)
);
