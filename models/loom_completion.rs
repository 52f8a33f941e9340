#![cfg(loom)]
//! Waiting for many tasks: a `JoinSet`'s ready list against completions on a worker (no
//! completion is lost or taken twice), and `Pool::shutdown` waiting for the task list to
//! empty while the last task is finished from another thread (the emptied list's wake-up
//! is not lost).

#[path = "common/gate.rs"]
mod gate;

use braid::exec::Pool;
use braid::JoinSet;
use gate::Gate;

#[test]
fn a_join_set_takes_each_completion_once() {
    loom::model(|| {
        let pool = Pool::new(1);
        let mut set = JoinSet::new();
        set.push(pool.spawn(async { 1 }));
        set.push(pool.spawn(async { 2 }));
        let mut sum = 0;
        while let Some(result) = set.join_next_blocking() {
            sum += result.unwrap();
        }
        assert_eq!(sum, 3);
    });
}

#[test]
fn a_join_set_wakes_for_a_task_finished_from_another_thread() {
    loom::model(|| {
        let pool = Pool::new(1);
        let gate = Gate::new();
        let opener = gate.open_from_another_thread();
        let mut set = JoinSet::new();
        set.push(pool.spawn(gate));
        assert!(set.join_next_blocking().unwrap().is_ok());
        assert!(set.join_next_blocking().is_none());
        opener.join().unwrap();
    });
}

#[test]
fn shutdown_waits_for_a_task_finished_from_another_thread() {
    loom::model(|| {
        let pool = Pool::new(1);
        let gate = Gate::new();
        let opener = gate.open_from_another_thread();
        let task = pool.spawn(gate);
        pool.shutdown();
        assert!(task.is_finished());
        assert!(
            task.join().is_ok(),
            "shutdown waited: the task finished, not cancelled"
        );
        opener.join().unwrap();
    });
}
