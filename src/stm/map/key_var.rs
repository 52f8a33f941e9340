//! The variable of one key of a `TMap` (transactional predication): a `TVar` whose key
//! may be absent, and which the map's index unlinks once it has been absent for a while.
//!
//! Absence and death are bits of the lock word (`lock.rs`), published with the value by
//! the store that unlocks, so a read sees a value and its presence as of one version
//! (`tx/slot.rs`). A value kept in a word needs no reserved pattern to say "absent", and
//! one kept in a node is simply no node: an absent key's variable holds nothing to free.
//!
//! Never handed out: a `TVar` of it would read the absent value as a `V`.

use crate::stm::commit;
use crate::stm::error::StmResult;
use crate::stm::tvar::TVar;
use crate::stm::tx::{note_unlinks, slot_of, SlotRead, Transaction};
use crate::stm::value;
use crate::sync::atomic::Ordering::Acquire;
use crate::sync::backoff::Backoff;
use crate::sync::reclaim;

use super::index::Embalm;

pub(crate) struct KeyVar<V> {
    var: TVar<V>,
}

impl<V: Clone + Send + Sync + 'static> KeyVar<V> {
    /// The variable of a key inserted for the first time: absent, and claimed by the
    /// inserting transaction until it commits or ends (see `lock.rs`), so that a sweep
    /// leaves it alone meanwhile.
    pub(crate) fn claimed() -> KeyVar<V> {
        KeyVar {
            var: TVar::claimed_absent(),
        }
    }

    /// A variable holding `value`, for a map filled outside any transaction.
    pub(crate) fn present(value: V) -> KeyVar<V> {
        KeyVar {
            var: TVar::new(value),
        }
    }

    /// The key's value as of the transaction's snapshot, `Live(None)` while absent; or
    /// `Dead`, unlinked since the caller's lookup, which must look again.
    #[inline]
    pub(crate) fn read(&self, tx: &mut Transaction) -> StmResult<SlotRead<V>> {
        // SAFETY: `self.var` keeps the core alive, and it is a map variable of `V`.
        unsafe { tx.read_slot(self.var.core()) }
    }

    /// Replaces the key's value (or absence) with the first half of `f` of it, and returns
    /// the second; `None` when dead, with nothing written and `f` not called.
    #[inline]
    pub(crate) fn update<R>(
        &self,
        tx: &mut Transaction,
        f: impl FnOnce(Option<V>) -> (Option<V>, R),
    ) -> StmResult<Option<R>> {
        // SAFETY: as in `read`.
        unsafe { tx.update_slot(self.var.core(), f) }
    }

    /// Clears the claim of a variable this transaction made but did not get to write
    /// (its attempt failed first), so that a sweep may take it.
    pub(crate) fn unclaim(&self) {
        // SAFETY: `self.var` keeps the core alive.
        unsafe { self.var.core().as_ref() }.unclaim();
    }

    /// The key's latest committed value, outside any transaction, as `TVar::load`; `None`
    /// while absent, and once dead (it was absent when it died).
    #[inline]
    pub(crate) fn load(&self) -> Option<V> {
        // SAFETY: `self.var` keeps the core alive.
        let core = unsafe { self.var.core().as_ref() };
        // A node may be replaced and retired while we clone it; a word needs no pin.
        let _guard = (!value::in_word::<V>()).then(reclaim::pin);
        let mut backoff = Backoff::new();
        loop {
            let before = core.lock_word();
            if !before.is_locked() {
                // Acquire: pairs with the committer's Release store of the value.
                let read = slot_of::<V>(core.value.load(Acquire), before);
                if core.lock_word() == before {
                    return match read {
                        SlotRead::Live(value) => value,
                        SlotRead::Dead => None,
                    };
                }
            }
            backoff.snooze();
        }
    }
}

impl<V: Clone + Send + Sync + 'static> Embalm for KeyVar<V> {
    fn embalm(&self) -> bool {
        // SAFETY: `self.var` keeps the core alive.
        commit::embalm_if_absent(unsafe { self.var.core().as_ref() })
    }

    fn wake(&self) {
        // SAFETY: `self.var` keeps the core alive.
        unsafe { self.var.core().as_ref() }.waiters.wake_all();
    }

    fn before_unlink() {
        note_unlinks();
    }
}
