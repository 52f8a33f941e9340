//! A worker's `join` deque: the Chase–Lev work-stealing deque (in the C11 form of Lê,
//! Pop, Cohen and Zappa Nardelli, 2013), fixed-size. The owner pushes and takes at the
//! bottom (LIFO: a `join` takes back the job it just pushed); thieves take one job at a
//! time from the top.
//!
//! Why a second queue next to the ring: the ring's thieves take half of what they see at
//! once, and a thief's view of the bottom may be stale, so it could claim entries the
//! owner already took back from the tail. Chase–Lev thieves take one entry and the owner
//! races them with a CAS only for the last one, which is proven correct.
//!
//! Entries are `StackJobRef`s, two words stored in two atomics: a thief reads a slot
//! before its CAS decides whether the entry is its own, so the read may race with the
//! owner reusing the slot; with atomics that race is defined, and a thief whose CAS fails
//! throws the (possibly torn) value away.

use super::job::StackJobRef;
use crate::sync::atomic::{fence, AtomicIsize, AtomicUsize, Ordering};
use crate::sync::Arc;

#[cfg(not(loom))]
const CAPACITY: usize = 256;
#[cfg(loom)]
const CAPACITY: usize = 2;

struct Slot {
    data: AtomicUsize,
    execute: AtomicUsize,
}

struct Inner {
    top: AtomicIsize,
    bottom: AtomicIsize,
    slots: Box<[Slot]>,
}

/// The owner's end (one thread).
pub(crate) struct Worker {
    inner: Arc<Inner>,
    _not_sync: std::marker::PhantomData<std::cell::Cell<()>>,
}

/// A thief's end.
#[derive(Clone)]
pub(crate) struct Stealer {
    inner: Arc<Inner>,
}

pub(crate) fn new() -> (Worker, Stealer) {
    let inner = Arc::new(Inner {
        top: AtomicIsize::new(0),
        bottom: AtomicIsize::new(0),
        slots: (0..CAPACITY)
            .map(|_| Slot {
                data: AtomicUsize::new(0),
                execute: AtomicUsize::new(0),
            })
            .collect(),
    });
    (
        Worker {
            inner: inner.clone(),
            _not_sync: std::marker::PhantomData,
        },
        Stealer { inner },
    )
}

impl Inner {
    fn slot(&self, index: isize) -> &Slot {
        &self.slots[index as usize % CAPACITY]
    }

    // Relaxed slot accesses: the owner's Release store of `bottom` publishes a write, and
    // a thief's Acquire load of `bottom` (or a successful CAS on `top`) orders its read.
    fn write(&self, index: isize, job: StackJobRef) {
        let (data, execute) = job.to_bits();
        let slot = self.slot(index);
        slot.data.store(data, Ordering::Relaxed);
        slot.execute.store(execute, Ordering::Relaxed);
    }

    fn read(&self, index: isize) -> (usize, usize) {
        let slot = self.slot(index);
        (
            slot.data.load(Ordering::Relaxed),
            slot.execute.load(Ordering::Relaxed),
        )
    }

    fn len(&self) -> usize {
        let top = self.top.load(Ordering::Acquire);
        let bottom = self.bottom.load(Ordering::Acquire);
        bottom.saturating_sub(top).max(0) as usize
    }
}

impl Worker {
    /// Pushes at the bottom; gives the job back when the deque is full.
    pub(crate) fn push(&mut self, job: StackJobRef) -> Result<(), StackJobRef> {
        let inner = &*self.inner;
        let bottom = inner.bottom.load(Ordering::Relaxed);
        // Acquire: pairs with thieves' CAS, so a slot they took is free to reuse.
        let top = inner.top.load(Ordering::Acquire);
        if bottom - top >= CAPACITY as isize {
            return Err(job);
        }
        inner.write(bottom, job);
        // Release: a thief that sees the new bottom sees the slot's contents.
        inner.bottom.store(bottom + 1, Ordering::Release);
        Ok(())
    }

    /// Takes the newest job.
    pub(crate) fn take(&mut self) -> Option<StackJobRef> {
        let inner = &*self.inner;
        let bottom = inner.bottom.load(Ordering::Relaxed) - 1;
        inner.bottom.store(bottom, Ordering::Relaxed);
        // SeqCst: pairs with the fence in `steal`: either the thief sees the smaller
        // bottom, or this load of `top` sees the thief's CAS.
        fence(Ordering::SeqCst);
        let top = inner.top.load(Ordering::Relaxed);
        if top > bottom {
            inner.bottom.store(bottom + 1, Ordering::Relaxed);
            return None;
        }
        let bits = inner.read(bottom);
        if top == bottom {
            // The last job: race the thieves for it.
            let won = inner
                .top
                .compare_exchange(top, top + 1, Ordering::SeqCst, Ordering::Relaxed)
                .is_ok();
            inner.bottom.store(bottom + 1, Ordering::Relaxed);
            if !won {
                return None;
            }
        }
        // SAFETY: the bits were written by `push` from a `StackJobRef`, and this entry is
        // ours (no thief can take it, or our CAS won it).
        Some(unsafe { StackJobRef::from_bits(bits) })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.inner.len() == 0
    }
}

impl Stealer {
    /// Takes the oldest job; `None` if empty or another taker won the race.
    pub(crate) fn steal(&self) -> Option<StackJobRef> {
        let inner = &*self.inner;
        let top = inner.top.load(Ordering::Acquire);
        // SeqCst: pairs with the fence in `take`.
        fence(Ordering::SeqCst);
        let bottom = inner.bottom.load(Ordering::Acquire);
        if top >= bottom {
            return None;
        }
        let bits = inner.read(top);
        inner
            .top
            .compare_exchange(top, top + 1, Ordering::SeqCst, Ordering::Relaxed)
            .ok()?;
        // SAFETY: our CAS made entry `top` ours, so the bits read before it are the ones
        // `push` wrote for it (the owner reuses a slot only after `top` passed it).
        Some(unsafe { StackJobRef::from_bits(bits) })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.inner.len() == 0
    }
}

/// A job that only carries a number, for the loom models and unit tests.
#[cfg(any(test, loom))]
pub(crate) fn test_job(n: usize) -> StackJobRef {
    unsafe fn never(_: *const ()) {
        unreachable!("test jobs are not run")
    }
    // SAFETY: the bits are a number and a real function; the job is never run.
    unsafe { StackJobRef::from_bits((n, never as unsafe fn(*const ()) as usize)) }
}

/// The number a `test_job` carries.
#[cfg(any(test, loom))]
pub(crate) fn test_number(job: StackJobRef) -> usize {
    job.to_bits().0
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::collections::VecDeque;

    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Push, take (newest) and steal (oldest) behave like a bounded `VecDeque`.
        #[test]
        fn the_deque_matches_a_bounded_deque_model(ops in proptest::collection::vec(0..3u8, 0..2000)) {
            let (mut owner, thief) = new();
            let mut model = VecDeque::new();
            for (n, op) in ops.into_iter().enumerate() {
                match op {
                    0 => {
                        let pushed = owner.push(test_job(n + 1)).is_ok();
                        prop_assert_eq!(pushed, model.len() < CAPACITY);
                        if pushed {
                            model.push_back(n + 1);
                        }
                    }
                    1 => prop_assert_eq!(owner.take().map(test_number), model.pop_back()),
                    _ => prop_assert_eq!(thief.steal().map(test_number), model.pop_front()),
                }
                prop_assert_eq!(owner.is_empty(), model.is_empty());
            }
        }
    }
}
