//! `braid::time` as a user meets it, through the public API only: sleeps and timeouts on
//! every executor (the Pool, the Scheduler, a hand-written `block_on`, a tokio runtime),
//! the edge cases of durations and instants, intervals and their missed ticks.

use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use braid::coro::{self, Scheduler};
use braid::exec::Pool;
use braid::time::{interval, interval_at, sleep, sleep_until, timeout, MissedTickBehavior};

/// The smallest executor: poll, park, repeat (what a user writes without a runtime).
fn hand_written_block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        thread::park();
    }
}

fn poll_once<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
    Pin::new(future).poll(&mut Context::from_waker(Waker::noop()))
}

#[test]
fn a_sleep_never_ends_before_its_deadline_on_any_executor() {
    let wait = Duration::from_millis(15);
    let check = |elapsed: Duration| assert!(elapsed >= wait, "woke after {elapsed:?}");

    let start = Instant::now();
    hand_written_block_on(sleep(wait));
    check(start.elapsed());

    let pool = Pool::new(2);
    let start = Instant::now();
    pool.spawn(sleep(wait)).join().unwrap();
    check(start.elapsed());
    let start = Instant::now();
    pool.block_on(sleep(wait));
    check(start.elapsed());

    let mut scheduler = Scheduler::new();
    let start = Instant::now();
    scheduler.block_on(sleep(wait)).unwrap();
    check(start.elapsed());

    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let start = Instant::now();
    runtime.block_on(sleep(wait));
    check(start.elapsed());
}

#[test]
fn coro_sleep_is_the_same_sleep_and_works_outside_a_scheduler() {
    hand_written_block_on(coro::sleep(Duration::from_millis(1)));
    let mut scheduler = Scheduler::new();
    scheduler
        .block_on(async {
            let a = coro::spawn(coro::sleep(Duration::from_millis(5)));
            let b = coro::spawn(sleep(Duration::from_millis(5)));
            a.await.unwrap();
            b.await.unwrap();
        })
        .unwrap();
}

#[test]
fn sleeping_tasks_hold_no_worker() {
    let pool = Pool::new(1);
    let sleepers: Vec<_> = (0..1000)
        .map(|_| pool.spawn(sleep(Duration::from_secs(60))))
        .collect();
    // The only worker is free for other work while a thousand tasks sleep.
    assert_eq!(pool.spawn_fn(|| 6 * 7).join().unwrap(), 42);
    assert!(sleepers.iter().all(|sleeper| !sleeper.is_finished()));
    for sleeper in &sleepers {
        sleeper.abort();
    }
    for sleeper in sleepers {
        assert!(sleeper.join().unwrap_err().is_cancelled());
    }
}

#[test]
fn many_sleeps_on_a_pool_all_complete_and_none_early() {
    let pool = Pool::new(2);
    let start = Instant::now();
    let tasks: Vec<_> = (0..2000u64)
        .map(|i| {
            pool.spawn(async move {
                let wait = Duration::from_millis(i % 20);
                sleep(wait).await;
                wait
            })
        })
        .collect();
    for task in tasks {
        let wait = task.join().unwrap();
        assert!(start.elapsed() >= wait);
    }
}

#[test]
fn a_zero_sleep_and_a_past_deadline_complete_on_the_first_poll() {
    assert!(poll_once(&mut sleep(Duration::ZERO)).is_ready());
    let past = Instant::now() - Duration::from_millis(5);
    assert!(poll_once(&mut sleep_until(past)).is_ready());
    let mut timed = timeout(Duration::ZERO, std::future::ready(5));
    assert_eq!(
        poll_once(&mut timed),
        Poll::Ready(Ok(5)),
        "a ready future wins at zero"
    );
}

#[test]
fn a_huge_sleep_waits_until_dropped_and_a_timeout_bounds_it() {
    let mut forever = sleep(Duration::MAX);
    assert!(poll_once(&mut forever).is_pending());
    assert!(forever.deadline() > Instant::now() + Duration::from_secs(86_400 * 365));
    drop(forever);
    let bounded = hand_written_block_on(timeout(Duration::from_millis(5), sleep(Duration::MAX)));
    assert!(bounded.is_err());
    // And a huge timeout around a quick future is just the future.
    assert_eq!(
        hand_written_block_on(timeout(Duration::MAX, async { 3 })),
        Ok(3)
    );
}

#[test]
fn a_timeout_around_a_panicking_future_reports_the_panic_through_the_task() {
    let pool = Pool::new(1);
    let task = pool.spawn(timeout(Duration::from_secs(5), async {
        sleep(Duration::from_millis(1)).await;
        panic!("disk full");
    }));
    let error = task.join().unwrap_err();
    assert!(error.is_panic());
    assert_eq!(error.panic_message(), Some("disk full"));
    // The pool is fine and its timer still works.
    pool.spawn(sleep(Duration::from_millis(1))).join().unwrap();
}

#[test]
fn elapsed_is_an_error_that_says_what_happened() {
    let elapsed = hand_written_block_on(timeout(
        Duration::from_millis(1),
        std::future::pending::<()>(),
    ))
    .unwrap_err();
    let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(elapsed);
    assert_eq!(boxed.to_string(), "deadline has elapsed");
    assert!(format!("{elapsed:?}").contains("Elapsed"));
}

#[test]
fn a_sleep_moved_between_executors_still_wakes() {
    // First polled inside a Scheduler (its timer), finished on a plain thread.
    let mut nap = Box::pin(sleep(Duration::from_millis(20)));
    let mut scheduler = Scheduler::new();
    scheduler
        .block_on(async {
            assert!(poll_once_in_task(nap.as_mut()).await.is_pending());
        })
        .unwrap();
    drop(scheduler);
    let start = Instant::now();
    hand_written_block_on(nap);
    assert!(start.elapsed() < Duration::from_secs(10));
}

/// Polls `future` once from inside a task, with the task's waker.
async fn poll_once_in_task<F: Future>(future: Pin<&mut F>) -> Poll<F::Output> {
    let mut future = Some(future);
    std::future::poll_fn(move |cx| Poll::Ready(future.take().unwrap().poll(cx))).await
}

#[test]
fn a_dropped_sleep_wakes_nobody() {
    // The waker counts its clones: once the sleep is dropped, its timer entry (and the
    // clone the entry held) is gone.
    struct Counting(AtomicUsize);
    impl Wake for Counting {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let counting = Arc::new(Counting(AtomicUsize::new(0)));
    let waker = Waker::from(counting.clone());
    let mut nap = Box::pin(sleep(Duration::from_millis(5)));
    assert!(nap
        .as_mut()
        .poll(&mut Context::from_waker(&waker))
        .is_pending());
    assert!(Arc::strong_count(&counting) > 2, "the timer holds a clone");
    drop(nap);
    assert_eq!(Arc::strong_count(&counting), 2, "the timer let go of it");
    thread::sleep(Duration::from_millis(20));
    assert_eq!(counting.0.load(Ordering::SeqCst), 0, "never woken");
}

#[test]
fn interval_ticks_on_its_grid() {
    let mut scheduler = Scheduler::new();
    let ticks = scheduler
        .block_on(async {
            let start = Instant::now();
            let mut every = interval_at(start, Duration::from_millis(4));
            let mut ticks = Vec::new();
            for _ in 0..4 {
                ticks.push(every.tick().await - start);
            }
            ticks
        })
        .unwrap();
    let expected: Vec<_> = (0..4).map(|i| Duration::from_millis(4 * i)).collect();
    assert_eq!(ticks, expected, "each tick reports when it was due");
}

/// Ticks of a 10 ms interval whose consumer stalls 35 ms after the first tick: when
/// each reported tick was due, in ms after the start.
fn ticks_after_a_stall(behavior: MissedTickBehavior) -> Vec<u128> {
    let mut scheduler = Scheduler::new();
    scheduler
        .block_on(async {
            let start = Instant::now();
            let mut every = interval_at(start, Duration::from_millis(10));
            every.set_missed_tick_behavior(behavior);
            every.tick().await;
            thread::sleep(Duration::from_millis(35)); // the stall
            let mut due = Vec::new();
            for _ in 0..3 {
                due.push((every.tick().await - start).as_millis());
            }
            due
        })
        .unwrap()
}

#[test]
fn missed_ticks_burst_by_default() {
    assert_eq!(
        interval(Duration::from_secs(1)).missed_tick_behavior(),
        MissedTickBehavior::Burst
    );
    assert_eq!(ticks_after_a_stall(MissedTickBehavior::Burst), [10, 20, 30]);
}

#[test]
fn missed_ticks_skip_to_the_grid() {
    let due = ticks_after_a_stall(MissedTickBehavior::Skip);
    assert_eq!(due[0], 10, "the late tick itself still comes");
    assert!(due[1] % 10 == 0 && due[1] >= 40, "{due:?}");
    assert_eq!(due[2], due[1] + 10);
}

#[test]
fn missed_ticks_delay_restarts_the_period() {
    let due = ticks_after_a_stall(MissedTickBehavior::Delay);
    assert_eq!(due[0], 10);
    assert!(due[1] >= 45, "{due:?}");
    assert!(due[2] >= due[1] + 10);
}

#[test]
#[should_panic(expected = "non-zero period")]
fn a_zero_period_is_refused() {
    let _ = interval(Duration::ZERO);
}

#[test]
fn timeouts_work_under_a_tokio_runtime() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let fired = Arc::new(AtomicBool::new(false));
    let flag = fired.clone();
    let outcome = runtime.block_on(async move {
        let late = timeout(Duration::from_millis(5), std::future::pending::<()>()).await;
        flag.store(true, Ordering::SeqCst);
        late
    });
    assert!(outcome.is_err());
    assert!(fired.load(Ordering::SeqCst));
}

#[test]
fn timers_keep_time_while_every_worker_is_busy() {
    // One worker, never idle: a task that yields until the sleeper is done keeps it busy,
    // so only the busy worker's own look at the timer between jobs can end the sleep.
    let pool = Pool::new(1);
    let done = Arc::new(AtomicBool::new(false));
    let sleeper = pool.spawn({
        let done = done.clone();
        async move {
            sleep(Duration::from_millis(5)).await;
            done.store(true, Ordering::SeqCst);
        }
    });
    let spinner = pool.spawn({
        let done = done.clone();
        async move {
            let give_up = Instant::now() + Duration::from_secs(30);
            while !done.load(Ordering::SeqCst) && Instant::now() < give_up {
                coro::yield_now().await;
            }
            done.load(Ordering::SeqCst)
        }
    });
    assert!(
        spinner.join().unwrap(),
        "the sleep never ended while the worker was busy"
    );
    sleeper.join().unwrap();
}

#[test]
fn an_earlier_deadline_wakes_a_driver_sleeping_until_a_later_one() {
    // The pool's driver sleeps until the 60 s deadline; a 5 ms sleep registered later
    // must wake it early. The process-wide timer's thread, likewise.
    let pool = Pool::new(2);
    let far = pool.spawn(sleep(Duration::from_secs(60)));
    thread::sleep(Duration::from_millis(20)); // the driver is asleep until `far`
    let mut near = pool.spawn(sleep(Duration::from_millis(5)));
    assert!(
        near.join_timeout(Duration::from_secs(30)).is_some(),
        "the driver overslept"
    );
    far.abort();

    let far = thread::spawn(|| {
        hand_written_block_on(timeout(
            Duration::from_secs(60),
            sleep(Duration::from_secs(120)),
        ))
    });
    thread::sleep(Duration::from_millis(20));
    let start = Instant::now();
    hand_written_block_on(sleep(Duration::from_millis(5)));
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "the timer thread overslept"
    );
    drop(far); // detached: it ends within a minute
}
