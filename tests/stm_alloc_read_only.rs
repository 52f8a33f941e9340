#![cfg(not(loom))]
//! Allocation budget of a read-only transaction: nothing, after warm-up.
//!
//! In a binary of its own, with no thread writing: a pinned thread may run the epoch
//! collector, and finishing another thread's retired batches can make the collector
//! allocate (a deferred call defers a second one; see `sync/reclaim.rs`). That is the
//! collector's work for those threads, not this transaction's bookkeeping, which is what
//! this test pins down. Beside the writing test (`stm_alloc.rs`) it failed in CI once
//! for that reason.

use braid::stm::{atomically, TVar};

#[path = "common/counting_alloc.rs"]
mod counting_alloc;

use counting_alloc::allocations_during;

#[test]
fn read_only_transaction_of_8_variables_allocates_nothing() {
    let vars: Vec<TVar<u64>> = (0..8).map(TVar::new).collect();
    let sum = || atomically(|tx| vars.iter().try_fold(0, |acc, v| Ok(acc + v.read(tx)?)));
    assert_eq!(sum(), 28); // warm-up: the thread's epoch record
    assert_eq!(
        allocations_during(|| for _ in 0..1000 {
            sum();
        }),
        0
    );
}
