#![cfg(not(loom))]
//! Property tests: braid's STM against a sequential model. Each property runs on `i64`
//! variables (values kept in the variable's word) and on `InNode` variables (the same
//! numbers kept in heap nodes), braid's two representations.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;

use braid::stm::{atomically, TVar};
use common::program::{self, InNode, Op, Value, VARS};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// One thread: every transaction (with `or_else`, retries, read-your-writes) sees the
    /// reads the sequential model sees and leaves the same state.
    #[test]
    fn single_thread_programs_match_sequential_model(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let program = program::decode(&bytes);
        program::check_against_model::<i64>(&program);
        program::check_against_model::<InNode>(&program);
    }
}

/// A transaction of the concurrent property: ops, then a bump of the shared sequence
/// counter, which gives the serial order the commits claim to have.
fn run_stamped<V: Value>(vars: &[TVar<V>], seq: &TVar<u64>, ops: &[Op]) -> (u64, Vec<i64>) {
    atomically(|tx| {
        let mut reads = Vec::new();
        let mut state: [i64; VARS] = [0; VARS];
        for (slot, var) in state.iter_mut().zip(vars) {
            *slot = var.read(tx)?.get();
        }
        // Apply `ops` in the model to the snapshot, then write the result back.
        let outcome = program::model_transaction(&mut state, ops);
        reads.extend(outcome.reads);
        for (var, value) in vars.iter().zip(state) {
            var.write(tx, V::from_i64(value))?;
        }
        let stamp = seq.read(tx)?;
        seq.write(tx, stamp + 1)?;
        Ok((stamp, reads))
    })
}

/// Runs each thread's transactions on its own thread, then replays the commits serially
/// in stamp order on the model: every read and the final state must match.
fn replay_serially<V: Value>(programs: &[Vec<Vec<Op>>]) -> Result<(), TestCaseError> {
    let vars: Arc<Vec<TVar<V>>> = Arc::new(program::numbered_vars(VARS));
    let seq = TVar::new(0u64);
    let handles: Vec<_> = programs
        .iter()
        .cloned()
        .map(|txs| {
            let (vars, seq) = (vars.clone(), seq.clone());
            thread::spawn(move || {
                txs.iter()
                    .map(|ops| (run_stamped(&vars, &seq, ops), ops.clone()))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut committed: Vec<_> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    committed.sort_by_key(|((stamp, _), _)| *stamp);
    let mut state: [i64; VARS] = std::array::from_fn(|i| i as i64);
    for (i, ((stamp, reads), ops)) in committed.iter().enumerate() {
        prop_assert_eq!(*stamp, i as u64, "stamps are not a serial order");
        let expected = program::model_transaction(&mut state, ops);
        prop_assert_eq!(&expected.reads, reads);
    }
    prop_assert_eq!(program::values(&vars), state.to_vec());
    Ok(())
}

/// Transfers between 8 accounts of `START` on two threads, while a third audits them
/// read-only: the total never changes, and every audit, even mid-body, sees it exactly.
fn audit_transfers<V: Value>(transfers: &[(usize, usize, i64)]) -> Result<(), TestCaseError> {
    const START: i64 = 100;
    let accounts: Arc<Vec<TVar<V>>> =
        Arc::new((0..8).map(|_| TVar::new(V::from_i64(START))).collect());
    let done = Arc::new(AtomicBool::new(false));
    let auditor = {
        let (accounts, done) = (accounts.clone(), done.clone());
        thread::spawn(move || {
            let mut audits = 0u64;
            while !done.load(Ordering::Acquire) || audits == 0 {
                let total = atomically(|tx| {
                    let mut total = 0;
                    for account in accounts.iter() {
                        total += account.read(tx)?.get();
                    }
                    // Opacity: the body itself never sees a partial transfer.
                    assert_eq!(total, 8 * START, "audit body saw a torn state");
                    Ok(total)
                });
                assert_eq!(total, 8 * START);
                audits += 1;
            }
            audits
        })
    };
    let halves: Vec<Vec<(usize, usize, i64)>> = transfers
        .chunks(transfers.len().div_ceil(2))
        .map(<[_]>::to_vec)
        .collect();
    let movers: Vec<_> = halves
        .into_iter()
        .map(|batch| {
            let accounts = accounts.clone();
            thread::spawn(move || {
                for (from, to, amount) in batch {
                    atomically(|tx| {
                        accounts[from].modify(tx, |b| V::from_i64(b.get() - amount))?;
                        accounts[to].modify(tx, |b| V::from_i64(b.get() + amount))
                    });
                }
            })
        })
        .collect();
    for mover in movers {
        mover.join().unwrap();
    }
    done.store(true, Ordering::Release);
    prop_assert!(auditor.join().unwrap() > 0);
    prop_assert_eq!(program::values(&accounts).iter().sum::<i64>(), 8 * START);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Three threads: sorting the committed transactions by their stamps and replaying
    /// them serially on the model reproduces every read each one made and the final state.
    #[test]
    fn concurrent_commits_replay_serially_to_the_same_state(
        threads in prop::collection::vec(prop::collection::vec(prop::collection::vec(any::<u8>(), 0..12), 1..12), 3)
    ) {
        let programs: Vec<Vec<Vec<Op>>> = threads
            .iter()
            .map(|txs| txs.iter().map(|bytes| program::decode(bytes).into_iter().flatten().collect()).collect())
            .collect();
        replay_serially::<i64>(&programs)?;
        replay_serially::<InNode>(&programs)?;
    }

    /// Transfers between accounts on two threads never change the total, and a third
    /// thread's read-only audits see the exact total every time, even mid-body.
    #[test]
    fn read_only_audits_always_see_exact_totals(
        transfers in prop::collection::vec((0usize..8, 0usize..8, 1i64..50), 1..200)
    ) {
        audit_transfers::<i64>(&transfers)?;
        audit_transfers::<InNode>(&transfers)?;
    }
}
