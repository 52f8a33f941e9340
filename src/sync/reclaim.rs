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
//! (A retire while nothing is pinned frees at once: a reader that pins later cannot
//! load the unlinked pointer.)
//!
//! Memory that readers reach without pinning waits for the sections of `presence.rs`
//! instead: `retire_after_sections` frees it once every section running at the call has
//! ended, at once if none is. Under std the collector serves as its timer (a free still
//! waiting is looked at again a grace period later); under loom, `free_after_sections`
//! looks as each transaction ends.

use crate::sync::presence;

#[cfg(not(loom))]
mod imp {
    use std::collections::VecDeque;

    use super::{AfterSections, Retired};
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
        /// Pins the current thread (the one that owns this reclaimer). Called once per
        /// attempt that reads a value in a node (`Transaction::pin`, out of line); a
        /// transaction over words never pins.
        #[inline]
        pub(crate) fn pin(&self) -> Guard {
            Guard {
                _pinned: self.handle.pin(),
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
        /// Unpins when dropped.
        _pinned: crossbeam_epoch::Guard,
    }

    /// Pins the current thread.
    pub(crate) fn pin() -> Guard {
        Guard {
            _pinned: crossbeam_epoch::pin(),
        }
    }

    /// Looks at `after` again a grace period later: the collector serves only as a
    /// timer here, since what the free waits for is the sections, not the epoch.
    pub(super) fn look_again_later(after: AfterSections) {
        crossbeam_epoch::pin().defer(move || after.free_or_wait());
    }
}

#[cfg(loom)]
mod imp {
    use crate::sync::{lock, sync_static, Mutex};

    use super::{AfterSections, Retired};

    struct Pins {
        pinned: usize,
        deferred: Vec<Retired>,
    }

    sync_static! {
        static PINS: Mutex<Pins> = Mutex::new(Pins { pinned: 0, deferred: Vec::new() });
    }

    sync_static! {
        /// Frees waiting for sections to end; looked at by `free_after_sections`.
        static AFTER_SECTIONS: Mutex<Vec<AfterSections>> = Mutex::new(Vec::new());
    }

    /// Keeps `after` for `free_after_sections`.
    pub(super) fn look_again_later(after: AfterSections) {
        lock(&AFTER_SECTIONS).push(after);
    }

    /// Frees whatever no longer waits for a section. Under std the collector looks
    /// again after each grace period; loom has no collector, so the STM calls this as
    /// each transaction ends, and models see the frees happen.
    pub(crate) fn free_after_sections() {
        let ready: Vec<AfterSections> = {
            let mut waiting = lock(&AFTER_SECTIONS);
            let (ready, still) = std::mem::take(&mut *waiting)
                .into_iter()
                .partition(|w| w.waiting.all_left());
            *waiting = still;
            ready
        };
        for after in ready {
            after.retired.free();
        }
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

        /// Frees `ptr` with `free` once every thread pinned now has unpinned: at once
        /// if none is (one that pins later cannot load `ptr`, which is unlinked).
        ///
        /// # Safety
        /// As for the std version.
        pub(crate) unsafe fn retire(&mut self, ptr: *mut (), free: unsafe fn(*mut ())) {
            let retired = Retired { ptr, free };
            let mut pins = lock(&PINS);
            if pins.pinned > 0 {
                pins.deferred.push(retired);
            } else {
                drop(pins);
                retired.free();
            }
        }
    }

    impl Drop for Guard {
        fn drop(&mut self) {
            unpin();
        }
    }
}

#[cfg(loom)]
pub(crate) use imp::free_after_sections;
pub(crate) use imp::{pin, Guard, Reclaimer};

/// Frees `ptr` with `free` once every critical section running now (see `presence.rs`)
/// has ended: at once if none is. For memory that sections reach without pinning: a
/// variable's core, which transactions hold without counted references.
///
/// # Safety
/// No section that starts from now on can reach `ptr`, and `free(ptr)` may run on any
/// thread, once, at any later time.
pub(crate) unsafe fn retire_after_sections(ptr: *mut (), free: unsafe fn(*mut ())) {
    AfterSections {
        waiting: presence::in_flight(),
        retired: Retired { ptr, free },
    }
    .free_or_wait();
}

/// A pointer to free once the sections in `waiting` have ended.
struct AfterSections {
    waiting: presence::Snapshot,
    retired: Retired,
}

impl AfterSections {
    /// Frees the pointer if every section it waits for has ended, else has it looked at
    /// again later (by the collector under std, by `free_after_sections` under loom).
    fn free_or_wait(self) {
        if self.waiting.all_left() {
            self.retired.free();
        } else {
            imp::look_again_later(self);
        }
    }
}

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
