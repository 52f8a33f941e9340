//! What an executor does when one of its tasks panics: hand the panic to the task's
//! `JoinHandle` alone (the default), or fail as a whole (tokio's `unhandled_panic`).
//!
//! The choice is [`UnhandledPanic`]. For the Pool, a failure is kept in [`Failure`]:
//! the first panic's report, and the wakers of the `block_on` calls under way, which
//! must stop with that report rather than wait for a future that may never finish.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use crate::sync::{lock, Mutex};

/// What an executor does when one of its tasks panics with nobody catching it.
///
/// # What "unhandled" means
/// A task's panic is *unhandled* when it unwinds out of the task: out of a poll of its
/// future (or out of its closure, for `spawn_fn` and `spawn_blocking`), or out of its
/// future's destructor. These are exactly the panics its [`JoinHandle`](crate::JoinHandle)
/// reports with [`JoinError::is_panic`](crate::JoinError::is_panic). A panic the task
/// catches itself (`std::panic::catch_unwind` inside it) is handled. Whether anyone holds
/// or awaits the task's handle does not matter (tokio's rule): a handle may be awaited
/// late or dropped unread, and an executor cannot tell which while the task fails. A
/// panic of a closure passed to `Pool::join`, `scope`, `map` or `try_map` is no task's:
/// it reaches that call's caller already.
///
/// # The choices
/// - [`Ignore`](UnhandledPanic::Ignore), the default of [`Scheduler::new`] and
///   [`Pool::new`](crate::exec::Pool::new): the panic goes to the task's handle, and every
///   other task runs on as if nothing happened.
/// - [`ShutdownRuntime`](UnhandledPanic::ShutdownRuntime): the executor fails at the first
///   such panic. It cancels every other unfinished task (their destructors run, their
///   handles report cancelled), refuses new ones, and its driving calls panic with the
///   task's report (its message and where it was spawned):
///   - a [`Scheduler`]'s `run` or `block_on` panics as soon as the task's poll returns;
///     the report also names the scheduler's [`Schedule`](crate::coro::Schedule) and
///     how to replay it. [`Scheduler::with_schedule`], and so
///     [`braid::testing::explore`](crate::testing::explore) and the `schedules()`
///     strategy, choose this;
///   - a [`Pool`](crate::exec::Pool)'s `block_on` panics, the ones under way (woken at
///     once) and any later; so do `shutdown` and `shutdown_timeout`, once the pool is
///     down. Dropping the pool does not panic.
///
/// ```
/// use braid::coro::Scheduler;
/// use braid::exec::UnhandledPanic;
///
/// # let quiet = std::panic::take_hook();
/// # std::panic::set_hook(Box::new(|_| {}));
/// // The default: the panic is the handle's business, and nobody looks at this one.
/// let mut scheduler = Scheduler::new();
/// scheduler.spawn(async { panic!("the door is open") }); // handle dropped
/// assert!(scheduler.run().is_ok());
///
/// // Failing instead:
/// let mut scheduler = Scheduler::new().unhandled_panic(UnhandledPanic::ShutdownRuntime);
/// scheduler.spawn(async { panic!("the door is open") });
/// let failed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| scheduler.run()));
/// # std::panic::set_hook(quiet);
/// let report = failed.unwrap_err();
/// let report = report.downcast_ref::<String>().unwrap();
/// assert!(report.contains("panicked: the door is open"), "{report}");
/// ```
///
/// [`Scheduler`]: crate::coro::Scheduler
/// [`Scheduler::new`]: crate::coro::Scheduler::new
/// [`Scheduler::with_schedule`]: crate::coro::Scheduler::with_schedule
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum UnhandledPanic {
    /// The panic goes to the task's `JoinHandle`; the executor carries on (the default).
    #[default]
    Ignore,
    /// The executor fails: it cancels its other tasks, and its `run` / `block_on` (and a
    /// Pool's `shutdown`) panic with the task's report.
    ShutdownRuntime,
}

/// A Pool's failure: the first unhandled panic's report, and the `block_on` calls to
/// stop when it comes.
pub(crate) struct Failure {
    state: Mutex<FailureState>,
}

struct FailureState {
    /// `Some` once the pool has failed; never reset.
    report: Option<String>,
    /// The wakers of the `block_on` futures under way, by a number each keeps.
    watchers: Vec<(u64, Waker)>,
    next_watcher: u64,
}

impl Failure {
    pub(crate) fn new() -> Failure {
        Failure {
            state: Mutex::new(FailureState {
                report: None,
                watchers: Vec::new(),
                next_watcher: 0,
            }),
        }
    }

    /// Records the failure and wakes every `block_on` under way; nothing when the pool
    /// had failed already (the first report stands).
    pub(crate) fn fail(&self, report: String) {
        let watchers = {
            let mut state = lock(&self.state);
            if state.report.is_some() {
                return;
            }
            state.report = Some(report);
            std::mem::take(&mut state.watchers)
        };
        for (_, waker) in watchers {
            waker.wake();
        }
    }

    /// The report of the panic that failed the pool, if it has.
    pub(crate) fn report(&self) -> Option<String> {
        lock(&self.state).report.clone()
    }
}

/// `block_on`'s future on a pool that fails on panics: panics with the failure's report
/// as soon as there is one, else polls the caller's future.
pub(crate) struct Watched<'a, F> {
    pub(crate) future: Pin<&'a mut F>,
    pub(crate) failure: &'a Failure,
    /// This call's number among the failure's watchers, once registered.
    pub(crate) watcher: Option<u64>,
}

impl<F: Future> Future for Watched<'_, F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        {
            // Under the lock: a failure after this look finds our waker and wakes us.
            let mut state = lock(&this.failure.state);
            if let Some(report) = state.report.clone() {
                drop(state);
                panic!(
                    "braid: Pool::block_on stopped: a task of this pool panicked, and the pool \
                     fails on a task's panic (UnhandledPanic::ShutdownRuntime): {report}"
                );
            }
            let waker = cx.waker();
            match this.watcher {
                Some(id) => {
                    if let Some((_, old)) = state.watchers.iter_mut().find(|(w, _)| *w == id) {
                        if !old.will_wake(waker) {
                            *old = waker.clone();
                        }
                    }
                }
                None => {
                    let id = state.next_watcher;
                    state.next_watcher += 1;
                    state.watchers.push((id, waker.clone()));
                    this.watcher = Some(id);
                }
            }
        }
        this.future.as_mut().poll(cx)
    }
}

impl<F> Drop for Watched<'_, F> {
    fn drop(&mut self) {
        if let Some(id) = self.watcher {
            lock(&self.failure.state).watchers.retain(|(w, _)| *w != id);
        }
    }
}
