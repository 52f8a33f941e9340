//! `TBQueue<T>`: a bounded transactional FIFO queue (Haskell's `TBQueue`).
//!
//! A `TQueue` plus room accounting: `push` retries while the queue is full, which is the
//! back-pressure of Python's `queue.Queue(maxsize)`. As in GHC, the room is split in two
//! counters so that producers and consumers do not touch the same variable: producers
//! spend `write_room`; consumers return room to `read_freed`; only when `write_room` runs
//! out does a producer take back what the consumers freed. Invariant:
//! `write_room + read_freed + len == capacity`.

use std::fmt;

use super::{retry, StmResult, TQueue, TVar, Transaction};

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
    /// Room producers may use without looking at `read_freed`.
    write_room: TVar<usize>,
    /// Room consumers have freed since producers last took it.
    read_freed: TVar<usize>,
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
            write_room: TVar::new(capacity),
            read_freed: TVar::new(0),
        }
    }

    /// The most values the queue holds.
    ///
    /// ```
    /// let q: braid::stm::TBQueue<char> = braid::stm::TBQueue::new(8);
    /// assert_eq!(q.capacity(), 8);
    /// ```
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
        if !self.take_room(tx)? {
            return retry();
        }
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
        let value = self.queue.pop(tx)?;
        self.read_freed.modify(tx, |n| n + 1)?;
        Ok(value)
    }

    /// Removes and returns the front value, or `None` if the queue is empty.
    ///
    /// ```
    /// use braid::stm::{atomically, TBQueue};
    /// let q: TBQueue<u8> = TBQueue::new(1);
    /// assert_eq!(atomically(|tx| q.try_pop(tx)), None);
    /// ```
    pub fn try_pop(&self, tx: &mut Transaction) -> StmResult<Option<T>> {
        let value = self.queue.try_pop(tx)?;
        if value.is_some() {
            self.read_freed.modify(tx, |n| n + 1)?;
        }
        Ok(value)
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
        if !self.take_room(tx)? {
            return Ok(false);
        }
        self.queue.push(tx, value)?;
        Ok(true)
    }

    /// Takes one unit of room, from `write_room`, or else by first moving back the room
    /// consumers freed. Returns false if the queue is full.
    fn take_room(&self, tx: &mut Transaction) -> StmResult<bool> {
        let mut room = self.write_room.read(tx)?;
        if room == 0 {
            room = self.read_freed.replace(tx, 0)?;
            if room == 0 {
                return Ok(false);
            }
        }
        self.write_room.write(tx, room - 1)?;
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
        Ok(self.capacity - self.room(tx)?)
    }

    /// Free places: what producers hold plus what consumers have freed.
    fn room(&self, tx: &mut Transaction) -> StmResult<usize> {
        Ok(self.write_room.read(tx)? + self.read_freed.read(tx)?)
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
        Ok(self.room(tx)? == 0)
    }
}

impl<T> Clone for TBQueue<T> {
    fn clone(&self) -> Self {
        TBQueue {
            queue: self.queue.clone(),
            capacity: self.capacity,
            write_room: self.write_room.clone(),
            read_freed: self.read_freed.clone(),
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
