//! The Pool beside tokio's multi-thread runtime on tokio's own `rt_multi_threaded`
//! workloads, and `exec::join` beside `rayon::join` on fib. Both executors get the same
//! number of workers (the machine's cores), and the tokio workloads use tokio's
//! executor-independent `sync` channels on both sides. Results live in `BENCHMARKS.md`.

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use tokio::sync::oneshot;

const NUM_SPAWN: usize = 10_000;
const NUM_YIELD: usize = 1_000;
const YIELD_TASKS: usize = 200;
const NUM_PINGS: usize = 1_000;
const CHAIN: usize = 1_000;

fn workers() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers())
        .build()
        .unwrap()
}

fn braid_pool() -> braid::exec::Pool {
    braid::exec::Pool::new(workers())
}

/// Spawns `NUM_SPAWN` empty tasks from inside a task; the last to run signals.
fn spawn_many_local(c: &mut Criterion) {
    let mut group = c.benchmark_group("spawn_many_local");
    let (tx, rx) = mpsc::sync_channel(1000);
    let rem = Arc::new(AtomicUsize::new(0));
    let pool = braid_pool();
    group.bench_function("braid", |b| {
        b.iter(|| {
            rem.store(NUM_SPAWN, Relaxed);
            pool.block_on(async {
                for _ in 0..NUM_SPAWN {
                    let (tx, rem) = (tx.clone(), rem.clone());
                    drop(braid::exec::spawn(async move {
                        if rem.fetch_sub(1, Relaxed) == 1 {
                            tx.send(()).unwrap();
                        }
                    }));
                }
                rx.recv().unwrap();
            })
        })
    });
    drop(pool);
    let rt = tokio_rt();
    group.bench_function("tokio", |b| {
        b.iter(|| {
            rem.store(NUM_SPAWN, Relaxed);
            rt.block_on(async {
                for _ in 0..NUM_SPAWN {
                    let (tx, rem) = (tx.clone(), rem.clone());
                    tokio::spawn(async move {
                        if rem.fetch_sub(1, Relaxed) == 1 {
                            tx.send(()).unwrap();
                        }
                    });
                }
                rx.recv().unwrap();
            })
        })
    });
    group.finish();
}

/// Spawns `NUM_SPAWN` empty tasks from outside the runtime, then awaits every handle.
fn spawn_many_remote_idle(c: &mut Criterion) {
    let mut group = c.benchmark_group("spawn_many_remote_idle");
    let pool = braid_pool();
    group.bench_function("braid", |b| {
        b.iter(|| {
            let handles: Vec<_> = (0..NUM_SPAWN).map(|_| pool.spawn(async {})).collect();
            pool.block_on(async {
                for handle in handles {
                    handle.await.unwrap();
                }
            })
        })
    });
    drop(pool);
    let rt = tokio_rt();
    group.bench_function("tokio", |b| {
        b.iter(|| {
            let handles: Vec<_> = (0..NUM_SPAWN).map(|_| rt.spawn(async {})).collect();
            rt.block_on(async {
                for handle in handles {
                    handle.await.unwrap();
                }
            })
        })
    });
    group.finish();
}

/// `YIELD_TASKS` tasks each yield `NUM_YIELD` times.
fn yield_many(c: &mut Criterion) {
    let mut group = c.benchmark_group("yield_many");
    let (tx, rx) = mpsc::sync_channel(YIELD_TASKS);
    let pool = braid_pool();
    group.bench_function("braid", |b| {
        b.iter(|| {
            for _ in 0..YIELD_TASKS {
                let tx = tx.clone();
                drop(pool.spawn(async move {
                    for _ in 0..NUM_YIELD {
                        braid::coro::yield_now().await;
                    }
                    tx.send(()).unwrap();
                }));
            }
            for _ in 0..YIELD_TASKS {
                rx.recv().unwrap();
            }
        })
    });
    drop(pool);
    let rt = tokio_rt();
    group.bench_function("tokio", |b| {
        b.iter(|| {
            for _ in 0..YIELD_TASKS {
                let tx = tx.clone();
                rt.spawn(async move {
                    for _ in 0..NUM_YIELD {
                        tokio::task::yield_now().await;
                    }
                    tx.send(()).unwrap();
                });
            }
            for _ in 0..YIELD_TASKS {
                rx.recv().unwrap();
            }
        })
    });
    group.finish();
}

/// `NUM_PINGS` tasks, each spawning a partner and exchanging a message with it both ways.
fn ping_pong(c: &mut Criterion) {
    let mut group = c.benchmark_group("ping_pong");
    let (done_tx, done_rx) = mpsc::sync_channel(1000);
    let rem = Arc::new(AtomicUsize::new(0));
    let pool = braid_pool();
    group.bench_function("braid", |b| {
        b.iter(|| {
            let (done_tx, rem) = (done_tx.clone(), rem.clone());
            rem.store(NUM_PINGS, Relaxed);
            pool.block_on(async {
                drop(braid::exec::spawn(async move {
                    for _ in 0..NUM_PINGS {
                        let (done_tx, rem) = (done_tx.clone(), rem.clone());
                        drop(braid::exec::spawn(async move {
                            let (tx1, rx1) = oneshot::channel();
                            let (tx2, rx2) = oneshot::channel();
                            drop(braid::exec::spawn(async move {
                                rx1.await.unwrap();
                                tx2.send(()).unwrap();
                            }));
                            tx1.send(()).unwrap();
                            rx2.await.unwrap();
                            if rem.fetch_sub(1, Relaxed) == 1 {
                                done_tx.send(()).unwrap();
                            }
                        }));
                    }
                }));
                done_rx.recv().unwrap();
            })
        })
    });
    drop(pool);
    let rt = tokio_rt();
    group.bench_function("tokio", |b| {
        b.iter(|| {
            let (done_tx, rem) = (done_tx.clone(), rem.clone());
            rem.store(NUM_PINGS, Relaxed);
            rt.block_on(async {
                tokio::spawn(async move {
                    for _ in 0..NUM_PINGS {
                        let (done_tx, rem) = (done_tx.clone(), rem.clone());
                        tokio::spawn(async move {
                            let (tx1, rx1) = oneshot::channel();
                            let (tx2, rx2) = oneshot::channel();
                            tokio::spawn(async move {
                                rx1.await.unwrap();
                                tx2.send(()).unwrap();
                            });
                            tx1.send(()).unwrap();
                            rx2.await.unwrap();
                            if rem.fetch_sub(1, Relaxed) == 1 {
                                done_tx.send(()).unwrap();
                            }
                        });
                    }
                });
                done_rx.recv().unwrap();
            })
        })
    });
    group.finish();
}

/// A chain of `CHAIN` tasks, each spawning the next.
fn chained_spawn(c: &mut Criterion) {
    fn braid_chain(done: mpsc::SyncSender<()>, n: usize) {
        if n == 0 {
            done.send(()).unwrap();
        } else {
            drop(braid::exec::spawn(async move { braid_chain(done, n - 1) }));
        }
    }
    fn tokio_chain(done: mpsc::SyncSender<()>, n: usize) {
        if n == 0 {
            done.send(()).unwrap();
        } else {
            tokio::spawn(async move { tokio_chain(done, n - 1) });
        }
    }
    let mut group = c.benchmark_group("chained_spawn");
    let pool = braid_pool();
    group.bench_function("braid", |b| {
        b.iter(|| {
            pool.block_on(async {
                let (done_tx, done_rx) = mpsc::sync_channel(1000);
                drop(braid::exec::spawn(
                    async move { braid_chain(done_tx, CHAIN) },
                ));
                done_rx.recv().unwrap();
            })
        })
    });
    drop(pool);
    let rt = tokio_rt();
    group.bench_function("tokio", |b| {
        b.iter(|| {
            rt.block_on(async {
                let (done_tx, done_rx) = mpsc::sync_channel(1000);
                tokio::spawn(async move { tokio_chain(done_tx, CHAIN) });
                done_rx.recv().unwrap();
            })
        })
    });
    group.finish();
}

fn fib_braid(n: u64, cutoff: u64) -> u64 {
    if n <= cutoff {
        return fib_sequential(n);
    }
    let (a, b) = braid::exec::join(|| fib_braid(n - 1, cutoff), || fib_braid(n - 2, cutoff));
    a + b
}

fn fib_rayon(n: u64, cutoff: u64) -> u64 {
    if n <= cutoff {
        return fib_sequential(n);
    }
    let (a, b) = rayon::join(|| fib_rayon(n - 1, cutoff), || fib_rayon(n - 2, cutoff));
    a + b
}

fn fib_sequential(n: u64) -> u64 {
    if n < 2 {
        n
    } else {
        fib_sequential(n - 1) + fib_sequential(n - 2)
    }
}

/// fib(30) forking down to n = 20, then sequential; and fib(22) forking all the way
/// down (every `join` is overhead: the work per leaf is one addition).
fn fib_join(c: &mut Criterion) {
    let rayon_pool = rayon::ThreadPoolBuilder::new()
        .num_threads(workers())
        .build()
        .unwrap();
    for (name, n, cutoff) in [("fib30_cutoff20", 30, 20), ("fib22_no_cutoff", 22, 1)] {
        let mut group = c.benchmark_group(name);
        let expected = fib_sequential(n);
        let pool = braid_pool();
        group.bench_function("braid", |b| {
            b.iter(|| assert_eq!(pool.join(|| fib_braid(n, cutoff), || ()).0, expected))
        });
        drop(pool);
        group.bench_function("rayon", |b| {
            b.iter(|| assert_eq!(rayon_pool.install(|| fib_rayon(n, cutoff)), expected))
        });
        group.finish();
    }
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = spawn_many_local, spawn_many_remote_idle, yield_many, ping_pong, chained_spawn, fib_join
}
criterion_main!(benches);
