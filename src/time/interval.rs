//! `interval`: ticks at a fixed period, with a choice of what to do about missed ticks.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::context;
use super::sleep::{sleep_until, Sleep};

/// Ticks every `period`, the first tick at once.
///
/// # Panics
/// If `period` is zero (it would tick without end and never yield).
///
/// ```
/// use braid::time::interval;
/// use std::time::Duration;
///
/// let mut scheduler = braid::coro::Scheduler::new();
/// let ticks = scheduler.block_on(async {
///     let mut every = interval(Duration::from_millis(5));
///     let first = every.tick().await; // at once
///     let second = every.tick().await;
///     second - first
/// });
/// assert!(ticks.unwrap() >= Duration::from_millis(5));
/// ```
#[track_caller]
pub fn interval(period: Duration) -> Interval {
    interval_at(context::now(), period)
}

/// Ticks every `period`, the first tick at `start`.
///
/// # Panics
/// If `period` is zero.
#[track_caller]
pub fn interval_at(start: Instant, period: Duration) -> Interval {
    assert!(
        period > Duration::ZERO,
        "braid::time::interval needs a non-zero period"
    );
    Interval {
        sleep: sleep_until(start),
        period,
        missed: MissedTickBehavior::Burst,
    }
}

/// What an [`Interval`] does when ticks were missed (the code between two `tick`s took
/// longer than a period, or the thread was busy). A tick counts as missed when it is
/// noticed more than 5 ms after it was due. tokio's `MissedTickBehavior`, with the same
/// default.
///
/// With a period of 10 ms and ticks due at 10, 20, 30 and 40, where the tick at 10 is
/// noticed at 35:
///
/// | behaviour | the following ticks complete at |
/// |---|---|
/// | `Burst` | 35, 35 (the 20 and 30 ones, at once), then 40, 50, ... |
/// | `Delay` | 45, 55, 65, ... (a full period from when it was noticed) |
/// | `Skip` | 40, 50, ... (the next one on the original grid) |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MissedTickBehavior {
    /// Fire the missed ticks at once, one per `tick`, to catch up (the default).
    #[default]
    Burst,
    /// Start over: the next tick is a period after the late one was noticed.
    Delay,
    /// Drop the missed ticks and keep to the original grid.
    Skip,
}

/// How late a tick may be noticed and still count as on time.
const TOLERANCE: Duration = Duration::from_millis(5);

impl MissedTickBehavior {
    fn next_after(self, due: Instant, now: Instant, period: Duration) -> Instant {
        match self {
            MissedTickBehavior::Burst => due + period,
            MissedTickBehavior::Delay => now + period,
            MissedTickBehavior::Skip => {
                let late = now.duration_since(due).as_nanos();
                let period_nanos = period.as_nanos();
                let into_period = Duration::from_nanos((late % period_nanos) as u64);
                now + period - into_period
            }
        }
    }
}

/// Ticks at a fixed period: see [`interval`].
#[derive(Debug)]
pub struct Interval {
    sleep: Sleep,
    period: Duration,
    missed: MissedTickBehavior,
}

impl Interval {
    /// Waits for the next tick and returns when it was due.
    pub async fn tick(&mut self) -> Instant {
        poll_fn(|cx| self.poll_tick(cx)).await
    }

    /// Polls for the next tick (for hand-written futures).
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        if Pin::new(&mut self.sleep).poll(cx).is_pending() {
            return Poll::Pending;
        }
        let due = self.sleep.deadline();
        let now = context::now();
        let next = if now > due + TOLERANCE {
            self.missed.next_after(due, now, self.period)
        } else {
            due + self.period
        };
        self.sleep.reset(next);
        Poll::Ready(due)
    }

    /// Makes the next tick due a period from now.
    pub fn reset(&mut self) {
        self.sleep.reset(context::now() + self.period);
    }

    /// The period.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// What this interval does about missed ticks.
    pub fn missed_tick_behavior(&self) -> MissedTickBehavior {
        self.missed
    }

    /// Chooses what this interval does about missed ticks.
    ///
    /// ```
    /// use braid::time::{interval, MissedTickBehavior};
    /// use std::time::Duration;
    ///
    /// let mut every = interval(Duration::from_secs(1));
    /// every.set_missed_tick_behavior(MissedTickBehavior::Skip);
    /// assert_eq!(every.missed_tick_behavior(), MissedTickBehavior::Skip);
    /// ```
    pub fn set_missed_tick_behavior(&mut self, behavior: MissedTickBehavior) {
        self.missed = behavior;
    }
}
