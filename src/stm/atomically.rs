//! Running a transaction body to a commit: `atomically` for threads, `atomically_async`
//! for tasks, `try_atomically` for bodies that may abort. They share one attempt loop;
//! only the way they wait on `retry` differs (park the thread, or return `Pending`).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::commit::{commit, Commit};
use super::error::{StmError, StmResult, TxError};
use super::progress::{self, Contention};
use super::tx::Transaction;
use super::wait::{Registration, WaitToken};
use crate::sync::backoff::Backoff;
use crate::sync::no_block;

/// How one run of the body ended.
enum Attempt<T> {
    Committed(T),
    Conflict,
    /// Ready to commit, but a priority transaction is running: wait, then run again.
    YieldToPriority,
    Retry,
}

/// Runs the body once and commits it if it can. Inlined into each caller, so that the
/// transaction's fields and the log pointer stay in registers from `begin` to the commit:
/// as a call of its own it pushed six registers first, and every store before a
/// commit's locked instructions delays them (they wait for the store buffer to drain).
/// A one-variable increment went from 16.6 to 14.7 ns (standalone loop, 10th
/// percentile of interleaved runs; see BENCHMARKS.md).
#[inline(always)]
fn attempt<T>(
    tx: &mut Transaction,
    f: &mut impl FnMut(&mut Transaction) -> StmResult<T>,
) -> Attempt<T> {
    match f(tx) {
        Ok(value) if !tx.log.state.doomed => match commit(tx) {
            Commit::Committed => Attempt::Committed(value),
            Commit::Conflict => Attempt::Conflict,
            Commit::YieldToPriority => Attempt::YieldToPriority,
        },
        Err(e) if e.is_retry() && !tx.log.state.doomed => Attempt::Retry,
        _ => Attempt::Conflict,
    }
}

/// Whether the attempt that just retried read nothing: no commit can ever wake it.
fn read_nothing(tx: &Transaction) -> bool {
    tx.log.reads().next().is_none()
}

/// A `retry` with nothing read and no deadline would sleep forever: refused.
#[cold]
#[track_caller]
fn retried_having_read_nothing() -> ! {
    panic!(
        "braid::stm::retry: the transaction read no TVar before retrying, so no commit \
         could ever wake it: it would block forever (with a deadline, as in \
         atomically_timeout, it waits out the deadline instead)"
    )
}

/// What `on_commit` registered, in order.
type Hooks = Vec<Box<dyn FnOnce() + Send>>;

/// Runs hooks registered with `on_commit`, in order; resumes the first panic after all ran.
#[cold]
fn run_some_hooks(hooks: Hooks) {
    let mut first_panic = None;
    for hook in hooks {
        if let Err(payload) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(hook)) {
            first_panic.get_or_insert(payload);
        }
    }
    if let Some(payload) = first_panic {
        std::panic::resume_unwind(payload);
    }
}

/// Runs `f` as one atomic transaction and returns its result.
///
/// Other threads see all of the body's writes or none of them, and the body sees a
/// consistent snapshot even while it runs (opacity). On a conflicting commit the body is
/// run again, so it must have no effects outside `TVar`s: use
/// [`Transaction::on_commit`] for those. When the body calls [`retry`](super::retry), the
/// thread sleeps until another transaction commits to a variable the body read.
///
/// # Panics
/// If called inside another transaction body (transactions compose by passing
/// `&mut Transaction` instead), or if the body retries without having read any `TVar`.
/// A panic in the body publishes nothing and propagates to the caller.
///
/// On a [`Pool`](crate::exec::Pool) worker thread (a task, a `spawn_fn` closure, a
/// `join` or `scope` closure), when the body retries: waiting there would park the
/// worker, and with it every task queued behind it, possibly the very task that would
/// wake it, a hang with no message on a small pool. So braid refuses, as tokio refuses
/// `block_on` inside its runtime, and the message names the way out:
/// [`atomically_async`]`(..).await`, which suspends the task and frees the worker, or
/// [`spawn_blocking`](crate::exec::spawn_blocking) for code that must block. (Letting
/// the worker run other tasks while it waits, as `JoinHandle::join` does, would nest
/// waits on one stack without bound, and a wait deep in that stack could not return
/// before the ones above it finish.) A body that commits without retrying is fine
/// anywhere.
///
/// ```
/// use braid::stm::{atomically, TVar};
///
/// let from = TVar::new(100);
/// let to = TVar::new(0);
/// atomically(|tx| {
///     from.modify(tx, |balance| balance - 30)?;
///     to.modify(tx, |balance| balance + 30)
/// });
/// assert_eq!((from.load(), to.load()), (70, 30));
/// ```
#[track_caller]
#[inline(always)]
pub fn atomically<T>(f: impl FnMut(&mut Transaction) -> StmResult<T>) -> T {
    run_blocking(f, None).expect("a transaction without a deadline never times out")
}

/// Like [`atomically`], but gives up when the body is still retrying at the deadline:
/// returns `None` if `timeout` passes while the transaction waits in `retry`.
///
/// The deadline bounds the waiting, also while the thread sleeps; it never cuts a running
/// body short. It holds however busy the variables the body read are: a transaction that
/// other commits keep waking gives up at its first retry after the deadline. A timed-out
/// transaction publishes nothing and runs no `on_commit` hooks.
/// ScalaSTM's `retryFor`; Python's `queue.get(timeout=...)` for any condition.
///
/// A body that retries having read no `TVar` has nothing that could wake it, so it
/// waits out the deadline and returns `None` (where [`atomically`] panics, since it
/// would wait forever); rust-stm's `with_control` does the same.
///
/// # Panics
/// If called inside another transaction body, and on a Pool worker thread when the body
/// retries (see [`atomically`]). A panic in the body publishes nothing and propagates to
/// the caller.
///
/// ```
/// use braid::stm::{atomically_timeout, TQueue};
/// use std::time::Duration;
///
/// let inbox: TQueue<String> = TQueue::new();
/// let got = atomically_timeout(Duration::from_millis(10), |tx| inbox.pop(tx));
/// assert_eq!(got, None); // nobody sent anything
/// ```
#[track_caller]
pub fn atomically_timeout<T>(
    timeout: Duration,
    f: impl FnMut(&mut Transaction) -> StmResult<T>,
) -> Option<T> {
    // A deadline too far to represent is no deadline.
    run_blocking(f, Instant::now().checked_add(timeout))
}

/// How many times a retrying transaction runs again after a short pause before it
/// registers as a waiter and sleeps. Under loom: never (the models explore the sleep).
/// The pauses grow 1, 2, 4 ... 32 spins, about 60 in all. Measured on a capacity-1 queue
/// hand-off: 2.3 µs per message with 4 looks, 2.0 µs with 6, 8 or 12.
const QUICK_RETRIES: u32 = if cfg!(loom) { 0 } else { 6 };

/// The attempt loop of the blocking entry points: run, commit, back off on conflict,
/// sleep on retry until woken or until `deadline`; then end the transaction and run the
/// commit's hooks, if it registered any. `None`: the deadline passed.
///
/// Inlined into the caller, whose closure type makes this function its own anyway, and
/// there the first attempt runs; the loop for the attempts after it, with its
/// contention and retry state, is out of line in `run_again`. Most transactions commit
/// in their first attempt. Setting that state up on every transaction cost 26 of a
/// one-variable increment's instructions (callgrind); as a function of its own, this
/// saved six registers on the stack per transaction. Every store before a commit's
/// locked instructions delays them (they wait for the store buffer to drain), and on
/// the 2-vCPU machine of `BENCHMARKS.md` much more so in its slow spells.
/// Panics if this thread must not block (a Pool worker): a blocking transaction waiting
/// there would park the worker, and with it the tasks that could wake it.
#[track_caller]
#[cold]
fn refuse_to_block_a_worker() {
    if let Some(thread) = no_block::forbidden() {
        panic!(
            "braid: a blocking `atomically` (or `atomically_timeout`) waited in `retry` on \
             {thread}, which would park the worker and every task queued behind it, \
             possibly the one that would wake it; inside a task, use \
             `atomically_async(...).await`, which suspends the task and frees the worker, \
             or move blocking code to `spawn_blocking`"
        );
    }
}

#[track_caller]
#[inline(always)]
fn run_blocking<T>(
    mut f: impl FnMut(&mut Transaction) -> StmResult<T>,
    deadline: Option<Instant>,
) -> Option<T> {
    let mut tx = Transaction::begin();
    match attempt(&mut tx, &mut f) {
        Attempt::Committed(value) => {
            end_then_run_hooks(tx);
            Some(value)
        }
        // Both move: passed by address, they would be on the stack on the first path too.
        outcome => run_again(tx, f, deadline, outcome),
    }
}

/// Ends the transaction, then runs its hooks if it registered any: outside the
/// transaction, since they may start new ones.
#[inline(always)]
fn end_then_run_hooks(tx: Transaction) {
    if tx.log.hooks.is_empty() {
        tx.end();
    } else {
        end_then_run_some_hooks(tx);
    }
}

#[cold]
#[inline(never)]
fn end_then_run_some_hooks(mut tx: Transaction) {
    let hooks = std::mem::take(&mut tx.log.hooks);
    tx.end();
    run_some_hooks(hooks);
}

/// `run_blocking` after a first attempt that did not commit: runs the attempts after it,
/// then ends the transaction (`None`: the deadline passed; `restart_after` dropped the
/// hooks of such a transaction).
#[track_caller]
#[inline(never)]
fn run_again<T>(
    mut tx: Transaction,
    f: impl FnMut(&mut Transaction) -> StmResult<T>,
    deadline: Option<Instant>,
    outcome: Attempt<T>,
) -> Option<T> {
    let value = attempts_after_the_first(&mut tx, f, deadline, outcome);
    end_then_run_hooks(tx);
    value
}

/// The attempts after the first: acts on how the last one ended (back off after a
/// conflict, wait while a priority transaction runs, sleep on retry until woken or until
/// `deadline`) and runs the body again, until it commits or the deadline passes. The
/// priority token, if this transaction took it, is dropped with `contention` as this
/// returns: before the caller runs the hooks (a hook may commit, and would otherwise
/// wait for the token its own transaction holds).
///
/// The deadline is checked at every retry once the transaction has waited (registered
/// as a waiter) at least once, not only while it sleeps: while other threads keep
/// committing to what it read, a wait rarely gets as far as sleeping (a commit wakes it
/// while it spins, or lands as it registers), and the loop must still end. Between two
/// retries there are at most the conflicts the contention manager allows before it
/// takes the priority token. The first wait always happens, so a zero timeout still
/// looks once for a wake-up, as it always did.
#[track_caller]
fn attempts_after_the_first<T>(
    tx: &mut Transaction,
    mut f: impl FnMut(&mut Transaction) -> StmResult<T>,
    deadline: Option<Instant>,
    mut outcome: Attempt<T>,
) -> Option<T> {
    let mut contention = Contention::new();
    let (mut quick_retries, mut retry_pause) = (0, Backoff::new());
    let mut waited = false;
    loop {
        match outcome {
            Attempt::Committed(value) => return Some(value),
            Attempt::Conflict => tx.restart_after(|| contention.after_conflict()),
            Attempt::YieldToPriority => tx.restart_after(progress::wait_while_priority_held),
            Attempt::Retry => {
                refuse_to_block_a_worker();
                // A transaction about to wait gives the priority token back first.
                contention.before_wait();
                // Nothing read, nothing can wake it: refused without a deadline; with
                // one, it registers on nothing below and sleeps until the deadline.
                let nothing_to_wait_for = read_nothing(tx);
                if nothing_to_wait_for && deadline.is_none() {
                    retried_having_read_nothing();
                }
                if waited && deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                    // Drops the attempt's writes and hooks: nothing is published.
                    tx.restart();
                    return None;
                }
                if quick_retries < QUICK_RETRIES && !nothing_to_wait_for {
                    // Registering a waiter costs more than a short transaction, and a
                    // hand-off (a queue's other end) often lands within microseconds, so
                    // first look again a few times after a short, growing pause.
                    quick_retries += 1;
                    tx.restart_after(|| retry_pause.snooze());
                } else {
                    waited = true;
                    match register_waiter(tx, WaitToken::for_current_thread()) {
                        // The registration holds counted references, so the attempt's
                        // read set may go; it must, because a thread never sleeps inside its
                        // transaction (it would hold back frees in the whole process).
                        Some(registration) => {
                            let mut woken = true;
                            tx.restart_after(|| woken = registration.park_until(deadline));
                            if !woken {
                                return None;
                            }
                        }
                        // Something read has already changed: run again at once.
                        None => tx.restart(),
                    }
                }
            }
        }
        tx.log.state.has_priority = contention.has_priority();
        outcome = attempt(tx, &mut f);
    }
}

/// Registers `token` on everything `tx` read; `None` if something already changed.
fn register_waiter(tx: &Transaction, token: crate::sync::Arc<WaitToken>) -> Option<Registration> {
    Registration::register(token, tx.log.reads())
}

/// Like [`atomically`], for bodies that may give up: `Err(TxError::Abort(e))` discards
/// every write of the attempt (and its `on_commit` hooks) and returns `Err(e)`.
///
/// `?` on an [`StmResult`] works in the body through `From<StmError> for TxError<E>`.
///
/// ```
/// use braid::stm::{try_atomically, TVar, TxError};
///
/// let stock = TVar::new(1);
/// let sell = || try_atomically(|tx| {
///     let n = stock.read(tx)?;
///     if n == 0 {
///         return Err(TxError::Abort("sold out"));
///     }
///     stock.write(tx, n - 1)?;
///     Ok(n - 1)
/// });
/// assert_eq!(sell(), Ok(0));
/// assert_eq!(sell(), Err("sold out"));
/// ```
#[track_caller]
pub fn try_atomically<T, E>(
    mut f: impl FnMut(&mut Transaction) -> Result<T, TxError<E>>,
) -> Result<T, E> {
    atomically(|tx| match f(tx) {
        Ok(value) => Ok(Ok(value)),
        Err(TxError::Stm(e)) => Err(e),
        Err(TxError::Abort(e)) => {
            // What remains commits as a read-only transaction: its reads were a
            // consistent snapshot, and nothing is published.
            tx.abandon_writes();
            Ok(Err(e))
        }
    })
}

/// Runs `f` as one atomic transaction inside a task, and resolves to its result.
///
/// The same body as [`atomically`] with the same guarantees; only the waiting differs.
/// When the body retries, the future registers its task's `Waker` on every variable the
/// body read and returns `Pending` instead of blocking the thread, so an executor thread
/// stays free for other tasks. If other threads commit to those variables so often that
/// the registrations of a few runs in a row find a change, it returns `Pending` having
/// woken its own task, so that one poll never keeps the thread for long (and a timeout
/// around it can fire). Any executor works.
///
/// # Panics
/// As [`atomically`]: when polled inside a transaction body, or when the body retries
/// having read nothing.
///
/// ```
/// use braid::stm::{atomically, atomically_async, check, TVar};
/// use std::future::Future;
/// use std::task::{Context, Waker};
///
/// let ready = TVar::new(false);
/// let mut wait = Box::pin(atomically_async(|tx| check(ready.read(tx)?)));
/// let mut cx = Context::from_waker(Waker::noop());
/// assert!(wait.as_mut().poll(&mut cx).is_pending()); // suspended, not blocking
/// atomically(|tx| ready.write(tx, true));
/// assert!(wait.as_mut().poll(&mut cx).is_ready());
/// ```
pub async fn atomically_async<T>(f: impl FnMut(&mut Transaction) -> StmResult<T>) -> T {
    Atomically {
        f,
        registration: None,
    }
    .await
}

/// [`atomically_async`] with a deadline, the async twin of [`atomically_timeout`]:
/// `None` if the transaction is still retrying when `timeout` has passed. Then nothing it
/// did is published, and its task is taken off the wait list of every `TVar` it waited
/// on, so a later commit to them wakes nobody on its behalf.
///
/// The deadline is checked between attempts, never during one: a transaction that commits
/// is never undone by the clock. A zero `timeout` runs the transaction once and gives up
/// if it retries. Works on every executor (see [`braid::time`](crate::time)).
///
/// # Panics
/// As [`atomically_async`].
///
/// ```
/// use braid::coro::Scheduler;
/// use braid::stm::{atomically_async_timeout, TQueue};
/// use std::time::Duration;
///
/// let jobs: TQueue<u32> = TQueue::new();
/// let mut scheduler = Scheduler::new();
/// let got = scheduler.block_on(async {
///     // Python's `queue.get(timeout=0.01)`, inside a task.
///     atomically_async_timeout(Duration::from_millis(10), |tx| jobs.pop(tx)).await
/// });
/// assert_eq!(got.unwrap(), None); // nothing came
/// ```
pub async fn atomically_async_timeout<T>(
    timeout: Duration,
    f: impl FnMut(&mut Transaction) -> StmResult<T>,
) -> Option<T> {
    crate::time::timeout(timeout, atomically_async(f))
        .await
        .ok()
}

/// How many times one poll of `atomically_async` runs the body again at once when a
/// commit lands while it registers as a waiter, before it hands the thread back with a
/// wake-up of its own. Such a race is usually a hand-off arriving (a queue's other end),
/// served without a trip through the executor by running again at once, as every such
/// race was before; but while other threads keep committing to what it read, every
/// registration may find a change, and a poll that looped until one did not would keep
/// its worker (and every task and timer behind it, a timeout around it included) for as
/// long. The count is a judgment, not a measurement (no bench runs this race). Under
/// loom: none, so the models explore the wake-up.
const RESTARTS_PER_POLL: u32 = if cfg!(loom) { 0 } else { 4 };

/// The future behind `atomically_async`: runs attempts within `poll`, sleeps on retry.
struct Atomically<F> {
    f: F,
    /// Where the task sleeps after its last retry; dropping it deregisters.
    registration: Option<Registration>,
}

// The body is only ever called through `&mut`, never pinned, so moving it is fine.
impl<F> Unpin for Atomically<F> {}

impl<T, F: FnMut(&mut Transaction) -> StmResult<T>> Future for Atomically<F> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        // Woken or not, run again from scratch: the old registration may hold a stale
        // waker, and the attempt below reads everything anew.
        this.registration = None;
        let mut tx = Transaction::begin();
        let mut contention = Contention::new();
        let mut restarts = 0;
        loop {
            tx.log.state.has_priority = contention.has_priority();
            match attempt(&mut tx, &mut this.f) {
                Attempt::Committed(value) => {
                    // The priority token goes before the hooks run: a hook may commit,
                    // and would otherwise wait for the token its own transaction holds.
                    drop(contention);
                    end_then_run_hooks(tx);
                    return Poll::Ready(value);
                }
                Attempt::Conflict => tx.restart_after(|| contention.after_conflict()),
                // The token is held for a run or two of one transaction that never
                // sleeps holding it, so a short spin beats a wake-up protocol here.
                Attempt::YieldToPriority => tx.restart_after(progress::wait_while_priority_held),
                Attempt::Retry => {
                    if read_nothing(&tx) {
                        retried_having_read_nothing();
                    }
                    // The token is dropped with `contention` on return, before any wait.
                    match register_waiter(&tx, WaitToken::for_task(cx.waker())) {
                        Some(registration) => {
                            this.registration = Some(registration);
                            return Poll::Pending;
                        }
                        // Something read has already changed: run again at once, a few
                        // times (see `RESTARTS_PER_POLL`).
                        None if restarts < RESTARTS_PER_POLL => {
                            restarts += 1;
                            tx.restart();
                        }
                        // Then yield: the task is woken at once and runs again from
                        // scratch at its next poll, after the executor has run what was
                        // waiting (a timer of a timeout around this future among it).
                        // Nothing stays registered: the failed registration is gone.
                        None => {
                            cx.waker().wake_by_ref();
                            return Poll::Pending;
                        }
                    }
                }
            }
        }
    }
}

/// Ends the transaction and waits for a variable it read to change. See [`atomically`].
///
/// Haskell's `retry`: instead of a condition variable, a body that cannot proceed says
/// so, and it runs again once something it looked at is different.
///
/// ```
/// use braid::stm::{atomically, retry, TVar};
/// use std::thread;
///
/// let mailbox: TVar<Option<String>> = TVar::new(None);
/// let reader = {
///     let mailbox = mailbox.clone();
///     thread::spawn(move || atomically(|tx| match mailbox.read(tx)? {
///         Some(letter) => { mailbox.write(tx, None)?; Ok(letter) }
///         None => retry(), // sleep until someone writes the mailbox
///     }))
/// };
/// atomically(|tx| mailbox.write(tx, Some("hello".to_string())));
/// assert_eq!(reader.join().unwrap(), "hello");
/// ```
pub fn retry<T>() -> StmResult<T> {
    Err(StmError::RETRY)
}

/// Retries unless `condition` holds: `check(x > 0)?` waits until `x > 0`.
///
/// ```
/// use braid::stm::{atomically, check, TVar};
///
/// let permits = TVar::new(2);
/// atomically(|tx| {
///     let n = permits.read(tx)?;
///     check(n > 0)?;
///     permits.write(tx, n - 1)
/// });
/// assert_eq!(permits.load(), 1);
/// ```
pub fn check(condition: bool) -> StmResult<()> {
    if condition {
        Ok(())
    } else {
        retry()
    }
}

/// Runs `first`; if it retries, undoes its writes and runs `second` instead.
///
/// Haskell's `orElse`: composes blocking alternatives. Only `first`'s writes are rolled
/// back; what it read stays in the transaction, so if `second` retries too, the whole
/// transaction waits on everything both branches read. A conflict in `first` is passed
/// on unchanged (the whole transaction runs again).
///
/// ```
/// use braid::stm::{atomically, check, or_else, TVar};
///
/// let left = TVar::new(0);
/// let right = TVar::new(5);
/// // Take one item from whichever shelf has one, preferring the left.
/// let took = atomically(|tx| or_else(tx,
///     |tx| { let n = left.read(tx)?; check(n > 0)?; left.write(tx, n - 1)?; Ok("left") },
///     |tx| { let n = right.read(tx)?; check(n > 0)?; right.write(tx, n - 1)?; Ok("right") },
/// ));
/// assert_eq!(took, "right");
/// assert_eq!(right.load(), 4);
/// ```
pub fn or_else<T>(
    tx: &mut Transaction,
    first: impl FnOnce(&mut Transaction) -> StmResult<T>,
    second: impl FnOnce(&mut Transaction) -> StmResult<T>,
) -> StmResult<T> {
    let scope = tx.begin_scope();
    match first(tx) {
        Err(e) if e.is_retry() => {
            tx.rollback_scope(scope);
            second(tx)
        }
        outcome => {
            tx.end_scope();
            outcome
        }
    }
}
