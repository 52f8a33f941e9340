//! braid's generators beside genawaiter's `rc` and `stack` generators (a yield per
//! resume; a `send` per resume), braid's async generators beside async-stream's
//! `stream!` (1M items through a plain `block_on`), and the round-robin Scheduler beside tokio's current-thread runtime with a
//! `LocalSet` (10 000 tasks × 100 yields; spawning 10 000 empty tasks), each pair in the
//! same group. Results and ratios live in `BENCHMARKS.md`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};

#[path = "common/drive.rs"]
mod drive;
use drive::{block_on, next};

/// Sums what a generator yields: `0..iters`, one value per resume (`for x in gen`).
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
    group.bench_function("genawaiter-stack", |b| {
        b.iter_custom(|iters| {
            let mut shelf = genawaiter::stack::Shelf::new();
            // SAFETY (genawaiter's contract): the body's `Co` never leaves the body.
            let mut counter = unsafe {
                genawaiter::stack::Gen::new(&mut shelf, move |co| async move {
                    for i in 0..iters {
                        co.yield_(i).await;
                    }
                })
            };
            let start = Instant::now();
            let sum: u64 = (&mut counter).into_iter().map(black_box).sum();
            let elapsed = start.elapsed();
            assert_eq!(sum, iters * iters.saturating_sub(1) / 2);
            elapsed
        })
    });
    group.finish();
}

/// Python's `send`: each resume passes a value in, and the body yields the running sum.
fn sends(c: &mut Criterion) {
    use braid::coro::GeneratorState as Braid;
    use genawaiter::GeneratorState as Genawaiter;

    let mut group = c.benchmark_group("generator_send");
    group.bench_function("braid", |b| {
        b.iter_custom(|iters| {
            let mut summer = braid::coro::Generator::new(|co| async move {
                let mut sum = 0u64;
                loop {
                    let x: u64 = co.yield_(sum).await;
                    sum += x;
                }
            });
            summer.start();
            let start = Instant::now();
            let mut last = 0;
            for i in 0..iters {
                if let Braid::Yielded(sum) = summer.resume(black_box(i)) {
                    last = sum;
                }
            }
            let elapsed = start.elapsed();
            assert_eq!(last, iters * iters.saturating_sub(1) / 2);
            elapsed
        })
    });
    group.bench_function("genawaiter-rc", |b| {
        b.iter_custom(|iters| {
            let mut summer = genawaiter::rc::Gen::new(|co| async move {
                let mut sum = 0u64;
                loop {
                    let x: u64 = co.yield_(sum).await;
                    sum += x;
                }
            });
            summer.resume_with(0); // starts the body; genawaiter drops this input
            let start = Instant::now();
            let mut last = 0;
            for i in 0..iters {
                if let Genawaiter::Yielded(sum) = summer.resume_with(black_box(i)) {
                    last = sum;
                }
            }
            let elapsed = start.elapsed();
            assert_eq!(last, iters * iters.saturating_sub(1) / 2);
            elapsed
        })
    });
    group.bench_function("genawaiter-stack", |b| {
        b.iter_custom(|iters| {
            let mut shelf = genawaiter::stack::Shelf::new();
            // SAFETY (genawaiter's contract): the body's `Co` never leaves the body.
            let mut summer = unsafe {
                genawaiter::stack::Gen::new(&mut shelf, |co| async move {
                    let mut sum = 0u64;
                    loop {
                        let x: u64 = co.yield_(sum).await;
                        sum += x;
                    }
                })
            };
            summer.resume_with(0); // starts the body; genawaiter drops this input
            let start = Instant::now();
            let mut last = 0;
            for i in 0..iters {
                if let Genawaiter::Yielded(sum) = summer.resume_with(black_box(i)) {
                    last = sum;
                }
            }
            let elapsed = start.elapsed();
            assert_eq!(last, iters * iters.saturating_sub(1) / 2);
            elapsed
        })
    });
    group.finish();
}

/// Drains a stream through `poll_next` in a function of its own that is not inlined, as a
/// consumer in another module would: nothing of the stream's state can stay in registers.
#[inline(never)]
fn sum_opaque(stream: std::pin::Pin<&mut dyn braid::coro::Stream<Item = u64>>) -> u64 {
    block_on(async move {
        let mut stream = stream;
        let mut sum = 0;
        while let Some(x) = next(stream.as_mut()).await {
            sum += black_box(x);
        }
        sum
    })
}

const STREAM_ITEMS: u64 = 1_000_000;

/// PEP 525: an async generator of 1M items, consumed as a `Stream` under a plain
/// `block_on` (the generator made and drained in one `async` block), and through an
/// opaque `dyn Stream` consumer.
fn async_generators(c: &mut Criterion) {
    let expected = STREAM_ITEMS * (STREAM_ITEMS - 1) / 2;
    let mut group = c.benchmark_group("async_generator_1m_items");
    group.sample_size(20);
    group.bench_function("braid", |b| {
        b.iter(|| {
            let sum = block_on(async {
                let mut numbers = braid::coro::AsyncGenerator::new(|co| async move {
                    for i in 0..black_box(STREAM_ITEMS) {
                        co.yield_(i).await;
                    }
                });
                let mut sum = 0;
                while let Some(x) = numbers.next().await {
                    sum += black_box(x);
                }
                sum
            });
            assert_eq!(sum, expected);
        })
    });
    group.bench_function("async-stream", |b| {
        b.iter(|| {
            let sum = block_on(async {
                let numbers = async_stream::stream! {
                    for i in 0..black_box(STREAM_ITEMS) {
                        yield i;
                    }
                };
                let mut numbers = std::pin::pin!(numbers);
                let mut sum = 0;
                while let Some(x) = next(numbers.as_mut()).await {
                    sum += black_box(x);
                }
                sum
            });
            assert_eq!(sum, expected);
        })
    });
    group.finish();

    let mut group = c.benchmark_group("async_generator_1m_items_opaque_consumer");
    group.sample_size(20);
    group.bench_function("braid", |b| {
        b.iter(|| {
            let numbers = braid::coro::AsyncGenerator::new(|co| async move {
                for i in 0..black_box(STREAM_ITEMS) {
                    co.yield_(i).await;
                }
            });
            assert_eq!(sum_opaque(std::pin::pin!(numbers)), expected);
        })
    });
    group.bench_function("async-stream", |b| {
        b.iter(|| {
            let numbers = async_stream::stream! {
                for i in 0..black_box(STREAM_ITEMS) {
                    yield i;
                }
            };
            assert_eq!(sum_opaque(std::pin::pin!(numbers)), expected);
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
    targets = yields, sends, async_generators, round_robin, local_spawn
}
criterion_main!(benches);
