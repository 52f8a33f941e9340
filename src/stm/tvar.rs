//! `TVar<T>`: a transactional variable, as a cheap shared handle.

use std::fmt;
use std::marker::PhantomData;
use std::ptr::NonNull;

use super::clock;
use super::error::StmResult;
use super::tx::Transaction;
use super::value;
use super::var::VarCore;
use crate::sync::atomic::Ordering::Acquire;
use crate::sync::backoff::Backoff;
use crate::sync::reclaim;

/// A transactional variable: read and written inside [`atomically`](super::atomically)
/// blocks, where every transaction sees a consistent snapshot and commits all its writes
/// at once or none of them.
///
/// A `TVar` is a handle: `clone` shares the same variable. Values are read by cloning,
/// so a large value is best kept behind an `Arc`.
///
/// Integers, floats, `bool` and `char` (no wider than a pointer) are kept in the
/// variable itself, so writing them allocates nothing and a commit leaves no garbage.
/// Any other value lives in an immutable heap node that each commit replaces; the old
/// node is freed once no transaction can still be reading it. A newtype around an
/// integer is such a value, so a hot counter is best kept as the integer itself.
///
/// ```
/// use braid::stm::{atomically, TVar};
///
/// let counter = TVar::new(0);
/// let handle = counter.clone(); // the same variable
/// atomically(|tx| handle.modify(tx, |n| n + 1));
/// assert_eq!(counter.load(), 1);
/// ```
///
/// Values are shared between threads, so they must be `Send + Sync`; an `Rc` is refused
/// at compile time:
///
/// ```compile_fail
/// let shared = braid::stm::TVar::new(std::rc::Rc::new(1)); // Rc is neither Send nor Sync
/// ```
///
/// A transaction's reference cannot escape its body, so no read can outlive the
/// snapshot it came from:
///
/// ```compile_fail
/// use braid::stm::{atomically, TVar};
/// let x = TVar::new(1);
/// let mut escaped = None;
/// atomically(|tx| { escaped = Some(tx); Ok(()) });
/// ```
pub struct TVar<T> {
    core: NonNull<VarCore>,
    /// The handle shares ownership of `T` values like an `Arc<T>` would.
    _owns: PhantomData<std::sync::Arc<T>>,
}

// SAFETY: the handle is a counted reference to a core whose value is shared between
// threads; that needs `T: Send + Sync`, the same bounds `Arc<T>` has.
unsafe impl<T: Send + Sync> Send for TVar<T> {}
// SAFETY: as above.
unsafe impl<T: Send + Sync> Sync for TVar<T> {}

impl<T: Clone + Send + Sync + 'static> TVar<T> {
    /// Creates a variable holding `value`.
    ///
    /// ```
    /// let name = braid::stm::TVar::new(String::from("braid"));
    /// assert_eq!(name.load(), "braid");
    /// ```
    pub fn new(value: T) -> TVar<T> {
        TVar {
            core: VarCore::new(value),
            _owns: PhantomData,
        }
    }

    /// The core, for what reads it through the transaction's lower-level operations
    /// (`TMap`'s witnesses: `Transaction::depend_on`).
    pub(crate) fn core(&self) -> NonNull<VarCore> {
        self.core
    }

    /// Reads the value as of the transaction's snapshot (or its own earlier write).
    ///
    /// ```
    /// use braid::stm::{atomically, TVar};
    ///
    /// let x = TVar::new(2);
    /// assert_eq!(atomically(|tx| x.read(tx)), 2);
    /// ```
    pub fn read(&self, tx: &mut Transaction) -> StmResult<T> {
        // SAFETY: `self` keeps the core alive, and it holds a `T`.
        unsafe { tx.read(self.core) }
    }

    /// The value as of the transaction's snapshot, in place: a pointer into its node, good
    /// until the attempt ends or writes this variable again (see
    /// `Transaction::read_in_place`). For `T` held in a node, never a word.
    pub(crate) fn read_in_place(&self, tx: &mut Transaction) -> StmResult<NonNull<T>> {
        assert!(
            !value::in_word::<T>(),
            "a word value has no node to point into"
        );
        // SAFETY: `self` keeps the core alive, it holds a `T`, and `T` is in a node.
        unsafe { tx.read_in_place(self.core) }
    }

    /// Writes `value`; other threads see it when (if) the transaction commits.
    ///
    /// ```
    /// use braid::stm::{atomically, TVar};
    ///
    /// let x = TVar::new(0);
    /// atomically(|tx| x.write(tx, 7));
    /// assert_eq!(x.load(), 7);
    /// ```
    pub fn write(&self, tx: &mut Transaction, value: T) -> StmResult<()> {
        // SAFETY: `self` keeps the core alive, and it holds a `T`.
        unsafe { tx.write(self.core, value) }
    }

    /// Replaces the value with `f(value)`.
    ///
    /// ```
    /// use braid::stm::{atomically, TVar};
    ///
    /// let x = TVar::new(20);
    /// atomically(|tx| x.modify(tx, |v| v + 1));
    /// assert_eq!(x.load(), 21);
    /// ```
    // Inlined into the caller's attempt, and one pass where `read` then `write` would
    // test the write filter twice (see `Transaction::update`).
    #[inline]
    pub fn modify(&self, tx: &mut Transaction, f: impl FnOnce(T) -> T) -> StmResult<()> {
        // SAFETY: `self` keeps the core alive, and it holds a `T`.
        unsafe { tx.update(self.core, |value| (f(value), ())) }
    }

    /// Writes `value` and returns the value it replaced.
    ///
    /// ```
    /// use braid::stm::{atomically, TVar};
    ///
    /// let x = TVar::new("old");
    /// assert_eq!(atomically(|tx| x.replace(tx, "new")), "old");
    /// assert_eq!(x.load(), "new");
    /// ```
    #[inline]
    pub fn replace(&self, tx: &mut Transaction, value: T) -> StmResult<T> {
        // SAFETY: as in `modify`.
        unsafe { tx.update(self.core, |old| (value, old)) }
    }

    /// Reads the latest committed value without a transaction.
    ///
    /// The value is consistent (never half of a commit), but two `load`s of two variables
    /// are two separate snapshots: read them in one transaction to relate them. Writes
    /// no shared memory, and may be called anywhere, even inside a transaction body
    /// (where it ignores that transaction's own writes).
    ///
    /// ```
    /// let x = braid::stm::TVar::new(vec![1, 2]);
    /// assert_eq!(x.load(), [1, 2]);
    /// ```
    pub fn load(&self) -> T {
        // SAFETY: `self` keeps the core alive.
        let core = unsafe { self.core.as_ref() };
        // A node may be replaced and retired while we clone it; a word is the load itself,
        // and `self` keeps the core alive, so a word needs no pin.
        let _guard = (!value::in_word::<T>()).then(reclaim::pin);
        let mut backoff = Backoff::new();
        loop {
            let before = core.lock_word();
            if !before.is_locked() {
                // Acquire: pairs with the committer's Release store of the value.
                let packed = core.value.load(Acquire);
                // SAFETY: a published `T`; a node stays alive while we are pinned (above).
                let value = unsafe { value::unpack_clone::<T>(packed) };
                if core.lock_word() == before {
                    return value;
                }
            }
            backoff.snooze();
        }
    }

    /// Whether two handles refer to the same variable.
    ///
    /// ```
    /// let a = braid::stm::TVar::new(1);
    /// assert!(a.same_var(&a.clone()));
    /// assert!(!a.same_var(&braid::stm::TVar::new(1)));
    /// ```
    pub fn same_var(&self, other: &TVar<T>) -> bool {
        self.core == other.core
    }
}

impl<T> Clone for TVar<T> {
    fn clone(&self) -> Self {
        // SAFETY: `self` keeps the core alive.
        unsafe { self.core.as_ref() }.retain();
        TVar {
            core: self.core,
            _owns: PhantomData,
        }
    }
}

impl<T> Drop for TVar<T> {
    fn drop(&mut self) {
        // SAFETY: this handle owns one counted reference and gives it up.
        unsafe { VarCore::release(self.core) }
    }
}

impl<T: fmt::Debug + Clone + Send + Sync + 'static> fmt::Debug for TVar<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // SAFETY: `self` keeps the core alive.
        let word = unsafe { self.core.as_ref() }.lock_word();
        f.debug_struct("TVar")
            .field("value", &self.load())
            .field("version", &word.version())
            .finish()
    }
}

impl<T: Default + Clone + Send + Sync + 'static> Default for TVar<T> {
    fn default() -> Self {
        TVar::new(T::default())
    }
}

/// A consistent view of any number of variables outside a transaction, as of one time
/// on the clock: TL2's read-only transaction, which needs no read set (Dice, Shalev,
/// Shavit 2006, section 2.1). Each read takes the variable's value only if its lock word
/// is unlocked, unchanged across the read, and at most the snapshot's read version, so
/// every value read was the latest at that time (a commit that could change it takes
/// its write version after it locks, see `commit.rs`), whichever order they are read in.
/// A read that finds a newer or locked variable fails; the caller `renew`s the snapshot
/// and starts over. Nothing is written to shared memory but the epoch pin, which keeps
/// every node read alive for the snapshot's life.
///
/// For lookups through structures made of variables (`TMap::load`), where a reference
/// into one node leads to the next variable.
pub(crate) struct Snapshot {
    read_version: u64,
    /// The newest version a failed read met, which `renew` moves the clock to: a
    /// stamping commit leaves the clock behind its version (`clock.rs`).
    newest_seen: std::cell::Cell<u64>,
    _pin: reclaim::Guard,
    backoff: Backoff,
}

impl Snapshot {
    /// A snapshot as of now.
    pub(crate) fn now() -> Snapshot {
        // Pinned before the clock is read, so every node read afterwards stays alive.
        let pin = reclaim::pin();
        Snapshot {
            read_version: clock::now(),
            newest_seen: std::cell::Cell::new(0),
            _pin: pin,
            backoff: Backoff::new(),
        }
    }

    /// Moves the snapshot to now, after a read failed (backing off a little first, in
    /// case a commit holds the lock).
    pub(crate) fn renew(&mut self) {
        self.backoff.snooze();
        self.read_version = clock::advance_to(self.newest_seen.get());
    }

    /// `var`'s value as of this snapshot, in place; `None` if it has changed since, or a
    /// commit is publishing it.
    pub(crate) fn read_in_place<'a, T: 'static>(&'a self, var: &'a TVar<T>) -> Option<&'a T> {
        assert!(
            !value::in_word::<T>(),
            "a word value has no node to point into"
        );
        // SAFETY: a node is published once and never changed; it is freed only after
        // every thread pinned when it was replaced has unpinned, and this snapshot is
        // pinned for `'a`.
        self.read(var, |packed| unsafe { &*packed.cast::<T>().cast_const() })
    }

    fn read<T, R>(&self, var: &TVar<T>, unpack: impl FnOnce(*mut ()) -> R) -> Option<R> {
        // SAFETY: `var` keeps the core alive.
        let core = unsafe { var.core.as_ref() };
        let before = core.lock_word();
        if before.version() > self.read_version {
            self.newest_seen
                .set(self.newest_seen.get().max(before.version()));
            return None;
        }
        if before.is_locked() {
            return None;
        }
        // Acquire: pairs with the committer's Release store of the value, so a node's
        // contents are visible.
        let value = unpack(core.value.load(Acquire));
        (core.lock_word() == before).then_some(value)
    }
}
