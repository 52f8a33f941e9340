//! Writes and undo: the write set (step 3 of the module docs), rewrites, `or_else`
//! scopes and their undo log, and what happens to written values after a commit or an
//! abandoned attempt.

use std::ptr::NonNull;

use super::log::UndoEntry;
use super::{Log, ReadEntry, Scope, Transaction, WriteEntry, NOT_READ};
use crate::stm::error::{StmError, StmResult};
use crate::stm::value;
use crate::stm::var::VarCore;

impl Log {
    /// Adds a write entry for a variable not in the write set. No branch has saved
    /// anything for it, which `saved_by` says without a store: its index is past the
    /// end there (a rollback truncates `saved_by` with the entries).
    #[inline]
    pub(super) fn push_write(&mut self, var: NonNull<VarCore>, value: *mut ()) {
        self.push_write_after_read(var, value, NOT_READ);
    }

    /// `push_write_after_read` for a map variable, whose write may be "absent".
    #[inline]
    pub(super) fn push_slot_write(
        &mut self,
        var: NonNull<VarCore>,
        value: *mut (),
        absent: bool,
        read_version: u64,
    ) {
        self.writes.push(WriteEntry {
            var,
            value,
            read_version,
            absent,
        });
    }

    /// `push_write` for a write computed from the variable read at `read_version`: the
    /// entry stands for the read too.
    #[inline]
    pub(super) fn push_write_after_read(
        &mut self,
        var: NonNull<VarCore>,
        value: *mut (),
        read_version: u64,
    ) {
        self.writes.push(WriteEntry {
            var,
            value,
            read_version,
            absent: false,
        });
    }

    /// `write` for everything but the common case.
    ///
    /// # Safety
    /// As for `write`.
    #[inline(never)]
    pub(super) unsafe fn write_slow<T: 'static>(
        &mut self,
        var: NonNull<VarCore>,
        value: T,
    ) -> StmResult<()> {
        if self.state.doomed {
            return Err(StmError::CONFLICT);
        }
        let Some(i) = self.find_write(var) else {
            // A filter hit for a variable not written yet.
            self.push_write(var, value::pack(value));
            return Ok(());
        };
        let entry = &mut self.writes[i];
        let saved_by = self.saved_by.get(i).copied().unwrap_or(0);
        match self.scopes.last().copied() {
            // The first write in this branch to an entry from before it: keep the old
            // value for rollback, and give the branch a value of its own.
            Some(scope) if i < scope.write_mark && saved_by != scope.id => {
                self.undo.push(UndoEntry {
                    index: i,
                    value: entry.value,
                    absent: entry.absent,
                    scope: saved_by,
                });
                entry.value = value::pack(value);
                if self.saved_by.len() <= i {
                    self.saved_by.resize(i + 1, 0);
                }
                self.saved_by[i] = scope.id;
            }
            // SAFETY: the entry holds an unpublished `T` that it owns.
            _ => unsafe { value::overwrite(&mut entry.value, value) },
        }
        Ok(())
    }

    #[cold]
    pub(super) fn free_unpublished(&mut self) {
        self.scopes.clear();
        self.saved_by.clear();
        for undo in self.undo.drain(..) {
            // SAFETY: undo values are unpublished and owned by the self.
            unsafe { self.writes[undo.index].var.as_ref().drop_packed(undo.value) };
        }
        for entry in self.writes.drain(..) {
            // SAFETY: write entries point to cores alive while the transaction runs.
            let core = unsafe { entry.var.as_ref() };
            // SAFETY: write entries own unpublished values.
            unsafe { core.drop_packed(entry.value) };
            core.unclaim();
        }
    }

    /// Finishes a commit that published the write set and unlocked it: for each entry,
    /// wakes the variable's waiters and retires the value the new one replaced (which the
    /// entry now holds; see `commit`), emptying the set. Each entry leaves the set before
    /// anything runs for it, so a panicking waker or value destructor (retiring may free
    /// older values) can at worst leak the replaced nodes not yet retired; it can never
    /// make this transaction free a node that readers may still hold.
    #[inline]
    pub(crate) fn wake_and_retire_replaced(&mut self) {
        // Popped, not drained: the order does not matter, and `pop` is cheaper.
        while let Some(w) = self.writes.pop() {
            // SAFETY: write entries point to cores alive while the transaction runs.
            let core = unsafe { w.var.as_ref() };
            // Any time after the lock CAS is early enough to see every waiter that could
            // miss this commit (see wait.rs).
            core.waiters.wake_all();
            // SAFETY: `w.value` was the variable's published value; the commit replaced it.
            unsafe { core.retire_replaced(w.value, &mut self.reclaimer) };
        }
    }

    /// Empties the write set of a commit that published it: its values are the
    /// variables' now. (The write filter is reset as the transaction ends: `Log::reset`.)
    pub(crate) fn forget_published_writes(&mut self) {
        self.writes.clear();
    }
}

impl Transaction {
    /// Buffers a write of `value`, to be published at commit.
    ///
    /// Inlined for the common case, a variable this transaction has not written yet;
    /// everything else (a doomed attempt, a write filter hit, a rewrite) goes to
    /// `write_slow`.
    ///
    /// # Safety
    /// `var` is alive (the caller holds a handle to it) and its value type is `T`.
    #[inline]
    pub(crate) unsafe fn write<T: 'static>(
        &mut self,
        var: NonNull<VarCore>,
        value: T,
    ) -> StmResult<()> {
        let bit = Log::filter_bit(var);
        // A doomed attempt's filter has every bit set (`AttemptState::write_filter`).
        if self.log.state.write_filter & bit != 0 {
            // SAFETY: forwarded from the caller.
            return unsafe { self.log.write_slow(var, value) };
        }
        self.log.push_write(var, value::pack(value));
        self.log.state.write_filter |= bit;
        Ok(())
    }

    /// Opens an `or_else` branch.
    pub(crate) fn begin_scope(&mut self) -> Scope {
        let scope = Scope {
            id: self.log.state.next_scope,
            write_mark: self.log.writes.len(),
            undo_mark: self.log.undo.len(),
            hook_mark: self.log.hooks.len(),
        };
        self.log.state.next_scope += 1;
        self.log.scopes.push(scope);
        scope
    }

    /// Closes a branch that did not retry: its writes stay, and the outer scope (if any)
    /// inherits its undo entries.
    pub(crate) fn end_scope(&mut self) {
        let log = &mut *self.log;
        log.scopes.pop();
        if log.scopes.is_empty() {
            log.saved_by.clear();
            for undo in log.undo.drain(..) {
                // SAFETY: an undo value is an unpublished value of the entry's variable,
                // owned by the undo log; no scope can restore it any more.
                unsafe { log.writes[undo.index].var.as_ref().drop_packed(undo.value) };
            }
        }
    }

    /// Undoes a branch that retried: restores the values it replaced, drops the entries
    /// it added and the hooks it registered. Its reads stay.
    pub(crate) fn rollback_scope(&mut self, scope: Scope) {
        let log = &mut *self.log;
        log.scopes.pop();
        while log.undo.len() > scope.undo_mark {
            let undo = log.undo.pop().expect("undo log shorter than its mark");
            let entry = &mut log.writes[undo.index];
            // SAFETY: the entry's value belongs to the branch being undone.
            unsafe { entry.var.as_ref().drop_packed(entry.value) };
            entry.value = undo.value;
            entry.absent = undo.absent;
            // Set when the branch saved the entry, so within the length.
            log.saved_by[undo.index] = undo.scope;
        }
        // The branch's entries go; a later entry at their places starts unsaved.
        log.saved_by.truncate(scope.write_mark);
        if log.scopes.is_empty() {
            log.saved_by.clear();
        }
        for entry in log.writes.drain(scope.write_mark..) {
            // The branch's reads stay (see the module docs), also those its writes stood
            // for.
            if entry.read_version != NOT_READ {
                let (var, version) = (entry.var, entry.read_version);
                log.reads.push(ReadEntry { var, version });
            }
            // SAFETY: write entries point to cores alive while the transaction runs.
            let core = unsafe { entry.var.as_ref() };
            // SAFETY: entries added by the branch own unpublished values.
            unsafe { core.drop_packed(entry.value) };
            core.unclaim();
        }
        if !self.log.state.doomed {
            self.log.state.write_filter =
                (self.log.writes.iter()).fold(0, |f, w| f | Log::filter_bit(w.var));
        }
        self.log.hooks.truncate(scope.hook_mark);
    }

    /// Drops every unpublished value and closes every `or_else` branch: the attempt is
    /// over and did not commit. Stores nothing in the common case, a committed or
    /// read-only attempt, where there is nothing to drop. (The write filter is the
    /// caller's to reset, with the rest of the attempt's state: `Log::reset`.)
    #[inline]
    pub(super) fn discard_writes(&mut self) {
        // Undo entries exist only while a branch is open, so these two tell all.
        if !self.log.writes.is_empty() || !self.log.scopes.is_empty() {
            self.log.free_unpublished();
        }
    }
}
