//! Waking transactions that called `retry`: a thread parks, a task returns `Pending`.
//!
//! Each variable keeps a list of wait tokens. A retrying transaction registers one token
//! on every variable it read, checks that none of them changed since it read them, and
//! only then sleeps. A committer publishes, unlocks, and wakes every token registered on
//! a variable it wrote.
//!
//! # No lost wake-up
//! The race is the classic one: the waiter's "register, then check versions" against the
//! committer's "publish, then check waiters". Both sides meet on the variable's lock word
//! with read-modify-write operations, never plain loads, because RMWs on one location are
//! totally ordered (and loom models them exactly, where it would treat `SeqCst` loads as
//! merely acquire):
//! 1. The waiter registers (under the list's mutex, raising `count`), then does
//!    `lock.fetch_add(0, AcqRel)` on each variable: a no-op write that reads the word. It
//!    sleeps only if every word is still *unlocked* with the version it read.
//! 2. The committer locks the word with an `Acquire` CAS, and reads `count` at any time
//!    after that (it does so after unlocking).
//!
//! If the waiter's RMW comes first in the word's modification order, the committer's CAS
//! reads from it, so the registration happens before the committer reads `count`, and it
//! wakes the waiter. If the CAS comes first, the waiter's RMW reads a locked word or a
//! newer version, and the waiter runs again instead of sleeping (if that commit then
//! aborts, the re-run simply finds nothing changed and registers anew).
//!
//! A token is notified at most once (`notified` is swapped), so a thread or task woken
//! through several variables is woken once. Sleepers deregister from every list when
//! they wake, so lists hold only live waiters.

use std::ptr::NonNull;
use std::task::Waker;
use std::time::Instant;

use smallvec::SmallVec;

use super::lock::LockWord;
use super::var::VarCore;
use crate::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed};
use crate::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize};
use crate::sync::census;
use crate::sync::park::Sleeper;
use crate::sync::{lock, spin_loop, thread, Arc, Mutex};

/// How long a retrying thread polls its token before it parks: a thousand spin-loop
/// hints (a few to a few tens of microseconds, depending on the CPU's `pause`), then a
/// few yields. Measured on a capacity-1 queue hand-off: 4.9 µs per message with
/// exponential backoff, 3.1 µs with 100 spins, 2.1 µs with 1000. Under loom, none: the
/// polls only look at the token, which the park loop looks at too, so they add no
/// outcome to explore, only branch points (a user's model of a thread woken by a commit,
/// unbounded: 270,297 executions with one spin and one yield, 268,165 without).
const SPINS_BEFORE_PARK: u32 = if cfg!(loom) { 0 } else { 1000 };
const YIELDS_BEFORE_PARK: u32 = if cfg!(loom) { 0 } else { 4 };

/// The waiters parked on one variable, in a list the first of them allocates: most
/// variables never have a waiter, and a list kept inline cost every `TVar` 40 bytes
/// (the core went from 80 bytes to 48, from a 96-byte block of glibc's to a 64-byte one).
///
/// The pointer goes from null to a list once and stays there until the core is freed.
/// A committer reaches it after its lock CAS, as it reached the inline list, so the "No
/// lost wake-up" argument above holds unchanged: a registration that the CAS read from
/// (or after) happened before it, installing the list included.
pub(crate) struct WaitList {
    list: AtomicPtr<Waiters>,
}

impl WaitList {
    pub(crate) fn new() -> Self {
        WaitList {
            list: AtomicPtr::new(std::ptr::null_mut()),
        }
    }

    /// The list, if a waiter ever installed one.
    #[inline]
    fn get(&self) -> Option<&Waiters> {
        // Acquire: pairs with the installing CAS, so the list's initialization is seen
        // even by a committer that no registration happened before.
        let list = self.list.load(Acquire);
        // SAFETY: a non-null pointer came from `Box::into_raw` in `get_or_install`, and
        // the box lives as long as `self` (freed only by `drop`).
        unsafe { list.as_ref() }
    }

    fn get_or_install(&self) -> &Waiters {
        if let Some(waiters) = self.get() {
            return waiters;
        }
        let fresh = Box::into_raw(Box::new(Waiters::new()));
        // AcqRel: Release publishes the fresh list; Acquire, on failure, sees the one
        // another waiter installed first.
        match (self.list).compare_exchange(std::ptr::null_mut(), fresh, AcqRel, Acquire) {
            // SAFETY: just installed; lives as long as `self` (see `get`).
            Ok(_) => unsafe { &*fresh },
            Err(installed) => {
                // SAFETY: `fresh` was never shared; the box is ours to free.
                drop(unsafe { Box::from_raw(fresh) });
                // SAFETY: installed by another waiter; lives as long as `self`.
                unsafe { &*installed }
            }
        }
    }

    fn register(&self, token: &Arc<WaitToken>) {
        self.get_or_install().register(token);
    }

    fn deregister(&self, token: &Arc<WaitToken>) {
        if let Some(waiters) = self.get() {
            waiters.deregister(token);
        }
    }

    /// Called by a committer after its lock CAS on this variable's lock word.
    #[inline]
    pub(crate) fn wake_all(&self) {
        if let Some(waiters) = self.get() {
            waiters.wake_all();
        }
    }
}

impl Drop for WaitList {
    fn drop(&mut self) {
        // Relaxed: the core is being freed, so nothing else reaches it (its free waited
        // for every section that could).
        let list = self.list.load(Relaxed);
        if !list.is_null() {
            // SAFETY: installed by `get_or_install` from `Box::into_raw`, freed only here.
            drop(unsafe { Box::from_raw(list) });
        }
    }
}

/// A variable's waiters, once one has come.
struct Waiters {
    /// The list's length, readable without the mutex: commits check it on every write.
    count: AtomicUsize,
    tokens: Mutex<Vec<Arc<WaitToken>>>,
}

impl Waiters {
    fn new() -> Self {
        Waiters {
            count: AtomicUsize::new(0),
            tokens: Mutex::new(Vec::new()),
        }
    }

    fn register(&self, token: &Arc<WaitToken>) {
        let mut tokens = lock(&self.tokens);
        tokens.push(token.clone());
        // Relaxed: published to committers by the waiter's RMW on the lock word.
        self.count.store(tokens.len(), Relaxed);
    }

    fn deregister(&self, token: &Arc<WaitToken>) {
        let mut tokens = lock(&self.tokens);
        tokens.retain(|t| !Arc::ptr_eq(t, token));
        self.count.store(tokens.len(), Relaxed);
    }

    #[inline]
    fn wake_all(&self) {
        // Relaxed: the lock CAS read from (or after) every registering RMW that could
        // matter, which orders those registrations before this load (see module docs).
        if self.count.load(Relaxed) != 0 {
            self.wake_registered();
        }
    }

    /// `wake_all` once a waiter is registered: out of line, so commits inline only the
    /// check above.
    #[inline(never)]
    fn wake_registered(&self) {
        let woken = {
            let mut tokens = lock(&self.tokens);
            self.count.store(0, Relaxed);
            std::mem::take(&mut *tokens)
        };
        // Outside the mutex: waking runs executor code.
        for token in woken {
            token.notify();
        }
    }
}

/// How to wake one sleeping transaction.
enum Wake {
    Thread(Sleeper),
    /// A task's waker, and its count in the census of an isolated Scheduler running on
    /// the thread that made the token (see `sync/census.rs`).
    Task {
        waker: Waker,
        /// Held for its drop, which takes the wait off the count.
        _counted: Option<census::Counted>,
    },
}

/// One retrying transaction's wake-up, shared by the lists of every variable it read.
pub(crate) struct WaitToken {
    notified: AtomicBool,
    wake: Wake,
}

impl WaitToken {
    pub(crate) fn for_current_thread() -> Arc<WaitToken> {
        Arc::new(WaitToken {
            notified: AtomicBool::new(false),
            wake: Wake::Thread(Sleeper::for_current_thread()),
        })
    }

    pub(crate) fn for_task(waker: &Waker) -> Arc<WaitToken> {
        // Counted under the clone's identity, not the borrowed waker's: a waker lent for
        // one poll may stand in for the task's own (an async generator's body sees such
        // a stand-in), and its clones are the task's own waker.
        let waker = waker.clone();
        let counted = census::count_wait(&waker);
        Arc::new(WaitToken {
            notified: AtomicBool::new(false),
            wake: Wake::Task {
                waker,
                _counted: counted,
            },
        })
    }

    fn notify(&self) {
        // AcqRel: the Release half pairs with the Acquire load in `is_notified`; the swap
        // makes sure only the first of several committers wakes the sleeper.
        if !self.notified.swap(true, AcqRel) {
            match &self.wake {
                Wake::Thread(sleeper) => sleeper.wake(),
                Wake::Task { waker, .. } => waker.wake_by_ref(),
            }
        }
    }

    fn is_notified(&self) -> bool {
        self.notified.load(Acquire)
    }
}

/// A token registered on a set of variables, each held by a counted reference so the
/// registration may outlive the transaction. Dropping it deregisters.
pub(crate) struct Registration {
    token: Arc<WaitToken>,
    vars: SmallVec<[NonNull<VarCore>; 8]>,
}

// SAFETY: a registration holds counted references to variable cores (which are
// `Send + Sync`: their values are) and an `Arc` token; nothing in it is tied to a thread.
unsafe impl Send for Registration {}
// SAFETY: as above; `&Registration` exposes nothing but `Sync` data.
unsafe impl Sync for Registration {}

impl Registration {
    /// Registers `token` on every variable in `reads`.
    ///
    /// `reads` are `(variable, version read)` pairs; the caller's transaction is still
    /// running, so every core in it is alive. A variable whose last handle is gone is
    /// left out (see `VarCore::try_retain`). Returns `None` if a variable already moved
    /// past the version read: the transaction should run again instead of sleeping.
    pub(crate) fn register(
        token: Arc<WaitToken>,
        reads: impl Iterator<Item = (NonNull<VarCore>, u64)> + Clone,
    ) -> Option<Registration> {
        let mut vars: SmallVec<[NonNull<VarCore>; 8]> = reads.clone().map(|(var, _)| var).collect();
        // In commits' lock order (`VarCore::lock_order`), fixed under loom.
        // SAFETY: the caller's transaction read these cores and is running, so they are
        // alive.
        vars.sort_unstable_by_key(|var| unsafe { var.as_ref() }.lock_order());
        vars.dedup();
        // SAFETY: as above; a counted reference taken here keeps its core alive until
        // `drop` releases it.
        vars.retain(|var| unsafe { var.as_ref() }.try_retain());
        for var in &vars {
            // SAFETY: retained just above.
            unsafe { var.as_ref() }.waiters.register(&token);
        }
        let registration = Registration { token, vars };
        let unchanged = reads.into_iter().all(|(var, version)| {
            // SAFETY: the caller's transaction is still running (see above).
            let core = unsafe { var.as_ref() };
            // AcqRel RMW, not a load: see "No lost wake-up" in the module docs.
            let word = LockWord::from_bits(core.lock.fetch_add(0, AcqRel));
            !word.is_locked() && word.version() == version
        });
        unchanged.then_some(registration)
    }

    pub(crate) fn is_notified(&self) -> bool {
        self.token.is_notified()
    }

    /// Parks the current thread until a committer notifies the token, or until
    /// `deadline` passes (`None`: no deadline). Returns whether it was notified.
    pub(crate) fn park_until(&self, deadline: Option<Instant>) -> bool {
        // Spin and yield a little first: a wake-up often comes within microseconds (a
        // queue's other end), and parking and unparking cost system calls on both sides.
        // The spin checks the token on every step (not with exponential backoff, whose
        // long last steps would add microseconds of latency to every hand-off).
        for _ in 0..SPINS_BEFORE_PARK {
            if self.is_notified() {
                return true;
            }
            spin_loop();
        }
        for _ in 0..YIELDS_BEFORE_PARK {
            if self.is_notified() {
                return true;
            }
            thread::yield_now();
        }
        let Wake::Thread(sleeper) = &self.token.wake else {
            unreachable!("park_until is for a thread's registration");
        };
        loop {
            if self.is_notified() {
                return true;
            }
            match deadline {
                None => sleeper.sleep(),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return self.is_notified();
                    }
                    sleeper.sleep_for(deadline - now);
                }
            }
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        for var in self.vars.drain(..) {
            // SAFETY: `register` took a counted reference to each core in `vars`.
            unsafe { var.as_ref() }.waiters.deregister(&self.token);
            // SAFETY: gives back the reference `register` took.
            unsafe { VarCore::release(var) };
        }
    }
}
