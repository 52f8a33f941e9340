//! Transactional predication (Bronson, Casper, Chafi, Olukotun, PODC 2010) on braid's
//! public API. **A measuring prototype for issue 29 item 5, not a product**: it exists to
//! put numbers beside `TMap` in `benches/stm_map.rs`, and leaves out what a product owes.
//!
//! An ordinary concurrent hash index, outside the STM, maps each key to one variable of
//! its own: a present key's variable holds its value, an absent key's holds "absent". The
//! index is 64 shards picked by the key's hash, each a `std::sync::RwLock<HashMap>`. A
//! transaction reads and writes only the variables of the keys it touches, so conflicts
//! are per key: updates, inserts and removes of different keys never conflict, and a
//! lookup of an absent key creates that key's variable (holding "absent") so that the
//! transaction conflicts with, and a `retry` waits for, that key's later insertion.
//!
//! What it leaves out, so that its times are an upper bound on predication's speed:
//! - **No cleanup.** Variables are never removed while the map lives, not even for removed
//!   or never-present keys (a lookup of a missing key leaves a variable behind). The
//!   paper's `embalm`/`resurrect` protocol, which removes a variable holding "absent" from
//!   the index without breaking serializability, is not built.
//! - **No whole-map operations** (`len`, iteration, `retain`, `clear`): the index is not
//!   transactional, so they would need a transactional size or a snapshot of the index.
//! - A lookup clones the key into its probe (`K: Clone`; free for the `u64` keys here):
//!   std's `HashMap` cannot probe with a hash computed beforehand and a borrowed key.
//!
//! "Absent" has two encodings, to measure what it costs ([`Presence`]): `Option<V>` (as
//! the paper does), which braid keeps in a heap node per value even for `u64`, so every
//! read follows one more pointer and every write allocates; and a reserved sentinel value
//! of a word type (`Word`), which braid keeps in the variable itself, standing for what
//! a presence bit inside the variable would give an implementation in `src/`.
//!
//! The variable is used while its shard's lock is held (read lock, or the write lock
//! when it was just created), so a reference to it never outlives the lock and no
//! `unsafe` is needed. Reborrowing the variable past the unlock (it never moves while
//! the map lives) would take and release the same lock, only earlier.
//! [`PredicatedMap::get_cloned`] is the other safe shape: the handle cloned out (a
//! reference count incremented and decremented).

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher};
use std::marker::PhantomData;
use std::sync::RwLock;

use braid::stm::{StmResult, TVar, Transaction};

const SHARDS: usize = 64;

/// How a key's variable says "absent".
pub trait Presence<V> {
    /// What the variable holds.
    type Repr: Clone + Send + Sync + 'static;
    fn present(value: V) -> Self::Repr;
    fn absent() -> Self::Repr;
    fn value(repr: Self::Repr) -> Option<V>;
}

/// "Absent" is `None`: any value type, each value in a heap node of its own.
pub struct Optional;

impl<V: Clone + Send + Sync + 'static> Presence<V> for Optional {
    type Repr = Option<V>;
    fn present(value: V) -> Option<V> {
        Some(value)
    }
    fn absent() -> Option<V> {
        None
    }
    fn value(repr: Option<V>) -> Option<V> {
        repr
    }
}

/// "Absent" is a reserved value of a word type, which braid keeps in the variable itself.
pub struct Word;

/// A word type with a value that the map reserves for "absent".
pub trait Sentinel: Copy + Eq + Send + Sync + 'static {
    const ABSENT: Self;
}

impl Sentinel for u64 {
    const ABSENT: u64 = u64::MAX;
}

impl Sentinel for i64 {
    const ABSENT: i64 = i64::MIN;
}

impl<V: Sentinel> Presence<V> for Word {
    type Repr = V;
    fn present(value: V) -> V {
        assert!(value != V::ABSENT, "the sentinel value cannot be stored");
        value
    }
    fn absent() -> V {
        V::ABSENT
    }
    fn value(repr: V) -> Option<V> {
        (repr != V::ABSENT).then_some(repr)
    }
}

/// A key with its hash, so that the key is hashed once per operation: the hash picks
/// the shard, and the shard's table takes it as it is ([`Prehashed`]).
struct Hashed<K> {
    hash: u64,
    key: K,
}

impl<K> Hash for Hashed<K> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash)
    }
}

impl<K: Eq> PartialEq for Hashed<K> {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash && self.key == other.key
    }
}

impl<K: Eq> Eq for Hashed<K> {}

/// The hasher of a shard's table: the hash of a [`Hashed`] key, unchanged.
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, _: &[u8]) {
        unreachable!("a shard hashes only a Hashed key's u64")
    }
    fn write_u64(&mut self, hash: u64) {
        self.0 = hash
    }
}

type Table<K, R> = HashMap<Hashed<K>, TVar<R>, BuildHasherDefault<Prehashed>>;

/// The shard of a key's hash: bits 32..38, which a shard's SwissTable uses for neither
/// its bucket index (the low bits) nor its tag (the top 7).
fn shard_of(hash: u64) -> usize {
    (hash >> 32) as usize % SHARDS
}

/// One shard, on cache lines of its own so that two shards' locks never share one.
#[repr(align(128))]
struct Shard<K, R>(RwLock<Table<K, R>>);

/// A transactional map by predication; `P` says how a variable holds "absent".
pub struct PredicatedMap<K, V, P: Presence<V> = Optional> {
    shards: Box<[Shard<K, P::Repr>]>,
    hasher: RandomState,
    _presence: PhantomData<fn(V) -> V>,
}

impl<K, V, P> PredicatedMap<K, V, P>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    P: Presence<V>,
{
    pub fn new() -> Self {
        PredicatedMap {
            shards: (0..SHARDS).map(|_| Shard(RwLock::default())).collect(),
            hasher: RandomState::new(),
            _presence: PhantomData,
        }
    }

    /// The key's shard and probe.
    fn probe(&self, key: &K) -> (&RwLock<Table<K, P::Repr>>, Hashed<K>) {
        let hash = self.hasher.hash_one(key);
        let shard = &self.shards[shard_of(hash)].0;
        let probe = Hashed {
            hash,
            key: key.clone(),
        };
        (shard, probe)
    }

    /// Runs `f` on the key's variable, which it creates holding "absent" if there is none,
    /// with the shard locked meanwhile.
    fn with_var<R>(&self, key: &K, f: impl FnOnce(&TVar<P::Repr>) -> R) -> R {
        let (shard, probe) = self.probe(key);
        if let Some(var) = shard.read().unwrap().get(&probe) {
            return f(var);
        }
        let mut table = shard.write().unwrap();
        f(table.entry(probe).or_insert_with(|| TVar::new(P::absent())))
    }

    /// A clone of the key's variable (created if there is none).
    fn var_cloned(&self, key: &K) -> TVar<P::Repr> {
        self.with_var(key, TVar::clone)
    }

    /// The key's value.
    pub fn get(&self, tx: &mut Transaction, key: &K) -> StmResult<Option<V>> {
        self.with_var(key, |var| var.read(tx)).map(P::value)
    }

    /// [`get`](Self::get) through a clone of the variable's handle, used after the lock.
    pub fn get_cloned(&self, tx: &mut Transaction, key: &K) -> StmResult<Option<V>> {
        self.var_cloned(key).read(tx).map(P::value)
    }

    /// Sets the key's value, returning the one it replaced.
    pub fn insert(&self, tx: &mut Transaction, key: K, value: V) -> StmResult<Option<V>> {
        let repr = P::present(value);
        self.with_var(&key, |var| var.replace(tx, repr))
            .map(P::value)
    }

    /// Removes the key, returning its value. Its variable stays (no cleanup).
    pub fn remove(&self, tx: &mut Transaction, key: &K) -> StmResult<Option<V>> {
        self.with_var(key, |var| var.replace(tx, P::absent()))
            .map(P::value)
    }

    /// Replaces the key's value with `f(value)`; `false` if the key is absent. One
    /// `TVar::modify`, as `TMap::modify` does on its value variable (an absent key's
    /// "absent" is written back unchanged).
    pub fn modify(&self, tx: &mut Transaction, key: &K, f: impl FnOnce(V) -> V) -> StmResult<bool> {
        let mut present = false;
        self.with_var(key, |var| {
            var.modify(tx, |repr| match P::value(repr) {
                Some(value) => {
                    present = true;
                    P::present(f(value))
                }
                None => P::absent(),
            })
        })?;
        Ok(present)
    }

    /// The key's value now, outside any transaction: the index lookup and one
    /// `TVar::load`. Creates no variable.
    pub fn load(&self, key: &K) -> Option<V> {
        let (shard, probe) = self.probe(key);
        let table = shard.read().unwrap();
        P::value(table.get(&probe)?.load())
    }
}

impl<K, V, P> FromIterator<(K, V)> for PredicatedMap<K, V, P>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    P: Presence<V>,
{
    fn from_iter<I: IntoIterator<Item = (K, V)>>(entries: I) -> Self {
        let mut map = PredicatedMap::new();
        for (key, value) in entries {
            let (_, probe) = map.probe(&key);
            let table = map.shards[shard_of(probe.hash)].0.get_mut().unwrap();
            table.insert(probe, TVar::new(P::present(value)));
        }
        map
    }
}
