//! `Deadlock` names each blocked task, in `Display` and as data: its id, its spawn site,
//! and what it waits on. Written against the public API only.
#![cfg(not(loom))]

use std::future::Future;

use braid::coro::{self, Scheduler, WaitsOn};
use braid::stm::{atomically_async, check, TVar};

#[test]
fn a_deadlock_names_each_task_its_spawn_site_and_the_transaction_it_waits_in() {
    let (fork, knife) = (TVar::new(false), TVar::new(false));
    let mut scheduler = Scheduler::new().isolated();
    let mut handles = Vec::new();
    let line = line!() + 2;
    for (mine, theirs) in [(fork.clone(), knife.clone()), (knife, fork)] {
        handles.push(scheduler.spawn(async move {
            atomically_async(|tx| check(theirs.read(tx)?)).await;
            atomically_async(|tx| mine.write(tx, true)).await;
        }));
    }
    let deadlock = scheduler.run().unwrap_err();
    let ids: Vec<_> = deadlock.tasks().iter().map(|task| task.id()).collect();
    assert_eq!(ids, [handles[0].id(), handles[1].id()], "in spawn order");
    let text = deadlock.to_string();
    for task in deadlock.tasks() {
        assert_eq!(task.waits_on(), WaitsOn::Transaction);
        assert_eq!(task.spawned_at().file(), file!());
        assert_eq!(task.spawned_at().line(), line);
        let named = format!(
            "task {} (spawned at {}) waits in a transaction's retry",
            task.id(),
            task.spawned_at()
        );
        assert!(text.contains(&named), "{named} not in: {text}");
    }
}

#[test]
fn a_task_waiting_on_a_join_handle_names_the_task_it_waits_for() {
    let mut scheduler = Scheduler::new();
    let (child_line, parent_line) = (line!() + 1, line!() + 1);
    let parent = scheduler.spawn(async { coro::spawn(std::future::pending::<()>()).await });
    let deadlock = scheduler.run().unwrap_err();
    let [waiting, child] = deadlock.tasks() else {
        panic!("two blocked tasks: {deadlock}");
    };
    assert_eq!(waiting.id(), parent.id());
    assert_eq!(waiting.spawned_at().line(), parent_line);
    assert_eq!(waiting.waits_on(), WaitsOn::JoinHandle(child.id()));
    assert_eq!(child.spawned_at().line(), child_line);
    assert_eq!(child.waits_on(), WaitsOn::Other);
    let text = deadlock.to_string();
    let named = format!(
        "task {} (spawned at {}) waits on the JoinHandle of task {} (spawned at {})",
        parent.id(),
        waiting.spawned_at(),
        child.id(),
        child.spawned_at()
    );
    assert!(text.contains(&named), "{named} not in: {text}");
    assert!(
        text.contains("waits on a future that nothing can wake"),
        "{text}"
    );
}

#[test]
fn block_on_names_the_tasks_but_not_its_own_future() {
    let mut scheduler = Scheduler::new();
    let stuck = scheduler.spawn(std::future::pending::<()>());
    let stuck_id = stuck.id();
    let deadlock = scheduler.block_on(stuck).unwrap_err();
    assert_eq!(deadlock.blocked(), 1);
    assert_eq!(deadlock.tasks()[0].id(), stuck_id);
    assert_eq!(deadlock.waiting_on_other_futures(), 1);
}

#[test]
fn a_task_waiting_on_several_handles_names_the_earliest() {
    let mut scheduler = Scheduler::new();
    let (first, second) = (
        scheduler.spawn(std::future::pending::<()>()),
        scheduler.spawn(std::future::pending::<()>()),
    );
    let (first_id, second_id) = (first.id(), second.id());
    let waiter = scheduler.spawn(async move {
        // Polls both handles, so its waker sits in both join slots.
        let mut first = std::pin::pin!(first);
        let mut second = std::pin::pin!(second);
        std::future::poll_fn(|cx| {
            let _ = first.as_mut().poll(cx);
            let _ = second.as_mut().poll(cx);
            std::task::Poll::<()>::Pending
        })
        .await;
    });
    let deadlock = scheduler.run().unwrap_err();
    let blocked = deadlock
        .tasks()
        .iter()
        .find(|task| task.id() == waiter.id())
        .unwrap();
    assert_eq!(
        blocked.waits_on(),
        WaitsOn::JoinHandle(first_id.min(second_id))
    );
}
