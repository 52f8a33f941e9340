//! Committing a transaction, TL2 style.
//!
//! 1. **Read-only**: a transaction with an empty write set is already serializable at its
//!    read version (every read was validated against it), so it commits by doing nothing:
//!    no shared cache line is written.
//! 2. **Yield** if another transaction holds the priority token (see `progress.rs`).
//! 3. **Lock** the write set in address order (`VarCore::lock_order`). Every committer
//!    locks in the same global order and never waits for anything else while holding
//!    locks, so spinning on a held lock cannot deadlock.
//! 4. **Take a write version** `wv`, past the global clock's time and past every locked
//!    variable's version: by ticking the clock, or, while other threads commit too, by
//!    stamping past it without moving it (`clock.rs`).
//! 5. **Validate** the read set, unless this commit ticked, found the clock where its
//!    snapshot left it (`wv == rv + 1`), and no thread was stamping (`clock.rs`).
//! 6. **Publish** each new value and unlock its variable with version `wv`, one variable
//!    at a time (as the paper does).
//! 7. After every unlock, wake each variable's waiters (see `wait.rs`) and retire the
//!    node it replaced, if its value is held in a node (see `value.rs`, `sync/reclaim.rs`).
//!
//! A transaction that wrote one variable, the most common writer, takes the same steps
//! in `commit_one`, without the sort and the loops.
//!
//! # Orderings
//! - Lock CAS (`SeqCst` on success): pairs with the previous committer's unlock, so this
//!   committer sees the value it published before replacing it; and with a retrying
//!   waiter's registering RMW on the same word, so the committer sees that waiter (the
//!   no-lost-wake-up argument in `wait.rs` rests on this CAS, not on the unlock). Its
//!   place in the total order of `SeqCst` accesses ties the commit to the clock load
//!   that stamps it (`clock.rs`, Orderings).
//! - Value store (`Release`): pairs with readers' `Acquire` load of the slot, so they see
//!   a new node's contents. A plain store suffices because only the lock holder writes
//!   `value`.
//! - Unlock store (`Release`): pairs with readers' `Acquire` lock-word loads, so a reader
//!   that sees version `wv` sees the new value. Also used to unlock after a conflict.
//!   (Under loom the store is a swap; `sync::store_release` says why that is sound.)
//!
//! So a writing commit does one read-modify-write per written variable (its lock CAS),
//! plus the clock's tick while its thread commits alone; a stamping commit writes nothing
//! shared besides its variables. Everything else is plain loads and stores.

use std::ptr::NonNull;

use super::clock;
use super::lock::LockWord;
use super::progress;
use super::tx::{Log, Transaction, WriteEntry};
use super::var::VarCore;
use crate::sync::atomic::Ordering::{Relaxed, Release, SeqCst};
use crate::sync::backoff::Backoff;
use crate::sync::store_release;

/// What the commit attempt decided.
#[must_use]
pub(crate) enum Commit {
    /// Every write is published.
    Committed,
    /// The read set changed: nothing was published; run the body again.
    Conflict,
    /// Another transaction holds the priority token: nothing was published; wait for it
    /// (outside its transaction), then run the body again.
    YieldToPriority,
}

/// Commits `tx`'s attempt (see the module documentation). Inlined, with `commit_one`,
/// into the attempt loop, so the common commit needs no call frame of its own (10 of a
/// one-variable increment's instructions); `commit_many` stays out of line. Always: in
/// the criterion bench's binary a plain hint left it a call, whose register pushes are
/// stores in front of the commit's locked instructions.
#[inline(always)]
pub(crate) fn commit(tx: &mut Transaction) -> Commit {
    match *tx.log.writes {
        [] => Commit::Committed,
        _ if !progress::may_commit(tx) => Commit::YieldToPriority,
        [WriteEntry {
            var, value, absent, ..
        }] => commit_one(tx, var, value, absent),
        _ => commit_many(&mut tx.log),
    }
}

/// `commit` for a transaction whose one write entry is `var` and `value`: the steps above
/// without the sort and the loops. A one-variable increment's commit went from 93
/// instructions to 62 (callgrind).
#[inline(always)]
fn commit_one(tx: &mut Transaction, var: NonNull<VarCore>, value: *mut (), absent: bool) -> Commit {
    // SAFETY: write entries point to cores alive while the transaction runs.
    let core = unsafe { var.as_ref() };
    lock(core);
    let Some(write_version) = write_version(&mut tx.log, || held_version(core)) else {
        unlock_unchanged(core);
        return Commit::Conflict;
    };
    let old = publish(core, value, absent, write_version);
    // As in `wake_and_retire_replaced`: the entry leaves the set before anything runs.
    tx.log.forget_published_writes();
    core.waiters.wake_all();
    // SAFETY: `old` was the variable's published value; the commit replaced it.
    unsafe { core.retire_replaced(old, &mut tx.log.reclaimer) };
    Commit::Committed
}

/// `commit` for a transaction that wrote several variables. Takes the log, not the
/// transaction: see `Log`'s out-of-line methods.
#[inline(never)]
fn commit_many(log: &mut Log) -> Commit {
    let writes: &mut [WriteEntry] = &mut log.writes;
    // SAFETY: write entries point to cores alive while the transaction runs.
    writes.sort_unstable_by_key(|w| unsafe { w.var.as_ref() }.lock_order());
    for w in writes.iter() {
        // SAFETY: as above.
        lock(unsafe { w.var.as_ref() });
    }
    // SAFETY: as above.
    let newest = (writes
        .iter()
        .map(|w| held_version(unsafe { w.var.as_ref() })))
    .fold(0, u64::max);
    let Some(write_version) = write_version(log, || newest) else {
        for w in &log.writes {
            // SAFETY: as above.
            unlock_unchanged(unsafe { w.var.as_ref() });
        }
        return Commit::Conflict;
    };

    for w in log.writes.iter_mut() {
        // SAFETY: as above.
        let core = unsafe { w.var.as_ref() };
        // Unlocking before the next variable is published is fine: that one is still
        // locked, so a reader that sees this one's new version waits for it.
        // The entry now holds the value it replaced, retired below.
        w.value = publish(core, w.value, w.absent, write_version);
    }
    // Waking runs executor code and retiring may free older values (their destructors):
    // both come after every unlock, so readers never wait for them.
    log.wake_and_retire_replaced();
    Commit::Committed
}

/// Steps 4 and 5, with the write set locked, whose variables' newest version `newest`
/// gives (asked only off the common path): takes a write version, ticking the clock or
/// stamping past it (`clock.rs`), and validates the read set unless the clock shows that
/// nothing can have committed since the snapshot. `None`: something read has changed,
/// and the caller unlocks and reports a conflict.
#[inline]
fn write_version(log: &mut Log, newest: impl FnOnce() -> u64) -> Option<u64> {
    // The latest clock time this thread saw goes to `read_version`: the next
    // transaction's snapshot starts there (see `Transaction::begin`). A conflict's next
    // attempt takes a fresh one.
    match log.clock.write_version(&mut log.read_version, newest) {
        clock::WriteVersion::Trusted(version) => Some(version),
        // A test-only fault: commit without validating, so tests/serializability.rs can
        // show that its checker catches a broken commit (the CI step builds with this cfg).
        clock::WriteVersion::Validate(version) if cfg!(braid_fault = "skip_read_validation") => {
            Some(version)
        }
        clock::WriteVersion::Validate(version) => log.reads_valid(true).then_some(version),
    }
}

/// The version of a variable this commit holds locked.
fn held_version(core: &VarCore) -> u64 {
    // Relaxed: the lock CAS read this word, and only its holder changes it now.
    LockWord::from_bits(core.lock.load(Relaxed)).version()
}

/// Takes the variable's lock, waiting while another commit holds it.
#[inline]
fn lock(core: &VarCore) {
    if !try_lock(core) {
        lock_contended(core);
    }
}

/// One try at the variable's lock.
#[inline]
fn try_lock(core: &VarCore) -> bool {
    core.check_alive();
    let word = LockWord::from_bits(core.lock.load(Relaxed));
    // SeqCst on success: orders the lock before the clock access that gives the commit
    // its version (`clock.rs`, Orderings); it includes the Acquire that pairs with the
    // previous committer's unlock.
    !word.is_locked()
        && core
            .lock
            .compare_exchange_weak(word.bits(), word.locked().bits(), SeqCst, Relaxed)
            .is_ok()
}

/// `lock` once the first try failed: backs off between tries. Out of line, so an
/// uncontended commit does not set up the backoff.
#[cold]
#[inline(never)]
fn lock_contended(core: &VarCore) {
    let mut backoff = Backoff::new();
    loop {
        backoff.snooze();
        if try_lock(core) {
            return;
        }
    }
}

/// Releases a lock this commit took, leaving the variable as it was (after a conflict).
fn unlock_unchanged(core: &VarCore) {
    core.check_alive();
    let held = LockWord::from_bits(core.lock.load(Relaxed));
    // Release: pairs with the next locker's Acquire CAS; nothing changed.
    store_release(&core.lock, held.unlocked_unchanged().bits());
}

/// Stores `value` as the locked variable's value and unlocks it with `write_version`,
/// and for a map variable whether its key is `absent` (see `lock.rs`). Returns the value
/// it replaced.
#[inline]
fn publish(core: &VarCore, value: *mut (), absent: bool, write_version: u64) -> *mut () {
    core.check_alive();
    // Relaxed: the lock CAS already synchronized with the store that published `old`.
    let old = core.value.load(Relaxed);
    // Release: pairs with readers' Acquire load of the slot.
    core.value.store(value, Release);
    // Release: pairs with readers' Acquire lock-word loads (see Orderings above).
    let unlocked = LockWord::unlocked(write_version).with_absent(absent);
    store_release(&core.lock, unlocked.bits());
    old
}

/// Marks a map variable dead (Bronson's "embalm"; see `lock.rs`) if its key is absent,
/// no transaction has claimed it, and no commit holds it: a commit of its own, with a
/// write version, so that every transaction that read the variable earlier fails
/// validation. Its waiters are the caller's to wake, once the variable is
/// unlinked and no lock is held (waking runs executor code). `false`: the key is
/// present, a transaction that made the variable has not ended yet, or a commit is
/// publishing it (the caller keeps the variable for now).
pub(crate) fn embalm_if_absent(core: &VarCore) -> bool {
    if !try_lock(core) {
        return false;
    }
    let held = LockWord::from_bits(core.lock.load(Relaxed));
    if !held.is_absent() || held.is_claimed() || held.is_dead() {
        unlock_unchanged(core);
        return held.is_dead();
    }
    // A tick, whatever the thread's mode: a variable made for the key after the unlink
    // takes the clock's time as its version (`VarCore::claimed_absent`), which must be
    // past this one, so that a reader whose snapshot predates the embalm finds it newer.
    let (write_version, _) = clock::tick(held.version());
    // Release: pairs with readers' Acquire lock-word loads; the value is unchanged.
    store_release(
        &core.lock,
        LockWord::unlocked(write_version)
            .with_absent(true)
            .dead()
            .bits(),
    );
    true
}
