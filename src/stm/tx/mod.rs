//! A running transaction: its read version, read set, write set and `or_else` scopes.
//!
//! We follow TL2 (Dice, Shalev, Shavit, "Transactional Locking II", DISC 2006):
//! 1. On start, sample the global clock as the *read version* `rv`. (We take the last
//!    clock value this thread saw instead; see `Transaction::begin` for why that is a
//!    valid snapshot too.)
//! 2. A read checks the write set first (read-your-own-writes). Otherwise it loads the
//!    variable's lock word, its value slot, and the lock word again; the read is good
//!    if both words are equal, unlocked, and the version is at most `rv`. A primitive
//!    scalar is the word itself; any other value is cloned from an immutable node, so
//!    even a read that turns out bad clones a whole `T` (see `value.rs`).
//! 3. Writes go to the write set, packed as the commit will publish them: a word, or a
//!    freshly allocated node.
//! 4. Commit (see `commit.rs`): lock the write set, take a write version, validate the
//!    read set, publish, unlock with the new version.
//!
//! Where we differ from the paper:
//! - **Snapshot extension** (as in TinySTM / LSA): a read that finds a version above `rv`
//!   does not abort at once. It samples the clock again and revalidates the read set; if
//!   nothing read has changed, `rv` moves forward and the variable is read again against
//!   the new `rv` (accepting the first load would let a commit that lands between the
//!   load and the new `rv` slip by unvalidated; loom's `loom_commit` found exactly that).
//!   Revalidation outside the commit treats every locked variable as changed, even one
//!   this transaction wrote: the lock belongs to another commit in flight (trusting it
//!   lost updates; see `reads_valid`).
//! - **Doomed attempts**: once a read fails validation, every later operation of this
//!   attempt fails too, and `atomically` will not commit it even if the body swallowed the
//!   error. So a body never computes on a state that no serial order produces (opacity).
//! - **Nested `or_else` scopes** roll back only the first branch's writes: writes to new
//!   variables are truncated; a branch's first overwrite of an older entry saves the old
//!   value in an undo log instead of cloning the whole write set.
//! - **A write computed from a read stands for it** (`modify`, `replace`): the write entry carries
//!   the version read, and is validated and waited on like a read-set entry. The
//!   variable is in the write set, so the commit validates it under its own lock. It
//!   saves the read-set entry's stores, which the commit's locked instructions would wait
//!   for.
//! - **Reads are kept** when a branch rolls back: the choice of the second branch depended
//!   on them, so they are validated at commit, and a retry of both branches waits on the
//!   union of what they read.
//!
//! Read and write sets are `Vec`s in a `Log` that each thread keeps and reuses, created
//! with room for 16 reads and 8 writes, so a transaction touching up to 8 variables
//! allocates no bookkeeping, and neither a re-run nor the next transaction on the thread
//! does (see `Log` for why not `SmallVec`). Entries hold raw core pointers, valid
//! while the transaction runs: a transaction is a section of `presence.rs`, and a core's
//! free waits for the sections running when its last handle went (see `var.rs`,
//! Lifetime). A value in a node is protected by an epoch pin instead, taken at the
//! transaction's first read of one: a transaction that reads only words (the primitive
//! scalars) never pins, which saves a locked instruction per transaction.
//!
//! # Files
//! This file holds `Transaction` and its life (begin, restart, end, hooks); `log.rs` the
//! log and its entries; `state.rs` the attempt's state; `read.rs` reads and validation;
//! `write.rs` writes, `or_else` scopes and undo; `slot.rs` a map variable's reads and
//! writes, which may find or leave its key absent; `home.rs` where a thread keeps its
//! log.

use std::mem::ManuallyDrop;

use super::clock;

mod home;
mod log;
mod read;
mod slot;
mod state;
mod write;

pub(crate) use home::{in_section, in_transaction, LogRef};
pub(crate) use log::{Log, ReadEntry, Scope, WriteEntry, NOT_READ};
pub(crate) use slot::{note_unlinks, slot_of, SlotRead};
pub(crate) use state::AttemptState;

/// An in-flight STM transaction. Only [`atomically`](crate::stm::atomically) and its
/// siblings create one; a body receives `&mut Transaction` and passes it to every
/// transactional operation.
///
/// ```
/// use braid::stm::{atomically, StmResult, TVar, Transaction};
///
/// // Code that takes `&mut Transaction` runs inside the caller's transaction.
/// fn swap(a: &TVar<i32>, b: &TVar<i32>, tx: &mut Transaction) -> StmResult<()> {
///     let new_a = b.read(tx)?;
///     let old_a = a.replace(tx, new_a)?;
///     b.write(tx, old_a)
/// }
/// let (a, b) = (TVar::new(1), TVar::new(2));
/// atomically(|tx| swap(&a, &b, tx));
/// assert_eq!((a.load(), b.load()), (2, 1));
/// ```
pub struct Transaction {
    /// Everything the transaction keeps: the thread's log, borrowed until the transaction
    /// ends. Nothing else: a transaction is one pointer.
    pub(crate) log: LogRef,
}

impl Transaction {
    /// Starts a transaction on this thread.
    ///
    /// # Panics
    /// If one is already running on this thread: transactions do not nest.
    #[inline]
    #[track_caller]
    pub(crate) fn begin() -> Transaction {
        let log = LogRef::for_transaction();
        // The log comes as `Log::reset` left it, its read version the latest clock value
        // this thread saw. Not `clock::now()`: any time up to now is a valid snapshot,
        // because a read always loads the variable's current value and checks its
        // version; a variable committed since only makes that read extend the snapshot.
        // Starting from the last time this thread saw spares a load of the clock's cache
        // line, which every other core's commits keep taking away: a queue's producer and
        // consumer each mostly read variables only they write, which are never newer
        // than their own last commit.
        Transaction { log }
    }

    /// Clears this attempt's effects so the body can run again, keeping the storage.
    pub(crate) fn restart(&mut self) {
        self.restart_after(|| ());
    }

    /// Clears this attempt, runs `wait` outside the transaction's section and unpinned
    /// (a thread must never sleep in either: it would hold back frees in the whole
    /// process), and starts the next attempt with a fresh snapshot.
    pub(crate) fn restart_after(&mut self, wait: impl FnOnce()) {
        self.discard_writes();
        self.log.reads.clear();
        self.log.hooks.clear();
        self.log.reset();
        // No entry is left, so nothing depends on the pin or the section any more.
        self.log.unpin_if_pinned();
        self.log.leave_section();
        wait();
        self.log.presence().enter();
        self.log.read_version = clock::now();
    }

    /// Drops every write and hook of this attempt (`TxError::Abort`): what remains
    /// commits as a read-only transaction.
    pub(crate) fn abandon_writes(&mut self) {
        self.discard_writes();
        self.log.hooks.clear();
    }

    /// Registers `f` to run once, after this transaction commits.
    ///
    /// Hooks run on the committing thread, in the order registered, after the commit is
    /// visible and outside the transaction (so a hook may call `atomically`). They never
    /// run for an attempt that conflicts, retries, aborts or panics; a hook registered in
    /// an `or_else` branch that retried is dropped with the branch. If a hook panics, the
    /// commit stands, the remaining hooks still run, and the first panic is then resumed.
    ///
    /// ```
    /// use braid::stm::{atomically, TVar};
    /// use std::sync::mpsc;
    ///
    /// let (sent, received) = mpsc::channel();
    /// let stock = TVar::new(3);
    /// atomically(|tx| {
    ///     let left = stock.read(tx)? - 1;
    ///     stock.write(tx, left)?;
    ///     let sent = sent.clone();
    ///     tx.on_commit(move || sent.send(format!("sold one, {left} left")).unwrap());
    ///     Ok(())
    /// });
    /// assert_eq!(received.recv().unwrap(), "sold one, 2 left");
    /// ```
    pub fn on_commit(&mut self, f: impl FnOnce() + Send + 'static) {
        self.log.hooks.push(Box::new(f));
    }
}

/// Drops the hooks of a transaction that did not commit. Out of line: it loops over
/// boxed closures, and inlined it made every transaction's drop save and restore the
/// registers that loop needs.
#[cold]
#[inline(never)]
fn drop_hooks(hooks: &mut Vec<Box<dyn FnOnce() + Send>>) {
    hooks.clear();
}

impl Transaction {
    /// Ends the transaction: what dropping it does, inlined into the caller. The drop
    /// glue is a function of its own, shared with the unwinding paths, and a call there
    /// costs a return address and saved registers: stores, which the next commit's
    /// locked instructions wait for.
    #[inline(always)]
    pub(crate) fn end(self) {
        let mut this = ManuallyDrop::new(self);
        this.finish();
    }

    /// Ends the transaction (see `end` and `Drop`); `self` must not be used afterwards
    /// (`end` forgets it, `drop` is its last use).
    #[inline(always)]
    fn finish(&mut self) {
        self.discard_writes();
        // Tested first: a transaction that only modified has an empty read set (see
        // `WriteEntry::read_version`), and a store here would delay the next commit.
        if !self.log.reads.is_empty() {
            self.log.reads.clear();
        }
        if !self.log.hooks.is_empty() {
            drop_hooks(&mut self.log.hooks);
        }
        self.log.reset();
        self.log.unpin_if_pinned();
        // Unpinned, so the grace periods this waits for can end (see `catch_up`). Not
        // while unwinding: freeing runs value destructors, and a panic there would abort.
        if self.log.reclaimer.is_behind() && !std::thread::panicking() {
            self.log.reclaimer.catch_up();
        }
        self.log.trim_if_large();
        // No entry is left: the transaction holds no pointer any more.
        self.log.give_back();
    }
}

impl Drop for Transaction {
    /// Runs on every path that does not `end` the transaction, panics included:
    /// unpublished values are dropped, nothing leaks.
    fn drop(&mut self) {
        self.finish();
    }
}

impl std::fmt::Debug for Transaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transaction")
            .field("read_version", &self.log.read_version)
            .field("reads", &self.log.reads.len())
            .field("writes", &self.log.writes.len())
            .field("doomed", &self.log.state.doomed)
            .finish_non_exhaustive()
    }
}
