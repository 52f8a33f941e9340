//! `TBQueue<T>`: a bounded transactional FIFO queue (Haskell's `TBQueue`).
//!
//! The same two-part queue as `TQueue` (a `Stack` for pushes, a `Run` for pops; see
//! `stack.rs`) plus room accounting: `push` retries while the queue is full, which is the
//! back-pressure of Python's `queue.Queue(maxsize)`. The room is kept as two counters
//! that only grow, each in the same `TVar` as its half of the queue: `back` holds the
//! stack and how many values were ever pushed, `front` the run and how many were ever
//! popped. So a push writes only `back`, a pop writes only `front` (and `back` when it
//! takes the stack). A producer also remembers the popped count it last saw, and reads
//! `front` only when that leaves no room; it never writes `front`, so a consumer's pop
//! never has to run again because a producer made room for itself (GHC's `TBQueue` moves
//! freed room back with a write to the consumers' counter). `len == pushed - popped`.
//!
//! A third `TVar`, `handoff`, holds a batch of pushed values on its way to the consumers:
//! each time the push stack reaches a multiple of `HANDOFF_AT` values, a push looks at
//! `handoff` and, if it is empty, moves the stack there. A consumer whose run is used up
//! takes `handoff` first and reads `back` only when `handoff` is empty. Taking the stack
//! from `back` conflicts with every push committed while the take runs, and a take
//! touches lines the producer has just written, so it rarely finished between two
//! pushes: on a capacity-200 queue a take ran eight times on average (counted). Taking
//! from `handoff` conflicts only with the next hand-off. Values always sit in the order
//! run, then `handoff`, then `back`.

use std::fmt;

use super::stack::{Run, Stack};
use super::{retry, StmResult, TVar, Transaction};

/// A push hands the stack to the consumers when it holds a multiple of this many values
/// and the previous batch has been taken. Looking only at multiples keeps a producer that
/// runs far ahead from reading `handoff` on every push (checking at every push from 32 on
/// made a capacity-10000 queue 10% slower; this way it is unchanged). Queues of a smaller
/// capacity never hand off.
const HANDOFF_AT: usize = 32;

/// The pop side: the run to pop from, and how many values were ever popped.
#[derive(Clone)]
struct Front<T> {
    run: Run<T>,
    popped: usize,
}

/// The push side: the stack to push onto, how many values were ever pushed, and the
/// popped count producers last read from `front` (at most the current one).
#[derive(Clone)]
struct Back<T> {
    stack: Stack<T>,
    pushed: usize,
    popped_seen: usize,
}

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
    front: TVar<Front<T>>,
    /// A batch of pushed values: newer than the run, older than the push stack.
    handoff: TVar<Stack<T>>,
    back: TVar<Back<T>>,
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
            front: TVar::new(Front {
                run: Run::new(),
                popped: 0,
            }),
            handoff: TVar::new(Stack::new()),
            back: TVar::new(Back {
                stack: Stack::new(),
                pushed: 0,
                popped_seen: 0,
            }),
            capacity,
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
        if !self.try_push(tx, value)? {
            return retry();
        }
        Ok(())
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
        match self.try_pop(tx)? {
            Some(value) => Ok(value),
            None => retry(),
        }
    }

    /// Removes and returns the front value, or `None` if the queue is empty.
    ///
    /// ```
    /// use braid::stm::{atomically, TBQueue};
    /// let q: TBQueue<u8> = TBQueue::new(1);
    /// assert_eq!(atomically(|tx| q.try_pop(tx)), None);
    /// ```
    pub fn try_pop(&self, tx: &mut Transaction) -> StmResult<Option<T>> {
        let Front { mut run, popped } = self.front.read(tx)?;
        if run.is_empty() {
            run = self.take_pushed(tx)?;
            if run.is_empty() {
                return Ok(None);
            }
        }
        let (value, run) = run.pop().expect("the run is not empty");
        let popped = popped.wrapping_add(1);
        self.front.write(tx, Front { run, popped })?;
        Ok(Some(value))
    }

    /// The oldest pushed values not yet in the run, as a new run (empty if there are
    /// none): the handed-off batch if there is one, else the whole push stack.
    fn take_pushed(&self, tx: &mut Transaction) -> StmResult<Run<T>> {
        // A queue too small to hand off never reads `handoff`: at capacity 1 every pop
        // takes the stack, and would pay for the extra read each time.
        if self.capacity >= HANDOFF_AT {
            let handoff = self.handoff.read(tx)?;
            if !handoff.is_empty() {
                self.handoff.write(tx, Stack::new())?;
                return Ok(Run::from_stack(&handoff));
            }
        }
        // Reads `back` only now, so pushes and pops conflict only here.
        let back = self.back.read(tx)?;
        if back.stack.is_empty() {
            return Ok(Run::new());
        }
        let run = Run::from_stack(&back.stack);
        let stack = Stack::new();
        self.back.write(tx, Back { stack, ..back })?;
        Ok(run)
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
        let Back {
            stack,
            pushed,
            mut popped_seen,
        } = self.back.read(tx)?;
        if pushed.wrapping_sub(popped_seen) == self.capacity {
            // Full as far as producers know: see how many consumers have popped since.
            popped_seen = self.front.read(tx)?.popped;
            if pushed.wrapping_sub(popped_seen) == self.capacity {
                return Ok(false);
            }
        }
        let mut stack = stack.push(value);
        if stack.len() % HANDOFF_AT == 0 && self.handoff.read(tx)?.is_empty() {
            self.handoff.write(tx, stack)?;
            stack = Stack::new();
        }
        let back = Back {
            stack,
            pushed: pushed.wrapping_add(1),
            popped_seen,
        };
        self.back.write(tx, back)?;
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
        let pushed = self.back.read(tx)?.pushed;
        Ok(pushed.wrapping_sub(self.front.read(tx)?.popped))
    }

    /// Whether the queue is empty.
    ///
    /// ```
    /// let q: braid::stm::TBQueue<u8> = braid::stm::TBQueue::new(3);
    /// assert!(braid::stm::atomically(|tx| q.is_empty(tx)));
    /// ```
    pub fn is_empty(&self, tx: &mut Transaction) -> StmResult<bool> {
        Ok(self.len(tx)? == 0)
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
        Ok(self.len(tx)? == self.capacity)
    }
}

impl<T> Clone for TBQueue<T> {
    fn clone(&self) -> Self {
        TBQueue {
            front: self.front.clone(),
            handoff: self.handoff.clone(),
            back: self.back.clone(),
            capacity: self.capacity,
        }
    }
}

/// Shows the capacity and the queued values, front first. Each part is read with
/// `TVar::load`, so this works inside transactions too, but a concurrent pop may show up
/// half applied.
impl<T: Clone + Send + Sync + fmt::Debug + 'static> fmt::Debug for TBQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (front, handoff, back) = (self.front.load(), self.handoff.load(), self.back.load());
        let items: Vec<T> = (front.run.iter())
            .chain(Run::from_stack(&handoff).iter())
            .chain(Run::from_stack(&back.stack).iter())
            .collect();
        f.debug_struct("TBQueue")
            .field("capacity", &self.capacity)
            .field("items", &items)
            .finish()
    }
}
