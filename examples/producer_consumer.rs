//! The classic threads-and-a-queue program: a producer thread puts work on a bounded
//! queue, consumer threads take it off, and closing the queue tells every consumer to
//! stop once the work is done (Python 3.13's `Queue.shutdown()`; no sentinel per
//! consumer). Python's `queue.Queue(maxsize=4)` becomes a `TBQueue` of capacity 4.
//!
//! Run it with `cargo run --release --example producer_consumer`. It checks that every
//! item was consumed exactly once and that the queue never held more than 4.

use std::thread;

use braid::stm::{atomically, TBQueue};

const ITEMS: u64 = 10_000;
const CONSUMERS: usize = 3;

fn main() {
    let queue: TBQueue<u64> = TBQueue::new(4);

    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|id| {
            let queue = queue.clone();
            thread::spawn(move || {
                let (mut count, mut sum) = (0u64, 0u64);
                // Blocks while the queue is empty, like `queue.get()`; ends once the
                // queue is closed and empty.
                for item in queue.iter() {
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
                queue
                    .put(item)
                    .expect("nobody closes the queue but this thread");
                assert!(atomically(|tx| queue.len(tx)) <= 4, "queue over capacity");
            }
            // No more work: consumers take what is left, then their loops end.
            atomically(|tx| queue.close(tx));
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
