//! The one seam between braid and the primitives it runs on.
//!
//! Every atomic, `Arc`, `Mutex`, `Condvar`, `UnsafeCell`, thread handle and thread-local
//! that braid uses comes from here. Under `--cfg loom` each name resolves to loom's
//! model-checked twin, so a loom model of braid explores every interleaving of braid's
//! own synchronization. A user's program built with `--cfg loom` gets the same: braid's
//! primitives become loom's, and the user's loom models see through braid.
//!
//! No other module names `std::sync::atomic` or `loom`, except `testing::model`, which
//! drives loom itself. Bookkeeping that loom must *not* see (`testing::model` counting
//! executions) takes its atomics from [`outside_loom`], here, so the exception is named.

pub(crate) mod backoff;
pub(crate) mod block_on;
pub(crate) mod census;
pub(crate) mod liveness;
pub(crate) mod no_block;
pub(crate) mod park;
pub(crate) mod presence;
pub(crate) mod reclaim;
pub(crate) mod sealed;

#[cfg(not(loom))]
mod imp {
    pub(crate) mod atomic {
        pub(crate) use std::sync::atomic::{
            fence, AtomicBool, AtomicIsize, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering,
        };
    }
    pub(crate) use std::sync::Arc;

    /// Gives up one reference and returns the value if it was the last: one atomic
    /// decrement, where `try_unwrap` and then a drop take two when it is not.
    pub(crate) fn arc_into_inner<T>(arc: Arc<T>) -> Option<T> {
        Arc::into_inner(arc)
    }
    pub(crate) use std::sync::{Mutex, MutexGuard};
    pub(crate) use std::thread;
    pub(crate) use std::thread_local;
    // The executor and the scheduler block on these; the STM core does not.
    #[allow(unused_imports)]
    pub(crate) use std::sync::Condvar;
    #[allow(unused_imports)]
    pub(crate) use unsafe_cell::UnsafeCell;

    mod unsafe_cell {
        /// `std`'s `UnsafeCell` behind loom's closure API (`with`, `with_mut`), so code
        /// that touches a cell reads the same under both configurations and loom can
        /// check each access.
        #[allow(dead_code)]
        #[derive(Debug, Default)]
        pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

        #[allow(dead_code)]
        impl<T> UnsafeCell<T> {
            pub(crate) const fn new(value: T) -> Self {
                UnsafeCell(std::cell::UnsafeCell::new(value))
            }
            /// Runs `f` with a shared raw pointer to the contents.
            pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
                f(self.0.get())
            }
            /// Runs `f` with an exclusive raw pointer to the contents.
            pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
                f(self.0.get())
            }
        }
    }

    /// A busy-wait hint: one step of a spin loop.
    pub(crate) fn spin_loop() {
        std::hint::spin_loop();
    }

    /// Parks the current thread for at most `timeout` (it may wake earlier).
    pub(crate) fn park_timeout(timeout: std::time::Duration) {
        std::thread::park_timeout(timeout);
    }

    /// `word.store(value, Release)`. See the loom version for why this is a function.
    #[inline]
    pub(crate) fn store_release(word: &atomic::AtomicU64, value: u64) {
        word.store(value, atomic::Ordering::Release);
    }

    /// How many threads a program may run at once: no limit but the OS's.
    pub(crate) const MAX_THREADS: usize = usize::MAX;

    /// Declares a `static` shared by all threads. Under loom the static is created anew
    /// for each explored execution, so every model starts from the same state.
    macro_rules! sync_static {
        ($(#[$attr:meta])* static $name:ident: $ty:ty = $init:expr;) => {
            $(#[$attr])* static $name: $ty = $init;
        };
    }
    pub(crate) use sync_static;
}

#[cfg(loom)]
mod imp {
    pub(crate) mod atomic {
        pub(crate) use loom::sync::atomic::{
            fence, AtomicBool, AtomicIsize, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering,
        };
    }
    pub(crate) use loom::sync::Arc;

    /// `Arc::into_inner`, which loom's `Arc` lacks: `try_unwrap`, dropping the reference
    /// when it is not the last (the same outcome, in two steps).
    pub(crate) fn arc_into_inner<T>(arc: Arc<T>) -> Option<T> {
        Arc::try_unwrap(arc).ok()
    }
    pub(crate) use loom::sync::{Mutex, MutexGuard};
    pub(crate) use loom::thread;
    /// loom's `thread_local!` takes no `const { }` initializer; this one accepts the
    /// std form and drops the `const`, so declarations read the same under both cfgs.
    ///
    /// Each value is wrapped in [`ForgetOnUnwind`](super::ForgetOnUnwind): see there.
    macro_rules! loom_thread_local {
        ($(#[$attr:meta])* static $name:ident: $ty:ty = const { $init:expr };) => {
            loom::thread_local! {
                $(#[$attr])* static $name: $crate::sync::ForgetOnUnwind<$ty> =
                    $crate::sync::ForgetOnUnwind::new($init);
            }
        };
    }
    /// loom's leak tracker, for models whose payloads must all be dropped.
    #[allow(unused_imports)]
    pub(crate) use loom::alloc::Track;
    #[allow(unused_imports)]
    pub(crate) use loom::{cell::UnsafeCell, sync::Condvar};
    pub(crate) use loom_thread_local as thread_local;

    /// How many threads a loom model may run at once, its own included.
    pub(crate) const MAX_THREADS: usize = loom::MAX_THREADS;

    /// Under loom a spin is a yield, so the model can schedule the thread we wait for.
    pub(crate) fn spin_loop() {
        loom::thread::yield_now();
    }

    /// A `Release` store to a word that other threads also update with read-modify-writes.
    ///
    /// Under loom it is a `Release` swap. Loom 0.7 can let a later RMW read a value older
    /// than a plain store to the same atomic (the family of tokio-rs/loom#252), and then
    /// the RMW's write-back undoes the store, an outcome no real machine produces. For
    /// braid's lock words the swap is equivalent to the store: the only RMWs that may run
    /// alongside are waiters' `fetch_add(0)`, which write back what they read, so every
    /// load can observe the same values either way; and a `Release` swap adds no
    /// synchronization, since its read half is relaxed.
    pub(crate) fn store_release(word: &atomic::AtomicU64, value: u64) {
        word.swap(value, atomic::Ordering::Release);
    }

    /// Each value is wrapped in [`ForgetOnUnwind`](super::ForgetOnUnwind): see there.
    macro_rules! sync_static {
        ($(#[$attr:meta])* static $name:ident: $ty:ty = $init:expr;) => {
            loom::lazy_static! {
                $(#[$attr])* static ref $name: $crate::sync::ForgetOnUnwind<$ty> =
                    $crate::sync::ForgetOnUnwind::new($init);
            }
        };
    }
    pub(crate) use sync_static;
}

/// A thread-local or static of braid's under loom, whose destructor stands down while a
/// panic unwinds.
///
/// When a model's closure panics (a user's assertion found a bug), loom unwinds out of
/// the model and drops the failed execution, with every thread's thread-locals and
/// every lazy static in it, *outside* the execution. A destructor that touches a loom
/// primitive there (braid's log frees its variables; `HomeOwner` looks up another
/// thread-local) panics with "cannot access Loom execution state from outside a Loom
/// model", a panic during unwinding, and the process aborts: the user's test binary
/// dies instead of reporting the user's failure. So while the thread is panicking, the
/// value is forgotten instead: the failed execution's memory leaks, which a failing test
/// can afford, and the user's own panic reaches the test harness. Outside a panic (the
/// end of every passing execution, where loom drops thread-locals inside the execution)
/// the value drops as usual, so loom still sees every free and leak check.
///
/// Upstream this is tokio-rs/loom#291 and #350 (a loom primitive touched while a failed
/// model unwinds: "panic in a destructor during cleanup"), with a fix proposed in
/// tokio-rs/loom#297 and not released in loom 0.7; this wrapper is braid's side of it.
#[cfg(loom)]
pub(crate) struct ForgetOnUnwind<T>(std::mem::ManuallyDrop<T>);

#[cfg(loom)]
impl<T> ForgetOnUnwind<T> {
    pub(crate) const fn new(value: T) -> Self {
        ForgetOnUnwind(std::mem::ManuallyDrop::new(value))
    }
}

#[cfg(loom)]
impl<T> std::ops::Deref for ForgetOnUnwind<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

#[cfg(loom)]
impl<T> Drop for ForgetOnUnwind<T> {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            // SAFETY: dropped once, here, and never used again.
            unsafe { std::mem::ManuallyDrop::drop(&mut self.0) }
        }
    }
}

pub(crate) use imp::*;

/// `std`'s atomics under both configurations, for bookkeeping outside the model: a loom
/// atomic there would add a branch point to every execution it counts. (Also the
/// generators' id counter, which only hands out distinct numbers and orders nothing.)
pub(crate) mod outside_loom {
    pub(crate) use std::sync::atomic::{AtomicU64, Ordering};
    #[cfg(loom)]
    pub(crate) use std::sync::{atomic::AtomicUsize, Arc};
}

/// Locks a shim `Mutex`, ignoring poisoning: every critical section in braid leaves its
/// data consistent before anything in it can panic, so a poisoned lock is still sound.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A `Waker` that calls `wake` on every wake-up. The waker's own reference count is a
/// `std` `Arc` under both configurations (`std::task::Wake` requires it); only what `wake`
/// does synchronizes, and that goes through this module's primitives.
pub(crate) fn waker_fn(wake: impl Fn() + Send + Sync + 'static) -> std::task::Waker {
    std::task::Waker::from(std::sync::Arc::new(WakeFn(wake)))
}

struct WakeFn<F>(F);

impl<F: Fn() + Send + Sync + 'static> std::task::Wake for WakeFn<F> {
    fn wake(self: std::sync::Arc<Self>) {
        (self.0)();
    }
    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        (self.0)();
    }
}

/// A `waker_fn` waker that can tell how many clones of it exist elsewhere (the
/// Scheduler's deadlock check counts the wakers of `block_on`'s future).
pub(crate) struct CountedWaker<F> {
    inner: std::sync::Arc<WakeFn<F>>,
    waker: std::task::Waker,
}

impl<F: Fn() + Send + Sync + 'static> CountedWaker<F> {
    pub(crate) fn new(wake: F) -> Self {
        let inner = std::sync::Arc::new(WakeFn(wake));
        let waker = std::task::Waker::from(inner.clone());
        CountedWaker { inner, waker }
    }

    pub(crate) fn waker(&self) -> &std::task::Waker {
        &self.waker
    }

    /// Clones of the waker alive besides the one this holds.
    pub(crate) fn clones(&self) -> usize {
        std::sync::Arc::strong_count(&self.inner) - 2
    }

    /// The waker's data pointer (`Waker::data`), which identifies it and its clones.
    pub(crate) fn key(&self) -> *const () {
        self.waker.data()
    }
}
