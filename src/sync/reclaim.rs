//! Deferred reclamation: free memory only once no reader can still hold a pointer to it.
//!
//! Readers of a `TVar` load a pointer to its current value without touching any shared
//! counter (a read-only transaction must not write shared memory, or it cannot scale).
//! So a value replaced by a commit cannot be freed at once: a reader may be cloning it.
//! A reader *pins* before loading such pointers; a writer *retires* what it unlinked;
//! the free runs after every thread pinned at that moment has unpinned.
//!
//! Under std this is `crossbeam-epoch`. Under loom it is a stand-in that loom sees whole:
//! one mutex-protected count of pinned guards and a list of deferred frees, run when the
//! count drops to zero. It is slow and simple on purpose; its correctness argument is:
//! a reader that loaded pointer `p` pinned (mutex) before that load, and the writer
//! retired `p` (mutex) after unlinking it, so if the reader saw `p`, its pin precedes the
//! retire in the mutex order and the count stays above zero until the reader unpins.

#[cfg(not(loom))]
mod imp {
    use std::cell::RefCell;

    use super::Retired;

    /// Retired pointers go to the epoch collector in batches: one deferred call per
    /// `BATCH` frees. A deferred call per free costs more than the free itself, and
    /// would fill crossbeam's bags (2 KiB allocations) `BATCH` times sooner. A batch's
    /// buffer stays under 1 KiB, glibc's small-allocation range: larger requests make it
    /// consolidate its free lists, which showed up at 4% of a one-variable commit.
    const BATCH: usize = 32;

    /// This thread's retired pointers not yet handed to the collector. Like crossbeam's
    /// own per-thread bag, it is handed over when full or when the thread exits.
    struct Batch(Vec<Retired>);

    thread_local! {
        static RETIRED: RefCell<Batch> = const { RefCell::new(Batch(Vec::new())) };
    }

    fn defer_batch(guard: &crossbeam_epoch::Guard, batch: Vec<Retired>) {
        // SAFETY: each pointer in the batch was unlinked before it was retired, and this
        // guard pinned after that, so the free runs after every reader that could still
        // hold one has unpinned. `Retired::free` may run on any thread (its contract).
        unsafe {
            guard.defer_unchecked(move || {
                for retired in batch {
                    retired.free();
                }
            })
        }
    }

    impl Drop for Batch {
        fn drop(&mut self) {
            if !self.0.is_empty() {
                defer_batch(&crossbeam_epoch::pin(), std::mem::take(&mut self.0));
            }
        }
    }

    /// Evidence that the current thread is pinned: pointers loaded while it lives stay valid.
    pub(crate) struct Guard {
        inner: crossbeam_epoch::Guard,
    }

    /// Pins the current thread.
    pub(crate) fn pin() -> Guard {
        Guard {
            inner: crossbeam_epoch::pin(),
        }
    }

    impl Guard {
        /// Frees `ptr` with `free` once no thread pinned now (or before) can hold it.
        ///
        /// # Safety
        /// `ptr` is unreachable for threads that pin from now on, and `free(ptr)` may run
        /// on any thread, once, at any later time.
        pub(crate) unsafe fn retire(&self, ptr: *mut (), free: unsafe fn(*mut ())) {
            let full = RETIRED.try_with(|batch| {
                let mut batch = batch.borrow_mut();
                batch.0.push(Retired { ptr, free });
                (batch.0.len() >= BATCH)
                    .then(|| std::mem::replace(&mut batch.0, Vec::with_capacity(BATCH)))
            });
            match full {
                Ok(Some(batch)) => defer_batch(&self.inner, batch),
                Ok(None) => {}
                // The thread is exiting and its batch is gone: hand this one over alone.
                Err(_) => defer_batch(&self.inner, vec![Retired { ptr, free }]),
            }
        }

        /// Like `retire`, but hands the pointer to the collector at once instead of
        /// batching it: for rare, possibly large frees (a dropped variable), which the
        /// dropping thread might otherwise hold in its batch indefinitely.
        ///
        /// # Safety
        /// As for `retire`.
        pub(crate) unsafe fn retire_alone(&self, ptr: *mut (), free: unsafe fn(*mut ())) {
            defer_batch(&self.inner, vec![Retired { ptr, free }]);
        }

        /// Unpins for the duration of `f` (a thread must never block while pinned: it
        /// would hold back every deferred free in the process), then pins again.
        pub(crate) fn unpinned_while<R>(&mut self, f: impl FnOnce() -> R) -> R {
            self.inner.repin_after(f)
        }
    }
}

#[cfg(loom)]
mod imp {
    use crate::sync::{lock, sync_static, Mutex};

    use super::Retired;

    struct Pins {
        pinned: usize,
        deferred: Vec<Retired>,
    }

    sync_static! {
        static PINS: Mutex<Pins> = Mutex::new(Pins { pinned: 0, deferred: Vec::new() });
    }

    /// Evidence that the current thread is pinned (loom stand-in).
    pub(crate) struct Guard {
        _not_send: std::marker::PhantomData<*mut ()>,
    }

    /// Pins the current thread.
    pub(crate) fn pin() -> Guard {
        lock(&PINS).pinned += 1;
        Guard {
            _not_send: std::marker::PhantomData,
        }
    }

    fn unpin() {
        let ready = {
            let mut pins = lock(&PINS);
            pins.pinned -= 1;
            if pins.pinned == 0 {
                std::mem::take(&mut pins.deferred)
            } else {
                Vec::new()
            }
        };
        for retired in ready {
            retired.free();
        }
    }

    impl Guard {
        /// Frees `ptr` with `free` once every thread pinned now has unpinned.
        ///
        /// # Safety
        /// As for the std version.
        pub(crate) unsafe fn retire(&self, ptr: *mut (), free: unsafe fn(*mut ())) {
            lock(&PINS).deferred.push(Retired { ptr, free });
        }

        /// Same as `retire` under loom.
        ///
        /// # Safety
        /// As for the std version.
        pub(crate) unsafe fn retire_alone(&self, ptr: *mut (), free: unsafe fn(*mut ())) {
            // SAFETY: forwarded to the caller's contract.
            unsafe { self.retire(ptr, free) }
        }

        /// Unpins for the duration of `f`, then pins again.
        pub(crate) fn unpinned_while<R>(&mut self, f: impl FnOnce() -> R) -> R {
            unpin();
            let result = f();
            lock(&PINS).pinned += 1;
            result
        }
    }

    impl Drop for Guard {
        fn drop(&mut self) {
            unpin();
        }
    }
}

pub(crate) use imp::{pin, Guard};

/// A pointer waiting to be freed, and the function that frees it.
struct Retired {
    ptr: *mut (),
    free: unsafe fn(*mut ()),
}

// SAFETY: `Guard::retire`'s caller vouches that `free(ptr)` may run on any thread.
unsafe impl Send for Retired {}

impl Retired {
    fn free(self) {
        // SAFETY: `Guard::retire`'s caller vouched that `free(ptr)` may run once, on any
        // thread, after the deferral; this consumes the only copy.
        unsafe { (self.free)(self.ptr) }
    }
}
