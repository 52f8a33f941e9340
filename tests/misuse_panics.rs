#![cfg(not(loom))]
//! Misuse panics as a user meets them: each names what went wrong and points at the
//! user's own line (`#[track_caller]`), not into braid; a task that waits for itself
//! panics instead of hanging, on both executors.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::channel;
use std::sync::{Mutex, Once};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use braid::coro::{self, Generator, Scheduler};
use braid::exec::Pool;
use braid::time::interval;
use braid::JoinSet;

/// Every panic in this test binary: the thread, the message and where it was raised.
static PANICS: Mutex<Vec<(ThreadId, String, String, u32)>> = Mutex::new(Vec::new());

fn record_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let message = info
                .payload()
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| info.payload().downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            let at = info.location().unwrap();
            // Quiet but not silent: a failing test's own assertion shows here too.
            eprintln!("panicked at {at}: {message}");
            PANICS.lock().unwrap().push((
                thread::current().id(),
                message,
                at.file().to_string(),
                at.line(),
            ));
        }))
    });
}

/// Runs `f`, which must panic on this thread, and returns its message and location.
fn panic_of<R>(f: impl FnOnce() -> R) -> (String, String, u32) {
    record_panics();
    let me = thread::current().id();
    assert!(
        catch_unwind(AssertUnwindSafe(f)).is_err(),
        "expected a panic"
    );
    let panics = PANICS.lock().unwrap();
    let (_, message, file, line) = panics
        .iter()
        .rev()
        .find(|(thread, ..)| *thread == me)
        .expect("the hook saw the panic")
        .clone();
    (message, file, line)
}

/// Asserts the panic was raised on `line` of this file and its message contains `says`.
#[track_caller]
fn assert_points_here((message, file, line): (String, String, u32), here: u32, says: &str) {
    assert_eq!((file.as_str(), line), (file!(), here), "{message}");
    assert!(message.contains(says), "{message}");
}

/// Waits for a panic, on any thread, whose message contains `says`.
fn wait_for_panic(says: &str) -> (String, String, u32) {
    record_panics();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let found = PANICS
            .lock()
            .unwrap()
            .iter()
            .find(|(_, message, ..)| message.contains(says))
            .map(|(_, message, file, line)| (message.clone(), file.clone(), *line));
        if let Some(found) = found {
            return found;
        }
        assert!(Instant::now() < deadline, "no panic saying {says:?}");
        thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn coro_spawn_outside_a_scheduler_points_at_the_call() {
    record_panics();
    let line = line!() + 1;
    let panic = panic_of(|| coro::spawn(async {}));
    assert_points_here(panic, line, "works only inside a task of a running");
}

#[test]
fn blocking_joins_on_scheduler_handles_point_at_the_call() {
    record_panics();
    let scheduler = Scheduler::new();
    let handle = scheduler.spawn(async {});
    let line = line!() + 1;
    let panic = panic_of(|| handle.join());
    assert_points_here(panic, line, "would block the single-threaded Scheduler");

    let mut handle = scheduler.spawn(async {});
    let line = line!() + 1;
    let panic = panic_of(|| handle.join_timeout(Duration::from_millis(1)));
    assert_points_here(panic, line, "JoinHandle::join_timeout would block");

    let mut set = JoinSet::new();
    set.push(scheduler.spawn(async {}));
    let line = line!() + 1;
    let panic = panic_of(|| set.join_next_blocking());
    assert_points_here(panic, line, "JoinSet::join_next_blocking would block");
    let line = line!() + 1;
    let panic = panic_of(|| set.join_next_blocking_timeout(Duration::ZERO));
    assert_points_here(
        panic,
        line,
        "JoinSet::join_next_blocking_timeout would block",
    );
}

#[test]
fn a_pool_of_no_workers_points_at_the_call() {
    record_panics();
    let line = line!() + 1;
    let panic = panic_of(|| Pool::new(0));
    assert_points_here(panic, line, "at least one worker");
    let line = line!() + 1;
    let panic = panic_of(|| Pool::builder().workers(0).build());
    assert_points_here(panic, line, "at least one worker");
}

#[test]
fn other_misuse_points_at_the_call() {
    record_panics();
    let pool = Pool::new(1);
    let cancelled = pool.spawn(std::future::pending::<()>());
    cancelled.abort();
    let error = cancelled.join().unwrap_err();
    let line = line!() + 1;
    let panic = panic_of(|| error.into_panic());
    assert_points_here(panic, line, "the task was cancelled, it did not panic");

    let line = line!() + 1;
    let panic = panic_of(|| interval(Duration::ZERO));
    assert_points_here(panic, line, "non-zero period");

    let mut finished: Generator<u8, u8, (), _> = Generator::new(|_co| async move {});
    finished.start();
    let line = line!() + 1;
    let panic = panic_of(|| finished.resume(1));
    assert_points_here(panic, line, "already completed");
    let line = line!() + 1;
    let panic = panic_of(|| finished.start());
    assert_points_here(panic, line, "already started");

    let mut thrown: Generator<u8, Result<(), u8>, (), _> = Generator::new(|_co| async move {});
    thrown.close();
    let line = line!() + 1;
    let panic = panic_of(|| thrown.throw(3));
    assert_points_here(panic, line, "already completed");
}

#[test]
fn a_pool_task_that_joins_its_own_handle_panics_instead_of_hanging() {
    record_panics();
    let pool = Pool::new(2);
    let (give, mine) = channel();
    let line = line!() + 3;
    let task = pool.spawn_fn(move || {
        let me: braid::JoinHandle<()> = mine.recv().unwrap();
        me.join().unwrap();
    });
    let id = task.id();
    give.send(task).unwrap();
    let panic = wait_for_panic(&format!("task {id} waits for its own handle"));
    assert_points_here(panic, line, "JoinHandle::join: task");
    assert!(wait_for_panic(&format!("task {id} "))
        .0
        .contains("cannot wait for itself"));
}

#[test]
fn a_pool_task_that_waits_on_its_own_handle_with_a_timeout_panics() {
    record_panics();
    let pool = Pool::new(2);
    let (give, mine) = channel();
    let (back, returned) = channel();
    let line = line!() + 4;
    let task = pool.spawn(async move {
        let mut me: braid::JoinHandle<()> = mine.recv().unwrap();
        let waited = catch_unwind(AssertUnwindSafe(|| {
            me.join_timeout(Duration::from_secs(60));
        }));
        back.send((waited.is_err(), me)).unwrap();
    });
    let id = task.id();
    give.send(task).unwrap();
    let (panicked, handle) = returned.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(panicked);
    let panic = wait_for_panic(&format!("JoinHandle::join_timeout: task {id} waits"));
    assert_points_here(panic, line, "cannot wait for itself");
    // The handle still works from outside.
    assert!(handle.join().is_ok());
}

#[test]
fn a_pool_task_that_awaits_its_own_handle_panics() {
    record_panics();
    let pool = Pool::new(2);
    let (give, mine) = channel();
    let task = pool.spawn(async move {
        let me: braid::JoinHandle<()> = mine.recv().unwrap();
        me.await.unwrap();
    });
    let id = task.id();
    give.send(task).unwrap();
    let (message, ..) = wait_for_panic(&format!("JoinHandle::poll: task {id} waits"));
    assert!(message.contains("cannot wait for itself"), "{message}");
}

#[test]
fn a_scheduler_task_that_waits_for_itself_panics_saying_so() {
    record_panics();
    let mut scheduler = Scheduler::new();
    let slot = std::rc::Rc::new(std::cell::Cell::new(None));
    let line = line!() + 5;
    let task = scheduler.spawn({
        let slot = slot.clone();
        async move {
            let me: braid::JoinHandle<u8> = slot.take().unwrap();
            me.join().unwrap()
        }
    });
    let id = task.id();
    slot.set(Some(task));
    scheduler.run().unwrap();
    let panic = wait_for_panic(&format!("JoinHandle::join: task {id} waits"));
    assert_points_here(panic, line, "cannot wait for itself");

    let outer = scheduler.spawn({
        let slot = slot.clone();
        async move {
            let me: braid::JoinHandle<u8> = slot.take().unwrap();
            me.await.unwrap()
        }
    });
    let id = outer.id();
    slot.set(Some(outer));
    scheduler.run().unwrap();
    let (message, ..) = wait_for_panic(&format!("JoinHandle::poll: task {id} waits"));
    assert!(message.contains("cannot wait for itself"), "{message}");
}
