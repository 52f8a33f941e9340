#![cfg(loom)]
//! `TMap` under loom. The map has no atomics of its own (it is built from `TVar`s), but it
//! reads its trie nodes in place, without a clone (`Transaction::read_in_place`), and
//! rewrites them while other transactions read them: this model checks that such reads
//! see only serializable states while commits split and shrink the trie, and (through
//! `Track`) that every key, value and node is freed. `TMap::load` reads the same nodes
//! with no transaction at all (a snapshot as of one clock time): a second model checks
//! it against a commit that splits a leaf.

use std::hash::{BuildHasher, Hasher};

use braid::stm::{atomically, TMap};
use loom::alloc::Track;
use loom::thread;

/// A value loom tracks (the `Track` is only held, for its drop): a leak of any copy fails
/// the model.
struct Tracked(u32, #[allow(dead_code)] Track<()>);

fn tracked(n: u32) -> Tracked {
    Tracked(n, Track::new(()))
}

impl Clone for Tracked {
    fn clone(&self) -> Self {
        tracked(self.0)
    }
}

/// Hashes a `u32` key to itself, so keys 1 and 33 share their first 5 bits: putting 33
/// in turns key 1's leaf into a branch, and taking 1 out turns it back.
#[derive(Clone, Default)]
struct Identity;
struct IdentityHasher(u64);
impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, _: &[u8]) {
        unreachable!("only u32 keys")
    }
    fn write_u32(&mut self, n: u32) {
        self.0 = u64::from(n);
    }
}
impl BuildHasher for Identity {
    type Hasher = IdentityHasher;
    fn build_hasher(&self) -> IdentityHasher {
        IdentityHasher(0)
    }
}

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

/// Keys 0 to `FILL - 1` fill a shard's smallest table under loom (4 slots, at most 3
/// used): inserting key `FILL` grows it, which first sweeps (embalms and unlinks) every
/// entry whose key is absent. All keys here hash to themselves, so to one shard.
const FILL: u32 = 3;

/// Predication's cleanup (`stm/map/mod.rs`, Cleanup): key 2 was removed, so its
/// variable is absent and its entry waits in the index to be swept. One thread inserts
/// a new key, which fills the shard's table and grows it, sweeping key 2's entry;
/// another inserts key 2 again, racing the sweep. However they interleave,
/// the second insert is not lost in an unlinked variable, and the new keys are all there.
#[test]
fn an_insert_racing_the_sweep_of_its_absent_key_is_not_lost() {
    loom::model(|| {
        let map: TMap<u32, Tracked, Identity> = TMap::with_hasher(Identity);
        for key in 0..FILL {
            atomically(|tx| map.insert(tx, key, tracked(key)).map(drop));
        }
        atomically(|tx| map.remove(tx, &2).map(drop));
        let grower = {
            let map = map.clone();
            thread::spawn(move || {
                atomically(|tx| map.insert(tx, FILL, tracked(FILL)).map(drop));
            })
        };
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

/// A lookup that probes while a commit's insert grows the shard's table (and sweeps
/// removed key 2 from it), and a removal of key 1, all at once: `load` never misses key
/// 0, and a transaction sees key 0 always and key 1 as it was before or after its
/// removal.
#[test]
fn reads_during_a_growth_and_a_removal_see_whole_commits() {
    loom::model(|| {
        let map: TMap<u32, Tracked, Identity> = TMap::with_hasher(Identity);
        for key in 0..FILL {
            atomically(|tx| map.insert(tx, key, tracked(key)).map(drop));
        }
        atomically(|tx| map.remove(tx, &2).map(drop));
        let grower = {
            let map = map.clone();
            thread::spawn(move || {
                atomically(|tx| map.insert(tx, FILL, tracked(FILL)).map(drop));
            })
        };
        let remover = {
            let map = map.clone();
            thread::spawn(move || {
                atomically(|tx| map.remove(tx, &2).map(drop));
            })
        };
        assert_eq!(map.load(&1).map(|v| v.0), Some(1), "load missed key 1");
        let (at_1, at_2) =
            atomically(|tx| Ok((map.get(tx, &1)?.map(|v| v.0), map.get(tx, &2)?.map(|v| v.0))));
        assert_eq!(at_1, Some(1), "a transaction missed key 1");
        assert!(at_2.is_none() || at_2 == Some(2), "key 2: {at_2:?}");
        grower.join().unwrap();
        remover.join().unwrap();
        assert_eq!(map.load(&2).map(|v| v.0), None);
    });
}
