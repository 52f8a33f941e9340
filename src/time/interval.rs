//! `interval`: ticks at a fixed period, with a choice of what to do about missed ticks.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::sleep::{sleep_until, Sleep};
use super::{context, deadline};

/// Ticks every `period`, the first tick at once.
///
/// A period too long for an `Instant` to hold (`Duration::MAX`) ticks once, then waits
/// as long as a `sleep` of that length: every deadline saturates, nothing overflows.
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
            MissedTickBehavior::Burst => deadline::add(due, period),
            MissedTickBehavior::Delay => deadline::add(now, period),
            MissedTickBehavior::Skip => {
                // The next point of the grid `due + k * period` after `now`. In u128
                // nanoseconds, where neither the lateness nor a period overflows.
                let late = now.saturating_duration_since(due).as_nanos();
                let period_nanos = period.as_nanos();
                let to_next = period_nanos - late % period_nanos;
                deadline::add(now, duration_of_nanos(to_next))
            }
        }
    }
}

/// A `Duration` of `nanos` nanoseconds, saturating at `Duration::MAX`.
fn duration_of_nanos(nanos: u128) -> Duration {
    const NANOS_PER_SEC: u128 = 1_000_000_000;
    match u64::try_from(nanos / NANOS_PER_SEC) {
        Ok(secs) => Duration::new(secs, (nanos % NANOS_PER_SEC) as u32),
        Err(_) => Duration::MAX,
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
        let next = if now.saturating_duration_since(due) > TOLERANCE {
            self.missed.next_after(due, now, self.period)
        } else {
            deadline::add(due, self.period)
        };
        self.sleep.reset(next);
        Poll::Ready(due)
    }

    /// Makes the next tick due a period from now (tokio's `reset`); the ticks after it
    /// follow a period apart.
    ///
    /// ```
    /// use braid::time::interval;
    /// use std::time::{Duration, Instant};
    ///
    /// let mut scheduler = braid::coro::Scheduler::new();
    /// scheduler.block_on(async {
    ///     let mut every = interval(Duration::from_millis(20));
    ///     every.tick().await; // at once
    ///     let reset_at = Instant::now();
    ///     every.reset();
    ///     assert!(every.tick().await >= reset_at + Duration::from_millis(20));
    /// }).unwrap();
    /// ```
    pub fn reset(&mut self) {
        self.reset_after(self.period);
    }

    /// Makes the next tick due now: the next `tick` completes at once (tokio's
    /// `reset_immediately`); the ticks after it follow a period apart.
    ///
    /// ```
    /// use braid::time::interval;
    /// use std::time::Duration;
    ///
    /// let mut scheduler = braid::coro::Scheduler::new();
    /// scheduler.block_on(async {
    ///     let mut hourly = interval(Duration::from_secs(3600));
    ///     hourly.tick().await; // at once
    ///     hourly.reset_immediately();
    ///     hourly.tick().await; // at once again, not in an hour
    /// }).unwrap();
    /// ```
    pub fn reset_immediately(&mut self) {
        self.reset_at(context::now());
    }

    /// Makes the next tick due `after` from now (tokio's `reset_after`); the ticks after
    /// it follow a period apart. An `after` too long for an `Instant` saturates.
    ///
    /// ```
    /// use braid::time::interval;
    /// use std::time::{Duration, Instant};
    ///
    /// let mut scheduler = braid::coro::Scheduler::new();
    /// scheduler.block_on(async {
    ///     let mut every = interval(Duration::from_secs(3600));
    ///     every.tick().await;
    ///     let start = Instant::now();
    ///     every.reset_after(Duration::from_millis(10));
    ///     let due = every.tick().await; // in 10 ms, not in an hour
    ///     assert!(due >= start + Duration::from_millis(10));
    ///     assert!(due < start + Duration::from_secs(3600));
    /// }).unwrap();
    /// ```
    pub fn reset_after(&mut self, after: Duration) {
        self.reset_at(deadline::add(context::now(), after));
    }

    /// Makes the next tick due at `deadline` (tokio's `reset_at`); the ticks after it
    /// follow a period apart. A deadline in the past makes the next `tick` complete at
    /// once, as a missed tick.
    ///
    /// ```
    /// use braid::time::interval;
    /// use std::time::{Duration, Instant};
    ///
    /// let mut scheduler = braid::coro::Scheduler::new();
    /// scheduler.block_on(async {
    ///     let mut every = interval(Duration::from_secs(3600));
    ///     every.tick().await;
    ///     let at = Instant::now() + Duration::from_millis(10);
    ///     every.reset_at(at);
    ///     assert_eq!(every.tick().await, at);
    /// }).unwrap();
    /// ```
    pub fn reset_at(&mut self, deadline: Instant) {
        self.sleep.reset(deadline);
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
