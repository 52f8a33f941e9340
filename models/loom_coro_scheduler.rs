#![cfg(loom)]
//! The Scheduler going to sleep races a wake-up from another thread, for a task and for
//! `block_on`'s own future: the wake is never lost (the run finishes), and the deadlock
//! check does not fire while another thread holds the waker.

#[path = "common/gate.rs"]
mod gate;

use braid::coro::Scheduler;
use gate::Gate;
use loom::thread;

#[test]
fn a_wake_from_another_thread_while_the_scheduler_falls_asleep_is_not_lost() {
    loom::model(|| {
        let gate = Gate::new();
        let opener = {
            let gate = gate.clone();
            thread::spawn(move || gate.open())
        };
        let mut scheduler = Scheduler::new();
        let task = scheduler.spawn(gate);
        scheduler
            .run()
            .expect("another thread holds the waker: no deadlock");
        assert!(task.is_finished());
        opener.join().unwrap();
    });
}

#[test]
fn block_on_wakes_for_its_own_future_opened_from_another_thread() {
    loom::model(|| {
        let gate = Gate::new();
        let opener = {
            let gate = gate.clone();
            thread::spawn(move || gate.open())
        };
        let mut scheduler = Scheduler::new();
        scheduler
            .block_on(gate)
            .expect("another thread holds the waker: no deadlock");
        opener.join().unwrap();
    });
}
