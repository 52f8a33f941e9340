//! A task's panic that nobody looks at still fails a check: under `explore`,
//! `Scheduler::with_schedule` and the `schedules()` strategy, and on either executor set
//! to `UnhandledPanic::ShutdownRuntime`. Written against the public API only, as a user's
//! crate would.
#![cfg(not(loom))]

mod common;

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use braid::coro::{self, yield_now, Schedule, Scheduler};
use braid::exec::{Pool, UnhandledPanic};
use braid::testing::explore;
use common::counted::Counted;
use common::{panic_message, quietly};

/// The program: task B asserts that the door is closed, and task A opens it
/// across a yield. Round robin runs B first and passes; some other orders fail. Neither
/// handle is awaited. Returns the line of B's spawn.
fn door(scheduler: &mut Scheduler) -> u32 {
    let open = Rc::new(Cell::new(false));
    let opener = open.clone();
    let line = line!() + 1;
    scheduler.spawn(async move { assert!(!open.get(), "the door is open") });
    scheduler.spawn(async move {
        opener.set(true);
        yield_now().await;
        opener.set(false);
    });
    line
}

#[test]
fn explore_fails_on_a_detached_tasks_panic_with_its_message_spawn_site_and_replay() {
    let line = Cell::new(0);
    let failed = quietly(|| {
        catch_unwind(AssertUnwindSafe(|| {
            explore(50, |scheduler| {
                line.set(door(scheduler));
                scheduler.run().unwrap();
            })
        }))
    });
    let report = panic_message(failed.expect_err("a schedule opens the door first"));
    assert!(report.contains("panicked: the door is open"), "{report}");
    let spawn_site = format!("{}:{}:", file!(), line.get());
    assert!(
        report.contains(&spawn_site),
        "no spawn site {spawn_site}: {report}"
    );
    assert!(
        report.contains("failed under Schedule::from_seed("),
        "{report}"
    );
    assert!(report.contains("BRAID_SCHEDULE="), "{report}");
    assert!(
        !report.contains("(schedule 1 of"),
        "round robin passes: {report}"
    );
}

#[test]
fn with_schedule_fails_run_on_a_task_panic_naming_the_schedule() {
    // Choice 1 runs the opener first, then the check.
    let schedule = Schedule::from_choices([1]);
    let mut scheduler = Scheduler::with_schedule(schedule.clone());
    let line = door(&mut scheduler);
    let failed = quietly(|| catch_unwind(AssertUnwindSafe(|| scheduler.run())));
    let report = panic_message(failed.expect_err("the check runs while the door is open"));
    assert!(report.contains("panicked: the door is open"), "{report}");
    assert!(report.contains(&format!("{}:{line}:", file!())), "{report}");
    let replay = format!("Scheduler::with_schedule({schedule:?})");
    assert!(report.contains(&replay), "{report}");
    // Replaying that schedule fails the same way; round robin passes.
    let mut again = Scheduler::with_schedule(schedule);
    door(&mut again);
    assert!(quietly(|| catch_unwind(AssertUnwindSafe(|| again.run()))).is_err());
    let mut round_robin = Scheduler::with_schedule(Schedule::round_robin());
    door(&mut round_robin);
    round_robin.run().unwrap();
}

#[test]
fn a_failing_scheduler_cancels_its_other_tasks_and_refuses_new_ones() {
    let live = Arc::new(AtomicUsize::new(0));
    let mut scheduler = Scheduler::new().unhandled_panic(UnhandledPanic::ShutdownRuntime);
    let waiting = {
        let kept = Counted::new(&live);
        scheduler.spawn(async move {
            coro::sleep(Duration::from_secs(3600)).await;
            drop(kept);
        })
    };
    let yielding = {
        let kept = Counted::new(&live);
        scheduler.spawn(async move {
            loop {
                yield_now().await;
                let _ = &kept;
            }
        })
    };
    scheduler.spawn(async {
        yield_now().await;
        panic!("boom");
    });
    let failed = quietly(|| {
        catch_unwind(AssertUnwindSafe(|| {
            scheduler.block_on(std::future::pending::<()>())
        }))
    });
    assert!(panic_message(failed.unwrap_err()).contains("panicked: boom"));
    assert_eq!(
        live.load(Ordering::SeqCst),
        0,
        "the other tasks' futures were dropped"
    );
    assert!(scheduler
        .block_on(waiting)
        .unwrap()
        .unwrap_err()
        .is_cancelled());
    assert!(scheduler
        .block_on(yielding)
        .unwrap()
        .unwrap_err()
        .is_cancelled());
    let late = scheduler.spawn(async { 1 });
    assert!(scheduler
        .block_on(late)
        .unwrap()
        .unwrap_err()
        .is_cancelled());
    assert!(scheduler.run().is_ok(), "nothing is left to run");
}

#[test]
fn scheduler_new_hands_a_panic_to_the_handle_alone() {
    let mut scheduler = Scheduler::new();
    assert_eq!(scheduler.unhandled_panic_policy(), UnhandledPanic::Ignore);
    let ran_on = Rc::new(Cell::new(false));
    let detached = scheduler.spawn(async { panic!("ignored") });
    drop(detached);
    let kept = scheduler.spawn(async { panic!("kept") });
    {
        let ran_on = ran_on.clone();
        scheduler.spawn(async move {
            yield_now().await;
            ran_on.set(true);
        });
    }
    quietly(|| scheduler.run()).unwrap();
    assert!(ran_on.get(), "the other task ran on");
    let error = scheduler.block_on(kept).unwrap().unwrap_err();
    assert_eq!(error.panic_message(), Some("kept"));
}

#[test]
fn a_test_that_expects_a_task_panic_opts_out_under_explore() {
    quietly(|| {
        explore(10, |scheduler| {
            scheduler.set_unhandled_panic(UnhandledPanic::Ignore);
            let task = scheduler.spawn(async { panic!("expected") });
            let error = scheduler.block_on(task).unwrap().unwrap_err();
            assert_eq!(error.panic_message(), Some("expected"));
        })
    });
}

#[test]
fn a_panic_caught_inside_the_task_is_handled() {
    let mut scheduler = Scheduler::with_schedule(Schedule::from_seed(3));
    let task = scheduler.spawn(async {
        let caught = catch_unwind(|| panic!("caught here"));
        yield_now().await;
        caught.is_err()
    });
    assert!(quietly(|| scheduler.block_on(task)).unwrap().unwrap());
}

#[test]
fn a_panic_in_a_cancelled_tasks_destructor_fails_too() {
    struct PanicsOnDrop;
    impl Drop for PanicsOnDrop {
        fn drop(&mut self) {
            panic!("destructor failed");
        }
    }
    let mut scheduler = Scheduler::new().unhandled_panic(UnhandledPanic::ShutdownRuntime);
    let victim = scheduler.spawn(async {
        let _guard = PanicsOnDrop;
        std::future::pending::<()>().await;
    });
    let failed = quietly(|| {
        catch_unwind(AssertUnwindSafe(|| {
            scheduler.block_on(async move {
                yield_now().await; // the victim starts and waits
                victim.abort();
                coro::sleep(Duration::from_secs(3600)).await;
            })
        }))
    });
    assert!(panic_message(failed.unwrap_err()).contains("panicked: destructor failed"));
}

#[cfg(feature = "proptest")]
mod with_proptest {
    use super::*;
    use braid::testing::schedules;
    use proptest::test_runner::{Config, TestError, TestRunner};

    #[test]
    fn a_detached_task_panic_fails_a_property_over_schedules() {
        let mut runner = TestRunner::new(Config {
            cases: 256,
            failure_persistence: None,
            ..Config::default()
        });
        let result = quietly(|| {
            runner.run(&schedules(), |schedule| {
                let mut scheduler = Scheduler::with_schedule(schedule);
                door(&mut scheduler);
                scheduler.run().unwrap();
                Ok(())
            })
        });
        let Err(TestError::Fail(reason, shrunk)) = result else {
            panic!("some schedule opens the door first: {result:?}");
        };
        let reason = reason.to_string();
        assert!(reason.contains("the door is open"), "{reason}");
        assert!(reason.contains("Scheduler::with_schedule("), "{reason}");
        assert!(!shrunk.is_round_robin());
    }
}

// The Pool.

fn failing_pool() -> Pool {
    Pool::builder()
        .workers(2)
        .unhandled_panic(UnhandledPanic::ShutdownRuntime)
        .build()
}

#[test]
fn a_failing_pool_stops_a_block_on_under_way_and_cancels_its_tasks() {
    let pool = failing_pool();
    let live = Arc::new(AtomicUsize::new(0));
    let stuck = {
        let kept = Counted::new(&live);
        pool.spawn(async move {
            std::future::pending::<()>().await;
            drop(kept);
        })
    };
    let line = line!() + 1;
    pool.spawn(async {
        braid::time::sleep(Duration::from_millis(20)).await;
        panic!("checksum mismatch");
    });
    // The main thread waits on something no task will ever finish.
    let failed = quietly(|| {
        catch_unwind(AssertUnwindSafe(|| {
            pool.block_on(braid::time::sleep(Duration::from_secs(3600)))
        }))
    });
    let report = panic_message(failed.expect_err("the task's panic fails block_on"));
    assert!(report.contains("panicked: checksum mismatch"), "{report}");
    assert!(report.contains(&format!("{}:{line}:", file!())), "{report}");
    assert!(stuck.join().unwrap_err().is_cancelled());
    assert_eq!(common::counted::settle(&live, 0), 0);
    assert!(pool.spawn_fn(|| 1).join().unwrap_err().is_cancelled());
    // Later block_on calls fail too, and so does shutdown.
    assert!(quietly(|| catch_unwind(AssertUnwindSafe(|| pool.block_on(async { 1 })))).is_err());
    let shutdown = quietly(|| catch_unwind(AssertUnwindSafe(|| pool.shutdown())));
    assert!(panic_message(shutdown.unwrap_err()).contains("panicked: checksum mismatch"));
}

#[test]
fn a_failing_pool_counts_closures_and_blocking_closures() {
    let pool = failing_pool();
    let closure = pool.spawn_fn(|| -> u32 { panic!("in a closure") });
    assert!(quietly(|| closure.join()).unwrap_err().is_panic());
    let failed = quietly(|| {
        catch_unwind(AssertUnwindSafe(|| {
            pool.shutdown_timeout(Duration::from_secs(5))
        }))
    });
    assert!(panic_message(failed.unwrap_err()).contains("panicked: in a closure"));

    let pool = failing_pool();
    pool.spawn_blocking(|| panic!("on a blocking thread"));
    let failed = quietly(|| {
        catch_unwind(AssertUnwindSafe(|| {
            pool.block_on(braid::time::sleep(Duration::from_secs(3600)))
        }))
    });
    assert!(panic_message(failed.unwrap_err()).contains("panicked: on a blocking thread"));
}

#[test]
fn a_default_pool_hands_a_panic_to_the_handle_alone() {
    let pool = Pool::new(2);
    quietly(|| {
        drop(pool.spawn(async { panic!("ignored") }));
        let kept = pool.spawn_fn(|| -> u32 { panic!("kept") });
        assert_eq!(kept.join().unwrap_err().panic_message(), Some("kept"));
    });
    assert_eq!(pool.block_on(pool.spawn(async { 7 })).unwrap(), 7);
    pool.shutdown();
}

#[test]
fn panics_in_join_scope_and_map_are_their_callers_not_a_failure() {
    let pool = failing_pool();
    let mapped = quietly(|| pool.try_map([1, 2], |n| if n == 2 { panic!("item") } else { n }));
    assert!(mapped[1].is_err());
    let joined = quietly(|| catch_unwind(AssertUnwindSafe(|| pool.join(|| 1, || panic!("half")))));
    assert!(joined.is_err());
    assert_eq!(
        pool.block_on(pool.spawn(async { 5 })).unwrap(),
        5,
        "the pool carries on"
    );
    pool.shutdown();
}
