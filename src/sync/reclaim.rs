//! Deferred reclamation: free memory only once no reader can still hold a pointer to it.
//!
//! Readers of a `TVar` load a pointer to its current value without touching any shared
//! counter (a read-only transaction must not write shared memory, or it cannot scale).
//! So a value replaced by a commit cannot be freed at once: a reader may be cloning it.
//! A reader *pins* before loading such pointers; a writer *retires* what it unlinked;
//! the free runs after every thread pinned at that moment has unpinned.
//!
//! Under std this is `crossbeam-epoch`, with one change: the thread that retired a batch
//! frees it, not whichever thread collects (see `Reclaimer`). Under loom it is a stand-in
//! that loom sees whole:
//! one mutex-protected count of pinned guards and a list of deferred frees, run when the
//! count drops to zero. It is slow and simple on purpose; its correctness argument is:
//! a reader that loaded pointer `p` pinned (mutex) before that load, and the writer
//! retired `p` (mutex) after unlinking it, so if the reader saw `p`, its pin precedes the
//! retire in the mutex order and the count stays above zero until the reader unpins.

#[cfg(not(loom))]
mod imp {
    use std::collections::VecDeque;

    use super::Retired;
    use crate::sync::sealed::SealedBatch;
    use crate::sync::Arc;

    /// Retired pointers are sealed in batches of `BATCH`, one deferred call per batch: a
    /// deferred call per free costs more than the free itself.
    const BATCH: usize = 32;

    /// How many emptied batch buffers and headers a thread keeps for its next seals. The
    /// collector marks batches ready in bursts (its bag of 64 deferred calls), so a
    /// thread frees many at once and seals one at a time: without spares nearly every
    /// seal allocated twice (counted with callgrind: 6,055 buffer allocations in 6,250
    /// seals). At most 64 x 32 pointers of spare room, 32 KiB, per thread.
    const SPARES: usize = 64;

    /// One thread's side of reclamation: a registration with the collector to pin
    /// through, and the pointers the thread retired. The thread's transaction log keeps
    /// it, so a transaction pins and retires without a thread-local lookup (crossbeam's
    /// `pin()` looks its handle up in one: 25 of a one-variable increment's 560
    /// instructions). Deferred calls still go through crossbeam's own thread-local
    /// handle, once per sealed batch, so they land in the bag that
    /// `crossbeam_epoch::pin().flush()` hands to the collector.
    ///
    /// The collector runs deferred calls on whichever thread collects. Had those calls
    /// freed the batches, one thread's garbage would be dropped on another: a queue's
    /// consumer dropping the producer's old values, touching the producer's cache lines
    /// (reference counts of shared chunks, node memory) on every message. So the first
    /// deferred call only marks its batch ready, and the thread that retired it frees it
    /// the next time it seals one, where that memory is still in its caches. The call
    /// also defers a second one, a grace period later, that frees the batch if nobody
    /// has: a thread that stopped retiring (idle, or gone) does not keep its garbage.
    pub(crate) struct Reclaimer {
        handle: crossbeam_epoch::LocalHandle,
        filling: Vec<Retired>,
        /// Sealed batches whose grace period may still run, oldest first.
        sealed: VecDeque<Arc<SealedBatch<Retired>>>,
        spare_buffers: Vec<Vec<Retired>>,
        /// Headers of claimed batches, oldest first; one is reused once the collector's
        /// calls have dropped their references to it.
        spare_headers: VecDeque<Arc<SealedBatch<Retired>>>,
    }

    impl Default for Reclaimer {
        fn default() -> Reclaimer {
            Reclaimer {
                handle: crossbeam_epoch::default_collector().register(),
                filling: Vec::new(),
                sealed: VecDeque::new(),
                spare_buffers: Vec::new(),
                spare_headers: VecDeque::new(),
            }
        }
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

    impl Reclaimer {
        /// Pins the current thread (the one that owns this reclaimer). Inlined, so the
        /// pin (crossbeam's own `#[inline]` code) compiles into `atomically`: 8 fewer
        /// instructions per transaction than a call.
        #[inline]
        pub(crate) fn pin(&self) -> Guard {
            Guard {
                inner: self.handle.pin(),
            }
        }

        /// Frees `ptr` with `free` once no thread pinned now (or before) can hold it.
        ///
        /// # Safety
        /// `ptr` is unreachable for threads that pin from now on, and `free(ptr)` may run
        /// on any thread, once, at any later time.
        pub(crate) unsafe fn retire(&mut self, ptr: *mut (), free: unsafe fn(*mut ())) {
            self.filling.push(Retired { ptr, free });
            if self.filling.len() >= BATCH {
                self.seal();
                self.free_ready();
            }
        }

        /// Seals the full batch: once every thread pinned now has unpinned, it is ready.
        fn seal(&mut self) {
            // Pinned after every pointer in the batch was unlinked, as deferring requires.
            let guard = crossbeam_epoch::pin();
            let buffer = (self.spare_buffers.pop()).unwrap_or_else(|| Vec::with_capacity(BATCH));
            let items = std::mem::replace(&mut self.filling, buffer);
            let sealed = self.header_for(items);
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

        /// A pending batch of `items`, in the oldest spare header if the collector has
        /// let go of it, else in a new one.
        fn header_for(&mut self, items: Vec<Retired>) -> Arc<SealedBatch<Retired>> {
            if let Some(spare) = self.spare_headers.front_mut() {
                if let Some(header) = Arc::get_mut(spare) {
                    header.refill(items);
                    return self
                        .spare_headers
                        .pop_front()
                        .expect("the front was just seen");
                }
            }
            Arc::new(SealedBatch::new(items))
        }

        /// Frees this thread's ready batches, oldest first. All of them: the collector
        /// marks batches ready in bursts, and a thread that freed only two per seal fell
        /// behind, so the collector's fallback freed 14-30% of a 2-thread bank's batches
        /// on the wrong thread (counted; when the thread frees all ready ones, fewer than
        /// one in 500). A value's destructor may run here; it cannot reach this
        /// reclaimer (its thread's transaction is still running), and a panic in one
        /// leaks the rest of its batch, nothing worse.
        fn free_ready(&mut self) {
            while self
                .sealed
                .front()
                .is_some_and(|oldest| !oldest.is_pending())
            {
                let oldest = self.sealed.pop_front().expect("the front was just seen");
                // `None`: the collector's fallback took it.
                if let Some(mut batch) = oldest.take() {
                    batch.drain(..).for_each(Retired::free);
                    if self.spare_buffers.len() < SPARES {
                        self.spare_buffers.push(batch);
                    }
                }
                if self.spare_headers.len() < SPARES {
                    self.spare_headers.push_back(oldest);
                }
            }
        }
    }

    impl Drop for Reclaimer {
        /// The thread is exiting (or its log is gone). Its sealed batches are left to the
        /// collector's second deferred calls; the batch being filled goes to the
        /// collector now.
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
        /// Hands `ptr` to the collector at once, to free with `free` once no thread
        /// pinned now (or before) can hold it: for rare, possibly large frees (a dropped
        /// variable), which a thread's batch might otherwise hold indefinitely.
        ///
        /// # Safety
        /// As for `Reclaimer::retire`.
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

    /// A thread's side of reclamation (loom stand-in: everything goes to `PINS`).
    #[derive(Default)]
    pub(crate) struct Reclaimer;

    impl Reclaimer {
        /// Pins the current thread.
        pub(crate) fn pin(&self) -> Guard {
            pin()
        }

        /// Frees `ptr` with `free` once every thread pinned now has unpinned.
        ///
        /// # Safety
        /// As for the std version.
        pub(crate) unsafe fn retire(&mut self, ptr: *mut (), free: unsafe fn(*mut ())) {
            lock(&PINS).deferred.push(Retired { ptr, free });
        }
    }

    impl Guard {
        /// Same as `Reclaimer::retire` under loom.
        ///
        /// # Safety
        /// As for the std version.
        pub(crate) unsafe fn retire_alone(&self, ptr: *mut (), free: unsafe fn(*mut ())) {
            lock(&PINS).deferred.push(Retired { ptr, free });
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

pub(crate) use imp::{pin, Guard, Reclaimer};

/// A pointer waiting to be freed, and the function that frees it.
struct Retired {
    ptr: *mut (),
    free: unsafe fn(*mut ()),
}

// SAFETY: `Reclaimer::retire`'s caller vouches that `free(ptr)` may run on any thread.
unsafe impl Send for Retired {}

impl Retired {
    fn free(self) {
        // SAFETY: `Reclaimer::retire`'s caller vouched that `free(ptr)` may run once, on any
        // thread, after the deferral; this consumes the only copy.
        unsafe { (self.free)(self.ptr) }
    }
}
