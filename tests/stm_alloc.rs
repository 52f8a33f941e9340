#![cfg(not(loom))]
//! Allocation budget: transaction bookkeeping lives in the thread's reused log, so after
//! warm-up a transaction of up to 8 variables allocates at most the value nodes it
//! publishes. (Transactions that retire nothing, read-only or writing only word values,
//! have a binary of their own, `stm_alloc_zero.rs`.)

use braid::stm::{atomically, TVar};

#[path = "common/counting_alloc.rs"]
mod counting_alloc;

use counting_alloc::allocations_during;

/// A number in a type of its own: not a primitive scalar, so braid keeps it in a node.
#[derive(Clone)]
struct InNode(u64);

#[test]
fn writing_8_node_variables_allocates_at_most_the_published_values() {
    let vars: Vec<TVar<InNode>> = (0..8).map(|i| TVar::new(InNode(i))).collect();
    let bump = || {
        atomically(|tx| {
            vars.iter()
                .try_for_each(|v| v.modify(tx, |x| InNode(x.0 + 1)))
        })
    };
    bump();
    const RUNS: u64 = 1000;
    let counted = allocations_during(|| {
        for _ in 0..RUNS {
            bump();
        }
    });
    // At most 8 new value nodes per commit (fewer once freed nodes are recycled); each
    // 32 retired nodes are sealed into one shared batch (1/4 per commit). Read and write
    // sets add nothing.
    assert!(
        counted <= 8 * RUNS + RUNS / 4 + 8,
        "bookkeeping allocated: {counted} for {RUNS} commits"
    );
}
