//! braid's generators beside genawaiter's `rc` generators (one yield-and-resume round
//! trip), and the round-robin Scheduler beside tokio's current-thread runtime with a
//! `LocalSet` (10 000 tasks × 100 yields; spawning 10 000 empty tasks), each pair in the
//! same group. Results and ratios live in `BENCHMARKS.md`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};

fn yields(c: &mut Criterion) {
    let mut group = c.benchmark_group("generator_yield");
    group.bench_function("braid", |b| {
        b.iter_custom(|iters| {
            let counter = braid::coro::Generator::new(move |co| async move {
                for i in 0..iters {
                    co.yield_(i).await;
                }
            });
            let start = Instant::now();
            let sum: u64 = counter.map(black_box).sum();
            let elapsed = start.elapsed();
            assert_eq!(sum, iters * iters.saturating_sub(1) / 2);
            elapsed
        })
    });
    group.bench_function("genawaiter-rc", |b| {
        b.iter_custom(|iters| {
            let counter = genawaiter::rc::Gen::new(move |co| async move {
                for i in 0..iters {
                    co.yield_(i).await;
                }
            });
            let start = Instant::now();
            let sum: u64 = counter.into_iter().map(black_box).sum();
            let elapsed = start.elapsed();
            assert_eq!(sum, iters * iters.saturating_sub(1) / 2);
            elapsed
        })
    });
    group.finish();
}

const TASKS: usize = 10_000;
const YIELDS: usize = 100;

fn round_robin(c: &mut Criterion) {
    let mut group = c.benchmark_group("round_robin_10k_tasks_x_100_yields");
    group.sample_size(10);
    group.bench_function("braid", |b| {
        b.iter(|| {
            let mut scheduler = braid::coro::Scheduler::new();
            for _ in 0..TASKS {
                drop(scheduler.spawn(async {
                    for _ in 0..YIELDS {
                        braid::coro::yield_now().await;
                    }
                }));
            }
            scheduler.run().unwrap();
        })
    });
    group.bench_function("tokio-localset", |b| {
        b.iter(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            let local = tokio::task::LocalSet::new();
            for _ in 0..TASKS {
                local.spawn_local(async {
                    for _ in 0..YIELDS {
                        tokio::task::yield_now().await;
                    }
                });
            }
            rt.block_on(local);
        })
    });
    group.finish();
}

fn local_spawn(c: &mut Criterion) {
    let mut group = c.benchmark_group("local_spawn_10k");
    group.bench_function("braid", |b| {
        b.iter(|| {
            let mut scheduler = braid::coro::Scheduler::new();
            for i in 0..TASKS {
                drop(scheduler.spawn(async move { black_box(i) }));
            }
            scheduler.run().unwrap();
        })
    });
    group.bench_function("tokio-localset", |b| {
        b.iter(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            let local = tokio::task::LocalSet::new();
            for i in 0..TASKS {
                local.spawn_local(async move { black_box(i) });
            }
            rt.block_on(local);
        })
    });
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
    targets = yields, round_robin, local_spawn
}
criterion_main!(benches);
