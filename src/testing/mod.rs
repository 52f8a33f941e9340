//! Checking your own braid code: loom models, seeded schedules, proptest.
//!
//! braid's own protocols are model-checked with loom and property-tested; this module
//! gives a user the same tools for a program written with braid.
//!
//! - **[`model`]** (under `RUSTFLAGS="--cfg loom"`): loom with braid's bounds. Every
//!   atomic, mutex and thread inside braid becomes loom's under that flag, so a model of
//!   your `atomically` blocks, `retry` waits, Pool tasks and Scheduler tasks explores the
//!   interleavings of braid's internals along with yours. A model that finds a bug fails
//!   like any test, with your assertion's message.
//! - **[`Schedule`]** and **[`explore`]**: cooperative tasks on a [`Scheduler`] run in
//!   round-robin order, so a bug that needs another order (state kept across an `.await`
//!   while another task changes it) never shows in a plain test. `explore(n, f)` runs `f`
//!   under round robin and `n - 1` seeded schedules, and names the one that fails, with
//!   the command that replays it.
//! - **[`schedules`]** (cargo feature `proptest`): a proptest strategy of schedules
//!   that shrinks a failure toward round robin, to the fewest out-of-order steps.
//!
//! # A lost update, found and fixed
//! Two tasks move money into one account. Each reads the balance, awaits something
//! (here a `yield_now`, in real code an I/O call or a lock), and writes back what it
//! read plus its amount:
//!
//! ```
//! use braid::coro::{yield_now, Scheduler};
//! use braid::stm::{atomically_async, TVar};
//! use braid::testing::explore;
//!
//! fn deposit_twice(scheduler: &mut Scheduler, atomic: bool) -> u64 {
//!     let balance = TVar::new(100u64);
//!     for amount in [10, 20] {
//!         let balance = balance.clone();
//!         scheduler.spawn(async move {
//!             if atomic {
//!                 // The fix: read and write in one transaction.
//!                 atomically_async(|tx| balance.modify(tx, |b| b + amount)).await;
//!             } else {
//!                 let seen = balance.load();
//!                 yield_now().await; // another task may run here
//!                 atomically_async(|tx| balance.write(tx, seen + amount)).await;
//!             }
//!         });
//!     }
//!     scheduler.run().unwrap();
//!     balance.load()
//! }
//!
//! // Round robin alone: both read 100 before either writes, so the bug shows at once.
//! // The point of `explore` is the bugs that need an order round robin never runs.
//! let lost = std::panic::catch_unwind(|| {
//!     explore(10, |scheduler| assert_eq!(deposit_twice(scheduler, false), 130));
//! });
//! assert!(lost.is_err());
//! explore(10, |scheduler| assert_eq!(deposit_twice(scheduler, true), 130));
//! ```
//!
//! The same program checked by loom, where the two deposits run on two threads (built
//! with `RUSTFLAGS="--cfg loom"`):
//!
//! ```ignore
//! use braid::stm::{atomically, TVar};
//! use braid::testing::{loom::thread, model};
//!
//! #[test]
//! #[should_panic(expected = "lost update")]
//! fn split_read_and_write_lose_an_update() {
//!     model(|| {
//!         let balance = TVar::new(100u64);
//!         let other = {
//!             let balance = balance.clone();
//!             thread::spawn(move || {
//!                 let seen = atomically(|tx| balance.read(tx));
//!                 atomically(|tx| balance.write(tx, seen + 10));
//!             })
//!         };
//!         let seen = atomically(|tx| balance.read(tx));
//!         atomically(|tx| balance.write(tx, seen + 20));
//!         other.join().unwrap();
//!         assert_eq!(balance.load(), 130, "lost update");
//!     });
//! }
//!
//! #[test]
//! fn one_transaction_loses_nothing() {
//!     model(|| {
//!         let balance = TVar::new(100u64);
//!         let other = {
//!             let balance = balance.clone();
//!             thread::spawn(move || atomically(|tx| balance.modify(tx, |b| b + 10)))
//!         };
//!         atomically(|tx| balance.modify(tx, |b| b + 20));
//!         other.join().unwrap();
//!         assert_eq!(balance.load(), 130);
//!     });
//! }
//! ```
//!
//! # What a loom model of braid code costs
//! `model` bounds preemptions at 3 (`DEFAULT_PREEMPTION_BOUND`) unless
//! `LOOM_MAX_PREEMPTIONS` says otherwise; README.md's "Checking your own code" has the
//! times and execution counts of typical models at bounds 2, 3, 4 and unbounded.
//!
//! [`Scheduler`]: crate::coro::Scheduler

mod explore;
#[cfg(loom)]
mod model;
#[cfg(feature = "proptest")]
mod strategy;

pub use crate::coro::Schedule;
pub use explore::{explore, SCHEDULE_VAR, SEED_VAR};
#[cfg(loom)]
pub use model::{model, DEFAULT_MAX_BRANCHES, DEFAULT_PREEMPTION_BOUND};
#[cfg(feature = "proptest")]
pub use strategy::schedules;

/// The loom that braid is built with (only under `--cfg loom`), for a model's threads
/// and futures: `braid::testing::loom::thread::spawn`, `loom::future::block_on`.
#[cfg(loom)]
pub use loom;
