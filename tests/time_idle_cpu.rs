//! Measurements, not checks (they read Linux's /proc, and CPU time is the machine's):
//! how much CPU a Pool uses while 100k of its tasks sleep, and a Scheduler and a plain
//! thread while they wait on far deadlines. Run them one at a time (CPU time is the
//! process's): `cargo test --release --test time_idle_cpu -- --ignored --nocapture
//! --test-threads=1`; BENCHMARKS.md records the results. Sleeping tasks are wakers in the
//! timer's wheel and one thread parks until the earliest deadline, so it should be near
//! zero.

use std::time::{Duration, Instant};

use braid::exec::Pool;
use braid::time::sleep;

/// This process's user + system CPU time so far.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("Linux's /proc");
    // The fields after the command name (which may hold spaces) start after its ')'.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10) // USER_HZ is 100 on Linux
}

#[test]
#[ignore = "a measurement: run with --ignored --nocapture"]
fn idle_cpu_of_a_pool_with_100k_sleeping_tasks() {
    let pool = Pool::new(2);
    let sleepers: Vec<_> = (0..100_000)
        .map(|i| pool.spawn(sleep(Duration::from_secs(60 + i % 60))))
        .collect();
    std::thread::sleep(Duration::from_millis(500)); // let every task arm its timer
    let (cpu_before, wall_before) = (cpu_time(), Instant::now());
    std::thread::sleep(Duration::from_secs(5));
    let (cpu, wall) = (cpu_time() - cpu_before, wall_before.elapsed());
    println!(
        "100k sleeping tasks on a 2-worker Pool: {cpu:?} of CPU in {wall:?} of wall time \
         ({:.3}% of one core)",
        100.0 * cpu.as_secs_f64() / wall.as_secs_f64()
    );
    for sleeper in &sleepers {
        sleeper.abort();
    }
}

#[test]
#[ignore = "a measurement: run with --ignored --nocapture"]
fn idle_cpu_of_a_scheduler_and_of_the_process_timer_waiting_on_far_sleeps() {
    // Deadlines seconds away sit on the wheel's higher levels, which move down at their
    // slot's start before they fire: the sleeping thread must not spin in between.
    let (cpu_before, wall_before) = (cpu_time(), Instant::now());
    let mut scheduler = braid::coro::Scheduler::new();
    scheduler
        .block_on(async {
            let naps: Vec<_> = (0..1000u64)
                .map(|i| braid::coro::spawn(sleep(Duration::from_millis(3000 + i))))
                .collect();
            for nap in naps {
                nap.await.unwrap();
            }
        })
        .unwrap();
    // And a plain thread on the process-wide timer.
    let start = Instant::now();
    let mut nap = std::pin::pin!(sleep(Duration::from_secs(2)));
    let waker = std::task::Waker::from(std::sync::Arc::new(Unpark(std::thread::current())));
    while std::future::Future::poll(nap.as_mut(), &mut std::task::Context::from_waker(&waker))
        .is_pending()
    {
        std::thread::park();
    }
    assert!(start.elapsed() >= Duration::from_secs(2));
    let (cpu, wall) = (cpu_time() - cpu_before, wall_before.elapsed());
    println!(
        "a Scheduler with 1000 sleeps of 3-4 s, then a thread sleeping 2 s: {cpu:?} of CPU \
         in {wall:?} ({:.3}% of one core)",
        100.0 * cpu.as_secs_f64() / wall.as_secs_f64()
    );
}

struct Unpark(std::thread::Thread);

impl std::task::Wake for Unpark {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.unpark();
    }
}
