//! `timeout`: a future with a deadline, and `Elapsed`, the error it ends with.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::sleep::{sleep, sleep_until, Sleep};

/// Runs `future` until it completes or `duration` has passed, whichever comes first
/// (Python's `wait_for(aw, timeout)`). On time out the future is dropped, with
/// everything it holds, when the `Timeout` is.
///
/// The future is polled before the clock is looked at, so a future that is ready
/// completes even with a zero `duration`. A panic inside the future passes through to
/// whoever polls the `Timeout` (in a task: the task's [`JoinError`](crate::JoinError)),
/// and the timer entry is removed as the `Timeout` unwinds.
///
/// # Errors
/// [`Elapsed`] if the deadline passed first.
///
/// ```
/// use braid::exec::Pool;
/// use braid::time::{sleep, timeout};
/// use std::time::Duration;
///
/// let pool = Pool::new(2);
/// let fast = pool.block_on(timeout(Duration::from_secs(5), async { 42 }));
/// assert_eq!(fast, Ok(42));
/// let slow = pool.block_on(timeout(Duration::from_millis(10), sleep(Duration::from_secs(60))));
/// assert!(slow.is_err());
/// assert_eq!(slow.unwrap_err().to_string(), "deadline has elapsed");
/// ```
pub fn timeout<F: Future>(duration: Duration, future: F) -> Timeout<F> {
    Timeout {
        future,
        sleep: sleep(duration),
    }
}

/// [`timeout`] with an `Instant` for its deadline.
///
/// ```
/// use braid::time::timeout_at;
/// use std::time::{Duration, Instant};
///
/// let mut scheduler = braid::coro::Scheduler::new();
/// let deadline = Instant::now() + Duration::from_millis(5);
/// let late = scheduler.block_on(timeout_at(deadline, std::future::pending::<()>()));
/// assert!(late.unwrap().is_err());
/// ```
pub fn timeout_at<F: Future>(deadline: Instant, future: F) -> Timeout<F> {
    Timeout {
        future,
        sleep: sleep_until(deadline),
    }
}

/// A timeout for a thread that blocks while it waits (see `Sleep::for_blocking_wait`).
pub(crate) fn timeout_blocking<F: Future>(timeout: Duration, future: F) -> Timeout<F> {
    let deadline = super::deadline::add(Instant::now(), timeout);
    Timeout {
        future,
        sleep: Sleep::for_blocking_wait(deadline),
    }
}

/// The future of [`timeout`].
#[must_use = "a Timeout does nothing unless awaited"]
#[derive(Debug)]
pub struct Timeout<F> {
    future: F,
    sleep: Sleep,
}

impl<F> Timeout<F> {
    /// The wrapped future, given back (with its deadline dropped).
    pub fn into_inner(self) -> F {
        self.future
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: `future` is pinned along with `self` and never moved out while pinned
        // (`into_inner` takes `self` by value, so only an unpinned `Timeout`); `sleep`
        // is `Unpin`, so handing out `&mut` to it moves nothing pinned.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: see above: `future` stays where it is until the `Timeout` drops.
        let future = unsafe { Pin::new_unchecked(&mut this.future) };
        if let Poll::Ready(output) = future.poll(cx) {
            return Poll::Ready(Ok(output));
        }
        Pin::new(&mut this.sleep)
            .poll(cx)
            .map(|()| Err(Elapsed(())))
    }
}

/// A [`timeout`] whose deadline passed before its future completed.
///
/// ```
/// use braid::time::Elapsed;
///
/// fn takes_errors(_: Box<dyn std::error::Error + Send + Sync>) {}
/// # let mut scheduler = braid::coro::Scheduler::new();
/// # let elapsed: Elapsed = scheduler.block_on(braid::time::timeout(
/// #     std::time::Duration::ZERO, std::future::pending::<()>())).unwrap().unwrap_err();
/// takes_errors(Box::new(elapsed)); // works with `?` like any error
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed(());

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl std::error::Error for Elapsed {}
