#![cfg(loom)]
//! Task ids: two threads spawning at once never get the same id (the process-wide
//! counter's increment is atomic), and each task sees its own id inside itself.

use braid::coro::Scheduler;
use braid::TaskId;
use loom::thread;

/// Spawns one task on a fresh Scheduler and runs it; returns the id the handle gave,
/// after checking that the task saw the same one.
fn spawn_one() -> TaskId {
    let mut scheduler = Scheduler::new();
    let task = scheduler.spawn(async { TaskId::current() });
    let id = task.id();
    let seen = scheduler.block_on(task).unwrap().unwrap();
    assert_eq!(seen, Some(id), "a task sees its own id");
    id
}

#[test]
fn ids_taken_at_once_on_two_threads_differ() {
    loom::model(|| {
        let other = thread::spawn(spawn_one);
        let here = spawn_one();
        let there = other.join().unwrap();
        assert_ne!(here, there);
        assert_eq!(TaskId::current(), None, "a plain thread is no task");
    });
}
