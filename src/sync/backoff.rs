//! Exponential backoff for spin loops: spin a little, then hand the core back to the OS.
//!
//! Under loom each step is a `yield_now`, so the model checker can run the thread being
//! waited on instead of exploring an unbounded spin.

use super::{spin_loop, thread};

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
}
