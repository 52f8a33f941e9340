//! The classic threads-and-a-queue program: a producer thread puts work on a bounded
//! queue, consumer threads take it off, and a sentinel tells each consumer to stop.
//! Python's `queue.Queue(maxsize=4)` becomes a `TBQueue` of capacity 4.
//!
//! Run it with `cargo run --release --example producer_consumer`. It checks that every
//! item was consumed exactly once and that the queue never held more than 4.

use std::thread;

use braid::stm::{atomically, TBQueue};

const ITEMS: u64 = 10_000;
const CONSUMERS: usize = 3;

fn main() {
    // `None` is the sentinel: "no more work".
    let queue: TBQueue<Option<u64>> = TBQueue::new(4);

    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|id| {
            let queue = queue.clone();
            thread::spawn(move || {
                let (mut count, mut sum) = (0u64, 0u64);
                // Blocks while the queue is empty, like `queue.get()`.
                while let Some(item) = atomically(|tx| queue.pop(tx)) {
                    count += 1;
                    sum += item;
                }
                println!("consumer {id} took {count} items");
                (count, sum)
            })
        })
        .collect();

    let producer = {
        let queue = queue.clone();
        thread::spawn(move || {
            for item in 1..=ITEMS {
                // Blocks while the queue is full, like `queue.put(item)`.
                atomically(|tx| {
                    queue.push(tx, Some(item))?;
                    assert!(queue.len(tx)? <= 4, "queue over capacity");
                    Ok(())
                });
            }
            for _ in 0..CONSUMERS {
                atomically(|tx| queue.push(tx, None));
            }
        })
    };

    producer.join().expect("the producer panicked");
    let (count, sum) = consumers
        .into_iter()
        .map(|c| c.join().expect("a consumer panicked"))
        .fold((0, 0), |(c, s), (c2, s2)| (c + c2, s + s2));
    assert_eq!(count, ITEMS, "items lost or duplicated");
    assert_eq!(sum, ITEMS * (ITEMS + 1) / 2, "items changed in transit");
    println!("\n{count} items produced and consumed exactly once (sum {sum}).");
}
