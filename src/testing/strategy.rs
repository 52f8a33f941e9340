//! `schedules()`: a proptest strategy of schedules that shrinks toward round robin.

use proptest::collection::vec;
use proptest::strategy::{Strategy, ValueTree};

use crate::coro::Schedule;

/// How many steps with a choice a generated schedule plans; later steps are round robin.
const PLANNED_STEPS: usize = 128;

/// A proptest [`Strategy`] of [`Schedule`]s for a property over cooperative tasks.
///
/// Each schedule is a list of choices (see [`Schedule::from_choices`]): at the `i`-th
/// step where several tasks are ready, run the one the `i`-th choice names. Shrinking
/// moves toward [`Schedule::round_robin`]: proptest drops choices and lowers each toward
/// 0 (round robin's pick), so a failing property shrinks to a schedule with few
/// out-of-order steps that still fails, and proptest prints it as a `Schedule`
/// expression that replays it (and saves it in the test's `.proptest-regressions`).
///
/// A scheduler made with [`Scheduler::with_schedule`](crate::coro::Scheduler::with_schedule)
/// fails on a task's panic, so a panic in any task (awaited or not) fails the property:
/// `run` panics with the task's message, its spawn site and the schedule, and proptest
/// shrinks that failure like any other.
///
/// ```
/// use braid::coro::{yield_now, Scheduler};
/// use braid::testing::schedules;
/// use proptest::prelude::*;
/// use std::cell::Cell;
/// use std::rc::Rc;
///
/// proptest!(|(schedule in schedules())| {
///     let mut scheduler = Scheduler::with_schedule(schedule);
///     let count = Rc::new(Cell::new(0));
///     for _ in 0..3 {
///         let count = count.clone();
///         scheduler.spawn(async move {
///             yield_now().await;
///             count.set(count.get() + 1); // no await between read and write: atomic here
///         });
///     }
///     scheduler.run().unwrap();
///     prop_assert_eq!(count.get(), 3);
/// });
/// ```
pub fn schedules() -> impl Strategy<Value = Schedule, Tree = impl ValueTree<Value = Schedule>> {
    vec(0u32..4, 0..=PLANNED_STEPS).prop_map(Schedule::from_choices)
}
