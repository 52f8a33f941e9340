//! Reads and writes of a map's per-key variable (`map/key_var.rs`), whose key may be
//! absent: the absent bit travels in the lock word (`lock.rs`), published by the store
//! that unlocks, so a read sees a value and its presence as of one version. An absent
//! value in a node type is a null pointer (no node at all); in a word type, any bits.
//!
//! A variable unlinked from its map is *dead*: a lookup that found it in the index just
//! before the unlink must not use it, since a write to it would be lost with it. A read
//! says so, and an update writes nothing; the map looks the key up again once the
//! unlink is done. (A read that goes through the read set leaves the dead variable in
//! it, harmlessly: a dead variable never changes again.)

use std::ptr::{self, NonNull};

use super::{Log, ReadEntry, Transaction};
use crate::stm::error::{StmError, StmResult};
use crate::stm::lock::LockWord;
use crate::stm::value;
use crate::stm::var::VarCore;

/// What a read of a map variable found.
pub(crate) enum SlotRead<T> {
    /// The key's value, or `None` when the key is absent.
    Live(Option<T>),
    /// The variable was unlinked from its map.
    Dead,
}

/// The unpacking of a map variable's read (see `Log::read_once`): it may run on a value
/// that is then discarded as inconsistent, so a node type's null is absent whatever the
/// lock word said (a commit may have stored it between the two loads).
#[inline(always)]
pub(crate) fn slot_of<T: Clone + 'static>(packed: *mut (), word: LockWord) -> SlotRead<T> {
    if word.is_dead() {
        return SlotRead::Dead;
    }
    if word.is_absent() || !value::in_word::<T>() && packed.is_null() {
        return SlotRead::Live(None);
    }
    // SAFETY: a live `T` (the callers' contract, see `Log::read_once`), not null.
    SlotRead::Live(Some(unsafe { value::unpack_clone::<T>(packed) }))
}

/// A map variable's value packed for its write entry, and whether it says "absent".
#[inline(always)]
fn pack_slot<T: 'static>(new: Option<T>) -> (*mut (), bool) {
    match new {
        Some(value) => (value::pack(value), false),
        None => (ptr::null_mut(), true),
    }
}

impl Log {
    /// `write` of a map variable, for everything but a first write after a read in one
    /// try: a rewrite, an `or_else` branch saving the entry's value, a doomed attempt.
    ///
    /// # Safety
    /// `var` is alive and a map variable of `T`; `packed` came from `pack_slot::<T>`
    /// and is given to this log.
    #[inline(never)]
    unsafe fn write_slot_slow(
        &mut self,
        var: NonNull<VarCore>,
        packed: *mut (),
        absent: bool,
    ) -> StmResult<()> {
        // SAFETY: the caller holds a handle.
        let core = unsafe { var.as_ref() };
        if self.state.doomed {
            // SAFETY: ours, never published.
            unsafe { core.drop_packed(packed) };
            return Err(StmError::CONFLICT);
        }
        let Some(i) = self.find_write(var) else {
            // Not written yet; the caller's read may have gone the slow way for another
            // reason (a lock, a newer version) with the filter bit clear, and a second
            // entry for the variable would make its commit lock it twice.
            self.push_slot_write(var, packed, absent, super::NOT_READ);
            self.state.write_filter |= Log::filter_bit(var);
            return Ok(());
        };
        let saved_by = self.saved_by.get(i).copied().unwrap_or(0);
        let entry = &mut self.writes[i];
        match self.scopes.last().copied() {
            // As in `write_slow`: the branch's first write to an older entry saves it.
            Some(scope) if i < scope.write_mark && saved_by != scope.id => {
                self.undo.push(super::log::UndoEntry {
                    index: i,
                    value: entry.value,
                    absent: entry.absent,
                    scope: saved_by,
                });
                entry.value = packed;
                entry.absent = absent;
                if self.saved_by.len() <= i {
                    self.saved_by.resize(i + 1, 0);
                }
                self.saved_by[i] = scope.id;
            }
            _ => {
                let old = std::mem::replace(&mut entry.value, packed);
                entry.absent = absent;
                // SAFETY: the entry owned its unpublished value (null when absent).
                unsafe { core.drop_packed(old) };
            }
        }
        Ok(())
    }
}

impl Transaction {
    /// A map variable's value as of this transaction's snapshot (or its own write):
    /// `Live(None)` while the key is absent.
    ///
    /// # Safety
    /// `var` is alive (the caller holds a handle) and is a map variable of `T`.
    #[inline]
    pub(crate) unsafe fn read_slot<T: Clone + 'static>(
        &mut self,
        var: NonNull<VarCore>,
    ) -> StmResult<SlotRead<T>> {
        // SAFETY: forwarded from the caller; `slot_of` follows no null.
        unsafe { self.read_unpacked::<T, SlotRead<T>>(var, slot_of::<T>) }
    }

    /// Replaces a map variable's value (or absence) with the first half of `f` of it,
    /// and returns the second: `read_slot`, then a write, in one pass as `update` does.
    /// An absent key that stays absent is not written: the read alone is kept. `None`
    /// for a dead variable: `f` is not called, and nothing is written.
    ///
    /// # Safety
    /// As for `read_slot`.
    #[inline]
    pub(crate) unsafe fn update_slot<T: Clone + 'static, R>(
        &mut self,
        var: NonNull<VarCore>,
        f: impl FnOnce(Option<T>) -> (Option<T>, R),
    ) -> StmResult<Option<R>> {
        // SAFETY: forwarded from the caller.
        if let Some((read, version)) =
            unsafe { self.read_unwritten_once::<T, SlotRead<T>>(var, slot_of::<T>) }
        {
            let SlotRead::Live(old) = read else {
                return Ok(None);
            };
            let was_absent = old.is_none();
            let (new, result) = f(old);
            if was_absent && new.is_none() {
                self.log.reads.push(ReadEntry { var, version });
                return Ok(Some(result));
            }
            let (packed, absent) = pack_slot(new);
            // Not in the write set (`read_unwritten_once`): the entry stands for the read.
            self.log.push_slot_write(var, packed, absent, version);
            self.log.state.write_filter |= Log::filter_bit(var);
            return Ok(Some(result));
        }
        // SAFETY: forwarded from the caller.
        let SlotRead::Live(old) = (unsafe { self.log.read_slow(var, slot_of::<T>) })? else {
            return Ok(None);
        };
        let was_absent = old.is_none();
        let (new, result) = f(old);
        if was_absent && new.is_none() {
            // `read_slow` kept the read (or it was this transaction's own write).
            return Ok(Some(result));
        }
        let (packed, absent) = pack_slot(new);
        // SAFETY: forwarded from the caller; `packed` is a fresh `pack_slot::<T>`.
        unsafe { self.log.write_slot_slow(var, packed, absent) }?;
        Ok(Some(result))
    }
}
