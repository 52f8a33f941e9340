//! A measurement, not a check (it reads Linux's /proc, and CPU time is the machine's):
//! how much CPU a Pool uses while 100k of its tasks sleep. Run it with
//! `cargo test --release --test time_idle_cpu -- --ignored --nocapture`; BENCHMARKS.md
//! records the result. Sleeping tasks are wakers in the timer's wheel and one idle
//! worker parks until the earliest deadline, so it should be near zero.

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
