//! A value that counts its live copies, to check that braid frees what it should.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// A value that counts how many of its copies are alive in a shared counter.
pub struct Counted(Arc<AtomicUsize>);

impl Counted {
    pub fn new(live: &Arc<AtomicUsize>) -> Self {
        live.fetch_add(1, Ordering::SeqCst);
        Counted(live.clone())
    }
}

impl Clone for Counted {
    fn clone(&self) -> Self {
        Counted::new(&self.0)
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Waits (up to 10 s) for the live count to fall to `target` or below, and returns it.
/// Freed values pass through epoch-deferred frees, which other tests' threads running
/// meanwhile can hold back for a while, so this keeps collecting rather than looking once.
pub fn settle(live: &AtomicUsize, target: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(10);
    while live.load(Ordering::SeqCst) > target && Instant::now() < deadline {
        crossbeam_epoch::pin().flush();
        thread::yield_now();
    }
    live.load(Ordering::SeqCst)
}
