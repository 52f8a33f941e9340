//! `Co`, the body's side of a generator: `yield_` a value out and get the next resume's
//! input back, take the first resume's input, or delegate to another generator.
//!
//! A `Co` carries no pointer, only its generator's id; it reaches the slot through the
//! thread's record of the generator it is polling (see `slot`), so using it anywhere
//! else panics before it touches anything.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::generator::{Generator, GeneratorState};
use super::slot::{self, Invariant};

/// The body's handle on its generator: yields values (`Y`) and receives resume values
/// (`R`). A generator hands its body one `Co`; it works only inside that body, while the
/// generator runs it.
pub struct Co<Y, R = ()> {
    id: u64,
    /// Holding no `Y` or `R`, it is `Send` and `Sync` whatever they are.
    _types: (Invariant<Y>, Invariant<R>),
}

impl<Y, R> Co<Y, R> {
    pub(super) fn new(id: u64) -> Self {
        Co {
            id,
            _types: (PhantomData, PhantomData),
        }
    }

    /// Yields `value` to whoever resumed the generator, and completes with the input of
    /// the next `resume`.
    ///
    /// # Panics
    /// When polled while another `yield_`'s value is still waiting to be returned by
    /// `resume` (two `yield_` futures polled together, say by a `join`): one value would
    /// be lost. Await each `yield_` before the next. When polled anywhere but inside this
    /// `Co`'s own generator while it runs (the `Co` escaped its body: it is used after
    /// the generator completed or was dropped, in another generator, or in a task):
    /// nothing would ever take the value.
    ///
    /// ```
    /// use braid::coro::{Generator, GeneratorState};
    /// let mut g = Generator::new(|co| async move {
    ///     let reply: &str = co.yield_(1).await;
    ///     reply.len()
    /// });
    /// assert_eq!(g.start(), GeneratorState::Yielded(1));
    /// assert_eq!(g.resume("four"), GeneratorState::Complete(4));
    /// ```
    #[inline]
    pub fn yield_(&self, value: Y) -> impl Future<Output = R> + '_ {
        YieldNow {
            id: self.id,
            value: ManuallyDrop::new(value),
            yielded: false,
            _types: (PhantomData, PhantomData),
        }
    }

    /// The input of the first `resume`, if this generator was started with `resume` and
    /// the body has not taken it yet: call it before the first `yield_` (afterwards it is
    /// `None`).
    ///
    /// # Panics
    /// When called anywhere but in this `Co`'s own generator's body while the generator
    /// runs it (the `Co` escaped its body: its generator ended, or another one is
    /// running).
    ///
    /// ```
    /// use braid::coro::{Generator, GeneratorState};
    /// // It never yields, so the yield type is named: `()`.
    /// let mut greeter: Generator<(), String, String, _> = Generator::new(|co| async move {
    ///     let name = co.first_input().unwrap();
    ///     format!("hello, {name}")
    /// });
    /// assert_eq!(
    ///     greeter.resume("Ada".to_string()),
    ///     GeneratorState::Complete("hello, Ada".to_string())
    /// );
    /// ```
    #[track_caller]
    pub fn first_input(&self) -> Option<R> {
        match slot::slot_for::<Y, R>(self.id) {
            // SAFETY: `slot_for` gave the slot during the current poll, on this thread.
            Some(slot) => unsafe { slot::take_first_input(slot) },
            None => used_outside_its_generator("first_input"),
        }
    }

    /// Runs `inner` to completion inside this generator, passing its yields out and this
    /// generator's resume values in, and returns `inner`'s return value (PEP 380's
    /// `yield from`). `inner` is started with [`Generator::start`].
    ///
    /// # Panics
    /// If `inner` has already started, or this `Co` is used outside its generator (it
    /// escaped its body; `inner` is then dropped without running).
    ///
    /// ```
    /// use braid::coro::Generator;
    /// use std::future::Future;
    ///
    /// fn range(lo: u32, hi: u32) -> Generator<u32, (), u32, impl Future<Output = u32>> {
    ///     Generator::new(move |co| async move {
    ///         for i in lo..hi {
    ///             co.yield_(i).await;
    ///         }
    ///         hi - lo
    ///     })
    /// }
    /// let both = Generator::new(|co| async move {
    ///     let a = co.yield_from(range(0, 2)).await;
    ///     let b = co.yield_from(range(10, 12)).await;
    ///     co.yield_(a + b).await; // how many came before
    /// });
    /// assert_eq!(both.collect::<Vec<_>>(), [0, 1, 10, 11, 4]);
    /// ```
    pub async fn yield_from<Ret2, Fut2>(&self, mut inner: Generator<Y, R, Ret2, Fut2>) -> Ret2
    where
        Fut2: ?Sized + Future<Output = Ret2>,
    {
        if slot::slot_for::<Y, R>(self.id).is_none() {
            used_outside_its_generator("yield_from");
        }
        assert!(
            !inner.has_started(),
            "braid::coro::Co::yield_from: the inner generator has already started; \
             pass a fresh one (its pending yield could not be delivered)"
        );
        let mut state = inner.start();
        loop {
            match state {
                GeneratorState::Yielded(value) => {
                    let input = self.yield_(value).await;
                    state = inner.resume(input);
                }
                GeneratorState::Complete(value) => return value,
            }
        }
    }
}

impl<Y, R> fmt::Debug for Co<Y, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Co").field("generator", &self.id).finish()
    }
}

/// The future of one `yield_`: leaves the value on its first poll, takes the input on a
/// later one.
struct YieldNow<Y, R> {
    id: u64,
    /// Moved out (once) by the first poll; `yielded` says whether it has been.
    value: ManuallyDrop<Y>,
    yielded: bool,
    _types: (Invariant<Y>, Invariant<R>),
}

// Nothing in it is pinned structurally: the value is moved out, never pinned.
impl<Y, R> Unpin for YieldNow<Y, R> {}

impl<Y, R> Future for YieldNow<Y, R> {
    type Output = R;

    #[inline]
    fn poll(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<R> {
        let Some(slot) = slot::slot_for::<Y, R>(self.id) else {
            used_outside_its_generator("yield_")
        };
        if !self.yielded {
            self.yielded = true;
            // SAFETY: `yielded` was false, so the value is still here; it is marked
            // moved out just above and never read again.
            let value = unsafe { ManuallyDrop::take(&mut self.value) };
            // SAFETY: `slot` came from `slot_for` during this poll, on this thread.
            if let Err(value) = unsafe { slot::put_yielded(slot, value) } {
                two_yields_at_once("Co", value);
            }
            return Poll::Pending;
        }
        // SAFETY: `slot` came from `slot_for` during this poll, on this thread.
        match unsafe { slot::take_input(slot) } {
            Some(input) => Poll::Ready(input),
            // Polled again without a resume (by a combinator in the body, not by the
            // generator): keep waiting.
            None => Poll::Pending,
        }
    }
}

impl<Y, R> Drop for YieldNow<Y, R> {
    fn drop(&mut self) {
        if !self.yielded {
            // SAFETY: the value was never moved out; it is dropped once, here.
            unsafe { ManuallyDrop::drop(&mut self.value) };
        }
    }
}

#[cold]
#[track_caller]
fn used_outside_its_generator(what: &str) -> ! {
    panic!(
        "braid::coro::Co::{what}: the generator this Co belongs to has ended, or is not the \
         one running: a Co works only inside its own generator's body, while that generator \
         runs it (not after it completed or was dropped, not in another generator, a task \
         or a thread), so a value yielded now would be lost. Do not return a Co or keep it \
         elsewhere"
    )
}

/// The body had two `yield_`s pending in one step (say, joined with a combinator): one
/// value would be lost, so it is refused.
#[cold]
pub(super) fn two_yields_at_once<Y>(co: &str, value: Y) -> ! {
    drop(value);
    panic!(
        "braid::coro::{co}::yield_: the body yielded twice in one step (two yield_ futures \
         polled together, e.g. by join or select); await each yield_ before the next"
    )
}
