//! A soak run: every part of braid at once, for as long as you ask, checking its
//! promises the whole time. A tour of the library under load.
//!
//! ```text
//! cargo run --release --example soak -- --seconds 60
//! ```
//!
//! Five stations run side by side until the time is up (`--only bank,map` picks some):
//! 1. **Bank**: threads and Pool tasks move money between accounts, some transfers abort
//!    (`try_atomically`) or panic halfway; an auditor checks that money is conserved,
//!    and now and then waits (`atomically_timeout`) for money to vanish, in vain.
//! 2. **Map churn**: threads insert and remove `TMap` entries beside a size counter; an
//!    auditor checks that the map's length, its counter and its contents agree.
//! 3. **Pipelines**: producer tasks fill a bounded `TBQueue`, a thread and a task drain
//!    it, the queue closes; every item is consumed exactly once.
//! 4. **Scheduler**: cooperative tasks pull from generators, wait on transactions, sleep
//!    and spawn; some are aborted, some panic; each ends as it should, and every task's
//!    destructor runs.
//! 5. **Failures and timers**: Pool tasks panic or are aborted, and each `JoinHandle`
//!    says so; a `JoinSet` hands back every task it was given; `sleep`, `timeout` and
//!    `atomically_async_timeout` never return early (how late they are is reported).
//!
//! The main thread samples the resident set size every second from `/proc/self/statm`
//! (`--verbose` prints each sample): after the warm-up, the first third of the run (at
//! least 3 s), it may grow by at most 10%. A third at every length, because under a
//! steady load the allocator's footprint settles about logarithmically: each doubling
//! of the run adds about as much as the one before, where a leak would add twice as
//! much (six 10-minute runs: 4 to 456 KiB from 75 to 150 s, 192 to 448 KiB from 150 to
//! 300 s, 192 to 612 KiB from 300 to 600 s). So a warm-up of fixed length fails any
//! long enough run of a program that leaks nothing, while a leak at a steady rate grows
//! the last two thirds by the same share at every length, and fails. The report gives
//! RSS at a third, two thirds and the end, to show the shape.
//!
//! The live heap, counted by the global allocator, is reported beside RSS: a leak shows
//! as live bytes that keep growing, the allocator keeping pages it once needed as RSS
//! that grows while the live heap does not. This run found both kinds in braid, now
//! bounded: its cache of free value nodes (live to the allocator) filled towards its
//! limits for minutes (`src/stm/node.rs`); the garbage that piles up behind a pinned
//! transaction the OS preempted set the heap's size, a step each time a worse stall came
//! (`src/sync/reclaim.rs`, Backlog); and the reclamation thread regrew two lists by
//! doubling 100 times a second (`src/sync/reclaim.rs`, the collector's `run`).
//! The main thread also watches that every station's counter keeps moving: ten
//! seconds without progress is a lost wake-up or a hang. A broken promise
//! prints what broke and exits with status 1.

use std::alloc::{GlobalAlloc, Layout, System};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use braid::coro::{self, yield_now, Generator, Scheduler};
use braid::exec::Pool;
use braid::stm::{
    atomically, atomically_async, atomically_async_timeout, atomically_timeout, check,
    try_atomically, TBQueue, TMap, TQueue, TVar, TxError,
};
use braid::time::{sleep, timeout};
use braid::JoinSet;

/// The global allocator, counting the bytes live on the heap: beside RSS, it tells a
/// leak (live bytes grow) from the allocator keeping pages it once needed (RSS grows, the
/// live bytes do not).
struct CountingAllocator;

static LIVE_BYTES: AtomicI64 = AtomicI64::new(0);
static PEAK_LIVE_BYTES: AtomicI64 = AtomicI64::new(0);

/// Adds `bytes` (negative for a free) to the live count, and raises the peak.
fn count_live(bytes: i64) {
    let live = LIVE_BYTES.fetch_add(bytes, Relaxed) + bytes;
    // A load first: the peak moves rarely, and a read-modify-write per allocation
    // would contend.
    if live > PEAK_LIVE_BYTES.load(Relaxed) {
        PEAK_LIVE_BYTES.fetch_max(live, Relaxed);
    }
}

// SAFETY: every call is forwarded to `System` with the caller's own arguments, so
// `System`'s guarantees are ours; the counter only watches.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_live(layout.size() as i64);
        // SAFETY: the caller's layout, as `GlobalAlloc::alloc` requires.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_live(layout.size() as i64);
        // SAFETY: the caller's layout, as `GlobalAlloc::alloc_zeroed` requires.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count_live(-(layout.size() as i64));
        // SAFETY: `ptr` came from `alloc` above (that is, from `System`) with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    // Forwarded too, not left to the trait's default (a fresh block, a copy, a free),
    // which is not what a program without the counter does: every `Vec` that grew took
    // a new block and left its old one behind, where `System` grows a block in place
    // when it can. (Found with a breakpoint on glibc's `sysmalloc`, where the heap
    // grows: after warm-up it was reached by `Vec`s of 5 to 80 KiB growing.)
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's arguments, as `GlobalAlloc::realloc` requires.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            count_live(new_size as i64 - layout.size() as i64);
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Counters for the report, and for the watchdog (any of them moving is progress).
#[derive(Default)]
struct Stats {
    transactions: AtomicU64,
    pool_tasks: AtomicU64,
    scheduler_tasks: AtomicU64,
    items: AtomicU64,
    pipelines: AtomicU64,
    timers: AtomicU64,
    injected: AtomicU64,
    /// The latest a timer fired, in microseconds after its deadline.
    max_late_us: AtomicU64,
}

impl Stats {
    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    /// The counters the watchdog expects to keep moving, once they have started.
    fn progress(&self) -> [(&'static str, u64); 5] {
        let n = |c: &AtomicU64| c.load(Relaxed);
        [
            ("transactions", n(&self.transactions)),
            ("Pool tasks", n(&self.pool_tasks)),
            ("Scheduler tasks", n(&self.scheduler_tasks)),
            ("pipeline items", n(&self.items)),
            ("timers", n(&self.timers)),
        ]
    }
}

/// What every station shares: the pool, the counters, and when to stop.
struct Soak {
    pool: Pool,
    stats: Stats,
    stop: AtomicBool,
}

impl Soak {
    fn running(&self) -> bool {
        !self.stop.load(Relaxed)
    }

    /// For a station's busy loop: counts its turns, pauses for a millisecond every
    /// `pause_every` of them, and says whether to go on. The soak is a steady load, not
    /// a benchmark. Flat out, a dozen busy threads on a few cores keep preempting
    /// transactions that hold back frees (an epoch pin): the garbage made meanwhile
    /// (TMap churn makes the most) is freed only after the stall, and the allocator
    /// keeps the pages. Each worse stall raises RSS for good though the live heap stays
    /// small (flat out on 2 loaded cores: RSS 28 -> 48 MB in 60 s, live heap near 5 MB).
    fn keep_going(&self, turns: &mut u64, pause_every: u64) -> bool {
        *turns += 1;
        if *turns % pause_every == 0 {
            thread::sleep(Duration::from_millis(1));
        }
        self.running()
    }
}

/// A broken promise: say which, and exit non-zero.
fn fail(what: impl std::fmt::Display) -> ! {
    eprintln!("soak: FAILED: {what}");
    std::process::exit(1);
}

/// A small seedable generator, one per thread or task.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        // SplitMix64.
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % n
    }
}

/// Injected panics carry this, so the panic hook keeps them quiet.
const INJECTED: &str = "injected panic";

// ---------------------------------------------------------------------------------------
// 1. Bank: contended transfers, aborts and panics halfway; money is conserved.

const ACCOUNTS: usize = 12;
const START_BALANCE: i64 = 1_000;

/// One transfer. One in 40 aborts after moving the money (`TxError::Abort` discards
/// it); one in 200 panics after moving it (the panic publishes nothing).
fn transfer(accounts: &[TVar<i64>], rng: &mut Rng, stats: &Stats) {
    let from = rng.below(ACCOUNTS as u64) as usize;
    let to = (from + 1 + rng.below(ACCOUNTS as u64 - 1) as usize) % ACCOUNTS;
    let amount = 1 + rng.below(50) as i64;
    let fault = rng.below(200);
    let moved = || {
        try_atomically(|tx| {
            accounts[from].modify(tx, |b| b - amount)?;
            accounts[to].modify(tx, |b| b + amount)?;
            match fault {
                0 => panic!("{INJECTED}: a transfer panics halfway"),
                1..=5 => Err(TxError::Abort("an injected abort")),
                _ => Ok(()),
            }
        })
    };
    match panic::catch_unwind(AssertUnwindSafe(moved)) {
        Ok(Ok(())) => {}
        Ok(Err(_)) | Err(_) => Stats::add(&stats.injected, 1),
    }
    Stats::add(&stats.transactions, 1);
}

fn bank(soak: &Arc<Soak>) -> Vec<thread::JoinHandle<()>> {
    let accounts: Arc<Vec<TVar<i64>>> =
        Arc::new((0..ACCOUNTS).map(|_| TVar::new(START_BALANCE)).collect());
    let total = START_BALANCE * ACCOUNTS as i64;
    let mut threads = Vec::new();
    for seed in 0..2 {
        let (soak, accounts) = (soak.clone(), accounts.clone());
        threads.push(thread::spawn(move || {
            let (mut rng, mut turns) = (Rng(seed), 0);
            while soak.keep_going(&mut turns, 256) {
                transfer(&accounts, &mut rng, &soak.stats);
            }
        }));
    }
    // Pool tasks transfer too, in batches, through `atomically_async`.
    let (driver_soak, driver_accounts) = (soak.clone(), accounts.clone());
    threads.push(thread::spawn(move || {
        let soak = driver_soak;
        let mut batch = 0u64;
        while soak.running() {
            let mut set = JoinSet::new();
            for t in 0..8 {
                let (accounts, seed) = (driver_accounts.clone(), batch * 8 + t + 100);
                set.push(soak.pool.spawn(async move {
                    let mut rng = Rng(seed);
                    for _ in 0..100 {
                        let (from, to) = (rng.below(ACCOUNTS as u64), rng.below(ACCOUNTS as u64));
                        atomically_async(|tx| {
                            accounts[from as usize].modify(tx, |b| b - 1)?;
                            accounts[to as usize].modify(tx, |b| b + 1)
                        })
                        .await;
                    }
                    100
                }));
            }
            while let Some(done) = set.join_next_blocking() {
                let n = done.unwrap_or_else(|e| fail(format!("a bank task failed: {e}")));
                Stats::add(&soak.stats.transactions, n);
                Stats::add(&soak.stats.pool_tasks, 1);
            }
            batch += 1;
        }
    }));
    // The auditor: a read-only transaction sees one consistent snapshot, whose sum is
    // always the total. Now and then it waits for the impossible, which must time out.
    let soak = soak.clone();
    threads.push(thread::spawn(move || {
        let sum = |tx: &mut braid::stm::Transaction| {
            accounts.iter().map(|a| a.read(tx)).sum::<Result<i64, _>>()
        };
        let mut audits = 0u64;
        while soak.keep_going(&mut audits, 256) {
            let seen = atomically(sum);
            if seen != total {
                fail(format!(
                    "money not conserved: an audit saw {seen}, not {total}"
                ));
            }
            if audits % 1000 == 0 {
                let wait = Duration::from_millis(2);
                let started = Instant::now();
                let impossible = atomically_timeout(wait, |tx| check(sum(tx)? != total));
                if impossible.is_some() {
                    fail("a wait for money to vanish came back: money not conserved");
                }
                timer_fired(&soak.stats, started, wait);
            }
            Stats::add(&soak.stats.transactions, 1);
        }
    }));
    threads
}

// ---------------------------------------------------------------------------------------
// 2. Map churn: entries come and go beside a size counter; all three always agree.

const MAP_KEYS: u64 = 64;

fn map_churn(soak: &Arc<Soak>) -> Vec<thread::JoinHandle<()>> {
    let map: TMap<u64, u64> = TMap::new();
    let size = TVar::new(0usize);
    let mut threads = Vec::new();
    for seed in 0..2 {
        let (soak, map, size) = (soak.clone(), map.clone(), size.clone());
        threads.push(thread::spawn(move || {
            let mut rng = Rng(1_000 + seed);
            let mut turns = 0;
            while soak.keep_going(&mut turns, 32) {
                let key = rng.below(MAP_KEYS);
                atomically(|tx| match map.remove(tx, &key)? {
                    Some(_) => size.modify(tx, |n| n - 1),
                    None => {
                        map.insert(tx, key, key * 3)?;
                        size.modify(tx, |n| n + 1)
                    }
                });
                Stats::add(&soak.stats.transactions, 1);
            }
        }));
    }
    let soak = soak.clone();
    threads.push(thread::spawn(move || {
        while soak.running() {
            let (len, counted, entries) =
                atomically(|tx| Ok((map.len(tx)?, size.read(tx)?, map.to_vec(tx)?)));
            if len != counted || entries.len() != len {
                fail(format!(
                    "map churn: len {len}, counter {counted}, {} entries listed",
                    entries.len()
                ));
            }
            if let Some((k, v)) = entries.iter().find(|(k, v)| *v != k * 3) {
                fail(format!("map churn: key {k} holds {v}, not {}", k * 3));
            }
            Stats::add(&soak.stats.transactions, 1);
            thread::sleep(Duration::from_millis(5));
        }
    }));
    threads
}

// ---------------------------------------------------------------------------------------
// 3. Pipelines: bounded queues that close; every item consumed exactly once.

const PRODUCERS: u64 = 3;
const ITEMS_PER_PRODUCER: u64 = 500;
const ITEMS: u64 = PRODUCERS * ITEMS_PER_PRODUCER;

/// The pipelines station: one pipeline after another. Beside a task, one long-lived
/// thread drains each pipeline's queue: it gets the queue through a `TQueue` and hands
/// the items back through another. (A thread per pipeline made the allocator open arena
/// after arena, a step in RSS each time.)
fn pipelines(soak: &Arc<Soak>) -> thread::JoinHandle<()> {
    let soak = soak.clone();
    thread::spawn(move || {
        let to_drain: TQueue<TBQueue<u64>> = TQueue::new();
        let drained: TQueue<Vec<u64>> = TQueue::new();
        let drainer = {
            let (to_drain, drained) = (to_drain.clone(), drained.clone());
            thread::spawn(move || {
                while let Some(queue) = to_drain.get() {
                    let mut got = Vec::with_capacity(ITEMS as usize);
                    got.extend(queue.iter());
                    if drained.put(got).is_err() {
                        fail("pipeline: the drained queue closed early");
                    }
                }
            })
        };
        while soak.running() {
            pipeline(&soak, &to_drain, &drained);
        }
        atomically(|tx| to_drain.close(tx));
        if drainer.join().is_err() {
            fail("the pipeline drainer thread panicked");
        }
    })
}

/// One pipeline's life: open, fill from tasks, drain from a thread and a task, close.
fn pipeline(soak: &Soak, to_drain: &TQueue<TBQueue<u64>>, drained: &TQueue<Vec<u64>>) {
    let queue: TBQueue<u64> = TBQueue::new(16);
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let queue = queue.clone();
            soak.pool.spawn(async move {
                for i in 0..ITEMS_PER_PRODUCER {
                    let item = p * ITEMS_PER_PRODUCER + i;
                    if queue.put_async(item).await.is_err() {
                        fail("pipeline: the queue closed under a producer");
                    }
                }
            })
        })
        .collect();
    let task_consumer = {
        let queue = queue.clone();
        soak.pool.spawn(async move {
            let mut got = Vec::with_capacity(ITEMS as usize);
            while let Some(item) = queue.get_async().await {
                got.push(item);
            }
            got
        })
    };
    if to_drain.put(queue.clone()).is_err() {
        fail("pipeline: the drainer's queue closed early");
    }
    for p in producers {
        p.join()
            .unwrap_or_else(|e| fail(format!("pipeline producer: {e}")));
    }
    atomically(|tx| queue.close(tx));
    let got = task_consumer
        .join()
        .unwrap_or_else(|e| fail(format!("pipeline consumer task: {e}")));
    let from_thread = drained
        .get()
        .unwrap_or_else(|| fail("pipeline: the drainer stopped"));
    // Every item produced (0..ITEMS), each consumed exactly once, by the task or the
    // thread. Checked in buffers of a fixed size: the checker's own allocations should
    // not be what the run's RSS measures.
    let mut seen = vec![false; ITEMS as usize];
    let mut consumed = 0u64;
    for item in got.into_iter().chain(from_thread) {
        consumed += 1;
        match seen.get_mut(item as usize) {
            Some(seen) if !*seen => *seen = true,
            _ => fail(format!(
                "pipeline: item {item} consumed twice or never produced"
            )),
        }
    }
    if consumed != ITEMS {
        fail(format!(
            "pipeline: {ITEMS} items produced, {consumed} consumed"
        ));
    }
    Stats::add(&soak.stats.items, ITEMS);
    Stats::add(&soak.stats.pipelines, 1);
    Stats::add(&soak.stats.pool_tasks, PRODUCERS + 1);
}

// ---------------------------------------------------------------------------------------
// 4. Scheduler: generators, transactions, sleeps, aborts and panics in cooperative tasks.

/// Counts its drops: every task owns one, so every task's destructors ran.
struct DropGuard(Arc<AtomicU64>);

impl Drop for DropGuard {
    fn drop(&mut self) {
        self.0.fetch_add(1, Relaxed);
    }
}

/// The squares below `n`, lazily.
fn squares(n: u64) -> impl Iterator<Item = u64> {
    Generator::new(move |co| async move {
        for i in 0..n {
            co.yield_(i * i).await;
        }
    })
}

/// One Scheduler round: 48 tasks, of six kinds (`i % 6`), then check how each ended.
fn scheduler_round(round: u64, stats: &Stats) {
    const TASKS: u64 = 48;
    let mut sched = Scheduler::new();
    let dropped = Arc::new(AtomicU64::new(0));
    // One mailbox for each pair of a waiting task (kind 1) and its sender (kind 2).
    let mailboxes: Vec<TQueue<u64>> = (0..TASKS / 6).map(|_| TQueue::new()).collect();
    let mut handles = Vec::new();
    for i in 0..TASKS {
        let guard = DropGuard(dropped.clone());
        let mailbox = mailboxes[(i / 6) as usize].clone();
        let n = 10 + (round + i) % 50;
        handles.push(sched.spawn(async move {
            let _guard = guard;
            match i % 6 {
                // Pull a generator, giving way between items.
                0 => {
                    let mut sum = 0;
                    for square in squares(n) {
                        sum += square;
                        yield_now().await;
                    }
                    sum
                }
                // Wait in a transaction for a message from a sibling task.
                1 => atomically_async(|tx| mailbox.pop(tx)).await,
                2 => {
                    sleep(Duration::from_millis(1)).await;
                    atomically_async(|tx| mailbox.push(tx, i - 1)).await;
                    0
                }
                // A sleeper that is aborted long before it wakes.
                3 => {
                    sleep(Duration::from_secs(3600)).await;
                    fail("an aborted Scheduler task woke up")
                }
                // An injected panic, after a yield.
                4 => {
                    yield_now().await;
                    panic!("{INJECTED}: scheduler task {i}")
                }
                // A task spawned from a task, joined.
                _ => coro::spawn(async move { squares(n).count() as u64 })
                    .await
                    .unwrap_or_else(|e| fail(format!("a child task failed: {e}"))),
            }
        }));
    }
    for h in handles.iter().skip(3).step_by(6) {
        h.abort();
    }
    let outcomes = sched
        .block_on(async move {
            let mut outcomes = Vec::new();
            for h in handles {
                outcomes.push(h.await);
            }
            outcomes
        })
        .unwrap_or_else(|d| fail(format!("Scheduler deadlock: {d}")));
    for (i, outcome) in (0..TASKS).zip(outcomes) {
        let n = 10 + (round + i) % 50;
        let ok = match (i % 6, &outcome) {
            (0, Ok(sum)) => *sum == (0..n).map(|k| k * k).sum::<u64>(),
            (1, Ok(message)) => *message == i,
            (2, Ok(0)) => true,
            (3, Err(e)) => e.is_cancelled(),
            (4, Err(e)) => e.panic_message().is_some_and(|m| m.contains(INJECTED)),
            (5, Ok(count)) => *count == n,
            _ => false,
        };
        if !ok {
            fail(format!(
                "Scheduler task {i} (kind {}) ended as {outcome:?}",
                i % 6
            ));
        }
    }
    sched
        .run()
        .unwrap_or_else(|d| fail(format!("Scheduler: {d}")));
    drop(sched);
    if dropped.load(Relaxed) != TASKS {
        fail(format!(
            "Scheduler: {} of {TASKS} tasks dropped their state",
            dropped.load(Relaxed)
        ));
    }
    Stats::add(&stats.scheduler_tasks, TASKS + TASKS / 6);
    Stats::add(&stats.injected, TASKS / 6 * 2);
}

// ---------------------------------------------------------------------------------------
// 5. Failures and timers: no timer fires early; panics and aborts on the Pool are
// reported, and no task goes missing.

/// Checks that a wait that began at `started` for `wanted` did not end early.
fn timer_fired(stats: &Stats, started: Instant, wanted: Duration) {
    let waited = started.elapsed();
    if waited < wanted {
        fail(format!("a timer fired early: {waited:?} of {wanted:?}"));
    }
    let late = (waited - wanted).as_micros() as u64;
    stats.max_late_us.fetch_max(late, Relaxed);
    Stats::add(&stats.timers, 1);
}

/// A task of timers: a sleep, a timeout that elapses, one that does not, and a
/// transaction that waits in vain.
async fn timers(seed: u64, soak: Arc<Soak>) {
    let mut rng = Rng(seed);
    let stats = &soak.stats;
    let wanted = Duration::from_micros(rng.below(5_000));
    let started = Instant::now();
    sleep(wanted).await;
    timer_fired(stats, started, wanted);

    let started = Instant::now();
    if timeout(wanted, std::future::pending::<()>()).await.is_ok() {
        fail("a timeout around a future that never ends returned its output");
    }
    timer_fired(stats, started, wanted);

    if !matches!(timeout(Duration::from_secs(60), async { 7 }).await, Ok(7)) {
        fail("a timeout around a ready future elapsed");
    }

    let empty: TQueue<u8> = TQueue::new();
    let started = Instant::now();
    if atomically_async_timeout(wanted, |tx| empty.pop(tx))
        .await
        .is_some()
    {
        fail("a pop from an empty queue returned an item");
    }
    timer_fired(stats, started, wanted);
}

fn pool_failures(soak: &Arc<Soak>, round: u64) {
    let mut set = JoinSet::new();
    for i in 0..32u64 {
        set.push(soak.pool.spawn(async move {
            if i % 8 == 0 {
                panic!("{INJECTED}: pool task {i}");
            }
            yield_now().await;
            i
        }));
    }
    let sleeper = soak.pool.spawn(async {
        sleep(Duration::from_secs(3600)).await;
        fail("an aborted Pool task woke up")
    });
    sleeper.abort();
    let timer_tasks: Vec<_> = (0..4)
        .map(|t| soak.pool.spawn(timers(round * 4 + t, soak.clone())))
        .collect();
    let (mut returned, mut panicked) = (0u64, 0u64);
    while let Some(outcome) = set.join_next_blocking() {
        match outcome {
            Ok(_) => returned += 1,
            Err(e) if e.panic_message().is_some_and(|m| m.contains(INJECTED)) => panicked += 1,
            Err(e) => fail(format!("a Pool task failed unexpectedly: {e}")),
        }
    }
    if (returned, panicked) != (28, 4) {
        fail(format!(
            "JoinSet: {returned} returned and {panicked} panicked, of 28 and 4"
        ));
    }
    match sleeper.join() {
        Err(e) if e.is_cancelled() => {}
        other => fail(format!("an aborted Pool task ended as {other:?}")),
    }
    for t in timer_tasks {
        t.join()
            .unwrap_or_else(|e| fail(format!("a timer task failed: {e}")));
    }
    Stats::add(&soak.stats.pool_tasks, 32 + 1 + 4);
    Stats::add(&soak.stats.injected, 4 + 1);
}

// ---------------------------------------------------------------------------------------
// The run: start the stations, watch memory and progress, stop, report.

/// Resident set size in KiB, from `/proc/self/statm` (pages of 4 KiB).
fn rss_kib() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm")
        .unwrap_or_else(|e| fail(format!("reading /proc/self/statm: {e}")));
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| fail(format!("/proc/self/statm: {statm:?}")));
    pages * 4
}

/// The stations, as `--only` names them.
const STATIONS: [&str; 5] = ["bank", "map", "pipelines", "scheduler", "failures"];

/// The command line: `--seconds N` (default 10), `--only STATIONS` (a comma-separated
/// list of bank, map, pipelines, scheduler, failures; default all), `--verbose` (RSS
/// every second).
struct Args {
    seconds: u64,
    only: Vec<String>,
    verbose: bool,
}

impl Args {
    fn parse() -> Args {
        let usage =
            "usage: soak [--seconds N] [--only bank,map,pipelines,scheduler,failures] [--verbose]";
        let mut args = Args {
            seconds: 10,
            only: Vec::new(),
            verbose: false,
        };
        let mut words = std::env::args().skip(1);
        while let Some(word) = words.next() {
            match word.as_str() {
                "--seconds" => {
                    let n = words.next().unwrap_or_else(|| fail(usage));
                    args.seconds = n
                        .parse()
                        .unwrap_or_else(|_| fail(format!("--seconds wants a number, not {n:?}")));
                }
                "--only" => {
                    let list = words.next().unwrap_or_else(|| fail(usage));
                    args.only = list.split(',').map(str::to_string).collect();
                    if let Some(bad) = args.only.iter().find(|s| !STATIONS.contains(&s.as_str())) {
                        fail(format!("no station {bad:?}; {usage}"));
                    }
                }
                "--verbose" => args.verbose = true,
                _ => fail(usage),
            }
        }
        args
    }

    fn runs(&self, station: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|s| s == station)
    }
}

fn main() {
    let args = Args::parse();
    let seconds = args.seconds;
    let default_hook = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        let injected = |s: &str| s.contains(INJECTED);
        let payload = info.payload();
        let quiet = payload.downcast_ref::<&str>().is_some_and(|s| injected(s))
            || payload
                .downcast_ref::<String>()
                .is_some_and(|s| injected(s));
        if !quiet {
            default_hook(info);
        }
    }));

    let soak = Arc::new(Soak {
        pool: Pool::default(),
        stats: Stats::default(),
        stop: AtomicBool::new(false),
    });
    println!(
        "soak: {seconds} s, a Pool of {} workers, stations: {}",
        soak.pool.workers(),
        if args.only.is_empty() {
            "all".to_string()
        } else {
            args.only.join(", ")
        }
    );
    let mut threads = Vec::new();
    if args.runs("bank") {
        threads.extend(bank(&soak));
    }
    if args.runs("map") {
        threads.extend(map_churn(&soak));
    }
    let station = |run: fn(&Arc<Soak>, u64)| {
        let soak = soak.clone();
        thread::spawn(move || {
            let mut round = 0;
            while soak.running() {
                run(&soak, round);
                round += 1;
            }
        })
    };
    if args.runs("pipelines") {
        threads.push(pipelines(&soak));
    }
    if args.runs("scheduler") {
        threads.push(station(|soak, round| scheduler_round(round, &soak.stats)));
    }
    if args.runs("failures") {
        threads.push(station(pool_failures));
    }

    let started = Instant::now();
    let warm_up = (seconds / 3).max(3).min(seconds);
    let two_thirds = (seconds * 2 / 3).max(warm_up);
    let (mut baseline, mut at_two_thirds, mut peak) = (None, None, 0);
    let mut last_progress = soak.stats.progress();
    let mut stalled = [0u32; 5];
    for second in 1..=seconds {
        thread::sleep(Duration::from_secs(second).saturating_sub(started.elapsed()));
        let rss = rss_kib();
        if second == warm_up {
            baseline = Some(rss);
        }
        if second == two_thirds {
            at_two_thirds = Some(rss);
        }
        peak = peak.max(rss);
        let progress = soak.stats.progress();
        for (i, ((name, now), (_, before))) in progress.iter().zip(last_progress).enumerate() {
            stalled[i] = if *now > 0 && *now == before {
                stalled[i] + 1
            } else {
                0
            };
            if stalled[i] >= 10 {
                fail(format!(
                    "no progress in {name} for 10 s: a lost wake-up, a lost task or a hang"
                ));
            }
        }
        last_progress = progress;
        if second % 10 == 0 || args.verbose {
            println!(
                "soak: {second:>4} s: {} transactions, RSS {rss} KiB, live heap {} KiB",
                soak.stats.transactions.load(Relaxed),
                LIVE_BYTES.load(Relaxed) / 1024
            );
        }
    }
    let end_rss = rss_kib();
    soak.stop.store(true, Relaxed);
    let stopping = Instant::now();
    for t in threads {
        while !t.is_finished() {
            if stopping.elapsed() > Duration::from_secs(30) {
                fail("a station did not stop within 30 s of the end: a lost wake-up or a hang");
            }
            thread::sleep(Duration::from_millis(10));
        }
        if t.join().is_err() {
            fail("a station's thread panicked");
        }
    }

    let st = &soak.stats;
    let n = |c: &AtomicU64| c.load(Relaxed);
    let baseline = baseline.unwrap_or(end_rss);
    let growth = (end_rss as f64 / baseline as f64 - 1.0) * 100.0;
    println!(
        "soak: {seconds} s: {} transactions; {} Pool tasks and {} Scheduler tasks; \
         {} items through {} closed pipelines; {} timers, none early (latest {:.1} ms late); \
         {} injected aborts and panics",
        n(&st.transactions),
        n(&st.pool_tasks),
        n(&st.scheduler_tasks),
        n(&st.items),
        n(&st.pipelines),
        n(&st.timers),
        n(&st.max_late_us) as f64 / 1000.0,
        n(&st.injected),
    );
    let at_two_thirds = at_two_thirds.unwrap_or(end_rss);
    println!(
        "soak: RSS {baseline} KiB after {warm_up} s of warm-up, {at_two_thirds} KiB at \
         {two_thirds} s, {end_rss} KiB at the end ({growth:+.1}%), peak {peak} KiB; \
         live heap {} KiB at the end, peak {} KiB",
        LIVE_BYTES.load(Relaxed) / 1024,
        PEAK_LIVE_BYTES.load(Relaxed) / 1024
    );
    if end_rss as f64 > baseline as f64 * 1.10 {
        fail(format!(
            "RSS grew {growth:.1}% after warm-up ({baseline} -> {end_rss} KiB), more than 10%"
        ));
    }
    println!("soak: every invariant held");
}
