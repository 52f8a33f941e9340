//! Exponential backoff for spin loops: spin a little, then hand the core back to the OS.
//!
//! Under loom each step is a `yield_now`, so the model checker can run the thread being
//! waited on instead of exploring an unbounded spin.

use std::cell::Cell;

use super::{spin_loop, thread, thread_local};

thread_local! {
    static JITTER: Cell<u32> = const { Cell::new(0) };
}

/// Spin-waits with growing pauses, then yields the thread.
pub(crate) struct Backoff {
    step: u32,
}

impl Backoff {
    /// `snooze` spins `2^step` times per call, at most `2^SNOOZE_LIMIT` (16 pauses, about
    /// 70 ns here), so a lock released while we spin is seen soon after.
    const SNOOZE_LIMIT: u32 = 4;
    /// `snooze` yields from this call on: after about 950 pauses (4 µs here). What it
    /// waits for is a running thread's few stores, so yielding earlier only adds a system
    /// call (0.26 µs here) per step: on a 2-core machine, a queue's producer and consumer
    /// yielded once every six messages while each waited out the other's commit.
    const SNOOZE_YIELD: u32 = 64;
    /// `snooze_jittered` spins up to `2^JITTER_LIMIT` times, then yields.
    const JITTER_LIMIT: u32 = 6;

    pub(crate) fn new() -> Self {
        Backoff { step: 0 }
    }

    /// Waits a little longer each call, up to a cap: for a lock held by a thread that is
    /// running. Yields only once the wait has lasted long enough that the holder may
    /// have been descheduled.
    pub(crate) fn snooze(&mut self) {
        if cfg!(loom) || self.step >= Self::SNOOZE_YIELD {
            thread::yield_now();
        } else {
            for _ in 0..1u32 << self.step.min(Self::SNOOZE_LIMIT) {
                spin_loop();
            }
        }
        self.step = self.step.saturating_add(1);
    }

    /// Like `snooze`, but spins a random number of times below the step's limit, so that
    /// two threads backing off from each other fall out of step. Under loom: a yield.
    pub(crate) fn snooze_jittered(&mut self) {
        if cfg!(loom) || self.step > Self::JITTER_LIMIT {
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
