//! `TQueue<T>`: an unbounded transactional FIFO queue (Haskell's `TQueue`).
//!
//! Two persistent sequences in two `TVar`s (see `stack.rs`): `push` conses onto the
//! `back` stack, `pop` takes from the `front` run, and when the run is used up the pop
//! turns the whole `back` stack into a new run.
//! Every operation is amortized O(1), and producers and consumers touch different
//! variables except when a pop has to reverse, so they rarely conflict.

use std::fmt;

use super::stack::{Run, Stack};
use super::{retry, StmResult, TVar, Transaction};

/// An unbounded FIFO queue whose operations run inside transactions. Cloning shares it.
///
/// Python's `queue.Queue()`, but a consumer can wait on two queues at once with
/// `or_else`, or pop from one and push to another atomically.
///
/// ```
/// use braid::stm::{atomically, TQueue};
/// use std::thread;
///
/// let jobs = TQueue::new();
/// let worker = {
///     let jobs = jobs.clone();
///     thread::spawn(move || (0..3).map(|_| atomically(|tx| jobs.pop(tx))).sum::<i32>())
/// };
/// for job in [1, 2, 3] {
///     atomically(|tx| jobs.push(tx, job));
/// }
/// assert_eq!(worker.join().unwrap(), 6);
/// ```
pub struct TQueue<T> {
    front: TVar<Run<T>>,
    back: TVar<Stack<T>>,
}

impl<T: Clone + Send + Sync + 'static> TQueue<T> {
    /// An empty queue.
    ///
    /// ```
    /// let q: braid::stm::TQueue<u8> = braid::stm::TQueue::new();
    /// assert!(braid::stm::atomically(|tx| q.is_empty(tx)));
    /// ```
    pub fn new() -> TQueue<T> {
        TQueue {
            front: TVar::new(Run::new()),
            back: TVar::new(Stack::new()),
        }
    }

    /// Adds `value` at the back.
    ///
    /// ```
    /// use braid::stm::{atomically, TQueue};
    /// let q = TQueue::new();
    /// atomically(|tx| { q.push(tx, 'a')?; q.push(tx, 'b') });
    /// assert_eq!(atomically(|tx| q.len(tx)), 2);
    /// ```
    pub fn push(&self, tx: &mut Transaction, value: T) -> StmResult<()> {
        self.back.modify(tx, |back| back.push(value))
    }

    /// Removes and returns the front value; retries while the queue is empty.
    ///
    /// ```
    /// use braid::stm::{atomically, TQueue};
    /// let q = TQueue::new();
    /// atomically(|tx| { q.push(tx, 1)?; q.push(tx, 2) });
    /// assert_eq!(atomically(|tx| q.pop(tx)), 1);
    /// ```
    pub fn pop(&self, tx: &mut Transaction) -> StmResult<T> {
        match self.try_pop(tx)? {
            Some(value) => Ok(value),
            None => retry(),
        }
    }

    /// Removes and returns the front value, or `None` if the queue is empty.
    ///
    /// ```
    /// use braid::stm::{atomically, TQueue};
    /// let q: TQueue<i32> = TQueue::new();
    /// assert_eq!(atomically(|tx| q.try_pop(tx)), None);
    /// ```
    pub fn try_pop(&self, tx: &mut Transaction) -> StmResult<Option<T>> {
        let (run, _) = self.front_run(tx)?;
        let Some((value, rest)) = run.pop() else {
            return Ok(None);
        };
        self.front.write(tx, rest)?;
        Ok(Some(value))
    }

    /// Returns a copy of the front value without removing it; retries while empty.
    ///
    /// ```
    /// use braid::stm::{atomically, TQueue};
    /// let q = TQueue::new();
    /// atomically(|tx| q.push(tx, "first"));
    /// assert_eq!(atomically(|tx| q.peek(tx)), "first");
    /// assert_eq!(atomically(|tx| q.len(tx)), 1);
    /// ```
    pub fn peek(&self, tx: &mut Transaction) -> StmResult<T> {
        match self.try_peek(tx)? {
            Some(value) => Ok(value),
            None => retry(),
        }
    }

    /// Returns a copy of the front value, or `None` if the queue is empty.
    ///
    /// ```
    /// use braid::stm::{atomically, TQueue};
    /// let q: TQueue<u8> = TQueue::new();
    /// assert_eq!(atomically(|tx| q.try_peek(tx)), None);
    /// ```
    pub fn try_peek(&self, tx: &mut Transaction) -> StmResult<Option<T>> {
        let (run, moved) = self.front_run(tx)?;
        if moved {
            self.front.write(tx, run.clone())?;
        }
        Ok(run.peek())
    }

    /// Whether the queue is empty.
    ///
    /// ```
    /// use braid::stm::{atomically, TQueue};
    /// let q = TQueue::new();
    /// atomically(|tx| q.push(tx, ()));
    /// assert!(!atomically(|tx| q.is_empty(tx)));
    /// ```
    pub fn is_empty(&self, tx: &mut Transaction) -> StmResult<bool> {
        Ok(self.front.read(tx)?.is_empty() && self.back.read(tx)?.is_empty())
    }

    /// The number of values in the queue.
    ///
    /// ```
    /// use braid::stm::{atomically, TQueue};
    /// let q = TQueue::new();
    /// atomically(|tx| (0..5).try_for_each(|i| q.push(tx, i)));
    /// assert_eq!(atomically(|tx| q.len(tx)), 5);
    /// ```
    pub fn len(&self, tx: &mut Transaction) -> StmResult<usize> {
        Ok(self.front.read(tx)?.len() + self.back.read(tx)?.len())
    }

    /// The run to take from: `front`, or, when it is used up, `back` turned into a run.
    /// In the second case `back` is emptied here, and the `bool` is true: the caller
    /// must write what it leaves of the run to `front`. Reads `back` only when the front
    /// is empty, so pushes and pops conflict only then.
    fn front_run(&self, tx: &mut Transaction) -> StmResult<(Run<T>, bool)> {
        let front = self.front.read(tx)?;
        if !front.is_empty() {
            return Ok((front, false));
        }
        let back = self.back.read(tx)?;
        if back.is_empty() {
            return Ok((front, false));
        }
        self.back.write(tx, Stack::new())?;
        Ok((Run::from_stack(&back), true))
    }
}

impl<T: Clone + Send + Sync + 'static> Default for TQueue<T> {
    fn default() -> Self {
        TQueue::new()
    }
}

impl<T> Clone for TQueue<T> {
    fn clone(&self) -> Self {
        TQueue {
            front: self.front.clone(),
            back: self.back.clone(),
        }
    }
}

/// Shows the queued values, front first. Each half is read with `TVar::load`, so this
/// works inside transactions too, but a concurrent pop may show up half applied.
impl<T: Clone + Send + Sync + fmt::Debug + 'static> fmt::Debug for TQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (front, back) = (self.front.load(), self.back.load());
        let items: Vec<T> = front.iter().chain(Run::from_stack(&back).iter()).collect();
        f.debug_tuple("TQueue").field(&items).finish()
    }
}
