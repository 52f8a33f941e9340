//! A sealed batch of retired pointers, freed exactly once by whichever of two parties
//! claims it first: the thread that retired it, the next time it seals a batch, or else
//! the collector, one grace period later. `reclaim.rs` says why both.
//!
//! States: `PENDING` (readers may still hold the pointers) -> `READY` (a deferred call
//! that ends a grace period ran, the first of at most two: nobody does) -> `TAKEN` (one party claimed the items with a
//! CAS, and only that party touches them).
//!
//! # Orderings
//! The items are written before the batch is shared, and only the claim's winner touches
//! them afterwards. The retiring thread claims what it wrote itself; the collector
//! reaches the batch through its deferral queue, which orders those writes before its
//! calls. `mark_ready`'s `Release` pairs with the claim's `Acquire`, so the winner also
//! sees everything before the grace period ended.

use crate::sync::atomic::{AtomicU32, Ordering};
use crate::sync::UnsafeCell;

const PENDING: u32 = 0;
const READY: u32 = 1;
const TAKEN: u32 = 2;

/// Items handed between two parties, freed by whichever claims them first.
pub struct SealedBatch<T> {
    state: AtomicU32,
    items: UnsafeCell<Vec<T>>,
}

// SAFETY: the items move to whichever thread claims them (`T: Send`); the cell is
// touched only by the claim's single winner, so sharing the batch is sound too.
unsafe impl<T: Send> Send for SealedBatch<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for SealedBatch<T> {}

impl<T> SealedBatch<T> {
    /// A pending batch of `items`.
    pub fn new(items: Vec<T>) -> SealedBatch<T> {
        SealedBatch {
            state: AtomicU32::new(PENDING),
            items: UnsafeCell::new(items),
        }
    }

    /// Makes a claimed batch pending again with new `items`: reuses the header once
    /// nobody else holds it (hence `&mut`).
    pub fn refill(&mut self, items: Vec<T>) {
        // Relaxed: `&mut` means no other thread can look.
        self.state.store(PENDING, Ordering::Relaxed);
        // SAFETY: `&mut self` is the only access to the cell.
        self.items.with_mut(|old| unsafe { *old = items });
    }

    /// The grace period is over: the items may be claimed. True for the call that made
    /// the batch ready: a batch may have two grace periods running (its thread's
    /// deferred call, and the collector thread's when that call may be stuck; see
    /// `reclaim.rs`), and only the first to end marks it, never one already claimed.
    pub fn mark_ready(&self) -> bool {
        // Release: pairs with the claim's Acquire CAS.
        (self.state)
            .compare_exchange(PENDING, READY, Ordering::Release, Ordering::Relaxed)
            .is_ok()
    }

    /// Whether the grace period is still running. A batch that is not pending is ready
    /// or already claimed.
    pub fn is_pending(&self) -> bool {
        // Relaxed: only a hint of whether to try `take`, which decides with its CAS.
        self.state.load(Ordering::Relaxed) == PENDING
    }

    /// Whether someone has claimed the items. A hint, like `is_pending`.
    pub fn is_taken(&self) -> bool {
        // Relaxed: only says whether the batch still needs looking after.
        self.state.load(Ordering::Relaxed) == TAKEN
    }

    /// The items, if the batch is ready and nobody has claimed them yet.
    pub fn take(&self) -> Option<Vec<T>> {
        // Acquire: pairs with `mark_ready`. The CAS makes exactly one caller the winner.
        self.state
            .compare_exchange(READY, TAKEN, Ordering::Acquire, Ordering::Relaxed)
            .ok()?;
        // SAFETY: only the CAS's winner reaches this line, once; nobody else touches the
        // cell again.
        Some(
            self.items
                .with_mut(|items| unsafe { std::mem::take(&mut *items) }),
        )
    }
}
