//! Arbitrary sequences of transactions (reads, writes, `or_else`, retry with a fallback)
//! run in braid and in a sequential model; any difference in what a transaction read or
//! in the final state is a crash. The program format is shared with the property tests.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/common/program.rs"]
mod program;

fuzz_target!(|data: &[u8]| {
    program::check_against_model(&program::decode(data));
});
