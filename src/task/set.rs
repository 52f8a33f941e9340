//! `JoinSet`: many handles, taken in the order their tasks finish (PEP 3148's
//! `as_completed`, `wait(return_when=FIRST_COMPLETED)`; tokio's `JoinSet`).
//!
//! Each handle is polled with a waker of its own, which, when its task finishes, puts the
//! handle's slot number on a shared ready list and wakes whoever waits on the set. So a
//! completion costs O(1) however many handles the set holds: nothing scans them.

use std::collections::VecDeque;
use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use super::error::JoinError;
use super::id::TaskId;
use super::join::JoinHandle;
use crate::sync::{lock, waker_fn, Arc, Mutex};
use crate::time::Elapsed;

/// A set of [`JoinHandle`]s (from the Pool, the Scheduler or both) whose results come
/// out in the order the tasks finish.
///
/// Dropping the set aborts the tasks still in it (tokio's rule: the set owns its tasks).
/// To let them run on, take their results first, or keep their handles elsewhere.
///
/// ```
/// use braid::exec::Pool;
/// use braid::time::sleep;
/// use braid::JoinSet;
/// use std::time::Duration;
///
/// let pool = Pool::new(2);
/// let mut set: JoinSet<u64> = [30u64, 10, 20]
///     .into_iter()
///     .map(|ms| pool.spawn(async move {
///         sleep(Duration::from_millis(ms)).await;
///         ms
///     }))
///     .collect();
/// let mut finished = Vec::new();
/// while let Some(result) = set.join_next_blocking() {
///     finished.push(result.unwrap());
/// }
/// assert_eq!(finished, [10, 20, 30]); // completion order, not spawn order
/// ```
pub struct JoinSet<T> {
    slots: Vec<Option<Slot<T>>>,
    free: Vec<usize>,
    len: usize,
    /// Handles from a Scheduler, on which the blocking forms would hang.
    scheduler_handles: usize,
    ready: Arc<ReadyList>,
}

struct Slot<T> {
    handle: JoinHandle<T>,
    /// Puts this slot on the ready list.
    waker: Waker,
}

/// The slots whose tasks woke them, and the waker of whoever waits on the set.
struct ReadyList {
    inner: Mutex<Ready>,
}

#[derive(Default)]
struct Ready {
    slots: VecDeque<usize>,
    waiter: Option<Waker>,
}

impl ReadyList {
    fn push(&self, slot: usize) {
        let waiter = {
            let mut ready = lock(&self.inner);
            ready.slots.push_back(slot);
            ready.waiter.take()
        };
        if let Some(waiter) = waiter {
            waiter.wake();
        }
    }
}

impl<T> JoinSet<T> {
    /// An empty set.
    pub fn new() -> JoinSet<T> {
        JoinSet {
            slots: Vec::new(),
            free: Vec::new(),
            len: 0,
            scheduler_handles: 0,
            ready: Arc::new(ReadyList {
                inner: Mutex::new(Ready::default()),
            }),
        }
    }

    /// Adds a handle. Its result comes out of `join_next` once its task finishes.
    pub fn push(&mut self, handle: JoinHandle<T>) {
        if !handle.blocking_join_allowed() {
            self.scheduler_handles += 1;
        }
        let index = self.free.pop().unwrap_or_else(|| {
            self.slots.push(None);
            self.slots.len() - 1
        });
        let waker = {
            let ready = self.ready.clone();
            waker_fn(move || ready.push(index))
        };
        self.slots[index] = Some(Slot { handle, waker });
        self.len += 1;
        // Polled once by the next `join_next`, which hands the task its waker.
        self.ready.push(index);
    }

    /// How many handles the set holds (finished tasks not yet taken included).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the set holds no handle.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The result of the next task to finish, removing its handle; `None` when the set
    /// is empty. Cancel-safe: dropping the future before it completes loses nothing.
    ///
    /// ```
    /// use braid::coro::{self, Scheduler};
    /// use braid::JoinSet;
    ///
    /// let mut scheduler = Scheduler::new();
    /// let total = scheduler.block_on(async {
    ///     let mut set: JoinSet<u32> = (1..=3).map(|n| coro::spawn(async move { n })).collect();
    ///     let mut total = 0;
    ///     while let Some(result) = set.join_next().await {
    ///         total += result.unwrap();
    ///     }
    ///     total
    /// });
    /// assert_eq!(total.unwrap(), 6);
    /// ```
    pub async fn join_next(&mut self) -> Option<Result<T, JoinError>> {
        poll_fn(|cx| self.poll_join_next(cx)).await
    }

    /// Polls for the next task to finish (for hand-written futures): see `join_next`.
    pub fn poll_join_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<T, JoinError>>> {
        self.poll_join_next_with_id(cx)
            .map(|next| next.map(|result| result.map(|(_, output)| output)))
    }

    /// [`join_next`](Self::join_next), with the id of the task that finished (tokio's
    /// `join_next_with_id`): PEP 3148's `future_to_url[future]`, for a set whose results
    /// must be traced back to what each task was given. A failed task's id is its
    /// [`JoinError::id`].
    ///
    /// ```
    /// use braid::exec::Pool;
    /// use braid::JoinSet;
    /// use std::collections::HashMap;
    ///
    /// let pool = Pool::new(2);
    /// let urls = ["a.example", "b.example", "c.example"];
    /// let mut set = JoinSet::new();
    /// let mut task_to_url = HashMap::new();
    /// for url in urls {
    ///     let handle = pool.spawn(async move { url.len() });
    ///     task_to_url.insert(handle.id(), url);
    ///     set.push(handle);
    /// }
    /// let mut sizes = pool.block_on(async {
    ///     let mut sizes = Vec::new();
    ///     while let Some(done) = set.join_next_with_id().await {
    ///         let (id, size) = done.unwrap();
    ///         sizes.push((task_to_url[&id], size));
    ///     }
    ///     sizes
    /// });
    /// sizes.sort();
    /// assert_eq!(sizes, [("a.example", 9), ("b.example", 9), ("c.example", 9)]);
    /// ```
    pub async fn join_next_with_id(&mut self) -> Option<Result<(TaskId, T), JoinError>> {
        poll_fn(|cx| self.poll_join_next_with_id(cx)).await
    }

    /// Polls for the next task to finish, with its id: see `join_next_with_id`.
    pub fn poll_join_next_with_id(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<(TaskId, T), JoinError>>> {
        if self.len == 0 {
            return Poll::Ready(None);
        }
        loop {
            let index = {
                let mut ready = lock(&self.ready.inner);
                match ready.slots.pop_front() {
                    Some(index) => index,
                    None => {
                        if !ready
                            .waiter
                            .as_ref()
                            .is_some_and(|w| w.will_wake(cx.waker()))
                        {
                            ready.waiter = Some(cx.waker().clone());
                        }
                        return Poll::Pending;
                    }
                }
            };
            // A slot may be listed twice, or freed since it was listed: polling an empty
            // or pending slot is harmless.
            let Some(slot) = self.slots.get_mut(index).and_then(Option::as_mut) else {
                continue;
            };
            let mut slot_cx = Context::from_waker(&slot.waker);
            if let Poll::Ready(result) = Pin::new(&mut slot.handle).poll(&mut slot_cx) {
                let id = slot.handle.id();
                self.remove(index);
                return Poll::Ready(Some(result.map(|output| (id, output))));
            }
        }
    }

    /// The result of a task that has already finished, without waiting: `None` when no
    /// task in the set has finished yet, or the set is empty (Python's
    /// `wait(fs, timeout=0)`). Works on handles from either executor, anywhere.
    ///
    /// ```
    /// use braid::exec::Pool;
    /// use braid::JoinSet;
    ///
    /// let pool = Pool::new(1);
    /// let mut set = JoinSet::new();
    /// set.push(pool.spawn(std::future::pending::<u32>()));
    /// assert!(set.try_join_next().is_none()); // still running
    /// set.push(pool.spawn(async { 7 }));
    /// let seven = loop {
    ///     if let Some(done) = set.try_join_next() {
    ///         break done.unwrap();
    ///     }
    ///     std::thread::yield_now();
    /// };
    /// assert_eq!(seven, 7);
    /// ```
    pub fn try_join_next(&mut self) -> Option<Result<T, JoinError>> {
        match self.poll_join_next(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(result) => result,
            Poll::Pending => None,
        }
    }

    /// [`try_join_next`](Self::try_join_next), with the id of the task that finished (see
    /// [`join_next_with_id`](Self::join_next_with_id)).
    ///
    /// ```
    /// use braid::coro::Scheduler;
    /// use braid::JoinSet;
    ///
    /// let mut scheduler = Scheduler::new();
    /// let mut set = JoinSet::new();
    /// let handle = scheduler.spawn(async { "done" });
    /// let id = handle.id();
    /// set.push(handle);
    /// assert!(set.try_join_next_with_id().is_none()); // not run yet
    /// scheduler.run().unwrap();
    /// assert_eq!(set.try_join_next_with_id().unwrap().unwrap(), (id, "done"));
    /// ```
    pub fn try_join_next_with_id(&mut self) -> Option<Result<(TaskId, T), JoinError>> {
        match self.poll_join_next_with_id(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(result) => result,
            Poll::Pending => None,
        }
    }

    /// Waits for every task in the set and returns their outputs, in the order they
    /// finished (tokio's `join_all`; Python's `asyncio.gather`).
    ///
    /// # Panics
    /// If a task failed: the other tasks still in the set are aborted first, then a
    /// panicked task's panic is resumed here (its payload, as if it had happened in this
    /// code), and a cancelled task panics with its `JoinError`'s message. To keep every
    /// result, failures included, loop over [`join_next`](Self::join_next) instead.
    ///
    /// ```
    /// use braid::exec::Pool;
    /// use braid::JoinSet;
    ///
    /// let pool = Pool::new(2);
    /// let set: JoinSet<u32> = (1..=4).map(|n| pool.spawn(async move { n * n })).collect();
    /// let mut squares = pool.block_on(set.join_all());
    /// squares.sort();
    /// assert_eq!(squares, [1, 4, 9, 16]);
    /// ```
    pub async fn join_all(mut self) -> Vec<T> {
        let mut outputs = Vec::with_capacity(self.len);
        while let Some(result) = self.join_next().await {
            match result {
                Ok(output) => outputs.push(output),
                Err(error) => {
                    self.abort_all();
                    if error.is_panic() {
                        std::panic::resume_unwind(error.into_panic());
                    }
                    panic!("JoinSet::join_all: {error}");
                }
            }
        }
        outputs
    }

    /// Removes every handle from the set without aborting its task: the tasks run on,
    /// detached, as if each handle had been dropped (tokio's `detach_all`). The set is
    /// empty afterwards and may be reused.
    ///
    /// ```
    /// use braid::exec::Pool;
    /// use braid::JoinSet;
    /// use std::sync::mpsc;
    ///
    /// let pool = Pool::new(1);
    /// let (tx, rx) = mpsc::channel();
    /// let mut set = JoinSet::new();
    /// set.push(pool.spawn(async move { tx.send("ran anyway").unwrap() }));
    /// set.detach_all();
    /// drop(set); // would have aborted the task, had it still been in the set
    /// assert_eq!(rx.recv().unwrap(), "ran anyway");
    /// ```
    pub fn detach_all(&mut self) {
        self.slots.clear();
        self.free.clear();
        self.len = 0;
        self.scheduler_handles = 0;
        // The dropped handles' wakers still point at the old list; a fresh one starts
        // empty, and what they push there is never read.
        self.ready = Arc::new(ReadyList {
            inner: Mutex::new(Ready::default()),
        });
    }

    /// [`join_next`](Self::join_next) for a thread: blocks until a task finishes. On a
    /// Pool worker it runs other tasks meanwhile, as `JoinHandle::join` does.
    ///
    /// # Panics
    /// If the set holds a handle from the single-threaded `Scheduler` (blocking would
    /// hang it); use `join_next` inside a task there.
    #[track_caller]
    pub fn join_next_blocking(&mut self) -> Option<Result<T, JoinError>> {
        self.assert_blocking("join_next_blocking");
        crate::sync::block_on::block_on(self.join_next())
    }

    /// [`join_next_blocking`](Self::join_next_blocking), waiting at most `timeout`
    /// (PEP 3148's `as_completed(fs, timeout)`).
    ///
    /// # Errors
    /// [`Elapsed`] if no task finished in time; the set is unchanged.
    ///
    /// # Panics
    /// As `join_next_blocking`.
    ///
    /// ```
    /// use braid::exec::Pool;
    /// use braid::JoinSet;
    /// use std::time::Duration;
    ///
    /// let pool = Pool::new(1);
    /// let mut set = JoinSet::new();
    /// set.push(pool.spawn(std::future::pending::<()>()));
    /// assert!(set.join_next_blocking_timeout(Duration::from_millis(5)).is_err());
    /// assert_eq!(set.len(), 1);
    /// set.abort_all();
    /// let cancelled = set.join_next_blocking_timeout(Duration::from_secs(5)).unwrap();
    /// assert!(cancelled.unwrap().unwrap_err().is_cancelled());
    /// assert!(set.join_next_blocking_timeout(Duration::ZERO).unwrap().is_none()); // empty
    /// ```
    #[track_caller]
    pub fn join_next_blocking_timeout(
        &mut self,
        timeout: Duration,
    ) -> Result<Option<Result<T, JoinError>>, Elapsed> {
        self.assert_blocking("join_next_blocking_timeout");
        crate::sync::block_on::block_on(crate::time::timeout_blocking(timeout, self.join_next()))
    }

    /// Aborts every task in the set (see [`JoinHandle::abort`]). Their handles stay: each
    /// comes out of `join_next` as a cancelled `JoinError`, or with its result if the task
    /// finished first.
    pub fn abort_all(&self) {
        for slot in self.slots.iter().flatten() {
            slot.handle.abort();
        }
    }

    fn remove(&mut self, index: usize) {
        let slot = self.slots[index]
            .take()
            .expect("a listed slot holds a handle");
        if !slot.handle.blocking_join_allowed() {
            self.scheduler_handles -= 1;
        }
        self.free.push(index);
        self.len -= 1;
    }

    #[track_caller]
    fn assert_blocking(&self, what: &str) {
        assert!(
            self.scheduler_handles == 0,
            "JoinSet::{what} would block the single-threaded Scheduler forever (the set \
             holds {} of its handles); `.await` join_next inside a task instead",
            self.scheduler_handles
        );
    }
}

impl<T> Default for JoinSet<T> {
    fn default() -> Self {
        JoinSet::new()
    }
}

impl<T> Drop for JoinSet<T> {
    fn drop(&mut self) {
        self.abort_all();
    }
}

impl<T> FromIterator<JoinHandle<T>> for JoinSet<T> {
    fn from_iter<I: IntoIterator<Item = JoinHandle<T>>>(handles: I) -> Self {
        let mut set = JoinSet::new();
        set.extend(handles);
        set
    }
}

impl<T> Extend<JoinHandle<T>> for JoinSet<T> {
    fn extend<I: IntoIterator<Item = JoinHandle<T>>>(&mut self, handles: I) {
        for handle in handles {
            self.push(handle);
        }
    }
}

impl<T> fmt::Debug for JoinSet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinSet").field("len", &self.len).finish()
    }
}
