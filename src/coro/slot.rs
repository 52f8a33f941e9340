//! The slot a generator and its body pass values through, and the one way the body
//! reaches it: the thread-local record of the generator whose body this thread is
//! polling right now.
//!
//! # How a value crosses
//! A generator owns its [`Slot`] inline. To run the body it marks the slot as the one
//! being polled on this thread ([`poll_body`]: the slot's address and its generator's
//! id in a thread-local, the previous ones put back when the poll returns or unwinds),
//! and polls the body. A `yield_` future, polled inside the body, finds the slot through
//! [`slot_for`]: the thread's current generator must be the one its `Co` was made by, or
//! it panics. It writes the yielded value and returns `Pending`; the generator reads the
//! value back once the poll returns. The next resume writes its input the same way
//! round. One write and one read per direction, no `Option` taken and put back, no
//! reference count, no lock, no atomic.
//!
//! # Why this is sound, and why a generator may be `Send`
//! The slot is touched only by the thread that is polling the body, during that poll:
//! - The slot's address is published only in a thread-local of the polling thread, and
//!   only while its generator polls the body; the generator holds itself mutably all
//!   that time and touches the slot only through that address. Another thread (one
//!   that the body starts inside the poll with `std::thread::scope`, say, and hands a
//!   `yield_` future to) sees its own thread-local, in which no generator is running,
//!   so it can never write the slot while the polling thread does.
//! - A `Co` holds no pointer at all, only its generator's id (a number never reused in
//!   the process, from [`next_id`]). Used anywhere but inside its own generator's poll
//!   (in another generator, on another task or thread, after its generator ended), it
//!   finds another id or none and panics before it reads or writes anything. The id
//!   also stands in for the types: only the generator that made a `Co<Y, R>` has that
//!   id, and its slot is a `Slot<Y, R>`.
//! - The body is polled with the caller's own `Context` (a no-op waker for a plain
//!   generator, the consumer's for an async one), so nothing the body awaits can carry
//!   the slot's address out of the poll.
//!
//! So a generator holds nothing that a thread could share behind the compiler's back: it
//! is `Send` exactly when its slot (`Y`, `R`) and its body are, by the compiler's own
//! rules (no `unsafe impl`). The failures known elsewhere (generator-rs #58, next-gen
//! #13) come from a yielder reachable from outside the generator's own execution; here
//! the slot's address never outlives one poll on one thread. No part of the slot can be
//! reached from two threads, so it needs no loom model; the thread-local goes through
//! `sync` so that loom's simulated threads each have their own.

use std::cell::Cell;
use std::future::Future;
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::ptr;
use std::task::{Context, Poll};

use crate::sync::outside_loom::{AtomicU64, Ordering};

/// A marker that makes a type invariant in `T` (and `Send + Sync` whatever `T` is): a
/// `Co` must never be used at a type its slot does not hold, not even a subtype.
pub(super) type Invariant<T> = PhantomData<fn(T) -> T>;

/// Values in flight between a generator and its body.
pub(super) struct Slot<Y, R> {
    /// The generator's id: a `Co` with another id is not this generator's.
    id: u64,
    has_yielded: bool,
    has_input: bool,
    yielded: MaybeUninit<Y>,
    input: MaybeUninit<R>,
    /// The first resume's input, until the body takes it.
    first_input: Option<R>,
}

impl<Y, R> Slot<Y, R> {
    pub(super) fn new() -> Self {
        Slot {
            id: next_id(),
            has_yielded: false,
            has_input: false,
            yielded: MaybeUninit::uninit(),
            input: MaybeUninit::uninit(),
            first_input: None,
        }
    }

    /// The id a `Co` of this generator carries.
    #[inline]
    pub(super) fn id(&self) -> u64 {
        self.id
    }

    /// The value the body yielded in the poll that just returned, if it yielded.
    #[inline]
    pub(super) fn take_yielded(&mut self) -> Option<Y> {
        if self.has_yielded {
            self.has_yielded = false;
            // SAFETY: `has_yielded` says `yielded` holds a value, which we now move out
            // and mark gone.
            Some(unsafe { self.yielded.assume_init_read() })
        } else {
            None
        }
    }

    /// Leaves `input` for the `yield_` the body is suspended in.
    #[inline]
    pub(super) fn put_input(&mut self, input: R) {
        if self.has_input {
            // The body did not take the last input (it dropped or never re-polled its
            // `yield_`): replace it, so nothing leaks.
            // SAFETY: `has_input` says `input` holds a value; it is dropped once, here.
            unsafe { self.input.assume_init_drop() };
        }
        self.input.write(input);
        self.has_input = true;
    }

    pub(super) fn put_first_input(&mut self, input: R) {
        self.first_input = Some(input);
    }

    pub(super) fn take_first_input(&mut self) -> Option<R> {
        self.first_input.take()
    }

    /// Drops whatever is still in flight (a generator that finished or closed).
    pub(super) fn clear(&mut self) {
        drop(self.take_yielded());
        if self.has_input {
            self.has_input = false;
            // SAFETY: `has_input` says `input` holds a value; it is dropped once, here.
            unsafe { self.input.assume_init_drop() };
        }
        self.first_input = None;
    }
}

impl<Y, R> Drop for Slot<Y, R> {
    fn drop(&mut self) {
        self.clear();
    }
}

/// The generator whose body this thread is polling: its id and its slot.
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

/// Polls `body` once with `cx`, as the generator owning `slot`: while it runs, the
/// body's `Co` finds the slot through [`slot_for`]. If the body panics, it is dropped
/// (its live locals were dropped by the unwind; it must never be polled again) and the
/// panic goes on; either way the thread's previous running generator is put back (a
/// body that resumes another generator nests).
///
/// # Safety
/// `slot` is valid for the whole call, and nothing else touches the slot during it (the
/// caller holds the generator mutably and reaches the slot only through `slot`).
#[inline]
pub(super) unsafe fn poll_body<Y, R, Fut: ?Sized + Future>(
    slot: *mut Slot<Y, R>,
    cx: &mut Context<'_>,
    body: &mut Option<Pin<Box<Fut>>>,
) -> Poll<Fut::Output> {
    /// Puts the outer running generator back, on return and on unwind.
    struct Restore(Running);
    impl Drop for Restore {
        #[inline]
        fn drop(&mut self) {
            RUNNING.with(|running| running.set(self.0));
        }
    }
    /// Drops the body if the poll unwinds; forgotten otherwise.
    struct DropOnUnwind<'a, Fut: ?Sized>(&'a mut Option<Pin<Box<Fut>>>);
    impl<Fut: ?Sized> Drop for DropOnUnwind<'_, Fut> {
        fn drop(&mut self) {
            *self.0 = None;
        }
    }

    let this = Running {
        // SAFETY: the caller's promise: `slot` is valid.
        id: unsafe { (*slot).id },
        slot: slot as *mut (),
    };
    let _restore = Restore(RUNNING.with(|running| running.replace(this)));
    let on_unwind = DropOnUnwind(body);
    let Some(running) = on_unwind.0.as_mut() else {
        unreachable!("braid::coro: a finished generator's body polled")
    };
    let polled = running.as_mut().poll(cx);
    std::mem::forget(on_unwind);
    polled
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
    if slot.has_yielded {
        return Err(value);
    }
    slot.yielded.write(value);
    slot.has_yielded = true;
    Ok(())
}

/// Takes the input a resume left for the body, if there is one.
///
/// # Safety
/// `slot` comes from [`slot_for`] during the current poll, on this thread.
#[inline]
pub(super) unsafe fn take_input<Y, R>(slot: *mut Slot<Y, R>) -> Option<R> {
    // SAFETY: the caller's promise: `slot` is live and only this poll touches it.
    let slot = unsafe { &mut *slot };
    if slot.has_input {
        slot.has_input = false;
        // SAFETY: `has_input` says `input` holds a value, which we move out and mark gone.
        Some(unsafe { slot.input.assume_init_read() })
    } else {
        None
    }
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
fn next_id() -> u64 {
    // Bookkeeping, not synchronization: only uniqueness matters, which a relaxed
    // read-modify-write gives (every RMW sees the latest value in the modification
    // order). A u64 does not wrap in the life of a process. Starts at 1: `NOBODY` is 0.
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}
