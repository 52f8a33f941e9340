//! Contention management: what a transaction does after it loses a conflict.
//!
//! 1. **Backoff with jitter.** After a conflict the transaction waits a little before
//!    running again, longer after each loss, by a random amount so that two transactions
//!    that keep colliding fall out of step.
//! 2. **Priority after `PRIORITY_AFTER` losses.** A long transaction can lose forever to
//!    a stream of short ones (each short commit invalidates one of its many reads). So
//!    after a bounded number of conflicts it takes the single global *priority token*.
//!    While the token is held, every other writing commit stops before it locks anything
//!    and its transaction waits (outside it) for the token to come back, so once the
//!    commits already past that point have finished, nothing can invalidate the holder:
//!    it commits on its next run or the one after. Read-only transactions
//!    never wait (they cannot invalidate anyone). The token is given back when the holder
//!    commits, retries (it never sleeps holding it), panics, or returns `Pending`.
//!
//! This bounds the number of runs a transaction needs to a constant plus the waits for
//! earlier token holders, at the price of briefly pausing other writers: the
//! "irrevocable" fallback of TL2-era STMs (e.g. TinySTM's serial-irrevocable mode).
//!
//! # Orderings
//! The token is a spin lock: taking it is an `Acquire` CAS, giving it back a `Release`
//! store. Committers read it with `Acquire`. Correctness never depends on a committer
//! seeing the token promptly (it only decides who waits); progress does, and a store
//! becomes visible to other cores' loads in bounded time.

use super::tx::Transaction;
use crate::sync::atomic::AtomicBool;
use crate::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use crate::sync::backoff::Backoff;
use crate::sync::sync_static;

/// Conflicts a transaction accepts before it takes the priority token. Under loom it is
/// 1, so the models reach the token with few conflicts.
const PRIORITY_AFTER: u32 = if cfg!(loom) { 1 } else { 16 };

sync_static! {
    static PRIORITY: AtomicBool = AtomicBool::new(false);
}

/// One `atomically` call's record of its conflicts, and its priority token if it has one.
pub(crate) struct Contention {
    conflicts: u32,
    backoff: Backoff,
    token: Option<PriorityToken>,
}

impl Contention {
    pub(crate) fn new() -> Contention {
        Contention {
            conflicts: 0,
            backoff: Backoff::new(),
            token: None,
        }
    }

    /// Called after a conflict, with the attempt already cleared and left: waits a
    /// little, or takes the priority token once the transaction has lost often enough.
    pub(crate) fn after_conflict(&mut self) {
        self.conflicts += 1;
        if self.token.is_some() {
            return; // commits past the gate are finishing; run again at once
        }
        if self.conflicts < PRIORITY_AFTER {
            self.backoff.snooze_jittered();
        } else {
            self.token = Some(PriorityToken::take());
        }
    }

    /// Called before the transaction sleeps in `retry` or returns `Pending`: a sleeper
    /// must not hold up every other writer, so the token goes back.
    pub(crate) fn before_wait(&mut self) {
        self.token = None;
        self.conflicts = 0;
    }

    /// Whether this transaction holds the priority token (its commits do not wait).
    pub(crate) fn has_priority(&self) -> bool {
        self.token.is_some()
    }
}

/// Evidence that this transaction holds the global priority token; dropping gives it back.
struct PriorityToken(());

impl PriorityToken {
    fn take() -> PriorityToken {
        let mut backoff = Backoff::new();
        // Acquire: pairs with the previous holder's Release in `drop`.
        while PRIORITY
            .compare_exchange_weak(false, true, Acquire, Relaxed)
            .is_err()
        {
            backoff.snooze();
        }
        PriorityToken(())
    }
}

impl Drop for PriorityToken {
    fn drop(&mut self) {
        // Release: pairs with the next holder's Acquire CAS and committers' loads.
        PRIORITY.store(false, Release);
    }
}

/// Whether a writing commit of `tx` may go ahead: not while another transaction holds
/// the priority token. A commit that may not returns without locking anything, and its
/// transaction waits in [`wait_while_priority_held`], outside it, before running again.
#[inline]
pub(crate) fn may_commit(tx: &Transaction) -> bool {
    // Acquire: pairs with the holder's Release when it gives the token back.
    tx.log.state.has_priority || !PRIORITY.load(Acquire)
}

/// Waits until no transaction holds the priority token. Called between attempts, with
/// the thread outside its transaction: a long priority transaction must not hold back
/// reclamation by keeping every waiting committer inside one.
pub(crate) fn wait_while_priority_held() {
    let mut backoff = Backoff::new();
    while PRIORITY.load(Acquire) {
        backoff.snooze();
    }
}
