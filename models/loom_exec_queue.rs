#![cfg(loom)]
//! The worker ring and the injector: every entry pushed comes out exactly once, whether
//! the owner pops it (either end), a thief steals it, or an overflow moves it to the
//! injector; also when the indices wrap around `u32::MAX`.

use braid::__loom::{new, new_at, Injector, Local, Stealer, CAPACITY};
use loom::sync::Arc;
use loom::thread;

fn drain(local: &mut Local<u32>, into: &mut Vec<u32>) {
    while let Some(value) = local.pop() {
        into.push(value);
    }
}

/// The owner pushes one more entry than the ring holds (so it overflows unless the thief
/// made room), takes one back from the tail, and pops the rest, while a thief steals.
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
        got.extend(owner.pop_back());
        drain(&mut owner, &mut got);
        got.extend(thief.join().unwrap());
        got.extend(injector.drain());
        got.sort_unstable();
        assert_eq!(got, (0..total).collect::<Vec<_>>());
    });
}

#[test]
fn overflow_pop_back_and_steal_lose_and_duplicate_nothing() {
    overflow_and_steal(0);
}

#[test]
fn the_same_holds_when_the_indices_wrap() {
    overflow_and_steal(u32::MAX - 2);
}

#[test]
fn pop_back_and_a_thief_race_for_the_last_entry() {
    loom::model(|| {
        let (mut owner, stealer) = new::<u32>();
        let injector = Injector::new();
        owner.push_back(1, &injector);
        owner.push_back(2, &injector);
        let thief = thread::spawn(move || {
            let (mut own, _) = new::<u32>();
            let mut got: Vec<u32> = stealer.steal_into(&mut own).into_iter().collect();
            drain(&mut own, &mut got);
            got
        });
        let mut got: Vec<u32> = owner.pop_back().into_iter().collect();
        got.extend(owner.pop_back());
        got.extend(thief.join().unwrap());
        got.sort_unstable();
        assert_eq!(got, [1, 2]);
        assert!(owner.pop().is_none() && owner.pop_back().is_none());
    });
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
fn pop_back_against_two_thieves() {
    loom::model(|| {
        let (mut owner, stealer) = new::<u32>();
        let injector = Injector::new();
        for value in 0..3 {
            owner.push_back(value, &injector);
        }
        let thieves: Vec<_> = (0..2)
            .map(|_| {
                let stealer = stealer.clone();
                thread::spawn(move || {
                    let (mut own, _) = new::<u32>();
                    let mut got: Vec<u32> = stealer.steal_into(&mut own).into_iter().collect();
                    drain(&mut own, &mut got);
                    got
                })
            })
            .collect();
        let mut got: Vec<u32> = owner.pop_back().into_iter().collect();
        for thief in thieves {
            got.extend(thief.join().unwrap());
        }
        drain(&mut owner, &mut got);
        got.sort_unstable();
        assert_eq!(got, [0, 1, 2]);
    });
}
