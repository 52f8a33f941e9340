//! The task core shared by both executors: one allocation per task, a state machine in
//! one atomic word, and the [`JoinHandle`] / [`JoinError`] a spawner gets back.
//!
//! It knows nothing about queues or threads. An executor implements [`Schedule`] (where
//! a woken task goes, and how it leaves the executor's list of live tasks) and runs the
//! [`TaskRef`]s it is handed.

mod abort_on_drop;
mod error;
mod id;
mod join;
mod list;
mod polling;
mod raw;
mod set;
mod state;

use std::ptr::NonNull;

pub use abort_on_drop::AbortOnDrop;
pub(crate) use error::payload_message;
pub use error::JoinError;
pub use id::TaskId;
pub use join::JoinHandle;
pub(crate) use list::TaskList;
pub(crate) use polling::{current_task_cancelled, request_yield};
pub(crate) use raw::{Header, TaskRef};
pub use set::JoinSet;

/// What a task needs from the executor that runs it.
pub(crate) trait Schedule: Send + Sync + 'static {
    /// Whether `JoinHandle::join` may block the calling thread until the task finishes.
    /// A single-threaded executor says no: blocking its only thread would hang it.
    const BLOCKING_JOIN: bool = true;

    /// Whether a task that yields (`yield_now`) is queued still holding `RUNNING`, so that
    /// its next poll takes no transition on the state word. Only for an executor that
    /// queues such a task on the polling thread and runs it there: nothing else may take
    /// `RUNNING` meanwhile, and its shutdown must run the queued entries (which then see
    /// `CANCELLED` and complete the task).
    const KEEP_RUNNING_ON_YIELD: bool = false;

    /// Queues a task that was just woken (its `NOTIFIED` bit set by the caller). The
    /// `TaskRef` is the queue entry's reference.
    fn schedule(&self, task: TaskRef);

    /// The task finished or was cancelled: take it off the executor's list of live tasks,
    /// returning the list's reference if it was still there.
    fn release(&self, task: NonNull<Header>) -> Option<TaskRef>;

    /// The task panicked (its poll or its future's destructor unwound): `error` is what
    /// its `JoinHandle` will get. Called once, on the thread that caught the panic,
    /// before the handle is woken; it must not panic. By default nothing happens: the
    /// panic goes to the handle alone (see `exec::UnhandledPanic` for the other choice).
    fn task_panicked(&self, _error: &JoinError) {}
}

/// Allocates a task for `future` run by `scheduler`: returns the queue entry (to run or
/// to queue), the reference for the executor's live list, and the handle.
/// `spawned_at` is the user's call that spawned it, for its `JoinError`.
pub(crate) fn new_task<F, S>(
    future: F,
    scheduler: S,
    spawned_at: &'static std::panic::Location<'static>,
) -> (TaskRef, TaskRef, JoinHandle<F::Output>)
where
    F: std::future::Future,
    S: Schedule,
{
    let entry = TaskRef::new(future, scheduler, 3, spawned_at);
    // SAFETY: the task was created with three references, one for each of these.
    let (listed, handle) = unsafe {
        (
            TaskRef::from_counted(entry.ptr()),
            TaskRef::from_counted(entry.ptr()),
        )
    };
    (entry, listed, JoinHandle::new(handle))
}
