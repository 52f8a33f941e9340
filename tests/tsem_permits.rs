#![cfg(not(loom))]
//! `TSemPermit` as a user meets it (Python's `with sem:`): the permit comes back on
//! return, on panic, on abort, and when the acquiring future itself is cancelled;
//! `forget` keeps it taken.

mod common;

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use braid::coro::Scheduler;
use braid::exec::Pool;
use braid::stm::{atomically, TSem};
use braid::time::{sleep, timeout};
use common::quietly;

fn available(sem: &TSem) -> usize {
    atomically(|tx| sem.available(tx))
}

#[test]
fn a_permit_comes_back_on_return_and_on_panic() {
    let sem = TSem::new(3);
    let held = sem.acquire_permit();
    assert_eq!(available(&sem), 2);
    drop(held);
    assert_eq!(available(&sem), 3);

    let failed = quietly(|| {
        catch_unwind(AssertUnwindSafe(|| {
            let _permit = sem.acquire_permit();
            panic!("the job failed while holding its permit");
        }))
    });
    assert!(failed.is_err());
    assert_eq!(available(&sem), 3, "the panic gave the permit back");
}

#[test]
fn a_permit_dropped_by_a_panic_inside_a_transaction_comes_back_without_an_abort() {
    let sem = TSem::new(1);
    let permit = std::cell::Cell::new(Some(sem.acquire_permit()));
    let failed = quietly(|| {
        catch_unwind(AssertUnwindSafe(|| {
            atomically(|_tx| {
                let _held = permit.take(); // dropped by the unwind, inside the body
                panic!("the transaction body failed while holding a permit");
                #[allow(unreachable_code)]
                Ok(())
            })
        }))
    });
    assert!(failed.is_err());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while available(&sem) != 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the permit never came back"
        );
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

#[test]
fn at_most_n_threads_hold_permits_and_none_leaks() {
    let sem = TSem::new(2);
    let inside = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..8)
        .map(|n| {
            let (sem, inside, most) = (sem.clone(), inside.clone(), most.clone());
            std::thread::spawn(move || {
                for _ in 0..50 {
                    let _permit = sem.acquire_permit();
                    let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    std::thread::yield_now();
                    inside.fetch_sub(1, Ordering::SeqCst);
                    assert!(n != 5, "thread 5 fails holding a permit");
                }
            })
        })
        .collect();
    let failed = quietly(|| {
        threads
            .into_iter()
            .map(|t| t.join())
            .filter(Result::is_err)
            .count()
    });
    assert_eq!(failed, 1);
    assert!(most.load(Ordering::SeqCst) <= 2);
    assert_eq!(available(&sem), 2);
}

#[test]
fn tasks_give_permits_back_on_return_panic_and_abort() {
    let pool = Pool::new(2);
    let sem = TSem::new(2);
    let ok = pool.spawn({
        let sem = sem.clone();
        async move {
            let _permit = sem.acquire_permit_async().await;
            sleep(Duration::from_millis(1)).await;
        }
    });
    let failing = pool.spawn({
        let sem = sem.clone();
        async move {
            let _permit = sem.acquire_permit_async().await;
            panic!("failed holding a permit");
        }
    });
    assert!(ok.join().is_ok());
    assert!(quietly(|| failing.join()).unwrap_err().is_panic());
    assert_eq!(available(&sem), 2);

    let holder = pool.spawn({
        let sem = sem.clone();
        async move {
            let _permit = sem.acquire_permit_async().await;
            std::future::pending::<()>().await;
        }
    });
    while available(&sem) != 1 {
        std::thread::yield_now();
    }
    holder.abort();
    assert!(holder.join().unwrap_err().is_cancelled());
    assert_eq!(available(&sem), 2, "the aborted task's permit came back");
}

#[test]
fn cancelling_the_acquiring_future_leaks_nothing_and_loses_no_wake_up() {
    let sem = TSem::new(1);
    let held = sem.acquire_permit();
    // A waiter that gives up (its future dropped while waiting) takes nothing.
    {
        let mut waiting = pin!(sem.acquire_permit_async());
        let mut cx = Context::from_waker(Waker::noop());
        assert!(waiting.as_mut().poll(&mut cx).is_pending());
    }
    assert_eq!(available(&sem), 0);
    // A timeout around the acquire is the usual way to give up.
    let mut scheduler = Scheduler::new();
    let gave_up = scheduler
        .block_on(timeout(
            Duration::from_millis(5),
            sem.acquire_permit_async(),
        ))
        .unwrap();
    assert!(gave_up.is_err());
    assert_eq!(available(&sem), 0);

    // Two waiters; the first is cancelled after the release woke it, before it ran: the
    // second still gets the permit.
    let mut first = Box::pin(sem.acquire_permit_async());
    let mut second = Box::pin(sem.acquire_permit_async());
    let mut cx = Context::from_waker(Waker::noop());
    assert!(first.as_mut().poll(&mut cx).is_pending());
    assert!(second.as_mut().poll(&mut cx).is_pending());
    drop(held);
    drop(first);
    let Poll::Ready(permit) = second.as_mut().poll(&mut cx) else {
        panic!("the released permit went to the waiter still there");
    };
    assert_eq!(available(&sem), 0);
    drop(permit);
    assert_eq!(available(&sem), 1);
}

#[test]
fn a_permit_that_a_pool_task_is_waiting_for_arrives() {
    let pool = Pool::new(2);
    let sem = TSem::new(0);
    let mut waiter = pool.spawn({
        let sem = sem.clone();
        async move { sem.acquire_permit_async().await.forget() }
    });
    std::thread::sleep(Duration::from_millis(5));
    assert!(!waiter.is_finished());
    atomically(|tx| sem.release(tx));
    waiter
        .join_timeout(Duration::from_secs(10))
        .unwrap()
        .unwrap();
    assert_eq!(available(&sem), 0);
}

#[test]
fn forget_keeps_the_permit_taken_and_try_acquire_does_not_wait() {
    let sem = TSem::new(2);
    let permit = sem.try_acquire_permit().unwrap();
    assert_eq!(available(permit.semaphore()), 1);
    permit.forget();
    assert_eq!(available(&sem), 1);
    let last = sem.try_acquire_permit().unwrap();
    assert!(sem.try_acquire_permit().is_none());
    drop(last);
    assert_eq!(available(&sem), 1);
    atomically(|tx| sem.release(tx)); // a forgotten permit is returned by hand
    assert_eq!(available(&sem), 2);
}
