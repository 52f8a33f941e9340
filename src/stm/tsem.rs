//! `TSem`: a transactional counting semaphore (Haskell's `TSem`).
//!
//! Python's `threading.Semaphore`, except that `acquire` composes: a transaction can
//! acquire two semaphores at once, or one of several with `or_else`, and never holds one
//! while waiting for the other.
//!
//! Outside transactions, [`TSem::acquire_permit`] and [`TSem::acquire_permit_async`] hand
//! out a [`TSemPermit`] that gives the permit back when dropped (Python's `with sem:`,
//! tokio's `SemaphorePermit`), so a return, a panic or an abort between acquire and
//! release cannot leak it.

use std::fmt;

use super::{atomically, atomically_async, check, StmResult, TVar, Transaction};

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

    /// Takes one permit, blocking the thread while none is available, and returns a guard
    /// that gives it back when dropped: Python's `with sem:`. Use
    /// [`acquire_permit_async`](Self::acquire_permit_async) inside a task.
    ///
    /// ```
    /// use braid::stm::{atomically, TSem};
    /// use std::thread;
    ///
    /// let sem = TSem::new(2);
    /// let jobs: Vec<_> = (0..6)
    ///     .map(|n| {
    ///         let sem = sem.clone();
    ///         thread::spawn(move || {
    ///             let _permit = sem.acquire_permit(); // at most two jobs at once
    ///             assert!(n != 3, "job 3 fails"); // ...and a failing job gives its permit back
    ///         })
    ///     })
    ///     .collect();
    /// # std::panic::set_hook(Box::new(|_| {}));
    /// let failed = jobs.into_iter().map(|job| job.join()).filter(Result::is_err).count();
    /// # let _ = std::panic::take_hook();
    /// assert_eq!(failed, 1);
    /// assert_eq!(atomically(|tx| sem.available(tx)), 2); // nothing leaked
    /// ```
    pub fn acquire_permit(&self) -> TSemPermit {
        atomically(|tx| self.acquire(tx));
        TSemPermit::new(self.clone())
    }

    /// [`acquire_permit`](Self::acquire_permit) for a task: waits without blocking the
    /// thread. Cancel-safe: the permit is taken and wrapped in its guard within one poll,
    /// so dropping this future before it completes (a `timeout`, an abort) leaks nothing,
    /// and another waiter still gets the permit it was waiting for.
    ///
    /// ```
    /// use braid::exec::Pool;
    /// use braid::stm::{atomically, TSem};
    /// use braid::time::sleep;
    /// use std::time::Duration;
    ///
    /// let pool = Pool::new(2);
    /// let connections = TSem::new(3);
    /// let tasks: Vec<_> = (0..10)
    ///     .map(|_| {
    ///         let connections = connections.clone();
    ///         pool.spawn(async move {
    ///             let _permit = connections.acquire_permit_async().await;
    ///             sleep(Duration::from_millis(1)).await; // at most three at a time here
    ///         })
    ///     })
    ///     .collect();
    /// for task in tasks {
    ///     task.join().unwrap();
    /// }
    /// assert_eq!(atomically(|tx| connections.available(tx)), 3);
    /// ```
    pub async fn acquire_permit_async(&self) -> TSemPermit {
        // No await between the commit and the guard: `atomically_async` returns `Ready`
        // in the poll that commits, and the guard is made in that same poll.
        atomically_async(|tx| self.acquire(tx)).await;
        TSemPermit::new(self.clone())
    }

    /// Takes a permit if one is available now, without waiting: `None` if none is.
    ///
    /// ```
    /// let sem = braid::stm::TSem::new(1);
    /// let first = sem.try_acquire_permit();
    /// assert!(first.is_some());
    /// assert!(sem.try_acquire_permit().is_none());
    /// drop(first);
    /// assert!(sem.try_acquire_permit().is_some());
    /// ```
    pub fn try_acquire_permit(&self) -> Option<TSemPermit> {
        let taken = atomically(|tx| {
            let n = self.permits.read(tx)?;
            if n == 0 {
                return Ok(false);
            }
            self.permits.write(tx, n - 1)?;
            Ok(true)
        });
        taken.then(|| TSemPermit::new(self.clone()))
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

/// One permit of a [`TSem`], given back when dropped: on return, on a panic that unwinds
/// past it, and when the task holding it is aborted (its future, with the permit, is
/// dropped). Made by [`TSem::acquire_permit`], [`TSem::acquire_permit_async`] and
/// [`TSem::try_acquire_permit`].
///
/// The release is a transaction of its own, so drop a permit outside transaction bodies:
/// inside one it would be a nested `atomically`, which panics. (A permit dropped by a
/// panic unwinding out of a transaction body is released on a short-lived thread of its
/// own, so the unwind does not abort the process and the permit still comes back.)
///
/// ```
/// use braid::stm::{atomically, TSem};
///
/// let sem = TSem::new(1);
/// {
///     let _permit = sem.acquire_permit();
///     assert_eq!(atomically(|tx| sem.available(tx)), 0);
/// } // released here
/// assert_eq!(atomically(|tx| sem.available(tx)), 1);
/// ```
#[must_use = "dropping a TSemPermit releases it at once"]
pub struct TSemPermit {
    /// `None` once `forget` took it, so that drop releases nothing.
    sem: Option<TSem>,
}

impl TSemPermit {
    fn new(sem: TSem) -> TSemPermit {
        TSemPermit { sem: Some(sem) }
    }

    /// Keeps the permit taken for good: dropping nothing gives it back (tokio's
    /// `SemaphorePermit::forget`), as when permits stand for resources handed elsewhere.
    /// `release` in a transaction returns it later, if wanted.
    ///
    /// ```
    /// use braid::stm::{atomically, TSem};
    ///
    /// let sem = TSem::new(2);
    /// sem.acquire_permit().forget();
    /// assert_eq!(atomically(|tx| sem.available(tx)), 1);
    /// ```
    pub fn forget(mut self) {
        self.sem = None;
    }

    /// The semaphore this permit belongs to.
    pub fn semaphore(&self) -> &TSem {
        self.sem
            .as_ref()
            .expect("a TSemPermit holds its semaphore until forgotten")
    }
}

impl Drop for TSemPermit {
    fn drop(&mut self) {
        if let Some(sem) = self.sem.take() {
            if std::thread::panicking() && crate::stm::tx::in_transaction() {
                // The unwind is leaving a transaction body that held this permit; a
                // nested `atomically` here would panic again, mid-unwind, and abort the
                // process. So the release runs on a thread of its own: a panic path,
                // where a thread's cost does not matter and the permit must not be lost.
                crate::sync::thread::spawn(move || atomically(|tx| sem.release(tx)));
            } else {
                atomically(|tx| sem.release(tx));
            }
        }
    }
}

impl fmt::Debug for TSemPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TSemPermit")
            .field("sem", &self.sem)
            .finish()
    }
}
