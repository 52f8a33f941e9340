//! `TBQueue<T>`: a bounded transactional FIFO queue (Haskell's `TBQueue`).
//!
//! A `TQueue` plus a capacity: `push` retries while the queue is full, which is the
//! back-pressure of Python's `queue.Queue(maxsize)`. The length check reads both halves
//! of the queue, so unlike `TQueue` a push and a pop on a `TBQueue` always conflict;
//! they are short, so the cost is a re-run, never a wait.

use std::fmt;

use super::{check, StmResult, TQueue, Transaction};

/// A FIFO queue holding at most `capacity` values. Cloning shares it.
///
/// ```
/// use braid::stm::{atomically, TBQueue};
/// use std::thread;
///
/// let q = TBQueue::new(1);
/// let producer = {
///     let q = q.clone();
///     thread::spawn(move || for i in 0..3 { atomically(|tx| q.push(tx, i)) })
/// };
/// let got: Vec<i32> = (0..3).map(|_| atomically(|tx| q.pop(tx))).collect();
/// producer.join().unwrap();
/// assert_eq!(got, [0, 1, 2]);
/// ```
pub struct TBQueue<T> {
    queue: TQueue<T>,
    capacity: usize,
}

impl<T: Clone + Send + Sync + 'static> TBQueue<T> {
    /// An empty queue that holds at most `capacity` values.
    ///
    /// # Panics
    /// If `capacity` is 0: such a queue could never accept a value.
    ///
    /// ```
    /// let q: braid::stm::TBQueue<u8> = braid::stm::TBQueue::new(16);
    /// assert_eq!(q.capacity(), 16);
    /// ```
    #[track_caller]
    pub fn new(capacity: usize) -> TBQueue<T> {
        assert!(
            capacity > 0,
            "braid::stm::TBQueue::new: capacity must be at least 1 (a queue of capacity 0 \
             could never accept a value)"
        );
        TBQueue {
            queue: TQueue::new(),
            capacity,
        }
    }

    /// The most values the queue holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Adds `value` at the back; retries while the queue is full.
    ///
    /// ```
    /// use braid::stm::{atomically, TBQueue};
    /// let q = TBQueue::new(2);
    /// atomically(|tx| { q.push(tx, 1)?; q.push(tx, 2) });
    /// assert!(atomically(|tx| q.is_full(tx)));
    /// ```
    pub fn push(&self, tx: &mut Transaction, value: T) -> StmResult<()> {
        check(self.queue.len(tx)? < self.capacity)?;
        self.queue.push(tx, value)
    }

    /// Removes and returns the front value; retries while the queue is empty.
    ///
    /// ```
    /// use braid::stm::{atomically, TBQueue};
    /// let q = TBQueue::new(4);
    /// atomically(|tx| q.push(tx, "a"));
    /// assert_eq!(atomically(|tx| q.pop(tx)), "a");
    /// ```
    pub fn pop(&self, tx: &mut Transaction) -> StmResult<T> {
        self.queue.pop(tx)
    }

    /// Removes and returns the front value, or `None` if the queue is empty.
    ///
    /// ```
    /// use braid::stm::{atomically, TBQueue};
    /// let q: TBQueue<u8> = TBQueue::new(1);
    /// assert_eq!(atomically(|tx| q.try_pop(tx)), None);
    /// ```
    pub fn try_pop(&self, tx: &mut Transaction) -> StmResult<Option<T>> {
        self.queue.try_pop(tx)
    }

    /// Adds `value` if there is room; returns whether it did.
    ///
    /// ```
    /// use braid::stm::{atomically, TBQueue};
    /// let q = TBQueue::new(1);
    /// assert!(atomically(|tx| q.try_push(tx, 1)));
    /// assert!(!atomically(|tx| q.try_push(tx, 2)));
    /// ```
    pub fn try_push(&self, tx: &mut Transaction, value: T) -> StmResult<bool> {
        if self.queue.len(tx)? >= self.capacity {
            return Ok(false);
        }
        self.queue.push(tx, value)?;
        Ok(true)
    }

    /// The number of values in the queue.
    ///
    /// ```
    /// use braid::stm::{atomically, TBQueue};
    /// let q = TBQueue::new(3);
    /// atomically(|tx| q.push(tx, 0));
    /// assert_eq!(atomically(|tx| q.len(tx)), 1);
    /// ```
    pub fn len(&self, tx: &mut Transaction) -> StmResult<usize> {
        self.queue.len(tx)
    }

    /// Whether the queue is empty.
    ///
    /// ```
    /// let q: braid::stm::TBQueue<u8> = braid::stm::TBQueue::new(3);
    /// assert!(braid::stm::atomically(|tx| q.is_empty(tx)));
    /// ```
    pub fn is_empty(&self, tx: &mut Transaction) -> StmResult<bool> {
        self.queue.is_empty(tx)
    }

    /// Whether the queue holds `capacity` values.
    ///
    /// ```
    /// use braid::stm::{atomically, TBQueue};
    /// let q = TBQueue::new(1);
    /// atomically(|tx| q.push(tx, 0));
    /// assert!(atomically(|tx| q.is_full(tx)));
    /// ```
    pub fn is_full(&self, tx: &mut Transaction) -> StmResult<bool> {
        Ok(self.queue.len(tx)? >= self.capacity)
    }
}

impl<T> Clone for TBQueue<T> {
    fn clone(&self) -> Self {
        TBQueue {
            queue: self.queue.clone(),
            capacity: self.capacity,
        }
    }
}

impl<T: Clone + Send + Sync + fmt::Debug + 'static> fmt::Debug for TBQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TBQueue")
            .field("capacity", &self.capacity)
            .field("queue", &self.queue)
            .finish()
    }
}
