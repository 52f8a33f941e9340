//! `TSem`: a transactional counting semaphore (Haskell's `TSem`).
//!
//! Python's `threading.Semaphore`, except that `acquire` composes: a transaction can
//! acquire two semaphores at once, or one of several with `or_else`, and never holds one
//! while waiting for the other.

use std::fmt;

use super::{check, StmResult, TVar, Transaction};

/// A counting semaphore whose operations run inside transactions. Cloning shares it.
///
/// ```
/// use braid::stm::{atomically, TSem};
///
/// let permits = TSem::new(2);
/// atomically(|tx| permits.acquire(tx));
/// assert_eq!(atomically(|tx| permits.available(tx)), 1);
/// atomically(|tx| permits.release(tx));
/// assert_eq!(atomically(|tx| permits.available(tx)), 2);
/// ```
#[derive(Clone)]
pub struct TSem {
    permits: TVar<usize>,
}

impl TSem {
    /// A semaphore with `permits` permits available.
    ///
    /// ```
    /// let sem = braid::stm::TSem::new(3);
    /// assert_eq!(braid::stm::atomically(|tx| sem.available(tx)), 3);
    /// ```
    pub fn new(permits: usize) -> TSem {
        TSem {
            permits: TVar::new(permits),
        }
    }

    /// Takes one permit; retries while none is available.
    ///
    /// ```
    /// use braid::stm::{atomically, TSem};
    /// // Two resources at once, all or nothing: no lock-ordering rules.
    /// let (left, right) = (TSem::new(1), TSem::new(1));
    /// atomically(|tx| { left.acquire(tx)?; right.acquire(tx) });
    /// assert_eq!(atomically(|tx| Ok(left.available(tx)? + right.available(tx)?)), 0);
    /// ```
    pub fn acquire(&self, tx: &mut Transaction) -> StmResult<()> {
        let n = self.permits.read(tx)?;
        check(n > 0)?;
        self.permits.write(tx, n - 1)
    }

    /// Gives one permit back (waking transactions waiting in `acquire`).
    ///
    /// ```
    /// use braid::stm::{atomically, TSem};
    /// let sem = TSem::new(0);
    /// atomically(|tx| sem.release(tx));
    /// assert_eq!(atomically(|tx| sem.available(tx)), 1);
    /// ```
    pub fn release(&self, tx: &mut Transaction) -> StmResult<()> {
        self.permits.modify(tx, |n| n + 1)
    }

    /// The number of permits available now.
    ///
    /// ```
    /// let sem = braid::stm::TSem::new(5);
    /// assert_eq!(braid::stm::atomically(|tx| sem.available(tx)), 5);
    /// ```
    pub fn available(&self, tx: &mut Transaction) -> StmResult<usize> {
        self.permits.read(tx)
    }
}

impl fmt::Debug for TSem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TSem")
            .field("available", &self.permits.load())
            .finish()
    }
}
