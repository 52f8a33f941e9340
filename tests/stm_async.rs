#![cfg(not(loom))]
//! `atomically_async` on a minimal executor written here: retry suspends tasks instead
//! of blocking the thread, and a commit from another thread wakes them.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;

use braid::stm::{atomically, atomically_async, check, TVar};

type BoxedTask = Pin<Box<dyn Future<Output = ()> + Send>>;

/// One thread, a FIFO of task ids, and wakers that push the id back.
struct MiniExecutor {
    ready: Mutex<VecDeque<usize>>,
    signal: Condvar,
}

struct TaskWaker {
    id: usize,
    queued: AtomicBool,
    executor: Arc<MiniExecutor>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        if !self.queued.swap(true, Ordering::AcqRel) {
            self.executor.ready.lock().unwrap().push_back(self.id);
            self.executor.signal.notify_one();
        }
    }
}

/// Runs every task to completion; returns how many polls returned `Pending`.
fn run_all(tasks: Vec<BoxedTask>) -> usize {
    let executor = Arc::new(MiniExecutor {
        ready: Mutex::new((0..tasks.len()).collect()),
        signal: Condvar::new(),
    });
    let wakers: Vec<Arc<TaskWaker>> = (0..tasks.len())
        .map(|id| {
            Arc::new(TaskWaker {
                id,
                queued: AtomicBool::new(true),
                executor: executor.clone(),
            })
        })
        .collect();
    let mut tasks: Vec<Option<BoxedTask>> = tasks.into_iter().map(Some).collect();
    let (mut left, mut pending) = (tasks.len(), 0);
    while left > 0 {
        let id = {
            let mut ready = executor.ready.lock().unwrap();
            loop {
                if let Some(id) = ready.pop_front() {
                    break id;
                }
                ready = executor.signal.wait(ready).unwrap();
            }
        };
        wakers[id].queued.store(false, Ordering::Release);
        let waker = Waker::from(wakers[id].clone());
        let Some(task) = tasks[id].as_mut() else {
            continue;
        };
        match task.as_mut().poll(&mut Context::from_waker(&waker)) {
            Poll::Ready(()) => {
                tasks[id] = None;
                left -= 1;
            }
            Poll::Pending => pending += 1,
        }
    }
    pending
}

#[test]
fn retrying_tasks_suspend_and_a_commit_from_another_thread_wakes_them() {
    let gate = TVar::new(false);
    let passed = TVar::new(0usize);
    let mut tasks: Vec<BoxedTask> = (0..64)
        .map(|_| {
            let (gate, passed) = (gate.clone(), passed.clone());
            Box::pin(async move {
                atomically_async(|tx| check(gate.read(tx)?)).await;
                atomically_async(|tx| passed.modify(tx, |n| n + 1)).await;
            }) as BoxedTask
        })
        .collect();
    // One more task proves the single executor thread stays free while 64 are waiting:
    // it opens the gate from another thread only after running itself.
    let opener = gate.clone();
    tasks.push(Box::pin(async move {
        thread::spawn(move || atomically(|tx| opener.write(tx, true)));
    }));
    let pending = run_all(tasks);
    assert_eq!(passed.load(), 64);
    assert!(
        pending >= 1,
        "waiting tasks should have suspended at least once"
    );
}

#[test]
fn a_commit_inside_a_task_wakes_another_task() {
    let mailbox: TVar<Option<u32>> = TVar::new(None);
    let got = TVar::new(0);
    let (m1, m2, g) = (mailbox.clone(), mailbox.clone(), got.clone());
    let receiver: BoxedTask = Box::pin(async move {
        let value = atomically_async(|tx| match m1.read(tx)? {
            Some(v) => Ok(v),
            None => braid::stm::retry(),
        })
        .await;
        atomically_async(|tx| g.write(tx, value)).await;
    });
    let sender: BoxedTask = Box::pin(async move {
        atomically_async(|tx| m2.write(tx, Some(42))).await;
    });
    run_all(vec![receiver, sender]);
    assert_eq!(got.load(), 42);
}

#[test]
fn dropping_a_suspended_future_deregisters_it() {
    let gate = TVar::new(false);
    let mut fut = Box::pin(atomically_async(|tx| check(gate.read(tx)?)));
    let waker = Waker::noop();
    assert!(fut
        .as_mut()
        .poll(&mut Context::from_waker(waker))
        .is_pending());
    drop(fut);
    // The committer finds no stale waiter to wake (and nothing to crash on).
    atomically(|tx| gate.write(tx, true));
    assert!(gate.load());
}

/// A committed future runs its `on_commit` hooks once, after the commit and outside the
/// transaction (a hook may start one of its own), before it resolves.
#[test]
fn async_commit_runs_its_hooks_outside_the_transaction() {
    let stock = TVar::new(1);
    let sold = TVar::new(0);
    let mut sell = Box::pin(atomically_async(|tx| {
        stock.modify(tx, |n| n - 1)?;
        let sold = sold.clone();
        tx.on_commit(move || atomically(|tx| sold.modify(tx, |n| n + 1)));
        Ok("sold")
    }));
    let mut cx = Context::from_waker(Waker::noop());
    assert_eq!(sell.as_mut().poll(&mut cx), Poll::Ready("sold"));
    assert_eq!((stock.load(), sold.load()), (0, 1));
}
