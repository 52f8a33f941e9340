//! Arbitrary sequences of transactions (reads, writes, `or_else`, retry with a fallback)
//! run in braid and in a sequential model; any difference in what a transaction read or
//! in the final state is a crash. The program format is shared with the property tests.
//! Each program runs twice: on values braid keeps in the variable's word (`i64`), and on
//! values it keeps in heap nodes.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/common/program.rs"]
mod program;

fuzz_target!(|data: &[u8]| {
    let program = program::decode(data);
    program::check_against_model::<i64>(&program);
    program::check_against_model::<program::InNode>(&program);
});
