//! A worker thread: the state every worker shares, each worker's private state, the
//! loop that finds work (own LIFO slot, own ring, the injector, other rings) and the
//! sleep protocol for when there is none.

use std::cell::{Cell, RefCell};
use std::ptr::{self, NonNull};

use super::blocking::Blocking;
use super::deque;
use super::idle::Idle;
use super::inject::Injector;
use super::job::{Job, StackJobRef, Waiter};
use super::queue::{self, Local, Stealer};
use super::unhandled::{Failure, UnhandledPanic};
use crate::sync::atomic::{AtomicBool, Ordering};
use crate::sync::block_on::{self, Helper};
use crate::sync::park::Parker;
use crate::sync::{no_block, thread, thread_local, Arc};
use crate::task::{Header, JoinError, Schedule, TaskList, TaskRef};
use crate::time::{self, Timer};

/// How often (in jobs) a worker looks at the injector before its own queue, so work
/// submitted from outside is not starved by tasks that keep waking each other.
const INJECTOR_INTERVAL: u32 = 61;

/// How many tasks in a row may run from the LIFO slot before the slot's task goes to the
/// back of the ring (two tasks waking each other would otherwise starve the rest).
const MAX_LIFO_POLLS: u32 = 3;

/// What all workers of one pool share.
pub(crate) struct Shared {
    pub(crate) stealers: Box<[Stealer<Job>]>,
    pub(crate) join_stealers: Box<[deque::Stealer]>,
    pub(crate) parkers: Box<[Arc<Parker>]>,
    pub(crate) injector: Injector<Job>,
    pub(crate) idle: Idle,
    pub(crate) tasks: TaskList,
    pub(crate) shutdown: AtomicBool,
    pub(crate) blocking: Blocking,
    /// The pool's timer: its tasks' sleeps, driven by one idle worker at a time.
    pub(crate) timer: Arc<Timer>,
    /// What a task's panic does to the pool (see `unhandled.rs`).
    pub(crate) unhandled_panic: UnhandledPanic,
    /// Whether, and why, the pool failed on a task's panic.
    pub(crate) failure: Failure,
}

/// Where a job comes from, which decides where it goes on a worker of its pool: the
/// LIFO slot, to run next while its data is in cache (the job it displaces goes to the
/// back of the ring, where others can steal it); but a task that woke itself (a yield)
/// goes to the back of the ring, behind the others.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Push {
    /// A new task or scope job.
    New,
    /// A woken task.
    Woken(NonNull<Header>),
}

impl Shared {
    /// The shared state, and each worker's own ends of its two queues.
    pub(crate) fn new(
        workers: usize,
        max_blocking: usize,
        unhandled_panic: UnhandledPanic,
    ) -> (Shared, Vec<(Local<Job>, deque::Worker)>) {
        let (locals, stealers): (Vec<_>, Vec<_>) = (0..workers).map(|_| queue::new()).unzip();
        let (joins, join_stealers): (Vec<_>, Vec<_>) = (0..workers).map(|_| deque::new()).unzip();
        let shared = Shared {
            stealers: stealers.into(),
            join_stealers: join_stealers.into(),
            parkers: (0..workers).map(|_| Arc::new(Parker::new())).collect(),
            injector: Injector::new(),
            idle: Idle::new(workers),
            tasks: TaskList::new(),
            shutdown: AtomicBool::new(false),
            blocking: Blocking::new(max_blocking),
            timer: Arc::new(Timer::new()),
            unhandled_panic,
            failure: Failure::new(),
        };
        (shared, locals.into_iter().zip(joins).collect())
    }

    pub(crate) fn workers(&self) -> usize {
        self.stealers.len()
    }

    pub(crate) fn is_shutdown(&self) -> bool {
        // Acquire: pairs with the Release store in `Pool::drop`.
        self.shutdown.load(Ordering::Acquire)
    }

    /// Wakes a sleeping worker if work was just made available and nobody is searching.
    pub(crate) fn notify_one(&self) {
        if let Some(worker) = self.idle.worker_to_notify() {
            self.parkers[worker].unpark();
        }
    }

    /// Makes sure some worker drives the timer: wakes a sleeping one, which tries to
    /// become the driver before it sleeps again. With none asleep, every worker is busy
    /// and looks at the timer between jobs, and the first to go idle drives it.
    pub(crate) fn summon_timer_driver(&self, except: Option<usize>) {
        if let Some(worker) = self.idle.any_sleeper(except) {
            self.parkers[worker].unpark();
        }
    }

    fn has_pending_work(&self) -> bool {
        !self.injector.is_empty()
            || self.stealers.iter().any(|s| !s.is_empty())
            || self.join_stealers.iter().any(|s| !s.is_empty())
    }

    /// A task of this pool panicked: under `UnhandledPanic::ShutdownRuntime` the pool
    /// fails, at the first such panic: it cancels every other unfinished task, as
    /// dropping it would, and stops the `block_on` calls under way.
    fn task_panicked(&self, error: &JoinError) {
        if self.unhandled_panic == UnhandledPanic::ShutdownRuntime {
            // Closing the list refuses new tasks and wakes a `shutdown` waiting for it to
            // empty. The panicking task is listed too; it holds `RUNNING`, so `shutdown`
            // only marks it, and it completes with its panic. The list closes before the
            // report is published: a `block_on` that sees the report (under the
            // failure's lock, taken after the close) then finds spawns refused. A second
            // panic finds the list empty and the report taken, and changes nothing.
            for task in self.tasks.close() {
                task.shutdown();
            }
            self.failure.fail(error.to_string());
        }
    }

    /// Queues a job: on this pool's worker, into its own queues; elsewhere, into the
    /// injector. Wakes a sleeper when others could help.
    pub(crate) fn push(&self, job: Job, push: Push) {
        let rejected = with_current(|worker| match worker {
            Some(worker) if ptr::eq(&*worker.shared, self) => worker.push_local(job, push),
            _ => Some(job),
        });
        if let Some(job) = rejected {
            self.injector.push(job);
            self.notify_one();
        }
    }
}

impl Schedule for Arc<Shared> {
    fn schedule(&self, task: TaskRef) {
        let header = task.ptr();
        self.push(Job::Task(task), Push::Woken(header));
    }

    fn release(&self, task: NonNull<Header>) -> Option<TaskRef> {
        self.tasks.remove(task)
    }

    fn task_panicked(&self, error: &JoinError) {
        Shared::task_panicked(self, error);
    }
}

/// A worker's private state. Borrowed only briefly: never while a job runs, since a job
/// may push to this worker.
struct Core {
    local: Local<Job>,
    /// `join`'s second halves, newest at the bottom.
    joins: deque::Worker,
    lifo: Option<Job>,
    lifo_polls: u32,
    tick: u32,
    searching: bool,
    rng: u32,
    /// The task being polled, to tell a yield (it wakes itself) from other wakes.
    running: Option<NonNull<Header>>,
}

impl Core {
    fn has_work(&self) -> bool {
        self.lifo.is_some() || !self.local.is_empty() || !self.joins.is_empty()
    }

    /// xorshift32: which victim to try first.
    fn next_rand(&mut self) -> u32 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.rng = x;
        x
    }
}

pub(crate) struct Worker {
    shared: Arc<Shared>,
    index: usize,
    core: RefCell<Core>,
}

thread_local! {
    static CURRENT: Cell<*const Worker> = const { Cell::new(ptr::null()) };
}

thread_local! {
    /// The pool whose `block_on` runs on this (non-worker) thread, for `exec::spawn`.
    static ENTERED: Cell<*const Shared> = const { Cell::new(ptr::null()) };
}

thread_local! {
    /// The pool this thread is a blocking thread of (set for the thread's whole life),
    /// so that the pool can tell it is being shut down or dropped from inside itself.
    static BLOCKING_FOR: Cell<*const Shared> = const { Cell::new(ptr::null()) };
}

/// Whether this thread is one of `shared`'s own: a worker, or a blocking thread. Such a
/// thread cannot wait for the pool to finish (it would wait for itself), nor join it.
pub(crate) fn is_own_thread(shared: &Shared) -> bool {
    with_current(|worker| worker.is_some_and(|worker| ptr::eq(&*worker.shared, shared)))
        || ptr::eq(BLOCKING_FOR.with(|cell| cell.get()), shared)
}

/// Runs `f` with this thread's worker, if it is one.
pub(crate) fn with_current<R>(f: impl FnOnce(Option<&Worker>) -> R) -> R {
    let worker = CURRENT.with(|cell| cell.get());
    // SAFETY: `CURRENT` points to the worker on this thread's stack while `run` executes,
    // and is reset before that frame ends.
    f(unsafe { worker.as_ref() })
}

/// The pool this thread works for, or whose `block_on` it is in.
pub(crate) fn current_pool() -> Option<Arc<Shared>> {
    with_current(|worker| worker.map(|w| w.shared.clone())).or_else(|| {
        let entered = ENTERED.with(|cell| cell.get());
        // SAFETY: `ENTERED` is set by `enter` from a live `Arc<Shared>` that the guard
        // keeps alive until it resets the pointer.
        unsafe { entered.as_ref() }.map(|shared| {
            // SAFETY: `shared` came from `Arc::as_ptr` of an Arc the guard holds.
            unsafe { Arc::increment_strong_count(shared) };
            unsafe { Arc::from_raw(shared) }
        })
    })
}

/// Marks this thread as running `block_on` for `shared`, until the guard drops.
pub(crate) fn enter(shared: &Arc<Shared>) -> impl Drop + '_ {
    struct Guard<'a>(*const Shared, std::marker::PhantomData<&'a ()>);
    impl Drop for Guard<'_> {
        fn drop(&mut self) {
            ENTERED.with(|entered| entered.set(self.0));
        }
    }
    let previous = ENTERED.with(|entered| entered.replace(Arc::as_ptr(shared)));
    Guard(previous, std::marker::PhantomData)
}

/// The waiter this thread is for a job of the pool `shared` (see `Waiter`), and whether
/// it is one of that pool's own workers.
pub(crate) fn waiter_for(shared: &Arc<Shared>) -> (Waiter, bool) {
    with_current(|worker| match worker {
        Some(worker) if ptr::eq(&*worker.shared, &**shared) => (worker.sibling_waiter(), true),
        Some(worker) => (Waiter::OtherPoolWorker(worker.parker().clone()), false),
        None => (Waiter::Thread(Arc::new(Parker::new())), false),
    })
}

/// Waits on this thread until `done()`, as `waiter` (this thread's, from `waiter_for`):
/// a worker, of the job's pool or another, runs its own pool's work meanwhile and sleeps
/// only when it has none; a thread outside any pool parks.
pub(crate) fn wait_until(waiter: &Waiter, done: &dyn Fn() -> bool) {
    match waiter {
        Waiter::Sibling(_) | Waiter::OtherPoolWorker(_) => with_current(|worker| {
            worker
                .expect("a worker waiter waits on its worker")
                .help_until(done)
        }),
        Waiter::Thread(parker) => {
            while !done() {
                parker.park();
            }
        }
    }
}

/// A blocking task's scheduler: its pool's blocking threads.
pub(crate) struct BlockingSchedule(pub(crate) Arc<Shared>);

impl Schedule for BlockingSchedule {
    fn schedule(&self, task: TaskRef) {
        Shared::push_blocking(&self.0, task);
    }

    fn release(&self, task: NonNull<Header>) -> Option<TaskRef> {
        self.0.tasks.remove(task)
    }

    fn task_panicked(&self, error: &JoinError) {
        self.0.task_panicked(error);
    }
}

impl Shared {
    /// Queues a blocking task on this pool's blocking threads, starting one if needed: a
    /// thread that belongs to the pool (`enter`), so that `exec::spawn` inside a blocking
    /// closure spawns on it.
    pub(crate) fn push_blocking(this: &Arc<Shared>, task: TaskRef) {
        this.blocking.push(task, |id| {
            let shared = this.clone();
            thread::Builder::new()
                .name("braid-blocking".into())
                .spawn(move || {
                    BLOCKING_FOR.with(|cell| cell.set(Arc::as_ptr(&shared)));
                    let _entered = enter(&shared);
                    shared.blocking.run(id)
                })
        });
    }
}

/// The body of worker thread `index`.
pub(crate) fn run(shared: Arc<Shared>, index: usize, (local, joins): (Local<Job>, deque::Worker)) {
    let worker = Worker {
        index,
        core: RefCell::new(Core {
            local,
            joins,
            lifo: None,
            lifo_polls: 0,
            tick: 0,
            searching: false,
            rng: 0x9E37_79B9 ^ (index as u32).wrapping_mul(0x85EB_CA6B) | 1,
            running: None,
        }),
        shared,
    };
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            CURRENT.with(|current| current.set(ptr::null()));
        }
    }
    CURRENT.with(|current| current.set(&worker));
    let _reset = Reset;
    let _no_blocking = no_block::forbid_here("a Pool worker thread");
    // SAFETY: `worker` lives on this frame until after the guards.
    let _helping = unsafe { block_on::help_here(&worker) };
    // SAFETY: as above.
    let _timing = unsafe { time::host_here(&worker) };
    while !worker.shared.is_shutdown() {
        match worker.find_work() {
            Some(job) => worker.run_job(job),
            None => worker.park(&|| false),
        }
    }
}

impl Worker {
    /// The parker this worker sleeps on.
    pub(crate) fn parker(&self) -> &Arc<Parker> {
        &self.shared.parkers[self.index]
    }

    /// This worker as the waiter of a job of its own pool.
    pub(crate) fn sibling_waiter(&self) -> Waiter {
        Waiter::Sibling(NonNull::from(&**self.parker()))
    }

    /// Queues `job` on this worker. Returns it if the core is busy (a destructor running
    /// inside a queue operation scheduled something): the caller uses the injector.
    fn push_local(&self, job: Job, push: Push) -> Option<Job> {
        let Ok(mut core) = self.core.try_borrow_mut() else {
            return Some(job);
        };
        let core = &mut *core;
        let yielded = matches!(push, Push::Woken(task) if core.running == Some(task));
        let back = if yielded {
            job
        } else {
            // A free slot (`None`): this worker runs the job next, nobody else need wake.
            core.lifo.replace(job)?
        };
        core.local.push_back(back, &self.shared.injector);
        self.shared.notify_one();
        None
    }

    /// Offers `join`'s second half to thieves; gives it back if the deque is full.
    pub(crate) fn push_join(&self, job: StackJobRef) -> Result<(), StackJobRef> {
        self.core.borrow_mut().joins.push(job)?;
        // The joiner takes the job back itself if nobody steals it, so skipping the fence
        // can delay a thief but never strand the job.
        if self.shared.idle.may_wake() {
            self.shared.notify_one();
        }
        Ok(())
    }

    /// Takes back the newest `join` half, unless a thief took it.
    pub(crate) fn take_join(&self) -> Option<StackJobRef> {
        self.core.borrow_mut().joins.take()
    }

    fn find_work(&self) -> Option<Job> {
        self.next_local().or_else(|| self.steal())
    }

    fn next_local(&self) -> Option<Job> {
        let tick = {
            let mut core = self.core.borrow_mut();
            core.tick = core.tick.wrapping_add(1);
            core.tick
        };
        // Every so often a busy worker fires due timers itself, so they keep time while
        // no worker is idle to drive them. Before borrowing the core: waking a task
        // queues it on this worker.
        if tick % INJECTOR_INTERVAL == 0 && self.shared.timer.may_be_due() {
            self.shared.timer.fire_due();
        }
        let mut core = self.core.borrow_mut();
        let core = &mut *core;
        if tick % INJECTOR_INTERVAL == 0 {
            if let Some(job) = self.pop_injector(core) {
                return Some(job);
            }
        }
        if let Some(job) = core.lifo.take() {
            if core.lifo_polls < MAX_LIFO_POLLS {
                core.lifo_polls += 1;
                return Some(job);
            }
            core.local.push_back(job, &self.shared.injector);
        }
        core.lifo_polls = 0;
        core.local
            .pop()
            .or_else(|| core.joins.take().map(Job::Stack))
            .or_else(|| self.pop_injector(core))
    }

    /// Takes a batch from the injector: one to run, the rest into the ring.
    fn pop_injector(&self, core: &mut Core) -> Option<Job> {
        let injector = &self.shared.injector;
        if injector.is_empty() {
            return None;
        }
        let fair_share = injector.len() / self.shared.workers() + 1;
        let max = fair_share
            .min(core.local.free_room())
            .min(queue::CAPACITY / 2);
        let mut first = None;
        let taken = injector.pop_batch(max.max(1), |job| {
            if first.is_none() {
                first = Some(job);
            } else {
                // Cannot overflow: `max` fits in the ring's free room.
                core.local.push_back(job, injector);
            }
        });
        if taken > 1 {
            self.shared.notify_one();
        }
        first
    }

    fn steal(&self) -> Option<Job> {
        let mut core = self.core.borrow_mut();
        let core = &mut *core;
        if !core.searching {
            if !self.shared.idle.start_searching() {
                return None;
            }
            core.searching = true;
        }
        let workers = self.shared.workers();
        let start = core.next_rand() as usize % workers;
        for offset in 0..workers {
            let victim = (start + offset) % workers;
            if victim == self.index {
                continue;
            }
            // The oldest `join` half first: in fork-join code it is the biggest piece.
            if let Some(job) = self.shared.join_stealers[victim].steal() {
                return Some(Job::Stack(job));
            }
            if let Some(job) = self.shared.stealers[victim].steal_into(&mut core.local) {
                return Some(job);
            }
        }
        self.pop_injector(core)
    }

    pub(crate) fn run_job(&self, job: Job) {
        let was_searching = std::mem::replace(&mut self.core.borrow_mut().searching, false);
        if was_searching && self.shared.idle.stop_searching() {
            // The last searcher found work: there may be more, so let another look.
            self.shared.notify_one();
        }
        match job {
            Job::Task(task) => {
                let previous = self.core.borrow_mut().running.replace(task.ptr());
                task.run();
                self.core.borrow_mut().running = previous;
            }
            other => other.run(),
        }
    }

    /// Runs other work until `done()`, sleeping when there is none. Whoever makes `done()`
    /// true must unpark this worker's parker.
    pub(crate) fn help_until(&self, done: &dyn Fn() -> bool) {
        while !done() {
            match self.find_work() {
                Some(job) => self.run_job(job),
                None => self.park(done),
            }
        }
    }

    /// Sleeps until notified of work, shutdown, or `done()` (see `idle.rs` for why no
    /// wake-up is lost), driving the pool's timer meanwhile if no other worker does (see
    /// `time/timer.rs`).
    fn park(&self, done: &dyn Fn() -> bool) {
        let timer = &self.shared.timer;
        // Due timers first: firing one queues its task here.
        if timer.may_be_due() && timer.fire_due() > 0 {
            return;
        }
        let was_searching = {
            let mut core = self.core.borrow_mut();
            if core.has_work() {
                return;
            }
            std::mem::replace(&mut core.searching, false)
        };
        let idle = &self.shared.idle;
        if idle.to_parked(self.index, was_searching) && self.shared.has_pending_work() {
            // The last searcher gives up while work is queued (pushed by a producer that
            // counted on it): wake a worker to search, possibly this one.
            self.shared.notify_one();
        }
        if done() || self.shared.is_shutdown() {
            self.leave_sleepers();
            return;
        }
        let parker = self.parker();
        loop {
            // `Some(pending)`: this worker drove the timer while it slept. With no timer
            // pending it need not (and a pool that never sleeps pays nothing here): the
            // first registration finds no driver and wakes a sleeper, which comes back
            // around this loop and sees the timer pending (the unpark orders the look).
            let drove = if timer.may_be_pending() {
                timer.park_driving(parker)
            } else {
                None
            };
            if drove.is_none() {
                parker.park();
            }
            let notified = idle.is_notified(self.index);
            let leaving = notified || done() || self.shared.is_shutdown();
            // Timers that came due while this worker drove: their tasks are queued here.
            let fired = drove.is_some() && !leaving && timer.fire_due() > 0;
            if drove == Some(true) && (leaving || fired) {
                // It stops driving with timers pending: another sleeper takes over.
                self.shared.summon_timer_driver(Some(self.index));
            }
            if notified {
                self.core.borrow_mut().searching = true;
                return;
            }
            if leaving || fired {
                self.leave_sleepers();
                return;
            }
        }
    }

    fn leave_sleepers(&self) {
        if !self.shared.idle.unpark_self(self.index) {
            // A notifier took this worker off the list first and counted it as searching.
            self.core.borrow_mut().searching = true;
        }
    }
}

/// A worker's sleeps go on its pool's timer.
impl time::Host for Worker {
    fn timer(&self) -> &Arc<Timer> {
        &self.shared.timer
    }

    fn summon_driver(&self) {
        self.shared.summon_timer_driver(None);
    }
}

/// A worker waits for a future (`JoinHandle::join`, `Pool::block_on`) by running its
/// pool's other work (`sync::block_on`).
impl Helper for Worker {
    fn unparker(&self) -> Box<dyn Fn() + Send + Sync> {
        let parker = self.parker().clone();
        Box::new(move || parker.unpark())
    }

    fn help_until(&self, done: &dyn Fn() -> bool) {
        Worker::help_until(self, done)
    }
}
