//! The log: a transaction's read set, write set, undo log and hooks, which each thread
//! keeps and reuses, and the small operations on it that reads and writes share.

use std::ptr::NonNull;

use super::AttemptState;
use crate::stm::clock;
use crate::stm::error::{StmError, StmResult};
use crate::stm::var::VarCore;
use crate::sync::reclaim;

/// A transaction's bookkeeping. Each thread keeps one log (in its `Home`) and reuses it,
/// so a transaction neither allocates its sets nor moves them around: only a pointer
/// moves.
///
/// The attempt's state lives here too, not in `Transaction`, and a transaction leaves it
/// as a new one must find it (`Log::reset`): so starting one stores nothing, and the
/// resets come after the commit, where they do not delay its locked instructions (which
/// wait for the store buffer to drain).
///
/// The sets are `Vec`s made with room for the common case (`Log::new`), not `SmallVec`s:
/// the log lives on the heap anyway, so inline storage saves no allocation, and every
/// `SmallVec` access branches on whether it spilled (86 of a one-variable increment's
/// 376 instructions, counted with callgrind).
///
/// `repr(C)`, with what every transaction touches first: those fields then share two
/// cache lines instead of spreading over five.
#[repr(C)]
pub(crate) struct Log {
    pub(crate) reads: Vec<ReadEntry>,
    pub(crate) writes: Vec<WriteEntry>,
    pub(crate) state: AttemptState,
    /// The attempt's snapshot: reads accept versions up to this. Between transactions,
    /// the latest global-clock value this thread has seen, which is where the next
    /// transaction's snapshot starts (see `Transaction::begin`).
    pub(crate) read_version: u64,
    pub(crate) hooks: Vec<Box<dyn FnOnce() + Send>>,
    /// Pinned from the attempt's first read of a value in a node until the attempt ends
    /// (the node may be replaced and retired meanwhile, and must outlive the clone).
    /// `None` between transactions, so that starting one stores nothing here: every
    /// store before a commit's locked instructions delays them (they wait for the store
    /// buffer to drain).
    pub(super) pin: Option<reclaim::Guard>,
    pub(super) undo: Vec<UndoEntry>,
    pub(super) scopes: Vec<Scope>,
    /// For each write entry, the `or_else` branch that saved its previous value in the
    /// undo log and wrote its value (0: none did, also for entries past the end). A
    /// branch rewriting an entry older than itself saves the old value the first time
    /// only; this tells it whether it already has. Apart from the entries, and empty
    /// whenever no branch is open, so that a write outside branches stores nothing here.
    pub(super) saved_by: Vec<u32>,
    /// The thread's registration with the collector, and the values its commits
    /// replaced, waiting to be freed.
    pub(crate) reclaimer: reclaim::Reclaimer,
    /// The count of map unlinks this thread last checked its sets against, loaded before
    /// any read of the attempt running now: see `slot.rs`, Unlinks.
    pub(super) unlinks_seen: u64,
    /// Whether this thread's commits tick the clock or stamp past it (`clock.rs`).
    pub(crate) clock: clock::Mode,
}

impl Log {
    /// Unpins, if the attempt pinned.
    #[inline]
    pub(super) fn unpin_if_pinned(&mut self) {
        if self.pin.is_some() {
            self.unpin();
        }
    }

    /// Leaves the attempt's state as the next attempt or transaction must find it. The
    /// read version is not touched: it is the latest clock value this thread saw.
    #[inline]
    pub(super) fn reset(&mut self) {
        self.state = AttemptState::FRESH;
    }

    #[cold]
    pub(super) fn unpin(&mut self) {
        self.pin = None;
    }

    /// A log with room for a transaction that reads 16 variables and writes 8, and
    /// nests 4 `or_else` branches.
    pub(super) fn new() -> Log {
        Log {
            reads: Vec::with_capacity(16),
            writes: Vec::with_capacity(8),
            undo: Vec::with_capacity(4),
            scopes: Vec::with_capacity(4),
            saved_by: Vec::with_capacity(8),
            hooks: Vec::new(),
            reclaimer: reclaim::Reclaimer::default(),
            // The clock as the thread starts: a snapshot no older than it needs to be,
            // and the time against which its first commit tells whether others commit.
            read_version: clock::now(),
            state: AttemptState::FRESH,
            pin: None,
            unlinks_seen: 0,
            clock: clock::Mode::ticking(),
        }
    }

    /// Sets that grew to room for this many entries give their memory back when the
    /// transaction ends. A power of two, so one test of the capacities' bitwise OR tells
    /// whether any of them reached it.
    pub(super) const TRIM_AT: usize = 512;

    /// Trims sets that grew unusually large, as the transaction ends.
    #[inline]
    pub(super) fn trim_if_large(&mut self) {
        debug_assert!(self.writes.is_empty() && self.undo.is_empty() && self.saved_by.is_empty());
        if self.reads.capacity() | self.writes.capacity() | self.hooks.capacity() >= Self::TRIM_AT {
            self.trim();
        }
    }

    /// Gives back the memory of sets that grew unusually large. The log itself is kept:
    /// it holds the thread's registration with the collector and its retired values.
    #[inline(never)]
    pub(super) fn trim(&mut self) {
        // All are empty: shrinking leaves each with the room `Log::new` gives.
        self.reads.shrink_to(16);
        self.writes.shrink_to(8);
        self.hooks.shrink_to(0);
    }
}

#[derive(Clone, Copy)]
pub(crate) struct ReadEntry {
    pub(crate) var: NonNull<VarCore>,
    pub(crate) version: u64,
}

pub(crate) struct WriteEntry {
    pub(crate) var: NonNull<VarCore>,
    /// An unpublished value of the variable's type, packed (see `value.rs`), owned by
    /// this entry.
    pub(crate) value: *mut (),
    /// The version of the variable that the write was computed from, when the entry
    /// stands for a read too (`modify`, `replace`): validated, and waited on by `retry`,
    /// exactly like a read-set entry, which it saves (a read-set entry costs three
    /// stores, this field one). The variable is in the write set, so the commit locks it
    /// and compares it under its lock. `NOT_READ` for any other write.
    pub(crate) read_version: u64,
    /// A map variable's write of "absent" (see `lock.rs`): the commit publishes it in the
    /// lock word, and `value` is then null for a node type (nothing to drop) and any bits
    /// for a word type. False for every other variable.
    pub(crate) absent: bool,
}

/// `WriteEntry::read_version` of an entry that stands for no read: above every version.
pub(crate) const NOT_READ: u64 = u64::MAX;

/// A value an `or_else` branch replaced, to put back if the branch retries.
pub(super) struct UndoEntry {
    pub(super) index: usize,
    pub(super) value: *mut (),
    /// The entry's `absent`, put back with `value`.
    pub(super) absent: bool,
    /// The entry's `saved_by` before this branch saved it, also put back.
    pub(super) scope: u32,
}

/// Where an `or_else` branch began, so its effects can be rolled back.
#[derive(Clone, Copy)]
pub(crate) struct Scope {
    pub(super) id: u32,
    pub(super) write_mark: usize,
    pub(super) undo_mark: usize,
    pub(super) hook_mark: usize,
}

/// The transaction's work that needs its log alone. Out-of-line parts take `&mut Log`,
/// not `&mut Transaction`: the address of a transaction passed out of line would put it
/// on the stack, and every transaction would store it there before its commit.
impl Log {
    /// The write filter of a doomed attempt: every read and write takes the slow path.
    pub(super) const DOOMED_FILTER: u64 = u64::MAX;

    pub(super) fn filter_bit(var: NonNull<VarCore>) -> u64 {
        let addr = var.as_ptr() as usize;
        1 << (((addr >> 6) ^ (addr >> 12)) % 64)
    }

    #[inline]
    pub(super) fn find_write(&self, var: NonNull<VarCore>) -> Option<usize> {
        if self.state.write_filter & Self::filter_bit(var) == 0 {
            return None;
        }
        self.writes.iter().position(|w| w.var == var)
    }

    pub(crate) fn owns(&self, var: NonNull<VarCore>) -> bool {
        self.find_write(var).is_some()
    }

    pub(super) fn doom<T>(&mut self) -> StmResult<T> {
        self.state.doomed = true;
        self.state.write_filter = Self::DOOMED_FILTER;
        Err(StmError::CONFLICT)
    }

    /// Pins for the rest of the attempt, before its first load of a node pointer.
    #[cold]
    #[inline(never)]
    pub(super) fn pin(&mut self) {
        self.pin = Some(self.reclaimer.pin());
    }
}
