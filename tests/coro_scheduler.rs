//! The Scheduler's contract: round-robin order, handles, panics, cancellation, sleep,
//! deadlock detection, wake-ups from other threads, and transactions inside tasks.
#![cfg(not(loom))]

mod common;

use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::atomic::AtomicUsize;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use braid::coro::{self, sleep, yield_now, Scheduler};
use braid::stm::{atomically, atomically_async, check, TVar};
use common::counted::Counted;
use common::panic_message;
use proptest::prelude::*;

#[test]
fn countdowns_take_turns_in_beazleys_order() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let mut scheduler = Scheduler::new();
    for start in [5, 10, 15] {
        let log = log.clone();
        scheduler.spawn(async move {
            for n in (start - 4..=start).rev() {
                log.borrow_mut().push(n);
                yield_now().await;
            }
        });
    }
    scheduler.run().unwrap();
    assert_eq!(
        log.borrow()[..6],
        [5, 10, 15, 4, 9, 14],
        "full order: {:?}",
        log.borrow()
    );
    assert_eq!(log.borrow().len(), 15);
}

#[test]
fn handles_give_outputs_panics_and_cancellations() {
    let mut scheduler = Scheduler::new();
    let ok = scheduler.spawn(async { 1 });
    let failed = scheduler.spawn(async { panic!("task {} broke", 2) });
    let aborted = scheduler.spawn(std::future::pending::<()>());
    aborted.abort();
    scheduler
        .block_on(async move {
            assert_eq!(ok.await.unwrap(), 1);
            let error = failed.await.unwrap_err();
            assert_eq!(error.panic_message(), Some("task 2 broke"));
            assert!(aborted.await.unwrap_err().is_cancelled());
        })
        .unwrap();
}

#[test]
fn blocking_join_on_a_scheduler_handle_is_refused_with_a_clear_message() {
    let scheduler = Scheduler::new();
    let handle = scheduler.spawn(async { 1 });
    let error = catch_unwind(AssertUnwindSafe(|| handle.join())).unwrap_err();
    assert!(panic_message(error).contains("single-threaded Scheduler"));
}

#[test]
fn spawn_outside_a_scheduler_is_refused() {
    let error = catch_unwind(|| coro::spawn(async {})).unwrap_err();
    assert!(panic_message(error).contains("inside a task of a running"));
}

#[test]
fn tasks_awaiting_each_other_are_a_deadlock_not_a_hang() {
    let mut scheduler = Scheduler::new();
    let (to_second, from_first) = mpsc::channel();
    let first = scheduler.spawn(async move {
        let second: braid::JoinHandle<()> = loop {
            if let Ok(handle) = from_first.try_recv() {
                break handle;
            }
            yield_now().await;
        };
        second.await.unwrap();
    });
    let second = scheduler.spawn(async move {
        first.await.unwrap();
    });
    to_second.send(second).unwrap();
    let deadlock = scheduler.run().unwrap_err();
    assert_eq!(deadlock.blocked(), 2);
    assert!(
        deadlock.to_string().contains("2 tasks blocked"),
        "{deadlock}"
    );
}

#[test]
fn block_on_a_future_nothing_can_wake_is_a_deadlock() {
    let mut scheduler = Scheduler::new();
    let stuck = scheduler.spawn(std::future::pending::<u8>());
    let result = scheduler.block_on(stuck);
    assert_eq!(result.unwrap_err().blocked(), 1);
}

#[test]
fn a_waker_held_by_another_thread_is_not_a_deadlock() {
    let mut scheduler = Scheduler::new();
    let (send_waker, receive_waker) = mpsc::channel::<std::task::Waker>();
    let flag = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let waker_thread = {
        let flag = flag.clone();
        std::thread::spawn(move || {
            let waker = receive_waker.recv().unwrap();
            std::thread::sleep(Duration::from_millis(20));
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
            waker.wake();
        })
    };
    let task = scheduler.spawn(std::future::poll_fn(move |cx| {
        if flag.load(std::sync::atomic::Ordering::SeqCst) {
            std::task::Poll::Ready("woken from another thread")
        } else {
            let _ = send_waker.send(cx.waker().clone());
            std::task::Poll::Pending
        }
    }));
    assert_eq!(
        scheduler.block_on(task).unwrap().unwrap(),
        "woken from another thread"
    );
    waker_thread.join().unwrap();
}

#[test]
fn sleepers_wake_in_deadline_order_and_the_thread_sleeps_meanwhile() {
    let mut scheduler = Scheduler::new();
    let order = Rc::new(RefCell::new(Vec::new()));
    for ms in [30u64, 10, 20] {
        let order = order.clone();
        scheduler.spawn(async move {
            sleep(Duration::from_millis(ms)).await;
            order.borrow_mut().push(ms);
        });
    }
    let start = Instant::now();
    scheduler.run().unwrap();
    assert!(start.elapsed() >= Duration::from_millis(30));
    assert_eq!(*order.borrow(), [10, 20, 30]);
}

#[test]
fn a_retrying_transaction_suspends_its_task_until_a_commit() {
    let mut scheduler = Scheduler::new();
    let gate = TVar::new(0u32);
    let waiter = {
        let gate = gate.clone();
        scheduler.spawn(async move {
            atomically_async(|tx| {
                let value = gate.read(tx)?;
                check(value > 0)?;
                Ok(value)
            })
            .await
        })
    };
    let opener = {
        let gate = gate.clone();
        scheduler.spawn(async move {
            yield_now().await;
            atomically(|tx| gate.write(tx, 3));
        })
    };
    scheduler.run().unwrap();
    assert!(opener.is_finished());
    assert_eq!(scheduler.block_on(waiter).unwrap().unwrap(), 3);

    // A commit from another thread wakes a task too (its waker sits in the TVar, outside
    // the scheduler, so this is no deadlock).
    let late = {
        let gate = gate.clone();
        scheduler.spawn(async move {
            atomically_async(|tx| check(gate.read(tx)? > 10)).await;
        })
    };
    let committer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        atomically(|tx| gate.write(tx, 11));
    });
    scheduler.block_on(late).unwrap().unwrap();
    committer.join().unwrap();
}

#[test]
fn dropping_the_scheduler_drops_unfinished_tasks() {
    let live = Arc::new(AtomicUsize::new(0));
    let scheduler = Scheduler::new();
    let handles: Vec<_> = (0..10)
        .map(|_| {
            let held = Counted::new(&live);
            scheduler.spawn(async move {
                let _held = held;
                std::future::pending::<()>().await;
            })
        })
        .collect();
    drop(scheduler);
    assert_eq!(live.load(std::sync::atomic::Ordering::SeqCst), 0);
    for handle in handles {
        assert!(handle.is_finished());
    }
}

/// A task that only ever yields: it is always either running or queued behind a yield.
async fn spin_forever(held: Counted) {
    let _held = held;
    loop {
        yield_now().await;
    }
}

#[test]
fn a_task_aborted_while_queued_after_a_yield_is_cancelled_and_dropped() {
    let live = Arc::new(AtomicUsize::new(0));
    let mut scheduler = Scheduler::new();
    let spinner = scheduler.spawn(spin_forever(Counted::new(&live)));
    let outcome = scheduler
        .block_on(async move {
            // The spinner has run and yielded by now: it waits in the queue.
            yield_now().await;
            yield_now().await;
            spinner.abort();
            spinner.await
        })
        .unwrap();
    assert!(outcome.unwrap_err().is_cancelled());
    assert_eq!(live.load(std::sync::atomic::Ordering::SeqCst), 0);
}

#[test]
fn dropping_the_scheduler_cancels_tasks_queued_after_a_yield() {
    let live = Arc::new(AtomicUsize::new(0));
    let mut scheduler = Scheduler::new();
    let spinners: Vec<_> = (0..3)
        .map(|_| scheduler.spawn(spin_forever(Counted::new(&live))))
        .collect();
    // Leave `block_on` while the spinners wait in the queue behind their yields.
    scheduler
        .block_on(async {
            for _ in 0..5 {
                yield_now().await;
            }
        })
        .unwrap();
    assert_eq!(live.load(std::sync::atomic::Ordering::SeqCst), 3);
    drop(scheduler);
    assert_eq!(live.load(std::sync::atomic::Ordering::SeqCst), 0);
    let mut other = Scheduler::new();
    for spinner in spinners {
        assert!(spinner.is_finished());
        let outcome = other.block_on(spinner).unwrap();
        assert!(outcome.unwrap_err().is_cancelled());
    }
}

#[test]
fn wakes_from_another_thread_while_a_task_yields_are_harmless() {
    let (send, receive) = mpsc::channel::<std::task::Waker>();
    let waker_thread = std::thread::spawn(move || {
        for waker in receive {
            waker.wake();
        }
    });
    let mut scheduler = Scheduler::new();
    let task = scheduler.spawn(async move {
        for _ in 0..1000 {
            // Another thread wakes the task while it runs or waits behind its yield.
            std::future::poll_fn(|cx| {
                send.send(cx.waker().clone()).unwrap();
                std::task::Poll::Ready(())
            })
            .await;
            yield_now().await;
        }
        "done"
    });
    assert_eq!(scheduler.block_on(task).unwrap().unwrap(), "done");
    waker_thread.join().unwrap();
}

/// The sequential model of round robin: each round runs every unfinished task one step,
/// in spawn order.
fn round_robin_model(lengths: &[usize]) -> Vec<(usize, usize)> {
    let mut order = Vec::new();
    let rounds = lengths.iter().copied().max().unwrap_or(0);
    for step in 0..rounds {
        for (task, &length) in lengths.iter().enumerate() {
            if step < length {
                order.push((task, step));
            }
        }
    }
    order
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Tasks that each take a random number of steps, yielding between steps, interleave
    /// exactly as the round-robin model says.
    #[test]
    fn interleaving_equals_the_round_robin_model(lengths in proptest::collection::vec(0usize..8, 0..8)) {
        let log = Rc::new(RefCell::new(Vec::new()));
        let mut scheduler = Scheduler::new();
        for (task, &length) in lengths.iter().enumerate() {
            let log = log.clone();
            scheduler.spawn(async move {
                for step in 0..length {
                    log.borrow_mut().push((task, step));
                    yield_now().await;
                }
            });
        }
        scheduler.run().unwrap();
        prop_assert_eq!(&*log.borrow(), &round_robin_model(&lengths));
    }
}
