//! How many STM waits hold each waker, for a Scheduler that must tell a task blocked in
//! a transaction from one waiting on something outside it (`Scheduler::isolated`).
//!
//! A waiting transaction's token holds a clone of its task's waker. To the Scheduler's
//! deadlock check, that clone is a waker held outside, so by default a task in `retry`
//! is never counted as stuck (a thread elsewhere may commit). An isolated Scheduler is
//! told no thread outside will, so it must know which clones are such tokens: while it
//! runs, it is this thread's observer, and the STM, making a token for a waker on this
//! thread, counts it here. The count falls when the token is dropped, on whatever thread.
//! It lives below both the STM and the executors, so neither imports the other.

use std::cell::RefCell;
use std::collections::HashMap;
use std::task::Waker;

use crate::sync::{lock, thread_local, Arc, Mutex};

/// STM waits per waker, keyed by the waker's data pointer (`Waker::data`), which a waker
/// and its clones share.
pub(crate) struct Census {
    waits: Mutex<HashMap<usize, usize>>,
}

impl Census {
    pub(crate) fn new() -> Census {
        Census {
            waits: Mutex::new(HashMap::new()),
        }
    }

    /// How many STM waits hold a clone of the waker whose data pointer is `key`.
    pub(crate) fn waits_on(&self, key: *const ()) -> usize {
        lock(&self.waits).get(&key.addr()).copied().unwrap_or(0)
    }
}

thread_local! {
    static OBSERVER: RefCell<Option<Arc<Census>>> = const { RefCell::new(None) };
}

/// Makes `census` this thread's observer until the guard drops (restoring the one
/// before, so schedulers may nest).
pub(crate) fn observe(census: Arc<Census>) -> impl Drop {
    struct Restore(Option<Arc<Census>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            // `try_with`: the guard may drop while the thread's locals are torn down.
            let _ = OBSERVER.try_with(|observer| *observer.borrow_mut() = previous);
        }
    }
    Restore(OBSERVER.with(|observer| observer.borrow_mut().replace(census)))
}

/// One STM wait holding a clone of a waker, counted while this lives.
pub(crate) struct Counted {
    census: Arc<Census>,
    key: usize,
}

/// Counts an STM wait holding a clone of `waker`, if this thread has an observer.
pub(crate) fn count_wait(waker: &Waker) -> Option<Counted> {
    let census = OBSERVER
        .try_with(|observer| observer.borrow().clone())
        .ok()??;
    let key = waker.data().addr();
    *lock(&census.waits).entry(key).or_default() += 1;
    Some(Counted { census, key })
}

impl Drop for Counted {
    fn drop(&mut self) {
        let mut waits = lock(&self.census.waits);
        if let Some(count) = waits.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                waits.remove(&self.key);
            }
        }
    }
}
