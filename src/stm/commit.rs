//! Committing a transaction, TL2 style.
//!
//! 1. **Read-only**: a transaction with an empty write set is already serializable at its
//!    read version (every read was validated against it), so it commits by doing nothing:
//!    no shared cache line is written.
//! 2. **Lock** the write set in address order. Every committer locks in the same global
//!    order and never waits for anything else while holding locks, so spinning on a
//!    held lock cannot deadlock.
//! 3. **Tick** the global clock to get the write version `wv`.
//! 4. **Validate** the read set, unless `wv == rv + 1` (no commit happened in between).
//! 5. **Publish** each new node and defer the free of the node it replaces.
//! 6. **Unlock** each variable with version `wv`, then wake its waiters (see `wait.rs`).
//!
//! # Orderings
//! - Lock CAS (`Acquire` on success): pairs with the previous committer's unlock, so this
//!   committer sees the node it published before replacing it.
//! - Value swap (`Release`): pairs with readers' `Acquire` load of the pointer.
//! - Unlock swap (`AcqRel`): the Release half pairs with readers' `Acquire` lock-word
//!   loads (a reader that sees version `wv` sees the new node); the RMW form is what the
//!   no-lost-wake-up argument in `wait.rs` needs.
//! - Abort unlock (`Release` store of the old word): nothing was published.

use super::clock;
use super::lock::LockWord;
use super::tx::Transaction;
use crate::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};
use crate::sync::backoff::Backoff;

/// What the commit attempt decided.
#[must_use]
pub(crate) enum Commit {
    /// Every write is published.
    Committed,
    /// The read set changed: nothing was published; run the body again.
    Conflict,
}

pub(crate) fn commit(tx: &mut Transaction) -> Commit {
    if tx.writes.is_empty() {
        return Commit::Committed;
    }
    tx.writes.sort_unstable_by_key(|w| w.var);

    for w in &tx.writes {
        // SAFETY: write entries point to cores alive while the transaction is pinned.
        let core = unsafe { w.var.as_ref() };
        let mut backoff = Backoff::new();
        loop {
            let word = LockWord::from_bits(core.lock.load(Relaxed));
            if !word.is_locked()
                && core
                    .lock
                    .compare_exchange_weak(word.bits(), word.locked().bits(), Acquire, Relaxed)
                    .is_ok()
            {
                break;
            }
            backoff.snooze();
        }
    }

    let write_version = clock::tick();
    if write_version != tx.read_version + 1 && !tx.reads_valid() {
        for w in &tx.writes {
            // SAFETY: as above.
            let core = unsafe { w.var.as_ref() };
            let held = LockWord::from_bits(core.lock.load(Relaxed));
            // Release: pairs with the next locker's Acquire CAS; nothing changed.
            core.lock
                .store(LockWord::unlocked(held.version()).bits(), Release);
        }
        return Commit::Conflict;
    }

    for w in &tx.writes {
        // SAFETY: as above.
        let core = unsafe { w.var.as_ref() };
        // Release: pairs with readers' Acquire load of the pointer.
        let old = core.value.swap(w.node, Release);
        // SAFETY: `old` was this variable's published node and is now unlinked.
        unsafe { core.retire_node(old, &tx.guard) };
    }
    let unlocked = LockWord::unlocked(write_version).bits();
    for w in &tx.writes {
        // SAFETY: as above.
        let core = unsafe { w.var.as_ref() };
        // AcqRel RMW: see Orderings above and "No lost wake-up" in wait.rs.
        core.lock.swap(unlocked, AcqRel);
    }
    for w in &tx.writes {
        // SAFETY: as above. Waking runs executor code, so it comes after every unlock.
        unsafe { w.var.as_ref() }.waiters.wake_all();
    }
    tx.forget_published_writes();
    Commit::Committed
}
