//! Stackless generators on async/await: a body that `yield_`s values out and receives
//! resume values in, and finally returns a value (Python's generators: PEP 255, PEP 342's
//! `send`, `throw` and `close`, PEP 380's `yield from`).
//!
//! # How it works
//! The body is an `async` block, stored once, typed (no `dyn`), in one allocation. A
//! resume puts its input in a slot on its own stack and polls the body as the generator
//! this thread is running (see `slot`): the suspended `yield_` future takes the input
//! and completes with it, the body runs on to its next `Co::yield_(v)`, which leaves `v`
//! in the slot and returns `Pending`, and `resume` reads it back and returns
//! `Yielded(v)`. Everything on the hot path is inlined into the caller, with the body's
//! poll in one place, so a consumer's loop can keep the body's state in registers.
//!
//! # Rules, each enforced with a panic that says what went wrong
//! - A finished generator cannot be resumed (`Iterator::next` just returns `None`).
//! - The body may await only its own `yield_`s: a generator has no executor, so a future
//!   that waits for I/O or a timer would never be woken. Use an `AsyncGenerator` or a
//!   task for that.
//! - The first `resume`'s input is delivered, never dropped: the body takes it with
//!   `Co::first_input` before its first yield (or its return), or the generator is
//!   started with `Generator::start` instead. (An input of a zero-sized type carries
//!   nothing, so `resume(())` may start a generator.)
//! - A `Co` works only in its own generator's body while the generator runs it.

use std::fmt;
use std::future::Future;
use std::iter::FusedIterator;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use super::co::Co;
use super::slot::{self, Invariant, Slot};

/// What a generator did when resumed: yielded a value, or returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GeneratorState<Y, Ret> {
    /// The body yielded this value and is suspended until the next `resume`.
    Yielded(Y),
    /// The body returned this value; the generator is finished.
    Complete(Ret),
}

/// A generator: a body that yields values of type `Y`, receives resume values of type
/// `R`, and returns a `Ret`. `Fut` is the body's future type, which the compiler names.
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
/// # From Python
/// | Python | braid |
/// |---|---|
/// | `def gen(): ... yield x ...` | `Generator::new(\|co\| async move { ... co.yield_(x).await ... })` |
/// | `next(g)`, `for x in g` | `g.next()`, `for x in g` (when `R = ()`) |
/// | `g.send(None)` first, then `g.send(v)` | `g.start()`, then `g.resume(v)` |
/// | `x = yield y` | `let x = co.yield_(y).await;` |
/// | `g.send(v)` as the very first call | `g.resume(v)`; the body takes `v` with `co.first_input()` |
/// | `g.throw(e)` | `g.throw(e)`: the suspended `yield_` returns `Err(e)` (`R = Result<_, E>`) |
/// | `g.close()` | `g.close()`: drops the body now, so its destructors run (`finally`) |
/// | `return v` / `StopIteration(v)` | `GeneratorState::Complete(v)` |
/// | `r = yield from inner` | `let r = co.yield_from(inner).await;` |
/// | `async def agen(): yield x` (PEP 525) | [`AsyncGenerator`](super::AsyncGenerator) |
///
/// # Rules
/// Each is enforced with a panic that says what went wrong:
/// - A finished generator cannot be resumed (`Iterator::next` just returns `None`).
/// - The body may await only its own `yield_`s: a generator has no executor, so a future
///   that waits for I/O or a timer would never be woken. Use an
///   [`AsyncGenerator`](super::AsyncGenerator) or a task for that.
/// - The first `resume`'s input is delivered, never dropped: the body takes it with
///   [`Co::first_input`] before its first yield (or its return), or the generator is
///   started with [`Generator::start`] instead. (An input of a zero-sized type carries
///   nothing, so `resume(())` may start a generator.)
/// - A [`Co`] works only in its own generator's body while the generator runs it: used
///   after the generator ended, in another plain generator, or in a task, it panics
///   instead of losing the value. (An async generator that the body drains runs inside
///   the body's own poll, so the `Co` works in that async generator's body too.)
///
/// # Borrowing, threads, and naming the type
/// The body is stored as its own type, so it may borrow: the generator lives as long as
/// its borrows. A generator is `Send` when its body is (a body that keeps a `Y` or an `R`
/// across a yield is `Send` only when they are), so it may move to another thread or
/// live across an `.await` in a [`Pool`](crate::exec::Pool) task.
///
/// ```
/// use braid::coro::{Co, Generator};
///
/// fn evens<'a>(xs: &'a [u32]) -> impl Iterator<Item = u32> + 'a {
///     Generator::new(move |co: Co<u32>| async move {
///         for &x in xs {
///             if x % 2 == 0 {
///                 co.yield_(x).await;
///             }
///         }
///     })
/// }
/// let numbers = vec![1, 2, 3, 4];
/// assert_eq!(evens(&numbers).collect::<Vec<_>>(), [2, 4]);
/// ```
///
/// The borrow checker holds the generator to its borrows:
///
/// ```compile_fail
/// use braid::coro::Generator;
/// let numbers = vec![1, 2, 3];
/// let view = &numbers;
/// let mut g = Generator::new(move |co| async move {
///     for &n in view {
///         co.yield_(n).await;
///     }
/// });
/// drop(numbers); // error: `numbers` is still borrowed by the generator
/// g.next();
/// ```
///
/// and a body that holds something tied to its thread (an `Rc`) makes a generator that
/// stays there:
///
/// ```compile_fail
/// use braid::coro::Generator;
/// use std::rc::Rc;
/// let g = Generator::new(|co| async move {
///     let shared = Rc::new(1);
///     co.yield_(*shared).await; // `shared` lives across the yield
/// });
/// std::thread::spawn(move || g.count()); // error: the generator is not `Send`
/// ```
///
/// A generator is `Generator<Y, R = (), Ret = (), Fut>`: what it yields, what `resume`
/// sends in (and `co.yield_(..).await` returns), what the body returns, and the body's
/// future type. Name the first three and leave `Fut` to the compiler: `_` in a binding,
/// `impl Future<Output = Ret>` in a return type. The defaults take no part in
/// inference: when the body ignores what `yield_` returns and the generator is only
/// resumed, nothing says what `R` is, and the error is "type annotations needed":
///
/// ```
/// use braid::coro::{Generator, GeneratorState};
///
/// // Nothing in the body says what `resume` sends: name the types on the binding.
/// let mut ticks: Generator<u32, (), (), _> = Generator::new(|co| async move {
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
///
/// Where the type must be written out in full (a struct field, a recursive generator),
/// box the body: [`Generator::boxed`] gives a [`BoxGenerator`] (`Send`),
/// [`Generator::boxed_local`] a [`LocalBoxGenerator`].
///
/// ```
/// use braid::coro::{BoxGenerator, Generator};
///
/// // Recursion: a tree walk that delegates to itself.
/// fn countdown(n: u32) -> BoxGenerator<'static, u32> {
///     Generator::new(move |co| async move {
///         if n > 0 {
///             co.yield_(n).await;
///             co.yield_from(countdown(n - 1)).await;
///         }
///     })
///     .boxed()
/// }
/// assert_eq!(countdown(3).collect::<Vec<_>>(), [3, 2, 1]);
/// ```
pub struct Generator<Y, R = (), Ret = (), Fut: ?Sized = dyn Future<Output = Ret>> {
    /// The id its `Co` carries (see `slot`).
    id: u64,
    /// The body; `None` once it has returned, panicked or been closed.
    body: Option<Pin<Box<Fut>>>,
    started: bool,
    /// Invariant in `R`: the body's `Co` reads inputs at the type this writes them.
    _resume: Invariant<R>,
    /// What it yields: values pass through, none is kept.
    _yields: PhantomData<fn() -> Y>,
    /// What the body returns, named so that `Fut` may be a `dyn Future<Output = Ret>`.
    _returns: PhantomData<fn() -> Ret>,
}

/// A generator whose body is boxed and `Send`: a type that can be written out in full,
/// for struct fields and recursion. Made by [`Generator::boxed`].
pub type BoxGenerator<'a, Y, R = (), Ret = ()> =
    Generator<Y, R, Ret, dyn Future<Output = Ret> + Send + 'a>;

/// A generator whose body is boxed (and need not be `Send`). Made by
/// [`Generator::boxed_local`].
pub type LocalBoxGenerator<'a, Y, R = (), Ret = ()> =
    Generator<Y, R, Ret, dyn Future<Output = Ret> + 'a>;

// The body is boxed and never pinned through the generator; values in flight live in a
// slot on the resumer's stack, moved in and out, never pinned.
impl<Y, R, Ret, Fut: ?Sized> Unpin for Generator<Y, R, Ret, Fut> {}

impl<Y, R, Ret, Fut> Generator<Y, R, Ret, Fut>
where
    Fut: Future<Output = Ret>,
{
    /// A generator running `body`, which receives the [`Co`] it yields through. The body
    /// is made now; nothing in it runs until the first [`resume`](Self::resume) or
    /// [`start`](Self::start).
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
    pub fn new<F>(body: F) -> Self
    where
        F: FnOnce(Co<Y, R>) -> Fut,
    {
        let id = slot::next_id();
        let body = body(Co::new(id));
        Generator {
            id,
            body: Some(Box::pin(body)),
            started: false,
            _resume: PhantomData,
            _yields: PhantomData,
            _returns: PhantomData,
        }
    }

    /// This generator with its body boxed as a `dyn Future + Send`, so its type can be
    /// written out: [`BoxGenerator`]. Works before or after it has started.
    pub fn boxed<'a>(self) -> BoxGenerator<'a, Y, R, Ret>
    where
        Fut: Send + 'a,
    {
        Generator {
            id: self.id,
            body: self
                .body
                .map(|body| body as Pin<Box<dyn Future<Output = Ret> + Send>>),
            started: self.started,
            _resume: PhantomData,
            _yields: PhantomData,
            _returns: PhantomData,
        }
    }

    /// This generator with its body boxed as a `dyn Future` (not `Send`):
    /// [`LocalBoxGenerator`].
    pub fn boxed_local<'a>(self) -> LocalBoxGenerator<'a, Y, R, Ret>
    where
        Fut: 'a,
    {
        Generator {
            id: self.id,
            body: self
                .body
                .map(|body| body as Pin<Box<dyn Future<Output = Ret>>>),
            started: self.started,
            _resume: PhantomData,
            _yields: PhantomData,
            _returns: PhantomData,
        }
    }
}

impl<Y, R, Ret, Fut> Generator<Y, R, Ret, Fut>
where
    Fut: ?Sized + Future<Output = Ret>,
{
    /// Runs the body until it yields or returns, passing `input` in: to the `yield_` the
    /// body is suspended in, or, on the first resume, to [`Co::first_input`] (Python's
    /// `send`).
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
        if self.body.is_none() {
            resumed_after_completion();
        }
        self.step(input, true)
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
    #[inline]
    #[track_caller]
    pub fn start(&mut self) -> GeneratorState<Y, Ret> {
        assert!(
            !self.has_started(),
            "braid::coro::Generator::start: the generator has already started (or been \
             closed); use resume"
        );
        self.started = true;
        self.poll_once(Slot::with_first_input(None), false)
    }

    /// Whether the body has returned, panicked or been closed.
    ///
    /// ```
    /// use braid::coro::Generator;
    /// let mut once = Generator::new(|co| async move { co.yield_(1).await });
    /// once.start();
    /// assert!(!once.is_complete());
    /// once.resume(());
    /// assert!(once.is_complete());
    /// ```
    #[inline]
    pub fn is_complete(&self) -> bool {
        self.body.is_none()
    }

    /// Drops the suspended body now, so the destructors of its live locals run (Python's
    /// `close()`, which runs the body's `finally` blocks). Afterwards the generator is
    /// complete: [`is_complete`](Self::is_complete) holds and `next()` returns `None`.
    /// Closing a generator that has not started runs none of its body (only what the
    /// body captured is dropped); closing a finished one does nothing.
    ///
    /// ```
    /// use braid::coro::Generator;
    /// use std::cell::Cell;
    ///
    /// struct Finally<'a>(&'a Cell<bool>);
    /// impl Drop for Finally<'_> {
    ///     fn drop(&mut self) {
    ///         self.0.set(true);
    ///     }
    /// }
    ///
    /// let cleaned_up = Cell::new(false);
    /// let flag = &cleaned_up;
    /// let mut lines = Generator::new(|co| async move {
    ///     let _file = Finally(flag); // stands for an open file
    ///     for n in 1.. {
    ///         co.yield_(n).await;
    ///     }
    /// });
    /// assert_eq!(lines.next(), Some(1));
    /// lines.close();
    /// assert!(cleaned_up.get() && lines.is_complete());
    /// assert_eq!(lines.next(), None);
    /// ```
    pub fn close(&mut self) {
        self.started = true;
        self.body = None;
    }

    pub(super) fn has_started(&self) -> bool {
        self.started || self.body.is_none()
    }

    /// Runs the body one step with `input`: to the suspended `yield_`, or on the first
    /// step to `Co::first_input` if it comes from `resume` (`Iterator::next` starts a
    /// generator as `start` does, with no first input).
    #[inline]
    #[track_caller]
    fn step(&mut self, input: R, from_resume: bool) -> GeneratorState<Y, Ret> {
        let first = !self.started;
        self.started = true;
        let slot = if first {
            Slot::with_first_input(from_resume.then_some(input))
        } else {
            Slot::with_input(Some(input))
        };
        self.poll_once(slot, first)
    }

    /// Polls the body once, passing what `slot` holds. On the first step (`first`), the
    /// first input must have been taken, unless it carries nothing. The body is polled
    /// in this one place, so the compiler inlines it once.
    #[inline(always)]
    #[track_caller]
    fn poll_once(&mut self, mut slot: Slot<Y, R>, first: bool) -> GeneratorState<Y, Ret> {
        let polled = self.poll_body(&mut slot);
        if first
            && (size_of::<R>() != 0 || std::mem::needs_drop::<R>())
            && slot.take_first_input().is_some()
        {
            drop(polled);
            first_input_untaken(self.body.take(), slot);
        }
        self.after(polled, slot)
    }

    /// Polls the body once, with a no-op waker: nothing but a resume runs it again.
    #[inline]
    fn poll_body(&mut self, slot: &mut Slot<Y, R>) -> Poll<Ret> {
        let polled = slot::poll_body(
            self.id,
            slot,
            &mut Context::from_waker(Waker::noop()),
            &mut self.body,
        );
        // `resume` and `next` check for a body before they step.
        polled.expect("braid::coro: a finished generator's body polled")
    }

    /// What a poll of the body means: a return, a yield, or a foreign future. An input
    /// the body did not take is dropped with `slot`.
    #[inline]
    fn after(&mut self, polled: Poll<Ret>, mut slot: Slot<Y, R>) -> GeneratorState<Y, Ret> {
        match polled {
            Poll::Ready(value) => {
                self.close();
                GeneratorState::Complete(value)
            }
            Poll::Pending => match slot.take_yielded() {
                Some(value) => GeneratorState::Yielded(value),
                None => awaited_a_foreign_future(self.body.take()),
            },
        }
    }
}

/// The first resume's input was not taken: the body (taken out of the generator, which
/// is now complete) is dropped, then the input, and the resume panics. It takes what it
/// drops by value, not the generator, so the generator's fields stay out of memory on
/// the hot path.
#[cold]
#[track_caller]
fn first_input_untaken<T, Y, R>(body: T, slot: Slot<Y, R>) -> ! {
    drop(body);
    drop(slot);
    panic!(
        "braid::coro::Generator: the first resume passed an input that the body \
         never took. Take it with co.first_input() before the first yield, or start \
         the generator with Generator::start()"
    );
}

/// The body is waiting on something that is not its own `yield_`: it (taken out of the
/// generator, which is now complete) is dropped, and the resume panics.
#[cold]
fn awaited_a_foreign_future<T>(body: T) -> ! {
    drop(body);
    panic!(
        "braid::coro::Generator: the body awaited a future that is not its own \
         `yield_`, and that future is not ready. A generator has no executor, so \
         nothing would ever wake it: generators cannot wait on I/O, timers or other \
         tasks. Use an AsyncGenerator, or run such code as a task."
    )
}

impl<Y, R, E, Ret, Fut> Generator<Y, Result<R, E>, Ret, Fut>
where
    Fut: ?Sized + Future<Output = Ret>,
{
    /// Raises `error` inside the body: the `yield_` it is suspended in returns
    /// `Err(error)` (Python's `throw`). A body that handles it and yields again makes
    /// this return `Yielded`; one that returns makes it return `Complete`. On a
    /// generator that has not started, `error` is the first input, as with `resume`.
    ///
    /// # Panics
    /// As [`resume`](Self::resume) does.
    ///
    /// ```
    /// use braid::coro::{Generator, GeneratorState};
    ///
    /// // A counter that can be told to reset: send Ok(step), or throw the reason.
    /// let mut counter = Generator::new(|co| async move {
    ///     let mut count = 0;
    ///     loop {
    ///         match co.yield_(count).await {
    ///             Ok(step) => count += step,
    ///             Err("stop") => return count,
    ///             Err(_) => count = 0,
    ///         }
    ///     }
    /// });
    /// assert_eq!(counter.start(), GeneratorState::Yielded(0));
    /// assert_eq!(counter.resume(Ok(5)), GeneratorState::Yielded(5));
    /// assert_eq!(counter.throw("reset"), GeneratorState::Yielded(0));
    /// assert_eq!(counter.resume(Ok(2)), GeneratorState::Yielded(2));
    /// assert_eq!(counter.throw("stop"), GeneratorState::Complete(2));
    /// ```
    #[track_caller]
    pub fn throw(&mut self, error: E) -> GeneratorState<Y, Ret> {
        self.resume(Err(error))
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

impl<Y, Ret, Fut> Iterator for Generator<Y, (), Ret, Fut>
where
    Fut: ?Sized + Future<Output = Ret>,
{
    type Item = Y;

    /// The next yielded value; `None` once the body has returned (its return value is
    /// dropped). Never panics on a finished generator.
    #[inline]
    fn next(&mut self) -> Option<Y> {
        self.body.as_ref()?;
        let state = self.step((), false);
        match state {
            GeneratorState::Yielded(value) => Some(value),
            GeneratorState::Complete(_) => None,
        }
    }
}

impl<Y, Ret, Fut> FusedIterator for Generator<Y, (), Ret, Fut> where
    Fut: ?Sized + Future<Output = Ret>
{
}

impl<Y, R, Ret, Fut: ?Sized> fmt::Debug for Generator<Y, R, Ret, Fut> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stage = match (self.started, self.body.is_some()) {
            (_, false) => "complete",
            (false, true) => "not started",
            (true, true) => "suspended",
        };
        f.debug_struct("Generator")
            .field("id", &self.id)
            .field("stage", &stage)
            .finish()
    }
}
