//! `AsyncCo`, an async generator's body's side: `yield_` a value to the consumer.
//!
//! It carries no pointer, only its generator's id; its `yield_` finds where to leave the
//! value through the poll's `Context` (see `async_slot`), so using it anywhere else
//! panics before it touches anything.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::async_slot;
use super::co::two_yields_at_once;
use super::slot::Invariant;

/// The body's handle on its [`AsyncGenerator`](super::AsyncGenerator): it yields values
/// (`Y`) to the consumer. An async generator hands its body one `AsyncCo`; it works only
/// inside that body, while the generator polls it.
///
/// Unlike a plain generator's [`Co`](super::Co), it receives nothing back: PEP 525's
/// `asend` and `athrow` have no counterpart, and neither has `yield from`, which Python
/// does not allow in an async generator either. Await another stream's items and yield
/// them one by one instead.
pub struct AsyncCo<Y> {
    id: u64,
    /// Holding no `Y`, it is `Send` and `Sync` whatever `Y` is.
    _yields: Invariant<Y>,
}

impl<Y> AsyncCo<Y> {
    pub(super) fn new(id: u64) -> Self {
        AsyncCo {
            id,
            _yields: PhantomData,
        }
    }

    /// Hands `value` to the consumer (the `next().await` or `poll_next` waiting for it),
    /// and completes when the consumer asks for the next one.
    ///
    /// # Panics
    /// On its first poll (the one that hands the value over; a later poll only completes
    /// and checks nothing), when that is anywhere but in this `AsyncCo`'s own
    /// generator's poll, on the thread
    /// that polls it: after the generator ended, in another generator, on another thread
    /// or task, or under a combinator that polls with a waker of its own
    /// (`FuturesUnordered`, `Shared`). Await it in the body itself, or through
    /// combinators that pass the poll's context on (`join!`, `select!`, a timeout). Also
    /// when polled while another `yield_`'s value is still waiting for the consumer (two
    /// `yield_` futures polled together by a `join`): one value would be lost.
    ///
    /// ```
    /// use braid::coro::AsyncGenerator;
    /// use braid::exec::Pool;
    ///
    /// let mut countdown = AsyncGenerator::new(|co| async move {
    ///     for n in (1..=3).rev() {
    ///         co.yield_(n).await;
    ///     }
    /// });
    /// let pool = Pool::new(1);
    /// let first = pool.block_on(async move { countdown.next().await });
    /// assert_eq!(first, Some(3));
    /// ```
    #[inline]
    pub fn yield_(&self, value: Y) -> impl Future<Output = ()> + '_ {
        Yield {
            id: self.id,
            value: Some(value),
            _types: PhantomData,
        }
    }
}

impl<Y> fmt::Debug for AsyncCo<Y> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncCo")
            .field("generator", &self.id)
            .finish()
    }
}

/// The future of [`AsyncCo::yield_`]: its first poll leaves the value for the consumer
/// and waits; its next poll completes.
struct Yield<Y> {
    id: u64,
    /// The value, until the first poll hands it over.
    value: Option<Y>,
    _types: Invariant<Y>,
}

// Nothing in it is pinned structurally: the value is moved out, never pinned.
impl<Y> Unpin for Yield<Y> {}

impl<Y> Future for Yield<Y> {
    type Output = ();

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // Handed over in an earlier poll: the consumer has asked for the next item (or a
        // combinator polls again within one step, which `AsyncGenerator` documents).
        let Some(value) = self.value.take() else {
            return Poll::Ready(());
        };
        let Some(place) = async_slot::place_for::<Y>(cx, self.id) else {
            used_outside_its_generator()
        };
        // SAFETY: `place_for` found this generator's poll, running on this thread: the
        // place is live until that poll returns and only this thread touches it, and the
        // id it checked is the one only this `AsyncCo`'s generator has, whose places
        // hold a `Y`.
        let place = unsafe { &mut *place };
        if place.is_some() {
            two_yields_at_once("AsyncCo", value);
        }
        *place = Some(value);
        Poll::Pending
    }
}

#[cold]
#[track_caller]
fn used_outside_its_generator() -> ! {
    panic!(
        "braid::coro::AsyncCo::yield_: not polled by this AsyncCo's own async generator: an \
         AsyncCo yields only in the body of the AsyncGenerator that made it, while that \
         generator polls it on this thread (not after it ended, not in another generator, \
         task or thread, and not under a combinator that polls with a waker of its own, \
         such as FuturesUnordered or Shared; join! and select! pass the poll on), so a \
         value yielded now would be lost. Await yield_ in the body itself"
    )
}
