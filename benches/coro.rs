//! braid's generators beside genawaiter's `rc` generators, in the same group: the cost of
//! one yield-and-resume round trip. Results and ratios live in `BENCHMARKS.md`.

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

fn config() -> Criterion {
    Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = yields
}
criterion_main!(benches);
