//! `AbortOnDrop`: a `JoinHandle` that cancels its task when dropped, so that giving up on
//! the result (a `timeout` that fires, a `select` branch that loses) gives up on the work
//! too: Python's `asyncio.wait_for`, tokio's `AbortOnDropHandle`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::error::JoinError;
use super::id::TaskId;
use super::join::JoinHandle;

/// A [`JoinHandle`] that aborts its task when dropped (see
/// [`JoinHandle::abort_on_drop`]). Await it for the task's result as you would the
/// handle.
///
/// With [`timeout`](crate::time::timeout) it is Python's `asyncio.wait_for`: when time
/// runs out the timeout drops the handle, and the task is cancelled with it.
///
/// ```
/// use braid::exec::Pool;
/// use braid::time::{sleep, timeout};
/// use std::time::Duration;
///
/// let pool = Pool::new(2);
/// let (alive, gone) = std::sync::mpsc::channel::<()>();
/// let slow = pool.spawn(async move {
///     let _alive = alive; // dropped with the task
///     sleep(Duration::from_secs(60)).await;
/// });
/// let outcome = pool.block_on(timeout(Duration::from_millis(10), slow.abort_on_drop()));
/// assert!(outcome.is_err()); // timed out...
/// assert!(gone.recv().is_err()); // ...and the task was aborted: its sender is gone
/// ```
#[must_use = "dropping an AbortOnDrop aborts its task at once"]
pub struct AbortOnDrop<T> {
    /// `None` only once `detach` took it.
    handle: Option<JoinHandle<T>>,
}

impl<T> AbortOnDrop<T> {
    pub(crate) fn new(handle: JoinHandle<T>) -> AbortOnDrop<T> {
        AbortOnDrop {
            handle: Some(handle),
        }
    }

    /// The task's id (see [`JoinHandle::id`]).
    pub fn id(&self) -> TaskId {
        self.handle().id()
    }

    /// Aborts the task now (see [`JoinHandle::abort`]).
    pub fn abort(&self) {
        self.handle().abort();
    }

    /// Whether the task has finished (see [`JoinHandle::is_finished`]).
    pub fn is_finished(&self) -> bool {
        self.handle().is_finished()
    }

    /// The plain handle back: dropping that one detaches the task instead of aborting it.
    ///
    /// ```
    /// use braid::exec::Pool;
    ///
    /// let pool = Pool::new(1);
    /// let guarded = pool.spawn(async { 5 }).abort_on_drop();
    /// let handle = guarded.detach();
    /// assert_eq!(handle.join().unwrap(), 5);
    /// ```
    pub fn detach(self) -> JoinHandle<T> {
        let mut this = self;
        this.handle
            .take()
            .expect("an AbortOnDrop holds its handle until detached")
    }

    fn handle(&self) -> &JoinHandle<T> {
        self.handle
            .as_ref()
            .expect("an AbortOnDrop holds its handle until detached")
    }
}

impl<T> Future for AbortOnDrop<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let handle = self
            .handle
            .as_mut()
            .expect("an AbortOnDrop holds its handle until detached");
        Pin::new(handle).poll(cx)
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        // Aborting does nothing to a task that has finished (its result, if not taken,
        // is dropped with the handle).
        if let Some(handle) = &self.handle {
            handle.abort();
        }
    }
}

impl<T> fmt::Debug for AbortOnDrop<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("AbortOnDrop").field(self.handle()).finish()
    }
}
