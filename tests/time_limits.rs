#![cfg(not(loom))]
//! Time at its limits: durations and instants near what `Duration` and `Instant` can
//! hold never overflow anywhere in `braid::time` (tokio's `interval(Duration::MAX)` test,
//! translated, and properties over the whole range). Deadlines saturate as `sleep` does,
//! and nothing fires early.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use braid::time::{interval, interval_at, sleep, sleep_until, timeout, MissedTickBehavior};
use proptest::prelude::*;

/// The latest `Instant` this platform can hold after `from` (to the second).
fn latest_instant(from: Instant) -> Instant {
    let (mut fits, mut fails) = (0u64, u64::MAX);
    while fails - fits > 1 {
        let mid = fits + (fails - fits) / 2;
        if from.checked_add(Duration::from_secs(mid)).is_some() {
            fits = mid;
        } else {
            fails = mid;
        }
    }
    from + Duration::from_secs(fits)
}

fn noop_cx() -> Context<'static> {
    Context::from_waker(Waker::noop())
}

/// An hour: longer than any test runs, so a deadline this far off must not have fired.
const HOUR: Duration = Duration::from_secs(3600);

#[test]
fn interval_of_duration_max_ticks_once_then_waits() {
    let mut every = interval(Duration::MAX);
    let first = every.poll_tick(&mut noop_cx());
    assert!(first.is_ready());
    assert!(every.poll_tick(&mut noop_cx()).is_pending());
    every.reset();
    assert!(every.poll_tick(&mut noop_cx()).is_pending());
    every.reset_after(Duration::MAX);
    assert!(every.poll_tick(&mut noop_cx()).is_pending());
    every.reset_at(latest_instant(Instant::now()));
    assert!(every.poll_tick(&mut noop_cx()).is_pending());
}

#[test]
fn huge_sleeps_saturate_thirty_years_out() {
    let before = Instant::now();
    let nap = sleep(Duration::MAX);
    assert!(nap.deadline() >= before + Duration::from_secs(86_400 * 365 * 30));
    let mut nap = pin!(nap);
    assert!(nap.as_mut().poll(&mut noop_cx()).is_pending());
    let mut bounded = pin!(timeout(Duration::MAX, std::future::pending::<()>()));
    assert!(bounded.as_mut().poll(&mut noop_cx()).is_pending());
}

fn durations() -> impl Strategy<Value = Duration> {
    prop_oneof![
        (0u64..5_000).prop_map(Duration::from_micros),
        (3_600u64..u64::MAX / 2).prop_map(Duration::from_secs),
        (0u64..1_000_000).prop_map(|back| Duration::MAX - Duration::from_nanos(back)),
        (0u64..1_000).prop_map(|back| Duration::MAX - Duration::from_secs(back)),
        Just(Duration::MAX),
    ]
}

/// Instants from the near past to the last one the platform holds.
fn instants() -> impl Strategy<Value = Instant> {
    let now = Instant::now();
    let last = latest_instant(now);
    prop_oneof![
        (0u64..10_000)
            .prop_map(move |ms| now.checked_sub(Duration::from_millis(ms)).unwrap_or(now)),
        (1u64..1u64 << 40).prop_map(move |s| now + HOUR + Duration::from_secs(s)),
        (0u64..1_000_000).prop_map(move |back| last - Duration::from_nanos(back)),
        Just(last),
    ]
}

fn behaviors() -> impl Strategy<Value = MissedTickBehavior> {
    prop_oneof![
        Just(MissedTickBehavior::Burst),
        Just(MissedTickBehavior::Delay),
        Just(MissedTickBehavior::Skip),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A sleep's deadline is the exact sum when an `Instant` holds it, never earlier than
    /// now otherwise, and a sleep an hour or more away is pending.
    #[test]
    fn sleep_deadlines_are_exact_or_saturate_never_early(d in durations()) {
        let before = Instant::now();
        let nap = sleep(d);
        let after = Instant::now();
        match after.checked_add(d) {
            Some(latest_exact) => {
                prop_assert!(nap.deadline() >= before + d && nap.deadline() <= latest_exact);
            }
            None => prop_assert!(nap.deadline() >= before),
        }
        let mut nap = pin!(nap);
        let polled = nap.as_mut().poll(&mut noop_cx());
        prop_assert!(polled.is_pending() || d < HOUR);
    }

    /// An interval of any period from any start: its first tick is its start (at once if
    /// the start has passed), and with a period of an hour or more the next is not due,
    /// whatever the missed-tick behaviour; every reset saturates too.
    #[test]
    fn intervals_never_overflow_and_never_tick_early(
        start in instants(),
        period in durations().prop_filter("non-zero", |d| !d.is_zero()),
        behavior in behaviors(),
        after in durations(),
        at in instants(),
    ) {
        let mut every = interval_at(start, period);
        every.set_missed_tick_behavior(behavior);
        let mut cx = noop_cx();
        match every.poll_tick(&mut cx) {
            Poll::Ready(due) => prop_assert_eq!(due, start),
            Poll::Pending => prop_assert!(start > Instant::now()),
        }
        if period >= HOUR {
            prop_assert!(every.poll_tick(&mut cx).is_pending());
        }
        every.reset();
        prop_assert!(every.poll_tick(&mut cx).is_pending() || period < HOUR);
        every.reset_after(after);
        prop_assert!(every.poll_tick(&mut cx).is_pending() || after < HOUR);
        every.reset_at(at);
        match every.poll_tick(&mut cx) {
            Poll::Ready(due) => prop_assert_eq!(due, at),
            Poll::Pending => prop_assert!(at > Instant::now()),
        }
        every.reset_immediately();
        prop_assert!(every.poll_tick(&mut cx).is_ready());
    }

    /// `sleep_until` and `timeout` at any instant or duration: pending while the deadline
    /// is ahead, never a panic.
    #[test]
    fn far_deadlines_and_timeouts_wait(at in instants(), d in durations()) {
        let now = Instant::now();
        let mut until = pin!(sleep_until(at));
        match until.as_mut().poll(&mut noop_cx()) {
            Poll::Ready(()) => prop_assert!(at < now + HOUR),
            Poll::Pending => prop_assert!(at > now),
        }
        let mut bounded = pin!(timeout(d, std::future::pending::<()>()));
        let polled = bounded.as_mut().poll(&mut noop_cx());
        prop_assert!(polled.is_pending() || d < HOUR);
    }
}
