//! # braid
//!
//! Shared-state concurrency without locks in user code.
//!
//! - [`stm`]: software transactional memory. [`TVar`](stm::TVar)s, [`atomically`](stm::atomically)
//!   blocks, blocking [`retry`](stm::retry), [`or_else`](stm::or_else), and
//!   [`atomically_async`](stm::atomically_async) for tasks.
//!
//! ```
//! use braid::stm::{atomically, TVar};
//! use std::thread;
//!
//! let hits = TVar::new(0u64);
//! let workers: Vec<_> = (0..4)
//!     .map(|_| {
//!         let hits = hits.clone();
//!         thread::spawn(move || {
//!             for _ in 0..1000 {
//!                 atomically(|tx| hits.modify(tx, |n| n + 1));
//!             }
//!         })
//!     })
//!     .collect();
//! for worker in workers {
//!     worker.join().unwrap();
//! }
//! assert_eq!(hits.load(), 4000);
//! ```
//!
//! - [`coro`]: stackless generators: [`Generator`](coro::Generator) bodies that yield
//!   values out and receive values in (Python's `send`, `throw`, `close`, `yield from`),
//!   and [`AsyncGenerator`](coro::AsyncGenerator)s that await between their yields and
//!   are [`Stream`](coro::Stream)s; a round-robin [`Scheduler`](coro::Scheduler) of
//!   cooperative tasks.
//!
//! ```
//! use braid::coro::Generator;
//!
//! let evens = Generator::new(|co| async move {
//!     for n in (0..10).step_by(2) {
//!         co.yield_(n).await;
//!     }
//! });
//! assert_eq!(evens.collect::<Vec<_>>(), [0, 2, 4, 6, 8]);
//! ```
//!
//! - [`exec`]: a work-stealing [`Pool`](exec::Pool) of worker threads for futures and
//!   closures, with [`JoinHandle`]s, fork-join [`join`](exec::join), scoped spawning and
//!   an order-keeping parallel `map`.
//!
//! ```
//! use braid::exec::Pool;
//!
//! let pool = Pool::new(2);
//! let task = pool.spawn_fn(|| (1..=10u64).sum::<u64>());
//! assert_eq!(task.join().unwrap(), 55);
//! assert_eq!(pool.map([1, 2, 3], |n| n * n), [1, 4, 9]);
//! ```
//!
//! - [`testing`]: checking your own braid code. [`explore`](testing::explore) runs
//!   cooperative tasks under seeded [`Schedule`](testing::Schedule)s other than round
//!   robin and names the one that fails; `testing::model` (under `--cfg loom`) runs a
//!   loom model of your code with bounds that finish; `testing::schedules` (feature
//!   `proptest`) is a proptest strategy that shrinks toward round robin.
//!
//! ```
//! use braid::coro::yield_now;
//! use std::cell::Cell;
//! use std::rc::Rc;
//!
//! braid::testing::explore(10, |scheduler| {
//!     let turns = Rc::new(Cell::new(0));
//!     for _ in 0..2 {
//!         let turns = turns.clone();
//!         scheduler.spawn(async move {
//!             turns.set(turns.get() + 1);
//!             yield_now().await;
//!         });
//!     }
//!     scheduler.run().unwrap();
//!     assert_eq!(turns.get(), 2);
//! });
//! ```
//!
//! Everything braid synchronizes with goes through one internal shim, so building with
//! `RUSTFLAGS="--cfg loom"` swaps in loom's model-checked primitives: braid's own models
//! live in `models/`, and a user's loom model sees through braid the same way.

#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(rust_2018_idioms)]

pub mod coro;
pub mod exec;
pub mod stm;
mod sync;
mod task;
pub mod testing;
pub mod time;

/// What a task's unhandled panic does to its executor, for the Pool and the Scheduler.
pub use exec::UnhandledPanic;
pub use task::{AbortOnDrop, JoinError, JoinHandle, JoinSet, TaskId};

/// braid's lock-free parts (executor queues, the push stack, sealed reclamation
/// batches), exposed only to braid's own loom models.
#[cfg(loom)]
#[doc(hidden)]
pub mod __loom {
    pub use crate::exec::inject::Injector;
    pub use crate::exec::queue::{new, new_at, Local, Overflow, Stealer, CAPACITY};
    /// The calling thread's next commit stamps past the clock instead of ticking it
    /// (`stm/clock.rs`), whatever the thread has seen.
    pub fn stamp_next_commit() {
        crate::stm::stamp_next_commit();
    }

    /// The persistent stack behind `TQueue`, holding numbers.
    #[derive(Clone)]
    pub struct Stack(crate::stm::stack::Stack<usize>);

    impl Stack {
        /// An empty stack.
        pub fn new() -> Stack {
            Stack(crate::stm::stack::Stack::new())
        }
        /// This stack with `n` on top (this one is unchanged).
        pub fn push(&self, n: usize) -> Stack {
            Stack(self.0.clone().push(n))
        }
        /// The values, oldest first.
        pub fn values(&self) -> Vec<usize> {
            self.0.to_vec_oldest_first()
        }
    }

    pub use crate::sync::sealed::SealedBatch;

    /// The `join` deque, with plain numbers as jobs.
    pub mod deque {
        use crate::exec::deque;

        /// The owner's end.
        pub struct Owner(deque::Worker);
        /// A thief's end.
        #[derive(Clone)]
        pub struct Thief(deque::Stealer);

        /// A new, empty deque.
        pub fn new() -> (Owner, Thief) {
            let (owner, thief) = deque::new();
            (Owner(owner), Thief(thief))
        }

        impl Owner {
            /// Pushes `n` (non-zero); `false` when full.
            pub fn push(&mut self, n: usize) -> bool {
                self.0.push(deque::test_job(n)).is_ok()
            }
            /// Takes the newest.
            pub fn take(&mut self) -> Option<usize> {
                self.0.take().map(deque::test_number)
            }
        }

        impl Thief {
            /// Takes the oldest.
            pub fn steal(&self) -> Option<usize> {
                self.0.steal().map(deque::test_number)
            }
        }
    }
}

/// The README's examples, compiled and run as doc tests so they cannot go stale.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
