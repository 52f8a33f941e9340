#![cfg(not(loom))]
//! When things go wrong, as a user meets it: a `JoinError` names the spawn it came from,
//! through every way of spawning.

mod common;

use std::panic::Location;

use braid::coro::{self, Scheduler};
use braid::exec::{self, Pool};
use braid::JoinError;
use common::quietly;

/// Asserts that `error` was spawned on `line` of this file and says so in its message.
fn assert_spawned_on(error: &JoinError, line: u32) {
    let at = error.spawned_at();
    assert_eq!((at.file(), at.line()), (file!(), line), "{error}");
    assert!(
        error
            .to_string()
            .starts_with(&format!("task {} spawned at {at} ", error.id())),
        "{error}"
    );
}

#[test]
fn every_pool_spawn_names_its_spawn_site() {
    let pool = Pool::new(2);
    let errors = quietly(|| {
        let fut = pool.spawn(async { panic!("in a future") });
        let fut_line = line!() - 1;
        let closure = pool.spawn_fn(|| -> () { panic!("in a closure") });
        let closure_line = line!() - 1;
        let blocking = pool.spawn_blocking(|| -> () { panic!("blocking") });
        let blocking_line = line!() - 1;
        let (inner, inner_line) = pool
            .spawn(async {
                let inner = exec::spawn(async { panic!("inner") });
                (inner.await.unwrap_err(), line!() - 1)
            })
            .join()
            .unwrap();
        let (inner_blocking, inner_blocking_line) = pool
            .spawn(async {
                let inner = exec::spawn_blocking(|| -> () { panic!("inner blocking") });
                (inner.await.unwrap_err(), line!() - 1)
            })
            .join()
            .unwrap();
        [
            (fut.join().unwrap_err(), fut_line),
            (closure.join().unwrap_err(), closure_line),
            (blocking.join().unwrap_err(), blocking_line),
            (inner, inner_line),
            (inner_blocking, inner_blocking_line),
        ]
    });
    for (error, line) in &errors {
        assert!(error.is_panic());
        assert_spawned_on(error, *line);
    }
    assert!(errors[1].0.to_string().ends_with("panicked: in a closure"));
}

#[test]
fn scheduler_spawns_and_cancellations_name_their_spawn_site() {
    let mut scheduler = Scheduler::new();
    let failed = scheduler.spawn(async { panic!("on the scheduler") });
    let failed_line = line!() - 1;
    let (child, child_line) = quietly(|| {
        scheduler
            .block_on(async {
                let child = coro::spawn(async { panic!("child") });
                (child.await.unwrap_err(), line!() - 1)
            })
            .unwrap()
    });
    assert_spawned_on(&child, child_line);
    let failed = quietly(|| scheduler.block_on(failed)).unwrap().unwrap_err();
    assert_spawned_on(&failed, failed_line);

    let stuck = scheduler.spawn(std::future::pending::<()>());
    let stuck_line = line!() - 1;
    stuck.abort();
    let cancelled = scheduler.block_on(stuck).unwrap().unwrap_err();
    assert!(cancelled.is_cancelled());
    assert_spawned_on(&cancelled, stuck_line);
    assert!(cancelled.to_string().ends_with("was cancelled"));
}

#[test]
fn try_map_errors_name_the_try_map_call() {
    let pool = Pool::new(1);
    let results = quietly(|| pool.try_map([1, 2], |n| assert!(n != 2, "two")));
    let line = line!() - 1;
    let error = results[1].as_ref().unwrap_err();
    assert_spawned_on(error, line);
    let _: &'static Location<'static> = error.spawned_at();
}

/// A task on a one-worker pool joins, scopes or waits on a task of a second pool, whose
/// work can only finish after tasks queued behind it on the first pool have run: the first
/// pool's worker must keep running its own queue while it waits (a blocked worker would
/// starve them, and here, deadlock; the receive gives up after 10 s and fails the test
/// instead).
#[test]
fn a_task_waiting_on_another_pool_keeps_its_own_pool_running() {
    use std::sync::mpsc;
    use std::sync::Arc;
    use std::time::Duration;

    let small = Pool::new(1);
    let other = Arc::new(Pool::new(2));
    for how in ["join", "scope", "join handle"] {
        let (signal, wait_signal) = mpsc::channel::<()>();
        let wait_signal = std::sync::Mutex::new(wait_signal);
        let outer = {
            let other = other.clone();
            small.spawn_fn(move || {
                let wait = || {
                    let got = wait_signal
                        .lock()
                        .unwrap()
                        .recv_timeout(Duration::from_secs(10));
                    got.expect("the first pool's queued task never ran: its worker was starved")
                };
                match how {
                    "join" => other.join(wait, || ()).1,
                    "scope" => other.scope(|s| s.spawn(|_| wait())),
                    _ => {
                        let wait_signal =
                            std::mem::replace(&mut *wait_signal.lock().unwrap(), mpsc::channel().1);
                        let waited = other.spawn_fn(move || {
                            let got = wait_signal.recv_timeout(Duration::from_secs(10));
                            got.expect("the first pool's queued task never ran")
                        });
                        waited.join().unwrap()
                    }
                }
            })
        };
        // Queued behind `outer` on the one worker: sends the signal the other pool waits for.
        let queued = small.spawn_fn(move || signal.send(()).unwrap());
        outer.join().unwrap();
        queued.join().unwrap();
    }
}

mod isolated {
    use std::thread;
    use std::time::Duration;

    use braid::coro::{self, Scheduler};
    use braid::stm::{atomically, atomically_async, check, TVar};

    /// Two tasks each waiting in `retry` for a variable only the other would set.
    fn crossed_waits(scheduler: &Scheduler) {
        let (ping, pong) = (TVar::new(false), TVar::new(false));
        for (wait_for, then_set) in [(ping.clone(), pong.clone()), (pong, ping)] {
            scheduler.spawn(async move {
                atomically_async(|tx| check(wait_for.read(tx)?)).await;
                atomically_async(|tx| then_set.write(tx, true)).await;
            });
        }
    }

    #[test]
    fn an_stm_deadlock_between_tasks_is_reported_at_once() {
        let mut scheduler = Scheduler::new().isolated();
        crossed_waits(&scheduler);
        let deadlock = scheduler.run().unwrap_err();
        assert_eq!(deadlock.blocked(), 2);
        assert_eq!(deadlock.waiting_on_transactions(), 2);
        assert!(
            deadlock
                .to_string()
                .contains("2 waiting on transactions, 0 on join handles"),
            "{deadlock}"
        );
    }

    #[test]
    fn block_on_reports_it_too_and_counts_tasks_waiting_on_join_handles() {
        let mut scheduler = Scheduler::new().isolated();
        let never = TVar::new(0);
        let outcome = scheduler.block_on(async move {
            let waiter = coro::spawn(async move {
                atomically_async(|tx| check(never.read(tx)? > 0)).await;
            });
            let joiner = coro::spawn(async move { waiter.await.unwrap() });
            joiner.await.unwrap();
        });
        let deadlock = outcome.unwrap_err();
        assert_eq!(deadlock.waiting_on_transactions(), 1);
        assert_eq!(deadlock.waiting_on_join_handles(), 1);
    }

    #[test]
    fn hand_offs_between_tasks_of_an_isolated_scheduler_still_work() {
        let mut scheduler = Scheduler::new().isolated();
        let (ping, pong) = (TVar::new(0u32), TVar::new(0u32));
        let rounds = 100;
        {
            let (ping, pong) = (ping.clone(), pong.clone());
            scheduler.spawn(async move {
                for i in 1..=rounds {
                    atomically_async(|tx| ping.write(tx, i)).await;
                    atomically_async(|tx| check(pong.read(tx)? == i)).await;
                }
            });
        }
        scheduler.spawn(async move {
            for i in 1..=rounds {
                atomically_async(|tx| check(ping.read(tx)? == i)).await;
                atomically_async(|tx| pong.write(tx, i)).await;
            }
        });
        scheduler.run().unwrap();
    }

    #[test]
    fn the_default_scheduler_waits_for_a_commit_from_another_thread() {
        let mut scheduler = Scheduler::new();
        assert!(!scheduler.is_isolated());
        let gate = TVar::new(false);
        {
            let gate = gate.clone();
            scheduler.spawn(async move { atomically_async(|tx| check(gate.read(tx)?)).await });
        }
        let opener = thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            atomically(|tx| gate.write(tx, true));
        });
        scheduler.run().unwrap();
        opener.join().unwrap();
    }

    #[test]
    fn explore_reports_an_stm_deadlock_under_a_schedule_instead_of_hanging() {
        let outcome = std::panic::catch_unwind(|| {
            braid::testing::explore(3, |scheduler| {
                crossed_waits(scheduler);
                scheduler.run().unwrap();
            })
        });
        assert!(outcome.is_err());
    }
}
