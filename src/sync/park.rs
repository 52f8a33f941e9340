//! How one thread sleeps until another wakes it: a flag and a condition variable (an
//! idle Pool worker, a Scheduler with nothing to run, a thread waiting on a Pool job,
//! and under loom a thread in `retry`). An `unpark` that comes before the `park` is
//! remembered, so the pair can never miss each other; one that comes when nobody will
//! park again is harmless.

use crate::sync::{lock, Condvar, Mutex};

pub(crate) struct Parker {
    notified: Mutex<bool>,
    condvar: Condvar,
}

impl Parker {
    pub(crate) fn new() -> Parker {
        Parker {
            notified: Mutex::new(false),
            condvar: Condvar::new(),
        }
    }

    /// Sleeps until `unpark` (or returns at once if one came since the last `park`).
    pub(crate) fn park(&self) {
        let mut notified = lock(&self.notified);
        while !*notified {
            notified = self
                .condvar
                .wait(notified)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        *notified = false;
    }

    /// Like `park`, but returns after `timeout` at the latest.
    #[cfg(not(loom))]
    pub(crate) fn park_timeout(&self, timeout: std::time::Duration) {
        let mut notified = lock(&self.notified);
        if !*notified {
            notified = self
                .condvar
                .wait_timeout(notified, timeout)
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
        }
        *notified = false;
    }

    /// Loom has no clock: a timed park is one that times out at once.
    #[cfg(loom)]
    pub(crate) fn park_timeout(&self, _timeout: std::time::Duration) {
        crate::sync::thread::yield_now();
        *lock(&self.notified) = false;
    }

    pub(crate) fn unpark(&self) {
        *lock(&self.notified) = true;
        self.condvar.notify_one();
    }
}

/// One thread's sleep until a particular waker wakes it (a thread in `retry` and its
/// committer): made on the sleeping thread, woken from any.
///
/// Under std, the thread's own park token: `Thread::unpark`, then `thread::park`. A
/// wake-up that arrives after the waiter timed out and left is a stray token, which the
/// thread's next `park` may consume as a spurious wake-up; std allows that, and nothing
/// else in std (`join`, `Mutex`) parks on that token.
///
/// Under loom, a [`Parker`] of its own. loom's `join` and mutexes park on the thread's
/// token and assert that the wake-up was theirs, so a committer's unpark reaching a
/// waiter that timed out and went on to `join` failed inside loom, an outcome no real
/// thread has (`models/loom_timeout.rs` at three preemptions). With a parker of its own,
/// a late wake-up sets a flag nobody reads.
#[cfg(not(loom))]
pub(crate) struct Sleeper(crate::sync::thread::Thread);

#[cfg(not(loom))]
impl Sleeper {
    pub(crate) fn for_current_thread() -> Sleeper {
        Sleeper(crate::sync::thread::current())
    }
    pub(crate) fn wake(&self) {
        self.0.unpark();
    }
    /// Sleeps until `wake`, or spuriously; only on the thread that made it.
    pub(crate) fn sleep(&self) {
        crate::sync::thread::park();
    }
    pub(crate) fn sleep_for(&self, timeout: std::time::Duration) {
        crate::sync::park_timeout(timeout);
    }
}

#[cfg(loom)]
pub(crate) struct Sleeper(Parker);

#[cfg(loom)]
impl Sleeper {
    pub(crate) fn for_current_thread() -> Sleeper {
        Sleeper(Parker::new())
    }
    pub(crate) fn wake(&self) {
        self.0.unpark();
    }
    pub(crate) fn sleep(&self) {
        self.0.park();
    }
    pub(crate) fn sleep_for(&self, timeout: std::time::Duration) {
        self.0.park_timeout(timeout);
    }
}
