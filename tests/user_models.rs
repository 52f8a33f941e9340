#![cfg(loom)]
//! loom models of braid code, written as a user's crate writes them: only braid's public
//! API, `braid::testing::model`, and the loom braid re-exports. Built with
//! `RUSTFLAGS="--cfg loom"` alone (no `crossbeam_loom`, no `LOOM_*` variables):
//!
//! ```sh
//! RUSTFLAGS="--cfg loom" cargo test --release --test user_models
//! ```
//!
//! The failing models (`#[should_panic]`) show that a model which finds a bug fails like
//! any test, with the user's message, and that the tests after it still run.
//! `measure_bounds` (ignored) prints each model's executions and time unbounded and at
//! preemption bounds 2, 3 and 4: the table in README.md.

use std::time::{Duration, Instant};

use braid::coro::Scheduler;
use braid::exec::Pool;
use braid::stm::{atomically, atomically_async, atomically_timeout, check, TMVar, TQueue, TVar};
use braid::testing::loom::{self, thread};
use braid::testing::model;

// ---- Models that pass ----------------------------------------------------------------

/// Two threads increment one counter, each in one transaction: none is lost.
fn increments_in_one_transaction_are_not_lost() {
    let counter = TVar::new(0u64);
    let other = {
        let counter = counter.clone();
        thread::spawn(move || atomically(|tx| counter.modify(tx, |n| n + 1)))
    };
    atomically(|tx| counter.modify(tx, |n| n + 1));
    other.join().unwrap();
    assert_eq!(counter.load(), 2);
}

/// A transfer between two accounts, watched by an auditor: the total never changes.
fn an_auditor_never_sees_money_in_flight() {
    let (from, to) = (TVar::new(100i64), TVar::new(0i64));
    let mover = {
        let (from, to) = (from.clone(), to.clone());
        thread::spawn(move || {
            atomically(|tx| {
                from.modify(tx, |b| b - 30)?;
                to.modify(tx, |b| b + 30)
            })
        })
    };
    let total = atomically(|tx| Ok(from.read(tx)? + to.read(tx)?));
    assert_eq!(total, 100);
    mover.join().unwrap();
    assert_eq!((from.load(), to.load()), (70, 30));
}

/// A thread blocked in `retry` is woken by another thread's commit.
fn a_thread_in_retry_is_woken_by_a_commit() {
    let ready = TVar::new(false);
    let setter = {
        let ready = ready.clone();
        thread::spawn(move || atomically(|tx| ready.write(tx, true)))
    };
    atomically(|tx| check(ready.read(tx)?));
    setter.join().unwrap();
}

/// `atomically_async` under loom's own `block_on`, woken by a commit on another thread.
fn an_async_transaction_is_woken_by_a_commit() {
    let value = TVar::new(0u32);
    let setter = {
        let value = value.clone();
        thread::spawn(move || atomically(|tx| value.write(tx, 7)))
    };
    let seen = loom::future::block_on(atomically_async(|tx| {
        let v = value.read(tx)?;
        check(v != 0)?;
        Ok(v)
    }));
    assert_eq!(seen, 7);
    setter.join().unwrap();
}

/// A task on a one-worker Pool waits on a `TVar` that this thread then sets.
fn a_pool_task_waits_on_a_tvar() {
    let pool = Pool::new(1);
    let flag = TVar::new(false);
    let task = {
        let flag = flag.clone();
        pool.spawn(async move {
            atomically_async(|tx| check(flag.read(tx)?)).await;
            "done"
        })
    };
    atomically(|tx| flag.write(tx, true));
    assert_eq!(task.join().unwrap(), "done");
}

/// A Scheduler task waits on a `TVar` that another thread sets.
fn a_scheduler_task_waits_on_a_tvar() {
    let flag = TVar::new(false);
    let setter = {
        let flag = flag.clone();
        thread::spawn(move || atomically(|tx| flag.write(tx, true)))
    };
    let mut scheduler = Scheduler::new();
    let task = {
        let flag = flag.clone();
        scheduler.spawn(async move { atomically_async(|tx| check(flag.read(tx)?)).await })
    };
    scheduler.block_on(task).unwrap().unwrap();
    setter.join().unwrap();
}

/// A timed wait either sees the value or times out, and never hangs. The timeout is
/// zero: loom has no clock, and `atomically_timeout` keeps the real one, so a zero
/// deadline is how a model explores both the hand-off and the expiry.
fn a_timed_wait_sees_the_value_or_times_out() {
    let slot = TMVar::new_empty();
    let putter = {
        let slot = slot.clone();
        thread::spawn(move || atomically(|tx| slot.put(tx, 5)))
    };
    let got = atomically_timeout(Duration::ZERO, |tx| slot.take(tx));
    putter.join().unwrap();
    match got {
        Some(v) => assert_eq!(v, 5),
        None => assert_eq!(atomically(|tx| slot.take(tx)), 5),
    }
}

/// A producer and a consumer over a `TQueue`: items arrive once, in order.
fn a_queue_hands_items_over_in_order() {
    let queue = TQueue::new();
    let producer = {
        let queue = queue.clone();
        thread::spawn(move || {
            for n in 0..2 {
                atomically(|tx| queue.push(tx, n));
            }
        })
    };
    let got: Vec<i32> = (0..2).map(|_| atomically(|tx| queue.pop(tx))).collect();
    assert_eq!(got, [0, 1]);
    producer.join().unwrap();
}

#[test]
fn model_increments_in_one_transaction_are_not_lost() {
    model(increments_in_one_transaction_are_not_lost);
}

#[test]
fn model_an_auditor_never_sees_money_in_flight() {
    model(an_auditor_never_sees_money_in_flight);
}

#[test]
fn model_a_thread_in_retry_is_woken_by_a_commit() {
    model(a_thread_in_retry_is_woken_by_a_commit);
}

#[test]
fn model_an_async_transaction_is_woken_by_a_commit() {
    model(an_async_transaction_is_woken_by_a_commit);
}

#[test]
fn model_a_pool_task_waits_on_a_tvar() {
    model(a_pool_task_waits_on_a_tvar);
}

#[test]
fn model_a_scheduler_task_waits_on_a_tvar() {
    model(a_scheduler_task_waits_on_a_tvar);
}

#[test]
fn model_a_timed_wait_sees_the_value_or_times_out() {
    model(a_timed_wait_sees_the_value_or_times_out);
}

#[test]
fn model_a_queue_hands_items_over_in_order() {
    model(a_queue_hands_items_over_in_order);
}

// ---- Models that find a bug: each fails like a test, with the user's message ----------

/// The bug: a read in one transaction and the write in another.
fn split_read_and_write() {
    let counter = TVar::new(0u64);
    let other = {
        let counter = counter.clone();
        thread::spawn(move || {
            let seen = atomically(|tx| counter.read(tx));
            atomically(|tx| counter.write(tx, seen + 1));
        })
    };
    let seen = atomically(|tx| counter.read(tx));
    atomically(|tx| counter.write(tx, seen + 1));
    other.join().unwrap();
    assert_eq!(counter.load(), 2, "lost update");
}

#[test]
#[should_panic(expected = "lost update")]
fn model_finds_a_lost_update_between_two_transactions() {
    model(split_read_and_write);
}

#[test]
#[should_panic(expected = "overdrawn")]
fn model_reports_a_panic_inside_a_transaction() {
    model(|| {
        let balance = TVar::new(10i64);
        let other = {
            let balance = balance.clone();
            thread::spawn(move || atomically(|tx| balance.modify(tx, |b| b - 10)))
        };
        // Checks before the other thread's withdrawal only in some interleavings.
        let seen = atomically(|tx| balance.read(tx));
        atomically(|tx| {
            let now = balance.read(tx)?;
            assert!(now >= seen, "overdrawn: saw {seen}, now {now}");
            Ok(())
        });
        other.join().unwrap();
    });
}

#[test]
#[should_panic(expected = "the pool task lost an update")]
fn model_reports_a_panic_inside_a_pool_task() {
    model(|| {
        let pool = Pool::new(1);
        let counter = TVar::new(0u64);
        let task = {
            let counter = counter.clone();
            pool.spawn(async move {
                let seen = atomically_async(|tx| counter.read(tx)).await;
                atomically_async(|tx| counter.write(tx, seen + 1)).await;
                assert_eq!(counter.load(), seen + 1, "the pool task lost an update");
            })
        };
        atomically(|tx| counter.modify(tx, |n| n + 1));
        if let Err(error) = task.join() {
            std::panic::resume_unwind(error.into_panic());
        }
    });
}

#[test]
#[should_panic(expected = "the main thread lost an update")]
fn model_reports_a_failed_assertion_while_a_pool_is_running() {
    model(|| {
        let pool = Pool::new(1);
        let counter = TVar::new(0u64);
        let task = {
            let counter = counter.clone();
            pool.spawn(async move { atomically_async(|tx| counter.modify(tx, |n| n + 1)).await })
        };
        let seen = atomically(|tx| counter.read(tx));
        atomically(|tx| counter.write(tx, seen + 1));
        task.join().unwrap();
        assert_eq!(counter.load(), 2, "the main thread lost an update");
    });
}

#[test]
#[should_panic(expected = "the scheduler task saw a half-done transfer")]
fn model_reports_a_panic_inside_a_scheduler_task() {
    model(|| {
        let (a, b) = (TVar::new(1i32), TVar::new(0i32));
        let mover = {
            let (a, b) = (a.clone(), b.clone());
            thread::spawn(move || {
                // The bug: a transfer in two transactions.
                atomically(|tx| a.write(tx, 0));
                atomically(|tx| b.write(tx, 1));
            })
        };
        let mut scheduler = Scheduler::new();
        let auditor = scheduler.spawn(async move {
            let total = atomically_async(|tx| Ok(a.read(tx)? + b.read(tx)?)).await;
            assert_eq!(total, 1, "the scheduler task saw a half-done transfer");
        });
        let outcome = scheduler.block_on(auditor).unwrap();
        mover.join().unwrap();
        if let Err(error) = outcome {
            std::panic::resume_unwind(error.into_panic());
        }
    });
}

/// A bug that loom finds only after some executions (its first runs this thread's read
/// first): the code assumes it reads before the other thread commits.
fn order_bug() {
    let flag = TVar::new(false);
    let setter = {
        let flag = flag.clone();
        thread::spawn(move || atomically(|tx| flag.write(tx, true)))
    };
    let seen = atomically(|tx| flag.read(tx));
    setter.join().unwrap();
    assert!(!seen, "the other thread committed first");
}

/// loom's replay (`LOOM_CHECKPOINT_FILE` with `LOOM_CHECKPOINT_INTERVAL=1`, which
/// `braid::testing::model` reads from the environment): the first run saves the failing
/// interleaving, and a second run with the same file fails at its first execution.
#[test]
fn a_failing_interleaving_saved_by_loom_replays_first() {
    let file = std::env::temp_dir().join(format!("braid-replay-{}.json", std::process::id()));
    let _ = std::fs::remove_file(&file);
    let run = || {
        let mut builder = loom::model::Builder::new();
        builder.preemption_bound = Some(braid::testing::DEFAULT_PREEMPTION_BOUND);
        builder.max_branches = braid::testing::DEFAULT_MAX_BRANCHES;
        builder.checkpoint_file = Some(file.clone());
        builder.checkpoint_interval = 1;
        let runs = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = {
            let runs = runs.clone();
            move || {
                runs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                order_bug();
            }
        };
        let failed =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| builder.check(counted)))
                .is_err();
        (failed, runs.load(std::sync::atomic::Ordering::Relaxed))
    };
    let (failed, explored) = run();
    assert!(failed, "the model finds the order bug");
    assert!(
        explored > 1,
        "found only after {explored} executions, so a replay shows"
    );
    let (failed_again, executions) = run();
    let _ = std::fs::remove_file(&file);
    assert!(failed_again);
    assert_eq!(executions, 1, "the saved interleaving runs first");
}

/// Runs after the failing models in the same binary (tests run in name order within a
/// thread, and in any order across threads): the binary survived them.
#[test]
fn model_zz_runs_after_the_failing_models() {
    model(increments_in_one_transaction_are_not_lost);
}

// ---- The costs in README.md -----------------------------------------------------------

/// Prints each model's executions and time unbounded and at preemption bounds 2, 3 and
/// 4, stopping any one run at 60 s (`BRAID_MEASURE_SECS` to change;
/// `BRAID_MEASURE_ONLY=retry` measures only the models whose name contains `retry`).
#[test]
#[ignore = "a measurement, minutes long: cargo test --release --test user_models -- --ignored --nocapture"]
fn measure_bounds() {
    let limit = std::env::var("BRAID_MEASURE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let models: [(&str, fn()); 9] = [
        (
            "increment on two threads",
            increments_in_one_transaction_are_not_lost,
        ),
        ("transfer + auditor", an_auditor_never_sees_money_in_flight),
        (
            "retry woken by a commit",
            a_thread_in_retry_is_woken_by_a_commit,
        ),
        (
            "atomically_async under block_on",
            an_async_transaction_is_woken_by_a_commit,
        ),
        (
            "Pool::new(1) task waits on a TVar",
            a_pool_task_waits_on_a_tvar,
        ),
        (
            "Scheduler task waits on a TVar",
            a_scheduler_task_waits_on_a_tvar,
        ),
        (
            "atomically_timeout on a TMVar",
            a_timed_wait_sees_the_value_or_times_out,
        ),
        (
            "TQueue producer/consumer",
            a_queue_hands_items_over_in_order,
        ),
        ("lost update (finds the bug)", split_read_and_write),
    ];
    println!("| model | unbounded | bound 2 | bound 3 | bound 4 |");
    println!("|---|---|---|---|---|");
    let only = std::env::var("BRAID_MEASURE_ONLY").unwrap_or_default();
    for (name, f) in models.into_iter().filter(|(name, _)| name.contains(&only)) {
        let mut row = format!("| {name} |");
        for bound in [None, Some(2), Some(3), Some(4)] {
            row += &format!(" {} |", measure(f, bound, limit));
        }
        println!("{row}");
    }
}

fn measure(f: fn(), bound: Option<usize>, limit_secs: u64) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = bound;
    builder.max_branches = braid::testing::DEFAULT_MAX_BRANCHES;
    builder.max_duration = Some(Duration::from_secs(limit_secs));
    // loom looks at the clock only every `checkpoint_interval` executions.
    builder.checkpoint_interval = 100;
    let runs = Arc::new(AtomicUsize::new(0));
    let counted = {
        let runs = runs.clone();
        move || {
            runs.fetch_add(1, Ordering::Relaxed);
            f();
        }
    };
    let started = Instant::now();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| builder.check(counted)));
    let elapsed = started.elapsed();
    let runs = runs.load(Ordering::Relaxed);
    match outcome {
        Err(_) => format!("bug found at execution {runs}, {elapsed:.2?}"),
        Ok(()) if elapsed >= Duration::from_secs(limit_secs) => {
            format!("> {limit_secs} s (stopped after {runs})")
        }
        Ok(()) => format!("{runs} in {elapsed:.2?}"),
    }
}

#[test]
#[should_panic(expected = "loom models at most 5")]
fn a_pool_larger_than_loom_can_model_is_refused_by_name() {
    model(|| {
        let _pool = Pool::new(8);
    });
}

#[test]
fn a_default_pool_in_a_model_has_one_worker() {
    model(|| {
        let pool = Pool::default();
        assert_eq!(pool.workers(), 1);
        assert_eq!(pool.spawn_fn(|| 6 * 7).join().unwrap(), 42);
    });
}

/// A Scheduler task that sleeps an hour inside a model: loom has no clock, so the
/// Scheduler's time jumps to the deadline when nothing else can run.
#[test]
fn model_a_scheduler_task_sleeps_an_hour_in_no_time() {
    model(|| {
        let mut scheduler = Scheduler::new();
        let slept = scheduler.block_on(async {
            braid::coro::sleep(Duration::from_secs(3600)).await;
            "slept"
        });
        assert_eq!(slept.unwrap(), "slept");
    });
}

/// A zero timeout explores the expiry: with nobody to wake it, the wait gives up.
#[test]
fn model_a_zero_timeout_with_nobody_to_wake_it_returns_none() {
    model(|| {
        let slot: TMVar<u8> = TMVar::new_empty();
        assert_eq!(atomically_timeout(Duration::ZERO, |tx| slot.take(tx)), None);
    });
}
