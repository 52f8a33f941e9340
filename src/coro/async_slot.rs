//! How an async generator's body reaches the place its `yield_` leaves a value: through
//! the poll's own `Context`, whose waker carries a record of the poll.
//!
//! # How a value crosses
//! Each poll of an [`AsyncGenerator`](super::AsyncGenerator) makes, on its own stack, an
//! empty place for the value (`Option<Y>`) and a [`Record`]: the generator's id, that
//! place's address, a mark of the polling thread, and the consumer's waker. It polls the
//! body with a `Context` whose waker is made of the record ([`poll_body`]). An
//! `AsyncCo::yield_` future, polled inside the body, looks at its `Context`
//! ([`place_for`]): if the waker is such a record, of its own generator, made on this
//! thread, it leaves its value there and returns `Pending`, and the poll hands the value
//! to the consumer once the body returns. On its next poll the `yield_` completes.
//!
//! # Why the waker, not a thread-local
//! A plain generator finds its slot through a thread-local record (see `slot`), which
//! each poll saves, sets and puts back. In an async generator's loop the whole
//! consumer's future sits in memory, and those writes, global to the thread, are ones
//! the compiler cannot see through: every item paid for them (74 instructions, 0.85x
//! async-stream; `BENCHMARKS.md`). The record in the `Context` is a local of the poll:
//! once the body's poll is inlined into it, the compiler sees which waker the `yield_`
//! finds and drops the checks, and the value goes through registers (32 instructions).
//!
//! # What the body's other futures see
//! The waker is a stand-in for the consumer's. Waking it, by reference, wakes the
//! consumer's waker; cloning it gives a clone of the consumer's waker, so what a timer, a
//! transaction or a join handle keeps is the consumer's own waker and outlives the poll.
//! Only its identity differs: a future that compares the waker it kept with the current
//! one (`will_wake`: braid's timers, join handles and `JoinSet`) sees a change on every
//! poll and clones again, and code that reads a borrowed waker's `data()` to find a task
//! must read a clone's instead (braid's join handles and STM waits do, so the
//! Scheduler's deadlock report names what a body waits on). `yield_now` in a body does
//! not recognise its task's waker and wakes it instead, which queues the task again
//! just the same.
//!
//! # Why this is sound
//! - The record and the place live in the frame of the poll, and the waker that points at
//!   them is lent to the body as `&Waker` for that poll only: safe code cannot keep it
//!   past the poll (a kept waker is a clone, which is the consumer's).
//! - A `&Waker` is `Sync`, so the body could show it to another thread during the poll (a
//!   scoped thread, say). The record is never written while the body runs, so reading it
//!   from there is no race; its waker functions only touch the consumer's waker, which
//!   is `Sync` too. The place is written only by a `yield_` that finds the polling
//!   thread's mark in the record ([`place_for`]): the address of a thread-local, which no
//!   two live threads share. So the place is only ever touched by the polling thread,
//!   inside its poll, and needs no loom model.
//! - A `yield_` of another generator finds another id and panics before it writes
//!   anything; the id also stands in for the type: only the generator that made an
//!   `AsyncCo<Y>` has its id, and its polls make places for a `Y`. (`AsyncGenerator` is
//!   covariant in `Y` while `AsyncCo` is invariant; a generator seen at a supertype still
//!   makes places for the `Y` its `AsyncCo` writes, and values only flow out of them.)
//! - Once a `yield_` has handed its value over, its next poll completes wherever it
//!   happens: it touches nothing.

use std::future::Future;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::ptr;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

use super::slot::poll_or_drop;

/// One poll of an async generator, as its body's `yield_` finds it.
struct Record<'a> {
    /// The generator being polled (its `AsyncCo` carries the same id).
    id: u64,
    /// Where a `yield_` leaves its value: an `Option<Y>` in the poll's frame.
    place: *mut (),
    /// The polling thread's [`thread_mark`].
    thread: *const (),
    /// The consumer's waker, which the stand-in forwards to.
    outer: &'a Waker,
}

crate::sync::thread_local! {
    /// A byte whose address tells the live threads apart.
    static THREAD_MARK: u8 = const { 0 };
}

/// This thread's mark: no other live thread has the same.
#[inline(always)]
fn thread_mark() -> *const () {
    THREAD_MARK.with(|mark| ptr::from_ref(mark).cast())
}

/// The stand-in waker's functions: each forwards to the record's consumer's waker.
static STAND_IN: RawWakerVTable =
    RawWakerVTable::new(clone_outer, wake_outer, wake_outer, forget_stand_in);

/// Gives a clone of the consumer's waker: what outlives the poll is never the stand-in.
unsafe fn clone_outer(record: *const ()) -> RawWaker {
    // SAFETY: a stand-in's data is the record of a poll still running: the stand-in is
    // lent only by reference, for that poll.
    let outer = unsafe { &*record.cast::<Record<'_>>() }.outer.clone();
    let outer = ManuallyDrop::new(outer);
    RawWaker::new(outer.data(), outer.vtable())
}

/// Wakes the consumer. `wake` by value lands here too, though no stand-in is ever owned.
unsafe fn wake_outer(record: *const ()) {
    // SAFETY: as in `clone_outer`.
    unsafe { &*record.cast::<Record<'_>>() }.outer.wake_by_ref();
}

/// The stand-in owns nothing.
unsafe fn forget_stand_in(_record: *const ()) {}

/// Polls `body` once as the async generator `id`, with `place` where its `yield_` leaves
/// a value, and the consumer's `cx` behind the stand-in waker. If the body panics, it is
/// dropped and the panic goes on. `None` if the generator has no body (it has ended).
#[inline(always)]
pub(super) fn poll_body<Y, Fut: ?Sized + Future>(
    id: u64,
    place: &mut Option<Y>,
    cx: &mut Context<'_>,
    body: &mut Option<Pin<Box<Fut>>>,
) -> Option<Poll<Fut::Output>> {
    let record = Record {
        id,
        place: ptr::from_mut(place).cast(),
        thread: thread_mark(),
        outer: cx.waker(),
    };
    let raw = RawWaker::new(ptr::from_ref(&record).cast(), &STAND_IN);
    // The stand-in is only lent (`&Waker`, for this poll, while `record` lives in this
    // frame), and its clones carry the consumer's waker, never the record, so
    // `STAND_IN`'s functions only run while the record is live. They only read the
    // record, which nothing changes during the poll, and call the consumer's waker,
    // which is `Sync`, so they may run on any thread. Its drop does nothing, so it is
    // never dropped.
    // SAFETY: as just said, `STAND_IN` keeps `RawWaker`'s contract for this lifetime.
    let stand_in = ManuallyDrop::new(unsafe { Waker::from_raw(raw) });
    let mut cx = Context::from_waker(&stand_in);
    poll_or_drop(&mut cx, body)
}

/// Where a `yield_` of the async generator `id` leaves its value, if `cx` is that
/// generator's poll on this thread. The pointer is valid until the poll returns.
#[inline(always)]
pub(super) fn place_for<Y>(cx: &Context<'_>, id: u64) -> Option<*mut Option<Y>> {
    let waker = cx.waker();
    if !ptr::eq(waker.vtable(), &STAND_IN) {
        return None;
    }
    // SAFETY: a waker with `STAND_IN`'s functions is a stand-in, whose data is the record
    // of a running poll (see `clone_outer`).
    let record = unsafe { &*waker.data().cast::<Record<'_>>() };
    // The id is checked first: in the usual case the compiler knows the thread matches.
    if record.id != id || record.thread != thread_mark() {
        return None;
    }
    // The ids match, so this is the place of the generator that made the `AsyncCo`
    // asking, an `Option<Y>`.
    Some(record.place.cast())
}
