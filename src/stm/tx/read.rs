//! Reads and validation: TL2's steps 1 and 2 (see the module docs), snapshot extension,
//! read-set validation, and reads in place for structures made of variables.

use std::ptr::NonNull;

use super::{Log, ReadEntry, Transaction, NOT_READ};
use crate::stm::clock;
use crate::stm::error::{StmError, StmResult};
use crate::stm::lock::LockWord;
use crate::stm::value;
use crate::stm::var::VarCore;
use crate::sync::atomic::Ordering::Acquire;
use crate::sync::backoff::Backoff;

/// A clone of the `T` in `packed`: how `read` and `update` unpack.
///
/// Not an `unsafe fn` only because it is passed where a plain `Fn` is expected: it is
/// private to this file and used only as the `unpack` of `read`/`update`, whose callers
/// vouch that the variable holds a `T`, and which call it only on a live value
/// (published and pinned, or the transaction's own).
#[inline(always)]
fn clone_of<T: Clone + 'static>(packed: *mut (), _: LockWord) -> T {
    // SAFETY: see above: a live `T`, as `unpack_clone` requires.
    unsafe { value::unpack_clone::<T>(packed) }
}

impl Log {
    /// One try at a consistent read of the variable's published value: `None` if it is
    /// locked or changed during the read. Its version is still to be checked against the
    /// snapshot.
    ///
    /// `unpack` turns the packed value into what the caller wants (a clone, or a pointer
    /// into the node); it may run on a value that is then discarded as inconsistent. It
    /// also gets the lock word read before the value, for a map variable's absent and
    /// dead bits (a node type's absent value is null: `unpack` must not follow it).
    ///
    /// # Safety
    /// The variable's value type is `T`, and if that is a node type, the transaction is
    /// pinned; `unpack` is sound on any live value of that type.
    #[inline(always)]
    pub(super) unsafe fn read_once<R>(
        core: &VarCore,
        unpack: impl FnOnce(*mut (), LockWord) -> R,
    ) -> Option<(R, u64)> {
        let before = core.lock_word();
        if before.is_locked() {
            return None;
        }
        // Acquire: pairs with the committer's Release store of this value, so a node's
        // contents are visible; also keeps the second lock-word load after this one.
        let packed = core.value.load(Acquire);
        // `packed` was published, so it holds a `T`; a node is freed only through a
        // deferred free after it is unlinked, and we are pinned, so it is alive.
        let value = unpack(packed, before);
        (core.lock_word() == before).then_some((value, before.version()))
    }

    /// `read` for everything but the common case: waits out a lock held by a commit,
    /// extends the snapshot past a newer version, or dooms the attempt.
    ///
    /// # Safety
    /// As for `read`.
    #[inline(never)]
    pub(super) unsafe fn read_slow<R>(
        &mut self,
        var: NonNull<VarCore>,
        unpack: impl Fn(*mut (), LockWord) -> R,
    ) -> StmResult<R> {
        if self.state.doomed {
            return Err(StmError::CONFLICT);
        }
        if let Some(i) = self.find_write(var) {
            // A write entry holds an unpublished `T` owned by this transaction (the
            // caller vouches the variable's type is `T`), or a map variable's "absent".
            let entry = &self.writes[i];
            let flags = LockWord::unlocked(0).with_absent(entry.absent);
            return Ok(unpack(entry.value, flags));
        }
        // SAFETY: the caller holds a handle, so the core is alive.
        let core = unsafe { var.as_ref() };
        let mut backoff = Backoff::new();
        loop {
            // SAFETY: forwarded from the caller; `read` pinned for a node type.
            let Some((value, version)) = (unsafe { Self::read_once(core, &unpack) }) else {
                // Locked or changed under us: a commit is publishing, and holds the lock
                // only for a few stores.
                backoff.snooze();
                continue;
            };
            if version > self.read_version {
                // Committed after our snapshot. If nothing read so far has changed, move
                // the snapshot forward and read again: the value just loaded is older than
                // the new snapshot and may already be overwritten by a commit inside it.
                if !self.extend(version) {
                    return self.doom();
                }
                continue;
            }
            self.reads.push(ReadEntry { var, version });
            return Ok(value);
        }
    }

    /// `depend_on` for the variable of write entry `i`: its entry stands for a read of
    /// the committed version from now on (checked by every validation, the commit's
    /// too), unless it already did, when that version must not have moved.
    #[cold]
    fn depend_on_written(&mut self, i: usize) -> StmResult<()> {
        let (var, read_version) = (self.writes[i].var, self.writes[i].read_version);
        // SAFETY: write entries point to cores alive while the transaction runs.
        let core = unsafe { var.as_ref() };
        let mut backoff = Backoff::new();
        loop {
            let word = core.lock_word();
            if word.is_locked() {
                // Another commit is publishing (this attempt holds no lock while it runs).
                backoff.snooze();
                continue;
            }
            if read_version != NOT_READ {
                return if word.version() == read_version {
                    Ok(())
                } else {
                    self.doom()
                };
            }
            if word.version() > self.read_version {
                // As in `read_slow`: move the snapshot forward, then look again.
                if !self.extend(word.version()) {
                    return self.doom();
                }
                continue;
            }
            self.writes[i].read_version = word.version();
            return Ok(());
        }
    }

    /// Moves the snapshot forward to now, and the clock to at least `version` (a variable
    /// this attempt met, which a stamping commit may have stamped past the clock: see
    /// `clock.rs`), if nothing read so far has changed.
    pub(super) fn extend(&mut self, version: u64) -> bool {
        let now = clock::advance_to(version);
        // Not moved when the read set is stale: this attempt is doomed, and the next one
        // takes a fresh snapshot.
        if self.reads_valid(false) {
            self.read_version = now;
            true
        } else {
            false
        }
    }

    /// Whether every variable read (`reads`: also those write entries stand for) still
    /// carries the version read and is unlocked.
    ///
    /// `locks_held`: the caller is the commit, holding the locks of its write set, so a
    /// variable locked *by this transaction* counts as unlocked. Anywhere else a locked
    /// variable is invalid even if this transaction wrote it: the lock is someone else's
    /// commit in flight, and trusting it let a later commit that skipped validation
    /// overwrite that commit's update (the loom model
    /// `extension_does_not_trust_a_locked_variable_it_wrote`).
    pub(crate) fn reads_valid(&self, locks_held: bool) -> bool {
        let reads_valid = self.reads.iter().all(|r| {
            // SAFETY: read entries point to cores alive while the transaction runs.
            let word = unsafe { r.var.as_ref() }.lock_word();
            word.version() == r.version && (!word.is_locked() || locks_held && self.owns(r.var))
        });
        // Write entries that stand for reads: their variables are this transaction's to
        // lock.
        let mut in_writes = (self.writes.iter()).filter(|w| w.read_version != NOT_READ);
        reads_valid
            && in_writes.all(|w| {
                // SAFETY: write entries point to cores alive while the transaction runs.
                let word = unsafe { w.var.as_ref() }.lock_word();
                word.version() == w.read_version && (!word.is_locked() || locks_held)
            })
    }

    /// Every variable read and the version read: the read set, and the write entries
    /// that stand for reads.
    pub(crate) fn reads(&self) -> impl Iterator<Item = (NonNull<VarCore>, u64)> + Clone + '_ {
        let reads = self.reads.iter().map(|r| (r.var, r.version));
        let in_writes = (self.writes.iter()).filter(|w| w.read_version != NOT_READ);
        reads.chain(in_writes.map(|w| (w.var, w.read_version)))
    }
}

impl Transaction {
    /// Reads the variable's value as of this transaction's snapshot.
    ///
    /// Inlined for the common case, a variable this transaction has not written, read in
    /// one try (`read_unwritten_once`); anything else (its own write, a lock held, a
    /// version to extend past, a doomed attempt) goes to `read_slow`. Reads are generic,
    /// so this compiles in each caller; keeping the inlined part to one try keeps that
    /// code small.
    ///
    /// # Safety
    /// `var` is alive (the caller holds a handle to it) and its value type is `T`.
    #[inline]
    pub(crate) unsafe fn read<T: Clone + 'static>(
        &mut self,
        var: NonNull<VarCore>,
    ) -> StmResult<T> {
        // SAFETY: forwarded from the caller.
        unsafe { self.read_unpacked::<T, T>(var, clone_of::<T>) }
    }

    /// Like `read`, but without a clone: a pointer to the value in its node, as of this
    /// transaction's snapshot (or its own write). For structures built of variables
    /// (`TMap`'s trie), whose readers only look a value over to find the next variable.
    ///
    /// The pointer stays valid until this attempt ends (restarts, commits or is dropped)
    /// or writes `var` again: a published node is freed only after the attempt's pin,
    /// and its own write's node only when rewritten or discarded.
    ///
    /// # Safety
    /// As for `read`, and `T` is held in a node (`value::in_word::<T>()` is false).
    #[inline]
    pub(crate) unsafe fn read_in_place<T: 'static>(
        &mut self,
        var: NonNull<VarCore>,
    ) -> StmResult<NonNull<T>> {
        debug_assert!(
            !value::in_word::<T>(),
            "a word value has no node to point into"
        );
        // A node pointer is never null (`node::new`); `read_in_place` is not for map
        // variables, whose absent value is null.
        let in_node = |packed: *mut (), _| NonNull::new(packed.cast::<T>()).expect("a node");
        // SAFETY: forwarded from the caller; `in_node` only casts.
        unsafe { self.read_unpacked::<T, NonNull<T>>(var, in_node) }
    }

    /// `read` with `unpack` making the result from the packed value.
    ///
    /// # Safety
    /// As for `read`; `unpack` is sound on any value of `var` that is alive.
    #[inline(always)]
    pub(super) unsafe fn read_unpacked<T: 'static, R>(
        &mut self,
        var: NonNull<VarCore>,
        unpack: impl Fn(*mut (), LockWord) -> R + Copy,
    ) -> StmResult<R> {
        // SAFETY: forwarded from the caller.
        if let Some((value, version)) = unsafe { self.read_unwritten_once::<T, R>(var, unpack) } {
            self.log.reads.push(ReadEntry { var, version });
            return Ok(value);
        }
        // SAFETY: forwarded from the caller.
        unsafe { self.log.read_slow(var, unpack) }
    }

    /// Replaces the variable's value with the first half of `f` of it, and returns the
    /// second: `read`, then `write` (`modify`, `replace`). Inlined for the common case, as
    /// `read` is, where the write entry then stands for the read and one test of the
    /// write filter serves both; anything else is the general `read_slow` and `write`.
    ///
    /// # Safety
    /// As for `read`.
    #[inline]
    pub(crate) unsafe fn update<T: Clone + 'static, R>(
        &mut self,
        var: NonNull<VarCore>,
        f: impl FnOnce(T) -> (T, R),
    ) -> StmResult<R> {
        // SAFETY: forwarded from the caller.
        if let Some((value, version)) =
            unsafe { self.read_unwritten_once::<T, T>(var, clone_of::<T>) }
        {
            // Not in the write set (`read_unwritten_once`).
            let (value, result) = f(value);
            self.log
                .push_write_after_read(var, value::pack(value), version);
            self.log.state.write_filter |= Log::filter_bit(var);
            return Ok(result);
        }
        // SAFETY: forwarded from the caller (`read_slow` handles every case `read` does).
        let value = unsafe { self.log.read_slow(var, clone_of::<T>) }?;
        let (value, result) = f(value);
        // SAFETY: forwarded from the caller.
        unsafe { self.write(var, value) }?;
        Ok(result)
    }

    /// Makes this attempt depend on the variable's committed version, as a read does,
    /// also when the attempt has written it, where a read returns the attempt's own value
    /// and records nothing. For a map's witnesses (`map/tmap.rs`): an attempt that wrote
    /// a shard's witness (it added a key there) and then finds another key of the shard
    /// missing must still conflict with a commit that adds that key, and a walk must
    /// still notice a key removed behind it.
    ///
    /// # Safety
    /// As for `read`.
    pub(crate) unsafe fn depend_on<T: 'static>(&mut self, var: NonNull<VarCore>) -> StmResult<()> {
        match self.log.find_write(var) {
            Some(i) if !self.log.state.doomed => self.log.depend_on_written(i),
            // SAFETY: forwarded from the caller; the unpacking reads nothing.
            _ => unsafe { self.read_unpacked::<T, ()>(var, |_, _| ()) },
        }
    }

    /// The inlined part of `read` and `update`: one try at reading a variable this
    /// attempt has not written, in an attempt not doomed, within the snapshot. `None`
    /// sends the caller to the general path, `read_slow`, which tries again.
    ///
    /// Which shared-memory accesses a read makes must not depend on the write filter,
    /// which hashes addresses: a filter hit for a variable this transaction has not
    /// written still gets the one try. (When it skipped the try, loom's models, whose
    /// addresses differ from run to run, stopped being deterministic.)
    ///
    /// # Safety
    /// As for `read`.
    #[inline(always)]
    pub(super) unsafe fn read_unwritten_once<T: 'static, R>(
        &mut self,
        var: NonNull<VarCore>,
        unpack: impl FnOnce(*mut (), LockWord) -> R,
    ) -> Option<(R, u64)> {
        // A constant per `T`: words compile to nothing here.
        if !value::in_word::<T>() && self.log.pin.is_none() {
            self.log.pin();
        }
        // A doomed attempt's filter has every bit set (`AttemptState::write_filter`).
        let filter_hit = self.log.state.write_filter & Log::filter_bit(var) != 0;
        if filter_hit && (self.log.state.doomed || self.log.owns(var)) {
            return None;
        }
        // SAFETY: the caller holds a handle, so the core is alive.
        let core = unsafe { var.as_ref() };
        // SAFETY: forwarded from the caller; pinned above for a node type.
        let (value, version) = unsafe { Log::read_once(core, unpack) }?;
        (version <= self.log.read_version).then_some((value, version))
    }
}
