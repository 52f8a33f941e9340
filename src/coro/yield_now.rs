//! Giving other tasks a turn.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Lets the executor run other tasks before this one continues: the task goes to the
/// back of the run queue (on the `Pool`, the back of its worker's queue, not the LIFO
/// slot). Works on any executor that re-polls a task that woke itself.
///
/// ```
/// use braid::coro::yield_now;
/// use braid::exec::Pool;
///
/// let pool = Pool::new(1);
/// let polite = pool.spawn(async {
///     for _ in 0..3 {
///         yield_now().await;
///     }
///     "done"
/// });
/// assert_eq!(polite.join().unwrap(), "done");
/// ```
pub async fn yield_now() {
    YieldNow { yielded: false }.await
}

struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        // A braid task polled right here is queued again by its poller, without the cost
        // of a wake-up; any other waker is woken.
        if !crate::task::request_yield(cx) {
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }
}
