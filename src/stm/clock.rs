//! The global version clock (TL2's "global version-clock").
//!
//! A transaction samples the clock when it starts (its *read version*); a committer takes
//! the next value (its *write version*) after it has locked its write set and stamps the
//! variables it publishes with it. A variable whose version exceeds a transaction's read
//! version was committed after the transaction started.
//!
//! # Orderings
//! A committer locks its write set, then increments the clock (`AcqRel`). A transaction
//! that samples the clock (`Acquire`) and sees that increment therefore also sees those
//! locks, so it can never read a variable stamped with a version at or below its read
//! version while that commit is still publishing. A transaction may also start from a
//! time its thread saw earlier (see `Transaction::begin`): the `Acquire` load or `AcqRel`
//! increment that saw it has already synchronized with every commit up to that time, as
//! every later change of the clock is an increment, part of the same release sequence.

use crate::sync::atomic::AtomicU64;
use crate::sync::atomic::Ordering::{AcqRel, Acquire};
use crate::sync::sync_static;

/// Keeps the clock on a cache line of its own: every writing commit touches it, and
/// nothing else should pay for that traffic.
#[repr(align(128))]
struct Padded(AtomicU64);

sync_static! {
    static CLOCK: Padded = Padded(AtomicU64::new(0));
}

/// The current time, as a transaction's read version.
pub(crate) fn now() -> u64 {
    // Acquire: pairs with the AcqRel increment in `tick` (see the module's Orderings).
    CLOCK.0.load(Acquire)
}

/// Advances the clock and returns the new time, as a committer's write version.
pub(crate) fn tick() -> u64 {
    // Release half: publishes the write-set locks taken before it; Acquire half: orders
    // the read-set validation after it.
    CLOCK.0.fetch_add(1, AcqRel) + 1
}
