//! braid's timer beside tokio's, each on its own executor with the same number of
//! workers: arming and firing 100k sleeping tasks, arming and cancelling 100k timers
//! from one task, and the wake-up latency of one short sleep; and `JoinSet` beside
//! tokio's, taking 10k results in completion order. Results live in `BENCHMARKS.md`.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};

const TIMERS: usize = 100_000;

fn workers() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers())
        .enable_time()
        .build()
        .unwrap()
}

/// The wait of timer `i`: 1 to 10 ms, spread over the ticks.
fn wait_of(i: usize) -> Duration {
    Duration::from_millis(1 + (i % 10) as u64)
}

/// Polls `future` once from inside a task (arming a timer), then gives it back.
async fn poll_once<F: Future + Unpin>(future: &mut F) {
    poll_fn(|cx| {
        let _ = Pin::new(&mut *future).poll(cx);
        Poll::Ready(())
    })
    .await
}

/// 100k tasks, each sleeping 1 to 10 ms: spawn them all, then wait for all.
fn arm_and_fire(c: &mut Criterion) {
    let mut group = c.benchmark_group("timers_100k_arm_and_fire");
    group.sample_size(10);
    let pool = braid::exec::Pool::new(workers());
    group.bench_function("braid", |b| {
        b.iter(|| {
            pool.block_on(async {
                let naps: Vec<_> = (0..TIMERS)
                    .map(|i| braid::exec::spawn(braid::time::sleep(wait_of(i))))
                    .collect();
                for nap in naps {
                    nap.await.unwrap();
                }
            })
        })
    });
    drop(pool);
    let rt = tokio_rt();
    group.bench_function("tokio", |b| {
        b.iter(|| {
            rt.block_on(async {
                let naps: Vec<_> = (0..TIMERS)
                    .map(|i| tokio::spawn(tokio::time::sleep(wait_of(i))))
                    .collect();
                for nap in naps {
                    nap.await.unwrap();
                }
            })
        })
    });
    group.finish();
}

/// One task arms 100k timers (1 to 10 s away, so none fires) and drops them all: the
/// cost of insert and cancel with up to 100k pending.
fn arm_and_cancel(c: &mut Criterion) {
    let mut group = c.benchmark_group("timers_100k_arm_and_cancel");
    group.sample_size(10);
    let pool = braid::exec::Pool::new(workers());
    group.bench_function("braid", |b| {
        b.iter(|| {
            let task = pool.spawn(async {
                let mut naps: Vec<_> = (0..TIMERS)
                    .map(|i| Box::pin(braid::time::sleep(wait_of(i) * 1000)))
                    .collect();
                for nap in &mut naps {
                    poll_once(nap).await;
                }
            });
            pool.block_on(task).unwrap();
        })
    });
    drop(pool);
    let rt = tokio_rt();
    group.bench_function("tokio", |b| {
        b.iter(|| {
            let task = rt.spawn(async {
                let mut naps: Vec<_> = (0..TIMERS)
                    .map(|i| Box::pin(tokio::time::sleep(wait_of(i) * 1000)))
                    .collect();
                for nap in &mut naps {
                    poll_once(nap).await;
                }
            });
            rt.block_on(task).unwrap();
        })
    });
    group.finish();
}

/// One timer armed and cancelled, on an empty timer and beside 100k pending ones: the
/// wheel's insert and cancel should not grow with what is pending. braid's process-wide
/// timer (this bench thread is outside any executor); tokio's inside its runtime.
fn arm_and_cancel_one(c: &mut Criterion) {
    use std::task::{Context, Waker};

    let mut group = c.benchmark_group("timer_arm_and_cancel_one");
    let mut cx = Context::from_waker(Waker::noop());
    let mut arm_and_cancel = || {
        let mut nap = braid::time::sleep(Duration::from_secs(5));
        let _ = Pin::new(&mut nap).poll(&mut cx);
    };
    group.bench_function("braid/empty", |b| b.iter(&mut arm_and_cancel));
    let pending: Vec<_> = (0..TIMERS)
        .map(|i| {
            let mut nap = braid::time::sleep(wait_of(i) * 1000);
            let _ = Pin::new(&mut nap).poll(&mut Context::from_waker(Waker::noop()));
            nap
        })
        .collect();
    group.bench_function("braid/beside_100k", |b| b.iter(&mut arm_and_cancel));
    drop(pending);
    let rt = tokio_rt();
    let _entered = rt.enter();
    let mut arm_and_cancel = || {
        let mut nap = Box::pin(tokio::time::sleep(Duration::from_secs(5)));
        let _ = nap.as_mut().poll(&mut Context::from_waker(Waker::noop()));
    };
    group.bench_function("tokio/empty", |b| b.iter(&mut arm_and_cancel));
    let pending: Vec<_> = (0..TIMERS)
        .map(|i| {
            let mut nap = Box::pin(tokio::time::sleep(wait_of(i) * 1000));
            let _ = nap.as_mut().poll(&mut Context::from_waker(Waker::noop()));
            nap
        })
        .collect();
    group.bench_function("tokio/beside_100k", |b| b.iter(&mut arm_and_cancel));
    drop(pending);
    group.finish();
}

/// One task sleeping 1 ms on an otherwise idle executor: the wake-up latency is what the
/// time exceeds 1 ms by (both round deadlines up to the next millisecond).
fn sleep_latency(c: &mut Criterion) {
    let mut group = c.benchmark_group("sleep_1ms_latency");
    let pool = braid::exec::Pool::new(workers());
    group.bench_function("braid", |b| {
        b.iter(|| {
            let nap = pool.spawn(braid::time::sleep(Duration::from_millis(1)));
            nap.join().unwrap();
        })
    });
    drop(pool);
    let rt = tokio_rt();
    group.bench_function("tokio", |b| {
        b.iter(|| {
            let nap = rt.spawn(async { tokio::time::sleep(Duration::from_millis(1)).await });
            rt.block_on(nap).unwrap();
        })
    });
    group.finish();
}

/// Does a Pool slow down while 100k of its tasks sleep? The same 10k spawns (from
/// inside a task, as in `benches/exec.rs`), on an idle pool and beside 100k sleepers.
fn spawns_beside_sleepers(c: &mut Criterion) {
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
    use std::sync::{mpsc, Arc};

    const SPAWNS: usize = 10_000;
    let mut group = c.benchmark_group("spawn_10k_beside_sleepers");
    let pool = braid::exec::Pool::new(workers());
    let (tx, rx) = mpsc::sync_channel(1000);
    let remaining = Arc::new(AtomicUsize::new(0));
    let mut run = || {
        remaining.store(SPAWNS, Relaxed);
        pool.block_on(async {
            for _ in 0..SPAWNS {
                let (tx, remaining) = (tx.clone(), remaining.clone());
                drop(braid::exec::spawn(async move {
                    if remaining.fetch_sub(1, Relaxed) == 1 {
                        tx.send(()).unwrap();
                    }
                }));
            }
            rx.recv().unwrap();
        })
    };
    group.bench_function("no_sleepers", |b| b.iter(&mut run));
    let sleepers: Vec<_> = (0..TIMERS)
        .map(|i| pool.spawn(braid::time::sleep(wait_of(i) * 60_000)))
        .collect();
    group.bench_function("100k_sleepers", |b| b.iter(&mut run));
    sleepers.iter().for_each(braid::JoinHandle::abort);
    drop(sleepers);
    group.finish();
}

/// 10k tiny tasks spawned from inside a task into a `JoinSet`, then every result taken
/// in completion order.
fn join_set(c: &mut Criterion) {
    const TASKS: usize = 10_000;
    let mut group = c.benchmark_group("join_set_10k");
    let pool = braid::exec::Pool::new(workers());
    group.bench_function("braid", |b| {
        b.iter(|| {
            pool.block_on(async {
                let mut set: braid::JoinSet<usize> = (0..TASKS)
                    .map(|i| braid::exec::spawn(async move { i }))
                    .collect();
                let mut sum = 0;
                while let Some(result) = set.join_next().await {
                    sum += result.unwrap();
                }
                assert_eq!(sum, TASKS * (TASKS - 1) / 2);
            })
        })
    });
    drop(pool);
    let rt = tokio_rt();
    group.bench_function("tokio", |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut set = tokio::task::JoinSet::new();
                for i in 0..TASKS {
                    set.spawn(async move { i });
                }
                let mut sum = 0;
                while let Some(result) = set.join_next().await {
                    sum += result.unwrap();
                }
                assert_eq!(sum, TASKS * (TASKS - 1) / 2);
            })
        })
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = arm_and_fire, arm_and_cancel, arm_and_cancel_one, sleep_latency, spawns_beside_sleepers, join_set
}
criterion_main!(benches);
