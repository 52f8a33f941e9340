//! The slot a generator and its body pass values through, and the one way the body
//! reaches it: the `Context` of the poll that is running the body.
//!
//! # How a value crosses
//! A generator owns its [`Slot`] inline. To run the body it builds a [`Waker`] whose data
//! pointer is the slot's address and whose vtable is [`SLOT_VTABLE`], and polls the body
//! with it. A `yield_` future, polled inside the body, finds the slot through
//! [`slot_in`]: the waker's vtable must be `SLOT_VTABLE` and the slot's generator id must
//! be the one its `Co` was made with, or it panics. It writes the yielded value and
//! returns `Pending`; the generator reads the value back once the poll returns. The next
//! resume writes its input the same way round. One write and one read per direction, no
//! `Option` taken and put back, no reference count, no thread-local, no lock.
//!
//! # Why this is sound, and why a generator may be `Send`
//! The slot is touched only by the thread that is polling the body, during that poll:
//! - The slot's address exists only in the waker built for one poll, which lives on the
//!   polling thread's stack and is dropped when the poll returns. Cloning that waker does
//!   not copy the address: [`SLOT_VTABLE`]'s `clone` returns a clone of the *outer* waker
//!   (the consumer's, for an async generator; a no-op one for a plain generator), so a
//!   future the body awaits keeps a waker that knows nothing of the slot.
//! - A `Co` holds no pointer at all, only its generator's id (a number never reused in
//!   the process, [`next_id`]). Used anywhere but inside its own generator's poll (in
//!   another generator, on another task or thread, after its generator ended), it sees a
//!   foreign vtable or a foreign id and panics before it reads or writes anything. The
//!   id also stands in for the types: only the generator that made a `Co<Y, R>` has that
//!   id, and its slot is a `Slot<Y, R>`.
//! - The first resume's input is the one value a body takes outside a poll of its own
//!   futures (`Co::first_input` is a plain call). It is handed over through
//!   [`FirstStep`], a thread-local set only while the first step runs on this thread.
//!
//! So a generator holds nothing that a thread could share behind the compiler's back: it
//! is `Send` exactly when its slot (`Y`, `R`) and its body are, by the compiler's own
//! rules (no `unsafe impl`). The failures known elsewhere (generator-rs #58, next-gen
//! #13) come from a yielder reachable from outside the generator's own execution, a
//! thread-local or a pointer kept across resumes; here neither outlives one poll.
//! Nothing in the slot is atomic, and no part of it can be reached from two threads, so
//! it needs no loom model.

use std::cell::Cell;
use std::future::Future;
use std::marker::PhantomData;
use std::mem::{ManuallyDrop, MaybeUninit};
use std::pin::Pin;
use std::ptr;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

use crate::sync::outside_loom::{AtomicU64, Ordering};

/// A marker that makes a type invariant in `T` (and `Send + Sync` whatever `T` is): a
/// `Co` must never be used at a type its slot does not hold, not even a subtype.
pub(super) type Invariant<T> = PhantomData<fn(T) -> T>;

/// The part of a slot that does not depend on its types, first in memory so the waker's
/// vtable functions (which are not generic) can read it.
#[repr(C)]
struct Header {
    /// The generator's id: a `Co` with another id is not this generator's.
    id: u64,
    /// The waker the generator itself was polled with, for clones: a no-op waker for a
    /// plain generator (set once), the consumer's for an async one (set for each poll).
    outer: *const Waker,
}

// SAFETY: `outer` is dereferenced only during the poll it was set for, on the polling
// thread (by the slot waker's functions), never through a shared `Header`.
unsafe impl Send for Header {}
// SAFETY: as above.
unsafe impl Sync for Header {}

/// Values in flight between a generator and its body.
#[repr(C)]
pub(super) struct Slot<Y, R> {
    header: Header,
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
            header: Header {
                id: next_id(),
                outer: Waker::noop(),
            },
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
        self.header.id
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

    /// Runs `poll` with a `Context` that leads to the slot at `slot`, wrapping `outer`
    /// (or the waker wrapped last time, if `None`): every waker cloned from it is a clone
    /// of the wrapped one.
    ///
    /// # Safety
    /// `slot` is valid for the whole call, and nothing else touches the slot during it
    /// (the caller holds the generator mutably and reaches the slot only through `slot`).
    #[inline]
    pub(super) unsafe fn poll_with<T>(
        slot: *mut Self,
        outer: Option<&Waker>,
        poll: impl FnOnce(&mut Context<'_>) -> T,
    ) -> T {
        if let Some(outer) = outer {
            // SAFETY: the caller's promise: `slot` is valid and ours alone.
            unsafe { (*slot).header.outer = outer };
        }
        // SAFETY: SLOT_VTABLE's functions read the `Header` at `slot`, which outlives the
        // waker: the waker is dropped (with a no-op drop) before this function returns.
        let waker = ManuallyDrop::new(unsafe { Waker::new(slot as *const (), &SLOT_VTABLE) });
        poll(&mut Context::from_waker(&waker))
    }
}

impl<Y, R> Drop for Slot<Y, R> {
    fn drop(&mut self) {
        self.clear();
    }
}

/// The slot of the generator whose poll `cx` belongs to, if `cx` is that of the
/// generator with `id`. The pointer is valid until the current poll returns.
#[inline]
pub(super) fn slot_in<Y, R>(cx: &Context<'_>, id: u64) -> Option<*mut Slot<Y, R>> {
    let waker = cx.waker();
    if !ptr::eq(waker.vtable(), &SLOT_VTABLE) {
        return None;
    }
    let header = waker.data() as *const Header;
    // SAFETY: a waker with SLOT_VTABLE is made only by `poll_with`, whose data is a live
    // `Slot` beginning with its `Header` (`repr(C)`), for the duration of this poll.
    if unsafe { (*header).id } != id {
        return None;
    }
    // The ids match, so this is the slot of the generator that made the `Co` asking,
    // whose types are `Y` and `R`.
    Some(header as *mut Slot<Y, R>)
}

/// Writes a value the body yields. Returns the value back if one is already waiting
/// (two `yield_`s pending in one step), for the caller to refuse.
///
/// # Safety
/// `slot` comes from [`slot_in`] during the current poll.
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
/// `slot` comes from [`slot_in`] during the current poll.
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

/// The vtable of a waker that leads to a slot. Every waker made from it by `clone` is a
/// clone of the outer waker, so the slot's address never outlives the poll.
static SLOT_VTABLE: RawWakerVTable =
    RawWakerVTable::new(clone_outer, wake_outer, wake_outer_by_ref, drop_nothing);

/// The outer waker behind a slot waker's data.
///
/// # Safety
/// `data` is the data of a waker made by `poll_with`, during its poll.
unsafe fn outer<'a>(data: *const ()) -> &'a Waker {
    // SAFETY: `poll_with` stored the address of a waker that outlives the poll.
    unsafe { &*(*(data as *const Header)).outer }
}

unsafe fn clone_outer(data: *const ()) -> RawWaker {
    // SAFETY: only wakers made by `poll_with` have this vtable, and they exist only
    // during the poll (never cloned into another slot waker).
    let clone = ManuallyDrop::new(unsafe { outer(data) }.clone());
    // The clone's ownership passes to the new `Waker` built from these parts.
    RawWaker::new(clone.data(), clone.vtable())
}

unsafe fn wake_outer(data: *const ()) {
    // A slot waker is never owned (`poll_with` keeps it in a `ManuallyDrop`, and clones
    // are the outer waker's), so this runs only if someone builds one by hand.
    // SAFETY: as for `clone_outer`.
    unsafe { outer(data) }.wake_by_ref();
}

unsafe fn wake_outer_by_ref(data: *const ()) {
    // SAFETY: as for `clone_outer`.
    unsafe { outer(data) }.wake_by_ref();
}

unsafe fn drop_nothing(_: *const ()) {}

/// A generator id never handed out before in this process.
fn next_id() -> u64 {
    // Bookkeeping, not synchronization: only uniqueness matters, which a relaxed
    // read-modify-write gives (every RMW sees the latest value in the modification
    // order). A u64 does not wrap in the life of a process.
    sync_static_id::NEXT.fetch_add(1, Ordering::Relaxed)
}

mod sync_static_id {
    use super::AtomicU64;
    /// Starts at 1: no generator has id 0, so a zeroed header matches no `Co`.
    pub(super) static NEXT: AtomicU64 = AtomicU64::new(1);
}

crate::sync::thread_local! {
    /// The generator whose first step is running on this thread: its id and its slot's
    /// first input, for `Co::first_input`. Null outside a first step.
    static FIRST_STEP: Cell<(u64, *mut ())> = const { Cell::new((0, ptr::null_mut())) };
}

/// Marks the first step of the generator owning `slot` as running on this thread, until
/// dropped (also when the body panics). Nested first steps (a body starting another
/// generator) restore the outer one.
pub(super) struct FirstStep {
    outer: (u64, *mut ()),
}

impl FirstStep {
    /// # Safety
    /// `slot` is valid until the returned guard drops, and during that time the slot's
    /// first input is reached only through it (by `take_first_input` on this thread).
    pub(super) unsafe fn enter<Y, R>(slot: *mut Slot<Y, R>) -> FirstStep {
        // SAFETY: the caller's promise: `slot` is valid.
        let this = (unsafe { (*slot).header.id }, slot as *mut ());
        FirstStep {
            outer: FIRST_STEP.with(|current| current.replace(this)),
        }
    }
}

impl Drop for FirstStep {
    fn drop(&mut self) {
        FIRST_STEP.with(|current| current.set(self.outer));
    }
}

/// Whether the first step of the generator with `id` is running on this thread; if so,
/// its first input (taken).
pub(super) fn take_first_input<Y, R>(id: u64) -> Result<Option<R>, ()> {
    let (current, slot) = FIRST_STEP.with(|current| current.get());
    if current != id || slot.is_null() {
        return Err(());
    }
    let slot = slot as *mut Slot<Y, R>;
    // SAFETY: `FirstStep::enter` stored this slot for the first step now running on this
    // thread, with the promise that it stays valid and that its first input is reached
    // only from here until the step ends; the generator with `id` made it, so its types
    // are `Y` and `R`.
    Ok(unsafe { (*slot).first_input.take() })
}

/// Polls `body` once with a `Context` that leads to `slot` and wraps `outer` (see
/// [`Slot::poll_with`]). If the body
/// panics, it is dropped (its live locals were dropped by the unwind; it must never be
/// polled again) and the panic goes on.
///
/// # Safety
/// As for [`Slot::poll_with`]: `slot` is valid for the call and reached only through it.
#[inline]
pub(super) unsafe fn poll_body<Y, R, Fut: ?Sized + Future>(
    slot: *mut Slot<Y, R>,
    outer: Option<&Waker>,
    body: &mut Option<Pin<Box<Fut>>>,
) -> Poll<Fut::Output> {
    /// Drops the body if the poll unwinds; forgotten otherwise.
    struct DropOnUnwind<'a, Fut: ?Sized>(&'a mut Option<Pin<Box<Fut>>>);
    impl<Fut: ?Sized> Drop for DropOnUnwind<'_, Fut> {
        fn drop(&mut self) {
            *self.0 = None;
        }
    }

    let on_unwind = DropOnUnwind(body);
    let Some(running) = on_unwind.0.as_mut() else {
        unreachable!("braid::coro: a finished generator's body polled")
    };
    // SAFETY: the caller's promise.
    let polled = unsafe { Slot::poll_with(slot, outer, |cx| running.as_mut().poll(cx)) };
    std::mem::forget(on_unwind);
    polled
}
