//! Moving a value through a queue exactly once, without cloning it, and closing queues.
//!
//! A transaction body may run many times, so a value moved into the body on its first
//! run is gone on the second (it went down with the first attempt's writes). So `TQueue`
//! and `TBQueue` hold each value in a *parcel*: a shared box the value goes into once,
//! before any transaction. A transaction moves only the parcel's handle (a reference
//! count), which a re-run copies again; the consumer takes the value out after its
//! transaction has committed. A committed pop removes a parcel from the queue, and only
//! one commit can, so only one consumer takes each value. `TChan` keeps each message in
//! an `Arc` for the same reason: a broadcast is cloned out once per receiver.
//!
//! A transaction that clones the value out of a parcel inside its body (`pop`, which
//! hands the body a `T`) may be running on a stale snapshot: a later commit may already
//! have popped that parcel and its consumer taken the value. Such an attempt is doomed
//! anyway (that commit wrote the queue variable it read), so an empty parcel is a
//! conflict: the attempt runs again. The box is a mutex so that a clone and a take
//! never overlap.
//!
//! A parcel is one small block from the value-node allocator (`node.rs`), which recycles
//! blocks per thread: a producer allocates a parcel per message and its consumer frees
//! it, and the system allocator handles that hand-over badly (the same reason value
//! nodes are recycled). The block holds a reference count, managed as `Arc` manages its
//! own. A primitive scalar needs no box, as in a `TVar` (`value.rs`): its parcel is its
//! bits, a copy is a clone, and a take is a copy, which no concurrent clone can tear.
//!
//! # Orderings
//! `refs` follows `Arc`: increments are `Relaxed` (made from a live handle), a decrement
//! is `Release`, and the last one adds an `Acquire` fence, so every use of the parcel
//! through other handles happens before the free. The value itself is guarded by the
//! mutex.

use std::fmt;
use std::marker::PhantomData;

use super::error::{StmError, StmResult};
use super::{node, retry, value, TVar, Transaction};
use crate::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use crate::sync::atomic::{fence, AtomicUsize};
use crate::sync::{lock, Mutex};

/// A value on its way through a queue; see the module docs. A counted handle to a block
/// holding the value, or, for a primitive scalar, the value's bits themselves.
pub(crate) struct Parcel<T: 'static> {
    /// `value::pack`'s bits for a word type (`value::in_word::<T>()`), else a pointer to
    /// a `Block<T>` from `node::new`.
    packed: *mut (),
    _owns: PhantomData<Block<T>>,
}

struct Block<T> {
    refs: AtomicUsize,
    value: Mutex<Option<T>>,
}

// SAFETY: a parcel shares its block like an `Arc<Mutex<Option<T>>>` would, and that is
// `Send + Sync` when `T: Send`; a word parcel is plain bits of a `Send` type.
unsafe impl<T: Send> Send for Parcel<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for Parcel<T> {}

impl<T: 'static> Parcel<T> {
    pub(crate) fn new(value: T) -> Parcel<T> {
        let packed = if value::in_word::<T>() {
            value::pack(value)
        } else {
            node::new(Block {
                refs: AtomicUsize::new(1),
                value: Mutex::new(Some(value)),
            })
        };
        Parcel {
            packed,
            _owns: PhantomData,
        }
    }

    /// The block, for a type not held in a word.
    fn block(&self) -> &Block<T> {
        debug_assert!(!value::in_word::<T>());
        // SAFETY: not a word, so `packed` points to the block, and this handle holds a
        // counted reference to it.
        unsafe { &*self.packed.cast::<Block<T>>() }
    }

    /// A clone of the value, for a transaction body; a conflict if a consumer already
    /// took it (the attempt read a queue that has changed since).
    pub(crate) fn clone_value(&self) -> StmResult<T>
    where
        T: Clone,
    {
        if value::in_word::<T>() {
            // SAFETY: a word type's bits, packed by `new`.
            return Ok(unsafe { value::unpack_word::<T>(self.packed) });
        }
        lock(&self.block().value).clone().ok_or(StmError::CONFLICT)
    }

    /// The value, for the consumer whose pop of this parcel committed (or for a sender
    /// whose send found the queue closed, so that no queue holds the parcel).
    pub(crate) fn take(self) -> T {
        if value::in_word::<T>() {
            // SAFETY: a word type's bits, packed by `new`; a copy, so a zombie reading
            // the same bits at the same time reads them unharmed.
            return unsafe { value::unpack_word::<T>(self.packed) };
        }
        lock(&self.block().value)
            .take()
            .expect("braid: a queue value was taken twice (two commits popped one parcel)")
    }
}

impl<T: 'static> Clone for Parcel<T> {
    fn clone(&self) -> Self {
        if !value::in_word::<T>() {
            // Relaxed: made from a live handle, like `Arc::clone`.
            self.block().refs.fetch_add(1, Relaxed);
        }
        Parcel {
            packed: self.packed,
            _owns: PhantomData,
        }
    }
}

impl<T: 'static> Drop for Parcel<T> {
    fn drop(&mut self) {
        // A word owns nothing.
        if value::in_word::<T>() {
            return;
        }
        // SAFETY: not a word, so `packed` points to the block, alive while this handle
        // holds its count.
        let block = unsafe { &*self.packed.cast::<Block<T>>() };
        // Release: this handle's uses of the block happen before the free.
        if block.refs.fetch_sub(1, Release) != 1 {
            return;
        }
        // Acquire: pairs with the Release decrements of every other handle.
        fence(Acquire);
        // SAFETY: the last handle is gone; the block came from `node::new::<Block<T>>`.
        unsafe { node::free::<Block<T>>(self.packed) }
    }
}

/// A queue's or channel's `closed` variable: written once, by `close`, and read by every
/// send and by a receive that finds nothing, so it conflicts with nothing but the close,
/// and a close wakes every receiver waiting on it. One copy of the rules for `TQueue`,
/// `TBQueue` and `TChan`.
#[derive(Clone)]
pub(crate) struct CloseFlag(TVar<bool>);

impl CloseFlag {
    pub(crate) fn new() -> CloseFlag {
        CloseFlag(TVar::new(false))
    }

    /// Closes; closing twice writes nothing the second time.
    pub(crate) fn close(&self, tx: &mut Transaction) -> StmResult<()> {
        if !self.0.read(tx)? {
            self.0.write(tx, true)?;
        }
        Ok(())
    }

    pub(crate) fn is_closed(&self, tx: &mut Transaction) -> StmResult<bool> {
        self.0.read(tx)
    }

    /// The latest commit's answer, outside a transaction (for `Debug`).
    pub(crate) fn load(&self) -> bool {
        self.0.load()
    }

    /// Panics if closed: a transactional send (`what`, e.g. `TQueue::push`) would put in
    /// a value no one will receive.
    #[track_caller]
    pub(crate) fn assert_open(&self, tx: &mut Transaction, what: &str) -> StmResult<()> {
        assert!(
            !self.0.read(tx)?,
            "braid::stm::{what} after close: the value would never be received; check \
             is_closed in the same transaction, or send with put, which hands it back"
        );
        Ok(())
    }

    /// What a receive that found nothing answers: `None` once closed, else it retries
    /// (and, having read the flag, wakes at the close).
    pub(crate) fn nothing_left<T>(&self, tx: &mut Transaction) -> StmResult<Option<T>> {
        match self.0.read(tx)? {
            true => Ok(None),
            false => retry(),
        }
    }
}

/// A send to a closed queue or channel: the value comes back, unsent.
///
/// ```
/// use braid::stm::{atomically, Closed, TQueue};
///
/// let q = TQueue::new();
/// atomically(|tx| q.close(tx));
/// assert_eq!(q.put("late"), Err(Closed("late")));
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Closed<T>(pub T);

impl<T> Closed<T> {
    /// The value that was not sent.
    ///
    /// ```
    /// let error = braid::stm::Closed(7);
    /// assert_eq!(error.into_inner(), 7);
    /// ```
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for Closed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Closed(..)")
    }
}

impl<T> fmt::Display for Closed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("sending on a closed queue")
    }
}

impl<T> std::error::Error for Closed<T> {}
