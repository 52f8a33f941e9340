//! A work-stealing executor: a [`Pool`] of worker threads running futures and closures.
//!
//! Each worker has a fixed-size ring of jobs; a worker out of work steals half of
//! another's ring, and work submitted from outside goes through a global injector. A task
//! woken by the task running on a worker runs next on that worker (a LIFO slot), while its
//! data is in cache. Idle workers sleep and use no CPU. The design follows tokio's
//! multi-thread scheduler for tasks and rayon for `join` and `scope`.
//!
//! ```
//! use braid::exec::Pool;
//!
//! let pool = Pool::new(2);
//! let handles: Vec<_> = (1..=3u64)
//!     .map(|n| pool.spawn_fn(move || (1..=n).product::<u64>()))
//!     .collect();
//! let factorials: Vec<u64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
//! assert_eq!(factorials, [1, 2, 6]);
//! ```
//!
//! Transactions compose with tasks: a task that awaits
//! [`atomically_async`](crate::stm::atomically_async) and retries is suspended, not
//! parked, so it holds no worker while it waits.

mod blocking;
#[cfg_attr(loom, allow(missing_docs))]
pub(crate) mod deque;
mod idle;
// Exposed (hidden) to braid's loom models under cfg(loom); documented for maintainers.
#[cfg_attr(loom, allow(missing_docs))]
pub(crate) mod inject;
mod job;
mod join;
mod pool;
#[cfg_attr(loom, allow(missing_docs))]
pub(crate) mod queue;
mod scope;
mod worker;

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll};

pub use crate::task::{JoinError, JoinHandle};
pub use pool::{Pool, PoolBuilder};
pub use scope::Scope;

use crate::sync::atomic::{AtomicBool, Ordering};
use crate::sync::Arc;

/// Spawns `future` on the pool this code runs in: a task on a worker, or a future in
/// [`Pool::block_on`].
///
/// # Panics
/// Outside a pool; use [`Pool::spawn`] there.
///
/// ```
/// use braid::exec::{self, Pool};
///
/// let pool = Pool::new(2);
/// let outer = pool.spawn(async {
///     let inner = exec::spawn(async { 20 });
///     inner.await.unwrap() + 1
/// });
/// assert_eq!(outer.join().unwrap(), 21);
/// ```
pub fn spawn<T: Send + 'static>(future: impl Future<Output = T> + Send + 'static) -> JoinHandle<T> {
    let shared = worker::current_pool().expect(
        "braid::exec::spawn called outside a Pool; use Pool::spawn, or call it from a task \
         or from inside Pool::block_on",
    );
    pool::spawn_on(&shared, future)
}

/// Runs `a` and `b`, potentially in parallel, and returns both results. On a pool worker
/// it is fork-join (the other workers may steal `b`); elsewhere it runs `a`, then `b`, on
/// this thread. A panic in either is re-raised after both have finished.
///
/// ```
/// fn sum(values: &[u64]) -> u64 {
///     if values.len() <= 1024 {
///         return values.iter().sum();
///     }
///     let (left, right) = values.split_at(values.len() / 2);
///     let (a, b) = braid::exec::join(|| sum(left), || sum(right));
///     a + b
/// }
///
/// let values: Vec<u64> = (1..=100_000).collect();
/// let pool = braid::exec::Pool::new(2);
/// assert_eq!(pool.join(|| sum(&values), || 0).0, 5_000_050_000);
/// ```
pub fn join<RA: Send, RB: Send>(
    a: impl FnOnce() -> RA + Send,
    b: impl FnOnce() -> RB + Send,
) -> (RA, RB) {
    worker::with_current(|worker| match worker {
        Some(worker) => join::join_in_worker(worker, a, b),
        None => join::join_here(a, b),
    })
}

/// Polls `future` to completion on this thread: on a pool worker, running other work
/// while it waits; elsewhere, parking the thread between wake-ups.
pub(crate) fn block_on_current_thread<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    worker::with_current(|worker| match worker {
        Some(worker) => {
            let woken = Arc::new(AtomicBool::new(true));
            let waker = {
                let (woken, shared, index) =
                    (woken.clone(), worker.shared().clone(), worker.index());
                crate::sync::waker_fn(move || {
                    // Release: pairs with the Acquire swap below.
                    woken.store(true, Ordering::Release);
                    shared.parkers[index].unpark();
                })
            };
            let mut cx = Context::from_waker(&waker);
            loop {
                if woken.swap(false, Ordering::Acquire) {
                    if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
                        return output;
                    }
                }
                worker.help_until(&|| woken.load(Ordering::Acquire));
            }
        }
        None => {
            let parker = Arc::new(crate::sync::park::Parker::new());
            let waker = {
                let parker = parker.clone();
                crate::sync::waker_fn(move || parker.unpark())
            };
            let mut cx = Context::from_waker(&waker);
            loop {
                if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
                    return output;
                }
                parker.park();
            }
        }
    })
}
