//! Deferred reclamation: free memory only once no reader can still hold a pointer to it.
//!
//! Readers of a `TVar` load a pointer to its current value without touching any shared
//! counter (a read-only transaction must not write shared memory, or it cannot scale).
//! So a value replaced by a commit cannot be freed at once: a reader may be cloning it.
//! A reader *pins* before loading such pointers; a writer *retires* what it unlinked;
//! the free runs after every thread pinned at that moment has unpinned.
//!
//! Under std this is `crossbeam-epoch`, with one change: the thread that retired a batch
//! frees it, not whichever thread collects (see `Garbage`). Under loom it is a stand-in that loom sees whole:
//! one mutex-protected count of pinned guards and a list of deferred frees, run when the
//! count drops to zero. It is slow and simple on purpose; its correctness argument is:
//! a reader that loaded pointer `p` pinned (mutex) before that load, and the writer
//! retired `p` (mutex) after unlinking it, so if the reader saw `p`, its pin precedes the
//! retire in the mutex order and the count stays above zero until the reader unpins.

#[cfg(not(loom))]
mod imp {
    use std::cell::RefCell;
    use std::collections::VecDeque;

    use super::Retired;
    use crate::sync::sealed::SealedBatch;
    use crate::sync::Arc;

    /// Retired pointers are sealed in batches of `BATCH`, one deferred call per batch: a
    /// deferred call per free costs more than the free itself. A batch's buffer stays
    /// under 1 KiB, glibc's small-allocation range: larger requests make it consolidate
    /// its free lists, which showed up at 4% of a one-variable commit.
    const BATCH: usize = 32;

    /// This thread's retired pointers: the batch being filled, and sealed batches whose
    /// grace period may still run, oldest first.
    ///
    /// The collector runs deferred calls on whichever thread collects. Had those calls
    /// freed the batches, one thread's garbage would be dropped on another: a queue's
    /// consumer dropping the producer's old values, touching the producer's cache lines
    /// (reference counts of shared chunks, node memory) on every message. So the first
    /// deferred call only marks its batch ready, and the thread that retired it frees it
    /// the next time it retires, where that memory is still in its caches. The call
    /// also defers a second one, a grace period later, that frees the batch if nobody
    /// has: a thread that stopped retiring (idle, or gone) does not keep its garbage.
    struct Garbage {
        filling: Vec<Retired>,
        sealed: VecDeque<Arc<SealedBatch<Retired>>>,
        /// An emptied batch buffer, kept for the next seal.
        spare_buffer: Vec<Retired>,
    }

    thread_local! {
        static GARBAGE: RefCell<Garbage> = const {
            RefCell::new(Garbage {
                filling: Vec::new(),
                sealed: VecDeque::new(),
                spare_buffer: Vec::new(),
            })
        };
    }

    /// Hands `batch` to the collector to free wherever it collects.
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

    impl Garbage {
        /// Seals the full batch: once every thread pinned now has unpinned, it is ready.
        fn seal(&mut self, guard: &crossbeam_epoch::Guard) {
            let mut buffer = std::mem::take(&mut self.spare_buffer);
            buffer.reserve(BATCH);
            let sealed = Arc::new(SealedBatch::new(std::mem::replace(
                &mut self.filling,
                buffer,
            )));
            let batch = sealed.clone();
            guard.defer(move || {
                batch.mark_ready();
                // A second grace period for the thread that retired the batch to free it;
                // after that, whoever collects does.
                crossbeam_epoch::pin().defer(move || {
                    if let Some(batch) = batch.take() {
                        batch.into_iter().for_each(Retired::free);
                    }
                });
            });
            self.sealed.push_back(sealed);
        }

        /// The oldest ready batch nobody has freed yet; drops batches the collector took.
        fn take_ready(&mut self) -> Option<Vec<Retired>> {
            loop {
                if self.sealed.front()?.is_pending() {
                    return None;
                }
                let oldest = self.sealed.pop_front()?;
                if let Some(batch) = oldest.take() {
                    return Some(batch);
                }
            }
        }
    }

    /// Frees this thread's ready batches, oldest first. All of them: the collector marks
    /// batches ready in bursts (its bag of 64 deferred calls), and a thread that freed
    /// only two per seal fell behind, so the collector's fallback freed 14-30% of a
    /// 2-thread bank's batches on the wrong thread (counted; when the thread frees all
    /// ready ones, fewer than one in 500). Each free runs outside the thread-local borrow: a
    /// value's destructor may drop a `TVar` and retire its core.
    fn free_ready() {
        while let Ok(Some(mut batch)) = GARBAGE.try_with(|g| g.borrow_mut().take_ready()) {
            batch.drain(..).for_each(Retired::free);
            let _ = GARBAGE.try_with(|g| g.borrow_mut().spare_buffer = batch);
        }
    }

    impl Drop for Garbage {
        /// The thread is exiting. Its sealed batches are left to the collector's second
        /// deferred calls; the batch being filled goes to the collector now.
        fn drop(&mut self) {
            if !self.filling.is_empty() {
                defer_batch(&crossbeam_epoch::pin(), std::mem::take(&mut self.filling));
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
            let sealed = GARBAGE.try_with(|garbage| {
                let mut garbage = garbage.borrow_mut();
                garbage.filling.push(Retired { ptr, free });
                let full = garbage.filling.len() >= BATCH;
                if full {
                    garbage.seal(&self.inner);
                }
                full
            });
            match sealed {
                Ok(true) => free_ready(),
                Ok(false) => {}
                // The thread is exiting and its garbage is gone: hand this one over alone.
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
