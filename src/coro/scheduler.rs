//! A single-threaded, round-robin scheduler of cooperative tasks (Beazley's generator
//! scheduler, with futures): ready tasks run in FIFO order and a woken task joins the tail.
//! A [`Schedule`] other than round robin picks among the ready tasks instead (for tests).
//! Tasks may be `!Send`. When nothing can run, nothing sleeps on a timer, and no waker of a
//! blocked task is held outside the scheduler, `run` reports a [`Deadlock`] instead of
//! hanging. A task's panic goes to its `JoinHandle`, or, under
//! [`UnhandledPanic::ShutdownRuntime`] (the choice of `with_schedule`, for tests), fails
//! the scheduler: `run` / `block_on` panic with the task's report right after its poll.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::Location;
use std::pin::{pin, Pin};
use std::ptr::{self, NonNull};
use std::task::{Context, Poll};
use std::time::Instant;

use super::deadlock::{BlockedTask, Deadlock, WaitsOn};
use super::schedule::{Picker, Schedule};
use crate::exec::UnhandledPanic;
use crate::sync::atomic::{fence, AtomicBool, Ordering};
use crate::sync::census::{self, Census};
use crate::sync::park::Parker;
use crate::sync::{lock, thread_local, Arc, CountedWaker, Mutex};
use crate::task::{self, Header, JoinError, JoinHandle, TaskId, TaskList, TaskRef};
use crate::time::{self, Timer};

/// What the tasks' wakers reach: the inbox for tasks woken on other threads and the way
/// to wake the scheduler's thread. `Send + Sync`, so a waker may be used from any thread.
struct Shared {
    /// Tasks woken from other threads (or on this one while the scheduler is not
    /// running); moved to the ready queue once per round.
    inbox: Mutex<VecDeque<TaskRef>>,
    /// Set while the scheduler's thread sleeps (or is about to): a wake must unpark it.
    sleeping: AtomicBool,
    parker: Parker,
    tasks: TaskList,
}

impl task::Schedule for Arc<Shared> {
    const BLOCKING_JOIN: bool = false;
    // A yielding task is queued on this thread and run here; `Drop` runs queued entries.
    const KEEP_RUNNING_ON_YIELD: bool = true;

    fn schedule(&self, task: TaskRef) {
        // A wake on the scheduler's own thread while it runs (a task waking itself or
        // another task) goes straight to the ready queue: no lock, no atomics.
        let current = CURRENT.with(|cell| cell.get());
        // SAFETY: `CURRENT` points to the scheduler whose `run`/`block_on` is on this
        // thread's stack, and is reset before that call returns.
        if let Some(scheduler) = unsafe { current.as_ref() } {
            if Arc::ptr_eq(&scheduler.shared, self) {
                return scheduler.ready.borrow_mut().push_back(task);
            }
        }
        lock(&self.inbox).push_back(task);
        // Read after the push's unlock: see `Scheduler::sleep` for why this cannot miss.
        if self.sleeping.load(Ordering::SeqCst) {
            self.parker.unpark();
        }
    }

    fn release(&self, task: NonNull<Header>) -> Option<TaskRef> {
        self.tasks.remove(task)
    }

    fn task_panicked(&self, error: &JoinError) {
        // A task's poll, and its completion, happen on the scheduler's thread inside its
        // `run`/`block_on` (or in its `Drop`, where there is nothing left to fail).
        let current = CURRENT.with(|cell| cell.get());
        // SAFETY: as in `schedule` above.
        let Some(scheduler) = (unsafe { current.as_ref() }) else {
            return;
        };
        if Arc::ptr_eq(&scheduler.shared, self)
            && scheduler.unhandled_panic == UnhandledPanic::ShutdownRuntime
        {
            if let Ok(mut panicked) = scheduler.panicked.try_borrow_mut() {
                // The first panic is the one to report.
                panicked.get_or_insert_with(|| error.to_string());
                scheduler.failed.set(true);
            }
        }
    }
}

/// A single-threaded round-robin scheduler of cooperative tasks.
///
/// ```
/// use braid::coro::{self, yield_now, Scheduler};
/// use std::cell::RefCell;
/// use std::rc::Rc;
///
/// // Beazley's countdowns: three tasks taking turns.
/// let log = Rc::new(RefCell::new(Vec::new()));
/// let mut scheduler = Scheduler::new();
/// for start in [3, 6] {
///     let log = log.clone();
///     scheduler.spawn(async move {
///         for n in (start - 2..=start).rev() {
///             log.borrow_mut().push(n);
///             yield_now().await;
///         }
///     });
/// }
/// scheduler.run().unwrap();
/// assert_eq!(*log.borrow(), [3, 6, 2, 5, 1, 4]);
/// ```
pub struct Scheduler {
    shared: Arc<Shared>,
    /// Tasks ready to run, in FIFO order. Only this thread touches it, and never holds
    /// the borrow while a task runs or a waker fires.
    ready: RefCell<VecDeque<TaskRef>>,
    /// Its tasks' sleeps (see `braid::time`), fired after each round.
    timer: Arc<Timer>,
    /// Which ready task runs next (see `schedule.rs`); `None` for round robin, whose
    /// pick is always the round's next task (`next_in_round` takes the FIFO path).
    picker: Option<RefCell<Picker>>,
    schedule: Schedule,
    /// For an isolated scheduler: which of its tasks' wakers STM waits hold (see
    /// `sync/census.rs`); `None` by default.
    census: Option<Arc<Census>>,
    /// What a task's panic does (see `exec/unhandled.rs`).
    unhandled_panic: UnhandledPanic,
    /// Under `ShutdownRuntime`: set by a task's panic (with its report), looked at by
    /// `drive` after every task it runs.
    failed: Cell<bool>,
    panicked: RefCell<Option<String>>,
    /// Tasks are polled on this thread only.
    _not_send: PhantomData<*const ()>,
}

thread_local! {
    /// The scheduler running on this thread, for `coro::spawn`.
    static CURRENT: Cell<*const Scheduler> = const { Cell::new(ptr::null()) };
}

impl Default for Scheduler {
    fn default() -> Self {
        Scheduler::new()
    }
}

impl Scheduler {
    /// An empty scheduler.
    ///
    /// ```
    /// let mut scheduler = braid::coro::Scheduler::new();
    /// assert!(scheduler.run().is_ok()); // nothing to do
    /// ```
    pub fn new() -> Scheduler {
        Scheduler::with_schedule(Schedule::round_robin()).unhandled_panic(UnhandledPanic::Ignore)
    }

    /// An empty scheduler that runs ready tasks in the order `schedule` picks (see
    /// [`Schedule`]), to test cooperative code against other interleavings than round
    /// robin. [`braid::testing::explore`](crate::testing::explore) runs a test under many.
    ///
    /// Made for tests, it fails on a task's panic
    /// ([`UnhandledPanic::ShutdownRuntime`]): a panic in any of its tasks makes `run` or
    /// `block_on` panic with the task's message, where it was spawned, and the schedule
    /// with how to replay it, even when nobody awaits the task's handle (an assertion in
    /// a detached task would otherwise pass unseen). A test that expects a task to panic
    /// sets [`UnhandledPanic::Ignore`] (see [`set_unhandled_panic`](Self::set_unhandled_panic)).
    ///
    /// ```
    /// use braid::coro::{yield_now, Schedule, Scheduler};
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    ///
    /// let first = Rc::new(Cell::new(None));
    /// let mut scheduler = Scheduler::with_schedule(Schedule::from_choices([1]));
    /// for name in ["a", "b"] {
    ///     let first = first.clone();
    ///     scheduler.spawn(async move {
    ///         if first.get().is_none() {
    ///             first.set(Some(name));
    ///         }
    ///         yield_now().await;
    ///     });
    /// }
    /// scheduler.run().unwrap();
    /// assert_eq!(first.get(), Some("b")); // round robin would have run "a" first
    /// ```
    pub fn with_schedule(schedule: Schedule) -> Scheduler {
        Scheduler {
            shared: Arc::new(Shared {
                inbox: Mutex::new(VecDeque::new()),
                sleeping: AtomicBool::new(false),
                parker: Parker::new(),
                tasks: TaskList::new(),
            }),
            ready: RefCell::new(VecDeque::new()),
            timer: Arc::new(Timer::new()),
            picker: (!schedule.is_round_robin()).then(|| RefCell::new(schedule.picker())),
            schedule,
            census: None,
            unhandled_panic: UnhandledPanic::ShutdownRuntime,
            failed: Cell::new(false),
            panicked: RefCell::new(None),
            _not_send: PhantomData,
        }
    }

    /// This scheduler, with `policy` for its tasks' panics: [`UnhandledPanic::Ignore`]
    /// (the default of [`new`](Self::new)) hands a panic to the task's handle alone;
    /// [`UnhandledPanic::ShutdownRuntime`] (the default of
    /// [`with_schedule`](Self::with_schedule)) fails the scheduler at a task's panic:
    /// right after that task's poll it cancels every other task (destructors run, handles
    /// report cancelled; later spawns are cancelled at once), and `run` / `block_on`
    /// panic with the task's report: its message, where it was spawned, and the schedule
    /// with how to replay it. [`UnhandledPanic`] says which panics count.
    ///
    /// ```
    /// use braid::coro::{self, Scheduler};
    /// use braid::exec::UnhandledPanic;
    /// use std::panic::{catch_unwind, AssertUnwindSafe};
    ///
    /// let mut scheduler = Scheduler::new().unhandled_panic(UnhandledPanic::ShutdownRuntime);
    /// # let quiet = std::panic::take_hook();
    /// # std::panic::set_hook(Box::new(|_| {}));
    /// let failed = catch_unwind(AssertUnwindSafe(|| {
    ///     scheduler.block_on(async {
    ///         coro::spawn(async { assert!(1 + 1 == 3, "arithmetic is broken") }); // detached
    ///         coro::sleep(std::time::Duration::from_secs(3600)).await; // never reached
    ///     })
    /// }));
    /// # std::panic::set_hook(quiet);
    /// let report = failed.unwrap_err();
    /// let report = report.downcast_ref::<String>().unwrap();
    /// assert!(report.contains("panicked: arithmetic is broken"), "{report}");
    /// assert!(report.contains(file!()), "names the spawn site: {report}");
    /// ```
    pub fn unhandled_panic(mut self, policy: UnhandledPanic) -> Scheduler {
        self.set_unhandled_panic(policy);
        self
    }

    /// Sets what a task's panic does, as [`unhandled_panic`](Self::unhandled_panic) does,
    /// on a scheduler you hold by reference (the one
    /// [`explore`](crate::testing::explore) hands you).
    ///
    /// ```
    /// use braid::exec::UnhandledPanic;
    /// use braid::testing::explore;
    ///
    /// # let quiet = std::panic::take_hook();
    /// # std::panic::set_hook(Box::new(|_| {}));
    /// explore(5, |scheduler| {
    ///     // This test expects the task to panic and checks it does.
    ///     scheduler.set_unhandled_panic(UnhandledPanic::Ignore);
    ///     let task = scheduler.spawn(async { panic!("expected") });
    ///     let error = scheduler.block_on(task).unwrap().unwrap_err();
    ///     assert_eq!(error.panic_message(), Some("expected"));
    /// });
    /// # std::panic::set_hook(quiet);
    /// ```
    pub fn set_unhandled_panic(&mut self, policy: UnhandledPanic) {
        self.unhandled_panic = policy;
    }

    /// What this scheduler does when one of its tasks panics.
    ///
    /// ```
    /// use braid::coro::{Schedule, Scheduler};
    /// use braid::exec::UnhandledPanic;
    ///
    /// assert_eq!(Scheduler::new().unhandled_panic_policy(), UnhandledPanic::Ignore);
    /// let seeded = Scheduler::with_schedule(Schedule::from_seed(1));
    /// assert_eq!(seeded.unhandled_panic_policy(), UnhandledPanic::ShutdownRuntime);
    /// ```
    pub fn unhandled_panic_policy(&self) -> UnhandledPanic {
        self.unhandled_panic
    }

    /// This scheduler, declared isolated: no thread outside it will commit to the `TVar`s
    /// its tasks wait on. Then a task waiting in `retry` (through
    /// [`atomically_async`](crate::stm::atomically_async)) can only be woken by another
    /// task of this scheduler, so when every task is blocked and no timer is pending,
    /// `run` and `block_on` return [`Deadlock`] at once instead of waiting for a commit
    /// that cannot come (GHC's `BlockedIndefinitelyOnSTM`). Wake-ups between its own tasks
    /// work as always. Composes with [`with_schedule`](Self::with_schedule);
    /// [`braid::testing::explore`](crate::testing::explore) runs isolated schedulers.
    ///
    /// If a thread outside does commit to such a variable, a task whose wake-up was
    /// counted on may be reported as deadlocked while that commit is still to come: the
    /// declaration is the caller's promise.
    ///
    /// ```
    /// use braid::coro::Scheduler;
    /// use braid::stm::{atomically_async, check, TVar};
    ///
    /// let (ping, pong) = (TVar::new(false), TVar::new(false));
    /// let mut scheduler = Scheduler::new().isolated();
    /// for (wait_for, then_set) in [(ping.clone(), pong.clone()), (pong, ping)] {
    ///     // Each waits for the other to go first: neither ever will.
    ///     scheduler.spawn(async move {
    ///         atomically_async(|tx| check(wait_for.read(tx)?)).await;
    ///         atomically_async(|tx| then_set.write(tx, true)).await;
    ///     });
    /// }
    /// let deadlock = scheduler.run().unwrap_err();
    /// assert_eq!(deadlock.waiting_on_transactions(), 2);
    /// ```
    pub fn isolated(mut self) -> Scheduler {
        self.census = Some(Arc::new(Census::new()));
        self
    }

    /// Whether this scheduler was declared [`isolated`](Self::isolated).
    ///
    /// ```
    /// assert!(braid::coro::Scheduler::new().isolated().is_isolated());
    /// assert!(!braid::coro::Scheduler::new().is_isolated());
    /// ```
    pub fn is_isolated(&self) -> bool {
        self.census.is_some()
    }

    /// The schedule this scheduler follows.
    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    /// Adds a task; it runs when `run` or `block_on` drives the scheduler. The task may
    /// hold `!Send` values (`Rc`, `RefCell`).
    ///
    /// ```
    /// use braid::coro::Scheduler;
    /// use std::rc::Rc;
    ///
    /// let mut scheduler = Scheduler::new();
    /// let shared = Rc::new(5); // not Send: fine on one thread
    /// let task = scheduler.spawn(async move { *shared * 2 });
    /// assert_eq!(scheduler.block_on(task).unwrap().unwrap(), 10);
    /// ```
    #[track_caller]
    pub fn spawn<T: 'static>(&self, future: impl Future<Output = T> + 'static) -> JoinHandle<T> {
        self.spawn_at(future, Location::caller())
    }

    /// `spawn`, for a spawn at `at` in the user's code.
    fn spawn_at<T: 'static>(
        &self,
        future: impl Future<Output = T> + 'static,
        at: &'static Location<'static>,
    ) -> JoinHandle<T> {
        let (entry, listed, handle) = task::new_task(future, self.shared.clone(), at);
        match self.shared.tasks.insert(listed) {
            Ok(()) => self.ready.borrow_mut().push_back(entry),
            Err(listed) => listed.shutdown(),
        }
        handle
    }

    /// Runs tasks until every task has finished.
    ///
    /// # Panics
    /// Under [`UnhandledPanic::ShutdownRuntime`] (see
    /// [`unhandled_panic`](Self::unhandled_panic)), right after a task panics.
    ///
    /// # Errors
    /// [`Deadlock`] when tasks remain but none can ever run again. Exactly: no task is
    /// queued or running, no timer is pending, and every waker of every blocked task sits
    /// in the join slot of another blocked task of this scheduler (where only that task's
    /// completion could fire it). A waker held anywhere else (a `TVar`'s waiters, a
    /// channel, another thread) keeps `run` waiting, since a wake-up may still come;
    /// except that a scheduler declared [`isolated`](Self::isolated) counts a task
    /// waiting in a transaction's `retry` as blocked, since only its own tasks commit.
    ///
    /// A [`JoinHandle`](crate::JoinHandle) is not a waker. A handle held on another
    /// thread could still abort a blocked task, but nothing tells a handle that will be
    /// used from one that never will (a handle dropped by a blocked task, or kept "just
    /// in case"), and waiting for every live handle would turn most deadlocks back into
    /// hangs; so its task counts as blocked. To cancel a blocked task from another thread,
    /// send the request through something the task waits on (a `TVar` it retries on, a
    /// channel): its waker keeps `run` going until the request arrives.
    ///
    /// ```
    /// use braid::coro::{self, Scheduler};
    ///
    /// let mut scheduler = Scheduler::new();
    /// scheduler.spawn(async {
    ///     let child = coro::spawn(async { 2 + 2 });
    ///     assert_eq!(child.await.unwrap(), 4);
    /// });
    /// scheduler.run().unwrap();
    /// ```
    pub fn run(&mut self) -> Result<(), Deadlock> {
        self.drive(None::<Pin<&mut std::future::Pending<()>>>)
            .map(|_| ())
    }

    /// Runs `future` on this thread, with the scheduler's tasks, until it completes.
    ///
    /// # Errors
    /// [`Deadlock`] when `future` and every remaining task are blocked for good.
    ///
    /// # Panics
    /// With `future`'s panic; and under [`UnhandledPanic::ShutdownRuntime`] (see
    /// [`unhandled_panic`](Self::unhandled_panic)), right after a task panics.
    ///
    /// ```
    /// use braid::coro::{sleep, Scheduler};
    /// use std::time::Duration;
    ///
    /// let mut scheduler = Scheduler::new();
    /// let waited = scheduler.block_on(async {
    ///     sleep(Duration::from_millis(5)).await;
    ///     "woke up"
    /// });
    /// assert_eq!(waited.unwrap(), "woke up");
    /// ```
    pub fn block_on<T>(&mut self, future: impl Future<Output = T>) -> Result<T, Deadlock> {
        let future = pin!(future);
        self.drive(Some(future))
            .map(|output| output.expect("block_on ends when its future does"))
    }

    /// Runs tasks (and `main`, if any) until `main` completes, or every task has finished
    /// when there is none. Takes `&self`: tasks reach the scheduler through `CURRENT` as
    /// `&Scheduler` while this runs, and every field is interior-mutable for that.
    fn drive<F: Future>(
        &self,
        mut main: Option<Pin<&mut F>>,
    ) -> Result<Option<F::Output>, Deadlock> {
        struct Reset(*const Scheduler);
        impl Drop for Reset {
            fn drop(&mut self) {
                CURRENT.with(|current| current.set(self.0));
            }
        }
        let _reset = Reset(CURRENT.with(|current| current.replace(self as *const Scheduler)));
        // SAFETY: `self` outlives this frame, and the guard is dropped with it.
        let _timing = unsafe { time::host_here(self) };
        // An isolated scheduler counts the wakers its tasks' STM waits hold.
        let _observing = self.census.clone().map(census::observe);
        // `block_on`'s future: polled first thing when there is one, then whenever its
        // waker sets `woken`.
        let woken = Arc::new(AtomicBool::new(main.is_some()));
        let main_waker = {
            let (woken, shared) = (woken.clone(), self.shared.clone());
            CountedWaker::new(move || {
                // A swap, not a store: the scheduler's thread only ever swaps `woken`
                // (back to false, below), so every write to it is a read-modify-write and
                // they form one chain, each reading the one before. On hardware the two
                // are the same (a SeqCst store is an `xchg` on x86), and a swap after the
                // scheduler's last swap is read by its next one either way. But loom 0.7
                // orders a plain store only partially against RMWs it never observed
                // (tokio-rs/loom#252): it let the scheduler's swap after the unpark below
                // read its own older `false` instead of this `true`, and park for good
                // (a `Scheduler::block_on` of a queue's `get_async` woken from another
                // thread, `models/loom_coro_scheduler.rs`), an outcome no real machine
                // has, since a swap reads the latest value in modification order.
                woken.swap(true, Ordering::SeqCst);
                // SeqCst fence: pairs with the one in `sleep` (store, fence, load on both
                // sides): either this sees `sleeping`, or `sleep` sees `woken`.
                fence(Ordering::SeqCst);
                if shared.sleeping.load(Ordering::SeqCst) {
                    shared.parker.unpark();
                }
            })
        };
        let mut round = VecDeque::new();
        loop {
            if let Some(future) = main.as_mut() {
                if woken.swap(false, Ordering::SeqCst) {
                    if let Poll::Ready(output) = future
                        .as_mut()
                        .poll(&mut Context::from_waker(main_waker.waker()))
                    {
                        return Ok(Some(output));
                    }
                }
            }
            // One round: the tasks ready now; those they wake run next round, unless the
            // schedule picks one of them earlier (round robin never does).
            self.take_round(&mut round);
            let ran = !round.is_empty();
            while let Some(task) = self.next_in_round(&mut round) {
                task.run();
                if self.failed.get() {
                    self.fail(&mut round);
                }
            }
            // A task can also complete outside its own poll (an abort from `block_on`'s
            // future drops an idle task's future there), and panic in a destructor.
            if self.failed.get() {
                self.fail(&mut round);
            }
            let fired = self.fire_timers();
            if ran || fired || woken.load(Ordering::SeqCst) {
                continue;
            }
            if main.is_none() && self.live_tasks() == 0 {
                return Ok(None);
            }
            if let Some(deadlock) = self.deadlock(main.is_some().then_some(&main_waker)) {
                // `block_on`'s waker may have been used and dropped on another thread since
                // the look at `woken` above: then `deadlock` counted no clone of it, and
                // what it saw is a wake, not a deadlock (100,000 `block_on`s of a future
                // woken from another thread reported one such deadlock). The waker sets
                // `woken` before its clone's reference goes (a Release decrement); `clones`
                // read that count, and this Acquire fence orders it before the load below.
                // (Loom cannot see this race: the count is a `std` Arc's.)
                fence(Ordering::Acquire);
                if !woken.load(Ordering::SeqCst) {
                    return Err(deadlock);
                }
                continue;
            }
            self.sleep(&woken);
        }
    }

    /// A task panicked under `UnhandledPanic::ShutdownRuntime`: cancels every other task
    /// and panics with its report.
    #[cold]
    #[inline(never)]
    fn fail(&self, round: &mut VecDeque<TaskRef>) -> ! {
        // The round's tasks still to run go back to the ready queue, where shutting down
        // runs the entries of those that yielded (see `shut_down`).
        self.ready.borrow_mut().extend(round.drain(..));
        self.shut_down();
        self.failed.set(false);
        let report = self.panicked.borrow_mut().take().unwrap_or_default();
        let isolated = if self.is_isolated() {
            ".isolated()"
        } else {
            ""
        };
        panic!(
            "{report}\nbraid::coro::Scheduler: failed on that task's panic \
             (UnhandledPanic::ShutdownRuntime) under {schedule:?}; every other task was \
             cancelled. Replay that run: Scheduler::with_schedule({schedule:?}){isolated}",
            schedule = self.schedule,
        );
    }

    /// Cancels every unfinished task, on the thread that owns their futures, and refuses
    /// new ones (they are cancelled at once).
    fn shut_down(&self) {
        for task in self.shared.tasks.close() {
            task.shutdown();
        }
        // A task that yielded waits in the ready queue still holding `RUNNING`, which
        // `shutdown` could not take: running its entry now completes it as cancelled.
        // Every other entry belongs to a finished task and is just given up. Completing
        // a task can wake another, so repeat until both queues stay empty.
        let mut round = VecDeque::new();
        loop {
            self.take_round(&mut round);
            if round.is_empty() {
                break;
            }
            while let Some(task) = round.pop_front() {
                task.run();
            }
        }
    }

    /// The task to run next in this round, as the schedule picks it among the round's
    /// tasks still to run and those woken since the round began; `None` when the round
    /// has no task left (woken ones then start the next round).
    #[inline]
    fn next_in_round(&self, round: &mut VecDeque<TaskRef>) -> Option<TaskRef> {
        // Round robin's pick is always the round's next task: the plain FIFO path, with
        // no borrow and no picker (measured: through the picker, 10k tasks x 100 yields
        // took 48 ms against 31).
        let Some(picker) = self.picker.as_ref().filter(|_| !round.is_empty()) else {
            return round.pop_front();
        };
        let mut ready = self.ready.borrow_mut();
        let index = picker.borrow_mut().pick(round.len() + ready.len());
        if index < round.len() {
            round.remove(index)
        } else {
            ready.remove(index - round.len())
        }
    }

    /// Moves the tasks ready now into the empty `round`, in order: the ready queue, then
    /// those woken from elsewhere. Swapping buffers keeps both allocations.
    fn take_round(&self, round: &mut VecDeque<TaskRef>) {
        debug_assert!(round.is_empty());
        std::mem::swap(round, &mut *self.ready.borrow_mut());
        round.append(&mut lock(&self.shared.inbox));
    }

    fn live_tasks(&self) -> usize {
        let mut count = 0;
        self.shared.tasks.for_each(|_| count += 1);
        count
    }

    /// Wakes every sleep whose deadline has passed; `true` if any did.
    fn fire_timers(&self) -> bool {
        // The hint first: a round with no sleep pending reads no clock and takes no lock.
        self.timer.may_be_due() && self.timer.fire_due() > 0
    }

    /// Sleeps until a wake-up from any thread, or the next timer's deadline.
    fn sleep(&self, main_woken: &AtomicBool) {
        // A wake from another thread pushes under the inbox's lock and then reads
        // `sleeping`: if its push comes after our look at the inbox below, its read comes
        // after this store (the lock orders them) and it unparks us. (Wakes on this thread
        // cannot happen while it sleeps.)
        self.shared.sleeping.store(true, Ordering::SeqCst);
        // SeqCst fence: pairs with the one in `block_on`'s waker (see there). Task wakes
        // need none: they push under the inbox's lock, which this thread takes next.
        fence(Ordering::SeqCst);
        let idle = self.ready.borrow().is_empty()
            && lock(&self.shared.inbox).is_empty()
            && !main_woken.load(Ordering::SeqCst);
        if idle {
            match self.timer.next_deadline() {
                Some(deadline) => {
                    self.shared
                        .parker
                        .park_timeout(deadline.saturating_duration_since(Instant::now()));
                    // Loom has no clock: once a timed park returns, time has jumped to
                    // the next deadline (a virtual clock, as with tokio's paused time).
                    // Waiting for the real clock would keep a model yielding until then.
                    #[cfg(loom)]
                    self.timer.skip_to(deadline);
                }
                None => self.shared.parker.park(),
            }
        }
        self.shared.sleeping.store(false, Ordering::SeqCst);
    }

    /// `Some` when no task can ever run again: none is queued, no timer is pending, and
    /// every waker of a blocked task (and of `block_on`'s future) sits in the join slot of
    /// another blocked task of this scheduler, where only that task's completion can fire
    /// it, or, for an isolated scheduler, in an STM wait, where only a commit by one of
    /// its tasks can.
    fn deadlock<W: Fn() + Send + Sync + 'static>(
        &self,
        main: Option<&CountedWaker<W>>,
    ) -> Option<Deadlock> {
        if !self.timer.is_empty()
            || !self.ready.borrow().is_empty()
            || !lock(&self.shared.inbox).is_empty()
        {
            return None;
        }
        // Per waker (by task header address): what we know of it (see `WakerInfo`).
        let mut wakers: HashMap<*const (), WakerInfo> = HashMap::new();
        if let Some(main) = main {
            wakers.insert(
                main.key(),
                WakerInfo {
                    held: main.clones(),
                    ..WakerInfo::default()
                },
            );
        }
        let mut runnable = false;
        self.shared.tasks.for_each(|task| {
            let header = task.header();
            let state = header.state.load();
            if state.is_notified() || state.is_running() {
                runnable = true;
                return;
            }
            let waker = wakers.entry(task.ptr().as_ptr() as *const ()).or_default();
            // References: the list's, the handle's, and the rest are wakers.
            waker.held += state.ref_count() - 1 - usize::from(state.has_join_interest());
            waker.task = Some((header.id, header.spawned_at));
        });
        if runnable {
            return None;
        }
        self.shared.tasks.for_each(|task| {
            if let Some(waiter) = task.header().join_waiter() {
                if let Some(waker) = wakers.get_mut(&waiter) {
                    waker.in_join_slots += 1;
                    let id = task.header().id;
                    waker.awaits = Some(waker.awaits.map_or(id, |other| other.min(id)));
                }
            }
        });
        let mut blocked = Vec::with_capacity(wakers.len());
        for (&key, waker) in &wakers {
            let in_stm_waits = self
                .census
                .as_ref()
                .map_or(0, |census| census.waits_on(key));
            if waker.held > waker.in_join_slots + in_stm_waits {
                return None;
            }
            // `block_on`'s future is no task: it has no `task`.
            let Some((id, spawned_at)) = waker.task else {
                continue;
            };
            let waits_on = match waker.awaits {
                _ if in_stm_waits > 0 => WaitsOn::Transaction,
                Some(other) => WaitsOn::JoinHandle(other),
                None => WaitsOn::Other,
            };
            blocked.push(BlockedTask::new(id, spawned_at, waits_on));
        }
        Some(Deadlock::new(blocked))
    }
}

/// What `deadlock` learns of one waker: how many clones are held, how many of those sit
/// in join slots of this scheduler's tasks (and of which task, the earliest), and the
/// task it wakes (`None` for `block_on`'s future).
#[derive(Default)]
struct WakerInfo {
    held: usize,
    in_join_slots: usize,
    awaits: Option<TaskId>,
    task: Option<(TaskId, &'static Location<'static>)>,
}

/// A Scheduler's tasks sleep on its own timer, which its thread drives between rounds:
/// nobody else need be summoned.
impl time::Host for Scheduler {
    fn timer(&self) -> &Arc<Timer> {
        &self.timer
    }

    fn summon_driver(&self) {}
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        // Cancel unfinished tasks here, on the thread that owns their futures.
        self.shut_down();
    }
}

impl fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scheduler")
            .field("tasks", &self.live_tasks())
            .field("schedule", &self.schedule)
            .finish_non_exhaustive()
    }
}

#[track_caller]
fn with_current<R>(what: &str, f: impl FnOnce(&Scheduler) -> R) -> R {
    let current = CURRENT.with(|cell| cell.get());
    // SAFETY: `CURRENT` points to the scheduler whose `run`/`block_on` is on this thread's
    // stack, and is reset before that call returns.
    let Some(scheduler) = (unsafe { current.as_ref() }) else {
        panic!("{what} works only inside a task of a running braid::coro::Scheduler")
    };
    f(scheduler)
}

/// Spawns a task on the scheduler running this code.
///
/// # Panics
/// Outside a running [`Scheduler`].
///
/// ```
/// use braid::coro::{self, Scheduler};
///
/// let mut scheduler = Scheduler::new();
/// let total = scheduler.block_on(async {
///     let a = coro::spawn(async { 1 });
///     let b = coro::spawn(async { 2 });
///     a.await.unwrap() + b.await.unwrap()
/// });
/// assert_eq!(total.unwrap(), 3);
/// ```
#[track_caller]
pub fn spawn<T: 'static>(future: impl Future<Output = T> + 'static) -> JoinHandle<T> {
    let at = Location::caller();
    with_current("braid::coro::spawn", |scheduler| {
        scheduler.spawn_at(future, at)
    })
}
