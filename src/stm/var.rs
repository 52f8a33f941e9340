//! The shared core of a `TVar`: lock word, current value, reference count, waiters.
//!
//! The core is not generic: the value is packed into one pointer-sized slot (the bits of
//! a primitive scalar, or a pointer to a heap node holding a `T`; see `value.rs`), and
//! `drop_node` is the one function that knows `T`. Transactions, commits and waiters
//! handle `NonNull<VarCore>` and never need to be generic themselves.
//!
//! # Size
//! 40 bytes. Five words: the lock word, the value, the count, the wait list's pointer,
//! and the variable's [`VarKind`], one static per value type and allocation that holds
//! the two functions a core needs (drop a value node, free the allocation). Until
//! 2026-12-08 those were two words of every core, and a lock-order id a third: commits
//! now lock in address order, and only loom, whose explored runs must make the same
//! choices while addresses vary, keeps an id.
//!
//! A `TMap` has a core inline in each index entry (`map/key_var.rs`), where it makes a
//! `u64 -> u64` entry 56 bytes, a 64-byte block from glibc (81 resident bytes per entry
//! with the index's slots, from 97). A `TVar`'s own box pads its core to 56 bytes, the
//! same 64-byte block as before: in a 48-byte one, `bank_64` at 2 threads ran slower
//! (BENCHMARKS.md, 2026-12-08), as two neighbours' lock words shared a cache line.
//!
//! It was 128 bytes aligned to a cache line, which glibc serves from 256 (measured: 259
//! resident bytes per `TVar<u64>` before, see BENCHMARKS.md, "TVar size"), then 80 (a
//! 96-byte block) until the wait list, which few variables ever need, moved out of the
//! core into a list the first waiter allocates (`wait.rs`). The alignment kept two
//! variables off one cache line, so that a commit to one would not slow the readers of
//! its neighbour; the bank benchmark, whose 64 accounts are neighbours, was no slower
//! without it at 2 and 4 threads (medians of three runs: 270 -> 241 ns and 522 -> 482
//! ns per transfer), within a loaded machine's noise (BENCHMARKS.md, "TVar size"). A
//! word value's variable needs no drop function, so `None` there also says "nothing to
//! retire", where a flag and a function pointer took two words.
//!
//! # Lifetime
//! `TVar` handles own the reference count (`refs`); each clone adds one. The last handle
//! does not free the core at once: a running transaction may have read or written it
//! and still hold a pointer to it (read and write sets do not own references, so a
//! read-only transaction writes no shared counter). Every transaction is a section of
//! `presence.rs`, and the free waits until each one running when the last handle went
//! has ended (`reclaim::retire_after_sections`; at once when none is running). A new
//! transaction cannot reach the core: it would need a handle. A waiter that must outlive
//! its transaction (a parked `retry`) takes a counted reference with `retain`. The free
//! is the core's own `free`: a `TVar`'s box, or for a map's key the index entry the core
//! is inline in, whose index holds one counted reference until it unlinks the entry.
//!
//! Under loom, each core also has a liveness cell: the free marks it dead instead of
//! freeing, and every transactional access reads it first, so loom reports an access that
//! does not happen before the free as a data race, and one after it as a failed check.
//!
//! # Value nodes
//! A value node is written once, when created, and never mutated after it is published.
//! A commit replaces the pointer and defers the old node's free, so a reader pinned
//! before the swap can finish cloning the old value. A word value has nothing to free.
//!
//! # Orderings
//! - `value` is stored with `Release` by the committer and loaded with `Acquire` by
//!   readers: the node's contents, written before the store, are visible to the reader.
//!   (A word's bits are the store itself.)
//! - `refs` follows `Arc`: increments are `Relaxed` (made from a live reference), the
//!   decrement is `Release`, and the last one adds an `Acquire` fence so every use through
//!   other handles happens before the free.
//! - `lock` is documented in `commit.rs`, which is the only writer.

use std::ptr::NonNull;

use super::clock;
use super::lock::LockWord;
use super::value;
use super::wait::WaitList;
use crate::sync::atomic::Ordering::{Acquire, Relaxed, Release, SeqCst};
use crate::sync::atomic::{fence, AtomicPtr, AtomicU64, AtomicUsize};
use crate::sync::backoff::Backoff;
use crate::sync::liveness::Liveness;
use crate::sync::reclaim;
#[cfg(loom)]
use crate::sync::sync_static;

/// Not aligned to a cache line: see the module docs, Size. `repr(C)`: the lock word and
/// the value, which every access reads, come first, so that in a map's entry they sit
/// beside the key (`map/index.rs`, `Entry`).
#[repr(C)]
pub(crate) struct VarCore {
    /// The versioned lock; see `lock.rs`.
    pub(crate) lock: AtomicU64,
    /// The value, packed (see `value.rs`): a word's bits, or a pointer to a node
    /// holding a `T` (see `node.rs`), erased to `()`.
    pub(crate) value: AtomicPtr<()>,
    /// Counted references: one per `TVar` handle and one per parked waiter.
    refs: AtomicUsize,
    /// Threads and tasks parked in `retry` after reading this variable.
    pub(crate) waiters: WaitList,
    /// What knows the value's type and the core's allocation: one static per kind of
    /// variable, where two function pointers took two words of every core.
    kind: &'static VarKind,
    /// Under loom only, the global order in which commits lock variables (see
    /// [`VarCore::lock_order`]): unique and fixed for the variable's life.
    #[cfg(loom)]
    id: u64,
    /// Marked freed as the core is "freed" (under loom cores are leaked, not freed): see
    /// the module docs, Lifetime. Zero-sized under std.
    alive: Liveness,
}

/// The functions of one kind of variable: how to drop its value, and how to free the
/// allocation its core lives in. Made by [`VarKind::of`], one static per kind.
pub(crate) struct VarKind {
    /// Drops a packed value of the variable's type, which is in a node; `None` when the
    /// value is held in the word, which has nothing to drop or retire.
    drop_node: Option<unsafe fn(*mut ())>,
    /// Frees the allocation that holds the core, once its last counted reference is
    /// gone and the sections running then have ended: a `TVar`'s own box, or the `TMap`
    /// index entry a key's variable lives in (`map/key_var.rs`).
    free: unsafe fn(*mut ()),
}

/// Where a kind of variable's core lives, as [`VarKind::of`] needs it: the function that
/// frees that allocation.
pub(crate) trait CoreHome {
    /// Frees the allocation holding a core whose last counted reference is gone.
    const FREE: unsafe fn(*mut ());
}

/// A `TVar`'s core in a box of its own ([`VarCore::new`]).
///
/// Padded to 56 bytes, so that glibc serves it from a 64-byte block: two variables'
/// lock words and values then never share a cache line. With the bare 40-byte core (a
/// 48-byte block), `bank_64` at 2 threads, whose 64 accounts are neighbours, ran 1.5x
/// slower (medians of ten runs; BENCHMARKS.md, 2026-12-08). A map's entries need no
/// padding: their hash and key fill them to 56 bytes.
#[repr(C)]
struct OwnBox {
    core: VarCore,
    _pad: [u64; 2],
}

impl CoreHome for OwnBox {
    const FREE: unsafe fn(*mut ()) = drop_core;
}

impl VarKind {
    /// The static kind of a variable holding `T` in an allocation of home `H`.
    #[inline(always)]
    pub(crate) fn of<T: Send + Sync + 'static, H: CoreHome>() -> &'static VarKind {
        if value::in_word::<T>() {
            const {
                &VarKind {
                    drop_node: None,
                    free: H::FREE,
                }
            }
        } else {
            const {
                &VarKind {
                    drop_node: Some(value::drop_packed::<T>),
                    free: H::FREE,
                }
            }
        }
    }
}

#[cfg(loom)]
sync_static! {
    static NEXT_ID: AtomicU64 = AtomicU64::new(0);
}

impl VarCore {
    /// Allocates a core holding `value`, with one counted reference (the caller's handle).
    pub(crate) fn new<T: Send + Sync + 'static>(value: T) -> NonNull<VarCore> {
        let kind = VarKind::of::<T, OwnBox>();
        let core = VarCore::with_word(value::pack(value), LockWord::unlocked(0), kind);
        // The box's own pointer, cast: the core is its first field (`repr(C)`), and
        // `drop_core` frees the box through it.
        NonNull::from(Box::leak(Box::new(OwnBox { core, _pad: [0; 2] }))).cast()
    }

    /// The core of a map variable whose key is absent, claimed by the transaction about
    /// to write it (see `lock.rs`), with one counted reference (its map's index), to be
    /// placed in an allocation of home `H`: a null value (no node) for a node type,
    /// zero bits for a word.
    ///
    /// Its version is the clock's time now, not 0. The key may have had a variable that a
    /// sweep unlinked, after a commit removed the key; a transaction whose snapshot
    /// predates that removal must not read the new variable as "absent all along" (it
    /// would see the removal's effect on this key and not on the other keys it wrote).
    /// Made after the unlink (the caller holds the index's lock that the sweep held), so
    /// after the embalm moved the clock past its own version (`commit.rs`): such a
    /// transaction finds the version newer than its snapshot, and extending the snapshot
    /// revalidates what it read.
    pub(crate) fn claimed_absent<T: Send + Sync + 'static, H: CoreHome>() -> VarCore {
        let absent = LockWord::unlocked(clock::now()).with_absent(true).claimed();
        VarCore::with_word(std::ptr::null_mut(), absent, VarKind::of::<T, H>())
    }

    /// The core of a map variable holding `value`, for a map filled outside any
    /// transaction; otherwise as `claimed_absent`.
    pub(crate) fn present<T: Send + Sync + 'static, H: CoreHome>(value: T) -> VarCore {
        VarCore::with_word(
            value::pack(value),
            LockWord::unlocked(0),
            VarKind::of::<T, H>(),
        )
    }

    /// A core of a variable of `kind` holding `packed`, with lock word `word`.
    fn with_word(packed: *mut (), word: LockWord, kind: &'static VarKind) -> VarCore {
        VarCore {
            lock: AtomicU64::new(word.bits()),
            value: AtomicPtr::new(packed),
            refs: AtomicUsize::new(1),
            waiters: WaitList::new(),
            kind,
            #[cfg(loom)]
            // Relaxed: only uniqueness matters, and one counter's RMWs give that.
            id: NEXT_ID.fetch_add(1, Relaxed),
            alive: Liveness::new(),
        }
    }

    /// Clears a map variable's claimed bit (`lock.rs`): a transaction that wrote it ends
    /// without committing that write, so the index may sweep it if its key stays absent.
    /// Nothing for any other variable. While the variable is locked (by a commit, or by a
    /// sweep looking at it, each for a few stores), waits: either may unlock it with the
    /// claim still set.
    pub(crate) fn unclaim(&self) {
        self.check_alive();
        let mut backoff = Backoff::new();
        let mut word = LockWord::from_bits(self.lock.load(Relaxed));
        while word.is_claimed() {
            if word.is_locked() {
                backoff.snooze();
                word = LockWord::from_bits(self.lock.load(Relaxed));
                continue;
            }
            // Relaxed: the bit is a hint to the sweep and publishes nothing; an RMW keeps
            // the release sequence of the last unlock intact for the next locker.
            let unclaimed = word.unclaimed().bits();
            match (self.lock).compare_exchange_weak(word.bits(), unclaimed, Relaxed, Relaxed) {
                Ok(_) => return,
                Err(now) => word = LockWord::from_bits(now),
            }
        }
    }

    /// Drops a packed value of this variable's type that was never published, or was
    /// unlinked and is no longer reachable by readers.
    ///
    /// # Safety
    /// `packed` is a packed value of this variable's type, owned by the caller.
    pub(crate) unsafe fn drop_packed(&self, packed: *mut ()) {
        // A map variable's absent value in a node type is null: no node.
        if let Some(drop_node) = self.kind.drop_node.filter(|_| !packed.is_null()) {
            // SAFETY: same value type (this variable's), ownership passed by the caller.
            unsafe { drop_node(packed) }
        }
    }

    /// Disposes of the value a commit just replaced: a node's free waits until no pinned
    /// reader can still be cloning it; a word needs nothing.
    ///
    /// # Safety
    /// `packed` was this variable's published value and has been replaced.
    #[inline]
    pub(crate) unsafe fn retire_replaced(
        &self,
        packed: *mut (),
        reclaimer: &mut reclaim::Reclaimer,
    ) {
        // A map variable's absent value in a node type is null: nothing to retire.
        let Some(drop_node) = self.kind.drop_node.filter(|_| !packed.is_null()) else {
            return;
        };
        // SAFETY: the node is unreachable for readers that pin from now on; value types
        // are `Send + Sync`, so `drop_node` may free it on any thread.
        unsafe { reclaimer.retire(packed, drop_node) }
    }

    /// The order in which commits lock variables, and waiters register on them: the
    /// core's address, which is unique and fixed while the core lives. Under loom, an id
    /// from a counter instead: addresses vary from run to run, and every execution loom
    /// explores must make the same choices.
    #[inline(always)]
    pub(crate) fn lock_order(&self) -> u64 {
        #[cfg(loom)]
        return self.id;
        #[cfg(not(loom))]
        return std::ptr::from_ref(self).addr() as u64;
    }

    /// The current lock word. Inlined: reads are generic, so they are compiled in the
    /// caller's crate, and without the hint each read made two calls here (17 of an
    /// increment's 528 instructions).
    #[inline]
    pub(crate) fn lock_word(&self) -> LockWord {
        self.check_alive();
        // Acquire: pairs with the committer's Release unlock, so the value loaded after
        // this is at least as new as the version read here. SeqCst besides: a read's
        // place in the order that ties commits to the clock (`clock.rs`, Orderings).
        LockWord::from_bits(self.lock.load(SeqCst))
    }

    /// Under loom, fails (as a data race or as an assertion) if the core's free does not
    /// happen after this access; see the module docs, Lifetime. Nothing under std.
    #[inline(always)]
    pub(crate) fn check_alive(&self) {
        self.alive.check("a TVar's core");
    }

    /// Adds a counted reference to a core that is known to be alive.
    pub(crate) fn retain(&self) {
        // Relaxed: made from a live reference, like `Arc::clone`.
        self.refs.fetch_add(1, Relaxed);
    }

    /// Adds a counted reference unless the last one is already gone: `false` for a core
    /// whose free is under way (like `Weak::upgrade`). For a transaction's waiter, which
    /// reached the core through its read set, not through a handle: a transaction may
    /// have dropped the last handle to a variable it read, and bringing the count back
    /// from zero would free the core twice, the first time while the waiter still holds
    /// it. Such a variable can never be written again, so not waiting on it loses nothing.
    pub(crate) fn try_retain(&self) -> bool {
        self.check_alive();
        let mut refs = self.refs.load(Relaxed);
        loop {
            if refs == 0 {
                return false;
            }
            // Relaxed: the caller's transaction keeps the core alive while this runs, and
            // the count only needs to be exact, as in `retain`.
            match (self.refs).compare_exchange_weak(refs, refs + 1, Relaxed, Relaxed) {
                Ok(_) => return true,
                Err(now) => refs = now,
            }
        }
    }

    /// Drops a counted reference; the last one defers freeing the core.
    ///
    /// # Safety
    /// The caller owns one counted reference to `core` and gives it up.
    pub(crate) unsafe fn release(core: NonNull<VarCore>) {
        // SAFETY: the caller owns a counted reference, so the core is alive.
        let core_ref = unsafe { core.as_ref() };
        core_ref.check_alive();
        let refs = &core_ref.refs;
        // Release: every use of the core through this reference happens before the free.
        if refs.fetch_sub(1, Release) != 1 {
            return;
        }
        // Acquire: pairs with the Release decrements of every other reference.
        fence(Acquire);
        // SAFETY: no handle is left, so no transaction that starts from now on can reach
        // the core; the ones running now may still hold a pointer, and the free waits for
        // them. A core's contents are `Send + Sync`, so it may be freed on any thread.
        unsafe { reclaim::retire_after_sections(core.as_ptr().cast(), core_ref.kind.free) }
    }
}

/// Frees a core made by [`VarCore::new`].
///
/// # Safety
/// `core` came from `VarCore::new`, has no references left, and is not used again.
unsafe fn drop_core(core: *mut ()) {
    // SAFETY: the caller passes a core made by `VarCore::new`, the first field of an
    // `OwnBox` (`repr(C)`), so at the box's address, and gives it up.
    let core = unsafe { Box::from_raw(core.cast::<OwnBox>()) };
    #[cfg(loom)]
    {
        // Its value dropped and the core marked freed, but the memory leaked with the
        // mark in it, so that a late access is a failed check or a race that loom
        // reports, not a read of freed memory.
        core.core.drop_contents();
        std::mem::forget(core);
    }
    #[cfg(not(loom))]
    drop(core);
}

impl Drop for VarCore {
    fn drop(&mut self) {
        self.drop_contents();
    }
}

impl VarCore {
    /// What freeing the core does before its memory goes: marks it freed (see
    /// `Liveness`; under loom the memory is then leaked, by `drop_core` or with the map
    /// entry the core lives in) and drops its value.
    fn drop_contents(&self) {
        self.alive.mark_freed();
        let packed = self.value.load(Relaxed);
        // SAFETY: the core is being freed, so nothing else can reach its current value.
        unsafe { self.drop_packed(packed) }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    #[test]
    fn a_core_is_40_bytes_and_a_tvars_own_box_56_not_cache_line_aligned() {
        assert_eq!(size_of::<super::VarCore>(), 40);
        // 56 + glibc's 8-byte header fill a 64-byte block exactly.
        assert_eq!(size_of::<super::OwnBox>(), 56);
        assert_eq!(align_of::<super::OwnBox>(), 8);
        assert_eq!(align_of::<super::VarCore>(), 8);
    }
}
