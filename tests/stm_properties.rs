#![cfg(not(loom))]
//! Property tests: braid's STM against a sequential model.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;

use braid::stm::{atomically, TVar};
use common::program::{self, Op, VARS};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// One thread: every transaction (with `or_else`, retries, read-your-writes) sees the
    /// reads the sequential model sees and leaves the same state.
    #[test]
    fn single_thread_programs_match_sequential_model(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        program::check_against_model(&program::decode(&bytes));
    }
}

/// A transaction of the concurrent property: ops, then a bump of the shared sequence
/// counter, which gives the serial order the commits claim to have.
fn run_stamped(vars: &[TVar<i64>], seq: &TVar<u64>, ops: &[Op]) -> (u64, Vec<i64>) {
    atomically(|tx| {
        let mut reads = Vec::new();
        let mut state: [i64; VARS] = [0; VARS];
        for (slot, var) in state.iter_mut().zip(vars) {
            *slot = var.read(tx)?;
        }
        // Apply `ops` in the model to the snapshot, then write the result back.
        let outcome = program::model_transaction(&mut state, ops);
        reads.extend(outcome.reads);
        for (var, value) in vars.iter().zip(state) {
            var.write(tx, value)?;
        }
        let stamp = seq.read(tx)?;
        seq.write(tx, stamp + 1)?;
        Ok((stamp, reads))
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Three threads: sorting the committed transactions by their stamps and replaying
    /// them serially on the model reproduces every read each one made and the final state.
    #[test]
    fn concurrent_commits_replay_serially_to_the_same_state(
        threads in prop::collection::vec(prop::collection::vec(prop::collection::vec(any::<u8>(), 0..12), 1..12), 3)
    ) {
        let vars: Arc<Vec<TVar<i64>>> = Arc::new((0..VARS).map(|i| TVar::new(i as i64)).collect());
        let seq = TVar::new(0u64);
        let programs: Vec<Vec<Vec<Op>>> = threads
            .iter()
            .map(|txs| txs.iter().map(|bytes| program::decode(bytes).into_iter().flatten().collect()).collect())
            .collect();
        let handles: Vec<_> = programs
            .clone()
            .into_iter()
            .map(|txs| {
                let (vars, seq) = (vars.clone(), seq.clone());
                thread::spawn(move || txs.iter().map(|ops| (run_stamped(&vars, &seq, ops), ops.clone())).collect::<Vec<_>>())
            })
            .collect();
        let mut committed: Vec<_> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
        committed.sort_by_key(|((stamp, _), _)| *stamp);
        let mut state: [i64; VARS] = std::array::from_fn(|i| i as i64);
        for (i, ((stamp, reads), ops)) in committed.iter().enumerate() {
            prop_assert_eq!(*stamp, i as u64, "stamps are not a serial order");
            let expected = program::model_transaction(&mut state, ops);
            prop_assert_eq!(&expected.reads, reads);
        }
        let now: Vec<i64> = vars.iter().map(TVar::load).collect();
        prop_assert_eq!(now, state.to_vec());
    }

    /// Transfers between accounts on two threads never change the total, and a third
    /// thread's read-only audits see the exact total every time, even mid-body.
    #[test]
    fn read_only_audits_always_see_exact_totals(
        transfers in prop::collection::vec((0usize..8, 0usize..8, 1i64..50), 1..200)
    ) {
        const START: i64 = 100;
        let accounts: Arc<Vec<TVar<i64>>> = Arc::new((0..8).map(|_| TVar::new(START)).collect());
        let done = Arc::new(AtomicBool::new(false));
        let auditor = {
            let (accounts, done) = (accounts.clone(), done.clone());
            thread::spawn(move || {
                let mut audits = 0u64;
                while !done.load(Ordering::Acquire) || audits == 0 {
                    let total = atomically(|tx| {
                        let mut total = 0;
                        for account in accounts.iter() {
                            total += account.read(tx)?;
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
        let halves: Vec<Vec<(usize, usize, i64)>> = transfers.chunks(transfers.len().div_ceil(2)).map(<[_]>::to_vec).collect();
        let movers: Vec<_> = halves
            .into_iter()
            .map(|batch| {
                let accounts = accounts.clone();
                thread::spawn(move || {
                    for (from, to, amount) in batch {
                        atomically(|tx| {
                            accounts[from].modify(tx, |b| b - amount)?;
                            accounts[to].modify(tx, |b| b + amount)
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
        let total: i64 = accounts.iter().map(TVar::load).sum();
        prop_assert_eq!(total, 8 * START);
    }
}
