//! Async generators (PEP 525): streams whose bodies await a timer and a queue between
//! their yields, consumed by a task on the Pool.
//!
//! `cargo run --release --example async_generators`
//!
//! ```python
//! async def readings(queue):            # fed by sensor threads
//!     while (reading := await queue.get()) is not None:
//!         yield reading
//!
//! async def heartbeat(period, beats):   # fed by a timer
//!     for n in range(beats):
//!         await asyncio.sleep(period)
//!         yield n
//! ```

use std::thread;
use std::time::{Duration, Instant};

use braid::coro::{AsyncCo, AsyncGenerator};
use braid::exec::Pool;
use braid::stm::{atomically, TQueue};
use braid::time::interval;

fn main() {
    let pool = Pool::new(2);
    let queue = TQueue::new();

    // Two sensor threads put readings into a transactional queue, then the last one to
    // finish closes it.
    let sensors: Vec<_> = (0..2u32)
        .map(|sensor| {
            let queue = queue.clone();
            thread::spawn(move || {
                for i in 0..5u32 {
                    thread::sleep(Duration::from_millis(3));
                    queue
                        .put((sensor, 20.0 + f64::from(sensor * 10 + i)))
                        .unwrap();
                }
            })
        })
        .collect();

    // The stream of readings: it awaits the queue (a transaction that retries until a
    // reading or the close arrives) and yields each reading.
    let readings = {
        let queue = queue.clone();
        AsyncGenerator::new(move |co: AsyncCo<(u32, f64)>| async move {
            while let Some(reading) = queue.get_async().await {
                co.yield_(reading).await;
            }
        })
    };

    // The stream of heartbeats: it awaits a timer and yields the beat's number.
    let heartbeat = AsyncGenerator::new(|co: AsyncCo<u32>| async move {
        let mut ticks = interval(Duration::from_millis(5));
        for beat in 0..4 {
            ticks.tick().await;
            co.yield_(beat).await;
        }
    });

    // A Pool task consumes both, one after the other.
    let started = Instant::now();
    let summary = pool.spawn(async move {
        let (mut readings, mut heartbeat) = (readings, heartbeat);
        let mut beats = Vec::new();
        while let Some(beat) = heartbeat.next().await {
            beats.push((beat, started.elapsed().as_millis()));
        }
        let (mut count, mut total) = (0, 0.0);
        while let Some((_sensor, value)) = readings.next().await {
            count += 1;
            total += value;
        }
        (beats, count, total / f64::from(count))
    });

    for sensor in sensors {
        sensor.join().unwrap();
    }
    atomically(|tx| queue.close(tx)); // ends the readings stream once drained

    let (beats, count, mean) = summary.join().unwrap();
    println!("heartbeats (beat, ms since start): {beats:?}");
    println!("{count} readings from 2 sensors, mean {mean:.1}");
    assert_eq!(beats.len(), 4);
    assert_eq!(count, 10);
    assert!((mean - 27.0).abs() < 1e-9);
}
