//! Scoped spawning: closures that borrow from the caller's stack, all finished before
//! `Pool::scope` returns.

use std::marker::PhantomData;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

use super::job::{Job, Panic, Waiter};
use super::worker::{self, Push, Shared};
use crate::sync::atomic::{AtomicUsize, Ordering};
use crate::sync::{lock, Arc, Mutex};

/// Spawns closures that may borrow anything that outlives the scope; see
/// [`Pool::scope`](super::Pool::scope). Every closure has finished when the scope ends.
///
/// ```
/// use braid::exec::Pool;
///
/// let pool = Pool::new(2);
/// let mut halves = [0u64, 0u64];
/// let numbers: Vec<u64> = (1..=1000).collect();
/// let (low, high) = numbers.split_at(500);
/// let (left, right) = halves.split_at_mut(1);
/// pool.scope(|s| {
///     s.spawn(|_| left[0] = low.iter().sum());
///     s.spawn(|_| right[0] = high.iter().sum());
/// });
/// assert_eq!(halves[0] + halves[1], 500_500);
/// ```
pub struct Scope<'scope, 'env: 'scope> {
    shared: Arc<Shared>,
    pending: AtomicUsize,
    panic: Mutex<Option<Panic>>,
    waiter: Waiter,
    _scope: PhantomData<&'scope mut &'scope ()>,
    _env: PhantomData<&'env mut &'env ()>,
}

impl<'scope, 'env> Scope<'scope, 'env> {
    /// Runs `f` on the pool. It may borrow from outside the scope and spawn more work on
    /// the same scope through the reference it is given. A panic in `f` is re-raised by
    /// `Pool::scope` once every spawned closure has finished.
    ///
    /// ```
    /// use braid::exec::Pool;
    /// use std::sync::Mutex;
    ///
    /// let pool = Pool::new(2);
    /// let leaves = Mutex::new(Vec::new());
    /// pool.scope(|s| {
    ///     for branch in 0..4 {
    ///         let leaves = &leaves;
    ///         s.spawn(move |s| {
    ///             for leaf in 0..4 {
    ///                 s.spawn(move |_| leaves.lock().unwrap().push((branch, leaf)));
    ///             }
    ///         });
    ///     }
    /// });
    /// assert_eq!(leaves.into_inner().unwrap().len(), 16);
    /// ```
    pub fn spawn<F>(&'scope self, f: F)
    where
        F: FnOnce(&'scope Scope<'scope, 'env>) + Send + 'scope,
    {
        // Relaxed: the decrement that can reach zero is ordered after this by the job's
        // hand-over through a queue.
        self.pending.fetch_add(1, Ordering::Relaxed);
        let job: Box<dyn FnOnce() + Send + 'scope> = Box::new(move || {
            if let Err(panic) = catch_unwind(AssertUnwindSafe(|| f(self))) {
                lock(&self.panic).get_or_insert(panic);
            }
            // SAFETY: `self` is alive: the scope waits for this decrement.
            unsafe { Scope::job_done(self) };
        });
        // SAFETY: the job borrows data of lifetime 'scope; `Pool::scope` does not return
        // (or unwind) before `pending` is zero, i.e. before every job has run, so the
        // borrow never outlives its data although the type says 'static.
        let job: Box<dyn FnOnce() + Send + 'static> = unsafe { std::mem::transmute(job) };
        self.shared.push(Job::Closure(job), Push::New);
    }

    /// # Safety
    /// `this` is valid on entry and may be freed as soon as `pending` reaches zero.
    unsafe fn job_done(this: *const Self) {
        // Read the waiter first: the scope may be gone right after the decrement.
        // SAFETY: valid until the decrement.
        let waiter = unsafe { (*this).waiter.clone() };
        // AcqRel: the waiter that sees zero sees every job's writes.
        if unsafe { (*this).pending.fetch_sub(1, Ordering::AcqRel) } == 1 {
            waiter.wake();
        }
    }

    fn is_done(&self) -> bool {
        self.pending.load(Ordering::Acquire) == 0
    }
}

/// `Pool::scope` for `shared`.
pub(crate) fn scope<'env, R>(
    shared: &Arc<Shared>,
    f: impl for<'s> FnOnce(&'s Scope<'s, 'env>) -> R,
) -> R {
    let (waiter, _) = worker::waiter_for(shared);
    let scope = Scope {
        shared: shared.clone(),
        pending: AtomicUsize::new(0),
        panic: Mutex::new(None),
        waiter: waiter.clone(),
        _scope: PhantomData,
        _env: PhantomData,
    };
    let result = catch_unwind(AssertUnwindSafe(|| f(&scope)));
    worker::wait_until(&waiter, &|| scope.is_done());
    let job_panic = lock(&scope.panic).take();
    match (result, job_panic) {
        (Err(panic), _) | (Ok(_), Some(panic)) => resume_unwind(panic),
        (Ok(value), None) => value,
    }
}
