//! Which task this thread is polling, so that `yield_now` can ask for its task to be
//! queued again without a wake-up. A wake costs a read-modify-write of the task's state
//! word; the poller's own transition back to idle can set `NOTIFIED` in the same step.

use std::cell::Cell;
use std::ptr::{self, NonNull};
use std::task::Context;

use super::raw::{is_task_waker, Header};
use crate::sync::thread_local;

thread_local! {
    /// The task whose poll is innermost on this thread's stack, and whether it yielded.
    static POLLING: Cell<(*const Header, bool)> = const { Cell::new((ptr::null(), false)) };
}

/// Runs `poll`, the poll of `task`, and returns what it returned and whether the task
/// yielded during it. `poll` must not unwind (the task core runs the future under
/// `catch_unwind`), so the outer value is always put back.
pub(super) fn polling<R>(task: NonNull<Header>, poll: impl FnOnce() -> R) -> (R, bool) {
    let outer = POLLING.with(|current| current.replace((task.as_ptr(), false)));
    let result = poll();
    let (_, yielded) = POLLING.with(|current| current.replace(outer));
    (result, yielded)
}

/// For `yield_now`: when `cx` carries the waker of the braid task this thread is polling
/// (the usual case: the task awaits `yield_now` directly or through combinators that pass
/// the context on), records that the task yielded and returns `true`; the task core then
/// queues the task again when the poll returns `Pending`, as if it had woken itself.
/// Otherwise returns `false` and the caller must wake the waker.
pub(crate) fn request_yield(cx: &Context<'_>) -> bool {
    let waker = cx.waker();
    if !is_task_waker(waker) {
        return false;
    }
    POLLING.with(|current| {
        let (task, _) = current.get();
        let polled_here = ptr::eq(task, waker.data().cast::<Header>());
        if polled_here {
            current.set((task, true));
        }
        polled_here
    })
}

/// Whether the braid task this thread is polling has been aborted; `false` outside a
/// task. Read by `braid::exec::is_cancelled`.
pub(crate) fn current_task_cancelled() -> bool {
    let (task, _) = POLLING.with(|current| current.get());
    // SAFETY: `POLLING` holds the task whose poll is on this thread's stack (set and
    // reset around it by `polling`), and a task is alive while it is being polled.
    unsafe { task.as_ref() }.is_some_and(|task| task.state.load().is_cancelled())
}

/// The id of the braid task this thread is polling; `None` outside a task. Read by
/// `TaskId::current`.
pub(super) fn current_task_id() -> Option<super::id::TaskId> {
    let (task, _) = POLLING.with(|current| current.get());
    // SAFETY: as in `current_task_cancelled`.
    unsafe { task.as_ref() }.map(|task| task.id)
}
