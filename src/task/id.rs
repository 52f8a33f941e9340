//! `TaskId`: a number naming one task, unique in the process, so results that arrive in
//! completion order (a `JoinSet`) or errors (a `JoinError`) can be traced to their task.
//!
//! # Orderings
//! Ids come from one process-wide counter, taken with a `Relaxed` `fetch_add`: a
//! read-modify-write never hands the same value out twice whatever its ordering, and the
//! id publishes nothing else (it travels inside the task's allocation, which the executor
//! publishes on its own terms).

use std::fmt;
use std::num::NonZeroU64;

use crate::sync::atomic::{AtomicU64, Ordering};
use crate::sync::sync_static;

sync_static! {
    /// The next id to hand out. 64 bits at one id per nanosecond last 584 years, so it
    /// never wraps in practice (were it to, the first id after the wrap would be 0, which
    /// `next` refuses with a panic).
    static NEXT: AtomicU64 = AtomicU64::new(1);
}

/// Names one task, of either executor, uniquely for the life of the process (tokio's
/// `task::Id`, Python's `id(future)` in `future_to_url[future]`).
///
/// Every [`JoinHandle`](crate::JoinHandle) knows its task's id
/// ([`id`](crate::JoinHandle::id)), so does every [`JoinError`](crate::JoinError)
/// ([`id`](crate::JoinError::id)), and a task can ask for its own with
/// [`TaskId::current`]. Ids are never reused, even after the task finishes.
///
/// ```
/// use braid::exec::Pool;
/// use braid::TaskId;
///
/// let pool = Pool::new(2);
/// let task = pool.spawn(async { TaskId::current() });
/// let id = task.id();
/// assert_eq!(task.join().unwrap(), Some(id)); // the task saw its own id
/// assert_eq!(TaskId::current(), None); // this thread is not a task
/// println!("task {id} done"); // Display: the number
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(NonZeroU64);

impl TaskId {
    /// A fresh id, never handed out before.
    pub(crate) fn next() -> TaskId {
        // Relaxed: uniqueness needs only the atomicity of the increment (module header).
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        TaskId(NonZeroU64::new(n).expect("braid ran out of task ids (2^64 spawned)"))
    }

    /// The id of the task whose code is running on this thread: `Some` inside a task of
    /// the Pool or the Scheduler (including `spawn_fn` and `spawn_blocking` closures),
    /// `None` anywhere else, such as a plain thread or the future given to `block_on`.
    ///
    /// ```
    /// use braid::coro::Scheduler;
    /// use braid::TaskId;
    ///
    /// let mut scheduler = Scheduler::new();
    /// let task = scheduler.spawn(async { TaskId::current().unwrap() });
    /// let id = task.id();
    /// assert_eq!(scheduler.block_on(task).unwrap().unwrap(), id);
    /// ```
    pub fn current() -> Option<TaskId> {
        super::polling::current_task_id()
    }

    /// The number behind the id (what `Display` prints).
    pub fn as_u64(self) -> u64 {
        self.0.get()
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TaskId({})", self.0)
    }
}
