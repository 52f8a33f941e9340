//! The slot a generator and its body pass values through, and the one way the body
//! reaches it: the thread-local record of the generator whose body this thread is
//! polling right now.
//!
//! # How a value crosses
//! Each resume makes a fresh [`Slot`] on its own stack, holding the resume's input. It
//! marks that slot as the one being polled on this thread ([`poll_body`]: the slot's
//! address and its generator's id in a thread-local, the previous ones put back when the
//! poll returns or unwinds), and polls the body. A `yield_` future, polled inside the
//! body, finds the slot through [`slot_for`]: the thread's current generator must be the
//! one its `Co` was made by, or it panics. It takes the input, or leaves the value it
//! yields and returns `Pending`; the resume reads the value back once the poll returns,
//! and the slot (with any input the body did not take) goes away with the resume. One
//! write and one read per direction, no reference count, no lock, no atomic.
//!
//! # Why the slot is on the resumer's stack, not in the generator
//! The thread-local holds the slot's address while other code (the consumer's, between
//! resumes) runs, so the compiler must treat whatever the slot is part of as reachable
//! from anywhere. A slot inside the generator made the generator, and through its body's
//! pointer the body's state, memory that every opaque call (`black_box`, a function that
//! is not inlined) could change: a `for x in generator` loop kept the body's counters in
//! memory and ran 57 instructions per yield. A slot that lives for one poll lets the
//! compiler keep the generator and its body in registers once the consumer's loop and
//! the body's poll are inlined into one function (9 instructions per yield, 5 per send;
//! `BENCHMARKS.md`). The same reason keeps the generator's cold paths from taking
//! `&mut self`: a call that is not inlined and takes the generator's address would put
//! it back in memory.
//!
//! # Why this is sound, and why a generator may be `Send`
//! The slot is touched only by the thread that is polling the body, during that poll:
//! - The slot lives in the frame of the resume that polls the body, and its address is
//!   published only in a thread-local of the polling thread, only while that poll runs
//!   (it is put back on return and on unwind). Another thread (one that the body starts
//!   inside the poll with `std::thread::scope`, say, and hands a `yield_` future to) sees
//!   its own thread-local, in which no generator is running, so it can never write the
//!   slot while the polling thread does.
//! - A `Co` holds no pointer at all, only its generator's id (a number never reused in
//!   the process, from [`next_id`]). Used anywhere but inside its own generator's poll
//!   (in another generator, on another task or thread, after its generator ended), it
//!   finds another id or none and panics before it reads or writes anything. The id
//!   also stands in for the types: only the generator that made a `Co<Y, R>` has that
//!   id, and its resumes make `Slot<Y, R>`s.
//! - The body is polled with a no-op waker, so nothing the body awaits can carry the
//!   slot's address out of the poll. (Async generators do not use this slot: see
//!   `async_slot`.)
//!
//! So a generator holds nothing that a thread could share behind the compiler's back:
//! between resumes it holds its body and its id, and no value in flight. It is `Send`
//! exactly when its body is, by the compiler's own rules (no `unsafe impl`). The
//! failures known elsewhere (generator-rs #58, next-gen #13) come from a yielder
//! reachable from outside the generator's own execution; here the slot's address never
//! outlives one poll on one thread. No part of the slot can be reached from two threads,
//! so it needs no loom model; the thread-local goes through `sync` so that loom's
//! simulated threads each have their own.

use std::cell::Cell;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::ptr;
use std::task::{Context, Poll};

use crate::sync::outside_loom::{AtomicU64, Ordering};

/// A marker that makes a type invariant in `T` (and `Send + Sync` whatever `T` is): a
/// `Co` must never be used at a type its slot does not hold, not even a subtype.
pub(super) type Invariant<T> = PhantomData<fn(T) -> T>;

/// Values in flight between a generator and its body during one poll. It lives on the
/// resuming caller's stack, for that poll only.
pub(super) struct Slot<Y, R> {
    /// What the body yielded in this poll.
    yielded: Option<Y>,
    /// This resume's input, until the suspended `yield_` takes it.
    input: Option<R>,
    /// The first resume's input, until the body takes it with `Co::first_input`.
    first_input: Option<R>,
}

impl<Y, R> Slot<Y, R> {
    /// A slot for a resume that passes `input` to the suspended `yield_`.
    #[inline]
    pub(super) fn with_input(input: Option<R>) -> Self {
        Slot {
            yielded: None,
            input,
            first_input: None,
        }
    }

    /// A slot for the first resume, whose input (if any) is for `Co::first_input`.
    #[inline]
    pub(super) fn with_first_input(first_input: Option<R>) -> Self {
        Slot {
            yielded: None,
            input: None,
            first_input,
        }
    }

    /// The value the body yielded in the poll that just returned, if it yielded.
    #[inline]
    pub(super) fn take_yielded(&mut self) -> Option<Y> {
        self.yielded.take()
    }

    /// The first resume's input, if the body did not take it.
    #[inline]
    pub(super) fn take_first_input(&mut self) -> Option<R> {
        self.first_input.take()
    }
}

/// The generator whose body this thread is polling: its id and the poll's slot.
#[derive(Clone, Copy)]
struct Running {
    id: u64,
    slot: *mut (),
}

const NOBODY: Running = Running {
    id: 0,
    slot: ptr::null_mut(),
};

crate::sync::thread_local! {
    /// The generator whose body this thread is polling right now, or `NOBODY`.
    static RUNNING: Cell<Running> = const { Cell::new(NOBODY) };
}

/// Polls `body` once with `cx`, as the generator `id`, with `slot` as this poll's slot:
/// while it runs, the body's `Co` finds the slot through [`slot_for`]. If the body
/// panics, it is dropped (its live locals were dropped by the unwind; it must never be
/// polled again) and the panic goes on; either way the thread's previous running
/// generator is put back (a body that resumes another generator nests). `None` if the
/// generator has no body (it has ended).
#[inline(always)]
pub(super) fn poll_body<Y, R, Fut: ?Sized + Future>(
    id: u64,
    slot: &mut Slot<Y, R>,
    cx: &mut Context<'_>,
    body: &mut Option<Pin<Box<Fut>>>,
) -> Option<Poll<Fut::Output>> {
    /// Puts the outer running generator back, on return and on unwind.
    struct Restore(Running);
    impl Drop for Restore {
        #[inline]
        fn drop(&mut self) {
            RUNNING.with(|running| running.set(self.0));
        }
    }
    let _restore = Restore(RUNNING.with(|running| running.replace(running_as(id, slot))));
    poll_or_drop(cx, body)
}

/// The record of generator `id` polling with `slot`. `slot` is borrowed mutably for the
/// whole poll and reached only through this pointer until the poll returns, when the
/// record of it is taken back.
#[inline(always)]
fn running_as<Y, R>(id: u64, slot: &mut Slot<Y, R>) -> Running {
    Running {
        id,
        slot: slot as *mut Slot<Y, R> as *mut (),
    }
}

/// Polls the body, if there is one; drops it if the poll unwinds.
#[inline(always)]
pub(super) fn poll_or_drop<Fut: ?Sized + Future>(
    cx: &mut Context<'_>,
    body: &mut Option<Pin<Box<Fut>>>,
) -> Option<Poll<Fut::Output>> {
    /// Drops the body if the poll unwinds; forgotten otherwise.
    struct DropOnUnwind<'a, Fut: ?Sized>(&'a mut Option<Pin<Box<Fut>>>);
    impl<Fut: ?Sized> Drop for DropOnUnwind<'_, Fut> {
        fn drop(&mut self) {
            *self.0 = None;
        }
    }
    let on_unwind = DropOnUnwind(body);
    let running = on_unwind.0.as_mut()?;
    let polled = running.as_mut().poll(cx);
    std::mem::forget(on_unwind);
    Some(polled)
}

/// The slot of the generator with `id`, if this thread is polling its body now. The
/// pointer is valid until that poll returns, and only on this thread.
#[inline]
pub(super) fn slot_for<Y, R>(id: u64) -> Option<*mut Slot<Y, R>> {
    let running = RUNNING.with(|running| running.get());
    // No generator has id 0, so `NOBODY` matches no `Co`.
    if running.id != id {
        return None;
    }
    // The ids match, so this is the slot of the generator that made the `Co` asking,
    // whose types are `Y` and `R`.
    Some(running.slot as *mut Slot<Y, R>)
}

/// Writes a value the body yields. Returns the value back if one is already waiting
/// (two `yield_`s pending in one step), for the caller to refuse.
///
/// # Safety
/// `slot` comes from [`slot_for`] during the current poll, on this thread.
#[inline]
pub(super) unsafe fn put_yielded<Y, R>(slot: *mut Slot<Y, R>, value: Y) -> Result<(), Y> {
    // SAFETY: the caller's promise: `slot` is live and only this poll touches it.
    let slot = unsafe { &mut *slot };
    if slot.yielded.is_some() {
        return Err(value);
    }
    slot.yielded = Some(value);
    Ok(())
}

/// Takes the input a resume left for the body, if there is one.
///
/// # Safety
/// `slot` comes from [`slot_for`] during the current poll, on this thread.
#[inline]
pub(super) unsafe fn take_input<Y, R>(slot: *mut Slot<Y, R>) -> Option<R> {
    // SAFETY: the caller's promise: `slot` is live and only this poll touches it.
    unsafe { (*slot).input.take() }
}

/// Takes the first resume's input, if it is still there.
///
/// # Safety
/// `slot` comes from [`slot_for`] during the current poll, on this thread.
pub(super) unsafe fn take_first_input<Y, R>(slot: *mut Slot<Y, R>) -> Option<R> {
    // SAFETY: the caller's promise: `slot` is live and only this poll touches it.
    unsafe { (*slot).first_input.take() }
}

/// A generator id never handed out before in this process.
pub(super) fn next_id() -> u64 {
    // Bookkeeping, not synchronization: only uniqueness matters, which a relaxed
    // read-modify-write gives (every RMW sees the latest value in the modification
    // order). A u64 does not wrap in the life of a process. Starts at 1: `NOBODY` is 0.
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}
