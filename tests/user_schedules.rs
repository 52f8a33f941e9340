#![cfg(not(loom))]
//! Seeded schedules for cooperative tasks, used as a user's crate uses them: only the
//! public API (`Scheduler::with_schedule`, `braid::testing::{explore, Schedule}`, and,
//! with the `proptest` feature, `braid::testing::schedules`).
//!
//! The program under test has a bug that round robin never shows: two tasks add to a
//! balance, one keeping what it read across an `.await`, and the update is lost only
//! when the other task goes first and then waits for it.

use std::cell::RefCell;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;

use braid::coro::{yield_now, Scheduler};
use braid::stm::{atomically_async, TVar};
use braid::testing::{explore, Schedule};

/// Spawns the two deposits and runs them; returns the final balance (correct: 30).
fn deposits(scheduler: &mut Scheduler, fixed: bool) -> u64 {
    let balance = TVar::new(0u64);
    {
        let balance = balance.clone();
        scheduler.spawn(async move {
            if fixed {
                atomically_async(|tx| balance.modify(tx, |b| b + 10)).await;
            } else {
                // The bug: the read and the write are two transactions with an await
                // between them.
                let seen = balance.load();
                yield_now().await;
                atomically_async(|tx| balance.write(tx, seen + 10)).await;
            }
        });
    }
    {
        let balance = balance.clone();
        scheduler.spawn(async move {
            yield_now().await;
            atomically_async(|tx| balance.modify(tx, |b| b + 20)).await;
        });
    }
    scheduler.run().expect("no deadlock");
    balance.load()
}

fn fails(schedule: Schedule) -> bool {
    deposits(&mut Scheduler::with_schedule(schedule), false) != 30
}

#[test]
fn round_robin_never_shows_the_lost_update() {
    assert_eq!(deposits(&mut Scheduler::new(), false), 30);
    assert!(!fails(Schedule::round_robin()));
}

#[test]
fn explore_finds_the_lost_update_and_says_how_to_replay_it() {
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
        explore(50, |scheduler| {
            assert_eq!(deposits(scheduler, false), 30, "lost update");
        })
    }));
    let payload = outcome.expect_err("explore must find the lost update in 50 schedules");
    let message = payload
        .downcast_ref::<String>()
        .expect("explore panics with a String");
    assert!(
        message.starts_with("assertion `left == right` failed: lost update"),
        "{message}"
    );
    assert!(
        message.contains("failed under Schedule::from_seed("),
        "{message}"
    );
    assert!(message.contains("BRAID_SCHEDULE="), "{message}");
    assert!(
        message.contains("explore_finds_the_lost_update_and_says_how_to_replay_it"),
        "the replay command names the test: {message}"
    );
    // The schedule it names replays the failure on its own.
    let seed: u64 = message
        .split("Schedule::from_seed(")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .and_then(|seed| seed.parse().ok())
        .expect("the message names a seed");
    assert!(fails(Schedule::from_seed(seed)));
    assert!(
        fails(Schedule::from_seed(seed)),
        "and again: the same seed, the same run"
    );
}

#[test]
fn explore_passes_the_fixed_program() {
    explore(50, |scheduler| assert_eq!(deposits(scheduler, true), 30));
}

/// The seeds among the first 50 that show the bug (the closing note of issue 18 quotes
/// this list); fixed forever, since a seed means the same interleaving everywhere.
#[test]
fn the_seeds_that_find_the_bug_are_the_same_every_run() {
    let finding: Vec<u64> = (1..=50)
        .filter(|&s| fails(Schedule::from_seed(s)))
        .collect();
    println!("seeds 1..=50 that find the lost update: {finding:?}");
    assert!(!finding.is_empty());
    let again: Vec<u64> = (1..=50)
        .filter(|&s| fails(Schedule::from_seed(s)))
        .collect();
    assert_eq!(finding, again);
}

/// The order in which three tasks take turns, as a string like "abcabc".
fn turns(schedule: Schedule) -> String {
    let log = Rc::new(RefCell::new(String::new()));
    let mut scheduler = Scheduler::with_schedule(schedule);
    for name in ['a', 'b', 'c'] {
        let log = log.clone();
        scheduler.spawn(async move {
            for _ in 0..3 {
                log.borrow_mut().push(name);
                yield_now().await;
            }
        });
    }
    scheduler.run().unwrap();
    let turns = log.borrow().clone();
    turns
}

#[test]
fn a_schedule_gives_the_same_interleaving_every_time_and_seeds_vary_it() {
    assert_eq!(turns(Schedule::round_robin()), "abcabcabc");
    assert_eq!(turns(Scheduler::new().schedule().clone()), "abcabcabc");
    for seed in 0..20 {
        assert_eq!(
            turns(Schedule::from_seed(seed)),
            turns(Schedule::from_seed(seed))
        );
    }
    let distinct: std::collections::HashSet<String> = (0..20)
        .map(|seed| turns(Schedule::from_seed(seed)))
        .collect();
    assert!(distinct.len() >= 10, "20 seeds gave only {distinct:?}");
}

#[test]
fn woken_tasks_run_in_the_order_the_schedule_picks() {
    // Three tasks wait on one flag; a fourth sets it. Round robin wakes them in the
    // order they waited; some seed runs them in another.
    let order = |schedule: Schedule| {
        let flag = TVar::new(false);
        let log = Rc::new(RefCell::new(String::new()));
        let mut scheduler = Scheduler::with_schedule(schedule);
        for name in ['a', 'b', 'c'] {
            let (flag, log) = (flag.clone(), log.clone());
            scheduler.spawn(async move {
                atomically_async(|tx| braid::stm::check(flag.read(tx)?)).await;
                log.borrow_mut().push(name);
            });
        }
        scheduler.spawn(async move { atomically_async(|tx| flag.write(tx, true)).await });
        scheduler.run().unwrap();
        let order = log.borrow().clone();
        order
    };
    assert_eq!(order(Schedule::round_robin()), "abc");
    assert!((1..50).any(|seed| order(Schedule::from_seed(seed)) != "abc"));
}

#[test]
fn a_schedule_prints_as_the_expression_that_rebuilds_it() {
    assert_eq!(
        format!("{:?}", Schedule::round_robin()),
        "Schedule::round_robin()"
    );
    assert_eq!(
        format!("{:?}", Schedule::from_seed(42)),
        "Schedule::from_seed(42)"
    );
    assert_eq!(
        format!("{:?}", Schedule::from_choices([1, 0, 2])),
        "Schedule::from_choices([1, 0, 2])"
    );
    fn send_sync<T: Send + Sync + Clone + std::fmt::Debug>() {}
    send_sync::<Schedule>();
}

#[test]
#[should_panic(expected = "explore(0, ..) would run nothing")]
fn explore_with_no_schedules_is_an_error() {
    explore(0, |_| {});
}

#[cfg(feature = "proptest")]
mod with_proptest {
    use super::*;
    use braid::testing::schedules;
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestError, TestRunner};

    /// The failing property shrinks to the one out-of-order step the bug needs, and
    /// that schedule replays the failure.
    #[test]
    fn a_failing_property_shrinks_toward_round_robin_and_replays() {
        let mut runner = TestRunner::new(Config {
            cases: 256,
            failure_persistence: None,
            ..Config::default()
        });
        let result = runner.run(&schedules(), |schedule| {
            prop_assert_eq!(deposits(&mut Scheduler::with_schedule(schedule), false), 30);
            Ok(())
        });
        let Err(TestError::Fail(_, shrunk)) = result else {
            panic!("the property must fail: {result:?}");
        };
        println!("shrunk to {shrunk:?}");
        assert!(!shrunk.is_round_robin());
        let printed = format!("{shrunk:?}");
        let choices: Vec<u32> = printed
            .trim_start_matches("Schedule::from_choices([")
            .trim_end_matches("])")
            .split(", ")
            .map(|c| c.parse().unwrap())
            .collect();
        // One out-of-order step is all the bug needs (the second task's write before
        // the first task's stale one); the shrunk schedule has exactly one.
        let deviations = choices.iter().filter(|&&c| c != 0).count();
        assert_eq!(deviations, 1, "not shrunk: {printed}");
        assert!(choices.iter().all(|&c| c <= 1), "not shrunk: {printed}");
        assert!(fails(shrunk));
    }

    proptest! {
        /// The fixed program holds under every generated schedule.
        #[test]
        fn the_fixed_program_holds_under_every_schedule(schedule in schedules()) {
            prop_assert_eq!(deposits(&mut Scheduler::with_schedule(schedule), true), 30);
        }
    }
}
