//! Random operation sequences against a real `Reactor`, checked against a model.
#![no_main]

use barepoll_fuzz::{init, run, Input};
use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: init(),
    |input: Input| run(input)
);
