//! What a worker's queues hold: a task, a scope's boxed closure, or a `join`'s second
//! half living on the joiner's stack, plus the latch a joiner waits on.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::NonNull;

use crate::sync::atomic::{AtomicBool, Ordering};
use crate::sync::park::Parker;
use crate::sync::{Arc, UnsafeCell};
use crate::task::TaskRef;

pub(crate) enum Job {
    /// A spawned future or closure (`spawn`, `spawn_fn`).
    Task(TaskRef),
    /// A `Scope::spawn` closure; it catches its own panics and reports to its scope.
    Closure(Box<dyn FnOnce() + Send>),
    /// The half of a `join` that another worker may steal.
    Stack(StackJobRef),
}

impl Job {
    pub(crate) fn run(self) {
        match self {
            Job::Task(task) => task.run(),
            Job::Closure(closure) => closure(),
            // SAFETY: a `StackJobRef` in a queue points to a live `StackJob` whose joiner
            // waits for its latch before the job's frame goes away.
            Job::Stack(job) => unsafe { job.execute() },
        }
    }
}

/// Who waits for a latch, by the parker it sleeps on: a worker (of the job's pool, or of
/// another pool: either runs its own pool's work while it waits, so a task that joins or
/// scopes on a second pool does not starve the tasks queued behind it, rayon's
/// cross-pool latch), or a thread outside any pool, which only parks. `worker.rs` says
/// which one a thread is (`waiter_for`) and waits accordingly (`wait_until`).
#[derive(Clone)]
pub(crate) enum Waiter {
    /// A worker of the job's own pool, by its parker: whoever wakes it is a thread of that
    /// pool (the worker that ran the stolen half, or a scope job's), which keeps the
    /// pool's shared state, and with it this parker, alive. No reference count, so a
    /// `join` touches no shared counter for its waiter.
    Sibling(NonNull<Parker>),
    /// A worker of another pool: it helps its own pool while it waits.
    OtherPoolWorker(Arc<Parker>),
    /// A thread outside any pool: it parks.
    Thread(Arc<Parker>),
}

// SAFETY: a `Sibling` pointer is only used to call `Parker::unpark` (`Parker` is `Sync`)
// by a thread of the pool that owns the parker (see the variant); the rest are `Arc`s.
unsafe impl Send for Waiter {}
// SAFETY: as above.
unsafe impl Sync for Waiter {}

impl Waiter {
    /// Wakes the waiter (it then looks at its latch again).
    pub(crate) fn wake(self) {
        match self {
            // SAFETY: the caller is a thread of the sibling's pool (see `Sibling`), so the
            // parker is alive.
            Waiter::Sibling(parker) => unsafe { parker.as_ref() }.unpark(),
            Waiter::OtherPoolWorker(parker) | Waiter::Thread(parker) => parker.unpark(),
        }
    }
}

/// Set once; the waiter checks it between other work and sleeps through its parker.
pub(crate) struct Latch {
    done: AtomicBool,
    waiter: Waiter,
}

impl Latch {
    pub(crate) fn new(waiter: Waiter) -> Latch {
        Latch {
            done: AtomicBool::new(false),
            waiter,
        }
    }

    pub(crate) fn is_set(&self) -> bool {
        // Acquire: pairs with `set`'s Release, so the job's result is visible.
        self.done.load(Ordering::Acquire)
    }

    /// Sets the latch and wakes the waiter.
    ///
    /// # Safety
    /// `latch` must be valid on entry; it may be freed as soon as `done` is stored, so
    /// everything needed to wake the waiter is read before.
    pub(crate) unsafe fn set(latch: *const Latch) {
        // SAFETY: valid until the store below.
        let waiter = unsafe { (*latch).waiter.clone() };
        // Release: the waiter that sees `done` sees the result written before it.
        unsafe { (*latch).done.store(true, Ordering::Release) };
        waiter.wake();
    }
}

/// A type-erased pointer to a `StackJob`.
#[derive(Clone, Copy)]
pub(crate) struct StackJobRef {
    data: *const (),
    execute: unsafe fn(*const ()),
}

impl StackJobRef {
    /// Whether both point to the same job.
    pub(crate) fn same_job(self, other: StackJobRef) -> bool {
        std::ptr::eq(self.data, other.data)
    }

    /// The two words, to keep in atomics (see `deque.rs`).
    pub(crate) fn to_bits(self) -> (usize, usize) {
        (self.data as usize, self.execute as usize)
    }

    /// # Safety
    /// `bits` came from `to_bits`.
    pub(crate) unsafe fn from_bits((data, execute): (usize, usize)) -> StackJobRef {
        StackJobRef {
            data: data as *const (),
            // SAFETY: `execute` was an `unsafe fn(*const ())` turned into its address.
            execute: unsafe { std::mem::transmute::<usize, unsafe fn(*const ())>(execute) },
        }
    }

    /// Runs the job.
    ///
    /// # Safety
    /// As for `Job::run`: the job is alive and its joiner waits for its latch.
    pub(crate) unsafe fn execute(self) {
        // SAFETY: forwarded from the caller.
        unsafe { (self.execute)(self.data) }
    }
}

// SAFETY: a `StackJob` is built only from `Send` closures and results, and is reached
// only through the protocol in `join.rs`.
unsafe impl Send for StackJobRef {}

/// The stolen-or-not half of a `join`, kept in the joiner's stack frame.
pub(crate) struct StackJob<F, R> {
    func: UnsafeCell<Option<F>>,
    result: UnsafeCell<Option<std::thread::Result<R>>>,
    pub(crate) latch: Latch,
}

impl<F: FnOnce() -> R + Send, R: Send> StackJob<F, R> {
    pub(crate) fn new(func: F, waiter: Waiter) -> Self {
        StackJob {
            func: UnsafeCell::new(Some(func)),
            result: UnsafeCell::new(None),
            latch: Latch::new(waiter),
        }
    }

    /// A queue entry for this job. The caller keeps `self` in place and alive until the
    /// entry has run (its latch is set) or has been taken back from the queue.
    pub(crate) fn as_job_ref(&self) -> StackJobRef {
        StackJobRef {
            data: self as *const Self as *const (),
            execute: Self::execute,
        }
    }

    /// Takes the closure back to run it inline (its entry was taken back, unrun).
    pub(crate) fn take_func(&self) -> F {
        // SAFETY: the entry is out of every queue, so only the joiner touches the cell.
        self.func
            .with_mut(|func| unsafe { (*func).take() })
            .expect("a join job runs once")
    }

    /// The thief's result, once the latch is set.
    pub(crate) fn take_result(&self) -> std::thread::Result<R> {
        debug_assert!(self.latch.is_set());
        // SAFETY: the latch is set, so the thief is done with the cell.
        self.result
            .with_mut(|result| unsafe { (*result).take() })
            .expect("a stolen join job leaves its result")
    }

    unsafe fn execute(data: *const ()) {
        let this = data as *const Self;
        // SAFETY: the joiner keeps the job alive until the latch is set; the closure was
        // stolen, so only this thread touches the cells until then.
        let func = unsafe { &*this }
            .func
            .with_mut(|func| unsafe { (*func).take() })
            .expect("a join job runs once");
        let result = catch_unwind(AssertUnwindSafe(func));
        // SAFETY: as above: alive until the latch is set, and the result cell is this
        // thread's until then.
        unsafe { &*this }
            .result
            .with_mut(|slot| unsafe { *slot = Some(result) });
        // SAFETY: the job is alive until this sets its latch.
        unsafe { Latch::set(&(*this).latch) }
    }
}

/// A panic payload, carried from a thief or a scope job to the thread that re-raises it.
pub(crate) type Panic = Box<dyn Any + Send + 'static>;
