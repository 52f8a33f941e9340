//! `explore`: one test, many seeded schedules of its cooperative tasks.

use std::panic::{self, AssertUnwindSafe};

use crate::coro::{Schedule, Scheduler};

/// The environment variable that replays one schedule: `round_robin`, a seed, or
/// `choices:2,0,1`.
pub const SCHEDULE_VAR: &str = "BRAID_SCHEDULE";

/// The environment variable that moves the first seed [`explore`] tries (default 1).
pub const SEED_VAR: &str = "BRAID_EXPLORE_SEED";

/// Runs `f` once per schedule, each time on a fresh [`Scheduler`] following that
/// schedule, and fails on the first schedule under which `f` panics.
///
/// The first of the `schedules` runs is round robin (what [`Scheduler::new`] does, so
/// nothing a plain test sees is skipped); the others follow seeds 1, 2, 3, ... (or
/// from the seed in `BRAID_EXPLORE_SEED`), each a pseudo-random choice among the ready
/// tasks at every step. The seeds are fixed, so a run is reproducible; it prints them.
///
/// `f` gets the scheduler, spawns its tasks, runs them and checks what they did;
/// `run().unwrap()` inside `f` turns a deadlock under some schedule into a failure too.
/// A panic in any task fails the run as well, even in a task whose handle nobody awaits:
/// the schedulers fail on a task's panic
/// ([`UnhandledPanic::ShutdownRuntime`](crate::exec::UnhandledPanic), as
/// [`Scheduler::with_schedule`] does), so `run` or `block_on` panics with the task's
/// message and spawn site. A test that expects a task to panic says so with
/// [`scheduler.set_unhandled_panic(UnhandledPanic::Ignore)`](Scheduler::set_unhandled_panic).
/// The schedulers are [isolated](Scheduler::isolated): a test's tasks wait only on each
/// other, so tasks stuck in `retry` under some schedule are a reported deadlock, not a
/// hang.
///
/// When `f` panics, `explore` panics with the original message, the schedule that made
/// it fail, and how to replay exactly that run: `BRAID_SCHEDULE=<seed> cargo test NAME`
/// runs only that schedule, and the printed `Schedule` expression pins it in a
/// regression test through [`Scheduler::with_schedule`] (`.isolated()`, as here).
///
/// ```should_panic
/// use braid::coro::yield_now;
/// use braid::testing::explore;
/// use std::cell::Cell;
/// use std::rc::Rc;
///
/// // Two tasks add to a shared count, each keeping what it read across a yield.
/// explore(20, |scheduler| {
///     let count = Rc::new(Cell::new(0));
///     let started = Rc::new(Cell::new(0));
///     for _ in 0..2 {
///         let (count, started) = (count.clone(), started.clone());
///         scheduler.spawn(async move {
///             started.set(started.get() + 1);
///             if started.get() == 2 {
///                 // The second task to start goes straight on...
///                 count.set(count.get() + 1);
///             } else {
///                 // ...the first reads, yields, and writes back a stale value.
///                 let seen = count.get();
///                 yield_now().await;
///                 count.set(seen + 1);
///             }
///         });
///     }
///     scheduler.run().unwrap();
///     assert_eq!(count.get(), 2, "lost update");
/// });
/// ```
///
/// A task that asserts, detached, fails the exploration under the schedules where its
/// assertion fails:
///
/// ```
/// use braid::coro::yield_now;
/// use braid::testing::explore;
/// use std::cell::Cell;
/// use std::rc::Rc;
///
/// # let quiet = std::panic::take_hook();
/// # std::panic::set_hook(Box::new(|_| {}));
/// let failed = std::panic::catch_unwind(|| {
///     explore(20, |scheduler| {
///         let door_open = Rc::new(Cell::new(false));
///         let opener = door_open.clone();
///         // Round robin runs this check first, while the door is still closed. Its
///         // handle is dropped: nobody awaits the task's result.
///         scheduler.spawn(async move { assert!(!door_open.get(), "the door is open") });
///         scheduler.spawn(async move {
///             opener.set(true);
///             yield_now().await;
///             opener.set(false);
///         });
///         scheduler.run().unwrap();
///     })
/// });
/// # std::panic::set_hook(quiet);
/// let report = failed.unwrap_err();
/// let report = report.downcast_ref::<String>().unwrap();
/// assert!(report.contains("panicked: the door is open"), "{report}");
/// assert!(report.contains("BRAID_SCHEDULE="), "{report}");
/// ```
///
/// # Panics
/// When `f` or one of its tasks panics under some schedule (see above), or `schedules`
/// is 0.
#[track_caller]
pub fn explore(schedules: usize, f: impl Fn(&mut Scheduler)) {
    assert!(
        schedules > 0,
        "braid::testing::explore(0, ..) would run nothing: ask for at least one schedule"
    );
    let plans: Vec<Schedule> = match std::env::var(SCHEDULE_VAR) {
        Ok(text) => {
            let schedule = Schedule::parse(&text).unwrap_or_else(|| {
                panic!(
                    "{SCHEDULE_VAR}={text:?} is not a schedule: use round_robin, a seed \
                     (42) or choices (choices:2,0,1)"
                )
            });
            println!("braid::testing::explore: replaying {schedule:?} ({SCHEDULE_VAR})");
            vec![schedule]
        }
        Err(_) => {
            let first = match std::env::var(SEED_VAR) {
                Ok(text) => text.trim().parse::<u64>().unwrap_or_else(|_| {
                    panic!("{SEED_VAR}={text:?} is not a seed (a number from 0 to 2^64 - 1)")
                }),
                Err(_) => 1,
            };
            let seeded = (0..schedules as u64 - 1).map(|i| first.wrapping_add(i));
            if schedules > 1 {
                println!(
                    "braid::testing::explore: round robin, then seeds {first} to {}",
                    first.wrapping_add(schedules as u64 - 2)
                );
            }
            std::iter::once(Schedule::round_robin())
                .chain(seeded.map(Schedule::from_seed))
                .collect()
        }
    };
    let total = plans.len();
    for (index, schedule) in plans.into_iter().enumerate() {
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
            let mut scheduler = Scheduler::with_schedule(schedule.clone()).isolated();
            f(&mut scheduler);
        }));
        if let Err(payload) = outcome {
            let message = crate::task::payload_message(payload.as_ref())
                .unwrap_or("(a panic whose payload is not a string)");
            let test = std::thread::current()
                .name()
                .filter(|name| *name != "main")
                .map_or_else(|| "<test name>".to_owned(), str::to_owned);
            panic!(
                "{message}\n\nbraid::testing::explore: failed under {schedule:?} (schedule \
                 {} of {total}).\nReplay that run alone: {SCHEDULE_VAR}={} cargo test {test}\n\
                 Or pin it in a test: Scheduler::with_schedule({schedule:?}).isolated()",
                index + 1,
                schedule.replay_text(),
            );
        }
    }
}
