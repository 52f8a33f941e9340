#![cfg(loom)]
//! A queue's stream waiting while another thread puts a value and closes the queue: the
//! value and the end both arrive (neither wake-up is lost between the stream's
//! non-waiting try and its registered wait), and the value is taken once. Under loom's
//! own `block_on` and in a Scheduler task.

use braid::coro::Scheduler;
use braid::stm::{atomically, TQueue};
use loom::thread;

/// A producer thread that puts one value, then closes the queue.
fn put_then_close(q: &TQueue<u32>) -> thread::JoinHandle<()> {
    let q = q.clone();
    thread::spawn(move || {
        q.put(1).unwrap();
        atomically(|tx| q.close(tx));
    })
}

async fn drain(q: TQueue<u32>) -> Vec<u32> {
    let mut stream = q.stream();
    let mut got = Vec::new();
    while let Some(n) = stream.next().await {
        got.push(n);
    }
    got
}

#[test]
fn a_stream_receives_a_put_and_a_close_from_another_thread() {
    loom::model(|| {
        let q = TQueue::new();
        let producer = put_then_close(&q);
        assert_eq!(loom::future::block_on(drain(q)), [1]);
        producer.join().unwrap();
    });
}

#[test]
fn a_stream_in_a_scheduler_task_receives_a_put_and_a_close() {
    loom::model(|| {
        let q = TQueue::new();
        let producer = put_then_close(&q);
        let mut scheduler = Scheduler::new();
        let task = scheduler.spawn(drain(q));
        scheduler
            .run()
            .expect("the producer holds the wake-up: no deadlock");
        assert_eq!(scheduler.block_on(task).unwrap().unwrap(), [1]);
        producer.join().unwrap();
    });
}
