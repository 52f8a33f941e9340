//! Beazley's CPU-bound `count(n)` in two tasks. In CPython the GIL makes two threads
//! slower than one; braid's Pool runs the two counts on two cores at once.
//!
//! Run with `cargo run --release --example count`.

use std::hint::black_box;
use std::time::Instant;

use braid::exec::Pool;

/// Counts down from `n`, like `while n > 0: n -= 1`. `black_box` keeps the compiler from
/// replacing the loop by its result.
fn count(mut n: u64) -> u64 {
    let mut steps = 0;
    while black_box(n) > 0 {
        n -= 1;
        steps += 1;
    }
    steps
}

fn main() {
    const N: u64 = 400_000_000;
    let start = Instant::now();
    let sequential = count(N) + count(N);
    let sequential_time = start.elapsed();
    println!("sequential: count({N}) twice in {sequential_time:.2?}");

    let pool = Pool::new(2);
    let start = Instant::now();
    let first = pool.spawn_fn(|| count(N));
    let second = pool.spawn_fn(|| count(N));
    let pooled = first.join().unwrap() + second.join().unwrap();
    let pooled_time = start.elapsed();
    println!("pooled:     the same two counts as two tasks in {pooled_time:.2?}");

    assert_eq!(sequential, pooled);
    let speedup = sequential_time.as_secs_f64() / pooled_time.as_secs_f64();
    println!("speed-up: {speedup:.2}x (Python's GIL gives below 1x here)");
    if std::thread::available_parallelism().map_or(1, |n| n.get()) >= 2 {
        assert!(
            pooled_time < sequential_time,
            "with two cores, two tasks should beat one thread"
        );
    }
}
