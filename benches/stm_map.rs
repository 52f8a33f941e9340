//! `TMap` beside the maps a Rust user would otherwise pick, in the same groups:
//! `dashmap::DashMap` (the usual concurrent map), `parking_lot::Mutex<HashMap>`, and
//! rust-stm's `TVar<Arc<HashMap>>` (one variable for the whole map: what an STM without a
//! map offers). All hash with std's `RandomState`. Results and ratios live in
//! `BENCHMARKS.md`.
//!
//! `braid-predicated*` is the design alternative of issue 29 item 5, a measuring prototype
//! in `predicated/mod.rs`: transactional predication, a sharded hash index outside the STM
//! with one `TVar` per key. `-word` keeps "absent" as a sentinel in a word-valued `TVar`
//! where plain `braid-predicated` uses `TVar<Option<V>>` (a heap node per value);
//! `-load` reads outside any transaction; `-clone` clones the variable's handle out of
//! the index instead of using it under the shard's lock.
//!
//! - `map_read_mostly_100k`: one thread, 100k keys, 90% lookups and 10% value updates of
//!   random keys; one operation per iteration. braid looks up in a transaction
//!   (`braid`) or outside one with `TMap::load` (`braid-load`).
//! - `map_disjoint_updates`: threads updating values of keys of their own (10k keys); one
//!   iteration is two updates in all, so one thread doing both is the baseline for two.
//!   Thread t owns the keys k with k % 2 == t, whose entries the map allocated next to
//!   each other's (it was filled in key order), so the threads' entries share cache lines.
//! - `map_disjoint_updates_blocks`: the same, with each thread owning a block of
//!   consecutive keys, whose entries sit apart.
//! - `map_transfers_2_threads`: two threads each moving a unit between two random keys of
//!   10k, atomically (the mutex is held across both updates; dashmap cannot do this).

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use braid::stm::{atomically, TMap};
use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, Bencher, BenchmarkGroup, BenchmarkId, Criterion};
use dashmap::DashMap;
use parking_lot::Mutex;

// `insert` and `remove` are there for the prototype's tests (`tests/stm_map_predicated.rs`).
#[allow(dead_code)]
mod predicated;
use predicated::{PredicatedMap, Word};

/// A small fast generator of keys, the same sequence for every map.
struct Keys(u64);

impl Keys {
    fn next(&mut self, below: u64) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32) % below
    }
}

const READ_MOSTLY_KEYS: u64 = 100_000;
const THREAD_KEYS: u64 = 10_000;

fn read_mostly(c: &mut Criterion) {
    let mut group = c.benchmark_group("map_read_mostly_100k");
    group.measurement_time(Duration::from_secs(3));
    let n = READ_MOSTLY_KEYS;
    let braid: TMap<u64, u64> = (0..n).map(|k| (k, k)).collect();
    let update = |key| {
        atomically(|tx| braid.modify(tx, &key, |v| v + 1));
    };
    group.bench_function("braid", |b| {
        read_mostly_loop(b, update, |key| atomically(|tx| braid.get(tx, &key)))
    });
    group.bench_function("braid-load", |b| {
        read_mostly_loop(b, update, |key| braid.load(&key))
    });
    let optional: PredicatedMap<u64, u64> = (0..n).map(|k| (k, k)).collect();
    let word: PredicatedMap<u64, u64, Word> = (0..n).map(|k| (k, k)).collect();
    let update = |key| {
        atomically(|tx| optional.modify(tx, &key, |v| v + 1));
    };
    group.bench_function("braid-predicated", |b| {
        read_mostly_loop(b, update, |key| atomically(|tx| optional.get(tx, &key)))
    });
    group.bench_function("braid-predicated-load", |b| {
        read_mostly_loop(b, update, |key| optional.load(&key))
    });
    let update = |key| {
        atomically(|tx| word.modify(tx, &key, |v| v + 1));
    };
    group.bench_function("braid-predicated-word", |b| {
        read_mostly_loop(b, update, |key| atomically(|tx| word.get(tx, &key)))
    });
    group.bench_function("braid-predicated-word-load", |b| {
        read_mostly_loop(b, update, |key| word.load(&key))
    });
    group.bench_function("braid-predicated-word-clone", |b| {
        read_mostly_loop(b, update, |key| atomically(|tx| word.get_cloned(tx, &key)))
    });
    let dash: DashMap<u64, u64> = (0..n).map(|k| (k, k)).collect();
    group.bench_function("dashmap", |b| {
        read_mostly_loop(
            b,
            |key| *dash.get_mut(&key).unwrap() += 1,
            |key| dash.get(&key).map(|v| *v),
        )
    });
    let mutex: Mutex<HashMap<u64, u64>> = Mutex::new((0..n).map(|k| (k, k)).collect());
    group.bench_function("mutex-hashmap", |b| {
        read_mostly_loop(
            b,
            |key| *mutex.lock().get_mut(&key).unwrap() += 1,
            |key| mutex.lock().get(&key).copied(),
        )
    });
    let whole = stm::TVar::new(Arc::new(
        (0..n).map(|k| (k, k)).collect::<HashMap<u64, u64>>(),
    ));
    group.sample_size(10);
    group.bench_function("rust-stm-tvar-hashmap", |b| {
        let (mut keys, mut i) = (Keys(7), 0u32);
        b.iter(|| {
            let key = keys.next(n);
            i = i.wrapping_add(1);
            if i % 10 == 0 {
                stm::atomically(|tx| {
                    let mut map = whole.read(tx)?;
                    *Arc::make_mut(&mut map).get_mut(&key).unwrap() += 1;
                    whole.write(tx, map)
                });
            } else {
                black_box(stm::atomically(|tx| Ok(whole.read(tx)?.get(&key).copied())));
            }
        })
    });
    group.finish();
}

/// The `map_read_mostly_100k` loop (every contender's but rust-stm's): each iteration
/// draws a key and passes it to `update` every tenth time, else to `read`.
fn read_mostly_loop<R>(b: &mut Bencher, update: impl Fn(u64), read: impl Fn(u64) -> R) {
    let (mut keys, mut i) = (Keys(7), 0u32);
    b.iter(|| {
        let key = keys.next(READ_MOSTLY_KEYS);
        i = i.wrapping_add(1);
        if i % 10 == 0 {
            update(key);
        } else {
            black_box(read(key));
        }
    })
}

/// Runs `each(thread, ops)` on `threads` threads started together, and times them all.
fn on_threads(threads: u64, ops: u64, each: impl Fn(u64, u64) + Sync) -> Duration {
    let start = Barrier::new(threads as usize + 1);
    thread::scope(|s| {
        for t in 0..threads {
            let (start, each) = (&start, &each);
            s.spawn(move || {
                start.wait();
                each(t, ops)
            });
        }
        start.wait();
        let began = Instant::now();
        // The scope joins every thread before it returns.
        began
    })
    .elapsed()
}

fn disjoint_updates(c: &mut Criterion) {
    let mut group = c.benchmark_group("map_disjoint_updates");
    let n = THREAD_KEYS;
    let braid: TMap<u64, u64> = (0..n).map(|k| (k, 0)).collect();
    on_1_and_2(&mut group, "braid", interleaved, |key| {
        atomically(|tx| braid.modify(tx, &key, |v| v + 1));
    });
    let optional: PredicatedMap<u64, u64> = (0..n).map(|k| (k, 0)).collect();
    on_1_and_2(&mut group, "braid-predicated", interleaved, |key| {
        atomically(|tx| optional.modify(tx, &key, |v| v + 1));
    });
    let word: PredicatedMap<u64, u64, Word> = (0..n).map(|k| (k, 0)).collect();
    on_1_and_2(&mut group, "braid-predicated-word", interleaved, |key| {
        atomically(|tx| word.modify(tx, &key, |v| v + 1));
    });
    let mutex: Mutex<HashMap<u64, u64>> = Mutex::new((0..n).map(|k| (k, 0)).collect());
    on_1_and_2(&mut group, "mutex-hashmap", interleaved, |key| {
        *mutex.lock().get_mut(&key).unwrap() += 1;
    });
    let dash: DashMap<u64, u64> = (0..n).map(|k| (k, 0)).collect();
    group.bench_function(BenchmarkId::new("dashmap", "2-threads"), |b| {
        b.iter_custom(|iters| {
            on_threads(2, iters, |t, ops| {
                let mut keys = Keys(t + 1);
                for _ in 0..ops {
                    *dash.get_mut(&(keys.next(n / 2) * 2 + t)).unwrap() += 1;
                }
            })
        })
    });
    group.finish();
}

fn disjoint_blocks(c: &mut Criterion) {
    let mut group = c.benchmark_group("map_disjoint_updates_blocks");
    let n = THREAD_KEYS;
    let braid: TMap<u64, u64> = (0..n).map(|k| (k, 0)).collect();
    on_1_and_2(&mut group, "braid", in_blocks, |key| {
        atomically(|tx| braid.modify(tx, &key, |v| v + 1));
    });
    let mutex: Mutex<HashMap<u64, u64>> = Mutex::new((0..n).map(|k| (k, 0)).collect());
    on_1_and_2(&mut group, "mutex-hashmap", in_blocks, |key| {
        *mutex.lock().get_mut(&key).unwrap() += 1;
    });
    group.finish();
}

/// Which keys thread t of `threads` owns: `key(t, threads, r)` for r below
/// `THREAD_KEYS / threads`.
type Owned = fn(u64, u64, u64) -> u64;

/// `map_disjoint_updates`'s keys: k with k % threads == t, interleaved.
fn interleaved(t: u64, threads: u64, r: u64) -> u64 {
    r * threads + t
}

/// `map_disjoint_updates_blocks`'s keys: the t-th block of consecutive keys.
fn in_blocks(t: u64, threads: u64, r: u64) -> u64 {
    t * (THREAD_KEYS / threads) + r
}

/// One of the disjoint-updates groups on 1 and 2 threads for a contender that updates
/// one key with `update`, each thread drawing its keys from those `owned` gives it.
fn on_1_and_2(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    owned: Owned,
    update: impl Fn(u64) + Sync,
) {
    let updates = |threads: u64| {
        let update = &update;
        move |t: u64, ops: u64| {
            let mut keys = Keys(t + 1);
            for _ in 0..ops {
                update(owned(t, threads, keys.next(THREAD_KEYS / threads)));
            }
        }
    };
    group.bench_function(BenchmarkId::new(name, "1-thread"), |b| {
        b.iter_custom(|iters| on_threads(1, 2 * iters, updates(1)))
    });
    group.bench_function(BenchmarkId::new(name, "2-threads"), |b| {
        b.iter_custom(|iters| on_threads(2, iters, updates(2)))
    });
}

fn transfers(c: &mut Criterion) {
    let mut group = c.benchmark_group("map_transfers_2_threads");
    let n = THREAD_KEYS;
    let braid: TMap<u64, i64> = (0..n).map(|k| (k, 100)).collect();
    group.bench_function("braid", |b| {
        b.iter_custom(|iters| {
            on_threads(2, iters, |t, ops| {
                let mut keys = Keys(t + 11);
                for _ in 0..ops {
                    let (from, to) = (keys.next(n), keys.next(n));
                    atomically(|tx| {
                        braid.modify(tx, &from, |v| v - 1)?;
                        braid.modify(tx, &to, |v| v + 1)
                    });
                }
            })
        })
    });
    let optional: PredicatedMap<u64, i64> = (0..n).map(|k| (k, 100)).collect();
    transfers_on_2(&mut group, "braid-predicated", |from, to| {
        atomically(|tx| {
            optional.modify(tx, &from, |v| v - 1)?;
            optional.modify(tx, &to, |v| v + 1)
        });
    });
    let word: PredicatedMap<u64, i64, Word> = (0..n).map(|k| (k, 100)).collect();
    transfers_on_2(&mut group, "braid-predicated-word", |from, to| {
        atomically(|tx| {
            word.modify(tx, &from, |v| v - 1)?;
            word.modify(tx, &to, |v| v + 1)
        });
    });
    let mutex: Mutex<HashMap<u64, i64>> = Mutex::new((0..n).map(|k| (k, 100)).collect());
    group.bench_function("mutex-hashmap", |b| {
        b.iter_custom(|iters| {
            on_threads(2, iters, |t, ops| {
                let mut keys = Keys(t + 11);
                for _ in 0..ops {
                    let (from, to) = (keys.next(n), keys.next(n));
                    let mut map = mutex.lock();
                    *map.get_mut(&from).unwrap() -= 1;
                    *map.get_mut(&to).unwrap() += 1;
                }
            })
        })
    });
    group.finish();
}

/// `map_transfers_2_threads` for a contender that moves a unit with `transfer(from, to)`.
fn transfers_on_2(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    transfer: impl Fn(u64, u64) + Sync,
) {
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            on_threads(2, iters, |t, ops| {
                let mut keys = Keys(t + 11);
                for _ in 0..ops {
                    transfer(keys.next(THREAD_KEYS), keys.next(THREAD_KEYS));
                }
            })
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500));
    targets = read_mostly, disjoint_updates, disjoint_blocks, transfers
}
criterion_main!(benches);
