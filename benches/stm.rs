//! braid's STM beside rust-stm (`stm` 0.4) and `parking_lot::Mutex`, in the same groups.
//!
//! Multi-threaded benches report the time for *every* thread to run one operation, so a
//! flat line across thread counts is perfect scaling and a line rising with the count is
//! contention. Results and ratios live in `BENCHMARKS.md`.
//!
//! braid keeps a primitive scalar in the variable's own word and any other value in a heap
//! node, so the increment and the bank also run on `InNode`, the same number in a type of
//! its own (`braid-node`): what a struct or a `String` costs.

use std::hint::black_box;
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode};

const ACCOUNTS: usize = 64;

/// A number that braid keeps in a heap node: not a primitive scalar.
#[derive(Clone, Copy)]
struct InNode(i64);
const THREADS: [usize; 3] = [1, 2, 4];

/// Runs `op(thread_index, i)` for `i` in `0..iters` on each of `threads` threads, started
/// together, and returns the wall time of the slowest.
fn on_threads(threads: usize, iters: u64, op: impl Fn(usize, u64) + Sync) -> Duration {
    let start_line = Barrier::new(threads + 1);
    thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let (op, start_line) = (&op, &start_line);
                s.spawn(move || {
                    start_line.wait();
                    for i in 0..iters {
                        op(t, i);
                    }
                })
            })
            .collect();
        start_line.wait();
        let start = Instant::now();
        for w in workers {
            w.join().unwrap();
        }
        start.elapsed()
    })
}

/// Two distinct account indices from a counter, spread without a shared RNG.
fn accounts(t: usize, i: u64) -> (usize, usize) {
    let mut x = (i ^ ((t as u64) << 32)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 29;
    let from = (x % ACCOUNTS as u64) as usize;
    let to = (from + 1 + ((x >> 8) % (ACCOUNTS as u64 - 1)) as usize) % ACCOUNTS;
    (from, to)
}

fn increment(c: &mut Criterion) {
    let mut group = c.benchmark_group("increment");
    // Many short samples of equal size (about 5 ms each): the 2-core VM these were
    // measured on has slow spells (a hand-written TL2 loop slows from 6.6 to 9.5 ns in
    // them too), and a median over long samples averages the short ones in; over short
    // samples it is robust to them.
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(200)
        .measurement_time(Duration::from_secs(1));
    let braid_var = braid::stm::TVar::new(0u64);
    group.bench_function("braid", |b| {
        b.iter(|| braid::stm::atomically(|tx| braid_var.modify(tx, |v| v + 1)))
    });
    let node_var = braid::stm::TVar::new(InNode(0));
    group.bench_function("braid-node", |b| {
        b.iter(|| braid::stm::atomically(|tx| node_var.modify(tx, |v| InNode(v.0 + 1))))
    });
    let stm_var = stm::TVar::new(0u64);
    group.bench_function("rust-stm", |b| {
        b.iter(|| {
            stm::atomically(|tx| {
                let v = stm_var.read(tx)?;
                stm_var.write(tx, v + 1)
            })
        })
    });
    let mutex = parking_lot::Mutex::new(0u64);
    group.bench_function("parking_lot-mutex", |b| b.iter(|| *mutex.lock() += 1));
    group.finish();
}

fn read_only_4(c: &mut Criterion) {
    let mut group = c.benchmark_group("read_only_4");
    let braid_vars: Vec<_> = (0..4u64).map(braid::stm::TVar::new).collect();
    let stm_vars: Vec<_> = (0..4u64).map(stm::TVar::new).collect();
    let mutexes: Vec<_> = (0..4u64).map(parking_lot::Mutex::new).collect();
    for threads in THREADS {
        group.bench_with_input(BenchmarkId::new("braid", threads), &threads, |b, &n| {
            b.iter_custom(|iters| {
                on_threads(n, iters, |_, _| {
                    let sum = braid::stm::atomically(|tx| {
                        let mut sum = 0;
                        for v in &braid_vars {
                            sum += v.read(tx)?;
                        }
                        Ok(sum)
                    });
                    black_box(sum);
                })
            })
        });
        group.bench_with_input(BenchmarkId::new("rust-stm", threads), &threads, |b, &n| {
            b.iter_custom(|iters| {
                on_threads(n, iters, |_, _| {
                    let sum = stm::atomically(|tx| {
                        let mut sum = 0;
                        for v in &stm_vars {
                            sum += v.read(tx)?;
                        }
                        Ok(sum)
                    });
                    black_box(sum);
                })
            })
        });
        group.bench_with_input(
            BenchmarkId::new("parking_lot-mutex", threads),
            &threads,
            |b, &n| {
                b.iter_custom(|iters| {
                    on_threads(n, iters, |_, _| {
                        // Lock all four, as a consistent snapshot needs.
                        let guards: Vec<_> = mutexes.iter().map(|m| m.lock()).collect();
                        black_box(guards.iter().map(|g| **g).sum::<u64>());
                    })
                })
            },
        );
    }
    group.finish();
}

fn transfer(c: &mut Criterion) {
    let mut group = c.benchmark_group("transfer");
    let (a, b_) = (braid::stm::TVar::new(1_000i64), braid::stm::TVar::new(0i64));
    group.bench_function("braid", |b| {
        b.iter(|| {
            braid::stm::atomically(|tx| {
                a.modify(tx, |v| v - 1)?;
                b_.modify(tx, |v| v + 1)
            })
        })
    });
    let (sa, sb) = (stm::TVar::new(1_000i64), stm::TVar::new(0i64));
    group.bench_function("rust-stm", |b| {
        b.iter(|| {
            stm::atomically(|tx| {
                let from = sa.read(tx)?;
                sa.write(tx, from - 1)?;
                let to = sb.read(tx)?;
                sb.write(tx, to + 1)
            })
        })
    });
    let (ma, mb) = (
        parking_lot::Mutex::new(1_000i64),
        parking_lot::Mutex::new(0i64),
    );
    group.bench_function("parking_lot-mutex", |b| {
        b.iter(|| {
            let (mut from, mut to) = (ma.lock(), mb.lock());
            *from -= 1;
            *to += 1;
        })
    });
    group.finish();
}

fn bank(c: &mut Criterion) {
    let mut group = c.benchmark_group("bank_64");
    let braid_accounts: Vec<_> = (0..ACCOUNTS)
        .map(|_| braid::stm::TVar::new(1_000i64))
        .collect();
    let node_accounts: Vec<_> = (0..ACCOUNTS)
        .map(|_| braid::stm::TVar::new(InNode(1_000)))
        .collect();
    let stm_accounts: Vec<_> = (0..ACCOUNTS).map(|_| stm::TVar::new(1_000i64)).collect();
    let mutex_accounts: Vec<_> = (0..ACCOUNTS)
        .map(|_| parking_lot::Mutex::new(1_000i64))
        .collect();
    for threads in THREADS {
        group.bench_with_input(BenchmarkId::new("braid", threads), &threads, |b, &n| {
            b.iter_custom(|iters| {
                on_threads(n, iters, |t, i| {
                    let (from, to) = accounts(t, i);
                    braid::stm::atomically(|tx| {
                        braid_accounts[from].modify(tx, |v| v - 1)?;
                        braid_accounts[to].modify(tx, |v| v + 1)
                    })
                })
            })
        });
        group.bench_with_input(
            BenchmarkId::new("braid-node", threads),
            &threads,
            |b, &n| {
                b.iter_custom(|iters| {
                    on_threads(n, iters, |t, i| {
                        let (from, to) = accounts(t, i);
                        braid::stm::atomically(|tx| {
                            node_accounts[from].modify(tx, |v| InNode(v.0 - 1))?;
                            node_accounts[to].modify(tx, |v| InNode(v.0 + 1))
                        })
                    })
                })
            },
        );
        group.bench_with_input(BenchmarkId::new("rust-stm", threads), &threads, |b, &n| {
            b.iter_custom(|iters| {
                on_threads(n, iters, |t, i| {
                    let (from, to) = accounts(t, i);
                    let (from, to) = (&stm_accounts[from], &stm_accounts[to]);
                    stm::atomically(|tx| {
                        let f = from.read(tx)?;
                        from.write(tx, f - 1)?;
                        let t = to.read(tx)?;
                        to.write(tx, t + 1)
                    })
                })
            })
        });
        group.bench_with_input(
            BenchmarkId::new("parking_lot-mutex", threads),
            &threads,
            |b, &n| {
                b.iter_custom(|iters| {
                    on_threads(n, iters, |t, i| {
                        let (from, to) = accounts(t, i);
                        // Lock in index order, so two transfers cannot deadlock.
                        let (lo, hi) = (from.min(to), from.max(to));
                        let mut first = mutex_accounts[lo].lock();
                        let mut second = mutex_accounts[hi].lock();
                        let (f, t) = if from == lo {
                            (&mut *first, &mut *second)
                        } else {
                            (&mut *second, &mut *first)
                        };
                        *f -= 1;
                        *t += 1;
                    })
                })
            },
        );
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = increment, read_only_4, transfer, bank
}
criterion_main!(benches);
