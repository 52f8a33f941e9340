#![cfg(not(loom))]
//! A serializability and opacity checker run over a randomized workload, as a database's
//! history is checked from outside (Jepsen's Elle; Adya's dependency graphs).
//!
//! Threads (blocking `atomically`) and Pool tasks (`atomically_async`) run random
//! transactions over `TVar`s, a `TMap`, two `TQueue`s, `or_else` and `retry`, recording
//! every attempt: each version it read and each object it wrote (see
//! `tests/common/history.rs` for how values name their writers). The checker then proves
//! the committed history serializable and every attempt, aborted ones included, opaque.
//!
//! Built with `--cfg braid_fault="skip_read_validation"` the commit skips read validation,
//! and the main test flips: it passes only if the checker catches the broken commit.
//! `.ci/run` builds it so through `.ci/rustc-fault`, which adds the cfg to braid's own
//! crates only (the dependencies stay as built), and sets `BRAID_FAULT` for the run, so a
//! build the switch did not reach fails instead of passing.
//!
//! `BRAID_CHECK_SECONDS` (default 5; CI asks for 25) bounds how long the workload runs;
//! `BRAID_CHECK_SEED` replays a seed the test printed.

#[path = "common/history.rs"]
mod history;

use std::cell::RefCell;
use std::sync::Arc;
use std::time::{Duration, Instant};

use braid::exec::Pool;
use braid::stm::{
    atomically_async_timeout, atomically_timeout, check, or_else, StmResult, TMap, TQueue, TVar,
    Transaction,
};
use history::{Attempt, Fact, Obj, Recorder, Tag, INITIAL};

/// Whether this build's commit skips read validation: then the checker must fail.
const FAULT: bool = cfg!(braid_fault = "skip_read_validation");

const VARS: usize = 6;
const KEYS: usize = 6;
const QUEUES: usize = 2;
/// Workers of each kind per round: producers and consumers, as threads and as tasks.
const WORKERS: usize = 2;
/// Transactions per worker per round.
const OPS: usize = 4000;
/// Items each producer pushes, and each consumer pops.
const ITEMS: usize = 400;
/// How long a pop may wait: longer means an item or a wake-up was lost.
const POP_PATIENCE: Duration = Duration::from_secs(10);

/// The shared objects of one round. Every `TVar` holds a tag (see `history`).
struct World {
    vars: Vec<TVar<u64>>,
    /// Each key's generation: written with the entry, read with it, so it names the
    /// transaction that last wrote the entry (the map itself cannot name a removal).
    map: TMap<u64, u64>,
    generations: Vec<TVar<u64>>,
    /// Items are their pushers' tags. Each queue's tail orders its pushes and its head
    /// its pops, so the checker can hold every pop to FIFO.
    queues: Vec<TQueue<u64>>,
    tails: Vec<TVar<u64>>,
    heads: Vec<TVar<u64>>,
}

/// Object ids: the variables, then the generations, the tails and the heads.
fn var_obj(i: usize) -> Obj {
    i as Obj
}
fn generation_obj(key: usize) -> Obj {
    (VARS + key) as Obj
}
fn tail_obj(q: usize) -> Obj {
    (VARS + KEYS + q) as Obj
}
fn head_obj(q: usize) -> Obj {
    (VARS + KEYS + QUEUES + q) as Obj
}

impl World {
    fn new() -> World {
        let vars = |n| (0..n).map(|_| TVar::new(INITIAL)).collect::<Vec<_>>();
        World {
            vars: vars(VARS),
            map: TMap::new(),
            generations: vars(KEYS),
            queues: (0..QUEUES).map(|_| TQueue::new()).collect(),
            tails: vars(QUEUES),
            heads: vars(QUEUES),
        }
    }
}

/// One transaction of the workload.
#[derive(Clone, Debug)]
enum Op {
    /// Read-modify-write of a few variables (a contended bank transfer, in effect).
    Update(Vec<usize>),
    /// Read a few variables.
    ReadMany(Vec<usize>),
    /// `or_else`: update `first` unless its version's tag is a multiple of 3 (then
    /// `retry`), else update `second`. The first branch's read stays in the transaction.
    Choose(usize, usize),
    /// Insert into, remove from, or look up a map entry.
    Insert(usize),
    Remove(usize),
    Get(usize),
    /// List the whole map with every generation.
    Scan,
    /// Push this transaction's tag onto a queue.
    Push(usize),
    /// Pop from the first queue, or else the second; `retry` (block) while both are empty.
    Pop,
}

/// The running attempt: its recorder and tag, shared by the `or_else` branches.
struct Step<'r> {
    rec: RefCell<&'r mut Recorder>,
    tag: Tag,
}

impl Step<'_> {
    fn read(&self, tx: &mut Transaction, var: &TVar<u64>, obj: Obj) -> StmResult<Tag> {
        let seen = var.read(tx)?;
        self.rec.borrow_mut().read(obj, seen);
        self.dawdle();
        Ok(seen)
    }

    /// One attempt in eight gives its thread away after each read, so that commits land
    /// in the middle of attempts: conflicts, snapshot extensions and re-runs for the
    /// opacity check to look at.
    fn dawdle(&self) {
        if self.tag % 8 == 0 {
            std::thread::yield_now();
        }
    }

    /// Overwrites `var` with this attempt's tag; returns the version replaced.
    fn update(&self, tx: &mut Transaction, var: &TVar<u64>, obj: Obj) -> StmResult<Tag> {
        let seen = var.replace(tx, self.tag)?;
        let mut rec = self.rec.borrow_mut();
        rec.read(obj, seen);
        rec.write(obj);
        drop(rec);
        self.dawdle();
        Ok(seen)
    }

    fn fact(&self, fact: Fact) {
        self.rec.borrow_mut().fact(fact);
    }
}

/// One attempt of `op`: the body `atomically` runs.
fn attempt(world: &World, op: &Op, rec: &mut Recorder, tx: &mut Transaction) -> StmResult<()> {
    let tag = rec.begin();
    let s = Step {
        rec: RefCell::new(rec),
        tag,
    };
    let w = world;
    match *op {
        Op::Update(ref vars) => {
            for &v in vars {
                s.update(tx, &w.vars[v], var_obj(v))?;
            }
        }
        Op::ReadMany(ref vars) => {
            for &v in vars {
                s.read(tx, &w.vars[v], var_obj(v))?;
            }
        }
        Op::Choose(a, b) => or_else(
            tx,
            |tx| {
                let seen = s.read(tx, &w.vars[a], var_obj(a))?;
                check(seen % 3 != 0)?;
                s.update(tx, &w.vars[a], var_obj(a)).map(drop)
            },
            |tx| s.update(tx, &w.vars[b], var_obj(b)).map(drop),
        )?,
        Op::Insert(key) | Op::Remove(key) | Op::Get(key) => {
            let var = &w.generations[key];
            let gen = match op {
                Op::Get(_) => s.read(tx, var, generation_obj(key))?,
                _ => s.update(tx, var, generation_obj(key))?,
            };
            let k = key as u64;
            let seen = match op {
                Op::Insert(_) => w.map.insert(tx, k, tag)?,
                Op::Remove(_) => w.map.remove(tx, &k)?,
                _ => w.map.get(tx, &k)?,
            };
            let gen_obj = generation_obj(key);
            s.fact(Fact::MapEntry {
                key: k,
                gen_obj,
                gen,
                seen,
            });
            if !matches!(op, Op::Get(_)) {
                let inserted = matches!(op, Op::Insert(_));
                s.fact(Fact::MapWrite { key: k, inserted });
            }
        }
        Op::Scan => {
            let mut gens = Vec::with_capacity(KEYS);
            for key in 0..KEYS {
                gens.push(s.read(tx, &w.generations[key], generation_obj(key))?);
            }
            let entries = w.map.to_vec(tx)?;
            for (key, gen) in gens.into_iter().enumerate() {
                let k = key as u64;
                let seen = entries.iter().find(|(ek, _)| *ek == k).map(|&(_, v)| v);
                let gen_obj = generation_obj(key);
                s.fact(Fact::MapEntry {
                    key: k,
                    gen_obj,
                    gen,
                    seen,
                });
            }
        }
        Op::Push(q) => {
            s.update(tx, &w.tails[q], tail_obj(q))?;
            w.queues[q].push(tx, tag)?;
        }
        Op::Pop => {
            let pop = |tx: &mut Transaction, q: usize| -> StmResult<()> {
                // The pop first: when the queue is empty it retries before anything of
                // this branch is recorded.
                let item = w.queues[q].pop(tx)?;
                let head = s.update(tx, &w.heads[q], head_obj(q))?;
                s.fact(Fact::Pop {
                    head_obj: head_obj(q),
                    tail_obj: tail_obj(q),
                    head,
                    item,
                });
                Ok(())
            };
            or_else(tx, |tx| pop(tx, 0), |tx| pop(tx, 1))?;
        }
    }
    Ok(())
}

/// SplitMix64: a small, seedable generator (the test needs no crate for it).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// `n` distinct indices below `of`.
    fn distinct(&mut self, n: usize, of: usize) -> Vec<usize> {
        let mut picked = Vec::with_capacity(n);
        while picked.len() < n {
            let i = self.below(of);
            if !picked.contains(&i) {
                picked.push(i);
            }
        }
        picked
    }
}

/// A worker's transactions: `OPS` random ones with `ITEMS` pushes (a producer) or pops
/// (a consumer) spread among them.
fn plan(rng: &mut Rng, producer: bool) -> Vec<Op> {
    let mut ops: Vec<Op> = (0..OPS - ITEMS)
        .map(|_| match rng.below(100) {
            0..=34 => {
                let n = 2 + rng.below(2);
                Op::Update(rng.distinct(n, VARS))
            }
            35..=49 => {
                let n = 2 + rng.below(4);
                Op::ReadMany(rng.distinct(n, VARS))
            }
            50..=61 => {
                let v = rng.distinct(2, VARS);
                Op::Choose(v[0], v[1])
            }
            62..=73 => Op::Insert(rng.below(KEYS)),
            74..=83 => Op::Remove(rng.below(KEYS)),
            84..=95 => Op::Get(rng.below(KEYS)),
            _ => Op::Scan,
        })
        .collect();
    for _ in 0..ITEMS {
        let at = rng.below(ops.len() + 1);
        let op = if producer {
            Op::Push(rng.below(QUEUES))
        } else {
            Op::Pop
        };
        ops.insert(at, op);
    }
    ops
}

/// What a worker hands back: its attempts, and whether a pop gave up waiting.
type WorkerResult = (Vec<Attempt>, bool);

fn run_blocking(world: &World, plan: &[Op]) -> WorkerResult {
    let mut rec = Recorder::default();
    for op in plan {
        let done = atomically_timeout(POP_PATIENCE, |tx| attempt(world, op, &mut rec, tx));
        if done.is_none() {
            return (rec.into_attempts(), true);
        }
        rec.committed();
    }
    (rec.into_attempts(), false)
}

async fn run_async(world: Arc<World>, plan: Vec<Op>) -> WorkerResult {
    let mut rec = Recorder::default();
    for op in &plan {
        let done = atomically_async_timeout(POP_PATIENCE, |tx| attempt(&world, op, &mut rec, tx));
        if done.await.is_none() {
            return (rec.into_attempts(), true);
        }
        rec.committed();
    }
    (rec.into_attempts(), false)
}

/// One round: fresh objects, `WORKERS` producer and consumer threads and as many of each
/// as Pool tasks, all run to the end. Returns every attempt, or why a worker failed.
fn run_round(pool: &Pool, seed: u64) -> Result<Vec<Attempt>, String> {
    let world = Arc::new(World::new());
    let mut rng = Rng(seed);
    let mut threads = Vec::new();
    let mut tasks = Vec::new();
    for producer in [true, false] {
        for _ in 0..WORKERS {
            let (w, p) = (world.clone(), plan(&mut rng, producer));
            threads.push(std::thread::spawn(move || run_blocking(&w, &p)));
            let (w, p) = (world.clone(), plan(&mut rng, producer));
            tasks.push(pool.spawn(run_async(w, p)));
        }
    }
    let mut attempts = Vec::new();
    let mut gave_up = 0;
    let results = threads
        .into_iter()
        .map(|t| t.join().map_err(|_| "a worker thread panicked".to_string()))
        .chain(
            tasks
                .into_iter()
                .map(|t| t.join().map_err(|e| e.to_string())),
        );
    for result in results {
        let (mut a, timed_out) = result?;
        attempts.append(&mut a);
        gave_up += usize::from(timed_out);
    }
    if gave_up > 0 {
        // Every item pushed is popped by some consumer's quota, so a pop that waits this
        // long lost an item or a wake-up; the history may say which.
        let why = history::check(&attempts).err().unwrap_or_default();
        return Err(format!(
            "{gave_up} consumers waited {POP_PATIENCE:?} for an item: lost \
             an item or a wake-up\n{why}"
        ));
    }
    Ok(attempts)
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|v| {
        v.parse()
            .unwrap_or_else(|_| panic!("{name} must be a number, not {v:?}"))
    })
}

#[test]
fn committed_transactions_are_serializable_and_every_attempt_saw_a_consistent_snapshot() {
    let seconds = env_u64("BRAID_CHECK_SECONDS").unwrap_or(5);
    let seed = env_u64("BRAID_CHECK_SEED").unwrap_or_else(|| {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        now.expect("a clock after 1970").as_nanos() as u64
    });
    // The CI step sets BRAID_FAULT for the build (.ci/rustc-fault) and the run: a build
    // the switch did not reach must not pass as one that caught it.
    if let Ok(fault) = std::env::var("BRAID_FAULT") {
        assert!(
            FAULT && fault == "skip_read_validation",
            "BRAID_FAULT={fault:?}, but this build's fault switch is {}",
            if FAULT { "skip_read_validation" } else { "off" }
        );
    }
    println!("serializability: seed {seed} (BRAID_CHECK_SEED={seed} replays it), {seconds} s");
    let pool = Pool::new(2);
    let started = Instant::now();
    let (mut rounds, mut committed, mut attempts, mut edges) = (0u64, 0, 0, 0);
    while rounds == 0 || started.elapsed() < Duration::from_secs(seconds) {
        let round_seed = seed.wrapping_add(rounds);
        let verdict = run_round(&pool, round_seed).and_then(|history| history::check(&history));
        match verdict {
            Ok(c) => {
                committed += c.committed;
                attempts += c.attempts;
                edges += c.edges;
            }
            Err(violation) if FAULT => {
                println!(
                    "serializability: the fault build (commits skip read validation) \
                     was caught in round {rounds}, after {committed} correct \
                     transactions:\n{violation}"
                );
                return;
            }
            Err(violation) => panic!(
                "round {rounds} (BRAID_CHECK_SEED={seed}, round seed {round_seed}): {violation}"
            ),
        }
        rounds += 1;
    }
    let aborted = attempts - committed;
    println!(
        "serializability: checked {committed} committed transactions and {aborted} aborted \
         attempts ({edges} dependency edges) in {rounds} rounds, {:.1} s: serializable and opaque",
        started.elapsed().as_secs_f64()
    );
    if FAULT {
        panic!(
            "built with braid_fault=\"skip_read_validation\", the commit skips read \
             validation, yet the checker passed {committed} transactions: it cannot see a \
             broken commit"
        );
    }
    // Without conflicts and retries the opacity check would have had nothing to check.
    assert!(
        aborted > 0,
        "no attempt was re-run: the workload did not contend"
    );
}

// The checker itself, on small histories with one known anomaly each: it must name it.

fn committed(tag: Tag, reads: &[(Obj, Tag)], writes: &[Obj]) -> Attempt {
    Attempt {
        tag,
        reads: reads.to_vec(),
        writes: writes.to_vec(),
        committed: true,
        ticket: tag,
        ..Attempt::default()
    }
}

fn verdict(history: &[Attempt]) -> String {
    match history::check(history) {
        Ok(_) => "ok".to_string(),
        Err(e) => e,
    }
}

#[test]
fn checker_passes_a_serial_history() {
    let h = [
        committed(1, &[(0, INITIAL)], &[0]),
        committed(2, &[(0, 1), (1, INITIAL)], &[1]),
        committed(3, &[(0, 1), (1, 2)], &[]),
    ];
    assert_eq!(verdict(&h), "ok");
}

#[test]
fn checker_reports_a_lost_update() {
    let h = [
        committed(1, &[(0, INITIAL)], &[0]),
        committed(2, &[(0, INITIAL)], &[0]),
    ];
    assert!(verdict(&h).contains("overwritten twice"), "{}", verdict(&h));
}

#[test]
fn checker_reports_write_skew_as_a_cycle() {
    // Each read both objects at their initial versions and wrote a different one.
    let h = [
        committed(1, &[(0, INITIAL), (1, INITIAL)], &[0]),
        committed(2, &[(0, INITIAL), (1, INITIAL)], &[1]),
    ];
    let v = verdict(&h);
    assert!(
        v.contains("cycle of 2 transactions") && v.contains("Rw"),
        "{v}"
    );
}

#[test]
fn checker_reports_a_read_of_an_aborted_write() {
    let mut aborted = committed(1, &[(0, INITIAL)], &[0]);
    aborted.committed = false;
    let h = [aborted, committed(2, &[(0, 1)], &[])];
    assert!(verdict(&h).contains("never committed"), "{}", verdict(&h));
}

#[test]
fn checker_reports_an_aborted_attempt_that_saw_an_inconsistent_snapshot() {
    // 2 updates both objects after 1; the attempt saw object 0 before 2 and 1 after it.
    let mut torn = committed(3, &[(0, 1), (1, 2)], &[]);
    torn.committed = false;
    let h = [
        committed(1, &[(0, INITIAL), (1, INITIAL)], &[0, 1]),
        committed(2, &[(0, 1), (1, 1)], &[0, 1]),
        torn,
    ];
    assert!(verdict(&h).contains("opacity"), "{}", verdict(&h));
}

#[test]
fn checker_reports_a_pop_out_of_fifo_order() {
    let (tail, head) = (0, 1);
    let pop = |tag, seen_head, item| {
        let mut a = committed(tag, &[(head, seen_head)], &[head]);
        a.facts.push(Fact::Pop {
            head_obj: head,
            tail_obj: tail,
            head: seen_head,
            item,
        });
        a
    };
    let h = [
        committed(1, &[(tail, INITIAL)], &[tail]),
        committed(2, &[(tail, 1)], &[tail]),
        pop(3, INITIAL, 2),
        pop(4, 3, 1),
    ];
    assert!(verdict(&h).contains("FIFO"), "{}", verdict(&h));
}

#[test]
fn checker_reports_a_map_entry_its_generation_contradicts() {
    let entry = |seen| Fact::MapEntry {
        key: 7,
        gen_obj: 0,
        gen: 1,
        seen,
    };
    let mut insert = committed(1, &[(0, INITIAL)], &[0]);
    insert.facts.push(Fact::MapWrite {
        key: 7,
        inserted: true,
    });
    let mut get = committed(2, &[(0, 1)], &[]);
    get.facts.push(entry(None));
    let v = verdict(&[insert.clone(), get]);
    assert!(v.contains("the generation it read"), "{v}");
    let mut get = committed(2, &[(0, 1)], &[]);
    get.facts.push(entry(Some(1)));
    assert_eq!(verdict(&[insert, get]), "ok");
}
