#![cfg(not(loom))]
//! Property tests of `TMap` and `TSet` against `HashMap` and `HashSet`: random programs on
//! one thread, and concurrent programs whose commits, replayed serially in the order they
//! claim, give the same answers and the same final map. Keys collide and split deep on
//! purpose (see `common/map_program.rs`).

use std::collections::HashMap;
use std::sync::Arc;
use std::thread;

use braid::stm::{atomically, StmResult, TMap, TVar};
use proptest::prelude::*;

#[path = "common/map_program.rs"]
mod map_program;

use map_program::{braid_op, model_op, Answer, Crowded, Op};

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Every transaction's answers, and the map after it, equal the `HashMap` model's;
    /// an aborted transaction leaves no trace.
    #[test]
    fn single_thread_map_programs_match_a_hashmap(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        map_program::check_map_against_model(&map_program::decode(&bytes));
    }

    /// The same for `TSet` against a `HashSet`.
    #[test]
    fn single_thread_set_programs_match_a_hashset(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        map_program::check_set_against_model(&map_program::decode(&bytes));
    }
}

/// One committed transaction of the concurrent property: its stamp in the serial order
/// the commits claim, its operations and its answers.
type Stamped = (u64, Vec<Op>, Vec<Answer>);

/// Runs `ops` and bumps the shared stamp in the same transaction.
fn run_stamped(map: &TMap<u8, u32, Crowded>, seq: &TVar<u64>, ops: &[Op]) -> Stamped {
    atomically(|tx| {
        let answers = ops
            .iter()
            .map(|op| braid_op(map, tx, op))
            .collect::<StmResult<Vec<_>>>()?;
        let stamp = seq.read(tx)?;
        seq.write(tx, stamp + 1)?;
        Ok((stamp, ops.to_vec(), answers))
    })
}

fn replay_serially(programs: Vec<Vec<Vec<Op>>>) -> Result<(), TestCaseError> {
    let map = Arc::new(TMap::with_hasher(Crowded));
    let seq = TVar::new(0u64);
    let handles: Vec<_> = programs
        .into_iter()
        .map(|txs| {
            let (map, seq) = (map.clone(), seq.clone());
            thread::spawn(move || {
                txs.iter()
                    .map(|ops| run_stamped(&map, &seq, ops))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut committed: Vec<Stamped> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    committed.sort_by_key(|(stamp, _, _)| *stamp);
    let mut model = HashMap::new();
    for (i, (stamp, ops, answers)) in committed.iter().enumerate() {
        prop_assert_eq!(*stamp, i as u64, "stamps are not a serial order");
        let before = model.clone();
        let expected: Vec<Answer> = ops
            .iter()
            .map(|op| model_op(&mut model, &before, op))
            .collect();
        prop_assert_eq!(&expected, answers, "transaction {} answered differently", i);
    }
    let mut want: Vec<_> = model.into_iter().collect();
    want.sort_unstable();
    prop_assert_eq!(map_program::contents(&map), want);
    Ok(())
}

fn thread_program() -> impl Strategy<Value = Vec<Vec<Op>>> {
    prop::collection::vec(prop::collection::vec(any::<u8>(), 0..12), 1..40).prop_map(|txs| {
        txs.iter()
            .flat_map(|bytes| map_program::decode(bytes))
            // A `load` reads outside the transaction, so it has no place in the serial
            // order of commits that this property replays.
            .map(|txn| {
                txn.ops
                    .into_iter()
                    .filter(|op| !matches!(op, Op::Load(_)))
                    .collect()
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Two or three threads run map transactions at once; replaying the commits serially
    /// in stamp order on a `HashMap` reproduces every answer and the final map.
    #[test]
    fn concurrent_map_commits_replay_serially_to_the_same_state(
        programs in prop::collection::vec(thread_program(), 2..=3)
    ) {
        replay_serially(programs)?;
    }
}

/// A program the single-thread property found: a transaction whose inserts filled a
/// shard's table grew it and, sweeping it there, embalmed variables the same attempt had
/// read; so it failed validation, and did the same on every run (a livelock in
/// `TMap::retain`). Now the table grows unswept and the sweep waits for the commit.
#[test]
fn a_transaction_whose_inserts_grow_a_table_finishes() {
    let bytes: Vec<u8> = vec![
        134, 143, 207, 177, 246, 74, 91, 92, 225, 244, 141, 99, 175, 137, 143, 195, 97, 181, 17,
        76, 77, 53, 199, 111, 37, 136, 170, 89, 69, 165, 101, 191, 16, 197, 4, 236, 166, 237, 156,
        216, 171, 200, 242, 163, 154, 37, 20, 44, 22, 111, 56, 159, 216, 183, 139, 153, 105, 230,
        97, 185, 230, 184, 28, 138, 214, 155, 104, 41, 70, 178, 189, 122, 101, 69, 152, 198, 123,
        60, 238, 20, 80, 146, 236, 161, 49, 100, 142, 252, 0, 154, 182, 59, 107, 232, 174, 193,
        249, 32, 142, 223, 86, 142, 251, 12, 190, 120, 118, 231, 198, 19, 146, 101, 87, 193, 209,
        61, 113, 104, 15, 191, 96, 195, 0, 110, 52, 231, 74, 179, 155, 145, 5, 173, 170, 238, 180,
        57, 219, 48, 151, 211, 56, 194, 118, 105, 239, 51, 41, 155, 172, 165, 36, 3, 244, 120, 12,
        191, 144, 52, 153, 64, 43, 147, 125, 239, 98, 124, 255, 235, 59, 151, 182, 105, 163, 38,
        125, 247, 82, 167, 44, 137, 142, 129, 212, 7, 94, 179, 173, 174, 221, 58, 57, 40, 137, 238,
        153, 95, 91, 78, 54, 40, 65, 230, 39, 37, 195, 201, 210, 142, 85, 213, 139, 71, 231, 132,
        31, 36, 124, 196, 171, 12, 38, 115, 67, 114, 202, 238, 203, 76, 71, 120, 36, 104, 56, 153,
        5, 192, 244, 184, 43, 80, 255,
    ];
    map_program::check_map_against_model(&map_program::decode(&bytes));
}
