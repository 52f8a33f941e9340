//! Deferred reclamation: free memory only once no reader can still hold a pointer to it.
//!
//! Readers of a `TVar` load a pointer to its current value without touching any shared
//! counter (a read-only transaction must not write shared memory, or it cannot scale).
//! So a value replaced by a commit cannot be freed at once: a reader may be cloning it.
//! A reader *pins* before loading such pointers; a writer *retires* what it unlinked;
//! the free runs after every thread pinned at that moment has unpinned.
//!
//! Under std this is `crossbeam-epoch`, with one change: the thread that retired a batch
//! frees it, not whichever thread collects (see `Reclaimer`). Under loom it is a stand-in
//! that loom sees whole:
//! one mutex-protected count of pinned guards and a list of deferred frees, run when the
//! count drops to zero. It is slow and simple on purpose; its correctness argument is:
//! a reader that loaded pointer `p` pinned (mutex) before that load, and the writer
//! retired `p` (mutex) after unlinking it, so if the reader saw `p`, its pin precedes the
//! retire in the mutex order and the count stays above zero until the reader unpins.
//! (A retire while nothing is pinned frees at once: a reader that pins later cannot
//! load the unlinked pointer.)
//!
//! Memory that readers reach without pinning waits for the sections of `presence.rs`
//! instead: `retire_after_sections` frees it once every section running at the call has
//! ended, at once if none is. Under std the collector thread looks at a free still
//! waiting on each tick (below); under loom, `free_after_sections` looks as each
//! transaction ends.
//!
//! # Bound
//! Under std, garbage is freed within `6 x TICK` (60 ms) of the later of its retire and
//! the end of every transaction running at that retire (a pinned reader, or a section
//! for `retire_after_sections`), whatever the retiring thread does next: it may go idle,
//! run only transactions over words (which never pin), retire slowly, or exit.
//! crossbeam's collector alone gives no such bound: it advances only when some thread
//! pins, and a deferred call waits in its thread's local bag until the bag is full (64
//! calls) or that thread pins again (issue 29 held 1,000 values for as long as an idle
//! thread lived). The argument, step by step:
//! 1. A retired pointer goes into its thread's `Filling`, which the collector thread can
//!    reach (a mutex, locked once per retire): first the batch being filled, then, once
//!    sealed, the list of sealed batches whose deferred call may still sit in the
//!    thread's bag. A `Filling` going from empty to non-empty wakes the collector
//!    (started lazily, the first time).
//! 2. Each tick the collector takes everything from a `Filling` that did not grow for a
//!    whole tick, or that it has seen non-empty for 2 ticks: within 3 ticks of the
//!    retire. It defers the batch being filled itself, and starts a second grace period
//!    for each sealed batch still pending, pinned after the batch was sealed, so it ends
//!    no sooner than the first (the first to end marks the batch ready; see
//!    `sealed.rs`). Both go to crossbeam's global queue at once (a flush), and stay
//!    counted in flight until they have run.
//! 3. While anything is in flight the collector pins and flushes up to 16 times per
//!    tick: each flush advances the global epoch unless a thread stays pinned in an
//!    older one, and runs the expired calls. Once every transaction pinned at the
//!    retire has ended, two advances expire the call, within the next tick.
//! 4. A sealed batch's call only marks it ready (the retiring thread frees its own
//!    batches, for locality). A batch the collector took over goes to its ready list
//!    once ready, and it frees the batch on its next tick if the thread has not. A batch the collector deferred itself is freed by the call.
//! 5. Frees waiting for sections (a variable's core, and with it a dropped map's nodes
//!    and values) are looked at on every tick while any waits.
//!
//! So the wait is at most 3 ticks to be taken, 1 or 2 to expire, and 1 in the ready
//! list: 6 ticks (a tick is a sleep, so a loaded machine stretches it). A thread that keeps retiring quickly frees nearly everything itself
//! (its batches fill, its bag fills and goes to the global queue, its pins collect);
//! the collector takes at most what accumulated in the last 2 ticks. Flushing the bag
//! at each seal instead, so that nothing waited there, made a node-valued increment 2.6x
//! slower (70 to 186 ns: a 2 KiB bag copied and a collection per 32 retires). The
//! collector parks when nothing waits (every `Filling` empty, nothing in flight or
//! ready, no free waiting for sections), so an idle process has an idle collector.
//!
//! # Backlog
//! The bound above runs from the end of the transactions running at a retire, and a
//! transaction that the OS takes off its core while pinned runs on for a whole time
//! slice or more. Every other thread keeps retiring meanwhile, and the allocator keeps
//! the pages of the largest such pile for the life of the process. So a thread with more
//! than 128 sealed batches waiting (4,096 values) stops, once its transaction has ended
//! and unpinned, to flush, free and yield its core, up to 64 times (`catch_up`). On a
//! 2-core machine running 15 busy threads, this took a soak run's peak live heap from
//! 3.6 to 3.0 MB and its 10-minute resident-set growth from 19.7% to 11.6% (the README's
//! reliability section).
//!
//! Measured (tests/stm_map.rs, `values_are_freed_*`, six runs on a 2-core machine at a
//! load average of 7 to 12): the 500 removed values were freed 21 to 63 ms after the
//! last removal, the dropped map's at once, in both the idle and the word-transaction
//! cases (40 to 43 ms in four later runs). The cost: a node-valued increment runs 472 instructions instead of 420 (the
//! `Filling` mutex, counted with callgrind); a word-valued one is unchanged (213, 212).

use crate::sync::presence;

#[cfg(not(loom))]
mod imp {
    use std::collections::VecDeque;

    use super::{collector, AfterSections, Retired};
    use crate::sync::sealed::SealedBatch;
    use crate::sync::{lock, thread, Arc, Mutex};

    /// Retired pointers are sealed in batches of `BATCH`, one deferred call per batch: a
    /// deferred call per free costs more than the free itself.
    pub(super) const BATCH: usize = 32;

    /// How many emptied batch buffers and headers a thread keeps for its next seals. The
    /// collector marks batches ready in bursts (its bag of 64 deferred calls), so a
    /// thread frees many at once and seals one at a time: without spares nearly every
    /// seal allocated twice (counted with callgrind: 6,055 buffer allocations in 6,250
    /// seals). At most 64 x 32 pointers of spare room, 32 KiB, per thread. (16 spares
    /// made a node-valued increment 13 instructions dearer, 341 instead of 328: bursts
    /// larger than the spares allocate again.)
    const SPARES: usize = 64;

    /// Sealed batches a thread may have waiting for their grace period before it stops
    /// to let them end (see `Reclaimer::catch_up`): 4,096 retired values, 256 KiB of
    /// 64-byte nodes. A thread with a commit every microsecond or so keeps a few batches
    /// waiting; only a stalled grace period (a pinned thread that the OS took off its
    /// core) lets this many pile up.
    const BACKLOG: usize = 128;
    /// How many times `catch_up` flushes, frees and yields at most, so that a grace
    /// period held by this very thread (pinned further out) or by a thread that never
    /// runs again costs a bounded delay, never a hang.
    const CATCH_UP_ROUNDS: usize = 64;

    /// What of a thread's garbage the collector thread must be able to reach when the
    /// thread stops retiring (see the module docs, Bound): the batch being filled, and
    /// the sealed batches whose deferred call may still sit in the thread's own bag.
    /// Its owner locks it once per retire, the collector once per tick.
    pub(super) struct Filling {
        pub(super) items: Vec<Retired>,
        /// Sealed batches, oldest first, that nobody may have freed yet; the owner drops
        /// the freed ones from the front as it seals.
        pub(super) sealed: VecDeque<Arc<SealedBatch<Retired>>>,
        /// Retires ever pushed here; the collector takes a batch that did not grow for a
        /// whole tick, so a thread that keeps retiring frees its own garbage.
        pub(super) pushed: u64,
        /// `pushed` as the collector saw it on its last tick.
        pub(super) seen: u64,
        /// The first tick on which the collector saw this non-empty, since it was last
        /// empty or taken.
        pub(super) since: Option<u64>,
    }

    pub(super) type SharedFilling = Arc<Mutex<Filling>>;

    /// One thread's side of reclamation: a registration with the collector to pin
    /// through, and the pointers the thread retired. The thread's transaction log keeps
    /// it, so a transaction pins and retires without a thread-local lookup (crossbeam's
    /// `pin()` looks its handle up in one: 25 of a one-variable increment's 560
    /// instructions). Deferred calls still go through crossbeam's own thread-local
    /// handle, once per sealed batch. They wait in that handle's bag until it is full or
    /// the thread pins again; flushing it at each seal cost more than the rest of the
    /// reclamation (a 2 KiB bag copied and a collection: a node-valued increment went
    /// from 70 to 186 ns), so instead the collector thread starts a second grace period
    /// for the batches of a thread that stopped retiring (see `collector`).
    ///
    /// The collector runs deferred calls on whichever thread collects. Had those calls
    /// freed the batches, one thread's garbage would be dropped on another: a queue's
    /// consumer dropping the producer's old values, touching the producer's cache lines
    /// (reference counts of shared chunks, node memory) on every message. So the first
    /// deferred call only marks its batch ready, and the thread that retired it frees it
    /// the next time it seals one, where that memory is still in its caches. The call
    /// also hands the batch to the collector thread, which frees it a tick later if
    /// nobody has: a thread that stopped retiring (idle, or gone) does not keep its
    /// garbage.
    pub(crate) struct Reclaimer {
        handle: crossbeam_epoch::LocalHandle,
        filling: SharedFilling,
        /// Sealed batches whose grace period may still run, oldest first.
        sealed: VecDeque<Arc<SealedBatch<Retired>>>,
        spare_buffers: Vec<Vec<Retired>>,
        /// Headers of claimed batches, oldest first; one is reused once the collector's
        /// calls have dropped their references to it.
        spare_headers: VecDeque<Arc<SealedBatch<Retired>>>,
        /// More than `BACKLOG` batches wait: the transaction calls `catch_up` once it has
        /// unpinned.
        behind: bool,
    }

    impl Default for Reclaimer {
        fn default() -> Reclaimer {
            let filling = Arc::new(Mutex::new(Filling {
                items: Vec::with_capacity(BATCH),
                sealed: VecDeque::new(),
                pushed: 0,
                seen: 0,
                since: None,
            }));
            collector::register(&filling);
            Reclaimer {
                handle: crossbeam_epoch::default_collector().register(),
                filling,
                sealed: VecDeque::new(),
                spare_buffers: Vec::new(),
                spare_headers: VecDeque::new(),
                behind: false,
            }
        }
    }

    /// Seals a full batch: once every thread pinned now has unpinned, it is ready. The
    /// deferred call waits in this thread's bag (see `Reclaimer`).
    fn seal(sealed: Arc<SealedBatch<Retired>>) -> Arc<SealedBatch<Retired>> {
        // Pinned after every pointer in the batch was unlinked, as deferring requires.
        let guard = crossbeam_epoch::pin();
        let batch = sealed.clone();
        // The thread that retired the batch frees it at its next seal; if it stops
        // retiring first, the collector thread finds the batch in its `Filling`. So this
        // call takes no lock: it runs once per 32 retires.
        guard.defer(move || {
            batch.mark_ready();
        });
        sealed
    }

    /// Takes over the garbage of threads that stopped retiring (or exited): `items`, not
    /// yet sealed, and `sealed` batches. One deferred call for all of it, flushed to
    /// crossbeam's global queue, where the collector thread drives it: it frees `items`
    /// wherever it runs, and makes the pending batches ready. A sealed batch already
    /// ready goes to the collector's ready list at once; for one still pending, whose
    /// own deferred call may sit in its thread's bag, this call is a second grace
    /// period, pinned now, after the batch was sealed, so it ends no sooner than the
    /// first. Whichever call comes first makes a batch ready (`SealedBatch::mark_ready`),
    /// and this one hands it to the collector's ready list either way.
    ///
    /// One call per collector tick, not two per thread that stopped: each flush puts a
    /// bag of 2 KiB into crossbeam's queue, allocated here and freed by whichever thread
    /// collects it.
    pub(super) fn take_over(items: Vec<Retired>, sealed: Vec<Arc<SealedBatch<Retired>>>) {
        let (pending, ready): (Vec<_>, Vec<_>) = (sealed.into_iter())
            .filter(|batch| !batch.is_taken())
            .partition(|batch| batch.is_pending());
        ready.into_iter().for_each(collector::ready);
        if items.is_empty() && pending.is_empty() {
            return;
        }
        // Pinned after every pointer in `items` was unlinked and every batch in `pending`
        // was sealed, as deferring requires.
        let guard = crossbeam_epoch::pin();
        let in_flight = collector::deferring();
        // SAFETY: each pointer in `items` was unlinked before it was retired, and this
        // guard pinned after that, so the free runs after every reader that could still
        // hold one has unpinned. `Retired::free` may run on any thread (its contract).
        unsafe {
            guard.defer_unchecked(move || {
                items.into_iter().for_each(Retired::free);
                for batch in pending {
                    // Ready now, whichever grace period ended first (if the thread's own
                    // call marked it, this one fails); either way the collector must look
                    // after it, since the thread may never seal again.
                    batch.mark_ready();
                    collector::ready(batch);
                }
                drop(in_flight);
            })
        }
        guard.flush();
    }

    /// A pending batch of `items`, in the oldest spare header if the collector has let go
    /// of it, else in a new one.
    fn header_for(
        spare_headers: &mut VecDeque<Arc<SealedBatch<Retired>>>,
        items: Vec<Retired>,
    ) -> Arc<SealedBatch<Retired>> {
        if let Some(spare) = spare_headers.front_mut() {
            if let Some(header) = Arc::get_mut(spare) {
                header.refill(items);
                return spare_headers.pop_front().expect("the front was just seen");
            }
        }
        Arc::new(SealedBatch::new(items))
    }

    impl Reclaimer {
        /// Pins the current thread (the one that owns this reclaimer). Called once per
        /// attempt that reads a value in a node (`Transaction::pin`, out of line); a
        /// transaction over words never pins.
        #[inline]
        pub(crate) fn pin(&self) -> Guard {
            Guard {
                _pinned: self.handle.pin(),
            }
        }

        /// Frees `ptr` with `free` once no thread pinned now (or before) can hold it.
        ///
        /// # Safety
        /// `ptr` is unreachable for threads that pin from now on, and `free(ptr)` may run
        /// on any thread, once, at any later time.
        pub(crate) unsafe fn retire(&mut self, ptr: *mut (), free: unsafe fn(*mut ())) {
            let mut filling = lock(&self.filling);
            let was_empty = filling.items.is_empty() && filling.sealed.is_empty();
            filling.items.push(Retired { ptr, free });
            filling.pushed += 1;
            if filling.items.len() >= BATCH {
                let buffer =
                    (self.spare_buffers.pop()).unwrap_or_else(|| Vec::with_capacity(BATCH));
                let items = std::mem::replace(&mut filling.items, buffer);
                // Sealed with the `Filling` unlocked: pinning may run deferred calls,
                // which may take `STATE`, and the collector takes `STATE` before a
                // `Filling`, never after.
                drop(filling);
                let sealed = seal(header_for(&mut self.spare_headers, items));
                let mut filling = lock(&self.filling);
                let was_empty = filling.items.is_empty() && filling.sealed.is_empty();
                while (filling.sealed.front()).is_some_and(|oldest| oldest.is_taken()) {
                    filling.sealed.pop_front();
                }
                filling.sealed.push_back(sealed.clone());
                drop(filling);
                if was_empty {
                    collector::lingering();
                }
                self.sealed.push_back(sealed);
                self.free_ready();
                self.behind = self.sealed.len() > BACKLOG;
            } else if was_empty {
                drop(filling);
                collector::lingering();
            }
        }

        /// Whether this thread's garbage has piled up (see `catch_up`). Checked as each
        /// transaction ends: one load and a branch.
        #[inline]
        pub(crate) fn is_behind(&self) -> bool {
            self.behind
        }

        /// Waits, briefly and boundedly, for this thread's oldest garbage to be freed:
        /// for a caller that is not pinned, and whose garbage is `is_behind`.
        ///
        /// Why: a grace period ends only once every thread pinned at its start has
        /// unpinned, and a pinned thread that the OS takes off its core holds it for a
        /// whole time slice or more. Meanwhile every other thread keeps retiring at full
        /// speed, and the garbage of that stall is what the process's heap has to hold:
        /// the allocator keeps the pages of its largest stall for good (a soak run on 2
        /// busy cores grew its resident set by 20% in 10 minutes, in steps of up to
        /// 1 MB, with its live heap flat between them). So a thread that is
        /// `BACKLOG` batches behind stops retiring: it flushes its deferred calls,
        /// frees what is ready and yields its core, which is what the stalled thread
        /// needs, until half its backlog is gone or `CATCH_UP_ROUNDS` have passed.
        #[cold]
        #[inline(never)]
        pub(crate) fn catch_up(&mut self) {
            for _ in 0..CATCH_UP_ROUNDS {
                crossbeam_epoch::pin().flush();
                self.free_ready();
                if self.sealed.len() <= BACKLOG / 2 {
                    break;
                }
                thread::yield_now();
            }
            self.behind = self.sealed.len() > BACKLOG;
        }

        /// Frees this thread's ready batches, oldest first. All of them: the collector
        /// marks batches ready in bursts, and a thread that freed only two per seal fell
        /// behind, so the collector's fallback freed 14-30% of a 2-thread bank's batches
        /// on the wrong thread (counted; when the thread frees all ready ones, fewer than
        /// one in 500). A value's destructor may run here; it cannot reach this
        /// reclaimer (its thread's transaction is still running), and a panic in one
        /// leaks the rest of its batch, nothing worse.
        fn free_ready(&mut self) {
            while self
                .sealed
                .front()
                .is_some_and(|oldest| !oldest.is_pending())
            {
                let oldest = self.sealed.pop_front().expect("the front was just seen");
                // `None`: the collector's fallback took it.
                if let Some(mut batch) = oldest.take() {
                    batch.drain(..).for_each(Retired::free);
                    if self.spare_buffers.len() < SPARES {
                        self.spare_buffers.push(batch);
                    }
                }
                if self.spare_headers.len() < SPARES {
                    self.spare_headers.push_back(oldest);
                }
            }
        }
    }

    impl Drop for Reclaimer {
        /// The thread is exiting (or its log is gone): what it has not freed goes to the
        /// collector thread, as if the thread had stopped retiring.
        fn drop(&mut self) {
            collector::deregister(&self.filling);
            let (items, sealed) = {
                let mut filling = lock(&self.filling);
                (
                    std::mem::take(&mut filling.items),
                    std::mem::take(&mut filling.sealed),
                )
            };
            take_over(items, sealed.into());
        }
    }

    /// Evidence that the current thread is pinned: pointers loaded while it lives stay valid.
    pub(crate) struct Guard {
        /// Unpins when dropped.
        _pinned: crossbeam_epoch::Guard,
    }

    /// Pins the current thread.
    pub(crate) fn pin() -> Guard {
        Guard {
            _pinned: crossbeam_epoch::pin(),
        }
    }

    /// Has the collector thread look at `after` again on its next ticks: what the free
    /// waits for is the sections, not the epoch.
    pub(super) fn look_again_later(after: AfterSections) {
        collector::after_sections(after);
    }
}

/// The collector thread (std only): what guarantees that garbage waits at most a bound,
/// whatever the threads that retired it do next. See the module docs, Bound.
///
/// Everything here is behind one mutex, `STATE`, taken when a thread's `Filling` goes
/// from empty to non-empty (seldom for a busy thread, whose list of sealed batches is
/// seldom empty), for the batches the collector took over, and by the collector on each
/// tick; never per transaction. So it has no atomics of its own, and its one wake-up
/// rule (below) is an argument about that mutex. Lock order: `STATE`, then a
/// `Filling`; nothing that may take `STATE` (a pin, which may run deferred calls, or a
/// free) runs with a `Filling` locked.
#[cfg(not(loom))]
mod collector {
    use std::time::Duration;

    use super::imp::{take_over, SharedFilling};
    use super::{AfterSections, Retired};
    use crate::sync::sealed::SealedBatch;
    use crate::sync::{lock, thread, Arc, Mutex};

    /// How often the collector looks, while anything is waiting.
    pub(super) const TICK: Duration = Duration::from_millis(10);
    /// Flushes per tick at most: each may advance the epoch once and run up to 8 of
    /// crossbeam's bags.
    const FLUSHES_PER_TICK: usize = 16;

    struct State {
        /// Every live thread's `Filling`.
        fillings: Vec<SharedFilling>,
        /// Deferred calls in crossbeam's queue that the collector must drive (each one an
        /// `InFlight` token, dropped when its call has run).
        in_flight: usize,
        /// Batches whose grace period has ended, with the tick they became ready on:
        /// their thread frees them at its next seal, or the collector on its next tick.
        ready: Vec<(u64, Arc<SealedBatch<Retired>>)>,
        /// Frees waiting for sections to end.
        after: Vec<AfterSections>,
        tick: u64,
        /// The collector thread, once started (lazily, the first time there is work).
        thread: Option<thread::Thread>,
        /// The collector is parked until `wake` (it found nothing waiting).
        asleep: bool,
    }

    static STATE: Mutex<State> = Mutex::new(State {
        fillings: Vec::new(),
        in_flight: 0,
        ready: Vec::new(),
        after: Vec::new(),
        tick: 0,
        thread: None,
        asleep: false,
    });

    pub(super) fn register(filling: &SharedFilling) {
        lock(&STATE).fillings.push(filling.clone());
    }

    pub(super) fn deregister(filling: &SharedFilling) {
        lock(&STATE)
            .fillings
            .retain(|other| !Arc::ptr_eq(other, filling));
    }

    /// One deferred call that the collector must see run: counted from its deferral
    /// until the token is dropped (at the end of the call).
    pub(super) struct InFlight(());

    pub(super) fn deferring() -> InFlight {
        let mut state = lock(&STATE);
        state.in_flight += 1;
        wake(&mut state);
        InFlight(())
    }

    impl Drop for InFlight {
        fn drop(&mut self) {
            lock(&STATE).in_flight -= 1;
        }
    }

    /// A thread's `Filling` went from empty to one pointer.
    pub(super) fn lingering() {
        wake(&mut lock(&STATE));
    }

    /// `batch`'s grace period has ended.
    pub(super) fn ready(batch: Arc<SealedBatch<Retired>>) {
        let mut state = lock(&STATE);
        let tick = state.tick;
        state.ready.push((tick, batch));
        wake(&mut state);
    }

    pub(super) fn after_sections(after: AfterSections) {
        let mut state = lock(&STATE);
        state.after.push(after);
        wake(&mut state);
    }

    /// Makes sure the collector will tick: starts it, or unparks it.
    ///
    /// No wake-up is lost: the collector decides to sleep and sets `asleep` under
    /// `STATE`, having looked at every filling under `STATE` too. Whoever adds work
    /// either adds it before that look (which sees it) or takes `STATE` after the
    /// collector let go of it (a filling's owner locks `STATE` after its own lock on the
    /// filling, never while holding it), and then sees `asleep` and unparks it; an
    /// unpark before the park makes the park return at once.
    fn wake(state: &mut State) {
        match &state.thread {
            Some(collector) if state.asleep => {
                state.asleep = false;
                collector.unpark();
            }
            Some(_) => {}
            None => {
                let collector = thread::Builder::new()
                    .name("braid-reclaim".into())
                    .spawn(run)
                    .expect("braid: could not start the memory reclamation thread");
                state.thread = Some(collector.thread().clone());
            }
        }
    }

    fn run() {
        // The lists the collector empties each tick, kept with their capacity. It used to
        // take `after` and `ready` whole, so the threads that push to them grew a fresh
        // `Vec` by doubling every tick (dropping a `TBQueue` retires each of its
        // variables here): blocks of up to 40 KiB, taken and freed every 10 ms. In a
        // minute of a soak run after warm-up, 9 of the 15 times a heap had to grow
        // (glibc's `sysmalloc`, caught with a breakpoint) were this list growing.
        let (mut stale_batches, mut after) = (Vec::new(), Vec::new());
        loop {
            let (fillings, tick) = {
                let mut state = lock(&STATE);
                state.tick += 1;
                (state.fillings.clone(), state.tick)
            };
            // The garbage of threads that stopped retiring (nothing was retired there for
            // a whole tick), and of threads that retire too slowly to fill a batch or their
            // bag within 2 ticks.
            let (mut items, mut sealed) = (Vec::new(), Vec::new());
            for filling in &fillings {
                let mut filling = lock(filling);
                let filling = &mut *filling;
                let stopped = filling.pushed == filling.seen;
                filling.seen = filling.pushed;
                if filling.items.is_empty() && filling.sealed.is_empty() {
                    filling.since = None;
                    continue;
                }
                let since = *filling.since.get_or_insert(tick);
                if !stopped && tick < since + 2 {
                    continue;
                }
                filling.since = None;
                items.append(&mut filling.items);
                sealed.extend(filling.sealed.drain(..));
            }
            // With no `Filling` locked: pinning may run deferred calls, which take `STATE`.
            take_over(items, sealed);
            drop(fillings);
            // Advance the epoch and run what has expired, unless someone stays pinned.
            for _ in 0..FLUSHES_PER_TICK {
                crossbeam_epoch::pin().flush();
                if lock(&STATE).in_flight == 0 {
                    break;
                }
            }
            {
                let mut state = lock(&STATE);
                // `ready` is in tick order (pushed under `STATE` with the tick of the
                // time), so the batches of earlier ticks are a prefix.
                debug_assert!((state.ready).is_sorted_by_key(|(ready_on, _)| *ready_on));
                let stale = (state.ready).partition_point(|(ready_on, _)| *ready_on < tick);
                stale_batches.extend(state.ready.drain(..stale));
                std::mem::swap(&mut state.after, &mut after);
            }
            for (_, batch) in stale_batches.drain(..) {
                // `None`: its thread freed it.
                if let Some(items) = batch.take() {
                    items.into_iter().for_each(Retired::free);
                }
            }
            for after in after.drain(..) {
                after.free_or_wait();
            }
            let mut state = lock(&STATE);
            let idle = state.in_flight == 0
                && state.ready.is_empty()
                && state.after.is_empty()
                && (state.fillings.iter()).all(|filling| {
                    let filling = lock(filling);
                    filling.items.is_empty() && filling.sealed.is_empty()
                });
            if idle {
                state.asleep = true;
                drop(state);
                thread::park();
            } else {
                drop(state);
                thread::sleep(TICK);
            }
        }
    }
}

#[cfg(loom)]
mod imp {
    use crate::sync::{lock, sync_static, Mutex};

    use super::{AfterSections, Retired};

    struct Pins {
        pinned: usize,
        deferred: Vec<Retired>,
    }

    sync_static! {
        static PINS: Mutex<Pins> = Mutex::new(Pins { pinned: 0, deferred: Vec::new() });
    }

    sync_static! {
        /// Frees waiting for sections to end; looked at by `free_after_sections`.
        static AFTER_SECTIONS: Mutex<Vec<AfterSections>> = Mutex::new(Vec::new());
    }

    /// Keeps `after` for `free_after_sections`.
    pub(super) fn look_again_later(after: AfterSections) {
        lock(&AFTER_SECTIONS).push(after);
    }

    /// Frees whatever no longer waits for a section. Under std the collector looks
    /// again after each grace period; loom has no collector, so the STM calls this as
    /// each transaction ends, and models see the frees happen.
    pub(crate) fn free_after_sections() {
        let ready: Vec<AfterSections> = {
            let mut waiting = lock(&AFTER_SECTIONS);
            let (ready, still) = std::mem::take(&mut *waiting)
                .into_iter()
                .partition(|w| w.waiting.all_left());
            *waiting = still;
            ready
        };
        for after in ready {
            after.retired.free();
        }
    }

    /// Evidence that the current thread is pinned (loom stand-in).
    pub(crate) struct Guard {
        _not_send: std::marker::PhantomData<*mut ()>,
    }

    /// Pins the current thread.
    pub(crate) fn pin() -> Guard {
        lock(&PINS).pinned += 1;
        Guard {
            _not_send: std::marker::PhantomData,
        }
    }

    fn unpin() {
        let ready = {
            let mut pins = lock(&PINS);
            pins.pinned -= 1;
            if pins.pinned == 0 {
                std::mem::take(&mut pins.deferred)
            } else {
                Vec::new()
            }
        };
        for retired in ready {
            retired.free();
        }
    }

    /// A thread's side of reclamation (loom stand-in: everything goes to `PINS`).
    #[derive(Default)]
    pub(crate) struct Reclaimer;

    impl Reclaimer {
        /// Never: the stand-in frees as the last pin goes.
        #[inline]
        pub(crate) fn is_behind(&self) -> bool {
            false
        }

        /// Nothing to wait for (see `is_behind`).
        pub(crate) fn catch_up(&mut self) {}

        /// Pins the current thread.
        pub(crate) fn pin(&self) -> Guard {
            pin()
        }

        /// Frees `ptr` with `free` once every thread pinned now has unpinned: at once
        /// if none is (one that pins later cannot load `ptr`, which is unlinked).
        ///
        /// # Safety
        /// As for the std version.
        pub(crate) unsafe fn retire(&mut self, ptr: *mut (), free: unsafe fn(*mut ())) {
            let retired = Retired { ptr, free };
            // (The loom stand-in frees as the last pin goes: no backlog to catch up on.)
            let mut pins = lock(&PINS);
            if pins.pinned > 0 {
                pins.deferred.push(retired);
            } else {
                drop(pins);
                retired.free();
            }
        }
    }

    impl Drop for Guard {
        fn drop(&mut self) {
            unpin();
        }
    }
}

#[cfg(loom)]
pub(crate) use imp::free_after_sections;
pub(crate) use imp::{pin, Guard, Reclaimer};

/// Frees `ptr` with `free` once every critical section running now (see `presence.rs`)
/// has ended: at once if none is. For memory that sections reach without pinning: a
/// variable's core, which transactions hold without counted references.
///
/// # Safety
/// No section that starts from now on can reach `ptr`, and `free(ptr)` may run on any
/// thread, once, at any later time.
pub(crate) unsafe fn retire_after_sections(ptr: *mut (), free: unsafe fn(*mut ())) {
    AfterSections {
        waiting: presence::in_flight(),
        retired: Retired { ptr, free },
    }
    .free_or_wait();
}

/// A pointer to free once the sections in `waiting` have ended.
struct AfterSections {
    waiting: presence::Snapshot,
    retired: Retired,
}

impl AfterSections {
    /// Frees the pointer if every section it waits for has ended, else has it looked at
    /// again later (by the collector under std, by `free_after_sections` under loom).
    fn free_or_wait(self) {
        if self.waiting.all_left() {
            self.retired.free();
        } else {
            imp::look_again_later(self);
        }
    }
}

/// A pointer waiting to be freed, and the function that frees it.
struct Retired {
    ptr: *mut (),
    free: unsafe fn(*mut ()),
}

// SAFETY: `Reclaimer::retire`'s caller vouches that `free(ptr)` may run on any thread.
unsafe impl Send for Retired {}

impl Retired {
    fn free(self) {
        // SAFETY: `Reclaimer::retire`'s caller vouched that `free(ptr)` may run once, on any
        // thread, after the deferral; this consumes the only copy.
        unsafe { (self.free)(self.ptr) }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    use super::{pin, Reclaimer};

    static FREED: AtomicUsize = AtomicUsize::new(0);

    unsafe fn free_counted(ptr: *mut ()) {
        // SAFETY: made by `Box::into_raw` in `retire_one` and freed once (`retire`'s
        // contract).
        drop(unsafe { Box::from_raw(ptr.cast::<u64>()) });
        FREED.fetch_add(1, Relaxed);
    }

    fn retire_one(reclaimer: &mut Reclaimer, value: u64) {
        let ptr = Box::into_raw(Box::new(value)).cast::<()>();
        // SAFETY: nobody else ever sees `ptr`, and `free_counted` may run on any thread.
        unsafe { reclaimer.retire(ptr, free_counted) };
    }

    #[test]
    fn a_thread_behind_a_stalled_grace_period_catches_up_once_it_ends() {
        // Another thread stays pinned: no grace period can end while it does.
        let (pinned_tx, pinned_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let stalled = std::thread::spawn(move || {
            let _guard = pin();
            pinned_tx.send(()).unwrap();
            release_rx.recv().unwrap();
        });
        pinned_rx.recv().unwrap();

        let mut reclaimer = Reclaimer::default();
        let retired = 200 * super::imp::BATCH;
        let mut was_behind = false;
        for i in 0..retired {
            retire_one(&mut reclaimer, i as u64);
            if reclaimer.is_behind() {
                was_behind = true;
                // What a transaction does as it ends: bounded, even though the grace
                // period cannot end yet.
                let started = Instant::now();
                reclaimer.catch_up();
                assert!(started.elapsed() < Duration::from_secs(5), "catch_up hung");
            }
        }
        assert!(
            was_behind,
            "200 batches behind a stalled grace period is behind"
        );
        assert!(
            reclaimer.is_behind(),
            "nothing could be freed while the pin held"
        );

        release_tx.send(()).unwrap();
        stalled.join().unwrap();
        let started = Instant::now();
        while reclaimer.is_behind() {
            reclaimer.catch_up();
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the backlog stayed after the stalled thread unpinned"
            );
        }
        // Half the backlog or more is gone: more than the 72 batches left over.
        assert!(FREED.load(Relaxed) >= 100 * super::imp::BATCH);
    }
}
