//! Time: [`sleep`], [`sleep_until`], [`timeout`] and [`interval`], one facility for every
//! executor. The same future works in a Pool task, in a Scheduler task, under
//! `Pool::block_on` or `Scheduler::block_on`, and under any other executor (a tokio
//! runtime, a hand-written `block_on`): nothing asks for a "current runtime".
//!
//! ```
//! use braid::exec::Pool;
//! use braid::time::{sleep, timeout};
//! use std::time::Duration;
//!
//! let pool = Pool::new(2);
//! let answer = pool.spawn(async {
//!     sleep(Duration::from_millis(5)).await;
//!     42
//! });
//! // Python's `future.result(timeout=1)`:
//! let answer = pool.block_on(timeout(Duration::from_secs(1), answer));
//! assert_eq!(answer.unwrap().unwrap(), 42);
//! ```
//!
//! # How timers are driven
//! Each executor owns one timer: a hierarchical timing wheel (`wheel.rs`: 6 levels of
//! 64 slots, millisecond ticks, about 2.2 years of reach) behind one mutex, whose insert
//! and cancel are O(1) however many timers are pending. A [`Sleep`] registers on its
//! first poll with the timer of the thread polling it, and its entry is removed when it
//! is dropped, so abandoned sleeps and finished timeouts leave nothing behind.
//!
//! - **On the Pool**, a sleeping task holds no worker: it is a waker in the wheel. One
//!   idle worker at a time is the timer's *driver*: it parks until the earliest deadline
//!   (not a polling loop: a pool whose tasks all sleep uses no CPU), then fires what is due
//!   into its own queue. A task that registers an earlier deadline unparks the driver; if
//!   no worker drives, it wakes a sleeping one to. Busy workers also fire due timers
//!   every 61 jobs, so timers keep time while every worker is busy.
//! - **On the Scheduler**, its thread fires due timers after each round and, when no
//!   task can run, sleeps until the earliest deadline. A pending timer keeps `run` from
//!   reporting a deadlock.
//! - **Elsewhere**, a process-wide timer serves, driven by one thread (`braid-timer`)
//!   started on first use, which sleeps while no timer is pending.
//!
//! The costs: one lock per registration, per cancel and per firing batch, one waker clone
//! per sleep, and two clock reads (one when the sleep is made, one at its first poll). A
//! deadline is rounded up to the next millisecond: a sleep never ends early and usually
//! ends within a millisecond after its deadline. Measured on 2 cores against tokio's timer
//! (`benches/time.rs`, details in `BENCHMARKS.md`): arming and firing 100k sleeping tasks
//! takes 0.5–0.85x tokio's time; arming and cancelling 100k timers from one task 0.75x;
//! one arm and cancel 105–127 ns whether 0 or 100k others are pending (tokio: 86–110 ns);
//! a 1 ms sleep wakes after 2.0 ms (tokio 2.1 ms). A Pool with 100k sleeping tasks used no
//! measurable CPU over 5 s (`tests/time_idle_cpu.rs`), and spawning beside them costs what
//! it costs on an idle pool.
//!
//! Under `--cfg loom` time is virtual: when a driver's timed park returns (at once, under
//! loom), time jumps to the deadline it waited for, as with tokio's paused clock; outside
//! braid's executors, where there is no timer thread to model, a sleep ends at once.

mod context;
mod deadline;
mod interval;
mod sleep;
mod timeout;
mod timer;
mod wheel;

pub(crate) use context::{host_here, Host};
pub use interval::{interval, interval_at, Interval, MissedTickBehavior};
pub use sleep::{sleep, sleep_until, Sleep};
pub(crate) use timeout::timeout_blocking;
pub use timeout::{timeout, timeout_at, Elapsed, Timeout};
pub(crate) use timer::Timer;
