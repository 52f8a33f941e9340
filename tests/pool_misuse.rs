//! Misusing a Pool from its own threads fails cleanly: `shutdown` there panics in the
//! calling task only, and dropping the last handle there winds the pool down. Before
//! these rules, the first aborted the process ("panic in a destructor during cleanup",
//! exit 134) and the second failed with "failed to join thread: Resource deadlock
//! avoided".
//!
//! An abort would kill the test harness, so each scenario runs in a child process (this
//! test binary, running one ignored test): the parent checks that the child exited
//! normally, and so a regression fails one test instead of taking the others down.
#![cfg(not(loom))]

mod common;

use std::process::Command;
use std::sync::atomic::AtomicUsize;
use std::sync::{mpsc, Arc};
use std::time::Duration;

use braid::exec::{self, Pool};
use common::counted::{settle, Counted};
use common::quietly;

/// Runs the ignored test `name` of this binary in a child process and fails unless it
/// passed (a crash or an abort shows as a signal or exit code 134 here).
fn in_child_process(name: &str) {
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            name,
            "--exact",
            "--ignored",
            "--test-threads=1",
            "--nocapture",
        ])
        .output()
        .expect("cannot start this test binary again");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the child running {name} did not pass ({}):\n{stdout}\n{stderr}",
        output.status
    );
    assert!(
        stdout.contains("1 passed"),
        "the child ran no test:\n{stdout}"
    );
}

const SHUTDOWN_MESSAGE: &str = "Pool::shutdown called on one of the pool's own threads";

#[test]
fn shutdown_on_a_worker_panics_in_that_task_only() {
    in_child_process("child_shutdown_on_a_worker");
}

#[test]
#[ignore = "run in a child process by shutdown_on_a_worker_panics_in_that_task_only"]
fn child_shutdown_on_a_worker() {
    for timed in [false, true] {
        let live = Arc::new(AtomicUsize::new(0));
        let pool = Pool::new(2);
        let other = {
            let kept = Counted::new(&live);
            pool.spawn(async move {
                std::future::pending::<()>().await;
                drop(kept);
            })
        };
        let (send_pool, receive_pool) = mpsc::channel::<Pool>();
        let task = pool.spawn(async move {
            let pool = receive_pool.recv().unwrap();
            if timed {
                pool.shutdown_timeout(Duration::from_secs(1));
            } else {
                pool.shutdown();
            }
        });
        send_pool.send(pool).unwrap();
        let error = quietly(|| task.join()).unwrap_err();
        assert!(error.is_panic(), "{error}");
        let message = error.panic_message().unwrap();
        assert!(message.contains(SHUTDOWN_MESSAGE), "{message}");
        // The pool, given up by that call, wound down: the other task was cancelled.
        assert!(other.join().unwrap_err().is_cancelled());
        assert_eq!(settle(&live, 0), 0);
    }
}

#[test]
fn shutdown_on_a_blocking_thread_panics_in_that_closure_only() {
    in_child_process("child_shutdown_on_a_blocking_thread");
}

#[test]
#[ignore = "run in a child process by shutdown_on_a_blocking_thread_panics_in_that_closure_only"]
fn child_shutdown_on_a_blocking_thread() {
    let pool = Pool::new(1);
    let (send_pool, receive_pool) = mpsc::channel::<Pool>();
    let task = pool.spawn_blocking(move || receive_pool.recv().unwrap().shutdown());
    send_pool.send(pool).unwrap();
    let error = quietly(|| task.join()).unwrap_err();
    assert!(
        error.panic_message().unwrap().contains(SHUTDOWN_MESSAGE),
        "{error}"
    );
}

#[test]
fn dropping_the_last_handle_on_a_worker_winds_the_pool_down() {
    in_child_process("child_drop_on_a_worker");
}

#[test]
#[ignore = "run in a child process by dropping_the_last_handle_on_a_worker_winds_the_pool_down"]
fn child_drop_on_a_worker() {
    for closure in [false, true] {
        let live = Arc::new(AtomicUsize::new(0));
        let pool = Arc::new(Pool::new(2));
        let other = {
            let kept = Counted::new(&live);
            pool.spawn(async move {
                std::future::pending::<()>().await;
                drop(kept);
            })
        };
        let (go, wait_for_go) = mpsc::channel::<()>();
        let last = pool.clone();
        let task = if closure {
            pool.spawn_fn(move || {
                wait_for_go.recv().unwrap();
                drop(last);
                // Spawning on the pool is refused now, and says so through the handle.
                exec::spawn(async { 1 }).join().unwrap_err().is_cancelled()
            })
        } else {
            pool.spawn(async move {
                wait_for_go.recv().unwrap();
                drop(last);
                exec::spawn(async { 1 }).await.unwrap_err().is_cancelled()
            })
        };
        drop(pool);
        go.send(()).unwrap();
        let refused = task
            .join()
            .expect("the task that dropped the pool finishes");
        assert!(refused, "a spawn after the drop is refused");
        assert!(other.join().unwrap_err().is_cancelled());
        assert_eq!(settle(&live, 0), 0);
    }
}

#[test]
fn dropping_the_last_handle_on_a_blocking_thread_winds_the_pool_down() {
    in_child_process("child_drop_on_a_blocking_thread");
}

#[test]
#[ignore = "run in a child process by dropping_the_last_handle_on_a_blocking_thread_winds_the_pool_down"]
fn child_drop_on_a_blocking_thread() {
    let pool = Arc::new(Pool::new(1));
    let (go, wait_for_go) = mpsc::channel::<()>();
    let last = pool.clone();
    let task = pool.spawn_blocking(move || {
        wait_for_go.recv().unwrap();
        drop(last);
        "done"
    });
    drop(pool);
    go.send(()).unwrap();
    assert_eq!(task.join().unwrap(), "done");
}
