#![cfg(not(loom))]
//! Deadlines of retrying transactions whose variables are busy: another thread commits
//! to what the transaction read, in a tight loop (a `Hammer`: every wait of the
//! transaction is likely cut short by a wake-up or finds a change as it registers) or
//! exactly between the body's read and its registration as a waiter (an `Adversary`:
//! every registration finds a change). The deadline must hold anyway, and an async
//! transaction must keep returning `Pending`, with a wake-up, so that its executor runs
//! timers and other tasks. The bounds are generous (2 s for a 5 ms timeout): they catch
//! a transaction that ignores its deadline, not a slow machine.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::{Duration, Instant};

use braid::coro::Scheduler;
use braid::exec::Pool;
use braid::stm::{
    atomically, atomically_async, atomically_async_timeout, atomically_timeout, check, retry,
    StmResult, TVar, Transaction,
};

const TIMEOUT: Duration = Duration::from_millis(5);
const BOUND: Duration = Duration::from_secs(2);

/// A thread that commits `x += 1` in a tight loop until dropped.
struct Hammer {
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Hammer {
    fn start(x: &TVar<u64>) -> Hammer {
        let stop = Arc::new(AtomicBool::new(false));
        let (x, stopped) = (x.clone(), stop.clone());
        let (started, running) = mpsc::channel();
        let thread = thread::spawn(move || {
            started.send(()).unwrap();
            while !stopped.load(Ordering::Relaxed) {
                atomically(|tx| x.modify(tx, |n| n + 1));
            }
        });
        running.recv().unwrap();
        Hammer {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Hammer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
    }
}

/// A body that reads the busy variable and waits for a value it never reaches.
fn wait_for_max(x: &TVar<u64>) -> impl FnMut(&mut Transaction) -> StmResult<u64> + '_ {
    move |tx| {
        let n = x.read(tx)?;
        check(n == u64::MAX)?;
        Ok(n)
    }
}

/// Runs `f` on a thread of its own and returns its result, or panics naming `what` if
/// it takes longer than `BOUND` (a transaction stuck past its deadline, or a poll that
/// never returns, fails the test instead of hanging it).
fn within_bound<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (done, finished) = mpsc::channel();
    let started = Instant::now();
    thread::spawn(move || done.send(f()).unwrap());
    match finished.recv_timeout(BOUND) {
        Ok(value) => value,
        Err(_) => panic!(
            "{what}: still running after {:?} (the timeouts here are {TIMEOUT:?})",
            started.elapsed()
        ),
    }
}

#[test]
fn blocking_timeout_returns_promptly_while_a_thread_commits_to_what_it_read() {
    let x = TVar::new(0u64);
    let _hammer = Hammer::start(&x);
    // Several rounds: whether a wait is cut short depends on the interleaving.
    for round in 0..20 {
        let x = x.clone();
        let got = within_bound("atomically_timeout", move || {
            atomically_timeout(TIMEOUT, wait_for_max(&x))
        });
        assert_eq!(got, None, "round {round}");
    }
}

#[test]
fn blocking_timeout_still_sees_a_value_that_arrives_while_its_variables_are_busy() {
    let (x, ready) = (TVar::new(0u64), TVar::new(false));
    let _hammer = Hammer::start(&x);
    let setter = {
        let ready = ready.clone();
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            atomically(|tx| ready.write(tx, true));
        })
    };
    let got = atomically_timeout(Duration::from_secs(60), |tx| {
        x.read(tx)?;
        check(ready.read(tx)?)
    });
    setter.join().unwrap();
    assert_eq!(got, Some(()));
}

/// Counts its clones: a waker still registered anywhere holds one.
struct Unpark(thread::Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

#[test]
fn async_timeout_returns_promptly_and_leaves_no_waiter_while_a_thread_commits() {
    let x = TVar::new(0u64);
    for round in 0..20 {
        let hammer = Hammer::start(&x);
        let x = x.clone();
        let (outcome, unpark) = within_bound("atomically_async_timeout", move || {
            let unpark = Arc::new(Unpark(thread::current()));
            let waker = Waker::from(unpark.clone());
            let mut cx = Context::from_waker(&waker);
            let mut wait = Box::pin(atomically_async_timeout(TIMEOUT, wait_for_max(&x)));
            let outcome = loop {
                if let Poll::Ready(outcome) = wait.as_mut().poll(&mut cx) {
                    break outcome;
                }
                thread::park();
            };
            (outcome, unpark)
        });
        assert_eq!(outcome, None, "round {round}");
        // Counted once the hammer has stopped: a committer in the middle of waking holds
        // a clone for a moment. Then only `unpark` is left: neither a wait list nor the
        // timer kept one.
        drop(hammer);
        assert_eq!(
            Arc::strong_count(&unpark),
            1,
            "round {round}: a waiter was left registered"
        );
    }
}

#[test]
fn time_timeout_around_atomically_async_fires_on_the_scheduler_while_a_thread_commits() {
    let x = TVar::new(0u64);
    let _hammer = Hammer::start(&x);
    let got = within_bound(
        "time::timeout(atomically_async) on a Scheduler",
        move || {
            let mut scheduler = Scheduler::new();
            scheduler
                .block_on(braid::time::timeout(
                    TIMEOUT,
                    atomically_async(wait_for_max(&x)),
                ))
                .expect("a pending timer is no deadlock")
                .is_err()
        },
    );
    assert!(got, "the transaction committed a value it never saw");
}

#[test]
fn a_task_waiting_on_busy_variables_leaves_its_only_worker_free_for_other_tasks() {
    let x = TVar::new(0u64);
    // Declared before the hammer, so dropped after it: a worker stuck in a poll (the bug
    // this test catches) gets out once the hammer stops, and the pool can shut down.
    let pool = Pool::new(1);
    let hammer = Hammer::start(&x);
    let waiter = {
        let x = x.clone();
        pool.spawn(async move { atomically_async(wait_for_max(&x)).await })
    };
    // Give the waiter the worker first, then ask the same worker for something else.
    thread::sleep(Duration::from_millis(10));
    let other = pool.spawn(async { 7 });
    let got = within_bound(
        "a task behind a retrying one on a 1-worker Pool",
        move || other.join().unwrap(),
    );
    assert_eq!(got, 7);
    // The waiter is still waiting: give it what it waits for.
    drop(hammer);
    atomically(|tx| x.write(tx, u64::MAX));
    assert_eq!(waiter.join().unwrap(), u64::MAX);
}

/// A thread that commits `x += 1` when asked, and says when it has. A body that asks it
/// between reading `x` and retrying finds, every time, that `x` changed before it could
/// register as a waiter: the race a busy variable makes likely, made certain.
struct Adversary {
    x: TVar<u64>,
    asked: AtomicU64,
    done: AtomicU64,
    stop: AtomicBool,
}

/// Stops its adversary when dropped, also when a test fails: a transaction stuck
/// against it (the bug these tests catch) then gets out, and a pool can shut down.
struct Stopping(Arc<Adversary>);

impl Drop for Stopping {
    fn drop(&mut self) {
        self.0.stop.store(true, Ordering::SeqCst);
    }
}

impl Adversary {
    fn start(x: &TVar<u64>) -> Stopping {
        let adversary = Arc::new(Adversary {
            x: x.clone(),
            asked: AtomicU64::new(0),
            done: AtomicU64::new(0),
            stop: AtomicBool::new(false),
        });
        let serving = adversary.clone();
        thread::spawn(move || serving.serve());
        Stopping(adversary)
    }

    fn serve(&self) {
        while !self.stop.load(Ordering::SeqCst) {
            let asked = self.asked.load(Ordering::SeqCst);
            if self.done.load(Ordering::SeqCst) < asked {
                atomically(|tx| self.x.modify(tx, |n| n + 1));
                self.done.store(asked, Ordering::SeqCst);
            } else {
                thread::yield_now();
            }
        }
    }

    /// Has `x` committed to by the adversary's thread, and waits until it is (or until
    /// the adversary stops).
    fn commit_now(&self) {
        let ticket = self.asked.fetch_add(1, Ordering::SeqCst) + 1;
        while self.done.load(Ordering::SeqCst) < ticket && !self.stop.load(Ordering::SeqCst) {
            thread::yield_now();
        }
    }
}

/// Waits for `ready`, having read `x` and had the adversary commit to it.
fn wait_against(
    adversary: &Stopping,
    ready: &TVar<bool>,
) -> impl FnMut(&mut Transaction) -> StmResult<()> + Send + 'static {
    let (adversary, ready) = (adversary.0.clone(), ready.clone());
    let x = adversary.x.clone();
    move |tx| {
        if ready.read(tx)? {
            return Ok(());
        }
        x.read(tx)?;
        adversary.commit_now();
        retry()
    }
}

#[test]
fn blocking_timeout_returns_although_every_registration_finds_a_change() {
    let (x, ready) = (TVar::new(0u64), TVar::new(false));
    let adversary = Adversary::start(&x);
    let body = wait_against(&adversary, &ready);
    let got = within_bound("atomically_timeout against an adversary", move || {
        atomically_timeout(TIMEOUT, body)
    });
    assert_eq!(got, None);
}

/// Counts the wake-ups it is asked for.
struct CountWakes(AtomicU64);

impl Wake for CountWakes {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn async_poll_returns_pending_with_a_wake_up_although_every_registration_finds_a_change() {
    let (x, ready) = (TVar::new(0u64), TVar::new(false));
    let adversary = Adversary::start(&x);
    let body = wait_against(&adversary, &ready);
    let wakes = Arc::new(CountWakes(AtomicU64::new(0)));
    let waker = Waker::from(wakes.clone());
    let (first, mut wait) = within_bound("one poll of atomically_async against an adversary", {
        let waker = waker.clone();
        move || {
            let mut wait = Box::pin(atomically_async(body));
            let first = wait.as_mut().poll(&mut Context::from_waker(&waker));
            (first, wait)
        }
    });
    assert_eq!(first, Poll::Pending, "the first poll cannot commit");
    assert!(
        wakes.0.load(Ordering::SeqCst) >= 1,
        "Pending with no registration and no wake-up: the task would never run again"
    );
    // The adversary gives up; what the task waits for arrives.
    drop(adversary);
    atomically(|tx| ready.write(tx, true));
    assert_eq!(
        wait.as_mut().poll(&mut Context::from_waker(&waker)),
        Poll::Ready(())
    );
    drop((wait, waker));
    assert_eq!(Arc::strong_count(&wakes), 1, "a waiter was left registered");
}

#[test]
fn async_timeout_fires_on_the_scheduler_although_every_registration_finds_a_change() {
    let (x, ready) = (TVar::new(0u64), TVar::new(false));
    let adversary = Adversary::start(&x);
    let body = wait_against(&adversary, &ready);
    let got = within_bound("atomically_async_timeout against an adversary", move || {
        Scheduler::new()
            .block_on(atomically_async_timeout(TIMEOUT, body))
            .expect("a pending timer is no deadlock")
    });
    assert_eq!(got, None);
}

#[test]
fn a_task_against_an_adversary_leaves_its_only_worker_free_for_other_tasks() {
    let (x, ready) = (TVar::new(0u64), TVar::new(false));
    // Declared before the adversary, so dropped after it stops.
    let pool = Pool::new(1);
    let adversary = Adversary::start(&x);
    let waiter = pool.spawn(atomically_async(wait_against(&adversary, &ready)));
    // Give the waiter the worker first, then ask the same worker for something else.
    thread::sleep(Duration::from_millis(10));
    let other = pool.spawn(async { 7 });
    let got = within_bound(
        "a task behind a retrying one on a 1-worker Pool",
        move || other.join().unwrap(),
    );
    assert_eq!(got, 7);
    drop(adversary);
    atomically(|tx| ready.write(tx, true));
    waiter.join().unwrap();
}
