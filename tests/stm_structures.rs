#![cfg(not(loom))]
//! The STM structures under threads: hand-offs, bounds, exactly-once delivery, order,
//! broadcast, and freeing of what every receiver has read.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;

mod common;

use braid::stm::{
    atomically, or_else, StmResult, TBQueue, TChan, TMVar, TQueue, TSem, Transaction,
};
use common::counted::{settle, Counted};

#[test]
fn tmvar_hands_values_back_and_forth_between_threads() {
    let ping: TMVar<u32> = TMVar::new_empty();
    let pong: TMVar<u32> = TMVar::new_empty();
    let echo = {
        let (ping, pong) = (ping.clone(), pong.clone());
        thread::spawn(move || {
            for _ in 0..500 {
                let n = atomically(|tx| ping.take(tx));
                atomically(|tx| pong.put(tx, n + 1));
            }
        })
    };
    let mut n = 0;
    for _ in 0..500 {
        atomically(|tx| ping.put(tx, n));
        n = atomically(|tx| pong.take(tx));
    }
    echo.join().unwrap();
    assert_eq!(n, 500);
}

/// Two producers push `ITEMS` each and two consumers pop until a sentinel: every item
/// must arrive exactly once, each producer's items in the order pushed.
fn delivers_every_item_exactly_once_in_per_producer_order<Q>(
    queue: Q,
    push: fn(&Q, &mut Transaction, (usize, usize)) -> StmResult<()>,
    pop: fn(&Q, &mut Transaction) -> StmResult<(usize, usize)>,
) where
    Q: Clone + Send + 'static,
{
    const PRODUCERS: usize = 2;
    const ITEMS: usize = 2_000;
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let queue = queue.clone();
            thread::spawn(move || {
                for i in 0..ITEMS {
                    atomically(|tx| push(&queue, tx, (p, i)));
                }
            })
        })
        .collect();
    let consumers: Vec<_> = (0..2)
        .map(|_| {
            let queue = queue.clone();
            thread::spawn(move || {
                let mut got = Vec::new();
                // Stop at a sentinel, so each consumer takes a share of unknown size.
                loop {
                    let item = atomically(|tx| pop(&queue, tx));
                    if item.0 == usize::MAX {
                        return got;
                    }
                    got.push(item);
                }
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    for _ in 0..2 {
        atomically(|tx| push(&queue, tx, (usize::MAX, 0)));
    }
    let mut seen = HashSet::new();
    for consumer in consumers {
        let got = consumer.join().unwrap();
        // Each consumer sees each producer's items in the order they were pushed.
        for p in 0..PRODUCERS {
            let mine: Vec<usize> = got.iter().filter(|i| i.0 == p).map(|i| i.1).collect();
            assert!(
                mine.windows(2).all(|w| w[0] < w[1]),
                "producer {p} reordered"
            );
        }
        for item in got {
            assert!(seen.insert(item), "{item:?} delivered twice");
        }
    }
    assert_eq!(seen.len(), PRODUCERS * ITEMS, "items lost");
}

#[test]
fn tqueue_delivers_every_item_exactly_once_in_per_producer_order() {
    delivers_every_item_exactly_once_in_per_producer_order(
        TQueue::new(),
        TQueue::push,
        TQueue::pop,
    );
}

/// Capacity 200: the producers hand batches of values to the consumers (see `tbqueue.rs`).
#[test]
fn tbqueue_delivers_every_item_exactly_once_in_per_producer_order() {
    delivers_every_item_exactly_once_in_per_producer_order(
        TBQueue::new(200),
        TBQueue::push,
        TBQueue::pop,
    );
}

#[test]
fn tbqueue_never_holds_more_than_its_capacity() {
    let queue = TBQueue::new(3);
    let producer = {
        let queue = queue.clone();
        thread::spawn(move || {
            for i in 0..1_000 {
                atomically(|tx| {
                    queue.push(tx, i)?;
                    let len = queue.len(tx)?;
                    assert!(len <= 3, "length {len} over capacity");
                    Ok(())
                });
            }
        })
    };
    let got: Vec<i32> = (0..1_000).map(|_| atomically(|tx| queue.pop(tx))).collect();
    producer.join().unwrap();
    assert_eq!(got, (0..1_000).collect::<Vec<_>>());
}

#[test]
#[should_panic(expected = "capacity must be at least 1")]
fn tbqueue_of_capacity_zero_is_refused() {
    let _ = TBQueue::<u8>::new(0);
}

#[test]
fn tsem_admits_at_most_its_permits_at_once() {
    let sem = TSem::new(2);
    let inside = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (sem, inside, most) = (sem.clone(), inside.clone(), most.clone());
            thread::spawn(move || {
                for _ in 0..200 {
                    atomically(|tx| sem.acquire(tx));
                    let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    thread::yield_now();
                    inside.fetch_sub(1, Ordering::SeqCst);
                    atomically(|tx| sem.release(tx));
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    assert!(
        most.load(Ordering::SeqCst) <= 2,
        "more holders than permits"
    );
    assert_eq!(atomically(|tx| sem.available(tx)), 2, "a permit was lost");
}

#[test]
fn tchan_subscribers_see_every_later_message_in_order() {
    let chan = TChan::new();
    let early = chan.subscribe();
    atomically(|tx| chan.send(tx, 0));
    let late = chan.subscribe();
    let listeners: Vec<_> = [(early, 0..300), (late, 1..300)]
        .into_iter()
        .map(|(rx, expected)| {
            thread::spawn(move || {
                let got: Vec<i32> = expected
                    .clone()
                    .map(|_| atomically(|tx| rx.recv(tx)))
                    .collect();
                assert_eq!(got, expected.collect::<Vec<_>>());
            })
        })
        .collect();
    for i in 1..300 {
        atomically(|tx| chan.send(tx, i));
    }
    for l in listeners {
        l.join().unwrap();
    }
}

#[test]
fn tchan_frees_messages_once_every_receiver_has_passed_them() {
    let live = Arc::new(AtomicUsize::new(0));
    let chan = TChan::new();
    let reader = chan.subscribe();
    let dropped_reader = chan.subscribe();
    for _ in 0..10_000 {
        atomically(|tx| chan.send(tx, Counted::new(&live)));
    }
    for _ in 0..10_000 {
        drop(atomically(|tx| reader.recv(tx)));
    }
    // `dropped_reader` still holds every message.
    assert!(live.load(Ordering::SeqCst) >= 10_000);
    drop(dropped_reader);
    // Now nobody needs them: dropping the slow receiver frees the whole run at once (a
    // chain of TVars would free one link per epoch). What may remain are the few values
    // in this thread's batch of retired nodes, handed to the collector 32 at a time.
    let left = settle(&live, 32);
    assert!(left <= 32, "{left} read messages were kept alive");
    drop(chan);
}

#[test]
fn or_else_takes_from_whichever_queue_has_an_item() {
    let (urgent, normal) = (TQueue::new(), TQueue::new());
    atomically(|tx| normal.push(tx, "normal"));
    let take = || atomically(|tx| or_else(tx, |tx| urgent.pop(tx), |tx| normal.pop(tx)));
    assert_eq!(take(), "normal");
    let waiter = {
        let (urgent, normal) = (urgent.clone(), normal.clone());
        thread::spawn(move || {
            atomically(|tx| or_else(tx, |tx| urgent.pop(tx), |tx| normal.pop(tx)))
        })
    };
    atomically(|tx| urgent.push(tx, "urgent"));
    assert_eq!(waiter.join().unwrap(), "urgent");
}

#[test]
fn moving_between_queues_is_atomic() {
    let (from, to) = (TQueue::new(), TQueue::new());
    atomically(|tx| (0..100).try_for_each(|i| from.push(tx, i)));
    let movers: Vec<_> = (0..2)
        .map(|_| {
            let (from, to) = (from.clone(), to.clone());
            thread::spawn(move || {
                while atomically(|tx| match from.try_pop(tx)? {
                    Some(item) => to.push(tx, item).map(|_| true),
                    None => Ok(false),
                }) {}
            })
        })
        .collect();
    // An observer never sees an item in flight: the two lengths always sum to 100.
    for _ in 0..200 {
        let total = atomically(|tx| Ok(from.len(tx)? + to.len(tx)?));
        assert_eq!(total, 100);
    }
    for m in movers {
        m.join().unwrap();
    }
    assert_eq!(atomically(|tx| to.len(tx)), 100);
}
