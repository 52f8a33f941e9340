//! The consumer side of `TQueue`, `TBQueue` and `TChanReceiver` as a
//! [`futures_core::Stream`]: each item is one `get_async`, and the stream ends when the
//! queue is closed and drained. So a queue plugs into anything that takes a stream
//! (`StreamExt` combinators, `tokio_stream`, an async generator's `for`), as an async
//! iterator over its values, the async twin of each structure's `iter`.
//!
//! # Waiting, and no lost wake-up
//! A stream first tries for a value with a transaction that does not wait (a value, or the
//! end, or "nothing yet"), which costs no allocation. Only when the queue is empty and
//! open does it start a `get_async` and keep that future, boxed, across polls until it
//! completes. That future is `atomically_async`: on each poll it runs the transaction
//! again and, if it still finds nothing, registers the current waker on every variable
//! the transaction read before returning `Pending` (see `stm/wait.rs` for why a commit
//! in between is never missed). The stream keeps the future, and with it the
//! registration, until it yields: dropping a registration would drop the wake-up.
//!
//! # Cancellation
//! Dropping a stream while it waits drops the future, which deregisters, and takes
//! nothing from the queue: a value leaves the queue only in the poll that commits its
//! pop and returns it.

use std::fmt;
use std::future::Future;
use std::mem;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;

use super::{TBQueue, TChanReceiver, TQueue};

/// A `get_async` in progress, holding the source it takes from and giving it back.
pub(super) type Waiting<S, T> = Pin<Box<dyn Future<Output = (S, Option<T>)> + Send>>;

/// What a stream takes its items from: a queue handle or a channel receiver.
pub(super) trait Source: Sized + Send + 'static {
    type Item;

    /// The next item if there is one now: `Some(Some(item))`; `Some(None)` once the
    /// source is closed and drained; `None` while it is empty and open. Never waits.
    fn try_next(&self) -> Option<Option<Self::Item>>;

    /// Waits for the next item, or the end, and hands the source back with it.
    fn next(self) -> Waiting<Self, Self::Item>;
}

/// The state machine shared by the three streams. (No trait bounds on the types, only
/// on the impls: bounds here make rustc's `Send` check of a task holding a stream of
/// borrowed items, such as `&'static str`, fail with "not general enough".)
struct Next<S, T> {
    state: State<S, T>,
}

enum State<S, T> {
    /// Between items: nothing started.
    Idle(S),
    /// The source was empty and open: a `get_async` waits, registered for wake-ups.
    Waiting(Waiting<S, T>),
    /// The source was closed and drained (or a poll panicked): only `None` from now on.
    Ended,
}

impl<S: Source<Item = T>, T> Next<S, T> {
    fn new(source: S) -> Next<S, T> {
        Next {
            state: State::Idle(source),
        }
    }

    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        loop {
            match mem::replace(&mut self.state, State::Ended) {
                State::Idle(source) => match source.try_next() {
                    Some(Some(item)) => {
                        self.state = State::Idle(source);
                        return Poll::Ready(Some(item));
                    }
                    Some(None) => return Poll::Ready(None),
                    None => self.state = State::Waiting(source.next()),
                },
                State::Waiting(mut waiting) => {
                    return match waiting.as_mut().poll(cx) {
                        Poll::Ready((source, Some(item))) => {
                            self.state = State::Idle(source);
                            Poll::Ready(Some(item))
                        }
                        Poll::Ready((_, None)) => Poll::Ready(None),
                        Poll::Pending => {
                            self.state = State::Waiting(waiting);
                            Poll::Pending
                        }
                    };
                }
                State::Ended => return Poll::Ready(None),
            }
        }
    }

    fn describe(&self) -> &'static str {
        match self.state {
            State::Idle(_) => "idle",
            State::Waiting(_) => "waiting",
            State::Ended => "ended",
        }
    }
}

macro_rules! queue_stream {
    ($(#[$doc:meta])* $name:ident, $source:ident, $($bound:tt)+) => {
        $(#[$doc])*
        #[must_use = "a stream does nothing unless polled"]
        pub struct $name<T: 'static> {
            next: Next<$source<T>, T>,
        }

        impl<T: $($bound)+> $name<T> {
            pub(super) fn new(source: $source<T>) -> Self {
                $name { next: Next::new(source) }
            }

            /// The next item, or `None` once the stream has ended: what
            /// `StreamExt::next` gives, without needing the `futures` crate.
            /// Cancel-safe: dropping the future before it completes loses nothing.
            pub async fn next(&mut self) -> Option<T> {
                std::future::poll_fn(|cx| self.next.poll_next(cx)).await
            }
        }

        impl<T: $($bound)+> Stream for $name<T> {
            type Item = T;

            fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
                self.get_mut().next.poll_next(cx)
            }
        }

        impl<T: $($bound)+> fmt::Debug for $name<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("state", &self.next.describe())
                    .finish()
            }
        }
    };
}

queue_stream! {
    /// A [`TQueue`]'s values as a [`Stream`], made by [`TQueue::stream`]: each item is
    /// popped (moved out, no `Clone` needed), and the stream ends once the queue is
    /// closed and empty. Other consumers of the same queue compete for the values, as
    /// with `get_async`.
    TQueueStream, TQueue, Send + 'static
}

queue_stream! {
    /// A [`TBQueue`]'s values as a [`Stream`], made by [`TBQueue::stream`]: each item is
    /// popped (making room for a producer), and the stream ends once the queue is closed
    /// and empty.
    TBQueueStream, TBQueue, Send + 'static
}

queue_stream! {
    /// A [`TChanReceiver`]'s messages as a [`Stream`], made by
    /// [`TChanReceiver::into_stream`]: every message sent after the receiver subscribed,
    /// in order, ending once the channel is closed and this receiver has them all.
    TChanStream, TChanReceiver, Clone + Send + Sync + 'static
}
