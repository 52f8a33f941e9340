//! The Pool's contract: results, panics, cancellation, shutdown, join, scope, map,
//! blocking work, and tasks that wait on transactions.
#![cfg(not(loom))]

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Barrier};
use std::time::Duration;

use braid::coro::yield_now;
use braid::exec::{self, Pool};
use braid::stm::{atomically, atomically_async, check, TVar};
use common::counted::Counted;
use common::panic_message;

#[test]
fn spawned_futures_and_closures_return_their_output() {
    let pool = Pool::new(2);
    let future = pool.spawn(async { 40 + 2 });
    let closure = pool.spawn_fn(|| "closure".to_string());
    assert_eq!(future.join().unwrap(), 42);
    assert_eq!(closure.join().unwrap(), "closure");
}

#[test]
fn a_panicking_task_reports_its_message_and_the_worker_survives() {
    let pool = Pool::new(1);
    let failed = pool.spawn_fn(|| -> u8 { panic!("task {} failed", 3) });
    let spawned_on = line!() - 1;
    let id = failed.id();
    let error = failed.join().unwrap_err();
    assert!(error.is_panic() && !error.is_cancelled());
    assert_eq!(error.panic_message(), Some("task 3 failed"));
    assert_eq!(
        error.to_string(),
        format!("task {id} spawned at tests/exec_pool.rs:{spawned_on}:23 panicked: task 3 failed")
    );
    // The single worker still runs tasks.
    assert_eq!(pool.spawn_fn(|| 7).join().unwrap(), 7);
}

#[test]
fn abort_drops_the_future_and_reports_cancellation() {
    let live = Arc::new(AtomicUsize::new(0));
    let pool = Pool::new(2);
    let held = Counted::new(&live);
    let task = pool.spawn(async move {
        let _held = held;
        std::future::pending::<()>().await;
    });
    task.abort();
    assert!(task.join().unwrap_err().is_cancelled());
    assert_eq!(
        live.load(Ordering::SeqCst),
        0,
        "the aborted future was not dropped"
    );
}

#[test]
fn aborting_a_finished_task_keeps_its_output() {
    let pool = Pool::new(1);
    let task = pool.spawn_fn(|| 5);
    while !task.is_finished() {
        std::thread::yield_now();
    }
    task.abort();
    assert_eq!(task.join().unwrap(), 5);
}

#[test]
fn dropping_the_pool_cancels_unfinished_tasks_and_leaks_nothing() {
    let live = Arc::new(AtomicUsize::new(0));
    let pool = Pool::new(2);
    let mut handles = Vec::new();
    for i in 0..100 {
        let held = Counted::new(&live);
        handles.push(pool.spawn(async move {
            let _held = held;
            if i % 2 == 0 {
                std::future::pending::<()>().await;
            }
        }));
    }
    // Detached tasks, too.
    for _ in 0..100 {
        let held = Counted::new(&live);
        drop(pool.spawn(async move {
            let _held = held;
            std::future::pending::<()>().await;
        }));
    }
    drop(pool);
    assert_eq!(
        live.load(Ordering::SeqCst),
        0,
        "a task's future outlived the pool"
    );
    for (i, handle) in handles.into_iter().enumerate() {
        // Odd tasks finish if a worker got to them before the drop; even ones never do.
        match handle.join() {
            Ok(()) => assert!(i % 2 == 1, "task {i} cannot have finished"),
            Err(error) => assert!(error.is_cancelled(), "task {i}: {error}"),
        }
    }
}

#[test]
fn outputs_nobody_reads_are_dropped() {
    let live = Arc::new(AtomicUsize::new(0));
    let pool = Pool::new(2);
    let handles: Vec<_> = (0..50)
        .map(|_| {
            let live = live.clone();
            pool.spawn_fn(move || Counted::new(&live))
        })
        .collect();
    for handle in &handles {
        while !handle.is_finished() {
            std::thread::yield_now();
        }
    }
    drop(handles);
    for _ in 0..50 {
        let live = live.clone();
        drop(pool.spawn_fn(move || Counted::new(&live)));
    }
    drop(pool);
    assert_eq!(live.load(Ordering::SeqCst), 0);
}

#[test]
fn tasks_spawned_from_tasks_all_run() {
    let pool = Pool::new(2);
    let total = pool.block_on(async {
        let handles: Vec<_> = (0..1000u64)
            .map(|i| exec::spawn(async move { i }))
            .collect();
        let mut total = 0;
        for handle in handles {
            total += handle.await.unwrap();
        }
        total
    });
    assert_eq!(total, 499_500);
}

#[test]
fn join_inside_a_task_on_a_single_worker_does_not_deadlock() {
    let pool = Pool::new(1);
    let outer = pool.spawn_fn(|| {
        let inner = exec::spawn(async { 9 });
        inner.join().unwrap() * 2
    });
    assert_eq!(outer.join().unwrap(), 18);
}

#[test]
fn a_worker_blocked_in_join_wakes_for_a_commit_from_outside() {
    let pool = Pool::new(1);
    let gate = TVar::new(false);
    let waiter = {
        let gate = gate.clone();
        pool.spawn_fn(move || {
            let opened = exec::spawn(async move {
                atomically_async(|tx| check(gate.read(tx)?)).await;
                "opened"
            });
            opened.join().unwrap()
        })
    };
    std::thread::sleep(Duration::from_millis(20));
    atomically(|tx| gate.write(tx, true));
    assert_eq!(waiter.join().unwrap(), "opened");
}

#[test]
fn yielding_tasks_take_turns() {
    let pool = Pool::new(1);
    // A first task holds the one worker until all three are queued: otherwise it may
    // start task 0, which then yields to nobody, before the others exist. The three go
    // in only once the worker runs that task, so it takes them in one batch, in order.
    let barrier = Arc::new(Barrier::new(2));
    let gate = pool.spawn({
        let barrier = barrier.clone();
        async move {
            barrier.wait(); // the worker runs this task
            barrier.wait(); // all three are queued
        }
    });
    barrier.wait();
    let (sender, receiver) = mpsc::channel();
    let tasks: Vec<_> = (0..3)
        .map(|id| {
            let sender = sender.clone();
            pool.spawn(async move {
                for step in 0..3 {
                    sender.send((step, id)).unwrap();
                    yield_now().await;
                }
            })
        })
        .collect();
    barrier.wait();
    gate.join().unwrap();
    for task in tasks {
        task.join().unwrap();
    }
    drop(sender);
    let order: Vec<_> = receiver.iter().collect();
    // Every task takes its step n before any task takes step n + 1.
    let steps: Vec<_> = order.iter().map(|&(step, _)| step).collect();
    assert_eq!(steps, [0, 0, 0, 1, 1, 1, 2, 2, 2], "{order:?}");
}

fn fib(n: u64) -> u64 {
    if n < 2 {
        return n;
    }
    let (a, b) = exec::join(|| fib(n - 1), || fib(n - 2));
    a + b
}

#[test]
fn join_computes_fib_on_the_pool_and_outside_it() {
    let pool = Pool::new(2);
    assert_eq!(pool.join(|| fib(22), || fib(5)), (17711, 5));
    assert_eq!(fib(12), 144, "outside a pool join runs both sides in turn");
}

/// Counts the leaves of a join tree: every `join` half runs exactly once, also when
/// thieves take halves at every depth (this found a thief and the owner both running one
/// half, when `join` took halves back from the tail of the stealable ring).
fn leaves(n: u32, calls: &AtomicUsize) -> u64 {
    calls.fetch_add(1, Ordering::Relaxed);
    if n == 0 {
        return 1;
    }
    let (a, b) = exec::join(|| leaves(n - 1, calls), || leaves(n - 1, calls));
    a + b
}

#[test]
fn every_join_half_runs_exactly_once_under_stealing() {
    let pool = Pool::new(2);
    for _ in 0..20 {
        let calls = AtomicUsize::new(0);
        assert_eq!(pool.join(|| leaves(14, &calls), || ()).0, 1 << 14);
        assert_eq!(calls.into_inner(), (1 << 15) - 1);
    }
}

#[test]
fn a_panic_in_join_is_raised_after_both_sides_finished() {
    let pool = Pool::new(2);
    let finished = AtomicUsize::new(0);
    let result = catch_unwind(AssertUnwindSafe(|| {
        pool.join(
            || panic!("left side"),
            || {
                std::thread::sleep(Duration::from_millis(10));
                finished.fetch_add(1, Ordering::SeqCst);
            },
        )
    }));
    assert_eq!(panic_message(result.unwrap_err()), "left side");
    assert_eq!(finished.load(Ordering::SeqCst), 1);
}

#[test]
fn scope_sees_every_write_and_waits_for_nested_spawns() {
    let pool = Pool::new(2);
    let mut cells = vec![0u32; 64];
    pool.scope(|s| {
        for (i, chunk) in cells.chunks_mut(8).enumerate() {
            s.spawn(move |s| {
                for (j, cell) in chunk.iter_mut().enumerate() {
                    *cell = (i * 8 + j) as u32;
                }
                s.spawn(|_| std::thread::sleep(Duration::from_millis(1)));
            });
        }
    });
    assert_eq!(cells, (0..64).collect::<Vec<u32>>());
}

#[test]
fn a_panic_in_a_scope_is_raised_after_every_job_finished() {
    let pool = Pool::new(2);
    let finished = AtomicUsize::new(0);
    let result = catch_unwind(AssertUnwindSafe(|| {
        pool.scope(|s| {
            s.spawn(|_| panic!("scope job failed"));
            for _ in 0..8 {
                s.spawn(|_| {
                    std::thread::sleep(Duration::from_millis(2));
                    finished.fetch_add(1, Ordering::SeqCst);
                });
            }
        })
    }));
    assert_eq!(panic_message(result.unwrap_err()), "scope job failed");
    assert_eq!(finished.load(Ordering::SeqCst), 8);
}

#[test]
fn join_works_inside_a_task() {
    let pool = Pool::new(2);
    let sum = pool.spawn_fn(|| {
        let values: Vec<u64> = (1..=100).collect();
        let (left, right) = exec::join(
            || values[..50].iter().sum::<u64>(),
            || values[50..].iter().sum::<u64>(),
        );
        left + right
    });
    assert_eq!(sum.join().unwrap(), 5050);
}

#[test]
fn map_keeps_the_order_of_its_items() {
    let pool = Pool::new(2);
    let squares = pool.map(0..1000u64, |n| n * n);
    assert_eq!(squares, (0..1000u64).map(|n| n * n).collect::<Vec<_>>());
    assert!(pool.map(Vec::<u8>::new(), |n| n).is_empty());
}

#[test]
fn spawn_blocking_leaves_the_workers_free() {
    let pool = Pool::new(1);
    let barrier = Arc::new(Barrier::new(2));
    let blocked = {
        let barrier = barrier.clone();
        pool.spawn_blocking(move || {
            barrier.wait();
            "released"
        })
    };
    // The only worker runs this while the blocking job waits for it.
    let releaser = pool.spawn_fn(move || {
        barrier.wait();
    });
    releaser.join().unwrap();
    assert_eq!(blocked.join().unwrap(), "released");
}

#[test]
fn zero_workers_is_refused_with_a_clear_message() {
    let error = catch_unwind(|| Pool::new(0)).unwrap_err();
    assert!(panic_message(error).contains("at least one worker"));
}

#[test]
fn spawn_outside_a_pool_is_refused_with_a_clear_message() {
    let error = catch_unwind(|| exec::spawn(async {})).unwrap_err();
    assert!(panic_message(error).contains("outside a Pool"));
}

#[test]
fn retrying_transactions_suspend_their_tasks_instead_of_holding_workers() {
    let pool = Pool::new(2);
    let gate = TVar::new(0u32);
    let waiting: Vec<_> = (0..64)
        .map(|i| {
            let gate = gate.clone();
            pool.spawn(async move {
                let seen = atomically_async(|tx| {
                    let value = gate.read(tx)?;
                    check(value > 0)?;
                    Ok(value)
                })
                .await;
                seen + i
            })
        })
        .collect();
    // With 64 tasks waiting, both workers are still free for other work.
    let busy: Vec<_> = (0..100u64).map(|n| pool.spawn_fn(move || n * 2)).collect();
    let total: u64 = busy.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(total, 9900);
    assert!(waiting.iter().all(|h| !h.is_finished()));
    // One commit from a thread outside the pool wakes all of them.
    atomically(|tx| gate.write(tx, 100));
    for (i, handle) in waiting.into_iter().enumerate() {
        assert_eq!(handle.join().unwrap(), 100 + i as u32);
    }
}

#[cfg(target_os = "linux")]
#[test]
fn an_idle_pool_sleeps() {
    /// CPU time (clock ticks, usually 10 ms) used so far by this process's threads whose
    /// name starts with `prefix`, and how many threads those are.
    fn cpu_ticks_of_threads(prefix: &str) -> (u64, usize) {
        let (mut ticks, mut threads) = (0, 0);
        for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
            let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
                continue;
            };
            let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
                continue;
            };
            if !stat[open + 1..close].starts_with(prefix) {
                continue;
            }
            let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
            // utime and stime: fields 14 and 15 of the line, 12 and 13 after the name.
            ticks += fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
            threads += 1;
        }
        (ticks, threads)
    }
    let pool = Pool::builder().workers(4).thread_name("idleprobe").build();
    pool.spawn_fn(|| ()).join().unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let (before, workers) = cpu_ticks_of_threads("idleprobe");
    assert_eq!(workers, 4, "the probe must see the pool's workers");
    std::thread::sleep(Duration::from_millis(500));
    let used = cpu_ticks_of_threads("idleprobe").0 - before;
    // A spinning worker would use ~50 ticks in 500 ms; four sleeping ones use none.
    assert!(
        used <= 5,
        "an idle pool's workers used {used} ticks of CPU in 500 ms"
    );
    drop(pool);
}
