//! A running transaction: its read version, read set, write set and `or_else` scopes.
//!
//! We follow TL2 (Dice, Shalev, Shavit, "Transactional Locking II", DISC 2006):
//! 1. On start, sample the global clock as the *read version* `rv`. (We take the last
//!    clock value this thread saw instead; see `Transaction::begin` for why that is a
//!    valid snapshot too.)
//! 2. A read checks the write set first (read-your-own-writes). Otherwise it loads the
//!    variable's lock word, its value slot, and the lock word again; the read is good
//!    if both words are equal, unlocked, and the version is at most `rv`. A primitive
//!    scalar is the word itself; any other value is cloned from an immutable node, so
//!    even a read that turns out bad clones a whole `T` (see `value.rs`).
//! 3. Writes go to the write set, packed as the commit will publish them: a word, or a
//!    freshly allocated node.
//! 4. Commit (see `commit.rs`): lock the write set, take a write version, validate the
//!    read set, publish, unlock with the new version.
//!
//! Where we differ from the paper:
//! - **Snapshot extension** (as in TinySTM / LSA): a read that finds a version above `rv`
//!   does not abort at once. It samples the clock again and revalidates the read set; if
//!   nothing read has changed, `rv` moves forward and the variable is read again against
//!   the new `rv` (accepting the first load would let a commit that lands between the
//!   load and the new `rv` slip by unvalidated; loom's `loom_commit` found exactly that).
//!   Revalidation outside the commit treats every locked variable as changed, even one
//!   this transaction wrote: the lock belongs to another commit in flight (trusting it
//!   lost updates; see `reads_valid`).
//! - **Doomed attempts**: once a read fails validation, every later operation of this
//!   attempt fails too, and `atomically` will not commit it even if the body swallowed the
//!   error. So a body never computes on a state that no serial order produces (opacity).
//! - **Nested `or_else` scopes** roll back only the first branch's writes: writes to new
//!   variables are truncated; a branch's first overwrite of an older entry saves the old
//!   value in an undo log instead of cloning the whole write set.
//! - **A write computed from a read stands for it** (`modify`, `replace`): the write entry carries
//!   the version read, and is validated and waited on like a read-set entry. The
//!   variable is in the write set, so the commit validates it under its own lock. It
//!   saves the read-set entry's stores, which the commit's locked instructions would wait
//!   for.
//! - **Reads are kept** when a branch rolls back: the choice of the second branch depended
//!   on them, so they are validated at commit, and a retry of both branches waits on the
//!   union of what they read.
//!
//! Read and write sets are `Vec`s in a `Log` that each thread keeps and reuses, created
//! with room for 16 reads and 8 writes, so a transaction touching up to 8 variables
//! allocates no bookkeeping, and neither a re-run nor the next transaction on the thread
//! does (see `Log` for why not `SmallVec`). Entries hold raw core pointers, valid
//! while the transaction runs: a transaction is a section of `presence.rs`, and a core's
//! free waits for the sections running when its last handle went (see `var.rs`,
//! Lifetime). A value in a node is protected by an epoch pin instead, taken at the
//! transaction's first read of one: a transaction that reads only words (the primitive
//! scalars) never pins, which saves a locked instruction per transaction.

use std::cell::Cell;
use std::mem::ManuallyDrop;
use std::ptr::NonNull;

use super::clock;
use super::error::{StmError, StmResult};
use super::value;
use super::var::VarCore;
use crate::sync::atomic::Ordering::Acquire;
use crate::sync::backoff::Backoff;
use crate::sync::thread_local;
use crate::sync::{presence, reclaim};

/// An in-flight STM transaction. Only [`atomically`](crate::stm::atomically) and its
/// siblings create one; a body receives `&mut Transaction` and passes it to every
/// transactional operation.
///
/// ```
/// use braid::stm::{atomically, StmResult, TVar, Transaction};
///
/// // Code that takes `&mut Transaction` runs inside the caller's transaction.
/// fn swap(a: &TVar<i32>, b: &TVar<i32>, tx: &mut Transaction) -> StmResult<()> {
///     let new_a = b.read(tx)?;
///     let old_a = a.replace(tx, new_a)?;
///     b.write(tx, old_a)
/// }
/// let (a, b) = (TVar::new(1), TVar::new(2));
/// atomically(|tx| swap(&a, &b, tx));
/// assert_eq!((a.load(), b.load()), (2, 1));
/// ```
pub struct Transaction {
    /// Everything the transaction keeps: the thread's log, borrowed until the transaction
    /// ends. Nothing else: a transaction is one pointer.
    pub(crate) log: LogRef,
}

/// A clone of the `T` in `packed`: how `read` and `update` unpack.
///
/// Not an `unsafe fn` only because it is passed where a plain `Fn` is expected: it is
/// private to this file and used only as the `unpack` of `read`/`update`, whose callers
/// vouch that the variable holds a `T`, and which call it only on a live value
/// (published and pinned, or the transaction's own).
#[inline(always)]
fn clone_of<T: Clone + 'static>(packed: *mut ()) -> T {
    // SAFETY: see above: a live `T`, as `unpack_clone` requires.
    unsafe { value::unpack_clone::<T>(packed) }
}

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
    pin: Option<reclaim::Guard>,
    undo: Vec<UndoEntry>,
    scopes: Vec<Scope>,
    /// For each write entry, the `or_else` branch that saved its previous value in the
    /// undo log and wrote its value (0: none did, also for entries past the end). A
    /// branch rewriting an entry older than itself saves the old value the first time
    /// only; this tells it whether it already has. Apart from the entries, and empty
    /// whenever no branch is open, so that a write outside branches stores nothing here.
    saved_by: Vec<u32>,
    /// The thread's registration with the collector, and the values its commits
    /// replaced, waiting to be freed.
    pub(crate) reclaimer: reclaim::Reclaimer,
}

/// What an attempt starts from, besides its empty sets: 16 bytes, so that setting it
/// back (`AttemptState::FRESH`) is one store.
#[derive(Clone, Copy)]
#[repr(C, align(16))]
pub(crate) struct AttemptState {
    /// A one-word Bloom filter of the cores in `writes`: most reads skip the scan. All
    /// ones once the attempt is doomed, so that the inlined read and write test only
    /// this word: any operation whose bit is set goes to the slow path, which checks.
    write_filter: u64,
    /// A read failed validation: this attempt must run again, whatever the body returns.
    pub(crate) doomed: bool,
    /// This transaction holds the priority token (see `progress.rs`): its commit does
    /// not wait for one.
    pub(crate) has_priority: bool,
    /// The id the next `or_else` branch gets.
    next_scope: u32,
}

impl AttemptState {
    const FRESH: AttemptState = AttemptState {
        write_filter: 0,
        doomed: false,
        has_priority: false,
        next_scope: 1,
    };
}

/// What a thread keeps from one transaction to the next: its presence record and its
/// log. The thread's `HOME` slot owns it.
///
/// A running transaction borrows the log alone (`LogRef`), never the whole home, so a
/// nested `atomically` may still read the presence, which is how it finds out it is
/// nested: the thread is inside a section. The slot holds the home all along, even while
/// a transaction runs, so neither starting nor ending one stores anything there.
struct Home {
    /// The thread's presence record: inside a section while a transaction runs.
    presence: presence::Local,
    /// The thread keeps this home for its next transaction: false for one made after the
    /// thread's `HOME_OWNER` was destroyed, which nothing would free at exit. The
    /// transaction that made it frees it as it ends.
    kept_by_thread: bool,
    log: Log,
}

thread_local! {
    /// This thread's home, as a plain pointer (from `Box::into_raw`): null until its first
    /// transaction, and again once it is freed at thread exit.
    ///
    /// A pointer, not a `Box`, so that the thread-local needs no destructor: then each
    /// access is a plain load, where a thread-local with a destructor first checks
    /// whether it was registered or already destroyed (24 of a one-variable increment's
    /// instructions to take the log, 25 to give it back, counted with callgrind).
    /// `HOME_OWNER` frees the home at thread exit instead.
    static HOME: HomeSlot = const { HomeSlot(Cell::new(std::ptr::null_mut())) };
}

thread_local! {
    /// Frees the thread's home when the thread exits.
    static HOME_OWNER: HomeOwner = const { HomeOwner };
}

/// The cell behind `HOME`.
struct HomeSlot(Cell<*mut Home>);

/// Frees the home in `slot`, if it holds one, leaving it empty. Never while a
/// transaction runs on the thread: thread-locals are destroyed after the thread's code
/// returns, and a transaction ends before its caller returns, even by a panic.
fn free_home(slot: &Cell<*mut Home>) {
    let home = slot.replace(std::ptr::null_mut());
    if !home.is_null() {
        // SAFETY: the slot owned this home (see `HOME`) and has just let go of it.
        drop(unsafe { Box::from_raw(home) });
    }
}

struct HomeOwner;

impl Drop for HomeOwner {
    fn drop(&mut self) {
        // Fails only under loom (below), where the slot frees the home itself.
        let _ = HOME.try_with(|slot| free_home(&slot.0));
    }
}

/// Under loom the slot frees its home itself: loom takes every thread-local of an
/// exiting thread out of reach before it drops any of them, so `HomeOwner` cannot reach
/// the slot there. (Under std the slot must have no destructor; see `HOME`.)
#[cfg(loom)]
impl Drop for HomeSlot {
    fn drop(&mut self) {
        free_home(&self.0);
    }
}

/// A running transaction's exclusive borrow of its thread's log.
pub(crate) struct LogRef(NonNull<Home>);

impl std::ops::Deref for LogRef {
    type Target = Log;

    #[inline(always)]
    fn deref(&self) -> &Log {
        // SAFETY: the home outlives the transaction (it is freed at thread exit, or by
        // the transaction itself as it ends), and the transaction's presence keeps any
        // other transaction on the thread from borrowing the log (see `Home`).
        unsafe { &(*self.0.as_ptr()).log }
    }
}

impl std::ops::DerefMut for LogRef {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut Log {
        // SAFETY: as in `deref`.
        unsafe { &mut (*self.0.as_ptr()).log }
    }
}

impl LogRef {
    /// Starts the thread's next transaction: marks it inside, and borrows its log.
    ///
    /// # Panics
    /// If a transaction is already running on this thread.
    #[inline]
    #[track_caller]
    fn for_transaction() -> LogRef {
        let home = HOME.with(|slot| slot.0.get());
        // SAFETY: a home in the slot lives until the thread exits; only its presence is
        // read, which no transaction borrows.
        match NonNull::new(home) {
            Some(home) if unsafe { home.as_ref() }.presence.try_enter() => LogRef(home),
            _ => LogRef::first_or_nested(home),
        }
    }

    /// `for_transaction` when the slot holds no home, or one whose thread is inside a
    /// transaction: the thread's first transaction, one that runs after its home was
    /// freed at exit (in another thread-local's destructor), or a nested call.
    #[cold]
    #[track_caller]
    fn first_or_nested(home: *mut Home) -> LogRef {
        if !home.is_null() {
            panic!(
                "braid::stm: `atomically` called inside a transaction; transactions do not \
                 nest. Compose instead: pass the `&mut Transaction` to the inner code, or \
                 use `or_else` for alternatives."
            );
        }
        let home = Box::new(Home {
            presence: presence::Local::claim(),
            // Registers the owner's destructor on first use; fails once it has run, and
            // then the transaction frees the home as it ends.
            kept_by_thread: HOME_OWNER.try_with(|_| ()).is_ok(),
            log: Log::new(),
        });
        home.presence.enter();
        // In the slot even when not kept, so that a nested call is caught as nested.
        let home = NonNull::from(Box::leak(home));
        HOME.with(|slot| slot.0.set(home.as_ptr()));
        LogRef(home)
    }

    /// The thread's presence record.
    #[inline(always)]
    fn presence(&self) -> &presence::Local {
        // SAFETY: as in `deref`; the presence is never borrowed mutably.
        unsafe { &(*self.0.as_ptr()).presence }
    }

    /// Leaves the transaction's section. Under loom, also frees what waited for that
    /// (under std the collector looks after those; see `reclaim::free_after_sections`).
    #[inline(always)]
    fn leave_section(&self) {
        self.presence().leave();
        #[cfg(loom)]
        reclaim::free_after_sections();
    }

    /// Leaves the transaction's section: the log is the thread's again, for its next
    /// transaction. A home not kept by the thread is freed here, so the transaction must
    /// not use the log afterwards.
    #[inline(always)]
    fn give_back(&self) {
        self.leave_section();
        // SAFETY: as in `deref`.
        if !unsafe { self.0.as_ref() }.kept_by_thread {
            self.free_unkept();
        }
    }

    #[cold]
    fn free_unkept(&self) {
        HOME.with(|slot| free_home(&slot.0));
    }
}

impl Log {
    /// Unpins, if the attempt pinned.
    #[inline]
    fn unpin_if_pinned(&mut self) {
        if self.pin.is_some() {
            self.unpin();
        }
    }

    /// Leaves the attempt's state as the next attempt or transaction must find it. The
    /// read version is not touched: it is the latest clock value this thread saw.
    #[inline]
    fn reset(&mut self) {
        self.state = AttemptState::FRESH;
    }

    #[cold]
    fn unpin(&mut self) {
        self.pin = None;
    }

    /// A log with room for a transaction that reads 16 variables and writes 8, and
    /// nests 4 `or_else` branches.
    fn new() -> Log {
        Log {
            reads: Vec::with_capacity(16),
            writes: Vec::with_capacity(8),
            undo: Vec::with_capacity(4),
            scopes: Vec::with_capacity(4),
            saved_by: Vec::with_capacity(8),
            hooks: Vec::new(),
            reclaimer: reclaim::Reclaimer::default(),
            read_version: 0,
            state: AttemptState::FRESH,
            pin: None,
        }
    }

    /// Sets that grew to room for this many entries give their memory back when the
    /// transaction ends. A power of two, so one test of the capacities' bitwise OR tells
    /// whether any of them reached it.
    const TRIM_AT: usize = 512;

    /// Trims sets that grew unusually large, as the transaction ends.
    #[inline]
    fn trim_if_large(&mut self) {
        debug_assert!(self.writes.is_empty() && self.undo.is_empty() && self.saved_by.is_empty());
        if self.reads.capacity() | self.writes.capacity() | self.hooks.capacity() >= Self::TRIM_AT {
            self.trim();
        }
    }

    /// Gives back the memory of sets that grew unusually large. The log itself is kept:
    /// it holds the thread's registration with the collector and its retired values.
    #[inline(never)]
    fn trim(&mut self) {
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
}

/// `WriteEntry::read_version` of an entry that stands for no read: above every version.
pub(crate) const NOT_READ: u64 = u64::MAX;

/// A value an `or_else` branch replaced, to put back if the branch retries.
struct UndoEntry {
    index: usize,
    value: *mut (),
    /// The entry's `saved_by` before this branch saved it, also put back.
    scope: u32,
}

/// Where an `or_else` branch began, so its effects can be rolled back.
#[derive(Clone, Copy)]
pub(crate) struct Scope {
    id: u32,
    write_mark: usize,
    undo_mark: usize,
    hook_mark: usize,
}

/// The transaction's work that needs its log alone. Out-of-line parts take `&mut Log`,
/// not `&mut Transaction`: the address of a transaction passed out of line would put it
/// on the stack, and every transaction would store it there before its commit.
impl Log {
    /// The write filter of a doomed attempt: every read and write takes the slow path.
    const DOOMED_FILTER: u64 = u64::MAX;

    fn filter_bit(var: NonNull<VarCore>) -> u64 {
        let addr = var.as_ptr() as usize;
        1 << (((addr >> 6) ^ (addr >> 12)) % 64)
    }

    #[inline]
    fn find_write(&self, var: NonNull<VarCore>) -> Option<usize> {
        if self.state.write_filter & Self::filter_bit(var) == 0 {
            return None;
        }
        self.writes.iter().position(|w| w.var == var)
    }

    pub(crate) fn owns(&self, var: NonNull<VarCore>) -> bool {
        self.find_write(var).is_some()
    }

    fn doom<T>(&mut self) -> StmResult<T> {
        self.state.doomed = true;
        self.state.write_filter = Self::DOOMED_FILTER;
        Err(StmError::CONFLICT)
    }

    /// Pins for the rest of the attempt, before its first load of a node pointer.
    #[cold]
    #[inline(never)]
    fn pin(&mut self) {
        self.pin = Some(self.reclaimer.pin());
    }

    /// One try at a consistent read of the variable's published value: `None` if it is
    /// locked or changed during the read. Its version is still to be checked against the
    /// snapshot.
    ///
    /// `unpack` turns the packed value into what the caller wants (a clone, or a pointer
    /// into the node); it may run on a value that is then discarded as inconsistent.
    ///
    /// # Safety
    /// The variable's value type is `T`, and if that is a node type, the transaction is
    /// pinned; `unpack` is sound on any live value of that type.
    #[inline(always)]
    unsafe fn read_once<R>(core: &VarCore, unpack: impl FnOnce(*mut ()) -> R) -> Option<(R, u64)> {
        let before = core.lock_word();
        if before.is_locked() {
            return None;
        }
        // Acquire: pairs with the committer's Release store of this value, so a node's
        // contents are visible; also keeps the second lock-word load after this one.
        let packed = core.value.load(Acquire);
        // `packed` was published, so it holds a `T`; a node is freed only through a
        // deferred free after it is unlinked, and we are pinned, so it is alive.
        let value = unpack(packed);
        (core.lock_word() == before).then_some((value, before.version()))
    }

    /// `read` for everything but the common case: waits out a lock held by a commit,
    /// extends the snapshot past a newer version, or dooms the attempt.
    ///
    /// # Safety
    /// As for `read`.
    #[inline(never)]
    unsafe fn read_slow<R>(
        &mut self,
        var: NonNull<VarCore>,
        unpack: impl Fn(*mut ()) -> R,
    ) -> StmResult<R> {
        if self.state.doomed {
            return Err(StmError::CONFLICT);
        }
        if let Some(i) = self.find_write(var) {
            // A write entry holds an unpublished `T` owned by this transaction (the
            // caller vouches the variable's type is `T`).
            return Ok(unpack(self.writes[i].value));
        }
        // SAFETY: the caller holds a handle, so the core is alive.
        let core = unsafe { var.as_ref() };
        let mut backoff = Backoff::new();
        loop {
            // SAFETY: forwarded from the caller; `read` pinned for a node type.
            let Some((value, version)) = (unsafe { Self::read_once(core, &unpack) }) else {
                // Locked or changed under us: a commit is publishing, and holds the lock
                // only for a few stores.
                backoff.snooze();
                continue;
            };
            if version > self.read_version {
                // Committed after our snapshot. If nothing read so far has changed, move
                // the snapshot forward and read again: the value just loaded is older than
                // the new snapshot and may already be overwritten by a commit inside it.
                if !self.extend() {
                    return self.doom();
                }
                continue;
            }
            self.reads.push(ReadEntry { var, version });
            return Ok(value);
        }
    }

    /// Moves the snapshot forward to now, if nothing read so far has changed.
    fn extend(&mut self) -> bool {
        let now = clock::now();
        // Not moved when the read set is stale: this attempt is doomed, and the next one
        // takes a fresh snapshot.
        if self.reads_valid(false) {
            self.read_version = now;
            true
        } else {
            false
        }
    }

    /// Whether every variable read (`reads`: also those write entries stand for) still
    /// carries the version read and is unlocked.
    ///
    /// `locks_held`: the caller is the commit, holding the locks of its write set, so a
    /// variable locked *by this transaction* counts as unlocked. Anywhere else a locked
    /// variable is invalid even if this transaction wrote it: the lock is someone else's
    /// commit in flight, and trusting it let a later commit that skipped validation
    /// overwrite that commit's update (the loom model
    /// `extension_does_not_trust_a_locked_variable_it_wrote`).
    pub(crate) fn reads_valid(&self, locks_held: bool) -> bool {
        let reads_valid = self.reads.iter().all(|r| {
            // SAFETY: read entries point to cores alive while the transaction runs.
            let word = unsafe { r.var.as_ref() }.lock_word();
            word.version() == r.version && (!word.is_locked() || locks_held && self.owns(r.var))
        });
        // Write entries that stand for reads: their variables are this transaction's to
        // lock.
        let mut in_writes = (self.writes.iter()).filter(|w| w.read_version != NOT_READ);
        reads_valid
            && in_writes.all(|w| {
                // SAFETY: write entries point to cores alive while the transaction runs.
                let word = unsafe { w.var.as_ref() }.lock_word();
                word.version() == w.read_version && (!word.is_locked() || locks_held)
            })
    }

    /// Every variable read and the version read: the read set, and the write entries
    /// that stand for reads.
    pub(crate) fn reads(&self) -> impl Iterator<Item = (NonNull<VarCore>, u64)> + Clone + '_ {
        let reads = self.reads.iter().map(|r| (r.var, r.version));
        let in_writes = (self.writes.iter()).filter(|w| w.read_version != NOT_READ);
        reads.chain(in_writes.map(|w| (w.var, w.read_version)))
    }

    /// Adds a write entry for a variable not in the write set. No branch has saved
    /// anything for it, which `saved_by` says without a store: its index is past the
    /// end there (a rollback truncates `saved_by` with the entries).
    #[inline]
    fn push_write(&mut self, var: NonNull<VarCore>, value: *mut ()) {
        self.push_write_after_read(var, value, NOT_READ);
    }

    /// `push_write` for a write computed from the variable read at `read_version`: the
    /// entry stands for the read too.
    #[inline]
    fn push_write_after_read(&mut self, var: NonNull<VarCore>, value: *mut (), read_version: u64) {
        self.writes.push(WriteEntry {
            var,
            value,
            read_version,
        });
    }

    /// `write` for everything but the common case.
    ///
    /// # Safety
    /// As for `write`.
    #[inline(never)]
    unsafe fn write_slow<T: 'static>(&mut self, var: NonNull<VarCore>, value: T) -> StmResult<()> {
        if self.state.doomed {
            return Err(StmError::CONFLICT);
        }
        let Some(i) = self.find_write(var) else {
            // A filter hit for a variable not written yet.
            self.push_write(var, value::pack(value));
            return Ok(());
        };
        let entry = &mut self.writes[i];
        let saved_by = self.saved_by.get(i).copied().unwrap_or(0);
        match self.scopes.last().copied() {
            // The first write in this branch to an entry from before it: keep the old
            // value for rollback, and give the branch a value of its own.
            Some(scope) if i < scope.write_mark && saved_by != scope.id => {
                self.undo.push(UndoEntry {
                    index: i,
                    value: entry.value,
                    scope: saved_by,
                });
                entry.value = value::pack(value);
                if self.saved_by.len() <= i {
                    self.saved_by.resize(i + 1, 0);
                }
                self.saved_by[i] = scope.id;
            }
            // SAFETY: the entry holds an unpublished `T` that it owns.
            _ => unsafe { value::overwrite(&mut entry.value, value) },
        }
        Ok(())
    }

    #[cold]
    fn free_unpublished(&mut self) {
        self.scopes.clear();
        self.saved_by.clear();
        for undo in self.undo.drain(..) {
            // SAFETY: undo values are unpublished and owned by the self.
            unsafe { self.writes[undo.index].var.as_ref().drop_packed(undo.value) };
        }
        for entry in self.writes.drain(..) {
            // SAFETY: write entries own unpublished values.
            unsafe { entry.var.as_ref().drop_packed(entry.value) };
        }
    }

    /// Finishes a commit that published the write set and unlocked it: for each entry,
    /// wakes the variable's waiters and retires the value the new one replaced (which the
    /// entry now holds; see `commit`), emptying the set. Each entry leaves the set before
    /// anything runs for it, so a panicking waker or value destructor (retiring may free
    /// older values) can at worst leak the replaced nodes not yet retired; it can never
    /// make this transaction free a node that readers may still hold.
    #[inline]
    pub(crate) fn wake_and_retire_replaced(&mut self) {
        // Popped, not drained: the order does not matter, and `pop` is cheaper.
        while let Some(w) = self.writes.pop() {
            // SAFETY: write entries point to cores alive while the transaction runs.
            let core = unsafe { w.var.as_ref() };
            // Any time after the lock CAS is early enough to see every waiter that could
            // miss this commit (see wait.rs).
            core.waiters.wake_all();
            // SAFETY: `w.value` was the variable's published value; the commit replaced it.
            unsafe { core.retire_replaced(w.value, &mut self.reclaimer) };
        }
    }

    /// Empties the write set of a commit that published it: its values are the
    /// variables' now. (The write filter is reset as the transaction ends: `Log::reset`.)
    pub(crate) fn forget_published_writes(&mut self) {
        self.writes.clear();
    }
}

impl Transaction {
    /// Starts a transaction on this thread.
    ///
    /// # Panics
    /// If one is already running on this thread: transactions do not nest.
    #[inline]
    #[track_caller]
    pub(crate) fn begin() -> Transaction {
        let log = LogRef::for_transaction();
        // The log comes as `Log::reset` left it, its read version the latest clock value
        // this thread saw. Not `clock::now()`: any time up to now is a valid snapshot,
        // because a read always loads the variable's current value and checks its
        // version; a variable committed since only makes that read extend the snapshot.
        // Starting from the last time this thread saw spares a load of the clock's cache
        // line, which every other core's commits keep taking away: a queue's producer and
        // consumer each mostly read variables only they write, which are never newer
        // than their own last commit.
        Transaction { log }
    }

    /// Clears this attempt's effects so the body can run again, keeping the storage.
    pub(crate) fn restart(&mut self) {
        self.restart_after(|| ());
    }

    /// Clears this attempt, runs `wait` outside the transaction's section and unpinned
    /// (a thread must never sleep in either: it would hold back frees in the whole
    /// process), and starts the next attempt with a fresh snapshot.
    pub(crate) fn restart_after(&mut self, wait: impl FnOnce()) {
        self.discard_writes();
        self.log.reads.clear();
        self.log.hooks.clear();
        self.log.reset();
        // No entry is left, so nothing depends on the pin or the section any more.
        self.log.unpin_if_pinned();
        self.log.leave_section();
        wait();
        self.log.presence().enter();
        self.log.read_version = clock::now();
    }

    /// Drops every write and hook of this attempt (`TxError::Abort`): what remains
    /// commits as a read-only transaction.
    pub(crate) fn abandon_writes(&mut self) {
        self.discard_writes();
        self.log.hooks.clear();
    }

    /// Reads the variable's value as of this transaction's snapshot.
    ///
    /// Inlined for the common case, a variable this transaction has not written, read in
    /// one try (`read_unwritten_once`); anything else (its own write, a lock held, a
    /// version to extend past, a doomed attempt) goes to `read_slow`. Reads are generic,
    /// so this compiles in each caller; keeping the inlined part to one try keeps that
    /// code small.
    ///
    /// # Safety
    /// `var` is alive (the caller holds a handle to it) and its value type is `T`.
    #[inline]
    pub(crate) unsafe fn read<T: Clone + 'static>(
        &mut self,
        var: NonNull<VarCore>,
    ) -> StmResult<T> {
        // SAFETY: forwarded from the caller.
        unsafe { self.read_unpacked::<T, T>(var, clone_of::<T>) }
    }

    /// Like `read`, but without a clone: a pointer to the value in its node, as of this
    /// transaction's snapshot (or its own write). For structures built of variables
    /// (`TMap`'s trie), whose readers only look a value over to find the next variable.
    ///
    /// The pointer stays valid until this attempt ends (restarts, commits or is dropped)
    /// or writes `var` again: a published node is freed only after the attempt's pin,
    /// and its own write's node only when rewritten or discarded.
    ///
    /// # Safety
    /// As for `read`, and `T` is held in a node (`value::in_word::<T>()` is false).
    #[inline]
    pub(crate) unsafe fn read_in_place<T: 'static>(
        &mut self,
        var: NonNull<VarCore>,
    ) -> StmResult<NonNull<T>> {
        debug_assert!(
            !value::in_word::<T>(),
            "a word value has no node to point into"
        );
        // A node pointer is never null (`node::new`).
        let in_node = |packed: *mut ()| NonNull::new(packed.cast::<T>()).expect("a node");
        // SAFETY: forwarded from the caller; `in_node` only casts.
        unsafe { self.read_unpacked::<T, NonNull<T>>(var, in_node) }
    }

    /// `read` with `unpack` making the result from the packed value.
    ///
    /// # Safety
    /// As for `read`; `unpack` is sound on any value of `var` that is alive.
    #[inline(always)]
    unsafe fn read_unpacked<T: 'static, R>(
        &mut self,
        var: NonNull<VarCore>,
        unpack: impl Fn(*mut ()) -> R + Copy,
    ) -> StmResult<R> {
        // SAFETY: forwarded from the caller.
        if let Some((value, version)) = unsafe { self.read_unwritten_once::<T, R>(var, unpack) } {
            self.log.reads.push(ReadEntry { var, version });
            return Ok(value);
        }
        // SAFETY: forwarded from the caller.
        unsafe { self.log.read_slow(var, unpack) }
    }

    /// Replaces the variable's value with the first half of `f` of it, and returns the
    /// second: `read`, then `write` (`modify`, `replace`). Inlined for the common case, as
    /// `read` is, where the write entry then stands for the read and one test of the
    /// write filter serves both; anything else is the general `read_slow` and `write`.
    ///
    /// # Safety
    /// As for `read`.
    #[inline]
    pub(crate) unsafe fn update<T: Clone + 'static, R>(
        &mut self,
        var: NonNull<VarCore>,
        f: impl FnOnce(T) -> (T, R),
    ) -> StmResult<R> {
        // SAFETY: forwarded from the caller.
        if let Some((value, version)) =
            unsafe { self.read_unwritten_once::<T, T>(var, clone_of::<T>) }
        {
            // Not in the write set (`read_unwritten_once`).
            let (value, result) = f(value);
            self.log
                .push_write_after_read(var, value::pack(value), version);
            self.log.state.write_filter |= Log::filter_bit(var);
            return Ok(result);
        }
        // SAFETY: forwarded from the caller (`read_slow` handles every case `read` does).
        let value = unsafe { self.log.read_slow(var, clone_of::<T>) }?;
        let (value, result) = f(value);
        // SAFETY: forwarded from the caller.
        unsafe { self.write(var, value) }?;
        Ok(result)
    }

    /// The inlined part of `read` and `update`: one try at reading a variable this
    /// attempt has not written, in an attempt not doomed, within the snapshot. `None`
    /// sends the caller to the general path, `read_slow`, which tries again.
    ///
    /// Which shared-memory accesses a read makes must not depend on the write filter,
    /// which hashes addresses: a filter hit for a variable this transaction has not
    /// written still gets the one try. (When it skipped the try, loom's models, whose
    /// addresses differ from run to run, stopped being deterministic.)
    ///
    /// # Safety
    /// As for `read`.
    #[inline(always)]
    unsafe fn read_unwritten_once<T: 'static, R>(
        &mut self,
        var: NonNull<VarCore>,
        unpack: impl FnOnce(*mut ()) -> R,
    ) -> Option<(R, u64)> {
        // A constant per `T`: words compile to nothing here.
        if !value::in_word::<T>() && self.log.pin.is_none() {
            self.log.pin();
        }
        // A doomed attempt's filter has every bit set (`AttemptState::write_filter`).
        let filter_hit = self.log.state.write_filter & Log::filter_bit(var) != 0;
        if filter_hit && (self.log.state.doomed || self.log.owns(var)) {
            return None;
        }
        // SAFETY: the caller holds a handle, so the core is alive.
        let core = unsafe { var.as_ref() };
        // SAFETY: forwarded from the caller; pinned above for a node type.
        let (value, version) = unsafe { Log::read_once(core, unpack) }?;
        (version <= self.log.read_version).then_some((value, version))
    }

    /// Buffers a write of `value`, to be published at commit.
    ///
    /// Inlined for the common case, a variable this transaction has not written yet;
    /// everything else (a doomed attempt, a write filter hit, a rewrite) goes to
    /// `write_slow`.
    ///
    /// # Safety
    /// `var` is alive (the caller holds a handle to it) and its value type is `T`.
    #[inline]
    pub(crate) unsafe fn write<T: 'static>(
        &mut self,
        var: NonNull<VarCore>,
        value: T,
    ) -> StmResult<()> {
        let bit = Log::filter_bit(var);
        // A doomed attempt's filter has every bit set (`AttemptState::write_filter`).
        if self.log.state.write_filter & bit != 0 {
            // SAFETY: forwarded from the caller.
            return unsafe { self.log.write_slow(var, value) };
        }
        self.log.push_write(var, value::pack(value));
        self.log.state.write_filter |= bit;
        Ok(())
    }

    /// Opens an `or_else` branch.
    pub(crate) fn begin_scope(&mut self) -> Scope {
        let scope = Scope {
            id: self.log.state.next_scope,
            write_mark: self.log.writes.len(),
            undo_mark: self.log.undo.len(),
            hook_mark: self.log.hooks.len(),
        };
        self.log.state.next_scope += 1;
        self.log.scopes.push(scope);
        scope
    }

    /// Closes a branch that did not retry: its writes stay, and the outer scope (if any)
    /// inherits its undo entries.
    pub(crate) fn end_scope(&mut self) {
        let log = &mut *self.log;
        log.scopes.pop();
        if log.scopes.is_empty() {
            log.saved_by.clear();
            for undo in log.undo.drain(..) {
                // SAFETY: an undo value is an unpublished value of the entry's variable,
                // owned by the undo log; no scope can restore it any more.
                unsafe { log.writes[undo.index].var.as_ref().drop_packed(undo.value) };
            }
        }
    }

    /// Undoes a branch that retried: restores the values it replaced, drops the entries
    /// it added and the hooks it registered. Its reads stay.
    pub(crate) fn rollback_scope(&mut self, scope: Scope) {
        let log = &mut *self.log;
        log.scopes.pop();
        while log.undo.len() > scope.undo_mark {
            let undo = log.undo.pop().expect("undo log shorter than its mark");
            let entry = &mut log.writes[undo.index];
            // SAFETY: the entry's value belongs to the branch being undone.
            unsafe { entry.var.as_ref().drop_packed(entry.value) };
            entry.value = undo.value;
            // Set when the branch saved the entry, so within the length.
            log.saved_by[undo.index] = undo.scope;
        }
        // The branch's entries go; a later entry at their places starts unsaved.
        log.saved_by.truncate(scope.write_mark);
        if log.scopes.is_empty() {
            log.saved_by.clear();
        }
        for entry in log.writes.drain(scope.write_mark..) {
            // The branch's reads stay (see the module docs), also those its writes stood
            // for.
            if entry.read_version != NOT_READ {
                let (var, version) = (entry.var, entry.read_version);
                log.reads.push(ReadEntry { var, version });
            }
            // SAFETY: entries added by the branch own unpublished values.
            unsafe { entry.var.as_ref().drop_packed(entry.value) };
        }
        if !self.log.state.doomed {
            self.log.state.write_filter =
                (self.log.writes.iter()).fold(0, |f, w| f | Log::filter_bit(w.var));
        }
        self.log.hooks.truncate(scope.hook_mark);
    }

    /// Drops every unpublished value and closes every `or_else` branch: the attempt is
    /// over and did not commit. Stores nothing in the common case, a committed or
    /// read-only attempt, where there is nothing to drop. (The write filter is the
    /// caller's to reset, with the rest of the attempt's state: `Log::reset`.)
    #[inline]
    fn discard_writes(&mut self) {
        // Undo entries exist only while a branch is open, so these two tell all.
        if !self.log.writes.is_empty() || !self.log.scopes.is_empty() {
            self.log.free_unpublished();
        }
    }

    /// Registers `f` to run once, after this transaction commits.
    ///
    /// Hooks run on the committing thread, in the order registered, after the commit is
    /// visible and outside the transaction (so a hook may call `atomically`). They never
    /// run for an attempt that conflicts, retries, aborts or panics; a hook registered in
    /// an `or_else` branch that retried is dropped with the branch. If a hook panics, the
    /// commit stands, the remaining hooks still run, and the first panic is then resumed.
    ///
    /// ```
    /// use braid::stm::{atomically, TVar};
    /// use std::sync::mpsc;
    ///
    /// let (sent, received) = mpsc::channel();
    /// let stock = TVar::new(3);
    /// atomically(|tx| {
    ///     let left = stock.read(tx)? - 1;
    ///     stock.write(tx, left)?;
    ///     let sent = sent.clone();
    ///     tx.on_commit(move || sent.send(format!("sold one, {left} left")).unwrap());
    ///     Ok(())
    /// });
    /// assert_eq!(received.recv().unwrap(), "sold one, 2 left");
    /// ```
    pub fn on_commit(&mut self, f: impl FnOnce() + Send + 'static) {
        self.log.hooks.push(Box::new(f));
    }
}

/// Drops the hooks of a transaction that did not commit. Out of line: it loops over
/// boxed closures, and inlined it made every transaction's drop save and restore the
/// registers that loop needs.
#[cold]
#[inline(never)]
fn drop_hooks(hooks: &mut Vec<Box<dyn FnOnce() + Send>>) {
    hooks.clear();
}

impl Transaction {
    /// Ends the transaction: what dropping it does, inlined into the caller. The drop
    /// glue is a function of its own, shared with the unwinding paths, and a call there
    /// costs a return address and saved registers: stores, which the next commit's
    /// locked instructions wait for.
    #[inline(always)]
    pub(crate) fn end(self) {
        let mut this = ManuallyDrop::new(self);
        this.finish();
    }

    /// Ends the transaction (see `end` and `Drop`); `self` must not be used afterwards
    /// (`end` forgets it, `drop` is its last use).
    #[inline(always)]
    fn finish(&mut self) {
        self.discard_writes();
        // Tested first: a transaction that only modified has an empty read set (see
        // `WriteEntry::read_version`), and a store here would delay the next commit.
        if !self.log.reads.is_empty() {
            self.log.reads.clear();
        }
        if !self.log.hooks.is_empty() {
            drop_hooks(&mut self.log.hooks);
        }
        self.log.reset();
        self.log.unpin_if_pinned();
        self.log.trim_if_large();
        // No entry is left: the transaction holds no pointer any more.
        self.log.give_back();
    }
}

impl Drop for Transaction {
    /// Runs on every path that does not `end` the transaction, panics included:
    /// unpublished values are dropped, nothing leaks.
    fn drop(&mut self) {
        self.finish();
    }
}

impl std::fmt::Debug for Transaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transaction")
            .field("read_version", &self.log.read_version)
            .field("reads", &self.log.reads.len())
            .field("writes", &self.log.writes.len())
            .field("doomed", &self.log.state.doomed)
            .finish_non_exhaustive()
    }
}
