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
//!
//! # Unlinks
//! A sweep may embalm and unlink a variable that a running attempt has read or written:
//! one that was absent when the attempt wrote a value into it, say (a shell that an
//! earlier transaction left, or this attempt's own once an abort cleared its claim). The
//! attempt is doomed, since the embalm moved the version, but until it validates, its
//! body could look the key up in the index, not find it, and so see its own write
//! vanish: a state no serial order produces. So the index, after a pass's embalms and
//! before its unlinks, counts them in `UNLINKS` (`Release`), and an attempt that finds a
//! key missing, or has walked a shard, loads the count (`Acquire`): if it moved since
//! the thread last looked, any variable of its sets that died is one it may have missed,
//! and the attempt is doomed at once. That is enough: a missing entry was seen as a
//! tombstone, or as a table rebuilt without it, both stored after the count moved, so
//! the load sees the new count; and an embalm that a read of the attempt did not see is
//! counted after the last count the thread loaded (a load that saw it would have seen
//! the embalm too, which the count's `Release` publishes).

use std::ptr::{self, NonNull};

use super::{Log, ReadEntry, Transaction};
use crate::stm::error::{StmError, StmResult};
use crate::stm::lock::LockWord;
use crate::stm::value;
use crate::stm::var::VarCore;
use crate::sync::atomic::AtomicU64;
use crate::sync::atomic::Ordering::{Acquire, Release};
use crate::sync::sync_static;

sync_static! {
    /// How many sweep passes have unlinked map variables, in every map: see Unlinks.
    static UNLINKS: AtomicU64 = AtomicU64::new(0);
}

/// Called by a sweep after a pass's embalms and before its unlinks: see Unlinks.
pub(crate) fn note_unlinks() {
    // Release: pairs with `check_unlinks`'s Acquire load, which then sees the embalms.
    UNLINKS.fetch_add(1, Release);
}

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
    /// `check_unlinks` once the count moved: dooms the attempt if a variable it read or
    /// wrote died, or else takes `now` as seen.
    #[cold]
    fn unlinks_moved(&mut self, now: u64) -> StmResult<()> {
        if self.state.doomed {
            return Err(StmError::CONFLICT);
        }
        // SAFETY: read and write entries point to cores alive while the transaction runs.
        let dead = |var: NonNull<VarCore>| unsafe { var.as_ref() }.lock_word().is_dead();
        if self.reads.iter().any(|r| dead(r.var)) || self.writes.iter().any(|w| dead(w.var)) {
            return self.doom();
        }
        self.unlinks_seen = now;
        Ok(())
    }

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
    /// For a map that found a key missing from its index, or walked a shard of it: fails
    /// (and dooms the attempt) if a variable the attempt read or wrote was unlinked from
    /// a map meanwhile, and so may be what it missed. See Unlinks.
    #[inline]
    pub(crate) fn check_unlinks(&mut self) -> StmResult<()> {
        // Acquire: pairs with `note_unlinks`, so the dead bits it counted are seen.
        let now = UNLINKS.load(Acquire);
        if now == self.log.unlinks_seen {
            return Ok(());
        }
        self.log.unlinks_moved(now)
    }

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
