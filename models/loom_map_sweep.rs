#![cfg(loom)]
//! `TMap`'s cleanup under loom (`stm/map/mod.rs`, Cleanup): a shard's table fills and
//! grows while other transactions insert, remove and read, so its sweep embalms and
//! unlinks absent keys' variables under them: an insert of a removed key, after a
//! transactional read of it, racing the sweep of its variable.

use braid::stm::{atomically, retry, TMap};
use loom::thread;

#[path = "common/map_keys.rs"]
mod map_keys;
use map_keys::{tracked, Identity, Tracked};

/// Keys 0 to `FILL - 1` fill a shard's smallest table under loom (4 slots, at most 3
/// used): inserting key `FILL` grows it, which first sweeps (embalms and unlinks) every
/// entry whose key is absent. All keys here hash to themselves, so to one shard.
const FILL: u32 = 3;

/// A shard's table filled with keys 0 to `FILL - 1`, then key 2 removed: its variable is
/// absent, and its entry waits in the index for the next sweep.
fn full_with_key_2_removed() -> TMap<u32, Tracked, Identity> {
    let map = TMap::with_hasher(Identity);
    for key in 0..FILL {
        atomically(|tx| map.insert(tx, key, tracked(key)).map(drop));
    }
    atomically(|tx| map.remove(tx, &2).map(drop));
    map
}

/// Inserts key `FILL`, which grows the full table and so sweeps key 2's entry.
fn grow(map: &TMap<u32, Tracked, Identity>) {
    atomically(|tx| map.insert(tx, FILL, tracked(FILL)).map(drop));
}

/// `grow` on a thread of its own.
fn grow_on_a_thread(map: &TMap<u32, Tracked, Identity>) -> thread::JoinHandle<()> {
    let map = map.clone();
    thread::spawn(move || grow(&map))
}

/// Predication's cleanup (`stm/map/mod.rs`, Cleanup): key 2 was removed, so its
/// variable is absent and its entry waits in the index to be swept. One thread inserts
/// a new key, which fills the shard's table and grows it, sweeping key 2's entry;
/// another inserts key 2 again, racing the sweep. However they interleave,
/// the second insert is not lost in an unlinked variable, and the new keys are all there.
#[test]
fn an_insert_racing_the_sweep_of_its_absent_key_is_not_lost() {
    loom::model(|| {
        let map = full_with_key_2_removed();
        let grower = grow_on_a_thread(&map);
        let reinserter = {
            let map = map.clone();
            thread::spawn(move || {
                atomically(|tx| {
                    assert!(map.get(tx, &2)?.is_none(), "key 2 was removed");
                    map.insert(tx, 2, tracked(20)).map(drop)
                })
            })
        };
        grower.join().unwrap();
        reinserter.join().unwrap();
        let (at_2, len) = atomically(|tx| Ok((map.get(tx, &2)?.map(|v| v.0), map.len(tx)?)));
        assert_eq!(at_2, Some(20), "the reinsert of key 2 was lost");
        assert_eq!(len, FILL as usize + 1);
        assert_eq!(map.load(&2).map(|v| v.0), Some(20));
    });
}

/// The same race, with the insert into key 2's absent variable made first and a walk of
/// the map after it, in one attempt (`tx/slot.rs`, Unlinks): if the sweep embalms and
/// unlinks the variable in between, the attempt is doomed, and must find that out before
/// its walk shows the key it just wrote as missing.
#[test]
fn a_walk_never_misses_the_attempts_own_write_to_a_swept_variable() {
    loom::model(|| {
        let map = full_with_key_2_removed();
        let grower = grow_on_a_thread(&map);
        let writer = {
            let map = map.clone();
            thread::spawn(move || {
                atomically(|tx| {
                    map.insert(tx, 2, tracked(20))?;
                    let keys: Vec<u32> = map.to_vec(tx)?.iter().map(|(k, _)| *k).collect();
                    assert!(keys.contains(&2), "the attempt's own insert left its walk");
                    Ok(())
                })
            })
        };
        grower.join().unwrap();
        writer.join().unwrap();
        assert_eq!(map.load(&2).map(|v| v.0), Some(20));
    });
}

/// A variable's core lives inline in its index entry (`map/key_var.rs`), and a transaction
/// parked in `retry` holds a counted reference to it. Here one waits for key 2 while the
/// other thread's insert grows the table, sweeping key 2's absent variable (embalmed,
/// unlinked, its waiter woken, the entry's free deferred), and then inserts key 2 again:
/// the entry must outlive the waiter's use of its core (loom fails an access after the
/// free), and the waiter must wake and find the new value.
#[test]
fn a_waiter_on_a_swept_key_keeps_its_entry_alive_and_sees_the_reinsert() {
    loom::model(|| {
        let map = full_with_key_2_removed();
        let waiter = {
            let map = map.clone();
            thread::spawn(move || {
                atomically(|tx| match map.get(tx, &2)? {
                    Some(value) => Ok(value.0),
                    None => retry(),
                })
            })
        };
        grow(&map);
        atomically(|tx| map.insert(tx, 2, tracked(22)).map(drop));
        assert_eq!(waiter.join().unwrap(), 22);
    });
}
