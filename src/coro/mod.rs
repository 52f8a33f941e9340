//! Cooperative coroutines: stackless generators, async generators, and a scheduler.
//!
//! A [`Generator`] runs a body that yields values out and receives values in, suspended
//! between resumes without a thread or a stack of its own (Python's generators, with
//! `send`, `throw`, `close` and `yield from`). An [`AsyncGenerator`] also awaits any
//! future between its yields, and is a [`Stream`] (PEP 525). A [`Scheduler`] runs cooperative tasks on one thread in
//! round-robin order (or in the order a [`Schedule`] picks, for tests), with the same
//! [`JoinHandle`](crate::JoinHandle) as the Pool.
//!
//! ```
//! use braid::coro::Generator;
//!
//! let fibonacci = Generator::new(|co| async move {
//!     let (mut a, mut b) = (0u64, 1u64);
//!     loop {
//!         co.yield_(a).await;
//!         (a, b) = (b, a + b);
//!     }
//! });
//! let first: Vec<u64> = fibonacci.take(10).collect();
//! assert_eq!(first, [0, 1, 1, 2, 3, 5, 8, 13, 21, 34]);
//! ```

mod async_co;
mod async_generator;
mod async_slot;
mod co;
mod deadlock;
mod generator;
mod schedule;
mod scheduler;
mod slot;
mod yield_now;

/// The Scheduler's choice for a task's panic, shared with the Pool.
pub use crate::exec::UnhandledPanic;
/// The Scheduler's sleep is [`braid::time::sleep`](crate::time::sleep), kept here under
/// its old name: it works on every executor now, not only inside a Scheduler.
pub use crate::time::sleep;
pub use async_co::AsyncCo;
pub use async_generator::{AsyncGenerator, BoxAsyncGenerator};
pub use co::Co;
pub use deadlock::{BlockedTask, Deadlock, WaitsOn};
/// The `Stream` trait (`futures_core::Stream`), which [`AsyncGenerator`] implements: the
/// ecosystem's one async-iterator vocabulary.
pub use futures_core::Stream;
pub use generator::{BoxGenerator, Generator, GeneratorState, LocalBoxGenerator};
pub use schedule::Schedule;
pub use scheduler::{spawn, Scheduler};
pub use yield_now::yield_now;
