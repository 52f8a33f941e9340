//! `TMVar<T>`: a transactional box that is either full or empty (Haskell's `TMVar`).
//!
//! `take` empties a full box and waits while it is empty; `put` fills an empty box and
//! waits while it is full. One `TMVar` is a one-slot channel, a lock (`take` to acquire,
//! `put` to release), or a "result arrives later" cell, and it composes with every other
//! transactional operation in the same transaction.

use std::fmt;

use super::{retry, StmResult, TVar, Transaction};

/// A transactional slot holding zero or one `T`. Cloning shares the same slot.
///
/// ```
/// use braid::stm::{atomically, TMVar};
/// use std::thread;
///
/// let reply: TMVar<String> = TMVar::new_empty();
/// let worker = {
///     let reply = reply.clone();
///     thread::spawn(move || atomically(|tx| reply.put(tx, "done".to_string())))
/// };
/// assert_eq!(atomically(|tx| reply.take(tx)), "done"); // waits for the put
/// worker.join().unwrap();
/// ```
pub struct TMVar<T> {
    slot: TVar<Option<T>>,
}

impl<T: Clone + Send + Sync + 'static> TMVar<T> {
    /// A full `TMVar` holding `value`.
    ///
    /// ```
    /// let m = braid::stm::TMVar::new(1);
    /// assert!(!braid::stm::atomically(|tx| m.is_empty(tx)));
    /// ```
    pub fn new(value: T) -> TMVar<T> {
        TMVar {
            slot: TVar::new(Some(value)),
        }
    }

    /// An empty `TMVar`.
    ///
    /// ```
    /// let m: braid::stm::TMVar<u8> = braid::stm::TMVar::new_empty();
    /// assert!(braid::stm::atomically(|tx| m.is_empty(tx)));
    /// ```
    pub fn new_empty() -> TMVar<T> {
        TMVar {
            slot: TVar::new(None),
        }
    }

    /// Takes the value out, leaving the `TMVar` empty; retries while it is empty.
    ///
    /// ```
    /// use braid::stm::{atomically, TMVar};
    /// let m = TMVar::new(7);
    /// assert_eq!(atomically(|tx| m.take(tx)), 7);
    /// assert!(atomically(|tx| m.is_empty(tx)));
    /// ```
    pub fn take(&self, tx: &mut Transaction) -> StmResult<T> {
        match self.slot.replace(tx, None)? {
            Some(value) => Ok(value),
            None => retry(),
        }
    }

    /// Puts `value` in; retries while the `TMVar` is full.
    ///
    /// ```
    /// use braid::stm::{atomically, TMVar};
    /// let m = TMVar::new_empty();
    /// atomically(|tx| m.put(tx, "hi"));
    /// assert_eq!(atomically(|tx| m.read(tx)), "hi");
    /// ```
    pub fn put(&self, tx: &mut Transaction, value: T) -> StmResult<()> {
        if self.slot.read(tx)?.is_some() {
            return retry();
        }
        self.slot.write(tx, Some(value))
    }

    /// Returns a copy of the value without taking it; retries while empty.
    ///
    /// ```
    /// use braid::stm::{atomically, TMVar};
    /// let m = TMVar::new(3);
    /// assert_eq!(atomically(|tx| m.read(tx)), 3);
    /// assert_eq!(atomically(|tx| m.take(tx)), 3); // still there
    /// ```
    pub fn read(&self, tx: &mut Transaction) -> StmResult<T> {
        match self.slot.read(tx)? {
            Some(value) => Ok(value),
            None => retry(),
        }
    }

    /// Takes the value if there is one, without waiting.
    ///
    /// ```
    /// use braid::stm::{atomically, TMVar};
    /// let m = TMVar::new(1);
    /// assert_eq!(atomically(|tx| m.try_take(tx)), Some(1));
    /// assert_eq!(atomically(|tx| m.try_take(tx)), None);
    /// ```
    pub fn try_take(&self, tx: &mut Transaction) -> StmResult<Option<T>> {
        self.slot.replace(tx, None)
    }

    /// Puts `value` in if the `TMVar` is empty; returns whether it did.
    ///
    /// ```
    /// use braid::stm::{atomically, TMVar};
    /// let m = TMVar::new_empty();
    /// assert!(atomically(|tx| m.try_put(tx, 1)));
    /// assert!(!atomically(|tx| m.try_put(tx, 2)));
    /// assert_eq!(atomically(|tx| m.take(tx)), 1);
    /// ```
    pub fn try_put(&self, tx: &mut Transaction, value: T) -> StmResult<bool> {
        if self.slot.read(tx)?.is_some() {
            return Ok(false);
        }
        self.slot.write(tx, Some(value))?;
        Ok(true)
    }

    /// Whether the `TMVar` is empty.
    ///
    /// ```
    /// use braid::stm::{atomically, TMVar};
    /// let m: TMVar<()> = TMVar::new_empty();
    /// assert!(atomically(|tx| m.is_empty(tx)));
    /// ```
    pub fn is_empty(&self, tx: &mut Transaction) -> StmResult<bool> {
        Ok(self.slot.read(tx)?.is_none())
    }
}

impl<T> Clone for TMVar<T> {
    fn clone(&self) -> Self {
        TMVar {
            slot: self.slot.clone(),
        }
    }
}

impl<T: Clone + Send + Sync + fmt::Debug + 'static> fmt::Debug for TMVar<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TMVar").field(&self.slot.load()).finish()
    }
}
