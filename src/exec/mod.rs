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

// The files, bottom up; each imports only files listed before it (and `sync`, `task`):
// - queue, deque, inject, idle: the primitives (a worker's ring, the join deque, the
//   global injector, the sleep protocol's bookkeeping); job: what they hold, and the
//   latch a joiner waits on; blocking: the set of threads for blocking work.
// - worker: the pool's shared state and a worker's loop (finding work, sleeping,
//   helping while it waits); blocking tasks are scheduled here.
// - join and scope: fork-join and scoped spawns on top of the workers.
// - unhandled: what a task's panic does to its executor (both executors' choice, and
//   the Pool's failure state).
// - pool: the `Pool` API. This file, the facade, re-exports and delegates.
// A blocking wait (`JoinHandle::join`, `Pool::block_on`) is `sync::block_on`, below both
// `task` and `exec`: a worker registers itself there to run other work while it waits.
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
mod unhandled;
mod worker;

use std::future::Future;

pub use crate::task::{JoinError, JoinHandle, JoinSet};
pub use pool::{Pool, PoolBuilder};
pub use scope::Scope;
pub use unhandled::UnhandledPanic;

/// Spawns `future` on the pool this code runs in: a task on a worker, a closure on one
/// of its blocking threads, or a future in [`Pool::block_on`].
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
#[track_caller]
pub fn spawn<T: Send + 'static>(future: impl Future<Output = T> + Send + 'static) -> JoinHandle<T> {
    let shared = worker::current_pool().expect(
        "braid::exec::spawn called outside a Pool; use Pool::spawn, or call it from a task \
         or from inside Pool::block_on",
    );
    pool::spawn_on(&shared, future, std::panic::Location::caller())
}

/// Runs `f` on the blocking threads of the pool this code runs in (a task, a closure on
/// a blocking thread, or a future in [`Pool::block_on`]), like
/// [`Pool::spawn_blocking`]: for work that blocks (file I/O, a C call, a blocking
/// `atomically`), which must not hold a worker.
///
/// # Panics
/// Outside a pool; use [`Pool::spawn_blocking`] there.
///
/// ```
/// use braid::exec::{self, Pool};
///
/// let pool = Pool::new(1);
/// let size = pool.spawn(async {
///     let read = exec::spawn_blocking(|| std::fs::read("Cargo.toml").map(|b| b.len()));
///     read.await.unwrap()
/// });
/// assert!(size.join().unwrap().unwrap() > 0);
/// ```
#[track_caller]
pub fn spawn_blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> JoinHandle<T> {
    let shared = worker::current_pool().expect(
        "braid::exec::spawn_blocking called outside a Pool; use Pool::spawn_blocking, or \
         call it from a task, a blocking closure, or inside Pool::block_on",
    );
    pool::spawn_blocking_on(&shared, f, std::panic::Location::caller())
}

/// Whether the task this code runs in has been aborted ([`JoinHandle::abort`]): for a
/// closure that runs a long time (`spawn_fn`, `spawn_blocking`), which an abort cannot
/// stop from outside, to stop early. `false` outside a braid task.
///
/// ```
/// use braid::exec::{self, Pool};
/// use std::time::Duration;
///
/// let pool = Pool::new(1);
/// let (started, wait_started) = std::sync::mpsc::channel();
/// let crawler = pool.spawn_fn(move || {
///     started.send(exec::is_cancelled()).unwrap();
///     let mut pages = 0;
///     loop {
///         pages += 1; // fetch one more page
///         std::thread::sleep(Duration::from_millis(1));
///         if exec::is_cancelled() {
///             return pages;
///         }
///     }
/// });
/// assert!(!wait_started.recv().unwrap(), "not aborted yet");
/// crawler.abort();
/// // The closure saw the abort and returned; it ran to completion, so its result is Ok.
/// assert!(crawler.join().unwrap() >= 1);
/// assert!(!exec::is_cancelled()); // not inside a task here
/// ```
pub fn is_cancelled() -> bool {
    crate::task::current_task_cancelled()
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
    join::join_anywhere(a, b)
}
