//! One timer: a [`Wheel`] behind a mutex, its clock, and the protocol by which one
//! thread at a time *drives* it (sleeps until its next deadline, then fires what is due).
//!
//! # Driving without a lost wake-up
//! A driver records itself and the tick it will wake at (`Driver`) under the wheel's
//! lock, then parks until that tick. Whoever registers an earlier entry does so under the
//! same lock: it sees the driver and the tick, lowers the tick and unparks the driver
//! (after unlocking). The parker remembers an unpark that comes before the park, so the
//! driver wakes whether the registration comes before or after it falls asleep. If no
//! thread drives at all, `register` says so, and the caller summons one (its executor's
//! `Host::summon_driver`). A driver that stops driving with entries still pending says so
//! too (`park_driving` returns it), and its executor hands the duty on. Both decisions
//! are taken under the wheel's lock, so a registration and a driver's leaving are
//! ordered: one of the two sees the other. An idle Pool worker becomes the driver only
//! while something is pending (`may_be_pending`); otherwise it parks where a summons
//! reaches it. `models/loom_time.rs` checks all of it.

use std::task::Waker;
use std::time::{Duration, Instant};

use super::wheel::{Key, Wheel};
use crate::sync::atomic::{AtomicU64, Ordering};
use crate::sync::park::Parker;
use crate::sync::{lock, Arc, Mutex};

/// How long a tick lasts: deadlines are rounded up to the next millisecond (never early).
const TICK: Duration = Duration::from_millis(1);
const NANOS_PER_TICK: u64 = TICK.as_nanos() as u64;
const TICKS_PER_SEC: u64 = 1_000_000_000 / NANOS_PER_TICK;

pub(crate) struct Timer {
    state: Mutex<State>,
    start: Instant,
    /// The wheel's next expiration tick (`u64::MAX` when empty) as of the last insert or
    /// firing, readable without the lock: a busy thread's cheap look at whether anything
    /// may be due. Never later than the true next expiration (a cancel can only make it
    /// early, and the next firing corrects it); every decision is taken under the lock.
    next_due: AtomicU64,
    /// Under loom, how far virtual time has jumped (see `skip_to`).
    #[cfg(loom)]
    skipped: Mutex<Option<Instant>>,
}

struct State {
    wheel: Wheel,
    driver: Option<Driver>,
}

/// The thread driving the timer: how to wake it, and the tick it will wake at.
struct Driver {
    parker: Arc<Parker>,
    until: Option<u64>,
}

/// What `register` did.
pub(crate) enum Registered {
    /// The deadline has passed: nothing was registered.
    Due,
    /// The entry is in the wheel. `summon`: no thread drives the timer; the caller must
    /// see that one does.
    Pending { key: Key, summon: bool },
}

impl Timer {
    pub(crate) fn new() -> Timer {
        Timer {
            state: Mutex::new(State {
                wheel: Wheel::new(),
                driver: None,
            }),
            start: Instant::now(),
            next_due: AtomicU64::new(u64::MAX),
            #[cfg(loom)]
            skipped: Mutex::new(None),
        }
    }

    /// The time this timer goes by: the clock's, or under loom, where a timed park returns
    /// at once, the deadline it was for (a virtual clock, like tokio's paused time).
    pub(crate) fn now(&self) -> Instant {
        let real = Instant::now();
        #[cfg(loom)]
        if let Some(skipped) = *lock(&self.skipped) {
            return skipped.max(real);
        }
        real
    }

    /// The first tick at or after `deadline`.
    fn tick_at(&self, deadline: Instant) -> u64 {
        let since = deadline.saturating_duration_since(self.start);
        // In u64 (`as_millis` and friends divide in u128, several times slower).
        let part = u64::from(since.subsec_nanos()).div_ceil(NANOS_PER_TICK);
        since
            .as_secs()
            .saturating_mul(TICKS_PER_SEC)
            .saturating_add(part)
    }

    /// The last tick that has begun.
    fn now_tick(&self) -> u64 {
        let since = self.now().saturating_duration_since(self.start);
        let part = u64::from(since.subsec_nanos()) / NANOS_PER_TICK;
        since
            .as_secs()
            .saturating_mul(TICKS_PER_SEC)
            .saturating_add(part)
    }

    fn instant_of(&self, tick: u64) -> Instant {
        super::deadline::add(self.start, Duration::from_millis(tick))
    }

    /// Registers `waker` to be woken at `deadline`.
    pub(crate) fn register(&self, deadline: Instant, waker: &Waker) -> Registered {
        let tick = self.tick_at(deadline);
        let mut state = lock(&self.state);
        let key = match state.wheel.insert(tick, waker.clone()) {
            Ok(key) => key,
            Err(refused) => {
                drop(state);
                drop(refused); // outside the lock, as in `set_waker`
                return Registered::Due;
            }
        };
        // The wheel's next expiration, not `tick`: an entry on a higher level expires (moves
        // down) at its slot's start, which comes first. Relaxed: a hint (see the field),
        // written only under the lock, which orders the decisions.
        let next = state.wheel.next_expiration().unwrap_or(u64::MAX);
        self.next_due.store(next, Ordering::Relaxed);
        let (unpark, summon) = match &mut state.driver {
            Some(driver) if driver.until.is_none_or(|until| tick < until) => {
                driver.until = Some(tick);
                (Some(driver.parker.clone()), false)
            }
            Some(_) => (None, false),
            None => (None, true),
        };
        drop(state);
        if let Some(parker) = unpark {
            parker.unpark();
        }
        Registered::Pending { key, summon }
    }

    /// Gives `key`'s entry a new waker; `false` if the entry has fired.
    pub(crate) fn set_waker(&self, key: Key, waker: &Waker) -> bool {
        let replaced = lock(&self.state).wheel.replace_waker(key, waker.clone());
        // The old waker (or the refused clone) drops here, outside the lock: dropping a
        // waker may drop a task, whose destructors may use this timer.
        replaced.is_ok()
    }

    /// Removes `key`'s entry if it has not fired.
    pub(crate) fn cancel(&self, key: Key) {
        let waker = lock(&self.state).wheel.cancel(key);
        drop(waker); // outside the lock, as in `set_waker`
    }

    /// Whether `key`'s entry is still waiting to fire.
    pub(crate) fn is_pending(&self, key: Key) -> bool {
        lock(&self.state).wheel.contains(key)
    }

    /// Whether no entry is pending.
    pub(crate) fn is_empty(&self) -> bool {
        lock(&self.state).wheel.len() == 0
    }

    /// The instant the next entry may be due, if any is pending.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let next = lock(&self.state).wheel.next_expiration()?;
        Some(self.instant_of(next))
    }

    /// A cheap guess at whether any entry is pending (no lock, no clock), for an idle
    /// worker deciding whether to drive. A stale "no" is safe for a thread that then
    /// parks where a registration's summons can reach it: the summons orders its next
    /// look after the registration.
    pub(crate) fn may_be_pending(&self) -> bool {
        self.next_due.load(Ordering::Relaxed) != u64::MAX
    }

    /// A cheap guess at whether an entry is due (no lock; reads the clock only when
    /// something is pending), for a busy worker between jobs.
    pub(crate) fn may_be_due(&self) -> bool {
        let next = self.next_due.load(Ordering::Relaxed);
        next != u64::MAX && next <= self.now_tick()
    }

    /// Wakes every entry that is due; returns how many.
    pub(crate) fn fire_due(&self) -> usize {
        let now = self.now_tick();
        let mut due = Vec::new();
        {
            let mut state = lock(&self.state);
            if state
                .wheel
                .next_expiration()
                .is_some_and(|next| next <= now)
            {
                state.wheel.advance(now, |waker| due.push(waker));
            }
            // Also after nothing was due: cancels leave the hint too early, and each
            // look would then take this lock for nothing.
            let next = state.wheel.next_expiration().unwrap_or(u64::MAX);
            self.next_due.store(next, Ordering::Relaxed);
        }
        // Outside the lock: a woken task may run (or register) on this thread.
        let fired = due.len();
        due.into_iter().for_each(Waker::wake);
        fired
    }

    /// Parks on `parker` as this timer's driver until its next deadline, or until
    /// unparked. Returns `None` at once if another thread drives it; otherwise
    /// `Some(pending)`, whether entries were still pending when this thread stopped
    /// driving (then its executor must see that another thread drives, or drive again).
    /// The caller fires what is due.
    pub(crate) fn park_driving(&self, parker: &Arc<Parker>) -> Option<bool> {
        let until = {
            let mut state = lock(&self.state);
            if state.driver.is_some() {
                return None;
            }
            let until = state.wheel.next_expiration();
            state.driver = Some(Driver {
                parker: parker.clone(),
                until,
            });
            until
        };
        match until {
            Some(tick) => {
                let deadline = self.instant_of(tick);
                parker.park_timeout(deadline.saturating_duration_since(Instant::now()));
            }
            None => parker.park(),
        }
        let mut state = lock(&self.state);
        let driver = state.driver.take();
        let pending = state.wheel.len() > 0;
        drop(state);
        #[cfg(loom)]
        if let Some(tick) = driver.and_then(|driver| driver.until) {
            self.skip_to(self.instant_of(tick));
        }
        #[cfg(not(loom))]
        drop(driver);
        Some(pending)
    }

    /// Under loom, where a timed park returns at once: time jumps to `deadline`.
    #[cfg(loom)]
    pub(crate) fn skip_to(&self, deadline: Instant) {
        let mut skipped = lock(&self.skipped);
        *skipped = Some(skipped.map_or(deadline, |skipped| skipped.max(deadline)));
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// The hint must not be later than the wheel's next expiration: a thread that parks
    /// until that expiration and then asks the hint would otherwise find nothing "due"
    /// and park again at once, spinning until the entry's own tick.
    #[test]
    fn the_hint_is_never_later_than_the_next_expiration() {
        let timer = Timer::new();
        let waker = std::task::Waker::noop();
        // An hour away: the entry sits on a high level, whose slot starts well before it.
        let far = Instant::now() + Duration::from_secs(3600);
        let Registered::Pending { key: far_key, .. } = timer.register(far, waker) else {
            panic!("an hour away is not due");
        };
        let next = lock(&timer.state).wheel.next_expiration().unwrap();
        assert!(timer.next_due.load(Ordering::Relaxed) <= next);
        assert!(
            timer.next_deadline().unwrap() < far,
            "the slot starts before the entry"
        );
        // Nearer entries lower it; cancels may leave it early, never late.
        let near = Instant::now() + Duration::from_millis(200);
        let Registered::Pending { key: near_key, .. } = timer.register(near, waker) else {
            panic!("200 ms away is not due");
        };
        assert!(timer.next_due.load(Ordering::Relaxed) <= timer.tick_at(near));
        timer.cancel(near_key);
        let next = lock(&timer.state).wheel.next_expiration().unwrap();
        assert!(timer.next_due.load(Ordering::Relaxed) <= next);
        timer.cancel(far_key);
        assert!(timer.is_empty());
    }
}
