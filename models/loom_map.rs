#![cfg(loom)]
//! `TMap` under loom: a key moved from one entry to another in one commit while other
//! transactions update and read it, and `TMap::load` against a commit that inserts a
//! key in the same probe chain and updates another; and (through `Track`) that every
//! key and value is freed. The index's sweep is in `loom_map_sweep.rs`.

use braid::stm::{atomically, TMap};
use loom::thread;

#[path = "common/map_keys.rs"]
mod map_keys;
use map_keys::{tracked, Identity, Tracked};

#[test]
fn a_key_moved_in_one_transaction_is_seen_in_exactly_one_place() {
    loom::model(|| {
        let map: TMap<u32, Tracked, Identity> = TMap::with_hasher(Identity);
        atomically(|tx| map.insert(tx, 1, tracked(10)).map(drop));
        // Moves key 1's value to key 33: a split, then a removal, in one commit.
        let mover = {
            let map = map.clone();
            thread::spawn(move || {
                atomically(|tx| {
                    let value = map.remove(tx, &1)?.expect("key 1 is there until moved");
                    map.insert(tx, 33, value).map(drop)
                })
            })
        };
        // Adds one to whichever key holds the value.
        let bumper = {
            let map = map.clone();
            thread::spawn(move || {
                atomically(|tx| {
                    let bump = |v: Tracked| tracked(v.0 + 1);
                    if !map.modify(tx, &1, bump)? {
                        assert!(map.modify(tx, &33, bump)?, "the value is at 1 or at 33");
                    }
                    Ok(())
                })
            })
        };
        let (at_1, at_33) = atomically(|tx| {
            let at_1 = map.get(tx, &1)?.map(|v| v.0);
            Ok((at_1, map.get(tx, &33)?.map(|v| v.0)))
        });
        assert!(
            at_1.is_some() != at_33.is_some(),
            "seen at 1: {at_1:?}, at 33: {at_33:?}"
        );
        mover.join().unwrap();
        bumper.join().unwrap();
        let end = atomically(|tx| {
            Ok((
                map.get(tx, &1)?.map(|v| v.0),
                map.get(tx, &33)?.map(|v| v.0),
            ))
        });
        assert_eq!(end, (None, Some(11)));
    });
}

/// `TMap::load` reads outside any transaction while a commit splits key 1's leaf (key 33
/// shares its first 5 bits) and bumps key 1's value. A load sees key 1 before or after
/// the commit, never missing; and once a load has seen the bump, a later load of 33
/// sees the insert of the same commit (one thread's loads do not go back in time).
#[test]
fn a_load_during_a_split_sees_the_key_and_whole_commits() {
    loom::model(|| {
        let map: TMap<u32, Tracked, Identity> = TMap::with_hasher(Identity);
        atomically(|tx| map.insert(tx, 1, tracked(10)).map(drop));
        let splitter = {
            let map = map.clone();
            thread::spawn(move || {
                atomically(|tx| {
                    map.insert(tx, 33, tracked(0))?;
                    map.modify(tx, &1, |v| tracked(v.0 + 1)).map(drop)
                })
            })
        };
        let at_1 = map.load(&1).expect("key 1 is always present").0;
        assert!(at_1 == 10 || at_1 == 11, "a value no commit wrote: {at_1}");
        if at_1 == 11 {
            assert!(map.load(&33).is_some(), "saw half of a commit");
        }
        splitter.join().unwrap();
        assert_eq!(map.load(&1).map(|v| v.0), Some(11));
    });
}
