//! `sleep` and `sleep_until`: a future that completes at a deadline, holding a timer
//! entry only while it waits (registered on its first poll, cancelled when dropped).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use super::timer::{Registered, Timer};
use super::wheel::Key;
use super::{context, deadline};
use crate::sync::Arc;

/// Waits until `duration` has passed; other tasks run meanwhile. Works in Pool tasks,
/// Scheduler tasks, under `block_on` and under any other executor.
///
/// A zero `duration` completes on the first poll, without a timer entry. A `duration` too
/// large to add to the current `Instant` (`Duration::MAX`) waits thirty years, which is
/// to say until the future is dropped. Deadlines are rounded up to the millisecond: a
/// sleep never ends early, and typically ends within a millisecond after its deadline.
///
/// ```
/// use braid::exec::Pool;
/// use braid::time::sleep;
/// use std::time::{Duration, Instant};
///
/// let pool = Pool::new(2);
/// let start = Instant::now();
/// // A thousand sleeping tasks hold no worker thread.
/// let naps: Vec<_> = (0..1000).map(|_| pool.spawn(sleep(Duration::from_millis(20)))).collect();
/// for nap in naps {
///     nap.join().unwrap();
/// }
/// assert!(start.elapsed() >= Duration::from_millis(20));
/// ```
pub fn sleep(duration: Duration) -> Sleep {
    Sleep::new(deadline::add(context::now(), duration))
}

/// Waits until `deadline`. A deadline in the past completes on the first poll.
///
/// ```
/// use braid::time::sleep_until;
/// use std::time::{Duration, Instant};
///
/// let mut scheduler = braid::coro::Scheduler::new();
/// let wake_at = Instant::now() + Duration::from_millis(10);
/// scheduler.block_on(sleep_until(wake_at)).unwrap();
/// assert!(Instant::now() >= wake_at);
/// scheduler.block_on(sleep_until(wake_at)).unwrap(); // in the past: at once
/// ```
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep::new(deadline)
}

/// The future of [`sleep`] and [`sleep_until`]. Dropping it before it completes removes
/// its timer entry, so abandoned sleeps cost nothing.
#[must_use = "a Sleep does nothing unless awaited"]
pub struct Sleep {
    deadline: Instant,
    entry: Option<Entry>,
    /// Registers with the process-wide timer whatever thread polls it (see
    /// `for_blocking_wait`).
    process_timer: bool,
}

/// A pending timer entry and the waker it holds.
struct Entry {
    timer: Arc<Timer>,
    key: Key,
    waker: Waker,
    /// Whether the deadline may lie past the wheel's reach, where the entry fires early.
    far: bool,
}

/// Deadlines further than this may be past the wheel's reach (about 2.2 years).
const NEAR: Duration = Duration::from_secs(86_400 * 365);

impl Sleep {
    pub(crate) fn new(deadline: Instant) -> Sleep {
        Sleep {
            deadline,
            entry: None,
            process_timer: false,
        }
    }

    /// A sleep for a thread that blocks while it waits (`JoinHandle::join_timeout`): it
    /// uses the process-wide timer, which its own thread drives, since the timer of the
    /// executor on this thread may be one that only this (now blocked) thread drives.
    pub(crate) fn for_blocking_wait(deadline: Instant) -> Sleep {
        Sleep {
            deadline,
            entry: None,
            process_timer: true,
        }
    }

    /// When this sleep completes.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Whether the deadline has passed.
    pub fn is_elapsed(&self) -> bool {
        context::now() >= self.deadline
    }

    /// Moves the deadline, as if this were a new `sleep_until(deadline)`.
    pub fn reset(&mut self, deadline: Instant) {
        self.cancel();
        self.deadline = deadline;
    }

    fn cancel(&mut self) {
        if let Some(entry) = self.entry.take() {
            entry.timer.cancel(entry.key);
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let process_timer = this.process_timer;
        let poll = |timer: Option<(&Arc<Timer>, &dyn Fn())>| {
            let Some((timer, summon)) = timer else {
                return Poll::Ready(()); // under loom, outside an executor: virtual time
            };
            let now = timer.now();
            if now >= this.deadline {
                this.cancel();
                return Poll::Ready(());
            }
            if let Some(entry) = &mut this.entry {
                if Arc::ptr_eq(&entry.timer, timer) {
                    // An entry fires only once the timer's clock has reached its tick,
                    // which is at or after the deadline, so with the deadline not reached
                    // it is still pending unless it was clamped to the wheel's reach
                    // (2.2 years): then it fired early and is registered anew below.
                    let pending = if entry.waker.will_wake(cx.waker()) {
                        !entry.far || timer.is_pending(entry.key)
                    } else {
                        timer.set_waker(entry.key, cx.waker())
                    };
                    if pending {
                        entry.waker.clone_from(cx.waker());
                        return Poll::Pending;
                    }
                }
            }
            // First poll, an entry that fired early, or a move to another thread's timer.
            this.cancel();
            match timer.register(this.deadline, cx.waker()) {
                Registered::Due => Poll::Ready(()),
                Registered::Pending {
                    key,
                    summon: needed,
                } => {
                    if needed {
                        summon();
                    }
                    this.entry = Some(Entry {
                        timer: timer.clone(),
                        key,
                        waker: cx.waker().clone(),
                        far: this.deadline.saturating_duration_since(now) > NEAR,
                    });
                    Poll::Pending
                }
            }
        };
        if process_timer {
            context::with_process_timer(poll)
        } else {
            context::with_timer(poll)
        }
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        self.cancel();
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline)
            .field("registered", &self.entry.is_some())
            .finish()
    }
}
