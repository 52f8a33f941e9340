#![cfg(loom)]
//! The Scheduler going to sleep races a wake-up from another thread, for a task and for
//! `block_on`'s own future: the wake is never lost (the run finishes), and the deadlock
//! check does not fire while another thread holds the waker. A task that yields waits in
//! the queue still holding `RUNNING`: an abort or a wake from another thread racing that
//! is neither lost nor doubled. `block_on`'s future waiting in a transaction gets both
//! wake-ups of another thread's put and close.

#[path = "common/gate.rs"]
mod gate;

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::Poll;

use braid::coro::{yield_now, Scheduler};
use braid::stm::{atomically, TQueue};
use gate::Gate;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;

#[test]
fn a_wake_from_another_thread_while_the_scheduler_falls_asleep_is_not_lost() {
    loom::model(|| {
        let gate = Gate::new();
        let opener = gate.open_from_another_thread();
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
        let opener = gate.open_from_another_thread();
        let mut scheduler = Scheduler::new();
        scheduler
            .block_on(gate)
            .expect("another thread holds the waker: no deadlock");
        opener.join().unwrap();
    });
}

/// `block_on`'s own future waits in a transaction (a queue's `get_async`) while another
/// thread puts a value and then closes the queue: both wake-ups reach the sleeping
/// scheduler. The second once found loom (not the code) losing its wake-up: see the swap
/// in `Scheduler::drive`'s waker.
#[test]
fn block_on_receives_a_put_and_a_close_from_another_thread() {
    loom::model(|| {
        let queue = TQueue::new();
        let producer = {
            let queue = queue.clone();
            thread::spawn(move || {
                queue.put(1u32).unwrap();
                atomically(|tx| queue.close(tx));
            })
        };
        let got = Scheduler::new()
            .block_on(async {
                let mut got = Vec::new();
                while let Some(n) = queue.get_async().await {
                    got.push(n);
                }
                got
            })
            .expect("the producer holds the waker: no deadlock");
        assert_eq!(got, [1]);
        producer.join().unwrap();
    });
}

struct CountsDrops(Arc<AtomicUsize>);

impl Drop for CountsDrops {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn an_abort_racing_a_task_that_yields_cancels_or_misses_it_cleanly() {
    loom::model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let mut scheduler = Scheduler::new();
        let guard = CountsDrops(drops.clone());
        let task = scheduler.spawn(async move {
            let _guard = guard;
            for _ in 0..2 {
                yield_now().await;
            }
            7
        });
        let aborter = thread::spawn(move || {
            task.abort();
            task
        });
        scheduler.run().expect("the task always finishes");
        let task = aborter.join().unwrap();
        assert!(task.is_finished());
        match scheduler.block_on(task).unwrap() {
            Ok(value) => assert_eq!(value, 7),
            Err(error) => assert!(error.is_cancelled()),
        }
        assert_eq!(
            drops.load(Ordering::SeqCst),
            1,
            "the future is dropped once"
        );
    });
}

#[test]
fn a_wake_landing_while_a_task_waits_behind_its_yield_is_not_lost() {
    loom::model(|| {
        let gate = Gate::new();
        let opener = gate.open_from_another_thread();
        let mut scheduler = Scheduler::new();
        let task = scheduler.spawn(async move {
            let mut gate = gate;
            // Leave the waker with the gate, then yield: the opener's wake may land while
            // the task runs or while it waits in the queue holding `RUNNING`.
            let opened = poll_fn(|cx| Poll::Ready(Pin::new(&mut gate).poll(cx).is_ready())).await;
            yield_now().await;
            if !opened {
                gate.await;
            }
        });
        scheduler
            .run()
            .expect("the opener holds the waker: no deadlock");
        assert!(task.is_finished());
        opener.join().unwrap();
    });
}

/// Loom has no clock: when the Scheduler would sleep until a timer, time jumps to it.
/// Two tasks sleeping an hour and two hours wake in deadline order, while a wake from
/// another thread races the jump.
#[test]
fn sleeping_tasks_wake_in_deadline_order_in_virtual_time() {
    use braid::coro::sleep;
    use std::time::Duration;
    loom::model(|| {
        let gate = Gate::new();
        let opener = gate.open_from_another_thread();
        let order = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let mut scheduler = Scheduler::new();
        for hours in [2u64, 1] {
            let order = order.clone();
            scheduler.spawn(async move {
                sleep(Duration::from_secs(3600 * hours)).await;
                order.borrow_mut().push(hours);
            });
        }
        scheduler.spawn(gate);
        scheduler.run().expect("no deadlock");
        assert_eq!(*order.borrow(), [1, 2]);
        opener.join().unwrap();
    });
}
