//! The global version clock (TL2's "global version-clock"), and the two ways a commit
//! takes its write version from it: *ticking* it (TL2's GV1) while a thread commits
//! alone, *stamping* past it without moving it (TL2's GV5) while threads commit at once.
//!
//! A transaction's snapshot is a time of the clock (its *read version*, `rv`): it accepts
//! what it reads only at versions up to `rv`. A committer that has locked its write set
//! takes a write version `wv` and publishes each variable with it.
//!
//! # Why two ways
//! - **Tick** (`fetch_add`): the clock moves with every commit, so the committing thread's
//!   next snapshot includes its own commit, and a commit whose tick shows that nothing
//!   else committed since its snapshot (`wv == rv + 1`) need not validate. One thread
//!   incrementing a counter pays one locked instruction on a line it owns.
//! - **Stamp** (read the clock, take the time just past it): commits write nothing
//!   shared but their variables. Ticking, every commit on every core wrote the clock's
//!   line, and two threads updating disjoint variables ran slower together than one
//!   alone (0.6x; BENCHMARKS.md, issue 29). Stamps are not unique and the clock stays put,
//!   so a stamping commit always validates, and a reader that meets a version past its
//!   snapshot moves the clock up to it ([`advance_to`]) before it extends the snapshot:
//!   a thread re-reading what it wrote since the clock last moved pays that move (a
//!   counter incremented in a loop ran at half speed stamping).
//!
//! So a thread ticks until it sees that another thread commits too: its tick finds the
//! clock moved since its snapshot, or a stamping thread has started a run of stamps since
//! it last looked. It then stamps for a run of [`STAMP_RUN`] commits. At the end of a run
//! it starts another if some other thread has started one meanwhile (two threads that
//! keep committing keep stamping, with one shared write per run each), and otherwise
//! ticks again: a thread that stamped beside others and went idle does not keep the
//! threads still running from ticking.
//!
//! # Skipping validation beside stamping threads
//! A ticking commit may skip validation only if no stamp can have gone unnoticed. The
//! threads that stamp are counted ([`Mode`]): a thread joins the count before its first
//! stamp, and leaves it only after ticking once past its last stamp. A ticking commit
//! loads the count after locking its write set and before its tick, and skips validation
//! only if the count was zero and its tick found the clock at its snapshot. Take a stamp
//! W of a variable the ticking commit T read:
//! - W's thread was counted when T loaded the count: T validates.
//! - It had left: its leaving tick follows W. Before T's snapshot, then W's lock precedes
//!   T's snapshot too, and T read W's value or found it locked (the Orderings below); after
//!   it, then T's tick found the clock moved, and T validates.
//! - It joined after T loaded the count: W's lock follows T's reads, T's locks and T's
//!   load. W found T's written variables locked or newer, so W validates against them,
//!   and T comes before W in the serial order (a later W that writes what T wrote locks
//!   it after T, and stamps past T's version).
//!
//! # Orderings
//! Every access that ties commits to readers is `SeqCst`: lock CASes, the clock's loads
//! and RMWs, the count's RMWs and loads, and the lock-word loads of reads. Take a commit W
//! that locked `u`, read the clock at `c`, and stamped `c + 1`; and a reader R whose read
//! version is at least `c + 1`. The clock got there by a move after W's load in the total
//! order, which R's clock load saw. If R had read `u` before W's lock, the total order
//! would run W's lock, W's clock load, the move, R's clock load, R's read of `u`, and W's
//! lock again: a cycle. So R sees `u` locked (and waits) or W's value. (A tick is the
//! move itself.) On x86 none of this costs anything over acquire and release: an RMW is a
//! locked instruction and a sequentially consistent load a plain load. Loom does not
//! model sequentially consistent accesses (only fences), so under loom a fence follows
//! each clock load and precedes each commit's, giving the model the same order.

use crate::sync::atomic::AtomicU64;
use crate::sync::atomic::Ordering::SeqCst;
use crate::sync::sync_static;

/// Keeps a hot word on a cache line of its own.
#[repr(align(128))]
struct Padded(AtomicU64);

sync_static! {
    /// The clock: every transaction reads it, ticking commits and readers' moves write it.
    static CLOCK: Padded = Padded(AtomicU64::new(0));
}

sync_static! {
    /// How many threads are stamping now (see Skipping validation). Written only as a
    /// thread starts or stops stamping: read-mostly.
    static STAMPERS: Padded = Padded(AtomicU64::new(0));
}

sync_static! {
    /// How many runs of stamps have started: a thread that sees it move while it ticks,
    /// or at the end of a run of its own, knows that another thread is stamping.
    static RUNS: Padded = Padded(AtomicU64::new(0));
}

/// How many commits a run of stamps lasts (see the module docs). Under loom, one.
#[cfg(not(loom))]
const STAMP_RUN: u32 = 1024;
#[cfg(loom)]
const STAMP_RUN: u32 = 1;

/// Loom's fence where the commit's side of the Orderings needs one (see the module docs).
#[inline(always)]
fn loom_fence() {
    #[cfg(loom)]
    crate::sync::atomic::fence(SeqCst);
}

/// The current time, as a read version (see the module's Orderings).
#[inline]
pub(crate) fn now() -> u64 {
    let now = CLOCK.0.load(SeqCst);
    loom_fence();
    now
}

/// Moves the clock to at least `version`: for a reader that met a variable stamped past
/// its snapshot, before it takes a new one. Returns the clock's time after the move.
#[inline]
pub(crate) fn advance_to(version: u64) -> u64 {
    let now = now();
    if now >= version {
        return now;
    }
    let before = CLOCK.0.fetch_max(version, SeqCst);
    loom_fence();
    before.max(version)
}

/// Ticks the clock for a commit whose locked variables' versions are at most `newest`:
/// its write version, the clock's next time or one past `newest` if that is later, and
/// the time the clock had before the tick. The clock is at the write version or past it
/// afterwards.
#[inline]
pub(crate) fn tick(newest: u64) -> (u64, u64) {
    loom_fence();
    let before = CLOCK.0.fetch_add(1, SeqCst);
    loom_fence();
    let ticked = before + 1;
    let write_version = if newest < ticked {
        ticked
    } else {
        advance_to(newest + 1)
    };
    (write_version, before)
}

/// A thread's way of taking write versions: ticking, or stamping for a run of commits
/// (see the module docs). Kept in the thread's transaction log.
pub(crate) struct Mode {
    /// Stamps left in this run; `None` while ticking.
    stamps_left: Option<u32>,
    /// `RUNS` as this thread last started a run or looked at it.
    runs_seen: u64,
    /// The newest version this thread stamped: the clock must pass it before the thread
    /// stops stamping.
    newest_stamp: u64,
}

/// A commit's write version, and whether it must validate its read set.
pub(crate) enum WriteVersion {
    /// Nothing can have committed since the snapshot: no need to validate.
    Trusted(u64),
    /// Validate the read set.
    Validate(u64),
}

impl Mode {
    /// Ticking, for a thread that starts committing now: runs of stamps that started
    /// before do not count as company.
    pub(crate) fn ticking() -> Mode {
        Mode {
            stamps_left: None,
            runs_seen: RUNS.0.load(SeqCst),
            newest_stamp: 0,
        }
    }

    /// The write version of a commit that holds the locks of its write set, whose
    /// versions are at most `newest`, with snapshot `*read_version`. Sets `*read_version`
    /// to the latest time this thread has seen, where its next snapshot starts.
    ///
    /// A thread committing alone runs TL2's commit plus one load: the count of stampers,
    /// which is zero (so this thread, which would count itself, ticks), then the tick,
    /// which finds the clock at the snapshot (so the commit need not validate). Anything
    /// else is out of line.
    #[inline]
    pub(crate) fn write_version(
        &mut self,
        read_version: &mut u64,
        newest: impl FnOnce() -> u64,
    ) -> WriteVersion {
        #[cfg(loom)]
        self.stamp_if_asked();
        // After the locks and before any tick: see the module docs, Skipping validation.
        loom_fence();
        let stampers = STAMPERS.0.load(SeqCst);
        loom_fence();
        if stampers != 0 {
            return self.in_company(read_version, newest(), stampers);
        }
        let before = CLOCK.0.fetch_add(1, SeqCst);
        loom_fence();
        if before == *read_version {
            // No thread stamps, so every version is at most the clock's time (a thread
            // that stops stamping first moves the clock past its stamps), and `newest`
            // is below the tick.
            *read_version = before + 1;
            return WriteVersion::Trusted(before + 1);
        }
        self.ticked_in_company(read_version, newest(), before, 0)
    }

    /// `write_version` while some thread stamps: this one, or another.
    #[cold]
    #[inline(never)]
    fn in_company(&mut self, read_version: &mut u64, newest: u64, stampers: u64) -> WriteVersion {
        match self.stamps_left {
            Some(left) => self.stamp(read_version, newest, left),
            None => {
                let before = CLOCK.0.fetch_add(1, SeqCst);
                loom_fence();
                self.ticked_in_company(read_version, newest, before, stampers)
            }
        }
    }

    /// A ticking commit once the clock or the count shows that another thread commits:
    /// the write version is past `newest` too, the commit validates, and the thread
    /// starts stamping.
    #[cold]
    #[inline(never)]
    fn ticked_in_company(
        &mut self,
        read_version: &mut u64,
        newest: u64,
        before: u64,
        stampers: u64,
    ) -> WriteVersion {
        let snapshot = *read_version;
        let version = if newest <= before {
            before + 1
        } else {
            advance_to(newest + 1)
        };
        *read_version = version;
        if before != snapshot || stampers != 0 && self.others_started_runs() {
            self.start_stamping();
        }
        WriteVersion::Validate(version)
    }

    /// A commit of a stamping run with `left` stamps to go.
    fn stamp(&mut self, read_version: &mut u64, newest: u64, left: u32) -> WriteVersion {
        if left == 0 {
            if !self.others_started_runs() {
                // Alone now: move the clock past every stamp of the run before leaving
                // the count (module docs, Skipping validation).
                let (version, _) = tick(newest.max(self.newest_stamp));
                *read_version = version;
                self.stop_stamping();
                return WriteVersion::Validate(version);
            }
            self.runs_seen = RUNS.0.fetch_add(1, SeqCst) + 1;
        }
        self.stamps_left = Some(left.checked_sub(1).unwrap_or(STAMP_RUN - 1));
        loom_fence();
        let now = now();
        *read_version = now;
        let version = now.max(newest) + 1;
        self.newest_stamp = self.newest_stamp.max(version);
        WriteVersion::Validate(version)
    }

    /// Whether a run of stamps started since this thread last looked. It looks again.
    fn others_started_runs(&mut self) -> bool {
        let runs = RUNS.0.load(SeqCst);
        let moved = runs != self.runs_seen;
        self.runs_seen = runs;
        moved
    }

    #[cold]
    fn start_stamping(&mut self) {
        STAMPERS.0.fetch_add(1, SeqCst);
        self.runs_seen = RUNS.0.fetch_add(1, SeqCst) + 1;
        self.stamps_left = Some(STAMP_RUN);
    }

    fn stop_stamping(&mut self) {
        STAMPERS.0.fetch_sub(1, SeqCst);
        self.stamps_left = None;
    }

    /// Under loom, a model's thread may ask for its next commit to stamp
    /// (`braid::__loom::stamp_next_commit`), so that a model can put a stamping commit
    /// beside a ticking one wherever it needs it.
    #[cfg(loom)]
    fn stamp_if_asked(&mut self) {
        if STAMP_NEXT.with(|asked| asked.replace(false)) && self.stamps_left.is_none() {
            self.start_stamping();
        }
    }
}

impl Drop for Mode {
    /// A thread that exits while stamping moves the clock past its stamps and leaves the
    /// count, as a run's last commit does. (Not under loom, whose objects are out of reach
    /// while a thread's locals drop; a model's statics end with it anyway.)
    fn drop(&mut self) {
        #[cfg(not(loom))]
        if self.stamps_left.is_some() {
            tick(self.newest_stamp);
            self.stop_stamping();
        }
    }
}

#[cfg(loom)]
crate::sync::thread_local! {
    static STAMP_NEXT: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Under loom: the calling thread's next commit stamps (see `Mode::stamp_if_asked`).
#[cfg(loom)]
pub(crate) fn stamp_next_commit() {
    STAMP_NEXT.with(|asked| asked.set(true));
}
