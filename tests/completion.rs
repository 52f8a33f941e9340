#![cfg(not(loom))]
//! Waiting for tasks with deadlines and in completion order, through the public API
//! only: `JoinHandle::join_timeout`, `JoinSet`, `atomically_async_timeout` and the
//! Pool's graceful shutdown.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Wake, Waker};
use std::thread;
use std::time::{Duration, Instant};

use braid::coro::{self, Scheduler};
use braid::exec::{self, Pool};
use braid::stm::{atomically, atomically_async, atomically_async_timeout, check, TQueue, TVar};
use braid::time::sleep;
use braid::JoinSet;

const LONG: Duration = Duration::from_secs(60);

#[test]
fn join_timeout_says_not_yet_and_the_handle_stays_usable() {
    let pool = Pool::new(2);
    let gate = TVar::new(false);
    let mut task = pool.spawn({
        let gate = gate.clone();
        async move {
            braid::stm::atomically_async(|tx| braid::stm::check(gate.read(tx)?)).await;
            "done"
        }
    });
    assert!(task.join_timeout(Duration::from_millis(10)).is_none());
    assert!(
        task.join_timeout(Duration::ZERO).is_none(),
        "a zero timeout looks once"
    );
    atomically(|tx| gate.write(tx, true));
    assert_eq!(task.join_timeout(LONG).unwrap().unwrap(), "done");
}

#[test]
fn join_timeout_then_await_or_abort() {
    let pool = Pool::new(1);
    let mut slow = pool.spawn(async {
        sleep(Duration::from_millis(30)).await;
        5
    });
    assert!(slow.join_timeout(Duration::from_millis(1)).is_none());
    assert_eq!(
        pool.block_on(slow).unwrap(),
        5,
        "awaited after a timed-out wait"
    );

    let mut stuck = pool.spawn(std::future::pending::<()>());
    assert!(stuck.join_timeout(Duration::from_millis(1)).is_none());
    stuck.abort();
    assert!(stuck.join().unwrap_err().is_cancelled());
}

#[test]
fn join_timeout_on_a_worker_runs_the_task_it_waits_for() {
    // One worker: the awaited task can only run if the waiting worker runs it.
    let pool = Arc::new(Pool::new(1));
    let outer = pool.spawn_fn({
        let pool = pool.clone();
        move || {
            let mut inner = pool.spawn_fn(|| 21 * 2);
            inner.join_timeout(LONG).map(Result::unwrap)
        }
    });
    assert_eq!(outer.join().unwrap(), Some(42));
}

#[test]
fn join_timeout_on_a_worker_times_out_and_keeps_helping() {
    let pool = Arc::new(Pool::new(1));
    let outer = pool.spawn_fn({
        let pool = pool.clone();
        move || {
            let mut never = pool.spawn(std::future::pending::<()>());
            let started = Instant::now();
            let waited = never.join_timeout(Duration::from_millis(20));
            never.abort();
            (
                waited.is_none(),
                started.elapsed() >= Duration::from_millis(20),
            )
        }
    });
    assert_eq!(outer.join().unwrap(), (true, true));
}

#[test]
#[should_panic(expected = "JoinHandle::join_timeout would block the single-threaded Scheduler")]
fn join_timeout_on_a_scheduler_handle_is_refused() {
    let scheduler = Scheduler::new();
    let mut task = scheduler.spawn(async {});
    let _ = task.join_timeout(Duration::from_millis(1));
}

#[test]
fn a_join_set_yields_results_in_completion_order() {
    // Each task waits for its turn; the test opens one turn at a time and takes the
    // result before opening the next, so the tasks finish in turn order, which is
    // neither the order they went in nor one a busy machine can shuffle.
    let pool = Pool::new(2);
    let turn = TVar::new(0u64);
    let mut set = JoinSet::new();
    for rank in [3u64, 1, 2, 0] {
        let turn = turn.clone();
        set.push(pool.spawn(async move {
            atomically_async(|tx| check(turn.read(tx)? == rank)).await;
            rank
        }));
    }
    assert_eq!(set.len(), 4);
    let mut order = Vec::new();
    for rank in 0..4 {
        atomically(|tx| turn.write(tx, rank));
        // Only the task whose turn it is can finish: a set waiting on any other (the
        // first pushed, say) times out here instead of hanging.
        let next = set
            .join_next_blocking_timeout(LONG)
            .expect("the task whose turn it is finishes")
            .expect("the set still holds that task");
        order.push(next.unwrap());
    }
    assert_eq!(order, [0, 1, 2, 3]);
    assert!(set.is_empty());
    assert!(set.join_next_blocking().is_none());
}

#[test]
fn a_join_set_holds_pool_and_scheduler_handles_together() {
    let pool = Pool::new(1);
    let mut scheduler = Scheduler::new();
    let from_pool = pool.spawn(async {
        sleep(Duration::from_millis(20)).await;
        "pool"
    });
    let collected = scheduler
        .block_on(async move {
            let mut set = JoinSet::new();
            set.push(from_pool);
            set.push(coro::spawn(async { "scheduler" }));
            let mut names = Vec::new();
            while let Some(name) = set.join_next().await {
                names.push(name.unwrap());
            }
            names
        })
        .unwrap();
    assert_eq!(collected, ["scheduler", "pool"]);
}

#[test]
fn a_join_set_reports_panics_and_aborts_without_losing_the_rest() {
    let pool = Pool::new(2);
    let mut set: JoinSet<u32> = JoinSet::new();
    set.push(pool.spawn(async { panic!("boom") }));
    set.push(pool.spawn(async { 7 }));
    let (mut panics, mut values) = (0, Vec::new());
    while let Some(result) = set.join_next_blocking() {
        match result {
            Ok(value) => values.push(value),
            Err(error) => {
                assert_eq!(error.panic_message(), Some("boom"));
                panics += 1;
            }
        }
    }
    assert_eq!((panics, values), (1, vec![7]));

    set.extend((0..3).map(|_| {
        pool.spawn(async {
            sleep(LONG).await;
            0
        })
    }));
    set.abort_all();
    assert_eq!(set.len(), 3, "aborted handles stay until taken");
    for _ in 0..3 {
        assert!(set
            .join_next_blocking()
            .unwrap()
            .unwrap_err()
            .is_cancelled());
    }
}

#[test]
fn dropping_a_join_set_aborts_its_tasks() {
    struct CountDrop(Arc<AtomicUsize>);
    impl Drop for CountDrop {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let pool = Pool::new(1);
    let dropped = Arc::new(AtomicUsize::new(0));
    let set: JoinSet<()> = (0..10)
        .map(|_| {
            let guard = CountDrop(dropped.clone());
            pool.spawn(async move {
                let _guard = guard;
                sleep(LONG).await;
            })
        })
        .collect();
    drop(set);
    // Aborted tasks are dropped by the pool: wait until all ten destructors ran.
    let deadline = Instant::now() + LONG;
    while dropped.load(Ordering::SeqCst) < 10 {
        assert!(Instant::now() < deadline, "aborted tasks never dropped");
        thread::yield_now();
    }
}

#[test]
fn join_next_blocking_timeout_leaves_the_set_as_it_was() {
    let pool = Pool::new(1);
    let mut set = JoinSet::new();
    set.push(pool.spawn(async {
        sleep(Duration::from_millis(30)).await;
        1
    }));
    assert!(set
        .join_next_blocking_timeout(Duration::from_millis(1))
        .is_err());
    assert_eq!(set.len(), 1);
    assert_eq!(
        set.join_next_blocking_timeout(LONG)
            .unwrap()
            .unwrap()
            .unwrap(),
        1
    );
}

#[test]
#[should_panic(expected = "JoinSet::join_next_blocking would block the single-threaded Scheduler")]
fn blocking_on_a_join_set_with_scheduler_handles_is_refused() {
    let scheduler = Scheduler::new();
    let mut set = JoinSet::new();
    set.push(scheduler.spawn(async {}));
    set.join_next_blocking();
}

#[test]
fn a_join_set_takes_ten_thousand_completions() {
    let pool = Pool::new(2);
    let mut set: JoinSet<usize> = (0..10_000).map(|i| pool.spawn(async move { i })).collect();
    let mut seen = vec![false; 10_000];
    while let Some(result) = set.join_next_blocking() {
        let i = result.unwrap();
        assert!(!seen[i], "{i} twice");
        seen[i] = true;
    }
    assert!(seen.iter().all(|&seen| seen));
}

#[test]
fn atomically_async_timeout_gives_up_or_takes_what_comes() {
    let queue: TQueue<u32> = TQueue::new();
    let pool = Pool::new(2);
    let empty = pool.block_on(atomically_async_timeout(Duration::from_millis(5), |tx| {
        queue.pop(tx)
    }));
    assert_eq!(empty, None);
    let producer = {
        let queue = queue.clone();
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(5));
            atomically(|tx| queue.push(tx, 9));
        })
    };
    let got = pool.block_on(atomically_async_timeout(LONG, |tx| queue.pop(tx)));
    assert_eq!(got, Some(9));
    producer.join().unwrap();
}

#[test]
fn atomically_async_timeout_leaves_no_waiter_behind() {
    // The waker counts its clones: after the timeout, neither the TVar's wait list nor
    // the timer holds one.
    struct Unpark(thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let never = TVar::new(0u32);
    let unpark = Arc::new(Unpark(thread::current()));
    let waker = Waker::from(unpark.clone());
    let mut cx = std::task::Context::from_waker(&waker);
    let mut wait = Box::pin(atomically_async_timeout(Duration::from_millis(5), |tx| {
        braid::stm::check(never.read(tx)? > 0)
    }));
    let outcome = loop {
        if let std::task::Poll::Ready(outcome) = wait.as_mut().poll(&mut cx) {
            break outcome;
        }
        thread::park();
    };
    assert_eq!(outcome, None);
    // The timer thread that fired the deadline may still hold its clone for a moment: it
    // wakes (this thread runs on) and drops it after. A waiter left registered would hold
    // one for good.
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while Arc::strong_count(&unpark) > 2 && std::time::Instant::now() < deadline {
        thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(
        Arc::strong_count(&unpark),
        2,
        "a waiter was left registered"
    );
    // A commit now wakes nobody.
    atomically(|tx| never.write(tx, 1));
    assert_eq!(Arc::strong_count(&unpark), 2);
}

#[test]
fn shutdown_waits_for_every_task_including_sleeping_and_detached_ones() {
    let pool = Pool::new(2);
    let finished = Arc::new(AtomicUsize::new(0));
    for i in 0..200u64 {
        let finished = finished.clone();
        // Detached: the handle is dropped at once.
        drop(pool.spawn(async move {
            sleep(Duration::from_millis(i % 10)).await;
            finished.fetch_add(1, Ordering::SeqCst);
        }));
    }
    pool.shutdown();
    assert_eq!(finished.load(Ordering::SeqCst), 200);
}

#[test]
fn shutdown_timeout_cancels_what_is_left_and_says_so() {
    let pool = Pool::new(2);
    let quick = pool.spawn(async {
        sleep(Duration::from_millis(1)).await;
        1
    });
    let slow = pool.spawn(async {
        sleep(LONG).await;
        2
    });
    let blocking = pool.spawn_blocking(|| 3);
    let started = Instant::now();
    assert!(!pool.shutdown_timeout(Duration::from_millis(50)));
    assert!(started.elapsed() < LONG);
    assert_eq!(quick.join().unwrap(), 1);
    assert_eq!(blocking.join().unwrap(), 3);
    assert!(slow.join().unwrap_err().is_cancelled());
}

#[test]
fn shutdown_timeout_of_a_pool_that_finishes_in_time_is_true() {
    let pool = Pool::new(2);
    let tasks: Vec<_> = (0..100).map(|i| pool.spawn_fn(move || i)).collect();
    assert!(pool.shutdown_timeout(LONG));
    let sum: i32 = tasks.into_iter().map(|task| task.join().unwrap()).sum();
    assert_eq!(sum, 4950);
}

#[test]
fn spawning_during_shutdown_is_refused_with_a_cancelled_handle() {
    let pool = Pool::new(1);
    let refused = Arc::new(Mutex::new(None));
    let parent = pool.spawn({
        let refused = refused.clone();
        async move {
            // Wait until shutdown has begun, then try to spawn.
            sleep(Duration::from_millis(30)).await;
            let child = exec::spawn(async { 1 });
            *refused.lock().unwrap() = Some(child.await.map_err(|e| e.is_cancelled()));
        }
    });
    drop(parent);
    assert!(pool.shutdown_timeout(LONG));
    assert_eq!(*refused.lock().unwrap(), Some(Err(true)));
}

#[test]
fn try_join_next_takes_only_what_has_finished_and_never_blocks() {
    let mut empty: JoinSet<()> = JoinSet::new();
    assert!(empty.try_join_next().is_none());

    let mut scheduler = Scheduler::new();
    let taken = scheduler
        .block_on(async {
            let mut set = JoinSet::new();
            set.push(coro::spawn(async { 1 }));
            set.push(coro::spawn(async {
                sleep(LONG).await;
                2
            }));
            assert!(set.try_join_next().is_none(), "nothing has run yet");
            coro::yield_now().await; // the quick task runs
            let first = set.try_join_next().map(Result::unwrap);
            assert!(set.try_join_next().is_none(), "the sleeper is still asleep");
            set.abort_all();
            first
        })
        .unwrap();
    assert_eq!(taken, Some(1));
}
