#![cfg(not(loom))]
//! Allocation budget: transaction bookkeeping lives inline, so after warm-up a transaction
//! of up to 8 variables allocates at most the value nodes it publishes.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use braid::stm::{atomically, TVar};

/// Counts allocations made by the current thread only, so other tests' threads in this
/// binary cannot disturb the count.
struct CountingAllocator;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; the counter is a thread-local `Cell` with a
// const initializer, which never allocates.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: same layout contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

fn allocations_during(f: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

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

#[test]
fn writing_8_variables_allocates_at_most_the_published_values() {
    let vars: Vec<TVar<u64>> = (0..8).map(TVar::new).collect();
    let bump = || atomically(|tx| vars.iter().try_for_each(|v| v.modify(tx, |x| x + 1)));
    bump();
    const RUNS: u64 = 1000;
    let counted = allocations_during(|| {
        for _ in 0..RUNS {
            bump();
        }
    });
    // At most 8 new value nodes per commit (fewer once freed nodes are recycled); the
    // epoch collector adds one deferred batch per 32 retired nodes (1/4 per commit).
    // Read and write sets add nothing.
    assert!(
        counted <= 8 * RUNS + RUNS / 4 + 8,
        "bookkeeping allocated: {counted} for {RUNS} commits"
    );
}
