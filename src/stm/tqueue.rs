//! `TQueue<T>`: an unbounded transactional FIFO queue (Haskell's `TQueue`), which can be
//! closed.
//!
//! Two persistent sequences in two `TVar`s (see `stack.rs`): `push` conses onto the
//! `back` stack, `pop` takes from the `front` run, and when the run is used up the pop
//! turns the whole `back` stack into a new run.
//! Every operation is amortized O(1), and producers and consumers touch different
//! variables except when a pop has to reverse, so they rarely conflict.
//!
//! Values travel in parcels (`parcel.rs`), so `put`/`get` move a value through the queue
//! once, without `Clone`. A third variable, `closed`, is read by every push and by a pop
//! that finds the queue empty, and written once, by `close`: it never conflicts with
//! anything but the close itself, and a close wakes every blocked consumer.

use std::fmt;

use super::parcel::{CloseFlag, Closed, Parcel};
use super::stack::{Run, Stack};
use super::stream::{Source, TQueueStream, Waiting};
use super::{atomically, atomically_async, or_else, retry, StmResult, TVar, Transaction};

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
///
/// # Closing, and moving values without cloning
/// [`close`](TQueue::close) ends the stream: later sends fail, and consumers take what
/// is left and then hear "closed" instead of waiting (Python 3.13's `Queue.shutdown`,
/// crossbeam's disconnect). Threads send and receive with [`put`](TQueue::put) and
/// [`get`](TQueue::get), tasks with [`put_async`](TQueue::put_async) and
/// [`get_async`](TQueue::get_async): these move each value through the queue once, so
/// they need no `Clone` (a transaction body may run several times, and `push(tx, v)`
/// inside one needs `v.clone()` each time).
///
/// ```
/// use braid::stm::{atomically, TQueue};
/// use std::thread;
///
/// let lines: TQueue<Vec<u8>> = TQueue::new(); // moved, never cloned
/// let consumer = {
///     let lines = lines.clone();
///     thread::spawn(move || lines.iter().map(|line| line.len()).sum::<usize>())
/// };
/// for line in ["one", "two", "three"] {
///     lines.put(line.as_bytes().to_vec()).unwrap();
/// }
/// atomically(|tx| lines.close(tx)); // the consumer's iterator ends once it has all
/// assert_eq!(consumer.join().unwrap(), 11);
/// ```
pub struct TQueue<T: 'static> {
    front: TVar<Run<Parcel<T>>>,
    back: TVar<Stack<Parcel<T>>>,
    closed: CloseFlag,
}

impl<T: Send + 'static> TQueue<T> {
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
            closed: CloseFlag::new(),
        }
    }

    /// Adds `value` at the back.
    ///
    /// # Panics
    /// If the queue is closed: the value would never be received. Check
    /// [`is_closed`](Self::is_closed) in the same transaction, or send with
    /// [`put`](Self::put), which hands the value back.
    ///
    /// ```
    /// use braid::stm::{atomically, TQueue};
    /// let q = TQueue::new();
    /// atomically(|tx| { q.push(tx, 'a')?; q.push(tx, 'b') });
    /// assert_eq!(atomically(|tx| q.len(tx)), 2);
    /// ```
    #[track_caller]
    pub fn push(&self, tx: &mut Transaction, value: T) -> StmResult<()> {
        self.closed.assert_open(tx, "TQueue::push")?;
        self.push_parcel(tx, Parcel::new(value))
    }

    fn push_parcel(&self, tx: &mut Transaction, parcel: Parcel<T>) -> StmResult<()> {
        self.back.modify(tx, |back| back.push(parcel))
    }

    /// Closes the queue: sends fail from now on, and once the values already in it are
    /// taken, consumers hear "closed" ([`get`](Self::get) returns `None`) instead of
    /// waiting. Blocked consumers wake. Closing twice is harmless.
    ///
    /// ```
    /// use braid::stm::{atomically, TQueue};
    /// let q = TQueue::new();
    /// q.put(1).unwrap();
    /// atomically(|tx| q.close(tx));
    /// assert_eq!(q.get(), Some(1)); // what was sent is still delivered
    /// assert_eq!(q.get(), None);    // then: closed
    /// ```
    pub fn close(&self, tx: &mut Transaction) -> StmResult<()> {
        self.closed.close(tx)
    }

    /// Whether the queue has been closed.
    ///
    /// ```
    /// use braid::stm::{atomically, TQueue};
    /// let q: TQueue<u8> = TQueue::new();
    /// assert!(!atomically(|tx| q.is_closed(tx)));
    /// ```
    pub fn is_closed(&self, tx: &mut Transaction) -> StmResult<bool> {
        self.closed.is_closed(tx)
    }

    /// Sends `value` from a thread or outside a transaction, moving it once (no `Clone`
    /// needed); `Err(Closed(value))` if the queue is closed. Never waits: the queue is
    /// unbounded.
    ///
    /// ```
    /// let q = braid::stm::TQueue::new();
    /// q.put(String::from("moved, not cloned")).unwrap();
    /// assert_eq!(q.get().as_deref(), Some("moved, not cloned"));
    /// ```
    pub fn put(&self, value: T) -> Result<(), Closed<T>> {
        let parcel = Parcel::new(value);
        let sent = atomically(|tx| self.send_parcel(tx, &parcel));
        sent.map_err(|()| Closed(parcel.take()))
    }

    /// [`put`](Self::put) for a task: the same, as a future.
    ///
    /// ```
    /// use braid::exec::Pool;
    /// use braid::stm::TQueue;
    ///
    /// let q = TQueue::new();
    /// let sender = q.clone();
    /// Pool::new(1).block_on(async move { sender.put_async(5).await.unwrap() });
    /// assert_eq!(q.get(), Some(5));
    /// ```
    pub async fn put_async(&self, value: T) -> Result<(), Closed<T>> {
        let parcel = Parcel::new(value);
        let sent = atomically_async(|tx| self.send_parcel(tx, &parcel)).await;
        sent.map_err(|()| Closed(parcel.take()))
    }

    /// Pushes `parcel` unless the queue is closed (`Err(())`: the caller takes it back).
    fn send_parcel(&self, tx: &mut Transaction, parcel: &Parcel<T>) -> StmResult<Result<(), ()>> {
        if self.closed.is_closed(tx)? {
            return Ok(Err(()));
        }
        self.push_parcel(tx, parcel.clone()).map(Ok)
    }

    /// Receives the front value from a thread, moving it out (no `Clone` needed): waits
    /// while the queue is empty and open, and returns `None` once it is closed and empty.
    ///
    /// # Panics
    /// On a Pool worker thread, if it would wait: use [`get_async`](Self::get_async) in
    /// tasks.
    ///
    /// ```
    /// use braid::stm::{atomically, TQueue};
    /// let q = TQueue::new();
    /// q.put(vec![1, 2, 3]).unwrap();
    /// assert_eq!(q.get(), Some(vec![1, 2, 3]));
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
    /// use braid::stm::TQueue;
    ///
    /// let q = TQueue::new();
    /// q.put('x').unwrap();
    /// let got = Pool::new(1).block_on(async move { q.get_async().await });
    /// assert_eq!(got, Some('x'));
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
    /// use braid::stm::{atomically, TQueue};
    /// let q = TQueue::new();
    /// (1..=3).for_each(|n| q.put(n).unwrap());
    /// atomically(|tx| q.close(tx));
    /// assert_eq!(q.iter().collect::<Vec<_>>(), [1, 2, 3]);
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = T> + '_ {
        std::iter::from_fn(|| self.get())
    }

    /// The values as they arrive, for a task: a [`Stream`](futures_core::Stream) of
    /// [`get_async`](Self::get_async)s that ends once the queue is closed and empty (the
    /// async twin of [`iter`](Self::iter)). The stream holds a handle to this queue, so
    /// it is `'static` and can move into a task; other consumers compete with it for
    /// values. Dropping it while it waits takes nothing from the queue.
    ///
    /// ```
    /// use braid::exec::Pool;
    /// use braid::stm::{atomically, TQueue};
    ///
    /// let pool = Pool::new(2);
    /// let jobs = TQueue::new();
    /// let consumer = pool.spawn({
    ///     let mut values = jobs.stream();
    ///     async move {
    ///         let mut total = 0;
    ///         while let Some(n) = values.next().await {
    ///             total += n;
    ///         }
    ///         total
    ///     }
    /// });
    /// (1..=10).for_each(|n| jobs.put(n).unwrap());
    /// atomically(|tx| jobs.close(tx)); // ends the stream once drained
    /// assert_eq!(consumer.join().unwrap(), 55);
    /// ```
    pub fn stream(&self) -> TQueueStream<T> {
        TQueueStream::new(self.clone())
    }

    /// The front parcel; retries while empty and open; `None` once closed and empty.
    fn pop_parcel_or_closed(&self, tx: &mut Transaction) -> StmResult<Option<Parcel<T>>> {
        match self.try_pop_parcel(tx)? {
            Some(parcel) => Ok(Some(parcel)),
            None => self.closed.nothing_left(tx),
        }
    }

    fn try_pop_parcel(&self, tx: &mut Transaction) -> StmResult<Option<Parcel<T>>> {
        let (run, _) = self.front_run(tx)?;
        let Some((parcel, rest)) = run.pop() else {
            return Ok(None);
        };
        self.front.write(tx, rest)?;
        Ok(Some(parcel))
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
    fn front_run(&self, tx: &mut Transaction) -> StmResult<(Run<Parcel<T>>, bool)> {
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

impl<T: Clone + Send + 'static> TQueue<T> {
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
    /// use braid::stm::{atomically, TQueue};
    /// let q = TQueue::new();
    /// atomically(|tx| { q.push(tx, 1)?; q.close(tx) });
    /// assert_eq!(atomically(|tx| q.pop_or_closed(tx)), Some(1));
    /// assert_eq!(atomically(|tx| q.pop_or_closed(tx)), None);
    /// ```
    pub fn pop_or_closed(&self, tx: &mut Transaction) -> StmResult<Option<T>> {
        match self.pop_parcel_or_closed(tx)? {
            Some(parcel) => parcel.clone_value().map(Some),
            None => Ok(None),
        }
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
        run.peek().map(|parcel| parcel.clone_value()).transpose()
    }
}

impl<T: Send + 'static> Default for TQueue<T> {
    fn default() -> Self {
        TQueue::new()
    }
}

impl<T: 'static> Clone for TQueue<T> {
    fn clone(&self) -> Self {
        TQueue {
            front: self.front.clone(),
            back: self.back.clone(),
            closed: self.closed.clone(),
        }
    }
}

/// Shows the queued values, front first. Each part is read with `TVar::load`, so this
/// works inside transactions too, but a concurrent pop may show up half applied.
impl<T: Clone + Send + fmt::Debug + 'static> fmt::Debug for TQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (front, back) = (self.front.load(), self.back.load());
        let items: Vec<T> = (front.iter().chain(Run::from_stack(&back).iter()))
            .filter_map(|parcel| parcel.clone_value().ok())
            .collect();
        let mut tuple = f.debug_tuple("TQueue");
        tuple.field(&items);
        if self.closed.load() {
            tuple.field(&"closed");
        }
        tuple.finish()
    }
}

impl<T: Send + 'static> Source for TQueue<T> {
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
