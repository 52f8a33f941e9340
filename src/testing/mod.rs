//! Checking your own braid code: loom models, seeded schedules, proptest.
//!
//! braid's own protocols are model-checked with loom and property-tested; this module
//! gives a user the same tools for a program written with braid.
//!
//! - **`model`** (compiled only under `RUSTFLAGS="--cfg loom"`, so absent from docs
//!   built without it; `fn model<F: Fn() + Sync + Send + 'static>(f: F)`, with
//!   `DEFAULT_PREEMPTION_BOUND` and `DEFAULT_MAX_BRANCHES`): loom with braid's bounds. Every
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
//! Two tasks deposit into one account. The first reads the balance, awaits something
//! (here a `yield_now`; in real code an I/O call), and writes back what it read plus its
//! amount. Round robin always runs the second task's deposit after that write, so a
//! plain test passes; `explore` tries other orders and finds the one that loses it:
//!
//! ```
//! use braid::coro::{yield_now, Scheduler};
//! use braid::stm::{atomically_async, TVar};
//! use braid::testing::explore;
//!
//! fn deposits(scheduler: &mut Scheduler, fixed: bool) -> u64 {
//!     let balance = TVar::new(0u64);
//!     let b = balance.clone();
//!     scheduler.spawn(async move {
//!         if fixed {
//!             // The fix: read and write in one transaction.
//!             atomically_async(|tx| b.modify(tx, |v| v + 10)).await;
//!         } else {
//!             let seen = b.load();
//!             yield_now().await; // the other task may run here
//!             atomically_async(|tx| b.write(tx, seen + 10)).await;
//!         }
//!     });
//!     let b = balance.clone();
//!     scheduler.spawn(async move {
//!         yield_now().await;
//!         atomically_async(|tx| b.modify(tx, |v| v + 20)).await;
//!     });
//!     scheduler.run().unwrap();
//!     balance.load()
//! }
//!
//! assert_eq!(deposits(&mut Scheduler::new(), false), 30); // round robin: no bug seen
//! let found = std::panic::catch_unwind(|| {
//!     explore(20, |scheduler| assert_eq!(deposits(scheduler, false), 30, "lost update"));
//! });
//! assert!(found.is_err()); // names Schedule::from_seed(2) and how to replay it
//! explore(20, |scheduler| assert_eq!(deposits(scheduler, true), 30));
//! ```
//!
//! A lost update between two threads, checked by loom (built with
//! `RUSTFLAGS="--cfg loom"`):
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
#![cfg_attr(feature = "proptest", doc = "[`schedules`]: schedules")]
#![cfg_attr(
    not(feature = "proptest"),
    doc = "[`schedules`]: https://docs.rs/braid/latest/braid/testing/fn.schedules.html"
)]

mod explore;
#[cfg(loom)]
mod model;
#[cfg(feature = "proptest")]
mod strategy;

pub use crate::coro::Schedule;
pub use explore::{explore, SCHEDULE_VAR, SEED_VAR};
#[cfg(loom)]
#[cfg_attr(docsrs, doc(cfg(loom)))]
pub use model::{model, DEFAULT_MAX_BRANCHES, DEFAULT_PREEMPTION_BOUND};
#[cfg(feature = "proptest")]
#[cfg_attr(docsrs, doc(cfg(feature = "proptest")))]
pub use strategy::schedules;

/// The loom that braid is built with (only under `--cfg loom`), for a model's threads
/// and futures: `braid::testing::loom::thread::spawn`, `loom::future::block_on`.
#[cfg(loom)]
#[cfg_attr(docsrs, doc(cfg(loom)))]
pub use loom;
