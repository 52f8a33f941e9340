#![cfg(loom)]
//! The Pool as a whole, with one or two workers: no wake-up is lost when work arrives as
//! the last worker goes to sleep; a task's completion, abort, wake and handle drop race
//! without losing or double-dropping anything; `join`'s latch; shutdown with tasks in
//! flight; a task's panic failing the pool (`UnhandledPanic::ShutdownRuntime`) while
//! `block_on` waits; the last handle dropped on a worker. `Track` makes loom report any
//! future or output that is never dropped.

#[path = "common/gate.rs"]
mod gate;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use braid::exec::{Pool, UnhandledPanic};
use gate::Gate;
use loom::alloc::Track;
use loom::thread;

#[test]
fn work_sent_while_the_worker_falls_asleep_is_run() {
    loom::model(|| {
        let pool = Pool::new(1);
        let task = pool.spawn_fn(|| 7);
        assert_eq!(task.join().unwrap(), 7);
    });
}

#[test]
fn a_wake_from_another_thread_runs_the_task_again() {
    loom::model(|| {
        let pool = Pool::new(1);
        let gate = Gate::new();
        let task = pool.spawn(gate.clone());
        let opener = thread::spawn(move || gate.open());
        task.join().unwrap();
        opener.join().unwrap();
    });
}

#[test]
fn abort_racing_a_wake_drops_the_future_once() {
    loom::model(|| {
        let pool = Pool::new(1);
        let gate = Gate::new();
        let held = Track::new(());
        let task = pool.spawn({
            let gate = gate.clone();
            async move {
                gate.await;
                held
            }
        });
        let opener = thread::spawn(move || gate.open());
        task.abort();
        match task.join() {
            Ok(output) => drop(output),
            Err(error) => assert!(error.is_cancelled()),
        }
        opener.join().unwrap();
    });
}

#[test]
fn a_handle_dropped_while_the_task_completes_frees_the_output() {
    loom::model(|| {
        let pool = Pool::new(1);
        let task = pool.spawn_fn(|| Track::new(5));
        let dropper = thread::spawn(move || drop(task));
        dropper.join().unwrap();
        drop(pool);
    });
}

#[test]
fn join_returns_both_results_whoever_runs_the_second_half() {
    loom::model(|| {
        let pool = Pool::new(2);
        assert_eq!(pool.join(|| 1, || 2), (1, 2));
    });
}

#[test]
fn shutdown_with_tasks_in_flight_cancels_them_and_leaks_nothing() {
    loom::model(|| {
        let pool = Pool::new(1);
        let pending = pool.spawn({
            let held = Track::new(());
            async move {
                std::future::pending::<()>().await;
                drop(held);
            }
        });
        let quick = pool.spawn_fn(|| Track::new(1));
        drop(pool);
        assert!(pending.join().unwrap_err().is_cancelled());
        match quick.join() {
            Ok(output) => drop(output),
            Err(error) => assert!(error.is_cancelled()),
        }
    });
}

#[test]
fn a_task_panic_fails_the_pool_and_stops_its_block_on() {
    // The panics are expected, once per execution: keep the output readable.
    std::panic::set_hook(Box::new(|_| {}));
    loom::model(|| {
        let pool = Pool::builder()
            .workers(1)
            .unhandled_panic(UnhandledPanic::ShutdownRuntime)
            .build();
        let stuck = pool.spawn({
            let held = Track::new(());
            async move {
                std::future::pending::<()>().await;
                drop(held);
            }
        });
        drop(pool.spawn_fn(|| panic!("boom")));
        // The failure either comes first (the first poll sees it) or wakes this wait.
        let failed = catch_unwind(AssertUnwindSafe(|| {
            pool.block_on(std::future::pending::<()>())
        }));
        assert!(failed.is_err());
        assert!(stuck.join().unwrap_err().is_cancelled());
    });
    let _ = std::panic::take_hook();
}

#[test]
fn the_last_handle_dropped_on_a_worker_winds_the_pool_down() {
    loom::model(|| {
        let pool = Arc::new(Pool::new(1));
        let last = pool.clone();
        let task = pool.spawn_fn(move || drop(last));
        drop(pool);
        // Whichever drop was last, the task finished (or was cancelled before it ran),
        // and the worker exits: loom checks every thread ends.
        if let Err(error) = task.join() {
            assert!(error.is_cancelled());
        }
    });
}
