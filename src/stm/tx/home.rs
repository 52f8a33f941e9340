//! Where each thread keeps its log between transactions (`Home`, in a thread-local), and
//! a running transaction's exclusive borrow of it (`LogRef`), which is also how a nested
//! `atomically` is caught.

use std::cell::Cell;
use std::ptr::NonNull;

use super::Log;
use crate::sync::atomic::{fence, Ordering::SeqCst};
use crate::sync::presence;
#[cfg(loom)]
use crate::sync::reclaim;
use crate::sync::thread_local;

/// What a thread keeps from one transaction to the next: its presence record and its
/// log. The thread's `HOME` slot owns it.
///
/// A running transaction borrows the log alone (`LogRef`), never the whole home, so a
/// nested `atomically` may still read the presence, which is how it finds out it is
/// nested: the thread is inside a section. The slot holds the home all along, even while
/// a transaction runs, so neither starting nor ending one stores anything there.
struct Home {
    /// The thread's presence record: inside a section while a transaction runs.
    presence: presence::Local,
    /// The thread keeps this home for its next transaction: false for one made after the
    /// thread's `HOME_OWNER` was destroyed, which nothing would free at exit. The
    /// transaction that made it frees it as it ends.
    kept_by_thread: bool,
    log: Log,
}

thread_local! {
    /// This thread's home, as a plain pointer (from `Box::into_raw`): null until its first
    /// transaction, and again once it is freed at thread exit.
    ///
    /// A pointer, not a `Box`, so that the thread-local needs no destructor: then each
    /// access is a plain load, where a thread-local with a destructor first checks
    /// whether it was registered or already destroyed (24 of a one-variable increment's
    /// instructions to take the log, 25 to give it back, counted with callgrind).
    /// `HOME_OWNER` frees the home at thread exit instead.
    static HOME: HomeSlot = const { HomeSlot(Cell::new(std::ptr::null_mut())) };
}

thread_local! {
    /// Frees the thread's home when the thread exits.
    static HOME_OWNER: HomeOwner = const { HomeOwner };
}

/// The cell behind `HOME`.
struct HomeSlot(Cell<*mut Home>);

/// Frees the home in `slot`, if it holds one, leaving it empty. Never while a
/// transaction runs on the thread: thread-locals are destroyed after the thread's code
/// returns, and a transaction ends before its caller returns, even by a panic.
fn free_home(slot: &Cell<*mut Home>) {
    let home = slot.replace(std::ptr::null_mut());
    if !home.is_null() {
        // SAFETY: the slot owned this home (see `HOME`) and has just let go of it.
        drop(unsafe { Box::from_raw(home) });
    }
}

struct HomeOwner;

impl Drop for HomeOwner {
    fn drop(&mut self) {
        // Fails only under loom (below), where the slot frees the home itself.
        let _ = HOME.try_with(|slot| free_home(&slot.0));
    }
}

/// Under loom the slot frees its home itself: loom takes every thread-local of an
/// exiting thread out of reach before it drops any of them, so `HomeOwner` cannot reach
/// the slot there. (Under std the slot must have no destructor; see `HOME`.)
#[cfg(loom)]
impl Drop for HomeSlot {
    fn drop(&mut self) {
        free_home(&self.0);
    }
}

/// A running transaction's exclusive borrow of its thread's log.
pub(crate) struct LogRef(NonNull<Home>);

impl std::ops::Deref for LogRef {
    type Target = Log;

    #[inline(always)]
    fn deref(&self) -> &Log {
        // SAFETY: the home outlives the transaction (it is freed at thread exit, or by
        // the transaction itself as it ends), and the transaction's presence keeps any
        // other transaction on the thread from borrowing the log (see `Home`).
        unsafe { &(*self.0.as_ptr()).log }
    }
}

impl std::ops::DerefMut for LogRef {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut Log {
        // SAFETY: as in `deref`.
        unsafe { &mut (*self.0.as_ptr()).log }
    }
}

/// Whether a transaction is running on this thread (its body, or its commit).
pub(crate) fn in_transaction() -> bool {
    let home = HOME.with(|slot| slot.0.get());
    // SAFETY: a home in the slot lives until the thread exits; only its presence is
    // read, which no transaction borrows.
    !home.is_null() && unsafe { &*home }.presence.is_inside()
}

/// Runs `f` inside a section of this thread (`presence.rs`), as a transaction's body
/// runs: memory that sections reach without pinning (a variable's core, `TMap`'s index)
/// is not freed while `f` runs. Inside a transaction body, `f` simply runs: the thread
/// is already inside. A plain store to enter and one to leave, also when `f` panics.
pub(crate) fn in_section<R>(f: impl FnOnce() -> R) -> R {
    if in_transaction() {
        return f();
    }
    /// Leaves the section as it drops, so a panic in `f` leaves it too.
    struct Leave(LogRef);
    impl Drop for Leave {
        fn drop(&mut self) {
            self.0.give_back();
        }
    }
    let _inside = Leave(LogRef::for_transaction());
    f()
}

impl super::Transaction {
    /// A `SeqCst` fence after this transaction's section began, for a reader whose
    /// section must be seen by a writer's scan before it loads what that writer may
    /// retire (`TMap`'s index: `map/index.rs`, Sections). Once per attempt is enough (the
    /// section spans every attempt), so a transaction of several lookups fences once.
    #[inline]
    pub(crate) fn fence_section(&mut self) {
        if !self.log.state.section_fenced {
            fence(SeqCst);
            self.log.state.section_fenced = true;
        }
    }
}

impl LogRef {
    /// Starts the thread's next transaction: marks it inside, and borrows its log.
    ///
    /// # Panics
    /// If a transaction is already running on this thread.
    #[inline]
    #[track_caller]
    pub(super) fn for_transaction() -> LogRef {
        let home = HOME.with(|slot| slot.0.get());
        // SAFETY: a home in the slot lives until the thread exits; only its presence is
        // read, which no transaction borrows.
        match NonNull::new(home) {
            Some(home) if unsafe { home.as_ref() }.presence.try_enter() => LogRef(home),
            _ => LogRef::first_or_nested(home),
        }
    }

    /// `for_transaction` when the slot holds no home, or one whose thread is inside a
    /// transaction: the thread's first transaction, one that runs after its home was
    /// freed at exit (in another thread-local's destructor), or a nested call.
    #[cold]
    #[track_caller]
    fn first_or_nested(home: *mut Home) -> LogRef {
        if !home.is_null() {
            panic!(
                "braid::stm: `atomically` called inside a transaction; transactions do not \
                 nest. Compose instead: pass the `&mut Transaction` to the inner code, or \
                 use `or_else` for alternatives."
            );
        }
        let home = Box::new(Home {
            presence: presence::Local::claim(),
            // Registers the owner's destructor on first use; fails once it has run, and
            // then the transaction frees the home as it ends.
            kept_by_thread: HOME_OWNER.try_with(|_| ()).is_ok(),
            log: Log::new(),
        });
        home.presence.enter();
        // In the slot even when not kept, so that a nested call is caught as nested.
        let home = NonNull::from(Box::leak(home));
        HOME.with(|slot| slot.0.set(home.as_ptr()));
        LogRef(home)
    }

    /// The thread's presence record.
    #[inline(always)]
    pub(super) fn presence(&self) -> &presence::Local {
        // SAFETY: as in `deref`; the presence is never borrowed mutably.
        unsafe { &(*self.0.as_ptr()).presence }
    }

    /// Leaves the transaction's section. Under loom, also frees what waited for that
    /// (under std the collector looks after those; see `reclaim::free_after_sections`).
    #[inline(always)]
    pub(super) fn leave_section(&self) {
        self.presence().leave();
        #[cfg(loom)]
        reclaim::free_after_sections();
    }

    /// Leaves the transaction's section: the log is the thread's again, for its next
    /// transaction. A home not kept by the thread is freed here, so the transaction must
    /// not use the log afterwards.
    #[inline(always)]
    pub(super) fn give_back(&self) {
        self.leave_section();
        // SAFETY: as in `deref`.
        if !unsafe { self.0.as_ref() }.kept_by_thread {
            self.free_unkept();
        }
    }

    #[cold]
    pub(super) fn free_unkept(&self) {
        HOME.with(|slot| free_home(&slot.0));
    }
}
