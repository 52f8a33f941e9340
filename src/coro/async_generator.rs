//! Async generators (PEP 525): a body that awaits any future (a timer, a transaction, a
//! join handle, another runtime's I/O) and yields values, consumed as a [`Stream`].
//!
//! Each poll makes a place for one value on its own stack and polls the body with a
//! `Context` whose waker carries that place (see `async_slot`); the body's
//! `AsyncCo::yield_` leaves its value there. That waker stands in for the consumer's: a
//! future the body awaits keeps a clone of the consumer's own waker and wakes the
//! consumer when it is ready. A poll of the stream polls the body once: it yields
//! (`Ready(Some)`), returns (`Ready(None)`), or waits on something else (`Pending`).

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::stream::{FusedStream, Stream};

use super::async_co::AsyncCo;
use super::{async_slot, slot};

/// An async generator: a body that yields values of type `Y` and may await any future
/// meanwhile (Python's `async def` with `yield`). It is a
/// [`Stream`](futures_core::Stream), and `next().await` takes one value.
///
/// ```
/// use braid::coro::AsyncGenerator;
/// use braid::exec::Pool;
/// use braid::time::sleep;
/// use std::time::Duration;
///
/// let ticks = AsyncGenerator::new(|co| async move {
///     for n in 0..3 {
///         sleep(Duration::from_millis(1)).await; // any future: a timer here
///         co.yield_(n).await;
///     }
/// });
/// let pool = Pool::new(1);
/// let seen = pool.block_on(async move {
///     let mut ticks = ticks;
///     let mut seen = Vec::new();
///     while let Some(n) = ticks.next().await {
///         seen.push(n);
///     }
///     seen
/// });
/// assert_eq!(seen, [0, 1, 2]);
/// ```
///
/// The body yields through its [`AsyncCo`], which only yields: Python's `asend`,
/// `athrow` and `yield from` (which Python forbids in async generators too) have no
/// counterpart. A `yield_` is awaited in the body itself or through combinators that
/// pass the poll's `Context` on (`join!`, `select!`, a timeout): the body is polled
/// with a waker that stands in for the consumer's and tells the `yield_` where its
/// value goes (a future that keeps the waker keeps a clone of the consumer's own). Under
/// a combinator that polls with a waker of its own (`FuturesUnordered`, `Shared`), a
/// `yield_` panics, naming this. A `yield_` that a combinator polls twice in one step
/// completes before the consumer has taken its value; the value still goes out when
/// that poll returns.
///
/// It works under any executor: the Pool, the [`Scheduler`](super::Scheduler), tokio,
/// or a hand-written `block_on`. It is `Send` when its body is. Dropping it
/// midway drops the body, so the destructors of its live locals run. Like a plain
/// [`Generator`](super::Generator), its type is `AsyncGenerator<Y, Fut>` with the body's
/// type left to the compiler (`_`, or `impl Future<Output = ()>`), or boxed with
/// [`boxed`](Self::boxed) into a [`BoxAsyncGenerator`].
pub struct AsyncGenerator<Y, Fut: ?Sized = dyn Future<Output = ()>> {
    /// The id its `AsyncCo` carries (see `async_slot`).
    id: u64,
    /// The body; `None` once it has returned, panicked or been closed.
    body: Option<Pin<Box<Fut>>>,
    /// What it yields: values pass through, none is kept.
    _yields: PhantomData<fn() -> Y>,
}

/// An async generator whose body is boxed and `Send`: a type that can be written out.
/// Made by [`AsyncGenerator::boxed`].
pub type BoxAsyncGenerator<'a, Y> = AsyncGenerator<Y, dyn Future<Output = ()> + Send + 'a>;

// The body is boxed and never pinned through the generator; values in flight live in a
// place on the poller's stack, moved in and out, never pinned.
impl<Y, Fut: ?Sized> Unpin for AsyncGenerator<Y, Fut> {}

impl<Y, Fut: Future<Output = ()>> AsyncGenerator<Y, Fut> {
    /// An async generator running `body`, which receives the [`AsyncCo`] it yields through.
    /// Nothing in the body runs until the first poll.
    pub fn new<F>(body: F) -> Self
    where
        F: FnOnce(AsyncCo<Y>) -> Fut,
    {
        let id = slot::next_id();
        let body = body(AsyncCo::new(id));
        AsyncGenerator {
            id,
            body: Some(Box::pin(body)),
            _yields: PhantomData,
        }
    }

    /// This generator with its body boxed as a `dyn Future + Send`: [`BoxAsyncGenerator`].
    pub fn boxed<'a>(self) -> BoxAsyncGenerator<'a, Y>
    where
        Fut: Send + 'a,
    {
        AsyncGenerator {
            id: self.id,
            body: self
                .body
                .map(|body| body as Pin<Box<dyn Future<Output = ()> + Send>>),
            _yields: PhantomData,
        }
    }
}

impl<Y, Fut: ?Sized + Future<Output = ()>> AsyncGenerator<Y, Fut> {
    /// The next value the body yields, or `None` once the body has returned (Python's
    /// `await agen.__anext__()`, without the exception at the end).
    ///
    /// ```
    /// use braid::coro::{AsyncGenerator, Scheduler};
    ///
    /// let mut scheduler = Scheduler::new();
    /// let total = scheduler
    ///     .block_on(async {
    ///         let mut squares = AsyncGenerator::new(|co| async move {
    ///             for n in 1..=3u32 {
    ///                 co.yield_(n * n).await;
    ///             }
    ///         });
    ///         let mut total = 0;
    ///         while let Some(square) = squares.next().await {
    ///             total += square;
    ///         }
    ///         total
    ///     })
    ///     .unwrap();
    /// assert_eq!(total, 14);
    /// ```
    #[allow(clippy::should_implement_trait)] // the async `next`, as `StreamExt::next`
    #[inline]
    pub fn next(&mut self) -> impl Future<Output = Option<Y>> + '_ {
        Next { generator: self }
    }

    /// Whether the body has returned, panicked or been closed.
    pub fn is_complete(&self) -> bool {
        self.body.is_none()
    }

    /// Drops the body now, so the destructors of its live locals run (Python's
    /// `aclose()`, without awaiting: a destructor cannot await). Afterwards the stream
    /// ends. Idempotent.
    pub fn close(&mut self) {
        self.body = None;
    }

    /// One poll of the stream: the body's poll, with a place for the value it yields
    /// (see `async_slot`).
    #[inline(always)]
    fn poll_item(&mut self, cx: &mut Context<'_>) -> Poll<Option<Y>> {
        let mut yielded = None;
        match async_slot::poll_body(self.id, &mut yielded, cx, &mut self.body) {
            None => Poll::Ready(None),
            // A value left in this poll by a `yield_` that did not stay suspended (a
            // combinator completed it, or dropped it) is still delivered; the stream
            // ends at the next poll.
            Some(Poll::Ready(())) => {
                self.close();
                Poll::Ready(yielded)
            }
            Some(Poll::Pending) => match yielded {
                Some(value) => Poll::Ready(Some(value)),
                // Waiting on another future, which holds a clone of `cx`'s waker.
                None => Poll::Pending,
            },
        }
    }
}

/// The future of [`AsyncGenerator::next`]: one poll of the generator per poll.
struct Next<'a, Y, Fut: ?Sized> {
    generator: &'a mut AsyncGenerator<Y, Fut>,
}

impl<Y, Fut: ?Sized + Future<Output = ()>> Future for Next<'_, Y, Fut> {
    type Output = Option<Y>;

    // Always inlined, with `poll_item`: a consumer's loop then holds the body's poll
    // itself, and the compiler can keep the generator's state out of memory.
    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Y>> {
        self.get_mut().generator.poll_item(cx)
    }
}

impl<Y, Fut: ?Sized + Future<Output = ()>> Stream for AsyncGenerator<Y, Fut> {
    type Item = Y;

    #[inline]
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Y>> {
        self.get_mut().poll_item(cx)
    }
}

impl<Y, Fut: ?Sized + Future<Output = ()>> FusedStream for AsyncGenerator<Y, Fut> {
    fn is_terminated(&self) -> bool {
        self.body.is_none()
    }
}

impl<Y, Fut: ?Sized> fmt::Debug for AsyncGenerator<Y, Fut> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncGenerator")
            .field("id", &self.id)
            .field("complete", &self.body.is_none())
            .finish()
    }
}
