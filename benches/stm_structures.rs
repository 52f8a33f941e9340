//! STM structures beside the channels a user would otherwise pick, in the same groups:
//! messages from one producer thread to one consumer thread through `TQueue`, `TBQueue(1)`
//! and `TBQueue(200)`, against `std::sync::mpsc` and `crossbeam-channel` with the same
//! bounds; the same with 64 KiB messages moved with `put`/`get`. And the starvation scenario: one transaction over 200 variables while three
//! threads keep committing to them. Results and ratios live in `BENCHMARKS.md`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use braid::stm::{atomically, TBQueue, TQueue, TVar};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};

/// Sends `n` messages from a new producer thread and receives them here; returns the
/// elapsed time.
fn transfer(n: u64, send: impl FnOnce(u64) + Send, mut recv: impl FnMut() -> u64) -> Duration {
    let start = Instant::now();
    thread::scope(|s| {
        s.spawn(move || send(n));
        let mut sum = 0;
        for _ in 0..n {
            sum += recv();
        }
        assert_eq!(sum, n * (n - 1) / 2);
    });
    start.elapsed()
}

fn messages(c: &mut Criterion) {
    let mut group = c.benchmark_group("messages");
    for bound in [None, Some(1usize), Some(200)] {
        let label = bound.map_or("unbounded".to_string(), |b| format!("bounded-{b}"));
        group.bench_function(BenchmarkId::new("braid", &label), |b| {
            b.iter_custom(|iters| match bound {
                None => {
                    let q = TQueue::new();
                    let tx_q = q.clone();
                    transfer(
                        iters,
                        move |n| (0..n).for_each(|i| atomically(|tx| tx_q.push(tx, i))),
                        || atomically(|tx| q.pop(tx)),
                    )
                }
                Some(bound) => {
                    let q = TBQueue::new(bound);
                    let tx_q = q.clone();
                    transfer(
                        iters,
                        move |n| (0..n).for_each(|i| atomically(|tx| tx_q.push(tx, i))),
                        || atomically(|tx| q.pop(tx)),
                    )
                }
            })
        });
        group.bench_function(BenchmarkId::new("std-mpsc", &label), |b| {
            b.iter_custom(|iters| match bound {
                None => {
                    let (tx, rx) = mpsc::channel();
                    transfer(
                        iters,
                        move |n| (0..n).for_each(|i| tx.send(i).unwrap()),
                        || rx.recv().unwrap(),
                    )
                }
                Some(bound) => {
                    let (tx, rx) = mpsc::sync_channel(bound);
                    transfer(
                        iters,
                        move |n| (0..n).for_each(|i| tx.send(i).unwrap()),
                        || rx.recv().unwrap(),
                    )
                }
            })
        });
        group.bench_function(BenchmarkId::new("crossbeam-channel", &label), |b| {
            b.iter_custom(|iters| {
                let (tx, rx) = match bound {
                    None => crossbeam_channel::unbounded(),
                    Some(bound) => crossbeam_channel::bounded(bound),
                };
                transfer(
                    iters,
                    move |n| (0..n).for_each(|i| tx.send(i).unwrap()),
                    || rx.recv().unwrap(),
                )
            })
        });
    }
    group.finish();
}

/// Time for one transaction that reads and rewrites 200 variables (with 2 ms of work in
/// between) to commit while three threads keep incrementing those variables.
/// A 64 KiB message: made by the producer, moved to the consumer, never cloned.
fn payload(i: u64) -> Vec<u8> {
    vec![i as u8; 64 * 1024]
}

/// What the consumer does with a message: looks at it, so it is not optimized away,
/// and gives back its number (its bytes hold it, mod 256).
fn consume(message: Vec<u8>) -> u64 {
    assert_eq!(message.len(), 64 * 1024);
    u64::from(message[0])
}

/// `transfer` for 64 KiB messages: the sum of the numbers mod 256 cannot be checked
/// against `n`, so this checks the count and returns the time.
fn transfer_large(
    n: u64,
    send: impl FnOnce(u64) + Send,
    mut recv: impl FnMut() -> u64,
) -> Duration {
    let start = Instant::now();
    thread::scope(|s| {
        s.spawn(move || send(n));
        let mut sum = 0;
        for _ in 0..n {
            sum += recv();
        }
        assert_eq!(sum, (0..n).map(|i| i % 256).sum::<u64>());
    });
    start.elapsed()
}

/// Messages of 64 KiB moved through `put`/`get` (no clone), against crossbeam-channel.
fn large_messages(c: &mut Criterion) {
    let mut group = c.benchmark_group("messages_64k");
    for bound in [None, Some(16usize)] {
        let label = bound.map_or("unbounded".to_string(), |b| format!("bounded-{b}"));
        group.bench_function(BenchmarkId::new("braid", &label), |b| {
            b.iter_custom(|iters| match bound {
                None => {
                    let q = TQueue::new();
                    let tx_q = q.clone();
                    transfer_large(
                        iters,
                        move |n| (0..n).for_each(|i| tx_q.put(payload(i)).unwrap()),
                        || consume(q.get().unwrap()),
                    )
                }
                Some(bound) => {
                    let q = TBQueue::new(bound);
                    let tx_q = q.clone();
                    transfer_large(
                        iters,
                        move |n| (0..n).for_each(|i| tx_q.put(payload(i)).unwrap()),
                        || consume(q.get().unwrap()),
                    )
                }
            })
        });
        group.bench_function(BenchmarkId::new("crossbeam-channel", &label), |b| {
            b.iter_custom(|iters| {
                let (tx, rx) = match bound {
                    None => crossbeam_channel::unbounded(),
                    Some(bound) => crossbeam_channel::bounded(bound),
                };
                transfer_large(
                    iters,
                    move |n| (0..n).for_each(|i| tx.send(payload(i)).unwrap()),
                    || consume(rx.recv().unwrap()),
                )
            })
        });
    }
    group.finish();
}

fn starvation(c: &mut Criterion) {
    const VARS: usize = 200;
    let mut group = c.benchmark_group("starvation");
    group.sample_size(10);
    group.bench_function("braid/200-vars-vs-3-writers", |b| {
        let vars: Arc<Vec<TVar<u64>>> = Arc::new((0..VARS).map(|_| TVar::new(0)).collect());
        let stop = Arc::new(AtomicBool::new(false));
        let hammers: Vec<_> = (0..3)
            .map(|t| {
                let (vars, stop) = (vars.clone(), stop.clone());
                thread::spawn(move || {
                    let mut i = t;
                    while !stop.load(Ordering::Relaxed) {
                        i = (i * 7 + 13) % VARS;
                        atomically(|tx| vars[i].modify(tx, |v| v + 1));
                    }
                })
            })
            .collect();
        b.iter(|| {
            atomically(|tx| {
                let mut seen = Vec::with_capacity(VARS);
                for v in vars.iter() {
                    seen.push(v.read(tx)?);
                }
                let busy = Instant::now();
                while busy.elapsed() < Duration::from_millis(2) {
                    std::hint::spin_loop();
                }
                for (v, x) in vars.iter().zip(seen) {
                    v.write(tx, x + 1)?;
                }
                Ok(())
            })
        });
        stop.store(true, Ordering::Relaxed);
        for h in hammers {
            h.join().unwrap();
        }
    });
    group.finish();
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
    targets = messages, large_messages, starvation
}
criterion_main!(benches);
