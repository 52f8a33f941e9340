//! The work-stealing `Pool`: construction, the public operations, and shutdown.

use std::future::Future;
use std::panic::{self, resume_unwind, AssertUnwindSafe, Location};
use std::time::{Duration, Instant};

use super::job::{Job, StackJob};
use super::scope::{self, Scope};
use super::unhandled::{UnhandledPanic, Watched};
use super::worker::{self, BlockingSchedule, Push, Shared};
use crate::sync::atomic::Ordering;
use crate::sync::{thread, Arc};
use crate::task::{self, JoinError, JoinHandle};

/// A work-stealing pool of worker threads running futures and closures.
///
/// Each worker has its own queue; idle workers steal half of a busy worker's queue, and
/// work submitted from outside goes through a shared injector. Idle workers sleep
/// (an idle pool uses no CPU) and are woken when work arrives.
///
/// ```
/// use braid::exec::Pool;
///
/// let pool = Pool::new(4);
/// // A closure, like Python's `pool.apply_async(f).get()`:
/// let squares = pool.spawn_fn(|| (1..=10u64).map(|n| n * n).sum::<u64>());
/// // A future:
/// let greeting = pool.spawn(async { "hello" });
/// assert_eq!(squares.join().unwrap(), 385);
/// assert_eq!(pool.block_on(greeting).unwrap(), "hello");
/// // Fork-join and an order-preserving parallel map:
/// let (a, b) = pool.join(|| 1 + 1, || 2 + 2);
/// assert_eq!((a, b), (2, 4));
/// assert_eq!(pool.map(1..=4, |n| n * 10), [10, 20, 30, 40]);
/// ```
///
/// Dropping the pool cancels every task that has not finished (their destructors run),
/// waits for running closures and blocking jobs, and joins every thread.
///
/// # Misuse from inside the pool
/// A pool's own threads (its workers, and the threads running its `spawn_blocking`
/// closures) cannot wait for the pool to finish, since they are part of what it waits
/// for. So, on one of them:
/// - [`shutdown`](Pool::shutdown) and [`shutdown_timeout`](Pool::shutdown_timeout)
///   panic, naming shutdown. The panic is the calling task's (its `JoinHandle` gets it);
///   the process goes on. The pool, given up by that call, then winds down as below.
/// - Dropping the last handle to the pool (the last `Arc<Pool>` a task held) winds it
///   down without waiting: every unfinished task is cancelled (idle ones at once, running
///   ones after their current poll or closure), new spawns are refused, and every thread
///   exits on its own once its current job returns, the calling thread included. No
///   thread is joined, so destructors of tasks running elsewhere may still be running
///   when the drop returns.
///
/// ```
/// use braid::exec::Pool;
/// use std::sync::{mpsc, Arc};
///
/// let pool = Arc::new(Pool::new(2));
/// let (go, wait_for_go) = mpsc::channel::<()>();
/// let last = pool.clone();
/// let task = pool.spawn_fn(move || {
///     wait_for_go.recv().unwrap();
///     drop(last); // the last handle, dropped on a worker: the pool winds down from inside
///     "still here"
/// });
/// drop(pool);
/// go.send(()).unwrap();
/// assert_eq!(task.join().unwrap(), "still here");
/// ```
pub struct Pool {
    pub(super) shared: Arc<Shared>,
    threads: Vec<thread::JoinHandle<()>>,
}

/// Configures a [`Pool`]: workers, thread names, stack size, blocking threads.
///
/// ```
/// use braid::exec::Pool;
///
/// let pool = Pool::builder()
///     .workers(2)
///     .thread_name("crunch")
///     .stack_size(4 << 20)
///     .max_blocking_threads(8)
///     .build();
/// let name = pool.spawn_fn(|| std::thread::current().name().map(str::to_owned));
/// let name = name.join().unwrap().unwrap();
/// assert!(name == "crunch-0" || name == "crunch-1", "{name}");
/// ```
#[derive(Debug, Clone)]
pub struct PoolBuilder {
    workers: Option<usize>,
    thread_name: String,
    stack_size: Option<usize>,
    max_blocking_threads: usize,
    unhandled_panic: UnhandledPanic,
}

impl PoolBuilder {
    /// The number of worker threads (default: the machine's available parallelism).
    ///
    /// # Panics
    /// `build` panics if this is zero.
    ///
    /// ```
    /// let pool = braid::exec::Pool::builder().workers(3).build();
    /// assert_eq!(pool.workers(), 3);
    /// ```
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = Some(workers);
        self
    }

    /// The name prefix of worker threads; worker `i` is named `"{name}-{i}"`
    /// (default `"braid-worker"`).
    ///
    /// ```
    /// let pool = braid::exec::Pool::builder().workers(1).thread_name("io").build();
    /// let name = pool.spawn_fn(|| std::thread::current().name().unwrap().to_owned());
    /// assert_eq!(name.join().unwrap(), "io-0");
    /// ```
    pub fn thread_name(mut self, name: impl Into<String>) -> Self {
        self.thread_name = name.into();
        self
    }

    /// The stack size of worker threads, in bytes (default: the standard library's). Deep
    /// recursion through `join` may want more.
    ///
    /// ```
    /// let pool = braid::exec::Pool::builder().stack_size(16 << 20).build();
    /// assert_eq!(pool.spawn_fn(|| 1).join().unwrap(), 1);
    /// ```
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = Some(bytes);
        self
    }

    /// The most threads [`Pool::spawn_blocking`] runs at once (default 64); further
    /// blocking jobs queue until one finishes.
    ///
    /// # Panics
    /// `build` panics if this is zero.
    ///
    /// ```
    /// let pool = braid::exec::Pool::builder().max_blocking_threads(2).build();
    /// let reads: Vec<_> = (0..4).map(|_| pool.spawn_blocking(|| std::fs::metadata(".").is_ok())).collect();
    /// assert!(reads.into_iter().all(|read| read.join().unwrap()));
    /// ```
    pub fn max_blocking_threads(mut self, threads: usize) -> Self {
        self.max_blocking_threads = threads;
        self
    }

    /// What a task's unhandled panic does to the pool (default
    /// [`UnhandledPanic::Ignore`]: it goes to the task's `JoinHandle` alone). With
    /// [`UnhandledPanic::ShutdownRuntime`] the first one fails the pool: every other
    /// unfinished task is cancelled, new spawns are refused, and `block_on` (those under
    /// way and any later), `shutdown` and `shutdown_timeout` panic with the task's report.
    /// See [`UnhandledPanic`] for which panics count.
    ///
    /// ```
    /// use braid::exec::{Pool, UnhandledPanic};
    /// use std::panic::{catch_unwind, AssertUnwindSafe};
    ///
    /// let pool = Pool::builder()
    ///     .workers(2)
    ///     .unhandled_panic(UnhandledPanic::ShutdownRuntime)
    ///     .build();
    /// # let quiet = std::panic::take_hook();
    /// # std::panic::set_hook(Box::new(|_| {}));
    /// pool.spawn(async { panic!("checksum mismatch") }); // detached: nobody awaits it
    /// // A block_on that would wait forever stops with the task's report instead.
    /// let failed = catch_unwind(AssertUnwindSafe(|| pool.block_on(std::future::pending::<()>())));
    /// # std::panic::set_hook(quiet);
    /// let report = failed.unwrap_err();
    /// let report = report.downcast_ref::<String>().unwrap();
    /// assert!(report.contains("panicked: checksum mismatch"), "{report}");
    /// // The pool refuses new work from now on.
    /// assert!(pool.spawn(async { 1 }).join().unwrap_err().is_cancelled());
    /// ```
    pub fn unhandled_panic(mut self, policy: UnhandledPanic) -> Self {
        self.unhandled_panic = policy;
        self
    }

    /// Starts the pool's workers.
    ///
    /// # Panics
    /// If the number of workers or of blocking threads is zero, or a thread cannot start.
    ///
    /// ```
    /// let pool = braid::exec::Pool::builder().build(); // one worker per core
    /// assert!(pool.workers() >= 1);
    /// ```
    #[track_caller]
    pub fn build(self) -> Pool {
        let workers = self.workers.unwrap_or_else(default_workers);
        assert!(
            workers > 0,
            "a Pool needs at least one worker thread (workers = 0 was asked for)"
        );
        assert!(
            self.max_blocking_threads > 0,
            "a Pool needs at least one blocking thread (max_blocking_threads = 0 was asked for)"
        );
        // loom models a fixed number of threads, the model's own included; past it loom
        // fails with a bare assertion deep in its scheduler.
        assert!(
            !cfg!(loom) || workers < crate::sync::MAX_THREADS,
            "under loom a Pool of {workers} workers needs {} threads with the model's \
             own, and loom models at most {}: use Pool::new(1) or Pool::new(2) in a model",
            workers + 1,
            crate::sync::MAX_THREADS,
        );
        let (shared, locals) =
            Shared::new(workers, self.max_blocking_threads, self.unhandled_panic);
        let shared = Arc::new(shared);
        let threads = locals
            .into_iter()
            .enumerate()
            .map(|(index, local)| {
                let shared = shared.clone();
                let mut builder =
                    thread::Builder::new().name(format!("{}-{index}", self.thread_name));
                if let Some(bytes) = self.stack_size {
                    builder = builder.stack_size(bytes);
                }
                builder
                    .spawn(move || worker::run(shared, index, local))
                    .unwrap_or_else(|error| panic!("braid: cannot start worker {index}: {error}"))
            })
            .collect();
        Pool { shared, threads }
    }
}

/// One worker per core; under loom one worker, the smallest model of a pool (loom's
/// threads are simulated, and each one multiplies what a model explores).
fn default_workers() -> usize {
    if cfg!(loom) {
        return 1;
    }
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// A closure as a future that finishes on its first poll.
struct RunOnce<F>(Option<F>);

impl<F> Unpin for RunOnce<F> {}

impl<F: FnOnce() -> T, T> Future for RunOnce<F> {
    type Output = T;
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<T> {
        let f = self.0.take().expect("a closure task runs once");
        std::task::Poll::Ready(f())
    }
}

/// `Pool::spawn_blocking` on the pool `shared`, for a spawn at `at` in the user's code.
pub(crate) fn spawn_blocking_on<T: Send + 'static>(
    shared: &Arc<Shared>,
    f: impl FnOnce() -> T + Send + 'static,
    at: &'static Location<'static>,
) -> JoinHandle<T> {
    let (entry, listed, handle) =
        task::new_task(RunOnce(Some(f)), BlockingSchedule(shared.clone()), at);
    match shared.tasks.insert(listed) {
        Ok(()) => Shared::push_blocking(shared, entry),
        Err(listed) => listed.shutdown(),
    }
    handle
}

/// Spawns `future` on `shared`'s workers, for a spawn at `at` in the user's code.
pub(crate) fn spawn_on<F>(
    shared: &Arc<Shared>,
    future: F,
    at: &'static Location<'static>,
) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let (entry, listed, handle) = task::new_task(future, shared.clone(), at);
    match shared.tasks.insert(listed) {
        Ok(()) => shared.push(Job::Task(entry), Push::New),
        // The pool is shutting down: the task is cancelled before it starts.
        Err(listed) => listed.shutdown(),
    }
    handle
}

impl Pool {
    /// A pool with `workers` worker threads.
    ///
    /// # Panics
    /// If `workers` is zero.
    ///
    /// ```should_panic
    /// braid::exec::Pool::new(0); // panics: a Pool needs at least one worker thread
    /// ```
    #[track_caller]
    pub fn new(workers: usize) -> Pool {
        Pool::builder().workers(workers).build()
    }

    /// A builder to set the number of workers, thread names and stack size.
    ///
    /// ```
    /// let pool = braid::exec::Pool::builder().workers(3).build();
    /// assert_eq!(pool.workers(), 3);
    /// ```
    pub fn builder() -> PoolBuilder {
        PoolBuilder {
            workers: None,
            thread_name: "braid-worker".into(),
            stack_size: None,
            max_blocking_threads: 64,
            unhandled_panic: UnhandledPanic::Ignore,
        }
    }

    /// The number of worker threads.
    ///
    /// ```
    /// assert_eq!(braid::exec::Pool::new(2).workers(), 2);
    /// ```
    pub fn workers(&self) -> usize {
        self.shared.workers()
    }

    /// Runs `future` on the pool. Await the handle, `join()` it, or drop it to let the
    /// task run detached.
    ///
    /// ```
    /// use braid::exec::Pool;
    ///
    /// let pool = Pool::new(2);
    /// let handles: Vec<_> = (0..10u64).map(|n| pool.spawn(async move { n * n })).collect();
    /// let total: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    /// assert_eq!(total, 285);
    /// ```
    #[track_caller]
    pub fn spawn<T: Send + 'static>(
        &self,
        future: impl Future<Output = T> + Send + 'static,
    ) -> JoinHandle<T> {
        spawn_on(&self.shared, future, Location::caller())
    }

    /// Runs the closure `f` on the pool (Python's `Pool.apply_async`). It should not block
    /// for long: use [`spawn_blocking`](Self::spawn_blocking) for that.
    ///
    /// ```
    /// use braid::exec::Pool;
    ///
    /// let pool = Pool::new(2);
    /// let result = pool.spawn_fn(|| "computed on a worker".len());
    /// assert_eq!(result.join().unwrap(), 20);
    /// ```
    #[track_caller]
    pub fn spawn_fn<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> JoinHandle<T> {
        spawn_on(&self.shared, RunOnce(Some(f)), Location::caller())
    }

    /// Runs the closure `f`, which may block (file I/O, a long `sleep`, a C call), on a
    /// separate set of threads, so the workers keep running tasks meanwhile.
    ///
    /// ```
    /// use braid::exec::Pool;
    /// use std::time::Duration;
    ///
    /// let pool = Pool::new(1);
    /// let slow = pool.spawn_blocking(|| {
    ///     std::thread::sleep(Duration::from_millis(20));
    ///     "done"
    /// });
    /// // The one worker is free for other work while `slow` sleeps.
    /// assert_eq!(pool.spawn_fn(|| 1 + 1).join().unwrap(), 2);
    /// assert_eq!(slow.join().unwrap(), "done");
    /// ```
    #[track_caller]
    pub fn spawn_blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> JoinHandle<T> {
        spawn_blocking_on(&self.shared, f, Location::caller())
    }

    /// Runs `future` to completion on the calling thread and returns its output. Tasks it
    /// spawns with [`exec::spawn`](super::spawn) go to this pool. Called on one of the
    /// pool's workers, it runs other work while the future waits.
    ///
    /// ```
    /// use braid::exec::{self, Pool};
    ///
    /// let pool = Pool::new(2);
    /// let total = pool.block_on(async {
    ///     let parts: Vec<_> = (0..4u32).map(|i| exec::spawn(async move { i * 10 })).collect();
    ///     let mut sum = 0;
    ///     for part in parts {
    ///         sum += part.await.unwrap();
    ///     }
    ///     sum
    /// });
    /// assert_eq!(total, 60);
    /// ```
    ///
    /// # Panics
    /// With `future`'s panic; and on a pool built with
    /// [`UnhandledPanic::ShutdownRuntime`], as soon as one of its tasks panics (see
    /// [`PoolBuilder::unhandled_panic`]).
    pub fn block_on<T>(&self, future: impl Future<Output = T>) -> T {
        let _entered = worker::enter(&self.shared);
        if self.shared.unhandled_panic != UnhandledPanic::Ignore {
            return self.block_on_watched(future);
        }
        crate::sync::block_on::block_on(future)
    }

    /// `block_on` on a pool that fails on a task's panic. Out of line, so that the
    /// default path stays small enough to be inlined into its caller (measured on 100k
    /// `block_on`s of spawned tasks: ~29 more instructions each when it was not).
    #[inline(never)]
    fn block_on_watched<T>(&self, future: impl Future<Output = T>) -> T {
        let future = std::pin::pin!(future);
        crate::sync::block_on::block_on(Watched {
            future,
            failure: &self.shared.failure,
            watcher: None,
        })
    }

    /// Runs `a` and `b`, potentially in parallel, and returns both results (rayon's
    /// `join`). Called from outside the pool, the pair runs on a worker while this thread
    /// waits. A panic in either is re-raised after both have finished.
    ///
    /// ```
    /// use braid::exec::{self, Pool};
    ///
    /// fn fib(n: u64) -> u64 {
    ///     if n < 2 {
    ///         return n;
    ///     }
    ///     let (a, b) = exec::join(|| fib(n - 1), || fib(n - 2));
    ///     a + b
    /// }
    ///
    /// let pool = Pool::new(2);
    /// assert_eq!(pool.join(|| fib(20), || fib(10)), (6765, 55));
    /// ```
    pub fn join<A, B, RA, RB>(&self, a: A, b: B) -> (RA, RB)
    where
        A: FnOnce() -> RA + Send,
        B: FnOnce() -> RB + Send,
        RA: Send,
        RB: Send,
    {
        self.install(|| super::join::join_anywhere(a, b))
    }

    /// Runs `f` with a [`Scope`] whose spawned closures may borrow from the caller, and
    /// returns once every one of them has finished. A panic in `f` or in a spawned
    /// closure is re-raised after all of them finished.
    ///
    /// ```
    /// use braid::exec::Pool;
    ///
    /// let pool = Pool::new(2);
    /// let mut counts = vec![0usize; 4];
    /// let words = ["apple", "kiwi", "banana", "fig"];
    /// pool.scope(|s| {
    ///     for (count, word) in counts.iter_mut().zip(words) {
    ///         s.spawn(move |_| *count = word.len());
    ///     }
    /// });
    /// assert_eq!(counts, [5, 4, 6, 3]);
    /// ```
    pub fn scope<'env, R>(&self, f: impl for<'s> FnOnce(&'s Scope<'s, 'env>) -> R) -> R {
        scope::scope(&self.shared, f)
    }

    /// Applies `f` to every item on the pool and returns the results in the items' order
    /// (Python's `Pool.map`). Items are processed in chunks, a few per worker.
    ///
    /// # Panics
    /// If `f` panics for an item, every other item is still mapped, and then `map`
    /// re-raises the panic of the first item (in the items' order) that panicked; the
    /// other results are dropped. To keep them, use [`try_map`](Self::try_map).
    ///
    /// ```
    /// use braid::exec::Pool;
    ///
    /// let pool = Pool::new(2);
    /// let lengths = pool.map(vec!["a", "bb", "ccc"], |s| s.len());
    /// assert_eq!(lengths, [1, 2, 3]);
    /// ```
    #[track_caller]
    pub fn map<I, F, R>(&self, items: I, f: F) -> Vec<R>
    where
        I: IntoIterator,
        I::Item: Send,
        F: Fn(I::Item) -> R + Sync + Send,
        R: Send,
    {
        let results = self.try_map(items, f);
        results
            .into_iter()
            .map(|result| result.unwrap_or_else(|error| panic::resume_unwind(error.into_panic())))
            .collect()
    }

    /// Like [`map`](Self::map), but each item's result on its own: `Ok` with what `f`
    /// returned, or `Err` with a [`JoinError`] holding its panic. Order kept; a panic in
    /// one item loses nothing of the others.
    ///
    /// ```
    /// use braid::exec::Pool;
    ///
    /// let pool = Pool::new(2);
    /// # let quiet = std::panic::take_hook();
    /// # std::panic::set_hook(Box::new(|_| {}));
    /// let parsed = pool.try_map(["1", "x", "3"], |s| s.parse::<u32>().expect("a number"));
    /// # std::panic::set_hook(quiet);
    /// assert_eq!(parsed[0].as_ref().ok(), Some(&1));
    /// assert!(parsed[1].as_ref().unwrap_err().is_panic());
    /// assert_eq!(parsed[2].as_ref().ok(), Some(&3));
    /// ```
    #[track_caller]
    pub fn try_map<I, F, R>(&self, items: I, f: F) -> Vec<Result<R, JoinError>>
    where
        I: IntoIterator,
        I::Item: Send,
        F: Fn(I::Item) -> R + Sync + Send,
        R: Send,
    {
        let at = Location::caller();
        let items: Vec<I::Item> = items.into_iter().collect();
        let chunk = (items.len() / (self.workers() * 4)).max(1);
        let mut out: Vec<Option<Result<R, JoinError>>> =
            std::iter::repeat_with(|| None).take(items.len()).collect();
        let f = &f;
        self.scope(|s| {
            let mut items = items.into_iter();
            for slots in out.chunks_mut(chunk) {
                let batch: Vec<I::Item> = items.by_ref().take(slots.len()).collect();
                s.spawn(move |_| {
                    for (slot, item) in slots.iter_mut().zip(batch) {
                        // `f` is shared, not mutated, and a panic leaves only this item's
                        // slot unwritten (it becomes the error), so nothing half-updated
                        // is observed after the unwind.
                        let result = panic::catch_unwind(AssertUnwindSafe(|| f(item)));
                        *slot = Some(result.map_err(|panic| JoinError::panic(panic, at)));
                    }
                });
            }
        });
        out.into_iter()
            .map(|r| r.expect("every item was mapped"))
            .collect()
    }

    /// Runs `f` on one of this pool's workers (here, if this thread is one) and waits.
    /// A worker of another pool blocks here like any other thread.
    fn install<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        let (waiter, own_worker) = worker::waiter_for(&self.shared);
        if own_worker {
            return f();
        }
        let job = StackJob::new(f, waiter.clone());
        self.shared.push(Job::Stack(job.as_job_ref()), Push::New);
        worker::wait_until(&waiter, &|| job.latch.is_set());
        match job.take_result() {
            Ok(value) => value,
            Err(panic) => resume_unwind(panic),
        }
    }
}

impl Default for Pool {
    /// A pool with one worker per available core (one worker under `--cfg loom`).
    ///
    /// ```
    /// let pool = braid::exec::Pool::default();
    /// assert!(pool.workers() >= 1);
    /// ```
    fn default() -> Pool {
        Pool::builder().build()
    }
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("workers", &self.workers())
            .finish_non_exhaustive()
    }
}

impl Pool {
    /// Shuts the pool down gracefully (Python's `executor.shutdown(wait=True)`): stops
    /// accepting tasks, waits for every task (queued, running, sleeping, blocking) to
    /// finish, then joins the threads. A task that never finishes makes this wait
    /// forever; [`shutdown_timeout`](Self::shutdown_timeout) puts a bound on it.
    ///
    /// Once shutdown has begun, a spawn on this pool (`exec::spawn` from one of its tasks,
    /// `spawn_blocking`) is refused: its handle reports a cancelled `JoinError` at once.
    ///
    /// # Panics
    /// When called on one of the pool's own threads (a worker, or a thread running its
    /// `spawn_blocking` closures), which could never finish: the calling task panics and
    /// the pool winds down without waiting (see [the misuse rules](Pool#misuse-from-inside-the-pool)).
    /// And on a pool built with [`UnhandledPanic::ShutdownRuntime`] whose task panicked,
    /// once the pool is down, with that task's report.
    ///
    /// ```
    /// use braid::exec::Pool;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    ///
    /// let pool = Pool::new(2);
    /// let done = Arc::new(AtomicUsize::new(0));
    /// for _ in 0..100 {
    ///     let done = done.clone();
    ///     pool.spawn_fn(move || done.fetch_add(1, Ordering::Relaxed)); // handles dropped
    /// }
    /// pool.shutdown();
    /// assert_eq!(done.load(Ordering::Relaxed), 100); // every task ran
    /// ```
    pub fn shutdown(self) {
        self.drain(None);
    }

    /// Shuts the pool down, waiting at most `timeout` (tokio's `shutdown_timeout`, and
    /// Python's `shutdown(cancel_futures=True)` once the time is up): stops accepting
    /// tasks, lets queued and running tasks finish until the deadline, then cancels the
    /// rest (their handles report [`is_cancelled`](crate::JoinError::is_cancelled)) and
    /// joins the threads. Returns whether every task finished in time.
    ///
    /// A closure already running when the time is up cannot be interrupted (see
    /// [`JoinHandle::abort`]); the threads are joined after it returns. Spawns after
    /// shutdown began are refused as in [`shutdown`](Self::shutdown).
    ///
    /// # Panics
    /// When called on one of the pool's own threads, or after a task's panic failed the
    /// pool, as `shutdown`.
    ///
    /// ```
    /// use braid::exec::Pool;
    /// use braid::time::sleep;
    /// use std::time::Duration;
    ///
    /// let pool = Pool::new(2);
    /// let quick = pool.spawn(sleep(Duration::from_millis(1)));
    /// let stuck = pool.spawn(std::future::pending::<()>());
    /// assert!(!pool.shutdown_timeout(Duration::from_millis(50))); // `stuck` never ends
    /// assert!(quick.join().is_ok());
    /// assert!(stuck.join().unwrap_err().is_cancelled());
    /// ```
    pub fn shutdown_timeout(self, timeout: Duration) -> bool {
        self.drain(Instant::now().checked_add(timeout))
    }

    /// Refuses new tasks, waits for the listed ones until `deadline`, then drops the pool
    /// (which cancels what is left). Returns whether all finished.
    fn drain(self, deadline: Option<Instant>) -> bool {
        // The panic drops `self` on this thread, which winds the pool down without
        // joining it (see `Drop`).
        assert!(
            !worker::is_own_thread(&self.shared),
            "Pool::shutdown called on one of the pool's own threads (a worker or a blocking \
             thread), which would wait for itself; shut the pool down from outside it"
        );
        self.shared.tasks.refuse_new();
        let finished = self.shared.tasks.wait_until_empty(deadline);
        let failure = self.shared.failure.report();
        drop(self);
        if let Some(report) = failure {
            panic!(
                "braid: Pool::shutdown: a task of this pool panicked, and the pool fails on \
                 a task's panic (UnhandledPanic::ShutdownRuntime): {report}"
            );
        }
        finished
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        let shared = &self.shared;
        // On one of the pool's own threads nothing is joined (see "Misuse from inside the
        // pool"): this thread cannot join itself, and another thread may be waiting for
        // the job running here to finish. The threads hold the shared state, and exit
        // once they see the flag below.
        let join = !worker::is_own_thread(shared);
        // Release: workers that see the flag see everything before it.
        shared.shutdown.store(true, Ordering::Release);
        // Cancel every unfinished task now: idle ones here, running ones after their
        // current poll. Tasks blocked on a `join()` of a cancelled task get their error
        // and finish, so every worker reaches its loop's exit.
        for task in shared.tasks.close() {
            task.shutdown();
        }
        for parker in shared.parkers.iter() {
            parker.unpark();
        }
        for thread in self.threads.drain(..) {
            // A worker does not panic (tasks' panics are caught); if it did, the pool is
            // being torn down anyway.
            if join {
                let _ = thread.join();
            }
        }
        shared.blocking.shutdown(join);
        drop(shared.injector.drain());
    }
}
