#![cfg(not(loom))]
//! Task ids as a user meets them: unique across both executors, visible inside the task,
//! on its handle and on its error.

mod common;

use std::collections::HashSet;

use braid::coro::{self, Scheduler};
use braid::exec::{self, Pool};
use braid::{JoinSet, TaskId};
use common::quietly;

#[test]
fn ids_are_unique_across_both_executors_and_threads() {
    let pool = Pool::new(2);
    let scheduler = Scheduler::new();
    let mut ids = HashSet::new();
    for _ in 0..100 {
        assert!(ids.insert(pool.spawn(async {}).id()));
        assert!(ids.insert(pool.spawn_fn(|| {}).id()));
        assert!(ids.insert(scheduler.spawn(async {}).id()));
    }
    let from_threads: Vec<Vec<TaskId>> = (0..4)
        .map(|_| {
            let pool = Pool::new(1);
            std::thread::spawn(move || (0..100).map(|_| pool.spawn(async {}).id()).collect())
        })
        .map(|thread| thread.join().unwrap())
        .collect();
    for id in from_threads.into_iter().flatten() {
        assert!(ids.insert(id), "{id} handed out twice");
    }
    assert_eq!(ids.len(), 700);
}

#[test]
fn a_task_sees_its_own_id_on_every_way_of_spawning() {
    let pool = Pool::new(2);
    let future = pool.spawn(async { TaskId::current() });
    let id = future.id();
    assert_eq!(future.join().unwrap(), Some(id));

    let closure = pool.spawn_fn(TaskId::current);
    let id = closure.id();
    assert_eq!(closure.join().unwrap(), Some(id));

    let (outer, inner) = pool
        .spawn(async {
            let inner = exec::spawn(async { TaskId::current() });
            let inner_id = inner.id();
            let outer = TaskId::current();
            assert_eq!(inner.await.unwrap(), Some(inner_id));
            (outer, inner_id)
        })
        .join()
        .unwrap();
    assert_ne!(outer, Some(inner));

    let blocking = pool.spawn_fn(|| exec::spawn_blocking(TaskId::current));
    let blocking = blocking.join().unwrap();
    let id = blocking.id();
    assert_eq!(blocking.join().unwrap(), Some(id));

    let mut scheduler = Scheduler::new();
    let task = scheduler.spawn(async {
        let child = coro::spawn(async { TaskId::current() });
        let child_id = child.id();
        assert_eq!(child.await.unwrap(), Some(child_id));
        TaskId::current()
    });
    let id = task.id();
    assert_eq!(scheduler.block_on(task).unwrap().unwrap(), Some(id));
}

#[test]
fn outside_any_task_there_is_no_current_id() {
    assert_eq!(TaskId::current(), None);
    let pool = Pool::new(1);
    assert_eq!(pool.block_on(async { TaskId::current() }), None);
    let mut scheduler = Scheduler::new();
    assert_eq!(
        scheduler.block_on(async { TaskId::current() }).unwrap(),
        None
    );
    // After a task ran on this thread, the thread is no task again.
    scheduler.spawn(async {});
    scheduler.run().unwrap();
    assert_eq!(TaskId::current(), None);
}

#[test]
fn a_join_error_carries_the_id_and_says_it() {
    let pool = Pool::new(1);
    let failed = pool.spawn_fn(|| -> () { panic!("bad") });
    let id = failed.id();
    let error = quietly(|| failed.join().unwrap_err());
    assert_eq!(error.id(), id);
    assert!(
        error
            .to_string()
            .starts_with(&format!("task {id} spawned at ")),
        "{error}"
    );
    assert!(
        format!("{error:?}").contains(&format!("id: {id}")),
        "{error:?}"
    );

    let cancelled = pool.spawn(std::future::pending::<()>());
    let id = cancelled.id();
    cancelled.abort();
    let error = cancelled.join().unwrap_err();
    assert_eq!(error.id(), id);
    assert!(
        error.to_string().contains(&format!("task {id} ")),
        "{error}"
    );

    let mut scheduler = Scheduler::new();
    let aborted = scheduler.spawn(std::future::pending::<()>());
    let id = aborted.id();
    aborted.abort();
    assert_eq!(scheduler.block_on(aborted).unwrap().unwrap_err().id(), id);
}

#[test]
fn errors_in_a_join_set_name_the_task_spawned_in_a_loop() {
    let pool = Pool::new(2);
    let mut set = JoinSet::new();
    let mut which = std::collections::HashMap::new();
    for n in 0..10u32 {
        let handle = pool.spawn(async move { assert!(n % 3 != 0, "{n} is bad") });
        which.insert(handle.id(), n);
        set.push(handle);
    }
    let mut bad = quietly(|| {
        let mut bad = Vec::new();
        while let Some(result) = set.join_next_blocking() {
            if let Err(error) = result {
                assert_eq!(
                    error.panic_message(),
                    Some(&*format!("{} is bad", which[&error.id()]))
                );
                bad.push(which[&error.id()]);
            }
        }
        bad
    });
    bad.sort();
    assert_eq!(bad, [0, 3, 6, 9]);
}

#[test]
fn display_and_debug_show_the_number() {
    let pool = Pool::new(1);
    let id = pool.spawn(async {}).id();
    assert_eq!(id.to_string(), id.as_u64().to_string());
    assert_eq!(format!("{id:?}"), format!("TaskId({})", id.as_u64()));
}
