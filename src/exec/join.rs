//! Fork-join: run two closures, potentially in parallel (rayon's `join`).
//!
//! On a worker, the second closure goes to the bottom of the worker's `join` deque,
//! where an idle worker can steal it, and the first runs at once. Then the worker takes
//! the second back and runs it itself, unless a thief got it: then the worker runs other
//! jobs until the thief sets the latch. It never sleeps while there is work.

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

use super::job::StackJob;
use super::worker::{with_current, Worker};

/// `exec::join`: fork-join on a worker, one side after the other elsewhere.
pub(crate) fn join_anywhere<RA: Send, RB: Send>(
    a: impl FnOnce() -> RA + Send,
    b: impl FnOnce() -> RB + Send,
) -> (RA, RB) {
    with_current(|worker| match worker {
        Some(worker) => join_in_worker(worker, a, b),
        None => join_here(a, b),
    })
}

pub(crate) fn join_in_worker<A, B, RA, RB>(worker: &Worker, a: A, b: B) -> (RA, RB)
where
    A: FnOnce() -> RA + Send,
    B: FnOnce() -> RB + Send,
    RA: Send,
    RB: Send,
{
    let job_b = StackJob::new(b, worker.sibling_waiter());
    let job_b_ref = job_b.as_job_ref();
    if worker.push_join(job_b_ref).is_err() {
        // The deque is full (a very deep recursion): plenty to steal already; run both.
        let result_a = catch_unwind(AssertUnwindSafe(a));
        let result_b = catch_unwind(AssertUnwindSafe(job_b.take_func()));
        return settle(result_a, result_b);
    }
    // `b` borrows this frame: even if `a` panics, wait for `b` before unwinding.
    let result_a = catch_unwind(AssertUnwindSafe(a));
    let result_b = loop {
        if job_b.latch.is_set() {
            break job_b.take_result();
        }
        match worker.take_join() {
            Some(job) if job.same_job(job_b_ref) => {
                // Nobody stole it: run it here, without the latch.
                break catch_unwind(AssertUnwindSafe(job_b.take_func()));
            }
            // An outer join's half, below ours (ours was stolen): ours to run as well.
            // SAFETY: it came from this worker's deque, so its joiner waits for its latch.
            Some(other) => unsafe { other.execute() },
            None => {
                worker.help_until(&|| job_b.latch.is_set());
                break job_b.take_result();
            }
        }
    };
    settle(result_a, result_b)
}

/// Both closures on the calling thread, which is no worker: `a`, then `b` even if `a`
/// panicked, then the first panic (rayon's `join` outside a pool does the same).
pub(crate) fn join_here<A, B, RA, RB>(a: A, b: B) -> (RA, RB)
where
    A: FnOnce() -> RA,
    B: FnOnce() -> RB,
{
    let result_a = catch_unwind(AssertUnwindSafe(a));
    let result_b = catch_unwind(AssertUnwindSafe(b));
    settle(result_a, result_b)
}

/// Both results, or the first closure's panic if it panicked, else the second's.
fn settle<RA, RB>(a: std::thread::Result<RA>, b: std::thread::Result<RB>) -> (RA, RB) {
    match (a, b) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(panic), _) | (_, Err(panic)) => resume_unwind(panic),
    }
}
