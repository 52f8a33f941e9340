//! Exponential backoff for spin loops: spin a little, then hand the core back to the OS.
//!
//! Under loom each step is a `yield_now`, so the model checker can run the thread being
//! waited on instead of exploring an unbounded spin.

use std::cell::Cell;

use super::{spin_loop, thread, thread_local};

thread_local! {
    static JITTER: Cell<u32> = const { Cell::new(0) };
}

/// Spins `2^step` times per call up to a cap, then yields the thread.
pub(crate) struct Backoff {
    step: u32,
}

impl Backoff {
    const SPIN_LIMIT: u32 = 6;

    pub(crate) fn new() -> Self {
        Backoff { step: 0 }
    }

    /// Waits a little longer each call: for a lock held by a committer that is running.
    pub(crate) fn snooze(&mut self) {
        if cfg!(loom) || self.step > Self::SPIN_LIMIT {
            thread::yield_now();
        } else {
            for _ in 0..1u32 << self.step {
                spin_loop();
            }
        }
        self.step = self.step.saturating_add(1);
    }

    /// Like `snooze`, but spins a random number of times below the step's limit, so that
    /// two threads backing off from each other fall out of step. Under loom: a yield.
    pub(crate) fn snooze_jittered(&mut self) {
        if cfg!(loom) || self.step > Self::SPIN_LIMIT {
            thread::yield_now();
        } else {
            for _ in 0..=random_below(1u32 << self.step) {
                spin_loop();
            }
        }
        self.step = self.step.saturating_add(1);
    }
}

/// A number in `0..bound` from a per-thread xorshift generator (`bound` > 0). Jitter
/// only needs to differ between threads, not to be good randomness.
fn random_below(bound: u32) -> u32 {
    JITTER.with(|state| {
        let mut x = state.get();
        if x == 0 {
            // Seed from this thread's stack address: distinct per live thread.
            x = (&x as *const u32 as usize as u32) | 1;
        }
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        state.set(x);
        x % bound
    })
}
