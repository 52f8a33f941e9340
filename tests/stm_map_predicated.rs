#![cfg(not(loom))]
//! The predication prototype of `benches/predicated/mod.rs` (issue 29 item 5): checks that
//! it is a correct map, so that its bench numbers are a map's, and the measurements that
//! go beside them, ignored by default:
//! - `lookups_for_callgrind`: `LOOKUPS` lookups (or value updates) by `HOW` in a map of
//!   `KEYS` keys, to run under `valgrind --tool=callgrind` (add `--cache-sim=yes` for
//!   cache misses) twice, with N and N/2 lookups and `--toggle-collect='*look_up*'`;
//!   the difference over N/2 is one lookup.
//!
//! Its memory per entry is measured beside `TMap`'s, in `tests/stm_map_memory.rs`.

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use braid::stm::{atomically, retry, TMap};

// The bench's own copy of the prototype; the tests use all of it but `get_cloned`.
#[allow(dead_code)]
#[path = "../benches/predicated/mod.rs"]
mod predicated;
use predicated::{Optional, PredicatedMap, Presence, Word};

/// A small fast generator, as in the bench.
struct Keys(u64);

impl Keys {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32) % below
    }
}

/// A random sequence of every operation, against a `HashMap` doing the same.
fn agrees_with_hashmap<P: Presence<u64>>() {
    let map: PredicatedMap<u64, u64, P> = (0..50).map(|k| (k, k)).collect();
    let mut model: HashMap<u64, u64> = (0..50).map(|k| (k, k)).collect();
    let mut keys = Keys(3);
    for step in 0..20_000u64 {
        let key = keys.next(100);
        match keys.next(5) {
            0 => assert_eq!(
                atomically(|tx| map.insert(tx, key, step)),
                model.insert(key, step)
            ),
            1 => assert_eq!(atomically(|tx| map.remove(tx, &key)), model.remove(&key)),
            2 => assert_eq!(
                atomically(|tx| map.modify(tx, &key, |v| v + 1)),
                model.get_mut(&key).map(|v| *v += 1).is_some()
            ),
            3 => assert_eq!(atomically(|tx| map.get(tx, &key)), model.get(&key).copied()),
            _ => assert_eq!(map.load(&key), model.get(&key).copied()),
        }
    }
}

#[test]
fn prototype_with_option_agrees_with_hashmap() {
    agrees_with_hashmap::<Optional>();
}

#[test]
fn prototype_with_sentinel_agrees_with_hashmap() {
    agrees_with_hashmap::<Word>();
}

#[test]
fn prototype_transfers_on_two_threads_keep_the_total() {
    let map: PredicatedMap<u64, i64, Word> = (0..16).map(|k| (k, 100)).collect();
    thread::scope(|s| {
        for t in 0..2 {
            let map = &map;
            s.spawn(move || {
                let mut keys = Keys(t + 5);
                for _ in 0..20_000 {
                    let (from, to) = (keys.next(16), keys.next(16));
                    atomically(|tx| {
                        map.modify(tx, &from, |v| v - 1)?;
                        map.modify(tx, &to, |v| v + 1)
                    });
                }
            });
        }
    });
    let total = atomically(|tx| {
        let mut total = 0;
        for key in 0..16 {
            total += map.get(tx, &key)?.expect("no key is removed");
        }
        Ok(total)
    });
    assert_eq!(total, 1600);
}

#[test]
fn prototype_retry_on_a_missing_key_wakes_on_its_insert() {
    let map: PredicatedMap<u64, u64> = PredicatedMap::new();
    let (done, woken) = mpsc::channel();
    thread::scope(|s| {
        let map = &map;
        s.spawn(move || {
            let value = atomically(|tx| match map.get(tx, &7)? {
                Some(value) => Ok(value),
                None => retry(),
            });
            done.send(value).unwrap();
        });
        thread::sleep(Duration::from_millis(50));
        atomically(|tx| map.insert(tx, 7, 70));
        let value = woken.recv_timeout(Duration::from_secs(10));
        assert_eq!(value, Ok(70), "the waiting transaction was not woken");
    });
}

/// `lookups` lookups of random keys below `keys` by `lookup`. A function of its own, so
/// that callgrind can count it alone (`--toggle-collect='*look_up*'`): building a `TMap`
/// runs transactions whose garbage and back-off depend on time, which would not cancel
/// between two runs.
#[inline(never)]
fn look_up(lookups: u64, keys: u64, lookup: impl Fn(u64) -> Option<u64>) {
    let mut random = Keys(7);
    for _ in 0..lookups {
        black_box(lookup(random.next(keys)));
    }
}

#[test]
#[ignore = "a measurement, not a check: run it by name, under callgrind"]
fn lookups_for_callgrind() {
    let var = |name: &str| std::env::var(name).expect(name);
    let lookups: u64 = var("LOOKUPS").parse().unwrap();
    let keys: u64 = var("KEYS").parse().unwrap();
    let entries = || (0..keys).map(|k| (k, k));
    match var("HOW").as_str() {
        "tmap-get" => {
            let map: TMap<u64, u64> = entries().collect();
            look_up(lookups, keys, |k| atomically(|tx| map.get(tx, &k)));
        }
        "tmap-load" => {
            let map: TMap<u64, u64> = entries().collect();
            look_up(lookups, keys, |k| map.load(&k));
        }
        "option-get" => {
            let map: PredicatedMap<u64, u64> = entries().collect();
            look_up(lookups, keys, |k| atomically(|tx| map.get(tx, &k)));
        }
        "option-load" => {
            let map: PredicatedMap<u64, u64> = entries().collect();
            look_up(lookups, keys, |k| map.load(&k));
        }
        "word-get" => {
            let map: PredicatedMap<u64, u64, Word> = entries().collect();
            look_up(lookups, keys, |k| atomically(|tx| map.get(tx, &k)));
        }
        "word-load" => {
            let map: PredicatedMap<u64, u64, Word> = entries().collect();
            look_up(lookups, keys, |k| map.load(&k));
        }
        "dashmap-get" => {
            let map: dashmap::DashMap<u64, u64> = entries().collect();
            look_up(lookups, keys, |k| map.get(&k).map(|v| *v));
        }
        "tmap-modify" => {
            let map: TMap<u64, u64> = entries().collect();
            look_up(lookups, keys, |k| {
                atomically(|tx| map.modify(tx, &k, |v| v + 1)).then_some(k)
            });
        }
        "option-modify" => {
            let map: PredicatedMap<u64, u64> = entries().collect();
            look_up(lookups, keys, |k| {
                atomically(|tx| map.modify(tx, &k, |v| v + 1)).then_some(k)
            });
        }
        "word-modify" => {
            let map: PredicatedMap<u64, u64, Word> = entries().collect();
            look_up(lookups, keys, |k| {
                atomically(|tx| map.modify(tx, &k, |v| v + 1)).then_some(k)
            });
        }
        "dashmap-modify" => {
            let map: dashmap::DashMap<u64, u64> = entries().collect();
            look_up(lookups, keys, |k| {
                map.get_mut(&k).map(|mut v| *v += 1).map(|()| k)
            });
        }
        other => panic!("HOW={other}: not a lookup this test knows"),
    }
}
