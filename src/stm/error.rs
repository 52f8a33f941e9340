//! The control-flow values a transaction body passes back to `atomically`.

use std::fmt;

/// Why a transaction body stopped early: it called [`retry`](crate::stm::retry), or it
/// saw a conflicting commit and must run again.
///
/// `StmError` is control flow, not a failure: pass it on with `?` and `atomically`
/// handles it (re-running on conflict, waiting on retry). There is nothing to inspect.
///
/// ```
/// use braid::stm::{atomically, or_else, retry, StmResult, TVar};
///
/// let flag = TVar::new(false);
/// // A `retry` is an `Err(StmError)`; `or_else` catches it and runs the alternative.
/// let seen = atomically(|tx| or_else(tx,
///     |tx| -> StmResult<&str> { if flag.read(tx)? { Ok("set") } else { retry() } },
///     |_| Ok("not set"),
/// ));
/// assert_eq!(seen, "not set");
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct StmError {
    kind: Kind,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Retry,
    Conflict,
}

impl StmError {
    pub(crate) const RETRY: StmError = StmError { kind: Kind::Retry };
    pub(crate) const CONFLICT: StmError = StmError {
        kind: Kind::Conflict,
    };

    pub(crate) fn is_retry(self) -> bool {
        self.kind == Kind::Retry
    }
}

impl fmt::Debug for StmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            Kind::Retry => f.write_str("StmError(Retry)"),
            Kind::Conflict => f.write_str("StmError(Conflict)"),
        }
    }
}

impl fmt::Display for StmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            Kind::Retry => {
                f.write_str("transaction retried: waiting for a variable it read to change")
            }
            Kind::Conflict => {
                f.write_str("transaction conflicted with a concurrent commit and will run again")
            }
        }
    }
}

impl std::error::Error for StmError {}

/// The result of every transactional operation; `Err` carries an [`StmError`] to pass on.
///
/// Helpers that take part in a caller's transaction return it, so they compose with `?`:
///
/// ```
/// use braid::stm::{atomically, StmResult, TVar, Transaction};
///
/// fn take_one(stock: &TVar<u32>, tx: &mut Transaction) -> StmResult<u32> {
///     let left = stock.read(tx)?.saturating_sub(1);
///     stock.write(tx, left)?;
///     Ok(left)
/// }
/// let stock = TVar::new(2);
/// assert_eq!(atomically(|tx| { take_one(&stock, tx)?; take_one(&stock, tx) }), 0);
/// ```
pub type StmResult<T> = Result<T, StmError>;

/// The error of a [`try_atomically`](crate::stm::try_atomically) body: STM control flow,
/// or the caller's own reason to abort.
///
/// `Abort(e)` ends the transaction at once, discards every write it made, and makes
/// `try_atomically` return `Err(e)`. `From<StmError>` lets `?` pass STM control flow on.
///
/// ```
/// use braid::stm::{try_atomically, TVar, TxError};
///
/// let balance = TVar::new(10);
/// let result: Result<(), &str> = try_atomically(|tx| {
///     balance.write(tx, 0)?;                  // discarded by the abort below
///     Err(TxError::Abort("insufficient funds"))
/// });
/// assert_eq!(result, Err("insufficient funds"));
/// assert_eq!(balance.load(), 10);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxError<E> {
    /// STM control flow (retry or conflict), handled by `try_atomically`.
    Stm(StmError),
    /// Abort the transaction with this error, discarding its writes.
    Abort(E),
}

impl<E> From<StmError> for TxError<E> {
    fn from(error: StmError) -> Self {
        TxError::Stm(error)
    }
}
