#![cfg(not(loom))]
//! What a newcomer's first programs hit, checked as they would meet it, through the public
//! API only: blocking calls on Pool workers, `JoinError` with `?`, queues that close and
//! move values without `Clone`, honest abort, `try_map`, and the peers' findings.

mod common;

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use braid::coro::Scheduler;
use braid::exec::{self, Pool};
use braid::stm::{atomically, atomically_async, check, Closed, TBQueue, TChan, TQueue, TVar};
use braid::JoinError;
use common::quietly;

/// The message of a caught panic.
fn panic_text(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(message) => *message,
        Err(payload) => payload
            .downcast::<&str>()
            .map(|m| m.to_string())
            .unwrap_or_default(),
    }
}

#[test]
fn a_blocking_retry_on_a_one_worker_pool_panics_naming_atomically_async_instead_of_hanging() {
    let pool = Pool::new(1);
    let gate = TVar::new(false);
    let waiter = {
        let gate = gate.clone();
        pool.spawn_fn(move || atomically(|tx| check(gate.read(tx)?)))
    };
    let opener = {
        let gate = gate.clone();
        pool.spawn_fn(move || atomically(|tx| gate.write(tx, true)))
    };
    let error = quietly(|| waiter.join()).unwrap_err();
    let message = error.panic_message().expect("a panic with a message");
    assert!(message.contains("atomically_async"), "{message}");
    assert!(message.contains("Pool worker"), "{message}");
    opener.join().unwrap();

    // The same program written with atomically_async runs on the one worker.
    let gate = TVar::new(false);
    let waiter = {
        let gate = gate.clone();
        pool.spawn(async move { atomically_async(|tx| check(gate.read(tx)?)).await })
    };
    let opener = {
        let gate = gate.clone();
        pool.spawn(async move { atomically_async(|tx| gate.write(tx, true)).await })
    };
    waiter.join().unwrap();
    opener.join().unwrap();
}

#[test]
fn a_blocking_transaction_that_commits_at_once_is_fine_on_a_worker_and_blocking_threads_may_wait() {
    let pool = Pool::new(1);
    let counter = TVar::new(0);
    let c = counter.clone();
    pool.spawn_fn(move || atomically(|tx| c.modify(tx, |n| n + 1)))
        .join()
        .unwrap();
    assert_eq!(counter.load(), 1);
    // A blocking thread of the pool may wait in retry.
    let gate = TVar::new(false);
    let g = gate.clone();
    let waiter = pool.spawn_blocking(move || atomically(|tx| check(g.read(tx)?)));
    thread::sleep(Duration::from_millis(10));
    atomically(|tx| gate.write(tx, true));
    waiter.join().unwrap();
}

#[test]
fn join_error_is_send_sync_and_an_error_so_question_mark_works() {
    fn assert_send_sync_error<E: Send + Sync + std::error::Error + 'static>() {}
    assert_send_sync_error::<JoinError>();
    let pool = Pool::new(1);
    let run = || -> Result<u32, Box<dyn std::error::Error + Send + Sync>> {
        let n = pool.spawn_fn(|| -> u32 { panic!("disk full") }).join()?;
        Ok(n)
    };
    let error = quietly(run).unwrap_err();
    assert!(error.to_string().contains("disk full"), "{error}");
    let error = quietly(|| pool.spawn_fn(|| std::panic::panic_any(7u8)).join()).unwrap_err();
    // Shared between threads, then its payload taken back.
    let shared = Arc::new(error);
    let seen = {
        let shared = shared.clone();
        thread::spawn(move || shared.is_panic()).join().unwrap()
    };
    assert!(seen);
    let error = Arc::try_unwrap(shared).unwrap();
    assert_eq!(*error.into_panic().downcast::<u8>().unwrap(), 7);
}

/// A message type without `Clone`: it can only be moved.
#[derive(Debug, PartialEq)]
struct Job(Vec<u8>);

#[test]
fn values_without_clone_move_through_every_queue_once() {
    let q: TQueue<Job> = TQueue::new();
    q.put(Job(vec![1])).unwrap();
    assert_eq!(q.get(), Some(Job(vec![1])));
    let b: TBQueue<Job> = TBQueue::new(1);
    b.put(Job(vec![2])).unwrap();
    assert_eq!(b.get(), Some(Job(vec![2])));
    let pool = Pool::new(2);
    let (q2, b2) = (q.clone(), b.clone());
    pool.block_on(async move {
        q2.put_async(Job(vec![3])).await.unwrap();
        b2.put_async(Job(vec![4])).await.unwrap();
    });
    assert_eq!(q.get(), Some(Job(vec![3])));
    assert_eq!(
        pool.block_on(async move { b.get_async().await }),
        Some(Job(vec![4]))
    );
}

#[test]
fn a_closed_queue_refuses_sends_delivers_what_it_holds_then_answers_closed() {
    let q = TQueue::new();
    q.put(1).unwrap();
    q.put(2).unwrap();
    atomically(|tx| q.close(tx));
    assert!(atomically(|tx| q.is_closed(tx)));
    assert_eq!(q.put(3), Err(Closed(3)));
    assert_eq!(q.iter().collect::<Vec<_>>(), [1, 2]);
    assert_eq!(q.get(), None);
    assert_eq!(atomically(|tx| q.pop_or_closed(tx)), None);
    let push_after_close = AssertUnwindSafe(|| atomically(|tx| q.push(tx, 4)));
    let pushed = quietly(|| std::panic::catch_unwind(push_after_close));
    let message = panic_text(pushed.unwrap_err());
    assert!(message.contains("closed"), "{message}");
    // In one transaction: check, then push, atomically with respect to a close.
    let sent = atomically(|tx| match q.is_closed(tx)? {
        true => Ok(false),
        false => q.push(tx, 5).map(|()| true),
    });
    assert!(!sent);
}

#[test]
fn closing_wakes_blocked_consumers_and_blocked_producers() {
    let q: TQueue<u32> = TQueue::new();
    let consumers: Vec<_> = (0..3)
        .map(|_| {
            let q = q.clone();
            thread::spawn(move || q.get())
        })
        .collect();
    thread::sleep(Duration::from_millis(20));
    atomically(|tx| q.close(tx));
    for consumer in consumers {
        assert_eq!(consumer.join().unwrap(), None);
    }

    let full = TBQueue::new(1);
    full.put("first").unwrap();
    let producer = {
        let full = full.clone();
        thread::spawn(move || full.put("second"))
    };
    thread::sleep(Duration::from_millis(20));
    atomically(|tx| full.close(tx));
    assert_eq!(producer.join().unwrap(), Err(Closed("second")));
    assert_eq!(full.iter().collect::<Vec<_>>(), ["first"]);

    let chan: TChan<u8> = TChan::new();
    let rx = chan.subscribe();
    let listener = thread::spawn(move || rx.iter().collect::<Vec<_>>());
    chan.put(9).unwrap();
    atomically(|tx| chan.close(tx));
    assert_eq!(listener.join().unwrap(), [9]);
    assert_eq!(chan.put(10), Err(Closed(10)));
}

#[test]
fn many_producers_and_consumers_lose_nothing_and_all_stop_at_close() {
    let q: TBQueue<u64> = TBQueue::new(8);
    let received = Arc::new(AtomicUsize::new(0));
    let sum = Arc::new(AtomicUsize::new(0));
    let consumers: Vec<_> = (0..3)
        .map(|_| {
            let (q, received, sum) = (q.clone(), received.clone(), sum.clone());
            thread::spawn(move || {
                for n in q.iter() {
                    received.fetch_add(1, Ordering::Relaxed);
                    sum.fetch_add(n as usize, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let producers: Vec<_> = (0..3u64)
        .map(|p| {
            let q = q.clone();
            thread::spawn(move || (0..1000).for_each(|i| q.put(p * 1000 + i).unwrap()))
        })
        .collect();
    producers.into_iter().for_each(|p| p.join().unwrap());
    atomically(|tx| q.close(tx));
    consumers.into_iter().for_each(|c| c.join().unwrap());
    assert_eq!(received.load(Ordering::Relaxed), 3000);
    assert_eq!(sum.load(Ordering::Relaxed), (0..3000).sum::<usize>());
}

#[test]
fn tasks_stop_on_a_closed_queue_with_the_async_forms() {
    let pool = Pool::new(2);
    let q: TQueue<u32> = TQueue::new();
    let consumers: Vec<_> = (0..4)
        .map(|_| {
            let q = q.clone();
            pool.spawn(async move {
                let mut total = 0;
                while let Some(n) = q.get_async().await {
                    total += n;
                }
                total
            })
        })
        .collect();
    for n in 1..=100 {
        q.put(n).unwrap();
    }
    atomically(|tx| q.close(tx));
    let total: u32 = consumers.into_iter().map(|c| c.join().unwrap()).sum();
    assert_eq!(total, 5050);
}

#[test]
fn a_tbqueue_transaction_pushing_past_its_capacity_panics_naming_the_capacity() {
    let q = TBQueue::new(3);
    let outcome = quietly(|| {
        std::panic::catch_unwind(AssertUnwindSafe(|| {
            atomically(|tx| (0..4).try_for_each(|i| q.push(tx, i)))
        }))
    });
    let message = panic_text(outcome.unwrap_err());
    assert!(message.contains("capacity (3)"), "{message}");
    assert!(atomically(|tx| q.is_empty(tx)), "nothing was published");
    // Up to the capacity is fine, also after popping.
    atomically(|tx| (0..3).try_for_each(|i| q.push(tx, i)));
    atomically(|tx| {
        (0..3).try_for_each(|_| q.pop(tx).map(drop))?;
        (0..3).try_for_each(|i| q.push(tx, i))
    });
    assert_eq!(atomically(|tx| q.len(tx)), 3);
}

#[test]
fn an_aborted_closure_runs_on_can_see_the_abort_and_reports_ok() {
    let pool = Pool::new(1);
    let (started, wait_started) = mpsc::channel();
    let (go, wait_go) = mpsc::channel::<()>();
    let worker = pool.spawn_fn(move || {
        started.send(()).unwrap();
        wait_go.recv().unwrap();
        if exec::is_cancelled() {
            "stopped early"
        } else {
            "ran to the end"
        }
    });
    wait_started.recv().unwrap();
    worker.abort();
    go.send(()).unwrap();
    assert_eq!(worker.join().unwrap(), "stopped early");
    assert!(!exec::is_cancelled());
    // A task that was never aborted sees false.
    assert!(!pool.spawn_fn(exec::is_cancelled).join().unwrap());
}

#[test]
fn try_map_keeps_every_result_and_map_re_raises_after_all_items_ran() {
    let pool = Pool::new(2);
    let results = quietly(|| {
        pool.try_map(0..20u32, |i| {
            assert!(i % 7 != 3, "item {i} is bad");
            i * 2
        })
    });
    assert_eq!(results.len(), 20);
    for (i, result) in results.iter().enumerate() {
        match i % 7 {
            3 => {
                let message = result.as_ref().unwrap_err().panic_message().unwrap();
                assert_eq!(message, format!("item {i} is bad"));
            }
            _ => assert_eq!(result.as_ref().ok(), Some(&(i as u32 * 2))),
        }
    }
    let ran = AtomicUsize::new(0);
    let outcome = quietly(|| {
        std::panic::catch_unwind(AssertUnwindSafe(|| {
            pool.map(0..20u32, |i| {
                ran.fetch_add(1, Ordering::Relaxed);
                assert!(i != 5, "five");
            })
        }))
    });
    assert_eq!(*outcome.unwrap_err().downcast::<&str>().unwrap(), "five");
    assert_eq!(ran.load(Ordering::Relaxed), 20, "every item ran");
}

#[test]
fn an_aborted_task_whose_destructor_panics_reports_that_panic() {
    struct PanicOnDrop;
    impl Drop for PanicOnDrop {
        fn drop(&mut self) {
            panic!("destructor failed");
        }
    }
    let pool = Pool::new(1);
    let task = pool.spawn(async {
        let _guard = PanicOnDrop;
        std::future::pending::<()>().await;
    });
    thread::sleep(Duration::from_millis(10));
    task.abort();
    let error = quietly(|| task.join()).unwrap_err();
    assert!(error.is_panic(), "{error}");
    assert_eq!(error.panic_message(), Some("destructor failed"));
}

#[test]
fn exec_spawn_and_spawn_blocking_work_inside_blocking_closures() {
    let pool = Pool::new(1);
    let outer = pool.spawn_blocking(|| {
        let inner = exec::spawn(async { 20 });
        let blocking = exec::spawn_blocking(|| 1);
        inner.join().unwrap() + blocking.join().unwrap()
    });
    assert_eq!(outer.join().unwrap(), 21);
    let from_task = pool.spawn(async { exec::spawn_blocking(|| 2).await.unwrap() });
    assert_eq!(from_task.join().unwrap(), 2);
    let outside = std::panic::catch_unwind(|| exec::spawn_blocking(|| ()));
    assert!(outside.is_err(), "outside a pool it says so");
}

#[test]
fn a_join_handle_held_elsewhere_does_not_keep_the_scheduler_from_reporting_deadlock() {
    // The documented rule (Scheduler::run): a JoinHandle is not a waker.
    let mut scheduler = Scheduler::new();
    let blocked = scheduler.spawn(std::future::pending::<()>());
    let aborted = Arc::new(AtomicBool::new(false));
    let deadlock = scheduler.run().unwrap_err();
    assert_eq!(deadlock.blocked(), 1);
    // Cancelling through something the task waits on keeps `run` going instead.
    let mut scheduler = Scheduler::new();
    let stop = TVar::new(false);
    let waits = {
        let stop = stop.clone();
        scheduler.spawn(async move { atomically_async(|tx| check(stop.read(tx)?)).await })
    };
    let canceller = {
        let aborted = aborted.clone();
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(10));
            atomically(|tx| stop.write(tx, true));
            aborted.store(true, Ordering::SeqCst);
        })
    };
    scheduler.run().unwrap();
    canceller.join().unwrap();
    assert!(aborted.load(Ordering::SeqCst));
    drop((blocked, waits));
}
