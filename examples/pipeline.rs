//! A Kamaelia-style pipeline on the round-robin scheduler: a producer, a transformer and
//! a consumer task joined by `TQueue`s. A task whose queue is empty retries its
//! transaction and is suspended until something is pushed.
//!
//! Run with `cargo run --release --example pipeline`.

use braid::coro::Scheduler;
use braid::stm::{atomically, atomically_async, TQueue};

fn main() {
    let mut scheduler = Scheduler::new();
    let lines: TQueue<Option<String>> = TQueue::new();
    let shouted: TQueue<Option<String>> = TQueue::new();

    let producer = {
        let lines = lines.clone();
        scheduler.spawn(async move {
            for word in ["braid", "weaves", "tasks", "together"] {
                atomically(|tx| lines.push(tx, Some(word.to_string())));
                println!("producer:    sent {word:?}");
                braid::coro::yield_now().await;
            }
            atomically(|tx| lines.push(tx, None)); // end of stream
        })
    };
    let transformer = {
        let (lines, shouted) = (lines.clone(), shouted.clone());
        scheduler.spawn(async move {
            while let Some(line) = atomically_async(|tx| lines.pop(tx)).await {
                let loud = line.to_uppercase();
                println!("transformer: {line:?} -> {loud:?}");
                atomically(|tx| shouted.push(tx, Some(loud.clone())));
            }
            atomically(|tx| shouted.push(tx, None));
        })
    };
    let consumer = scheduler.spawn(async move {
        let mut received = Vec::new();
        while let Some(loud) = atomically_async(|tx| shouted.pop(tx)).await {
            println!("consumer:    got {loud:?}");
            received.push(loud);
        }
        received
    });

    let received = scheduler.block_on(consumer).expect("no deadlock").unwrap();
    scheduler
        .run()
        .expect("the producer and transformer finish");
    assert!(producer.is_finished() && transformer.is_finished());
    assert_eq!(received, ["BRAID", "WEAVES", "TASKS", "TOGETHER"]);
    println!("pipeline delivered {} items in order", received.len());
}
