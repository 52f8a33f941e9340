//! The variable of one key of a `TMap` (transactional predication): a `TVar` whose key
//! may be absent, and which the map's index unlinks once it has been absent for a while.
//!
//! Absence and death are bits of the lock word (`lock.rs`), published with the value by
//! the store that unlocks, so a read sees a value and its presence as of one version
//! (`tx/slot.rs`). A value kept in a word needs no reserved pattern to say "absent", and
//! one kept in a node is simply no node: an absent key's variable holds nothing to free.
//!
//! The variable's core is inline in its index entry (`#[repr(C)]`, first), so that a
//! lookup reaches the key and the lock word in one allocation, with no pointer to
//! follow between them. The index holds one counted reference to the core, given up
//! when it frees the entry (`Embalm::free`); a parked waiter may hold more, and the last
//! one frees the entry (the core's `VarKind::free`, here `free_entry_of::<K, V>`).
//!
//! Never handed out: a `TVar` of it would read the absent value as a `V`.

use std::marker::PhantomData;
use std::ptr::NonNull;

use crate::stm::commit;
use crate::stm::error::StmResult;
use crate::stm::tx::{note_unlinks, slot_of, SlotRead, Transaction};
use crate::stm::value;
use crate::stm::var::{CoreHome, VarCore};
use crate::sync::atomic::Ordering::Acquire;
use crate::sync::backoff::Backoff;
use crate::sync::reclaim;

use super::index::{self, Embalm, Entry};

#[repr(C)]
pub(crate) struct KeyVar<V> {
    /// First, so that the core's address is the payload's (`free_entry_of`).
    core: VarCore,
    _value: PhantomData<V>,
}

// SAFETY: the core holds a `V` (packed) and hands out clones of it to any thread, as
// `TVar<V>` does, whose bounds these are.
unsafe impl<V: Send + Sync> Send for KeyVar<V> {}
// SAFETY: as above.
unsafe impl<V: Send + Sync> Sync for KeyVar<V> {}

impl<V: Clone + Send + Sync + 'static> KeyVar<V> {
    /// The variable of a key inserted for the first time into a map with keys `K`:
    /// absent, and claimed by the inserting transaction until it commits or ends (see
    /// `lock.rs`), so that a sweep leaves it alone meanwhile.
    pub(crate) fn claimed<K: Send + 'static>() -> KeyVar<V> {
        KeyVar {
            core: VarCore::claimed_absent::<V, InEntry<K, V>>(),
            _value: PhantomData,
        }
    }

    /// A variable holding `value`, for a map with keys `K` filled outside any
    /// transaction.
    pub(crate) fn present<K: Send + 'static>(value: V) -> KeyVar<V> {
        KeyVar {
            core: VarCore::present::<V, InEntry<K, V>>(value),
            _value: PhantomData,
        }
    }

    /// The core, as transactions hold it.
    fn core(&self) -> NonNull<VarCore> {
        NonNull::from(&self.core)
    }

    /// The key's value as of the transaction's snapshot, `Live(None)` while absent; or
    /// `Dead`, unlinked since the caller's lookup, which must look again.
    #[inline]
    pub(crate) fn read(&self, tx: &mut Transaction) -> StmResult<SlotRead<V>> {
        // SAFETY: the entry (so the core) lives while the caller's section runs, and the
        // core is a map variable of `V`.
        unsafe { tx.read_slot(self.core()) }
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
        unsafe { tx.update_slot(self.core(), f) }
    }

    /// Clears the claim of a variable this transaction made but did not get to write
    /// (its attempt failed first), so that a sweep may take it.
    pub(crate) fn unclaim(&self) {
        self.core.unclaim();
    }

    /// The key's latest committed value, outside any transaction, as `TVar::load`; `None`
    /// while absent, and once dead (it was absent when it died).
    #[inline]
    pub(crate) fn load(&self) -> Option<V> {
        let core = &self.core;
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

impl<V> Embalm for KeyVar<V> {
    fn embalm(&self) -> bool {
        commit::embalm_if_absent(&self.core)
    }

    fn wake(&self) {
        self.core.waiters.wake_all();
    }

    fn before_unlink() {
        note_unlinks();
    }

    unsafe fn free<K>(entry: *mut Entry<K, Self>) {
        // SAFETY: the index's counted reference, given up once; the core is the
        // payload's first field.
        unsafe { VarCore::release(NonNull::new_unchecked(&raw mut (*entry).payload.core)) }
    }
}

/// Where a key variable's core lives: inline in an `Entry<K, KeyVar<V>>`.
struct InEntry<K, V>(PhantomData<(K, V)>);

impl<K, V> CoreHome for InEntry<K, V> {
    const FREE: unsafe fn(*mut ()) = free_entry_of::<K, V>;
}

/// A key variable's `VarKind::free`: frees the index entry the core is inline in, once
/// its last counted reference is gone.
///
/// # Safety
/// `core` is the core of a `KeyVar<V>` in an `Entry<K, KeyVar<V>>` of an index, with no
/// references left and no section able to reach it.
unsafe fn free_entry_of<K, V>(core: *mut ()) {
    // SAFETY: the caller's precondition: the core is at the payload's address.
    unsafe { index::free_entry(index::entry_of_payload::<K, KeyVar<V>>(core.cast())) }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::KeyVar;
    use crate::stm::map::index::Entry;

    #[test]
    fn a_u64_entry_is_56_bytes_with_hash_key_lock_and_value_in_its_first_32() {
        type U64Entry = Entry<u64, KeyVar<u64>>;
        // 56 + glibc's 8-byte header fill a 64-byte block exactly.
        assert_eq!(size_of::<U64Entry>(), 56);
        assert_eq!(std::mem::offset_of!(U64Entry, hash), 0);
        assert_eq!(std::mem::offset_of!(U64Entry, key), 8);
        // The core's lock word and value are its first two words.
        assert_eq!(std::mem::offset_of!(U64Entry, payload), 16);
        assert_eq!(std::mem::offset_of!(crate::stm::var::VarCore, lock), 0);
        assert_eq!(std::mem::offset_of!(crate::stm::var::VarCore, value), 8);
    }
}
