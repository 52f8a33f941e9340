#![cfg(loom)]
//! A consumer blocked on an empty `TQueue` against a producer: the consumer always wakes
//! and gets the item. A `TBQueue` of capacity 1: the producer blocks while it is full and
//! is woken by the consumer's pop; both finish and nothing is lost or reordered.

use braid::stm::{atomically, TBQueue, TQueue};
use loom::thread;

#[test]
fn blocked_consumer_gets_the_pushed_item() {
    loom::model(|| {
        let queue = TQueue::new();
        let producer = {
            let queue = queue.clone();
            thread::spawn(move || atomically(|tx| queue.push(tx, 7)))
        };
        assert_eq!(atomically(|tx| queue.pop(tx)), 7);
        producer.join().unwrap();
        assert!(atomically(|tx| queue.is_empty(tx)));
    });
}

#[test]
fn full_bounded_queue_blocks_the_producer_until_a_pop() {
    loom::model(|| {
        let queue = TBQueue::new(1);
        let producer = {
            let queue = queue.clone();
            thread::spawn(move || {
                atomically(|tx| queue.push(tx, 1));
                atomically(|tx| queue.push(tx, 2)); // waits for the first pop
            })
        };
        let first = atomically(|tx| queue.pop(tx));
        let second = atomically(|tx| queue.pop(tx));
        producer.join().unwrap();
        assert_eq!((first, second), (1, 2));
    });
}
