//! The handle a spawner gets back: a future of the task's output, a blocking `join`
//! (Python's `AsyncResult.get()`), `abort`, `is_finished`. Dropping it detaches the task.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use super::abort_on_drop::AbortOnDrop;
use super::error::JoinError;
use super::id::TaskId;
use super::raw::TaskRef;

/// A handle to a spawned task: await it (or [`join`](Self::join) it) for the task's
/// output, or [`abort`](Self::abort) it. Dropping the handle detaches the task, which
/// keeps running.
///
/// A panic inside the task arrives here as a [`JoinError`] instead of unwinding through
/// the executor.
///
/// ```
/// use braid::exec::Pool;
///
/// let pool = Pool::new(2);
/// let answer = pool.spawn(async { 6 * 7 });
/// assert_eq!(answer.join().unwrap(), 42);
/// ```
pub struct JoinHandle<T> {
    task: Option<TaskRef>,
    _output: PhantomData<fn() -> T>,
}

// SAFETY: the handle reads the output (a `T`) on whatever thread holds it, so it may move
// between threads when `T` may; everything else it touches is the task's atomic header.
unsafe impl<T: Send> Send for JoinHandle<T> {}
// SAFETY: through `&JoinHandle` only `abort` and `is_finished` run, which touch atomics.
unsafe impl<T> Sync for JoinHandle<T> {}

impl<T> Unpin for JoinHandle<T> {}

impl<T> JoinHandle<T> {
    pub(crate) fn new(task: TaskRef) -> JoinHandle<T> {
        JoinHandle {
            task: Some(task),
            _output: PhantomData,
        }
    }

    fn task(&self) -> &TaskRef {
        self.task
            .as_ref()
            .expect("JoinHandle used after it was dropped")
    }

    /// Blocks the calling thread until the task finishes and returns its output (Python's
    /// `AsyncResult.get()`). On a Pool worker it runs other tasks while it waits instead
    /// of idling.
    ///
    /// # Panics
    /// On a handle from the single-threaded `Scheduler`: blocking its only thread would
    /// hang it. Await the handle inside a task instead. And inside the task itself, on
    /// either executor: a task cannot wait for itself. Both panics name your line.
    ///
    /// ```
    /// use braid::exec::Pool;
    ///
    /// let pool = Pool::new(2);
    /// let sum = pool.spawn_fn(|| (1..=100u32).sum::<u32>());
    /// assert_eq!(sum.join().unwrap(), 5050);
    /// ```
    #[track_caller]
    pub fn join(self) -> Result<T, JoinError> {
        self.assert_blocking_join("join");
        crate::sync::block_on::block_on(self)
    }

    /// Waits at most `timeout` for the task (Python's `AsyncResult.get(timeout)` and
    /// `future.result(timeout)`): `None` if it has not finished by then. The handle stays
    /// usable after `None`: wait again, `.await` it, or [`abort`](Self::abort) it. After
    /// `Some` the output has been taken, and the handle must not be waited on again.
    ///
    /// Like [`join`](Self::join), on a Pool worker it runs other tasks while it waits. A
    /// zero `timeout` looks once; a `Duration::MAX` waits as long as `join`.
    ///
    /// # Panics
    /// On a handle from the single-threaded `Scheduler` and inside the task itself, as
    /// `join` does; and if called again after it returned `Some`.
    ///
    /// ```
    /// use braid::exec::Pool;
    /// use std::time::Duration;
    ///
    /// let pool = Pool::new(2);
    /// let mut slow = pool.spawn(braid::time::sleep(Duration::from_secs(60)));
    /// assert!(slow.join_timeout(Duration::from_millis(10)).is_none()); // not yet
    /// slow.abort(); // give up on it
    /// assert!(slow.join_timeout(Duration::from_secs(5)).unwrap().unwrap_err().is_cancelled());
    /// ```
    #[track_caller]
    pub fn join_timeout(&mut self, timeout: Duration) -> Option<Result<T, JoinError>> {
        self.assert_blocking_join("join_timeout");
        crate::sync::block_on::block_on(crate::time::timeout_blocking(timeout, self)).ok()
    }

    #[track_caller]
    fn assert_blocking_join(&self, what: &str) {
        self.assert_not_self_wait(what);
        assert!(
            self.task().blocking_join_allowed(),
            "JoinHandle::{what} would block the single-threaded Scheduler forever; \
             `.await` the handle inside a task, or use Scheduler::block_on"
        );
    }

    /// Panics if the task calling this is the one this handle waits for: it could never
    /// finish, so the wait would never end.
    #[track_caller]
    fn assert_not_self_wait(&self, what: &str) {
        if TaskId::current() == Some(self.id()) {
            panic!(
                "JoinHandle::{what}: task {} waits for its own handle, and a task cannot \
                 wait for itself (it would never finish)",
                self.id()
            );
        }
    }

    /// Whether `join` may block on this handle (not a Scheduler's).
    pub(crate) fn blocking_join_allowed(&self) -> bool {
        self.task().blocking_join_allowed()
    }

    /// Cancels the task: it will not be polled again, and its future (with everything it
    /// holds) is dropped on the executor. Awaiting the handle then gives a cancelled
    /// [`JoinError`], unless the task finished first. Aborting a finished task does nothing.
    ///
    /// What it does depends on where the task is:
    /// - a future waiting between polls (at an `.await`) is dropped at once, on the thread
    ///   that aborts, or, if a worker is polling it right now, when that poll returns;
    /// - a task not started yet never starts;
    /// - a closure already running (`spawn_fn`, `spawn_blocking`, or a long stretch of a
    ///   future's poll with no `.await`) cannot be stopped from outside: Rust has no safe
    ///   way to interrupt a thread. It runs on, and its result is delivered as `Ok`, since
    ///   it ran to completion before the abort could take effect. Such code can ask
    ///   [`braid::exec::is_cancelled`](crate::exec::is_cancelled) and return early.
    ///
    /// If dropping the aborted future panics, that panic is the task's: the handle reports
    /// it as a panic, not as a cancellation.
    ///
    /// ```
    /// use braid::exec::Pool;
    ///
    /// let pool = Pool::new(1);
    /// let forever = pool.spawn(std::future::pending::<()>());
    /// forever.abort();
    /// assert!(forever.join().unwrap_err().is_cancelled());
    /// ```
    pub fn abort(&self) {
        let task = self.task();
        if task.header().state.abort() == super::state::Wake::Schedule {
            // SAFETY: `abort` took a new reference for the queue entry.
            unsafe { TaskRef::from_counted(task.ptr()) }.schedule();
        }
    }

    /// The task's id, unique in the process: the same one [`TaskId::current`] gives inside
    /// the task and [`JoinError::id`] gives if it fails.
    ///
    /// ```
    /// use braid::exec::Pool;
    ///
    /// let pool = Pool::new(1);
    /// let a = pool.spawn(async {});
    /// let b = pool.spawn(async {});
    /// assert_ne!(a.id(), b.id());
    /// ```
    pub fn id(&self) -> TaskId {
        self.task().header().id
    }

    /// This handle, made to abort the task when dropped: awaiting it gives the same
    /// result, and giving up on it (dropping it, or a [`timeout`](crate::time::timeout)
    /// that fires around it) cancels the task too, as Python's `asyncio.wait_for` does.
    ///
    /// ```
    /// use braid::coro::Scheduler;
    /// use braid::time::{sleep, timeout};
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    /// use std::time::Duration;
    ///
    /// let mut scheduler = Scheduler::new();
    /// let woke = Rc::new(Cell::new(false));
    /// let slow = scheduler.spawn({
    ///     let woke = woke.clone();
    ///     async move {
    ///         sleep(Duration::from_secs(60)).await;
    ///         woke.set(true);
    ///     }
    /// });
    /// let outcome = scheduler
    ///     .block_on(timeout(Duration::from_millis(5), slow.abort_on_drop()))
    ///     .unwrap();
    /// assert!(outcome.is_err()); // timed out, and the task was aborted with its handle:
    /// scheduler.run().unwrap(); // nothing left to wait for
    /// assert!(!woke.get());
    /// ```
    pub fn abort_on_drop(self) -> AbortOnDrop<T> {
        AbortOnDrop::new(self)
    }

    /// Whether the task has finished: returned, panicked or been cancelled.
    ///
    /// ```
    /// use braid::exec::Pool;
    ///
    /// let pool = Pool::new(1);
    /// let task = pool.spawn_fn(|| 1);
    /// while !task.is_finished() {
    ///     std::thread::yield_now();
    /// }
    /// assert_eq!(task.join().unwrap(), 1);
    /// ```
    pub fn is_finished(&self) -> bool {
        self.task().header().state.load().is_complete()
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    /// # Panics
    /// When the task awaits its own handle (a task cannot wait for itself), and when
    /// polled again after it returned its output.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.assert_not_self_wait("poll");
        let mut out: Poll<Result<T, JoinError>> = Poll::Pending;
        // SAFETY: this is the task's handle, `T` is its output type, `out` is valid.
        unsafe {
            self.task().read_output(
                (&mut out as *mut Poll<Result<T, JoinError>>).cast(),
                cx.waker(),
            )
        };
        out
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            // SAFETY: this is the handle's reference.
            unsafe { task.drop_join_handle() }
        }
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("id", &self.id())
            .field("finished", &self.is_finished())
            .finish()
    }
}
