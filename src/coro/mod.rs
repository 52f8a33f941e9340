//! Cooperative coroutines: stackless generators.
//!
//! A [`Generator`] runs a body that yields values out and receives values in, suspended
//! between resumes without a thread or a stack of its own (Python's generators, with
//! `send` and `yield from`). A [`Scheduler`] runs cooperative tasks on one thread in
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

mod deadlock;
mod generator;
mod schedule;
mod scheduler;
mod yield_now;

/// The Scheduler's choice for a task's panic, shared with the Pool.
pub use crate::exec::UnhandledPanic;
/// The Scheduler's sleep is [`braid::time::sleep`](crate::time::sleep), kept here under
/// its old name: it works on every executor now, not only inside a Scheduler.
pub use crate::time::sleep;
pub use deadlock::{BlockedTask, Deadlock, WaitsOn};
pub use generator::{Co, Generator, GeneratorState};
pub use schedule::Schedule;
pub use scheduler::{spawn, Scheduler};
pub use yield_now::yield_now;
