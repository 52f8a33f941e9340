#![cfg(not(loom))]
//! `JoinHandle::abort_on_drop`, as a user meets it: Python's `asyncio.wait_for` is
//! `timeout(d, handle.abort_on_drop())`, and the task does not run on after the timeout.

mod common;

use std::cell::Cell;
use std::rc::Rc;
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::time::Duration;

use braid::coro::Scheduler;
use braid::exec::Pool;
use braid::time::{sleep, timeout};

/// A task body that sleeps a minute while holding `alive`: `gone` disconnects once the
/// task's future has been dropped.
async fn sleep_holding(alive: Sender<()>) {
    let _alive = alive;
    sleep(Duration::from_secs(60)).await;
}

fn dropped_soon(gone: &Receiver<()>) -> bool {
    gone.recv_timeout(Duration::from_secs(10)) == Err(RecvTimeoutError::Disconnected)
}

#[test]
fn wait_for_on_the_pool_cancels_the_task_when_time_runs_out() {
    let pool = Pool::new(2);
    let (alive, gone) = channel();
    let slow = pool.spawn(sleep_holding(alive));
    let outcome = pool.block_on(timeout(Duration::from_millis(10), slow.abort_on_drop()));
    assert!(outcome.is_err());
    assert!(dropped_soon(&gone));
}

#[test]
fn wait_for_in_the_scheduler_cancels_the_task_when_time_runs_out() {
    let mut scheduler = Scheduler::new();
    let woke = Rc::new(Cell::new(false));
    let slow = scheduler.spawn({
        let woke = woke.clone();
        async move {
            sleep(Duration::from_secs(60)).await;
            woke.set(true);
        }
    });
    let outcome = scheduler
        .block_on(timeout(Duration::from_millis(5), slow.abort_on_drop()))
        .unwrap();
    assert!(outcome.is_err());
    scheduler.run().unwrap();
    assert!(!woke.get(), "the aborted task never woke");
}

#[test]
fn in_time_the_result_comes_through_and_the_task_is_not_disturbed() {
    let pool = Pool::new(2);
    let quick = pool.spawn(async { 42 }).abort_on_drop();
    let id = quick.id();
    let outcome = pool.block_on(timeout(Duration::from_secs(10), quick));
    assert_eq!(outcome.unwrap().unwrap(), 42);

    let failing = pool.spawn(async { panic!("no") }).abort_on_drop();
    let error = common::quietly(|| pool.block_on(failing)).unwrap_err();
    assert!(error.is_panic());
    assert_ne!(error.id(), id);
}

#[test]
fn dropping_it_unawaited_aborts_the_task() {
    let pool = Pool::new(1);
    let (alive, gone) = channel();
    let guarded = pool.spawn(sleep_holding(alive)).abort_on_drop();
    assert!(!guarded.is_finished());
    drop(guarded);
    assert!(dropped_soon(&gone));
}

#[test]
fn detach_gives_back_a_handle_that_lets_the_task_run_on() {
    let pool = Pool::new(1);
    let (done, finished) = channel();
    let (go, wait) = channel::<()>();
    let guarded = pool
        .spawn_fn(move || {
            wait.recv().unwrap();
            done.send("finished").unwrap();
        })
        .abort_on_drop();
    let id = guarded.id();
    let handle = guarded.detach();
    assert_eq!(handle.id(), id);
    drop(handle); // detaches: the task runs on
    go.send(()).unwrap();
    assert_eq!(
        finished.recv_timeout(Duration::from_secs(10)),
        Ok("finished")
    );
}

#[test]
fn abort_through_the_guard_cancels_and_awaiting_reports_it() {
    let mut scheduler = Scheduler::new();
    let guarded = scheduler
        .spawn(std::future::pending::<()>())
        .abort_on_drop();
    guarded.abort();
    let error = scheduler.block_on(guarded).unwrap().unwrap_err();
    assert!(error.is_cancelled());
}
