//! Arbitrary programs of `TMap` and `TSet` operations, in transactions that may abort,
//! run in braid and in `HashMap`/`HashSet` models; any difference in an answer or in the
//! contents after a transaction is a crash. Keys collide and split deep on purpose.
//! `TMap::load` and `TSet::contains_now` run mid-transaction (answering the committed
//! state) and for every key after each transaction. The program format is shared with
//! the property tests.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/common/map_program.rs"]
mod map_program;

fuzz_target!(|data: &[u8]| {
    let program = map_program::decode(data);
    map_program::check_map_against_model(&program);
    map_program::check_set_against_model(&program);
});
