//! Random programs of `TMap` and `TSet` operations, run on braid and on `HashMap` /
//! `HashSet` models.
//!
//! A program is decoded from bytes, so the fuzz target and the property tests share it.
//! Keys are small numbers hashed by [`Crowded`], which puts them where a trie is easy to
//! get wrong: some share one whole hash (collisions), some differ only in the top bits
//! (the deepest splits), the rest spread out. A transaction may end by aborting (a
//! `retry` caught by `or_else`): its effects must vanish. `Load` reads a key with
//! `TMap::load` (`TSet::contains_now`) in the middle of a transaction: it must answer
//! from the last committed state, not the transaction's own writes; and after every
//! transaction every key's `load` must agree with the model.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hasher};

use braid::stm::{atomically, or_else, retry, StmResult, TMap, TSet, Transaction};

/// One operation, on key `k` (and value `v`).
#[derive(Clone, Debug)]
pub enum Op {
    Insert(u8, u32),
    Remove(u8),
    Get(u8),
    /// `TMap::load` / `TSet::contains_now`, outside the running transaction.
    Load(u8),
    Contains(u8),
    Modify(u8),
    Upsert(u8, u32),
    Len,
    Snapshot,
    RetainOdd,
    Clear,
}

/// What an operation answered, compared between braid and the model.
#[derive(Clone, Debug, PartialEq)]
pub enum Answer {
    Value(Option<u32>),
    Flag(bool),
    Len(usize),
    Entries(Vec<(u8, u32)>),
    Done,
}

/// A transaction: its operations, and whether it aborts at the end.
#[derive(Clone, Debug)]
pub struct Txn {
    pub ops: Vec<Op>,
    pub abort: bool,
}

/// Keys below 8 all share one hash; keys 8 to 23 differ only in the top 4 bits of the
/// hash; the rest are mixed.
#[derive(Clone, Default)]
pub struct Crowded;

pub struct CrowdedHasher(u64);

impl Hasher for CrowdedHasher {
    fn finish(&self) -> u64 {
        match self.0 {
            0..8 => 0x5555_0000_0000_1234,
            k @ 8..24 => (k - 8) << 60 | 0x0000_0000_0000_0777,
            k => k.wrapping_mul(0x9E37_79B9_7F4A_7C15),
        }
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0 << 8 | u64::from(b);
        }
    }
}

impl BuildHasher for Crowded {
    type Hasher = CrowdedHasher;
    fn build_hasher(&self) -> CrowdedHasher {
        CrowdedHasher(0)
    }
}

/// Decodes bytes into transactions: each byte pair is an operation, and a byte of 250 or
/// more ends a transaction (an odd one aborts it).
pub fn decode(bytes: &[u8]) -> Vec<Txn> {
    let mut program = Vec::new();
    let mut ops = Vec::new();
    let mut bytes = bytes.iter().copied();
    while let Some(b) = bytes.next() {
        if b >= 250 {
            program.push(Txn {
                ops: std::mem::take(&mut ops),
                abort: b % 2 == 1,
            });
            continue;
        }
        let arg = bytes.next().unwrap_or(0);
        let key = arg % 40;
        let value = u32::from(arg) * 3 + u32::from(b);
        ops.push(match b % 16 {
            0..=3 => Op::Insert(key, value),
            4..=5 => Op::Remove(key),
            6..=7 => Op::Get(key),
            8 => Op::Contains(key),
            9 => Op::Modify(key),
            10..=11 => Op::Upsert(key, value),
            12 => Op::Len,
            13 => Op::Snapshot,
            14 => Op::RetainOdd,
            _ if arg % 8 == 0 => Op::Clear,
            _ => Op::Load(key),
        });
    }
    if !ops.is_empty() {
        program.push(Txn { ops, abort: false });
    }
    program
}

/// Applies `op` to the model, `map`, in a transaction that started from `committed`.
pub fn model_op(map: &mut HashMap<u8, u32>, committed: &HashMap<u8, u32>, op: &Op) -> Answer {
    match *op {
        Op::Load(k) => Answer::Value(committed.get(&k).copied()),
        Op::Insert(k, v) => Answer::Value(map.insert(k, v)),
        Op::Remove(k) => Answer::Value(map.remove(&k)),
        Op::Get(k) => Answer::Value(map.get(&k).copied()),
        Op::Contains(k) => Answer::Flag(map.contains_key(&k)),
        Op::Modify(k) => Answer::Flag(map.get_mut(&k).map(|v| *v = v.wrapping_mul(3)).is_some()),
        Op::Upsert(k, v) => {
            let slot = map.entry(k).or_insert(0);
            *slot = slot.wrapping_add(v);
            Answer::Done
        }
        Op::Len => Answer::Len(map.len()),
        Op::Snapshot => {
            let mut all: Vec<_> = map.iter().map(|(&k, &v)| (k, v)).collect();
            all.sort_unstable();
            Answer::Entries(all)
        }
        Op::RetainOdd => {
            map.retain(|_, v| *v % 2 == 1);
            Answer::Done
        }
        Op::Clear => {
            map.clear();
            Answer::Done
        }
    }
}

/// Applies `op` to braid's map.
pub fn braid_op(map: &TMap<u8, u32, Crowded>, tx: &mut Transaction, op: &Op) -> StmResult<Answer> {
    Ok(match *op {
        Op::Insert(k, v) => Answer::Value(map.insert(tx, k, v)?),
        Op::Remove(k) => Answer::Value(map.remove(tx, &k)?),
        Op::Get(k) => Answer::Value(map.get(tx, &k)?),
        Op::Load(k) => Answer::Value(map.load(&k)),
        Op::Contains(k) => Answer::Flag(map.contains_key(tx, &k)?),
        Op::Modify(k) => Answer::Flag(map.modify(tx, &k, |v| v.wrapping_mul(3))?),
        Op::Upsert(k, v) => {
            map.upsert(tx, k, |old| old.unwrap_or(0).wrapping_add(v))?;
            Answer::Done
        }
        Op::Len => {
            let len = map.len(tx)?;
            assert_eq!(len == 0, map.is_empty(tx)?, "is_empty disagrees with len");
            Answer::Len(len)
        }
        Op::Snapshot => {
            let mut all = map.to_vec(tx)?;
            all.sort_unstable();
            let mut visited = Vec::new();
            map.for_each(tx, |&k, &v| visited.push((k, v)))?;
            visited.sort_unstable();
            assert_eq!(all, visited, "for_each disagrees with to_vec");
            Answer::Entries(all)
        }
        Op::RetainOdd => {
            map.retain(tx, |_, v| *v % 2 == 1)?;
            Answer::Done
        }
        Op::Clear => {
            map.clear(tx)?;
            Answer::Done
        }
    })
}

/// Runs `txn` on braid's map in one transaction; `None` if it aborted.
pub fn braid_txn(map: &TMap<u8, u32, Crowded>, txn: &Txn) -> Option<Vec<Answer>> {
    atomically(|tx| {
        or_else(
            tx,
            |tx| {
                let answers = (txn.ops.iter())
                    .map(|op| braid_op(map, tx, op))
                    .collect::<StmResult<Vec<_>>>()?;
                if txn.abort {
                    return retry();
                }
                Ok(Some(answers))
            },
            |_| Ok(None),
        )
    })
}

/// Runs `txn` on the model: its answers, and the model changed unless it aborts.
pub fn model_txn(model: &mut HashMap<u8, u32>, txn: &Txn) -> Option<Vec<Answer>> {
    let mut scratch = model.clone();
    let answers = txn
        .ops
        .iter()
        .map(|op| model_op(&mut scratch, model, op))
        .collect();
    if txn.abort {
        return None;
    }
    *model = scratch;
    Some(answers)
}

/// The map's contents, sorted, read in one transaction.
pub fn contents(map: &TMap<u8, u32, Crowded>) -> Vec<(u8, u32)> {
    let mut all = atomically(|tx| map.to_vec(tx));
    all.sort_unstable();
    all
}

/// Runs `program` on a `TMap` and on a `HashMap` one transaction at a time, and panics
/// at the first difference in an answer or in the contents after a transaction.
pub fn check_map_against_model(program: &[Txn]) {
    let map = TMap::with_hasher(Crowded);
    let mut model = HashMap::new();
    for (i, txn) in program.iter().enumerate() {
        let expected = model_txn(&mut model, txn);
        assert_eq!(braid_txn(&map, txn), expected, "transaction {i}: {txn:?}");
        let mut want: Vec<_> = model.iter().map(|(&k, &v)| (k, v)).collect();
        want.sort_unstable();
        assert_eq!(contents(&map), want, "after transaction {i}");
        for k in 0..40 {
            let loaded = map.load(&k);
            assert_eq!(
                loaded,
                model.get(&k).copied(),
                "load({k}) after transaction {i}"
            );
        }
    }
}

/// The same program on a `TSet` of the keys against a `HashSet`: inserts, removals and
/// membership, in transactions that may abort.
pub fn check_set_against_model(program: &[Txn]) {
    let set: TSet<u8, Crowded> = TSet::with_hasher(Crowded);
    let mut model = HashSet::new();
    for (i, txn) in program.iter().enumerate() {
        let mut scratch = model.clone();
        let expected: Vec<_> = (txn.ops.iter())
            .map(|op| match *op {
                Op::Insert(k, _) | Op::Upsert(k, _) => Answer::Flag(scratch.insert(k)),
                Op::Remove(k) => Answer::Flag(scratch.remove(&k)),
                Op::Len => Answer::Len(scratch.len()),
                Op::RetainOdd => {
                    scratch.retain(|k| k % 2 == 1);
                    Answer::Done
                }
                Op::Clear => {
                    scratch.clear();
                    Answer::Done
                }
                Op::Get(k) | Op::Contains(k) | Op::Modify(k) => Answer::Flag(scratch.contains(&k)),
                Op::Load(k) => Answer::Flag(model.contains(&k)),
                Op::Snapshot => {
                    let mut all: Vec<_> = scratch.iter().map(|&k| (k, 0)).collect();
                    all.sort_unstable();
                    Answer::Entries(all)
                }
            })
            .collect();
        let got = atomically(|tx| {
            or_else(
                tx,
                |tx| {
                    let mut answers = Vec::new();
                    for op in &txn.ops {
                        answers.push(match *op {
                            Op::Insert(k, _) | Op::Upsert(k, _) => Answer::Flag(set.insert(tx, k)?),
                            Op::Remove(k) => Answer::Flag(set.remove(tx, &k)?),
                            Op::Len => Answer::Len(set.len(tx)?),
                            Op::RetainOdd => {
                                set.retain(tx, |k| k % 2 == 1)?;
                                Answer::Done
                            }
                            Op::Clear => {
                                set.clear(tx)?;
                                Answer::Done
                            }
                            Op::Get(k) | Op::Contains(k) | Op::Modify(k) => {
                                Answer::Flag(set.contains(tx, &k)?)
                            }
                            Op::Load(k) => Answer::Flag(set.contains_now(&k)),
                            Op::Snapshot => {
                                let mut all: Vec<_> =
                                    set.to_vec(tx)?.into_iter().map(|k| (k, 0)).collect();
                                all.sort_unstable();
                                Answer::Entries(all)
                            }
                        });
                    }
                    if txn.abort {
                        return retry();
                    }
                    Ok(Some(answers))
                },
                |_| Ok(None),
            )
        });
        let expected = (!txn.abort).then_some(expected);
        assert_eq!(got, expected, "transaction {i}: {txn:?}");
        if !txn.abort {
            model = scratch;
        }
        let mut now = atomically(|tx| set.to_vec(tx));
        now.sort_unstable();
        let mut want: Vec<_> = model.iter().copied().collect();
        want.sort_unstable();
        assert_eq!(now, want, "after transaction {i}");
        for k in 0..40 {
            let present = model.contains(&k);
            assert_eq!(
                set.contains_now(&k),
                present,
                "contains_now({k}) after transaction {i}"
            );
        }
    }
}
