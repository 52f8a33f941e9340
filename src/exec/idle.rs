//! Which workers sleep, and which are searching for work to steal.
//!
//! One word counts the workers that are awake (`unparked`) and, among them, those
//! searching other queues for work (`searching`). Whoever makes work available calls
//! `notify_one`, which wakes a sleeper only when nobody is searching (a searcher will
//! find the work) and somebody sleeps. At most half the workers search at once, so an
//! idle pool does not burn every core fighting over one task.
//!
//! No wake-up is lost. A producer pushes, crosses a `SeqCst` fence and reads this word;
//! it wakes nobody only if a worker is searching (or none sleeps). A searcher either finds
//! work (and if it was the last searcher, wakes another to keep looking) or goes to sleep:
//! then, if it was the last searcher, it crosses a `SeqCst` fence after leaving the count
//! and looks at every queue once more, waking a worker (perhaps itself) if any holds work.
//! The two fences order the push before that look, or the look before the producer's read
//! (which then counts no searcher and wakes a sleeper). A worker that sleeps without having
//! searched was refused because another was searching, which takes over the duty.

use crate::sync::atomic::{fence, AtomicUsize, Ordering};
use crate::sync::{lock, Mutex};

const SEARCHING_MASK: usize = 0xFFFF;
const UNPARKED_ONE: usize = 1 << 16;

pub(crate) struct Idle {
    state: AtomicUsize,
    sleepers: Mutex<Vec<usize>>,
    workers: usize,
}

fn searching(state: usize) -> usize {
    state & SEARCHING_MASK
}

fn unparked(state: usize) -> usize {
    state >> 16
}

impl Idle {
    pub(crate) fn new(workers: usize) -> Idle {
        assert!(workers < SEARCHING_MASK, "too many workers: {workers}");
        Idle {
            state: AtomicUsize::new(workers * UNPARKED_ONE),
            sleepers: Mutex::new(Vec::with_capacity(workers)),
            workers,
        }
    }

    /// Work was just made available: returns a sleeper to unpark, if one should wake. The
    /// woken worker starts out searching.
    pub(crate) fn worker_to_notify(&self) -> Option<usize> {
        // SeqCst: pairs with the fence in `to_parked` and `stop_searching` callers
        // (see the module docs); the push happened before this fence.
        fence(Ordering::SeqCst);
        if !self.should_wake(self.state.load(Ordering::Relaxed)) {
            return None;
        }
        let mut sleepers = lock(&self.sleepers);
        if !self.should_wake(self.state.load(Ordering::Relaxed)) {
            return None;
        }
        let worker = sleepers.pop()?;
        // One more awake and searching. Under the lock, so it matches the sleeper list.
        self.state.fetch_add(UNPARKED_ONE | 1, Ordering::SeqCst);
        Some(worker)
    }

    /// A cheap guess, without the fence, at whether `worker_to_notify` would wake anyone.
    /// For work that needs no wake-up to be run (its owner takes it back), so a wrong
    /// guess costs parallelism, never progress.
    pub(crate) fn may_wake(&self) -> bool {
        self.should_wake(self.state.load(Ordering::Relaxed))
    }

    fn should_wake(&self, state: usize) -> bool {
        searching(state) == 0 && unparked(state) < self.workers
    }

    /// A worker out of local work wants to steal. Refused when half are searching.
    pub(crate) fn start_searching(&self) -> bool {
        let state = self.state.load(Ordering::Relaxed);
        if 2 * searching(state) >= self.workers {
            return false;
        }
        self.state.fetch_add(1, Ordering::SeqCst);
        true
    }

    /// A searcher found work (or gives up). Returns whether it was the last searcher: then
    /// the caller must make sure no work went unnoticed (wake another, or look again).
    pub(crate) fn stop_searching(&self) -> bool {
        let previous = self.state.fetch_sub(1, Ordering::SeqCst);
        debug_assert!(searching(previous) > 0);
        searching(previous) == 1
    }

    /// The worker goes to sleep. Returns whether it was the last searcher: then the caller
    /// must look at every queue once more (the fence below orders that look after leaving
    /// the count) and wake a worker if it finds work.
    pub(crate) fn to_parked(&self, worker: usize, was_searching: bool) -> bool {
        let mut sleepers = lock(&self.sleepers);
        let delta = UNPARKED_ONE + usize::from(was_searching);
        let previous = self.state.fetch_sub(delta, Ordering::SeqCst);
        sleepers.push(worker);
        drop(sleepers);
        fence(Ordering::SeqCst);
        was_searching && searching(previous) == 1
    }

    /// Some sleeping worker other than `except`, left on the list (for a wake-up that is
    /// not a notification: it looks around and sleeps again).
    pub(crate) fn any_sleeper(&self, except: Option<usize>) -> Option<usize> {
        lock(&self.sleepers)
            .iter()
            .rev()
            .copied()
            .find(|&worker| Some(worker) != except)
    }

    /// After a wake-up: `true` if this worker was taken off the sleeper list (it was
    /// notified, and is now counted as searching); `false` on a spurious wake.
    pub(crate) fn is_notified(&self, worker: usize) -> bool {
        !lock(&self.sleepers).contains(&worker)
    }

    /// Takes `worker` off the sleeper list by itself (it found work on its own). Returns
    /// `false` if a notifier took it off first (then it is already counted as searching).
    pub(crate) fn unpark_self(&self, worker: usize) -> bool {
        let mut sleepers = lock(&self.sleepers);
        match sleepers.iter().position(|&w| w == worker) {
            Some(index) => {
                sleepers.swap_remove(index);
                self.state.fetch_add(UNPARKED_ONE, Ordering::SeqCst);
                true
            }
            None => false,
        }
    }
}
