#![cfg(not(loom))]
//! When things go wrong, as a user meets it: a `JoinError` names the spawn it came from,
//! through every way of spawning.

use std::panic::Location;

use braid::coro::{self, Scheduler};
use braid::exec::{self, Pool};
use braid::JoinError;

/// Runs `f` with the default panic hook silenced (the panics below are expected).
fn quietly<R>(f: impl FnOnce() -> R) -> R {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = f();
    std::panic::set_hook(hook);
    result
}

/// Asserts that `error` was spawned on `line` of this file and says so in its message.
fn assert_spawned_on(error: &JoinError, line: u32) {
    let at = error.spawned_at();
    assert_eq!((at.file(), at.line()), (file!(), line), "{error}");
    assert!(
        error
            .to_string()
            .starts_with(&format!("task spawned at {at} ")),
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

/// A task on a one-worker pool joins (and scopes) on a second pool, whose work can only
/// finish after tasks queued behind it on the first pool have run: the first pool's worker
/// must keep running its own queue while it waits (a blocked worker would starve them, and
/// here, deadlock; the receive gives up after 10 s and fails the test instead).
#[test]
fn a_task_waiting_on_another_pool_keeps_its_own_pool_running() {
    use std::sync::mpsc;
    use std::sync::Arc;
    use std::time::Duration;

    let small = Pool::new(1);
    let other = Arc::new(Pool::new(2));
    for how in ["join", "scope"] {
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
                    _ => other.scope(|s| s.spawn(|_| wait())),
                }
            })
        };
        // Queued behind `outer` on the one worker: sends the signal the other pool waits for.
        let queued = small.spawn_fn(move || signal.send(()).unwrap());
        outer.join().unwrap();
        queued.join().unwrap();
    }
}
