//! Stackless generators on async/await: a body that `yield_`s values out and receives
//! resume values in, and finally returns a value (Python's generators, PEP 342 `send`
//! and PEP 380 `yield from`).
//!
//! # How it works
//! The body is an `async` block. `Co::yield_(v)` is a future that, on its first poll,
//! leaves `v` in the slot shared with the `Generator` and returns `Pending`; `resume`
//! polls the body, finds the yielded value in the slot, and returns it. The next `resume`
//! puts its input in the slot and polls again; the same `yield_` future, polled a second
//! time, takes the input and completes with it.
//!
//! The slot is an `Rc` of `Cell`s: no thread-locals, no locks, no atomics. Only code
//! running inside `resume` (which holds `&mut Generator`) touches it, because the body
//! runs only there.
//!
//! # Rules, each enforced with a panic that says what went wrong
//! - A finished generator cannot be resumed (`Iterator::next` just returns `None`).
//! - The body may await only its own `yield_`s: a generator has no executor, so a future
//!   that waits for I/O or a timer would never be woken. Use a task for that.
//! - The first `resume`'s input is delivered, never dropped: the body takes it with
//!   [`Co::first_input`] before its first yield (or its return), or the generator is
//!   started with [`Generator::start`] instead. (An input of a zero-sized type carries
//!   nothing, so `resume(())` may start a generator.)

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// What a generator did when resumed: yielded a value, or returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GeneratorState<Y, Ret> {
    /// The body yielded this value and is suspended until the next `resume`.
    Yielded(Y),
    /// The body returned this value; the generator is finished.
    Complete(Ret),
}

/// The slot a generator and its body share.
struct Slot<Y, R> {
    /// A value the body yielded, for `resume` to return.
    yielded: Cell<Option<Y>>,
    /// A resume value, for the `yield_` the body is suspended in.
    input: Cell<Option<R>>,
    /// The first `resume`'s input, until the body takes it.
    first_input: Cell<Option<R>>,
    /// The generator has completed or been dropped: a `Co` that escaped its body (returned
    /// or stored elsewhere) has nobody to yield to, and says so instead of losing values.
    ended: Cell<bool>,
}

impl<Y, R> Slot<Y, R> {
    /// Panics if the generator has ended; `what` names the call.
    #[inline]
    #[track_caller]
    fn check_live(&self, what: &str) {
        if self.ended.get() {
            used_after_the_generator_ended(what);
        }
    }
}

#[cold]
#[track_caller]
fn used_after_the_generator_ended(what: &str) -> ! {
    panic!(
        "braid::coro::Co::{what}: the generator this Co belongs to has ended (it completed \
         or was dropped), so nothing will ever resume it: a value yielded now would be lost. \
         A Co is for its own generator's body; do not return it or keep it elsewhere"
    )
}

/// The body's handle: yields values and receives resume values.
pub struct Co<Y, R = ()> {
    slot: Rc<Slot<Y, R>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    NotStarted,
    Suspended,
    Complete,
}

/// A generator: a body that yields values of type `Y`, receives resume values of type
/// `R`, and returns a `Ret`.
///
/// ```
/// use braid::coro::{Generator, GeneratorState};
///
/// // A running average: send numbers in, get the average so far back.
/// let mut average = Generator::new(|co| async move {
///     let (mut sum, mut count) = (0.0, 0.0);
///     let mut next = co.first_input().expect("the first resume's input");
///     loop {
///         sum += next;
///         count += 1.0;
///         next = co.yield_(sum / count).await;
///     }
/// });
/// assert_eq!(average.resume(10.0), GeneratorState::Yielded(10.0));
/// assert_eq!(average.resume(20.0), GeneratorState::Yielded(15.0));
/// ```
///
/// # Rules
/// Each is enforced with a panic that says what went wrong:
/// - A finished generator cannot be resumed (`Iterator::next` just returns `None`).
/// - The body may await only its own `yield_`s: a generator has no executor, so a future
///   that waits for I/O or a timer would never be woken. Use a task for that
///   ([`Scheduler`](super::Scheduler) or [`Pool`](crate::exec::Pool)).
/// - The first `resume`'s input is delivered, never dropped: the body takes it with
///   [`Co::first_input`] before its first yield (or its return), or the generator is
///   started with [`Generator::start`] instead. (An input of a zero-sized type carries
///   nothing, so `resume(())` may start a generator.)
/// - A `Co` used after its generator has finished or been dropped (it escaped the body)
///   panics instead of losing the value.
///
/// # Naming the types
/// A generator is `Generator<Y, R = (), Ret = ()>`: what it yields, what `resume` sends in
/// (and `co.yield_(..).await` returns), and what the body returns. Rust infers them from
/// the body and the calls, but the defaults take no part in inference: when the body
/// ignores what `yield_` returns and the generator is only resumed, nothing says what `R`
/// is, and the error is "type annotations needed". Name the types on the binding, or
/// give the `yield_` result a type in the body:
///
/// ```
/// use braid::coro::{Generator, GeneratorState};
///
/// // Nothing in the body says what `resume` sends: name the type on the binding.
/// let mut ticks: Generator<u32> = Generator::new(|co| async move {
///     co.yield_(1).await;
///     co.yield_(2).await;
/// });
/// assert_eq!(ticks.resume(()), GeneratorState::Yielded(1));
///
/// // Or give what `yield_` returns a type inside the body.
/// let mut lengths = Generator::new(|co| async move {
///     let mut total = 0;
///     loop {
///         let line: String = co.yield_(total).await;
///         total += line.len();
///     }
/// });
/// assert_eq!(lengths.start(), GeneratorState::Yielded(0));
/// assert_eq!(lengths.resume("braid".to_string()), GeneratorState::Yielded(5));
/// ```
pub struct Generator<Y, R = (), Ret = ()> {
    slot: Rc<Slot<Y, R>>,
    /// The body; dropped as soon as it completes or panics.
    body: Option<Pin<Box<dyn Future<Output = Ret>>>>,
    stage: Stage,
}

impl<Y, R, Ret> Generator<Y, R, Ret> {
    /// A generator running `body`, which receives the [`Co`] it yields through. Nothing
    /// runs until the first [`resume`](Self::resume) or [`start`](Self::start).
    ///
    /// ```
    /// use braid::coro::Generator;
    /// let countdown = Generator::new(|co| async move {
    ///     for n in (1..=3).rev() {
    ///         co.yield_(n).await;
    ///     }
    /// });
    /// assert_eq!(countdown.collect::<Vec<_>>(), [3, 2, 1]);
    /// ```
    pub fn new<F, Fut>(body: F) -> Self
    where
        F: FnOnce(Co<Y, R>) -> Fut,
        Fut: Future<Output = Ret> + 'static,
    {
        let slot = Rc::new(Slot {
            yielded: Cell::new(None),
            input: Cell::new(None),
            first_input: Cell::new(None),
            ended: Cell::new(false),
        });
        let co = Co { slot: slot.clone() };
        Generator {
            slot,
            body: Some(Box::pin(body(co))),
            stage: Stage::NotStarted,
        }
    }

    /// Runs the body until it yields or returns, passing `input` in: to the `yield_` the
    /// body is suspended in, or, on the first resume, to [`Co::first_input`].
    ///
    /// # Panics
    /// If the generator has completed; if the body awaits a future other than its own
    /// `yield_` and that future is not ready; if this is the first resume and the body
    /// yields or returns without taking the input (see [`Generator`]'s rules; the body is
    /// dropped first); and with the body's own panic, after which the generator is
    /// complete.
    ///
    /// ```
    /// use braid::coro::{Generator, GeneratorState};
    /// let mut echo = Generator::new(|co| async move {
    ///     let mut heard = co.first_input().unwrap();
    ///     loop {
    ///         heard = co.yield_(format!("you said {heard}")).await;
    ///     }
    /// });
    /// assert_eq!(echo.resume("hi"), GeneratorState::Yielded("you said hi".to_string()));
    /// assert_eq!(echo.resume("bye"), GeneratorState::Yielded("you said bye".to_string()));
    /// ```
    #[inline]
    #[track_caller]
    pub fn resume(&mut self, input: R) -> GeneratorState<Y, Ret> {
        match self.stage {
            Stage::Complete => resumed_after_completion(),
            Stage::NotStarted => {
                self.slot.first_input.set(Some(input));
                self.first_step()
            }
            Stage::Suspended => {
                self.slot.input.set(Some(input));
                self.step()
            }
        }
    }

    /// Runs a generator that has not started yet until its first yield or return, with no
    /// input (Python's `next(gen)` before any `send`).
    ///
    /// # Panics
    /// If the generator has already started.
    ///
    /// ```
    /// use braid::coro::{Generator, GeneratorState};
    /// let mut doubler = Generator::new(|co| async move {
    ///     let mut n: i32 = co.yield_(0).await;
    ///     loop {
    ///         n = co.yield_(n * 2).await;
    ///     }
    /// });
    /// assert_eq!(doubler.start(), GeneratorState::Yielded(0));
    /// assert_eq!(doubler.resume(21), GeneratorState::Yielded(42));
    /// ```
    #[track_caller]
    pub fn start(&mut self) -> GeneratorState<Y, Ret> {
        assert!(
            self.stage == Stage::NotStarted,
            "braid::coro::Generator::start: the generator has already started; use resume"
        );
        self.first_step()
    }

    /// Whether the body has returned (or panicked).
    ///
    /// ```
    /// use braid::coro::Generator;
    /// let mut once = Generator::new(|co| async move { co.yield_(1).await });
    /// once.start();
    /// assert!(!once.is_complete());
    /// once.resume(());
    /// assert!(once.is_complete());
    /// ```
    pub fn is_complete(&self) -> bool {
        self.stage == Stage::Complete
    }

    /// The first step, which also checks that the first resume's input was taken. Kept
    /// out of line so that the check costs the later resumes nothing.
    #[inline(never)]
    fn first_step(&mut self) -> GeneratorState<Y, Ret> {
        let state = self.step();
        let untaken = self.slot.first_input.take();
        if untaken.is_some() && (size_of::<R>() != 0 || std::mem::needs_drop::<R>()) {
            self.finish();
            drop(untaken);
            panic!(
                "braid::coro::Generator: the first resume passed an input that the body \
                 never took. Take it with co.first_input() before the first yield, or start \
                 the generator with Generator::start()"
            );
        }
        state
    }

    /// Polls the body once and reads what it left in the slot.
    #[inline]
    fn step(&mut self) -> GeneratorState<Y, Ret> {
        /// Marks the generator complete if the body panics: the unwind has dropped the
        /// body's live locals, so it must never be polled again. Forgotten otherwise.
        struct CompleteOnUnwind<'a>(&'a mut Stage);
        impl Drop for CompleteOnUnwind<'_> {
            fn drop(&mut self) {
                *self.0 = Stage::Complete;
            }
        }

        let Generator { slot, body, stage } = self;
        let body = body
            .as_mut()
            .expect("a generator that is not complete has a body");
        let on_unwind = CompleteOnUnwind(stage);
        let polled = body.as_mut().poll(&mut Context::from_waker(Waker::noop()));
        std::mem::forget(on_unwind);
        match polled {
            Poll::Ready(value) => {
                self.finish();
                GeneratorState::Complete(value)
            }
            Poll::Pending => match slot.yielded.take() {
                Some(value) => {
                    *stage = Stage::Suspended;
                    GeneratorState::Yielded(value)
                }
                None => self.awaited_a_foreign_future(),
            },
        }
    }

    #[cold]
    fn awaited_a_foreign_future(&mut self) -> ! {
        self.finish();
        panic!(
            "braid::coro::Generator: the body awaited a future that is not its own \
             `yield_`, and that future is not ready. A generator has no executor, so \
             nothing would ever wake it: generators cannot wait on I/O, timers or other \
             tasks. Run such code as a task instead."
        )
    }

    fn finish(&mut self) {
        self.stage = Stage::Complete;
        self.slot.ended.set(true);
        self.body = None;
        self.slot.yielded.set(None);
        self.slot.input.set(None);
    }
}

#[cold]
#[track_caller]
fn resumed_after_completion() -> ! {
    panic!(
        "braid::coro::Generator::resume: the generator has already completed; stop at \
         GeneratorState::Complete, or check is_complete() first"
    )
}

impl<Y, Ret> Iterator for Generator<Y, (), Ret> {
    type Item = Y;

    /// The next yielded value; `None` once the body has returned (its return value is
    /// dropped). Never panics on a finished generator.
    #[inline]
    fn next(&mut self) -> Option<Y> {
        let state = match self.stage {
            Stage::Complete => return None,
            Stage::NotStarted => self.start(),
            Stage::Suspended => self.resume(()),
        };
        match state {
            GeneratorState::Yielded(value) => Some(value),
            GeneratorState::Complete(_) => None,
        }
    }
}

impl<Y, R, Ret> Drop for Generator<Y, R, Ret> {
    /// Marks the slot ended before the body's live locals drop, so an escaped `Co`
    /// refuses to yield from then on.
    fn drop(&mut self) {
        self.slot.ended.set(true);
    }
}

impl<Y, R, Ret> fmt::Debug for Generator<Y, R, Ret> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Generator")
            .field("stage", &self.stage)
            .finish()
    }
}

impl<Y, R> Co<Y, R> {
    /// Yields `value` to whoever resumed the generator, and completes with the input of
    /// the next `resume`.
    ///
    /// # Panics
    /// When polled while another `yield_`'s value is still waiting to be returned by
    /// `resume` (two `yield_` futures polled together, say by a `join`): one value would
    /// be lost. Await each `yield_` before the next. When polled after the generator has
    /// ended (a `Co` that escaped its body, used after the generator completed or was
    /// dropped): nothing would ever take the value.
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
    pub fn yield_(&self, value: Y) -> impl Future<Output = R> + '_ {
        YieldNow {
            slot: &self.slot,
            value: Some(value),
        }
    }

    /// The input of the first `resume`, if this generator was started with `resume` and
    /// the body has not taken it yet. Call it before the first `yield_`.
    ///
    /// # Panics
    /// If the generator has ended (this `Co` escaped its body).
    ///
    /// ```
    /// use braid::coro::{Generator, GeneratorState};
    /// // It never yields, so the yield type is named: `()`.
    /// let mut greeter: Generator<(), String, String> = Generator::new(|co| async move {
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
        self.slot.check_live("first_input");
        self.slot.first_input.take()
    }

    /// Runs `inner` to completion inside this generator, passing its yields out and this
    /// generator's resume values in, and returns `inner`'s return value (PEP 380's
    /// `yield from`). `inner` is started with [`Generator::start`].
    ///
    /// # Panics
    /// If `inner` has already started, or this generator has ended (this `Co` escaped
    /// its body; `inner` is then dropped without running).
    ///
    /// ```
    /// use braid::coro::Generator;
    /// fn range(lo: u32, hi: u32) -> Generator<u32, (), u32> {
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
    pub async fn yield_from<Ret2>(&self, mut inner: Generator<Y, R, Ret2>) -> Ret2 {
        self.slot.check_live("yield_from");
        assert!(
            inner.stage == Stage::NotStarted,
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
        f.debug_struct("Co").finish_non_exhaustive()
    }
}

/// The future of one `yield_`: leaves the value on its first poll, takes the input on
/// its second.
struct YieldNow<'a, Y, R> {
    slot: &'a Slot<Y, R>,
    value: Option<Y>,
}

// Nothing in it is pinned structurally.
impl<Y, R> Unpin for YieldNow<'_, Y, R> {}

impl<Y, R> Future for YieldNow<'_, Y, R> {
    type Output = R;

    #[inline]
    fn poll(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<R> {
        if let Some(value) = self.value.take() {
            self.slot.check_live("yield_");
            if let Some(earlier) = self.slot.yielded.replace(Some(value)) {
                two_yields_at_once(earlier);
            }
            return Poll::Pending;
        }
        // `None` when polled again without a resume (by a combinator in the body, not by
        // `Generator::resume`): keep waiting.
        match self.slot.input.take() {
            Some(input) => Poll::Ready(input),
            None => Poll::Pending,
        }
    }
}

/// The body had two `yield_`s pending in one step (say, joined with a combinator): one
/// value would be lost, so it is refused.
#[cold]
fn two_yields_at_once<Y>(earlier: Y) -> ! {
    drop(earlier);
    panic!(
        "braid::coro::Co::yield_: the body yielded twice in one step (two yield_ futures \
         polled together, e.g. by join or select); await each yield_ before the next"
    )
}
