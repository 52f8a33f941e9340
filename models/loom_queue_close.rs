#![cfg(loom)]
//! Parcels and closing (`stm/parcel.rs`): a value sent with `put` is received exactly
//! once, whether a consumer takes it out after its commit (`get`) or clones it inside its
//! transaction (`pop`), and the parcel's block is freed once (`Track` fails the model on a
//! leak). A close that races a blocked `get` wakes it, after it has drained what was
//! sent before the close.

use braid::stm::{atomically, TBQueue, TQueue};
use loom::alloc::Track;
use loom::thread;

/// A value loom tracks (the `Track` is only held, for its drop): a leak of any copy fails
/// the model.
struct Tracked(u32, #[allow(dead_code)] Track<()>);

impl Clone for Tracked {
    fn clone(&self) -> Self {
        Tracked(self.0, Track::new(()))
    }
}

fn tracked(n: u32) -> Tracked {
    Tracked(n, Track::new(()))
}

#[test]
fn a_put_value_is_received_once_by_a_taker_or_a_cloner() {
    loom::model(|| {
        let queue: TQueue<Tracked> = TQueue::new();
        queue.put(tracked(1)).unwrap();
        queue.put(tracked(2)).unwrap();
        let taker = {
            let queue = queue.clone();
            thread::spawn(move || queue.get().map(|v| v.0))
        };
        let cloned = atomically(|tx| queue.pop(tx)).0;
        let taken = taker.join().unwrap().expect("the queue is open");
        let mut got = [cloned, taken];
        got.sort_unstable();
        assert_eq!(got, [1, 2]);
    });
}

#[test]
fn a_close_racing_a_blocked_get_wakes_it_after_the_drain() {
    loom::model(|| {
        let queue: TBQueue<Tracked> = TBQueue::new(1);
        let consumer = {
            let queue = queue.clone();
            thread::spawn(move || {
                let first = queue.get().map(|v| v.0);
                let second = queue.get().map(|v| v.0);
                (first, second)
            })
        };
        queue.put(tracked(7)).unwrap();
        atomically(|tx| queue.close(tx));
        assert_eq!(consumer.join().unwrap(), (Some(7), None));
        assert_eq!(queue.put(tracked(8)).unwrap_err().into_inner().0, 8);
    });
}

#[test]
fn a_put_word_is_received_once_by_a_taker_or_a_cloner() {
    // A primitive scalar travels as its bits, not in a block: the same exactly-once.
    loom::model(|| {
        let queue: TQueue<u32> = TQueue::new();
        queue.put(1).unwrap();
        queue.put(2).unwrap();
        let taker = {
            let queue = queue.clone();
            thread::spawn(move || queue.get())
        };
        let cloned = atomically(|tx| queue.pop(tx));
        let taken = taker.join().unwrap().expect("the queue is open");
        let mut got = [cloned, taken];
        got.sort_unstable();
        assert_eq!(got, [1, 2]);
    });
}
