//! `TBQueue<T>`: a bounded transactional FIFO queue (Haskell's `TBQueue`), which can
//! be closed.
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

//!
//! Values travel in parcels and a `closed` variable ends the stream, as in `TQueue` (see
//! `parcel.rs` and `tqueue.rs`).

use std::fmt;

use super::parcel::{CloseFlag, Closed, Parcel};
use super::stack::{Run, Stack};
use super::stream::{Source, TBQueueStream, Waiting};
use super::{atomically, atomically_async, or_else, retry, StmResult, TVar, Transaction};

/// A push hands the stack to the consumers when it holds a multiple of this many values
/// and the previous batch has been taken. Looking only at multiples keeps a producer that
/// runs far ahead from reading `handoff` on every push (checking at every push from 32 on
/// made a capacity-10000 queue 10% slower; this way it is unchanged). Queues of a smaller
/// capacity never hand off.
const HANDOFF_AT: usize = 32;

/// The pop side: the run to pop from, and how many values were ever popped.
struct Front<T: 'static> {
    run: Run<Parcel<T>>,
    popped: usize,
}

/// The push side: the stack to push onto, how many values were ever pushed, and the
/// popped count producers last read from `front` (at most the current one).
struct Back<T: 'static> {
    stack: Stack<Parcel<T>>,
    pushed: usize,
    popped_seen: usize,
}

// By hand: a derive would ask `T: Clone`, and the halves clone only handles.
impl<T: 'static> Clone for Front<T> {
    fn clone(&self) -> Self {
        Front {
            run: self.run.clone(),
            popped: self.popped,
        }
    }
}

impl<T: 'static> Clone for Back<T> {
    fn clone(&self) -> Self {
        Back {
            stack: self.stack.clone(),
            ..*self
        }
    }
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
///
/// Like [`TQueue`](super::TQueue), it can be [closed](TBQueue::close), and threads and
/// tasks can move values through it without `Clone` ([`put`](TBQueue::put) waits while
/// the queue is full, [`get`](TBQueue::get) while it is empty and open):
///
/// ```
/// use braid::stm::{atomically, TBQueue};
/// use std::thread;
///
/// let q = TBQueue::new(2);
/// let producer = {
///     let q = q.clone();
///     thread::spawn(move || {
///         for i in 0..10 {
///             q.put(Box::new(i)).unwrap(); // waits while 2 are queued
///         }
///         atomically(|tx| q.close(tx));
///     })
/// };
/// let total: i32 = q.iter().map(|boxed| *boxed).sum();
/// producer.join().unwrap();
/// assert_eq!(total, 45);
/// ```
pub struct TBQueue<T: 'static> {
    front: TVar<Front<T>>,
    /// A batch of pushed values: newer than the run, older than the push stack.
    handoff: TVar<Stack<Parcel<T>>>,
    back: TVar<Back<T>>,
    closed: CloseFlag,
    capacity: usize,
}

impl<T: Send + 'static> TBQueue<T> {
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
            closed: CloseFlag::new(),
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
    ///
    /// # Panics
    /// When one transaction pushes more values than the capacity: it could never commit
    /// (waiting would hang), whatever else it pops. And on a closed queue: check
    /// [`is_closed`](Self::is_closed) in the same transaction, or send with
    /// [`put`](Self::put), which hands the value back.
    ///
    /// ```should_panic
    /// use braid::stm::{atomically, TBQueue};
    /// let q = TBQueue::new(2);
    /// atomically(|tx| (0..3).try_for_each(|i| q.push(tx, i))); // panics: capacity (2)
    /// ```
    #[track_caller]
    pub fn push(&self, tx: &mut Transaction, value: T) -> StmResult<()> {
        self.closed.assert_open(tx, "TBQueue::push")?;
        if !self.try_push_parcel(tx, Parcel::new(value))? {
            self.check_can_fit(tx)?;
            return retry();
        }
        Ok(())
    }

    /// Panics if this transaction has already pushed `capacity` values: it can never
    /// commit one more, since however much is popped, its own pushes alone fill the queue
    /// (values it popped itself make room only for values that were there before it).
    /// Waiting would hang for good.
    #[track_caller]
    fn check_can_fit(&self, tx: &mut Transaction) -> StmResult<()> {
        let pushed_here = self.back.read(tx)?.pushed;
        // The latest commit's count is at least this attempt's snapshot of it, so this
        // never counts more pushes than the attempt made (a later commit's pushes only
        // make it count fewer, and the retry looks again).
        let pushed_committed = self.back.load().pushed;
        let own_pushes = (pushed_here.wrapping_sub(pushed_committed) as isize).max(0) as usize;
        assert!(
            own_pushes < self.capacity,
            "braid::stm::TBQueue::push: this transaction pushes more values than the queue's \
             capacity ({}), so it could never commit; push them in several transactions, or \
             use a larger capacity",
            self.capacity
        );
        Ok(())
    }

    /// Closes the queue: sends fail from now on (blocked senders wake and get their
    /// values back), and once the values already in it are taken, consumers hear
    /// "closed" ([`get`](Self::get) returns `None`) instead of waiting. Closing twice is
    /// harmless.
    ///
    /// ```
    /// use braid::stm::{atomically, TBQueue};
    /// let q = TBQueue::new(1);
    /// q.put("last").unwrap();
    /// atomically(|tx| q.close(tx));
    /// assert_eq!(q.put("too late").unwrap_err().into_inner(), "too late");
    /// assert_eq!(q.get(), Some("last"));
    /// assert_eq!(q.get(), None);
    /// ```
    pub fn close(&self, tx: &mut Transaction) -> StmResult<()> {
        self.closed.close(tx)
    }

    /// Whether the queue has been closed.
    ///
    /// ```
    /// let q: braid::stm::TBQueue<u8> = braid::stm::TBQueue::new(1);
    /// assert!(!braid::stm::atomically(|tx| q.is_closed(tx)));
    /// ```
    pub fn is_closed(&self, tx: &mut Transaction) -> StmResult<bool> {
        self.closed.is_closed(tx)
    }

    /// Sends `value` from a thread, moving it once (no `Clone` needed): waits while the
    /// queue is full and open; `Err(Closed(value))` if it is closed (also when it is
    /// closed while this waits).
    ///
    /// # Panics
    /// On a Pool worker thread, if it would wait: use [`put_async`](Self::put_async) in
    /// tasks.
    ///
    /// ```
    /// let q = braid::stm::TBQueue::new(1);
    /// q.put(vec![0u8; 1024]).unwrap();
    /// assert!(braid::stm::atomically(|tx| q.is_full(tx)));
    /// ```
    #[track_caller]
    pub fn put(&self, value: T) -> Result<(), Closed<T>> {
        let parcel = Parcel::new(value);
        let sent = atomically(|tx| self.send_parcel(tx, &parcel));
        sent.map_err(|()| Closed(parcel.take()))
    }

    /// [`put`](Self::put) for a task: the same, as a future that suspends the task (not
    /// the thread) while the queue is full.
    ///
    /// ```
    /// use braid::exec::Pool;
    /// use braid::stm::TBQueue;
    ///
    /// let q = TBQueue::new(4);
    /// let sender = q.clone();
    /// Pool::new(1).block_on(async move { sender.put_async('a').await.unwrap() });
    /// assert_eq!(q.get(), Some('a'));
    /// ```
    pub async fn put_async(&self, value: T) -> Result<(), Closed<T>> {
        let parcel = Parcel::new(value);
        let sent = atomically_async(|tx| self.send_parcel(tx, &parcel)).await;
        sent.map_err(|()| Closed(parcel.take()))
    }

    /// Pushes `parcel`, retrying while the queue is full and open; `Err(())` if it is
    /// closed (the caller takes the parcel back).
    fn send_parcel(&self, tx: &mut Transaction, parcel: &Parcel<T>) -> StmResult<Result<(), ()>> {
        if self.closed.is_closed(tx)? {
            return Ok(Err(()));
        }
        match self.try_push_parcel(tx, parcel.clone())? {
            true => Ok(Ok(())),
            false => retry(),
        }
    }

    /// Receives the front value from a thread, moving it out (no `Clone` needed): waits
    /// while the queue is empty and open, and returns `None` once it is closed and empty.
    ///
    /// # Panics
    /// On a Pool worker thread, if it would wait: use [`get_async`](Self::get_async) in
    /// tasks.
    ///
    /// ```
    /// let q = braid::stm::TBQueue::new(2);
    /// q.put(String::from("hello")).unwrap();
    /// assert_eq!(q.get().as_deref(), Some("hello"));
    /// ```
    #[track_caller]
    pub fn get(&self) -> Option<T> {
        atomically(|tx| self.pop_parcel_or_closed(tx)).map(Parcel::take)
    }

    /// [`get`](Self::get) for a task: the same, as a future that suspends the task (not
    /// the thread) while it waits.
    ///
    /// ```
    /// use braid::exec::Pool;
    /// use braid::stm::TBQueue;
    ///
    /// let q = TBQueue::new(2);
    /// q.put(1u8).unwrap();
    /// assert_eq!(Pool::new(1).block_on(async move { q.get_async().await }), Some(1));
    /// ```
    pub async fn get_async(&self) -> Option<T> {
        atomically_async(|tx| self.pop_parcel_or_closed(tx))
            .await
            .map(Parcel::take)
    }

    /// The values as they arrive, from a thread: [`get`](Self::get) until the queue is
    /// closed and empty.
    ///
    /// ```
    /// use braid::stm::{atomically, TBQueue};
    /// let q = TBQueue::new(8);
    /// (0..4).for_each(|n| q.put(n).unwrap());
    /// atomically(|tx| q.close(tx));
    /// assert_eq!(q.iter().sum::<i32>(), 6);
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = T> + '_ {
        std::iter::from_fn(|| self.get())
    }

    /// The values as they arrive, for a task: a [`Stream`](futures_core::Stream) of
    /// [`get_async`](Self::get_async)s that ends once the queue is closed and empty (the
    /// async twin of [`iter`](Self::iter)). Each item taken makes room for a producer.
    /// The stream holds a handle to this queue, so it is `'static`; dropping it while it
    /// waits takes nothing from the queue.
    ///
    /// ```
    /// use braid::coro::{self, Scheduler};
    /// use braid::stm::{atomically, TBQueue};
    ///
    /// let mut scheduler = Scheduler::new();
    /// let lines = TBQueue::new(2); // the producer waits while two are unread
    /// let producer = scheduler.spawn({
    ///     let lines = lines.clone();
    ///     async move {
    ///         for n in 0..5 {
    ///             lines.put_async(n).await.unwrap();
    ///         }
    ///         braid::stm::atomically_async(|tx| lines.close(tx)).await;
    ///     }
    /// });
    /// let mut read = Vec::new();
    /// let mut stream = lines.stream();
    /// scheduler.block_on(async {
    ///     while let Some(n) = stream.next().await {
    ///         read.push(n);
    ///     }
    /// }).unwrap();
    /// assert_eq!(read, [0, 1, 2, 3, 4]);
    /// assert!(producer.is_finished());
    /// ```
    pub fn stream(&self) -> TBQueueStream<T> {
        TBQueueStream::new(self.clone())
    }

    /// The front parcel; retries while empty and open; `None` once closed and empty.
    fn pop_parcel_or_closed(&self, tx: &mut Transaction) -> StmResult<Option<Parcel<T>>> {
        match self.try_pop_parcel(tx)? {
            Some(parcel) => Ok(Some(parcel)),
            None => self.closed.nothing_left(tx),
        }
    }

    fn try_pop_parcel(&self, tx: &mut Transaction) -> StmResult<Option<Parcel<T>>> {
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
    fn take_pushed(&self, tx: &mut Transaction) -> StmResult<Run<Parcel<T>>> {
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
    ///
    /// # Panics
    /// On a closed queue, as [`push`](Self::push) does.
    pub fn try_push(&self, tx: &mut Transaction, value: T) -> StmResult<bool> {
        self.closed.assert_open(tx, "TBQueue::try_push")?;
        self.try_push_parcel(tx, Parcel::new(value))
    }

    fn try_push_parcel(&self, tx: &mut Transaction, parcel: Parcel<T>) -> StmResult<bool> {
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
        let mut stack = stack.push(parcel);
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

impl<T: Clone + Send + 'static> TBQueue<T> {
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
        match self.try_pop_parcel(tx)? {
            Some(parcel) => parcel.clone_value().map(Some),
            None => Ok(None),
        }
    }

    /// Removes and returns the front value inside a transaction; retries while the queue
    /// is empty and open, and returns `None` once it is closed and empty (the
    /// transactional [`get`](Self::get)).
    ///
    /// ```
    /// use braid::stm::{atomically, TBQueue};
    /// let q = TBQueue::new(2);
    /// atomically(|tx| { q.push(tx, 'z')?; q.close(tx) });
    /// assert_eq!(atomically(|tx| q.pop_or_closed(tx)), Some('z'));
    /// assert_eq!(atomically(|tx| q.pop_or_closed(tx)), None);
    /// ```
    pub fn pop_or_closed(&self, tx: &mut Transaction) -> StmResult<Option<T>> {
        match self.pop_parcel_or_closed(tx)? {
            Some(parcel) => parcel.clone_value().map(Some),
            None => Ok(None),
        }
    }
}

impl<T: 'static> Clone for TBQueue<T> {
    fn clone(&self) -> Self {
        TBQueue {
            front: self.front.clone(),
            handoff: self.handoff.clone(),
            back: self.back.clone(),
            closed: self.closed.clone(),
            capacity: self.capacity,
        }
    }
}

/// Shows the capacity and the queued values, front first. Each part is read with
/// `TVar::load`, so this works inside transactions too, but a concurrent pop may show up
/// half applied.
impl<T: Clone + Send + fmt::Debug + 'static> fmt::Debug for TBQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (front, handoff, back) = (self.front.load(), self.handoff.load(), self.back.load());
        let items: Vec<T> = (front.run.iter())
            .chain(Run::from_stack(&handoff).iter())
            .chain(Run::from_stack(&back.stack).iter())
            .filter_map(|parcel| parcel.clone_value().ok())
            .collect();
        f.debug_struct("TBQueue")
            .field("capacity", &self.capacity)
            .field("items", &items)
            .field("closed", &self.closed.load())
            .finish()
    }
}

impl<T: Send + 'static> Source for TBQueue<T> {
    type Item = T;

    fn try_next(&self) -> Option<Option<T>> {
        let next = atomically(|tx| {
            or_else(
                tx,
                |tx| self.pop_parcel_or_closed(tx).map(Some),
                |_| Ok(None),
            )
        });
        next.map(|parcel| parcel.map(Parcel::take))
    }

    fn next(self) -> Waiting<Self, T> {
        Box::pin(async move {
            let item = self.get_async().await;
            (self, item)
        })
    }
}
