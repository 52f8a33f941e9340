#![cfg(loom)]
//! The timer's hand-off with parking workers (`time/timer.rs`): a deadline registered
//! while a worker falls asleep wakes it (time is virtual under loom: a driver's timed
//! park returns at once and the clock jumps to the deadline it waited for, so a lost
//! hand-off shows up as a model that never finishes); with two workers, whichever ends up
//! driving fires the timer; a cancel racing a fire neither loses the task nor wakes it
//! twice; a timeout whose future completes from another thread as the timer fires gives
//! one answer. `Track` reports any future never dropped.

#[path = "common/gate.rs"]
mod gate;

use std::time::Duration;

use braid::exec::Pool;
use braid::time::{sleep, timeout};
use gate::Gate;
use loom::alloc::Track;

const LONG: Duration = Duration::from_secs(3600);

#[test]
fn a_task_sleeping_on_a_one_worker_pool_is_woken_by_its_driver() {
    loom::model(|| {
        let pool = Pool::new(1);
        let task = pool.spawn(async {
            sleep(LONG).await;
            7
        });
        assert_eq!(task.join().unwrap(), 7);
    });
}

#[test]
fn a_deadline_registered_while_the_other_worker_falls_asleep_is_driven() {
    loom::model(|| {
        let pool = Pool::new(2);
        let task = pool.spawn(async {
            sleep(LONG).await;
            7
        });
        assert_eq!(task.join().unwrap(), 7);
    });
}

#[test]
fn an_abort_racing_the_timer_firing_drops_the_task_once() {
    loom::model(|| {
        let pool = Pool::new(1);
        let held = Track::new(());
        let task = pool.spawn(async move {
            sleep(LONG).await;
            held
        });
        task.abort();
        match task.join() {
            Ok(output) => drop(output),
            Err(error) => assert!(error.is_cancelled()),
        }
    });
}

#[test]
fn a_timeout_whose_future_completes_as_the_timer_fires_gives_one_answer() {
    loom::model(|| {
        let pool = Pool::new(1);
        let gate = Gate::new();
        let opener = gate.open_from_another_thread();
        let task = pool.spawn(async move { timeout(LONG, gate).await.is_ok() });
        // Either answer is right; what matters is that there is exactly one.
        let _completed_in_time = task.join().unwrap();
        opener.join().unwrap();
    });
}
