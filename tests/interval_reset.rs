#![cfg(not(loom))]
//! `Interval::reset`, `reset_immediately`, `reset_after` and `reset_at`, translated from
//! tokio's `tests/time_interval.rs` (which runs on a paused clock; here the clock is real,
//! so each check is on the instants the ticks report as due, which do not depend on
//! how late the test thread is).

use std::time::{Duration, Instant};

use braid::coro::Scheduler;
use braid::exec::Pool;
use braid::time::{interval_at, sleep};

const PERIOD: Duration = Duration::from_millis(20);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Runs `f` in a Scheduler task.
fn on_scheduler<F: std::future::Future>(f: F) -> F::Output {
    Scheduler::new().block_on(f).unwrap()
}

#[test]
fn reset_makes_the_next_tick_a_period_after_the_reset() {
    on_scheduler(async {
        let start = Instant::now();
        let mut every = interval_at(start, PERIOD);
        assert_eq!(every.tick().await, start);
        assert_eq!(every.tick().await, start + PERIOD);
        sleep(ms(5)).await;
        let before = Instant::now();
        every.reset();
        let after = Instant::now();
        let due = every.tick().await;
        assert!(
            due >= before + PERIOD && due <= after + PERIOD,
            "{:?}",
            due - start
        );
        assert_eq!(every.tick().await, due + PERIOD);
    });
}

#[test]
fn reset_immediately_makes_the_next_tick_due_now() {
    on_scheduler(async {
        let start = Instant::now();
        let mut every = interval_at(start, ms(3_600_000));
        assert_eq!(every.tick().await, start);
        let before = Instant::now();
        every.reset_immediately();
        let after = Instant::now();
        let due = every.tick().await; // now, not in an hour
        assert!(due >= before && due <= after);
    });
}

#[test]
fn reset_after_makes_the_next_tick_due_after_that_long() {
    on_scheduler(async {
        let start = Instant::now();
        let mut every = interval_at(start, PERIOD);
        assert_eq!(every.tick().await, start);
        let before = Instant::now();
        every.reset_after(ms(30));
        let after = Instant::now();
        let due = every.tick().await;
        assert!(due >= before + ms(30) && due <= after + ms(30));
        assert_eq!(
            every.tick().await,
            due + PERIOD,
            "then a period apart again"
        );
    });
}

#[test]
fn reset_at_makes_the_next_tick_due_then() {
    on_scheduler(async {
        let start = Instant::now();
        let mut every = interval_at(start, PERIOD);
        assert_eq!(every.tick().await, start);
        every.reset_at(start + ms(45));
        assert_eq!(every.tick().await, start + ms(45));
        assert_eq!(every.tick().await, start + ms(45) + PERIOD);
    });
}

#[test]
fn reset_at_a_past_instant_ticks_at_once_and_resumes_from_it() {
    let pool = Pool::new(1);
    pool.block_on(async {
        let start = Instant::now();
        let mut every = interval_at(start, PERIOD);
        assert_eq!(every.tick().await, start);
        sleep(ms(5)).await;
        every.reset_at(start); // in the past: due at once, on time by the Burst rule
        assert_eq!(every.tick().await, start);
        assert_eq!(every.tick().await, start + PERIOD);
    });
}
