#![cfg(loom)]
//! The worker ring, the `join` deque and the injector: every entry pushed comes out
//! exactly once, whether the owner pops it, a thief steals it, or an overflow moves it to
//! the injector; also when the ring's indices wrap around `u32::MAX`.

use braid::__loom::{deque, new, new_at, Injector, Local, Stealer, CAPACITY};
use loom::sync::Arc;
use loom::thread;

fn drain(local: &mut Local<u32>, into: &mut Vec<u32>) {
    while let Some(value) = local.pop() {
        into.push(value);
    }
}

/// The owner pushes one more entry than the ring holds (so it overflows unless the thief
/// made room) and pops the rest, while a thief steals.
fn overflow_and_steal(start: u32) {
    loom::model(move || {
        let (mut owner, stealer): (Local<u32>, Stealer<u32>) = new_at(start);
        let injector = Arc::new(Injector::new());
        let total = CAPACITY as u32 + 1;
        let thief = thread::spawn(move || {
            let (mut own, _) = new::<u32>();
            let mut got = Vec::new();
            if let Some(value) = stealer.steal_into(&mut own) {
                got.push(value);
            }
            drain(&mut own, &mut got);
            got
        });
        let mut got = Vec::new();
        for value in 0..total {
            owner.push_back(value, &*injector);
        }
        drain(&mut owner, &mut got);
        got.extend(thief.join().unwrap());
        got.extend(injector.drain());
        got.sort_unstable();
        assert_eq!(got, (0..total).collect::<Vec<_>>());
    });
}

#[test]
fn overflow_pop_and_steal_lose_and_duplicate_nothing() {
    overflow_and_steal(0);
}

#[test]
fn the_same_holds_when_the_indices_wrap() {
    overflow_and_steal(u32::MAX - 2);
}

#[test]
fn the_injector_hands_out_each_entry_once() {
    loom::model(|| {
        let injector = Arc::new(Injector::new());
        let producers: Vec<_> = (0..2u32)
            .map(|p| {
                let injector = injector.clone();
                thread::spawn(move || injector.push(p))
            })
            .collect();
        let mut got = Vec::new();
        injector.pop_batch(4, |value| got.push(value));
        for producer in producers {
            producer.join().unwrap();
        }
        got.extend(injector.drain());
        got.sort_unstable();
        assert_eq!(got, [0, 1]);
        assert!(injector.is_empty());
    });
}

#[test]
fn join_deque_take_and_two_thieves_share_the_jobs_exactly_once() {
    loom::model(|| {
        let (mut owner, thief) = deque::new();
        assert!(owner.push(1) && owner.push(2));
        let thieves: Vec<_> = (0..2)
            .map(|_| {
                let thief = thief.clone();
                thread::spawn(move || thief.steal())
            })
            .collect();
        let mut got: Vec<usize> = owner.take().into_iter().collect();
        for thief in thieves {
            got.extend(thief.join().unwrap());
        }
        got.extend(owner.take());
        got.sort_unstable();
        assert_eq!(got, [1, 2]);
        assert_eq!(owner.take(), None);
    });
}

#[test]
fn a_slot_is_reused_only_after_its_thief_is_done() {
    loom::model(|| {
        let (mut owner, thief) = deque::new();
        assert!(owner.push(1));
        let stealer = thread::spawn(move || thief.steal());
        // Fill and drain around the ring (capacity 2 under loom) while the thief works.
        let mut got: Vec<usize> = Vec::new();
        for n in 2..5 {
            if !owner.push(n) {
                got.extend(owner.take());
                assert!(owner.push(n));
            }
        }
        while let Some(n) = owner.take() {
            got.push(n);
        }
        got.extend(stealer.join().unwrap());
        got.sort_unstable();
        assert_eq!(got, [1, 2, 3, 4]);
    });
}
