#![cfg(not(loom))]
//! `JoinSet`'s tokio-style forms, as a user meets them: `join_next_with_id` and
//! `try_join_next_with_id` say which task finished, `join_all` gathers every output (and
//! fails loudly, after aborting the rest), `detach_all` lets the tasks run on.

mod common;

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{channel, RecvTimeoutError};
use std::time::Duration;

use braid::coro::{self, Scheduler};
use braid::exec::Pool;
use braid::time::sleep;
use braid::{JoinSet, TaskId};
use common::{panic_message, quietly};

#[test]
fn join_next_with_id_names_each_task_that_finished_or_failed() {
    let pool = Pool::new(2);
    let mut set = JoinSet::new();
    let mut input = HashMap::new();
    for n in 0..20u64 {
        let handle = pool.spawn(async move {
            assert!(n != 7, "seven fails");
            n * 10
        });
        input.insert(handle.id(), n);
        set.push(handle);
    }
    let seen = quietly(|| {
        pool.block_on(async {
            let mut seen = Vec::new();
            while let Some(done) = set.join_next_with_id().await {
                match done {
                    Ok((id, output)) => {
                        assert_eq!(output, input[&id] * 10);
                        seen.push(input[&id]);
                    }
                    Err(error) => {
                        assert_eq!(input[&error.id()], 7);
                        assert_eq!(error.panic_message(), Some("seven fails"));
                        seen.push(7);
                    }
                }
            }
            seen
        })
    });
    let mut seen = seen;
    seen.sort();
    assert_eq!(seen, (0..20).collect::<Vec<_>>());
}

#[test]
fn try_join_next_with_id_takes_only_what_has_finished() {
    let mut scheduler = Scheduler::new();
    let mut set = JoinSet::new();
    let first = scheduler.spawn(async { 1 });
    let never = scheduler.spawn(std::future::pending::<i32>());
    let (first_id, never_id) = (first.id(), never.id());
    set.push(first);
    set.push(never);
    assert!(set.try_join_next_with_id().is_none());
    scheduler.block_on(coro::yield_now()).unwrap();
    assert_eq!(set.try_join_next_with_id().unwrap().unwrap(), (first_id, 1));
    assert!(set.try_join_next_with_id().is_none());
    set.abort_all();
    scheduler.block_on(coro::yield_now()).unwrap();
    let error = set.try_join_next_with_id().unwrap().unwrap_err();
    assert!(error.is_cancelled());
    assert_eq!(error.id(), never_id);
    assert!(set.try_join_next_with_id().is_none());
    assert!(set.is_empty());
}

#[test]
fn join_all_returns_every_output_in_completion_order() {
    let mut scheduler = Scheduler::new();
    let outputs = scheduler
        .block_on(async {
            let set: JoinSet<u64> = [30u64, 10, 20]
                .into_iter()
                .map(|ms| {
                    coro::spawn(async move {
                        sleep(Duration::from_millis(ms)).await;
                        ms
                    })
                })
                .collect();
            set.join_all().await
        })
        .unwrap();
    assert_eq!(outputs, [10, 20, 30]);
    let empty: JoinSet<()> = JoinSet::new();
    assert!(Pool::new(1).block_on(empty.join_all()).is_empty());
}

#[test]
fn join_all_resumes_a_task_panic_after_aborting_the_rest() {
    let pool = Pool::new(2);
    let (alive, gone) = channel::<()>();
    let mut set = JoinSet::new();
    set.push(pool.spawn(async move {
        let _alive = alive;
        sleep(Duration::from_secs(60)).await;
        0
    }));
    set.push(pool.spawn(async { std::panic::panic_any(7u32) }));
    let payload =
        quietly(|| catch_unwind(AssertUnwindSafe(|| pool.block_on(set.join_all()))).unwrap_err());
    assert_eq!(
        payload.downcast_ref::<u32>(),
        Some(&7),
        "the task's own payload"
    );
    assert_eq!(
        gone.recv_timeout(Duration::from_secs(10)),
        Err(RecvTimeoutError::Disconnected),
        "the sleeping task was aborted"
    );
}

#[test]
fn join_all_panics_naming_a_cancelled_task() {
    let pool = Pool::new(1);
    let mut set = JoinSet::new();
    let doomed = pool.spawn(std::future::pending::<()>());
    let id: TaskId = doomed.id();
    doomed.abort();
    set.push(doomed);
    let payload =
        quietly(|| catch_unwind(AssertUnwindSafe(|| pool.block_on(set.join_all()))).unwrap_err());
    let message = panic_message(payload);
    assert!(
        message.starts_with(&format!("JoinSet::join_all: task {id} spawned at "))
            && message.ends_with("was cancelled"),
        "{message}"
    );
}

#[test]
fn detach_all_lets_the_tasks_run_on_and_empties_the_set() {
    let pool = Pool::new(2);
    let (done, finished) = channel();
    let mut set = JoinSet::new();
    for n in 0..3 {
        let done = done.clone();
        set.push(pool.spawn(async move {
            sleep(Duration::from_millis(5)).await;
            done.send(n).unwrap();
        }));
    }
    set.detach_all();
    assert!(set.is_empty());
    assert!(set.try_join_next().is_none());
    // The emptied set still works.
    set.push(pool.spawn(async {}));
    assert!(set.join_next_blocking().unwrap().is_ok());
    drop(set); // aborts nothing: the detached tasks are no longer its own
    let mut got: Vec<i32> = (0..3)
        .map(|_| finished.recv_timeout(Duration::from_secs(10)).unwrap())
        .collect();
    got.sort();
    assert_eq!(got, [0, 1, 2]);
}
