//! The shared core of a `TVar`: lock word, current value, reference count, waiters.
//!
//! The core is not generic: the value is a type-erased pointer to a heap node holding a
//! `T`, and `drop_value` is the one function that knows `T`. Transactions, commits and
//! waiters handle `NonNull<VarCore>` and never need to be generic themselves.
//!
//! # Lifetime
//! `TVar` handles own the reference count (`refs`); each clone adds one. The last handle
//! does not free the core at once: a transaction may have read it while pinned and still
//! hold a pointer to it (read and write sets do not own references, so a read-only
//! transaction writes no shared counter). The free is deferred through `reclaim`, so a
//! pointer taken while pinned stays valid until that guard is dropped. A waiter that must
//! outlive its guard (a parked `retry`) takes a counted reference with `retain`.
//!
//! # Value nodes
//! A value node is written once, when created, and never mutated after it is published.
//! A commit replaces the pointer and defers the old node's free, so a reader pinned
//! before the swap can finish cloning the old value.
//!
//! # Orderings
//! - `value` is stored with `Release` by the committer and loaded with `Acquire` by
//!   readers: the node's contents, written before the store, are visible to the reader.
//! - `refs` follows `Arc`: increments are `Relaxed` (made from a live reference), the
//!   decrement is `Release`, and the last one adds an `Acquire` fence so every use through
//!   other handles happens before the free.
//! - `lock` is documented in `commit.rs`, which is the only writer.

use std::ptr::NonNull;

use super::lock::LockWord;
use super::wait::WaitList;
use crate::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use crate::sync::atomic::{fence, AtomicPtr, AtomicU64, AtomicUsize};
use crate::sync::reclaim;

pub(crate) struct VarCore {
    /// The versioned lock; see `lock.rs`.
    pub(crate) lock: AtomicU64,
    /// Points to a `Box<T>`-allocated node, erased to `()`.
    pub(crate) value: AtomicPtr<()>,
    /// Counted references: one per `TVar` handle and one per parked waiter.
    refs: AtomicUsize,
    /// Threads and tasks parked in `retry` after reading this variable.
    pub(crate) waiters: WaitList,
    /// Frees a node of this variable's value type.
    drop_value: unsafe fn(*mut ()),
}

/// Frees a value node made by [`VarCore::new_node`].
///
/// # Safety
/// `node` came from `new_node::<T>` and nothing else will use or free it.
unsafe fn drop_node<T>(node: *mut ()) {
    // SAFETY: the caller passes a node allocated as `Box<T>` and gives up its ownership.
    drop(unsafe { Box::from_raw(node.cast::<T>()) });
}

impl VarCore {
    /// Allocates a core holding `value`, with one counted reference (the caller's handle).
    pub(crate) fn new<T: Send + Sync + 'static>(value: T) -> NonNull<VarCore> {
        let core = Box::new(VarCore {
            lock: AtomicU64::new(LockWord::unlocked(0).bits()),
            value: AtomicPtr::new(Self::new_node(value)),
            refs: AtomicUsize::new(1),
            waiters: WaitList::new(),
            drop_value: drop_node::<T>,
        });
        NonNull::from(Box::leak(core))
    }

    /// Allocates a value node. It is freed by `drop_node`, or published by a commit.
    pub(crate) fn new_node<T>(value: T) -> *mut () {
        Box::into_raw(Box::new(value)).cast()
    }

    /// Frees a node of this variable's type that was never published, or was unlinked
    /// and is no longer reachable by readers.
    ///
    /// # Safety
    /// `node` is a node of this variable's value type, owned by the caller.
    pub(crate) unsafe fn free_node(&self, node: *mut ()) {
        // SAFETY: same value type (this variable's), ownership passed by the caller.
        unsafe { (self.drop_value)(node) }
    }

    /// Defers the free of a node that a commit just unlinked until no pinned reader can
    /// still be cloning it.
    ///
    /// # Safety
    /// `node` was this variable's published value and has been replaced.
    pub(crate) unsafe fn retire_node(&self, node: *mut (), guard: &reclaim::Guard) {
        let drop_value = self.drop_value;
        let node = SendPtr(node);
        // SAFETY: the node is unreachable for readers that pin from now on; the deferred
        // free runs after every reader pinned now has unpinned. Value types are
        // `Send + Sync`, so the free may run on any thread.
        unsafe {
            guard.defer_unchecked(move || {
                let node = node;
                drop_value(node.0)
            })
        }
    }

    pub(crate) fn lock_word(&self) -> LockWord {
        // Acquire: pairs with the committer's Release unlock, so the value loaded after
        // this is at least as new as the version read here.
        LockWord::from_bits(self.lock.load(Acquire))
    }

    /// Adds a counted reference to a core that is known to be alive.
    pub(crate) fn retain(&self) {
        // Relaxed: made from a live reference, like `Arc::clone`.
        self.refs.fetch_add(1, Relaxed);
    }

    /// Drops a counted reference; the last one defers freeing the core.
    ///
    /// # Safety
    /// The caller owns one counted reference to `core` and gives it up.
    pub(crate) unsafe fn release(core: NonNull<VarCore>) {
        // SAFETY: the caller owns a counted reference, so the core is alive.
        let refs = unsafe { &core.as_ref().refs };
        // Release: every use of the core through this reference happens before the free.
        if refs.fetch_sub(1, Release) != 1 {
            return;
        }
        // Acquire: pairs with the Release decrements of every other reference.
        fence(Acquire);
        let core = SendPtr(core.as_ptr().cast::<()>());
        let guard = reclaim::pin();
        // SAFETY: no handle is left, so no new transaction can reach the core; the ones
        // pinned now may still hold a pointer, and the free waits for them.
        unsafe {
            guard.defer_unchecked(move || {
                let core = core;
                drop(Box::from_raw(core.0.cast::<VarCore>()))
            })
        }
    }
}

impl Drop for VarCore {
    fn drop(&mut self) {
        let node = self.value.load(Relaxed);
        // SAFETY: the core is being freed, so nothing else can reach its current node.
        unsafe { (self.drop_value)(node) }
    }
}

/// A raw pointer moved into a deferred free. The free owns what it points to.
struct SendPtr(*mut ());
// SAFETY: only ever wraps value nodes and cores, whose contents are `Send + Sync`
// (`TVar::new` requires it), and the deferred function is their sole owner.
unsafe impl Send for SendPtr {}
