//! Deferred reclamation: free memory only once no reader can still hold a pointer to it.
//!
//! Readers of a `TVar` load a pointer to its current value without touching any shared
//! counter (a read-only transaction must not write shared memory, or it cannot scale).
//! So a value replaced by a commit cannot be freed at once: a reader may be cloning it.
//! A reader *pins* before loading such pointers; a writer *defers* the free of what it
//! unlinked; the deferred function runs after every thread pinned at that moment has
//! unpinned.
//!
//! Under std this is `crossbeam-epoch`. Under loom it is a stand-in that loom sees whole:
//! one mutex-protected count of pinned guards and a list of deferred frees, run when the
//! count drops to zero. It is slow and simple on purpose; its correctness argument is:
//! a reader that loaded pointer `p` pinned (mutex) before that load, and the writer
//! retired `p` (mutex) after unlinking it, so if the reader saw `p`, its pin precedes the
//! retire in the mutex order and the count stays above zero until the reader unpins.

#[cfg(not(loom))]
mod imp {
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
        /// Runs `f` once every thread pinned now has unpinned.
        ///
        /// # Safety
        /// `f` may run on any thread, at any later time: whatever it captures must be
        /// safe to use from there, and what it frees must be unreachable for new readers.
        pub(crate) unsafe fn defer_unchecked(&self, f: impl FnOnce() + 'static) {
            // SAFETY: forwarded to the caller's contract, which is crossbeam's.
            unsafe { self.inner.defer_unchecked(f) }
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

    type Deferred = Box<dyn FnOnce() + Send>;

    struct Pins {
        pinned: usize,
        deferred: Vec<Deferred>,
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
        for f in ready {
            f();
        }
    }

    struct AssertSend<F>(F);
    // SAFETY: the caller of `defer_unchecked` vouches that `F` may run on any thread.
    unsafe impl<F> Send for AssertSend<F> {}

    impl Guard {
        /// Runs `f` once every thread pinned now has unpinned.
        ///
        /// # Safety
        /// As for the std version: `f` may run on any thread at any later time.
        pub(crate) unsafe fn defer_unchecked(&self, f: impl FnOnce() + 'static) {
            let f = AssertSend(f);
            lock(&PINS).deferred.push(Box::new(move || {
                let f = f;
                (f.0)()
            }));
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
