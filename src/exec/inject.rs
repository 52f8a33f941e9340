//! The pool's global queue: work submitted from outside the workers, and the overflow of
//! full local rings. A mutex-protected FIFO with its length mirrored in an atomic, so a
//! worker can see that it is empty without taking the lock.

use std::collections::VecDeque;

use super::queue::Overflow;
use crate::sync::atomic::{AtomicUsize, Ordering};
use crate::sync::{lock, Mutex};

pub struct Injector<T> {
    queue: Mutex<VecDeque<T>>,
    len: AtomicUsize,
}

impl<T> Injector<T> {
    pub fn new() -> Injector<T> {
        Injector {
            queue: Mutex::new(VecDeque::new()),
            len: AtomicUsize::new(0),
        }
    }

    /// A hint: may be stale by the time the caller acts on it. Workers re-check under
    /// the idle protocol's fences before they sleep.
    pub fn is_empty(&self) -> bool {
        // Acquire: pairs with the Release store in `push`, for the callers that go on to
        // pop without the lock's help (none today; kept symmetric with `len`).
        self.len.load(Ordering::Acquire) == 0
    }

    pub fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }

    pub fn push(&self, value: T) {
        let mut queue = lock(&self.queue);
        queue.push_back(value);
        self.len.store(queue.len(), Ordering::Release);
    }

    /// Takes up to `max` entries from the front (at least one if any are there), handing
    /// each to `each` under the lock: `each` must not push to this injector (a worker
    /// passes the free room of its ring as `max`, so its pushes cannot overflow).
    pub fn pop_batch(&self, max: usize, mut each: impl FnMut(T)) -> usize {
        if self.is_empty() {
            return 0;
        }
        let mut queue = lock(&self.queue);
        let count = queue.len().min(max.max(1));
        for value in queue.drain(..count) {
            each(value);
        }
        self.len.store(queue.len(), Ordering::Release);
        count
    }

    /// Empties the queue (at shutdown).
    pub fn drain(&self) -> Vec<T> {
        let mut queue = lock(&self.queue);
        self.len.store(0, Ordering::Release);
        queue.drain(..).collect()
    }
}

impl<T> Overflow<T> for Injector<T> {
    fn push_batch(&self, batch: Vec<T>) {
        let mut queue = lock(&self.queue);
        queue.extend(batch);
        self.len.store(queue.len(), Ordering::Release);
    }
}
