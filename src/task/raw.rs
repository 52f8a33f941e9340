//! One allocation per task: a header (state word, vtable, the executor's bookkeeping),
//! the executor's handle, the future or its output, and the `JoinHandle`'s waker slot.
//!
//! Everything outside this file sees a task as a thin pointer to its [`Header`]; the
//! vtable recovers the concrete future and executor types. Who may touch which part is
//! decided by the state word (see `state.rs`): the future only by the owner of `RUNNING`,
//! the output only by the `JoinHandle` once `COMPLETE` is set, the waker slot only by the
//! handle while `JOIN_WAKER` is clear.

use std::future::Future;
use std::mem::ManuallyDrop;
use std::panic::{catch_unwind, AssertUnwindSafe, Location};
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

use super::error::JoinError;
use super::id::TaskId;
use super::polling::polling;
use super::state::{StateCell, ToIdle, ToRunning, Wake};
use super::Schedule;
use crate::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use crate::sync::UnsafeCell;

/// The part of a task every executor and handle can read without knowing its types.
#[repr(C)]
pub(crate) struct Header {
    pub(crate) state: StateCell,
    vtable: &'static Vtable,
    /// Where the executor's list of live tasks keeps this task; written and read only
    /// under that list's lock (so Relaxed).
    pub(crate) list_slot: AtomicUsize,
    /// The data pointer of the waker the `JoinHandle` left in the slot, readable without
    /// touching the slot: the Scheduler's deadlock check uses it to tell a waker held by
    /// another of its tasks from one held outside.
    join_waiter: AtomicPtr<()>,
    /// Where the user's code spawned the task, for its `JoinError`.
    pub(crate) spawned_at: &'static Location<'static>,
    /// The task's name for users (`JoinHandle::id`, `TaskId::current`).
    pub(crate) id: TaskId,
}

/// The type-specific operations, one static table per (future, executor) pair.
struct Vtable {
    /// Polls the task, consuming a queue entry's reference.
    poll: unsafe fn(NonNull<Header>),
    /// Queues the task on its executor, consuming one reference (a wake-up's).
    schedule: unsafe fn(NonNull<Header>),
    /// Drops the future of a task whose `RUNNING` the caller took by `to_shutdown`.
    shutdown: unsafe fn(NonNull<Header>),
    /// `JoinHandle` poll: writes `Poll<Result<T, JoinError>>` to the pointer.
    read_output: unsafe fn(NonNull<Header>, *mut (), &Waker),
    /// `JoinHandle` drop: gives up interest in the output, drops it if it is there, and
    /// drops the handle's reference.
    drop_join_handle: unsafe fn(NonNull<Header>),
    /// Frees the allocation (the last reference is gone).
    dealloc: unsafe fn(NonNull<Header>),
    /// Whether `JoinHandle::join` may block the calling thread (false on the Scheduler).
    blocking_join: bool,
}

enum Stage<F: Future> {
    Running(F),
    Finished(Result<F::Output, JoinError>),
    Consumed,
}

#[repr(C)]
struct Cell<F: Future, S> {
    header: Header,
    scheduler: S,
    stage: UnsafeCell<Stage<F>>,
    join_waker: UnsafeCell<Option<Waker>>,
}

/// One counted reference to a task.
pub(crate) struct TaskRef {
    ptr: NonNull<Header>,
}

// SAFETY: a `TaskRef` only reaches the header's atomics and the vtable from another
// thread. The future is touched only by the owner of `RUNNING`, and each executor only
// takes `RUNNING` on a thread allowed to touch the future: the Pool requires `Send`
// futures, and the single-threaded Scheduler polls and cancels only on its own thread.
// The output is `Send` wherever the `JoinHandle` that reads it is.
unsafe impl Send for TaskRef {}
// SAFETY: as above; a shared `TaskRef` gives access only to the header's atomics.
unsafe impl Sync for TaskRef {}

impl TaskRef {
    /// Allocates a task holding `future`, with `refs` references, all returned as one
    /// `TaskRef` each (queue entry, handle, executor list...).
    pub(crate) fn new<F, S>(
        future: F,
        scheduler: S,
        refs: usize,
        spawned_at: &'static Location<'static>,
    ) -> TaskRef
    where
        F: Future,
        S: Schedule,
    {
        let cell = Box::new(Cell {
            header: Header {
                state: StateCell::new(refs),
                vtable: &Vtables::<F, S>::VTABLE,
                list_slot: AtomicUsize::new(usize::MAX),
                join_waiter: AtomicPtr::new(std::ptr::null_mut()),
                spawned_at,
                id: TaskId::next(),
            },
            scheduler,
            stage: UnsafeCell::new(Stage::Running(future)),
            join_waker: UnsafeCell::new(None),
        });
        TaskRef {
            ptr: NonNull::from(Box::leak(cell)).cast(),
        }
    }

    /// A second counted reference. The caller promises the count was already raised for
    /// it (the task was created with that many references, or a transition added one).
    ///
    /// # Safety
    /// The task must hold a reference that no other `TaskRef` accounts for.
    pub(crate) unsafe fn from_counted(ptr: NonNull<Header>) -> TaskRef {
        TaskRef { ptr }
    }

    pub(crate) fn header(&self) -> &Header {
        // SAFETY: this reference keeps the allocation alive.
        unsafe { self.ptr.as_ref() }
    }

    pub(crate) fn ptr(&self) -> NonNull<Header> {
        self.ptr
    }

    /// Hands the reference to the caller without dropping it.
    pub(crate) fn into_raw(self) -> NonNull<Header> {
        ManuallyDrop::new(self).ptr
    }

    /// Polls the task (this reference must be its queue entry, with `NOTIFIED` set).
    pub(crate) fn run(self) {
        let ptr = self.into_raw();
        // SAFETY: the queue entry's reference moves into `poll`, which accounts for it.
        unsafe { (ptr.as_ref().vtable.poll)(ptr) }
    }

    /// Cancels the task for an executor that is shutting down: drops the future at once
    /// if nobody is polling it (the current poller drops it otherwise).
    pub(crate) fn shutdown(&self) {
        if self.header().state.to_shutdown() {
            // SAFETY: `to_shutdown` gave this thread `RUNNING`.
            unsafe { (self.header().vtable.shutdown)(self.ptr) }
        }
    }

    /// Queues the task after a transition that made this reference its queue entry.
    pub(crate) fn schedule(self) {
        let ptr = self.into_raw();
        // SAFETY: the reference moves into `schedule`.
        unsafe { (ptr.as_ref().vtable.schedule)(ptr) }
    }

    pub(crate) fn blocking_join_allowed(&self) -> bool {
        self.header().vtable.blocking_join
    }

    /// Writes `Poll<Result<T, JoinError>>` to `out`, registering `waker` when pending.
    ///
    /// # Safety
    /// The caller is this task's `JoinHandle`, `T` is its output type, and `out` points to a
    /// valid `Poll<Result<T, JoinError>>`.
    pub(crate) unsafe fn read_output(&self, out: *mut (), waker: &Waker) {
        // SAFETY: forwarded from the caller.
        unsafe { (self.header().vtable.read_output)(self.ptr, out, waker) }
    }

    /// The `JoinHandle`'s drop.
    ///
    /// # Safety
    /// This reference must be the task's `JoinHandle` reference.
    pub(crate) unsafe fn drop_join_handle(self) {
        let ptr = self.into_raw();
        // SAFETY: forwarded from the caller; the reference moves into the call.
        unsafe { (ptr.as_ref().vtable.drop_join_handle)(ptr) }
    }
}

impl Drop for TaskRef {
    fn drop(&mut self) {
        // SAFETY: this reference is counted and is given up here.
        unsafe { drop_references(self.ptr, 1) }
    }
}

impl std::fmt::Debug for TaskRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("TaskRef")
            .field(&self.header().state.load())
            .finish()
    }
}

/// # Safety
/// The caller gives up `count` counted references.
unsafe fn drop_references(ptr: NonNull<Header>, count: usize) {
    // SAFETY: the caller's references keep the header alive until the decrement.
    let header = unsafe { ptr.as_ref() };
    if count > 0 && header.state.ref_dec(count) {
        // SAFETY: those were the last references: nobody else can reach the task.
        unsafe { (header.vtable.dealloc)(ptr) }
    }
}

struct Vtables<F, S>(std::marker::PhantomData<(F, S)>);

impl<F: Future, S: Schedule> Vtables<F, S> {
    const VTABLE: Vtable = Vtable {
        poll: poll::<F, S>,
        schedule: schedule::<F, S>,
        shutdown: shutdown::<F, S>,
        read_output: read_output::<F, S>,
        drop_join_handle: drop_join_handle::<F, S>,
        dealloc: dealloc::<F, S>,
        blocking_join: S::BLOCKING_JOIN,
    };
}

/// # Safety
/// `ptr` is a live task of type `Cell<F, S>`; the returned borrow must not outlive the
/// caller's reference.
unsafe fn cell<'a, F: Future, S>(ptr: NonNull<Header>) -> &'a Cell<F, S> {
    // SAFETY: `Cell` is `repr(C)` with the header first, and the vtable that led here
    // was made for exactly this `Cell<F, S>`.
    unsafe { ptr.cast::<Cell<F, S>>().as_ref() }
}

unsafe fn poll<F: Future, S: Schedule>(ptr: NonNull<Header>) {
    // SAFETY: the queue entry's reference keeps the task alive through this call.
    let cell = unsafe { cell::<F, S>(ptr) };
    // Only an executor that keeps yielding tasks `RUNNING` pays for this load.
    let kept_running = S::KEEP_RUNNING_ON_YIELD
        .then(|| cell.header.state.load())
        .filter(|state| state.is_running());
    if let Some(state) = kept_running {
        // The entry of a task that yielded and kept `RUNNING` (see below): the future is
        // still ours. Only an abort or shutdown since then stops it.
        if state.is_cancelled() {
            // SAFETY: we own `RUNNING` and the entry's reference.
            return unsafe { complete(cell, Err(cell.header.cancelled()), 1) };
        }
    } else {
        match cell.header.state.to_running() {
            ToRunning::Poll => {}
            // SAFETY: `to_running` gave us `RUNNING`; the entry's reference is handed over.
            ToRunning::Cancel => return unsafe { complete(cell, Err(cell.header.cancelled()), 1) },
            // SAFETY: nothing to do but give up the entry's reference.
            ToRunning::Gone => return unsafe { drop_references(ptr, 1) },
        }
    }
    // A waker borrowed from the entry's reference: no count change unless it is cloned.
    // SAFETY: the vtable's functions treat the pointer as a counted task reference, and
    // `ManuallyDrop` keeps this borrowed one from being given up.
    let waker = ManuallyDrop::new(unsafe { Waker::from_raw(raw_waker(ptr)) });
    let mut cx = Context::from_waker(&waker);
    let (polled, yielded) = polling(ptr, || {
        catch_unwind(AssertUnwindSafe(|| {
            cell.stage.with_mut(|stage| {
                // SAFETY: we own `RUNNING`, so nobody else touches the stage; the future
                // is never moved out of its allocation while it runs, so pinning is sound.
                match unsafe { &mut *stage } {
                    Stage::Running(future) => unsafe { Pin::new_unchecked(future) }.poll(&mut cx),
                    _ => unreachable!("a running task always holds its future"),
                }
            })
        }))
    });
    let result = match polled {
        Ok(Poll::Ready(output)) => Ok(output),
        Err(payload) => Err(cell.header.panicked(payload)),
        Ok(Poll::Pending) if yielded && S::KEEP_RUNNING_ON_YIELD => {
            // Queued as it is, still `RUNNING`: a wake from elsewhere meanwhile only sets
            // `NOTIFIED`, an abort `CANCELLED`, and the next poll sees both.
            // SAFETY: the entry's reference becomes the new queue entry.
            return cell
                .scheduler
                .schedule(unsafe { TaskRef::from_counted(ptr) });
        }
        Ok(Poll::Pending) => match cell.header.state.to_idle(yielded) {
            ToIdle::Idle => {
                // SAFETY: the entry's reference is given up; a later wake takes a new one.
                return unsafe { drop_references(ptr, 1) };
            }
            ToIdle::Notified => {
                // SAFETY: `to_idle` kept (or, for a yield, set) `NOTIFIED`, so the entry's
                // reference becomes the new queue entry.
                let entry = unsafe { TaskRef::from_counted(ptr) };
                return cell.scheduler.schedule(entry);
            }
            ToIdle::Cancel => Err(cell.header.cancelled()),
        },
    };
    // SAFETY: we own `RUNNING` (`to_idle` keeps it on `Cancel`) and the entry's reference.
    unsafe { complete(cell, result, 1) }
}

/// Drops the future, stores `result` for the handle, wakes it, leaves the executor's list,
/// and gives up `held` references.
///
/// # Safety
/// The caller owns `RUNNING` and `held` counted references.
unsafe fn complete<F: Future, S: Schedule>(
    cell: &Cell<F, S>,
    mut result: Result<F::Output, JoinError>,
    held: usize,
) {
    // SAFETY: we own `RUNNING`, so the stage is ours.
    let future = cell
        .stage
        .with_mut(|stage| unsafe { std::mem::replace(&mut *stage, Stage::Consumed) });
    // A destructor that panics while the task is torn down is the task's panic, also when
    // the teardown is a cancellation (tokio reports it so too); only a panic from the
    // poll itself, which came first, takes precedence.
    if let Err(payload) = catch_unwind(AssertUnwindSafe(|| drop(future))) {
        if !result.as_ref().is_err_and(JoinError::is_panic) {
            result = Err(cell.header.panicked(payload));
        }
    }
    if let Err(error) = result.as_ref() {
        if error.is_panic() {
            cell.scheduler.task_panicked(error);
        }
    }
    // SAFETY: still ours until `to_complete` below.
    cell.stage
        .with_mut(|stage| unsafe { *stage = Stage::Finished(result) });
    let state = cell.header.state.to_complete();
    if !state.has_join_interest() {
        // Nobody will read the output: drop it here. A panicking destructor has nowhere
        // to go; it is dropped.
        // SAFETY: the handle is gone, so the stage is still ours.
        let output = cell
            .stage
            .with_mut(|stage| unsafe { std::mem::replace(&mut *stage, Stage::Consumed) });
        let _ = catch_unwind(AssertUnwindSafe(|| drop(output)));
    } else if state.has_join_waker() {
        // SAFETY: `JOIN_WAKER` is set and the task is complete, so the handle will not
        // write the slot again; our reference keeps it alive.
        cell.join_waker.with(|slot| match unsafe { &*slot } {
            Some(waker) => waker.wake_by_ref(),
            None => unreachable!("JOIN_WAKER set on an empty slot"),
        });
    }
    let me = NonNull::from(&cell.header);
    // SAFETY: our references keep the task alive while the executor looks it up.
    let released = cell.scheduler.release(me);
    let released = released.map_or(0, |task| {
        std::mem::forget(task);
        1
    });
    // SAFETY: the caller's references plus the list's, all given up here.
    unsafe { drop_references(me, held + released) }
}

unsafe fn schedule<F: Future, S: Schedule>(ptr: NonNull<Header>) {
    // SAFETY: the caller hands us a counted reference for the queue entry.
    let cell = unsafe { cell::<F, S>(ptr) };
    cell.scheduler
        .schedule(unsafe { TaskRef::from_counted(ptr) });
}

unsafe fn shutdown<F: Future, S: Schedule>(ptr: NonNull<Header>) {
    // SAFETY: the caller owns `RUNNING` and a reference that it keeps.
    let cell = unsafe { cell::<F, S>(ptr) };
    // SAFETY: as above.
    unsafe { complete(cell, Err(cell.header.cancelled()), 0) }
}

unsafe fn read_output<F: Future, S: Schedule>(ptr: NonNull<Header>, out: *mut (), waker: &Waker) {
    // SAFETY: the handle's reference keeps the task alive.
    let cell = unsafe { cell::<F, S>(ptr) };
    let out = out.cast::<Poll<Result<F::Output, JoinError>>>();
    if !cell.header.state.load().is_complete() && register_join_waker(cell, waker) {
        return;
    }
    // SAFETY: complete and the handle still holds interest: the stage is the handle's.
    let stage = cell
        .stage
        .with_mut(|stage| unsafe { std::mem::replace(&mut *stage, Stage::Consumed) });
    match stage {
        // SAFETY: the caller passes a valid `Poll<Result<F::Output, JoinError>>`.
        Stage::Finished(result) => unsafe { *out = Poll::Ready(result) },
        _ => panic!("JoinHandle polled after it returned its output"),
    }
}

/// Leaves `waker` in the slot for the completing thread. `false` when the task completed
/// meanwhile (then the output is ready to read).
fn register_join_waker<F: Future, S>(cell: &Cell<F, S>, waker: &Waker) -> bool {
    let state = cell.header.state.load();
    if state.has_join_waker() {
        // SAFETY: the handle wrote this slot and only reads it here; the completing
        // thread only reads it too.
        let same = cell.join_waker.with(|slot| {
            unsafe { &*slot }
                .as_ref()
                .is_some_and(|old| old.will_wake(waker))
        });
        if same {
            return true;
        }
        if !cell.header.state.unset_join_waker() {
            return false;
        }
    }
    // The clone's data, not the borrowed waker's: a waker lent for one poll may stand
    // in for another (an async generator's body sees such a stand-in), and its clones
    // are the waker it stands in for, the task's own.
    let waker = waker.clone();
    let waiter = waker.data() as *mut ();
    // SAFETY: `JOIN_WAKER` is clear, so the slot belongs to the handle alone.
    cell.join_waker
        .with_mut(|slot| unsafe { *slot = Some(waker) });
    // Relaxed: read only by the Scheduler's deadlock check, on the thread that polls
    // every task of that scheduler (and so every handle awaited inside it).
    cell.header.join_waiter.store(waiter, Ordering::Relaxed);
    cell.header.state.set_join_waker()
}

unsafe fn drop_join_handle<F: Future, S: Schedule>(ptr: NonNull<Header>) {
    // SAFETY: the handle's reference keeps the task alive until the drop below.
    let cell = unsafe { cell::<F, S>(ptr) };
    let (waker, output) = if cell.header.state.drop_join_interest() {
        // Not complete, and `JOIN_WAKER` went with the interest: the completing thread
        // will not read the slot, so it is ours. Drop the waker now rather than with the
        // task: two tasks awaiting each other's handles would otherwise keep each other
        // alive through the wakers in their slots after both were cancelled.
        // SAFETY: as just said, nobody else touches the slot any more.
        (
            cell.join_waker.with_mut(|slot| unsafe { (*slot).take() }),
            None,
        )
    } else {
        // SAFETY: complete with interest still held: the stage is the handle's.
        let output = cell
            .stage
            .with_mut(|stage| unsafe { std::mem::replace(&mut *stage, Stage::Consumed) });
        (None, Some(output))
    };
    // SAFETY: the handle's reference is given up; the waker and output are already ours.
    unsafe { drop_references(ptr, 1) };
    drop(waker);
    drop(output);
}

unsafe fn dealloc<F: Future, S: Schedule>(ptr: NonNull<Header>) {
    // SAFETY: the last reference is gone; the allocation was a `Box<Cell<F, S>>`.
    drop(unsafe { Box::from_raw(ptr.cast::<Cell<F, S>>().as_ptr()) });
}

fn raw_waker(ptr: NonNull<Header>) -> RawWaker {
    RawWaker::new(ptr.as_ptr() as *const (), &WAKER_VTABLE)
}

/// Wakers are counted task references; waking goes through the header's vtable, so one
/// table serves every task type.
static WAKER_VTABLE: RawWakerVTable =
    RawWakerVTable::new(waker_clone, waker_wake, waker_wake_by_ref, waker_drop);

/// Whether `waker` is a braid task's waker (its data is then the task's header).
pub(super) fn is_task_waker(waker: &Waker) -> bool {
    std::ptr::eq(waker.vtable(), &WAKER_VTABLE)
}

fn header_ptr(data: *const ()) -> NonNull<Header> {
    // SAFETY: every waker made by `raw_waker` carries a non-null header pointer.
    unsafe { NonNull::new_unchecked(data as *mut Header) }
}

unsafe fn waker_clone(data: *const ()) -> RawWaker {
    let ptr = header_ptr(data);
    // SAFETY: the waker being cloned holds a reference.
    unsafe { ptr.as_ref() }.state.ref_inc();
    raw_waker(ptr)
}

unsafe fn waker_wake(data: *const ()) {
    let ptr = header_ptr(data);
    // SAFETY: the waker's own reference keeps the task alive and is consumed here.
    let header = unsafe { ptr.as_ref() };
    match header.state.wake(true) {
        Wake::Schedule => unsafe { (header.vtable.schedule)(ptr) },
        Wake::Nothing => unsafe { drop_references(ptr, 1) },
    }
}

unsafe fn waker_wake_by_ref(data: *const ()) {
    let ptr = header_ptr(data);
    // SAFETY: the waker's reference keeps the task alive; `wake` took a new reference
    // for the queue entry when it returns `Schedule`.
    let header = unsafe { ptr.as_ref() };
    if header.state.wake(false) == Wake::Schedule {
        unsafe { (header.vtable.schedule)(ptr) }
    }
}

unsafe fn waker_drop(data: *const ()) {
    // SAFETY: the waker's reference is given up.
    unsafe { drop_references(header_ptr(data), 1) }
}

/// Reads the list slot; for executors' task lists, under their lock.
impl Header {
    /// The error for this task cancelled.
    fn cancelled(&self) -> JoinError {
        JoinError::cancelled(self.id, self.spawned_at)
    }

    /// The error for this task panicked with `payload`.
    fn panicked(&self, payload: Box<dyn std::any::Any + Send>) -> JoinError {
        JoinError::task_panic(payload, self.id, self.spawned_at)
    }

    pub(crate) fn list_slot(&self) -> usize {
        self.list_slot.load(Ordering::Relaxed)
    }
    pub(crate) fn set_list_slot(&self, slot: usize) {
        self.list_slot.store(slot, Ordering::Relaxed);
    }

    /// The data pointer of the waker a `JoinHandle` left for this task's completion, if one
    /// is there now.
    pub(crate) fn join_waiter(&self) -> Option<*const ()> {
        let state = self.state.load();
        (state.has_join_waker() && !state.is_complete())
            .then(|| self.join_waiter.load(Ordering::Relaxed) as *const ())
    }
}
