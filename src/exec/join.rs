//! Fork-join: run two closures, potentially in parallel (rayon's `join`).
//!
//! On a worker, the second closure goes to the back of the worker's own ring, where an
//! idle worker can steal it, and the first runs at once. Then the worker takes the second
//! back (`pop_back`) and runs it itself, unless a thief got it: then the worker runs
//! other jobs until the thief sets the latch. It never sleeps while there is work.

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

use super::job::{Job, StackJob, Waiter};
use super::worker::Worker;

pub(crate) fn join_in_worker<A, B, RA, RB>(worker: &Worker, a: A, b: B) -> (RA, RB)
where
    A: FnOnce() -> RA + Send,
    B: FnOnce() -> RB + Send,
    RA: Send,
    RB: Send,
{
    let job_b = StackJob::new(b, Waiter::Worker(worker.index()));
    let job_b_ref = job_b.as_job_ref();
    worker.push_back(Job::Stack(job_b_ref));
    // `b` borrows this frame: even if `a` panics, wait for `b` before unwinding.
    let result_a = catch_unwind(AssertUnwindSafe(a));
    let result_b = loop {
        if job_b.latch.is_set() {
            break job_b.take_result();
        }
        match worker.pop_back() {
            Some(Job::Stack(job)) if job.same_job(job_b_ref) => {
                // Nobody stole it: run it here, without the latch.
                let b = job_b.take_func();
                break catch_unwind(AssertUnwindSafe(b));
            }
            // Newer work pushed while `a` ran (a task it spawned): it is ours to run.
            Some(other) => worker.run_job(other),
            None => {
                worker.help_until(&|| job_b.latch.is_set());
                break job_b.take_result();
            }
        }
    };
    match (result_a, result_b) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(panic), _) | (_, Err(panic)) => resume_unwind(panic),
    }
}
