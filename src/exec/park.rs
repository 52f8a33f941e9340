//! How one idle worker sleeps: a flag and a condition variable. An `unpark` that comes
//! before the `park` is remembered, so the pair can never miss each other.

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
