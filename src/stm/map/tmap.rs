//! `TMap<K, V>`: a transactional hash map by predication, whose operations on different
//! keys do not conflict. The design, and each operation's footprint, are in `mod.rs`.

use std::borrow::Borrow;
use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hash};

use super::index::{self, Entry, Index};
use super::key_var::KeyVar;
use crate::stm::tx::{in_section, SlotRead};
use crate::stm::{atomically, StmResult, TVar, Transaction};
use crate::sync::atomic::{fence, Ordering::SeqCst};
use crate::sync::Arc;

/// Lets this section probe the index: a lookup's part of the fence pair that keeps a
/// table or entry it reaches from being freed under it (`index.rs`, Sections). Run
/// after an `in_section` began and before its first probe; a transaction runs
/// `Transaction::fence_section`, which fences once per attempt.
#[inline]
fn before_probing() {
    fence(SeqCst);
}

/// A transactional hash map: every operation takes the transaction, so map operations
/// and other `TVar`s commit or retry together. Cloning shares the same map.
///
/// **The closure may run again, so clone what you insert.** `atomically` re-runs its
/// closure after a conflict or a `retry`, and the closure is `FnMut`: a key or value
/// moved into the map on the first run is gone on the second. Build the value inside
/// the closure, or clone it there; a value too large to clone cheaply goes behind an
/// `Arc`. (Effects outside `TVar`s belong in [`on_commit`](crate::stm::Transaction::on_commit).)
///
/// ```
/// use braid::stm::{atomically, TMap};
///
/// let names: TMap<u32, String> = TMap::new();
/// let ada = String::from("Ada");
/// // `names.insert(tx, 1, ada)` would not compile: the closure may run more than once.
/// atomically(|tx| names.insert(tx, 1, ada.clone()));
/// assert_eq!(atomically(|tx| names.get(tx, &1)).as_deref(), Some("Ada"));
/// ```
///
/// ```compile_fail
/// # use braid::stm::{atomically, TMap};
/// # let names: TMap<u32, String> = TMap::new();
/// let ada = String::from("Ada");
/// atomically(|tx| names.insert(tx, 1, ada)); // error: cannot move out of `ada` in an FnMut
/// ```
///
/// Built by *transactional predication* (Bronson, Casper, Chafi, Olukotun, 2010): an
/// ordinary concurrent hash index, outside the STM, gives each key a transactional
/// variable of its own, which holds the key's value or says it is absent. So a lookup
/// is a hash-table probe (no lock, no shared write) and one variable read, and
/// operations on different keys do not conflict:
/// - reading or changing the value of a key ([`get`](TMap::get), `insert` over it,
///   [`modify`](TMap::modify), [`upsert`](TMap::upsert)) reads and writes only that
///   key's variable;
/// - adding or removing a key also writes one of 32 *witness* variables, picked by the
///   key's hash, which whole-map reads ([`len`](TMap::len), [`to_vec`](TMap::to_vec),
///   [`retain`](TMap::retain)...) read, so that they see every key or none of a commit's;
///   two inserts or removals of different keys never conflict on it (neither reads it);
/// - a lookup of a missing key reads its shard's witness, and so conflicts with inserts
///   and removals of the keys that share it (1 in 32).
///
/// A transaction that waits ([`retry`](crate::stm::retry)) after looking up a key wakes
/// when that key's value changes (a present key, or one that was present before), or,
/// for a key never seen, when a key of its shard is added or removed; not for writes
/// elsewhere in the map.
///
/// [`load`](TMap::load) reads one key with no transaction at all: the probe and one
/// consistent read of its variable, which costs about what a concurrent hash map's
/// lookup does.
///
/// Keys and values are cloned out (a read returns a `V`), so a large value is best kept
/// behind an `Arc`. Like a `HashMap`, the map hashes with [`RandomState`] unless given
/// another [`BuildHasher`] ([`with_hasher`](TMap::with_hasher)). Keys whose hashes collide
/// entirely still work, compared one by one.
///
/// ```
/// use braid::stm::{atomically, TMap};
/// use std::thread;
///
/// let accounts: TMap<String, u64> = TMap::new();
/// atomically(|tx| {
///     accounts.insert(tx, "alice".to_string(), 100)?;
///     accounts.insert(tx, "bob".to_string(), 0)
/// });
///
/// // Move 30 from alice to bob: both changes, or neither.
/// let bank = accounts.clone();
/// thread::spawn(move || {
///     atomically(|tx| {
///         bank.modify(tx, "alice", |a| a - 30)?;
///         bank.modify(tx, "bob", |b| b + 30)
///     })
/// })
/// .join()
/// .unwrap();
///
/// assert_eq!(atomically(|tx| accounts.get(tx, "bob")), Some(30));
/// let mut all = atomically(|tx| accounts.to_vec(tx));
/// all.sort();
/// assert_eq!(all, [("alice".to_string(), 70), ("bob".to_string(), 30)]);
/// ```
pub struct TMap<K, V, S = RandomState> {
    shared: Arc<Shared<K, V>>,
    hasher: S,
}

/// What the handles of one map share.
struct Shared<K, V> {
    /// Each key's variable, present or absent.
    index: Index<K, KeyVar<V>>,
    /// One per shard of the index: written (blindly) by every commit that adds or removes
    /// one of the shard's keys, read by whole-map reads and by lookups of missing keys.
    witnesses: Box<[TVar<u64>]>,
}

impl<K, V> TMap<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// An empty map.
    ///
    /// ```
    /// let map: braid::stm::TMap<u32, String> = braid::stm::TMap::new();
    /// assert!(braid::stm::atomically(|tx| map.is_empty(tx)));
    /// ```
    pub fn new() -> TMap<K, V> {
        TMap::with_hasher(RandomState::new())
    }
}

impl<K, V, S> TMap<K, V, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: BuildHasher,
{
    /// An empty map that hashes keys with `hasher`.
    ///
    /// ```
    /// use std::hash::BuildHasherDefault;
    /// use std::collections::hash_map::DefaultHasher;
    ///
    /// let hasher = BuildHasherDefault::<DefaultHasher>::default();
    /// let map: braid::stm::TMap<u32, u32, _> = braid::stm::TMap::with_hasher(hasher);
    /// braid::stm::atomically(|tx| map.insert(tx, 1, 2));
    /// assert_eq!(braid::stm::atomically(|tx| map.get(tx, &1)), Some(2));
    /// ```
    pub fn with_hasher(hasher: S) -> TMap<K, V, S> {
        let witnesses = (0..index::SHARDS).map(|_| TVar::new(0)).collect();
        TMap {
            shared: Arc::new(Shared {
                index: Index::new(),
                witnesses,
            }),
            hasher,
        }
    }

    fn hash<Q: Hash + ?Sized>(&self, key: &Q) -> u64 {
        self.hasher.hash_one(key)
    }

    fn index(&self) -> &Index<K, KeyVar<V>> {
        &self.shared.index
    }

    /// The witness of the shard of `hash`.
    fn witness(&self, hash: u64) -> &TVar<u64> {
        &self.shared.witnesses[index::shard_of(hash)]
    }

    /// The key's entry in the index, if it has one; with none, the key is absent, and the
    /// transaction has read the shard's witness, so an insert of the key conflicts with
    /// it (and a `retry` waits for one). Looked up again after the witness read: a commit
    /// that added the key before that read had put its entry in the index before
    /// committing.
    fn lookup<Q>(
        &self,
        tx: &mut Transaction,
        hash: u64,
        key: &Q,
    ) -> StmResult<Option<&Entry<K, KeyVar<V>>>>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        tx.fence_section();
        // SAFETY: a transaction body runs inside a section, fenced in this attempt (so
        // after the section began), and the entry is used only in this call's caller,
        // within it.
        if let Some(entry) = unsafe { self.index().find(hash, key) } {
            return Ok(Some(entry));
        }
        self.read_witness(tx, index::shard_of(hash))?;
        // SAFETY: as above.
        let entry = unsafe { self.index().find(hash, key) };
        if entry.is_none() {
            tx.check_unlinks()?;
        }
        Ok(entry)
    }

    /// Reads shard `shard`'s witness: this attempt depends on its version from now on,
    /// also after writing it (`Transaction::depend_on`).
    fn read_witness(&self, tx: &mut Transaction, shard: usize) -> StmResult<()> {
        // SAFETY: the witness keeps its core alive, and holds a `u64`.
        unsafe { tx.depend_on::<u64>(self.shared.witnesses[shard].core()) }
    }

    /// Runs `op` on the key's entry (`None`: it has none, and the witness is read). If
    /// `op` finds the entry's variable dead (it returns `None`: the entry was unlinked
    /// since the lookup), waits for the unlink to finish and runs it again.
    fn on_entry<Q, R>(
        &self,
        tx: &mut Transaction,
        hash: u64,
        key: &Q,
        mut op: impl FnMut(&mut Transaction, Option<&Entry<K, KeyVar<V>>>) -> StmResult<Option<R>>,
    ) -> StmResult<R>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        loop {
            let entry = self.lookup(tx, hash, key)?;
            if let Some(result) = op(tx, entry)? {
                return Ok(result);
            }
            self.index().wait_for_unlink(hash);
        }
    }

    /// The key's entry, for an insert of a key that had none: made if there is still
    /// none, claimed by this transaction so that no sweep takes it before the commit.
    /// A table that fills grows here without a sweep, which would embalm variables this
    /// transaction has read and so make it fail, again on each run: the sweep waits for
    /// the commit.
    fn entry_for_insert(
        &self,
        tx: &mut Transaction,
        hash: u64,
        key: &K,
    ) -> StmResult<&Entry<K, KeyVar<V>>> {
        tx.fence_section();
        // SAFETY: as in `lookup`.
        if let Some(entry) = unsafe { self.index().find(hash, key) } {
            return Ok(entry);
        }
        // The key is missing: an entry of this attempt's may have been unlinked. Checked
        // before an entry is made, so that a failure leaves no claim behind.
        tx.check_unlinks()?;
        let make = || (key.clone(), KeyVar::claimed::<K>());
        // SAFETY: as in `lookup`.
        let (entry, grew) = unsafe { self.index().find_or_insert_unswept(hash, key, make) };
        if grew {
            self.sweep_after_commit(tx);
        }
        Ok(entry)
    }

    /// Calls `f` on every entry of the map whose key is present, with its value: a walk
    /// of the index, one shard at a time, each between two reads of the shard's witness.
    /// The read before catches a key added after the walk passed its slot; the read
    /// after, a key removed and then swept before the walk reached it (a commit that
    /// removed it wrote the witness, so the second read finds a newer version, and
    /// extending the snapshot fails on the first).
    fn for_each_present(
        &self,
        tx: &mut Transaction,
        mut f: impl FnMut(&mut Transaction, &Entry<K, KeyVar<V>>, V) -> StmResult<()>,
    ) -> StmResult<()> {
        tx.fence_section();
        for shard in 0..index::SHARDS {
            self.read_witness(tx, shard)?;
            // SAFETY: as in `lookup`.
            for entry in unsafe { self.index().entries(shard) } {
                // A dead variable was absent when it died.
                if let SlotRead::Live(Some(value)) = entry.payload.read(tx)? {
                    f(tx, entry, value)?;
                }
            }
            self.read_witness(tx, shard)?;
            tx.check_unlinks()?;
        }
        Ok(())
    }

    /// Puts `key` in a map that no other handle shares yet (`FromIterator`).
    fn fill(&self, key: K, value: V) {
        let hash = self.hash(&key);
        let repeated = in_section(|| {
            before_probing();
            // SAFETY: inside the section, fenced.
            if unsafe { self.index().find(hash, &key) }.is_some() {
                return Some((key, value));
            }
            let probe = key.clone();
            let make = || (key, KeyVar::present::<K>(value));
            // SAFETY: as above.
            unsafe { self.index().find_or_insert(hash, &probe, make) };
            None
        });
        if let Some((key, value)) = repeated {
            atomically(|tx| self.insert(tx, key.clone(), value.clone()).map(drop));
        }
    }

    /// Once `tx` commits, unlinks the entries of absent keys from the index, and shrinks
    /// its tables: after a `clear` or `retain`, which may leave most of the map absent
    /// (a table sweeps by itself only when it fills).
    fn sweep_after_commit(&self, tx: &mut Transaction) {
        let shared = Arc::clone(&self.shared);
        tx.on_commit(move || shared.index.sweep());
    }

    /// Removes a present key found by `for_each_present`. (Found dead instead, it was
    /// removed since: this attempt will fail validation.)
    fn remove_entry(&self, tx: &mut Transaction, entry: &Entry<K, KeyVar<V>>) -> StmResult<()> {
        if entry.payload.update(tx, |_| (None, ()))?.is_some() {
            self.witness(entry.hash).write(tx, 0)?;
        }
        Ok(())
    }

    /// The value for `key`, if present. A borrowed form of the key will do (`&str` for a
    /// `String` key), as with `HashMap::get`.
    ///
    /// ```
    /// use braid::stm::{atomically, TMap};
    /// let map = TMap::new();
    /// atomically(|tx| map.insert(tx, "x".to_string(), 1));
    /// assert_eq!(atomically(|tx| map.get(tx, "x")), Some(1));
    /// assert_eq!(atomically(|tx| map.get(tx, "y")), None);
    /// ```
    pub fn get<Q>(&self, tx: &mut Transaction, key: &Q) -> StmResult<Option<V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.on_entry(tx, self.hash(key), key, |tx, entry| {
            let Some(entry) = entry else {
                return Ok(Some(None));
            };
            Ok(match entry.payload.read(tx)? {
                SlotRead::Live(value) => Some(value),
                SlotRead::Dead => None,
            })
        })
    }

    /// The value for `key` now, read outside any transaction, as [`TVar::load`] reads
    /// a variable: a value some commit published, never a torn or uncommitted one. It
    /// makes no transaction and keeps no read set: a probe of the index (no lock) and
    /// one consistent read of the key's variable, so it costs about a lookup in an
    /// ordinary concurrent hash map plus a clone, and writes no shared memory.
    ///
    /// Two `load`s are two moments: to relate several keys, read them in one
    /// transaction. Inside a transaction body it ignores that transaction's own writes.
    ///
    /// ```
    /// use braid::stm::{atomically, TMap};
    /// let prices: TMap<String, u32> = TMap::new();
    /// atomically(|tx| prices.insert(tx, "tea".to_string(), 3));
    /// assert_eq!(prices.load("tea"), Some(3));
    /// assert_eq!(prices.load("coffee"), None);
    /// ```
    pub fn load<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hash(key);
        in_section(|| {
            before_probing();
            // SAFETY: inside the section, fenced, where the entry is used.
            unsafe { self.index().find(hash, key) }?.payload.load()
        })
    }

    /// Whether `key` is present.
    ///
    /// ```
    /// use braid::stm::{atomically, TMap};
    /// let map = TMap::new();
    /// atomically(|tx| map.insert(tx, 7, "seven"));
    /// assert!(atomically(|tx| map.contains_key(tx, &7)));
    /// ```
    pub fn contains_key<Q>(&self, tx: &mut Transaction, key: &Q) -> StmResult<bool>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        Ok(self.get(tx, key)?.is_some())
    }

    /// Sets `key` to `value`, returning the value it replaced. Over an existing key this
    /// writes only the value, so it does not conflict with work on other keys.
    ///
    /// ```
    /// use braid::stm::{atomically, TMap};
    /// let map = TMap::new();
    /// assert_eq!(atomically(|tx| map.insert(tx, 1, 'a')), None);
    /// assert_eq!(atomically(|tx| map.insert(tx, 1, 'b')), Some('a'));
    /// ```
    pub fn insert(&self, tx: &mut Transaction, key: K, value: V) -> StmResult<Option<V>> {
        let mut value = Some(value);
        let mut old = None;
        self.alter(tx, key, |was| {
            old = was;
            value.take()
        })?;
        Ok(old)
    }

    /// Removes `key`, returning its value if it was present.
    ///
    /// ```
    /// use braid::stm::{atomically, TMap};
    /// let map = TMap::new();
    /// atomically(|tx| map.insert(tx, 1, 'a'));
    /// assert_eq!(atomically(|tx| map.remove(tx, &1)), Some('a'));
    /// assert_eq!(atomically(|tx| map.remove(tx, &1)), None);
    /// ```
    pub fn remove<Q>(&self, tx: &mut Transaction, key: &Q) -> StmResult<Option<V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hash(key);
        self.on_entry(tx, hash, key, |tx, entry| {
            let Some(entry) = entry else {
                return Ok(Some(None));
            };
            let Some(old) = entry.payload.update(tx, |old| (None, old))? else {
                return Ok(None);
            };
            if old.is_some() {
                self.witness(hash).write(tx, 0)?;
            }
            Ok(Some(old))
        })
    }

    /// Replaces the value of `key` with `f(value)`; `false` (and `f` not called) if the
    /// key is absent. Writes only the value.
    ///
    /// ```
    /// use braid::stm::{atomically, TMap};
    /// let stock = TMap::new();
    /// atomically(|tx| stock.insert(tx, "apples", 3));
    /// assert!(atomically(|tx| stock.modify(tx, "apples", |n| n - 1)));
    /// assert!(!atomically(|tx| stock.modify(tx, "pears", |n| n - 1)));
    /// assert_eq!(atomically(|tx| stock.get(tx, "apples")), Some(2));
    /// ```
    pub fn modify<Q>(
        &self,
        tx: &mut Transaction,
        key: &Q,
        f: impl FnOnce(V) -> V,
    ) -> StmResult<bool>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let mut f = Some(f);
        self.on_entry(tx, self.hash(key), key, |tx, entry| {
            let Some(entry) = entry else {
                return Ok(Some(false));
            };
            entry.payload.update(tx, |old| match old {
                // Called at most once: a live variable ends the loop.
                Some(value) => (Some(f.take().expect("modify's f runs once")(value)), true),
                None => (None, false),
            })
        })
    }

    /// Sets `key` to `f(its value)`, where the value is `None` if the key is absent: an
    /// insert-or-update in one step (`HashMap`'s `entry(k).and_modify(..).or_insert(..)`).
    ///
    /// ```
    /// use braid::stm::{atomically, TMap};
    /// let counts = TMap::new();
    /// for word in ["to", "be", "or", "not", "to", "be"] {
    ///     atomically(|tx| counts.upsert(tx, word, |n| n.unwrap_or(0) + 1));
    /// }
    /// assert_eq!(atomically(|tx| counts.get(tx, "to")), Some(2));
    /// assert_eq!(atomically(|tx| counts.get(tx, "or")), Some(1));
    /// ```
    pub fn upsert(
        &self,
        tx: &mut Transaction,
        key: K,
        f: impl FnOnce(Option<V>) -> V,
    ) -> StmResult<()> {
        self.alter(tx, key, |value| Some(f(value)))
    }

    /// The general change to one key: `f` gets its value (`None` if absent) and returns
    /// the new one (`None` to remove it). Inserts, updates, removes or leaves the key, in
    /// one lookup.
    ///
    /// ```
    /// use braid::stm::{atomically, TMap};
    /// let seats = TMap::new();
    /// atomically(|tx| seats.insert(tx, "row 1", 1));
    /// // Take a seat; the row goes when its last seat is taken.
    /// atomically(|tx| seats.alter(tx, "row 1", |left| left.filter(|&n| n > 1).map(|n| n - 1)));
    /// assert!(atomically(|tx| seats.is_empty(tx)));
    /// ```
    pub fn alter(
        &self,
        tx: &mut Transaction,
        key: K,
        f: impl FnOnce(Option<V>) -> Option<V>,
    ) -> StmResult<()> {
        let hash = self.hash(&key);
        let mut f = Some(f);
        // Called at most once: a live variable, or a key with no entry, ends the loop.
        let mut f_once = |old| f.take().expect("alter's f runs once")(old);
        let inserted = loop {
            let Some(entry) = self.lookup(tx, hash, &key)? else {
                // No entry, so absent (and the witness is read): an entry is made only
                // if `f` adds the key.
                match f_once(None) {
                    Some(new) => break new,
                    None => return Ok(()),
                }
            };
            let added_or_removed = entry.payload.update(tx, |old| {
                let was_present = old.is_some();
                let new = f_once(old);
                let changed = was_present != new.is_some();
                (new, changed)
            })?;
            match added_or_removed {
                Some(true) => return self.witness(hash).write(tx, 0),
                Some(false) => return Ok(()),
                // Unlinked since the lookup (a sweep found it absent): look again.
                None => self.index().wait_for_unlink(hash),
            }
        };
        // A new key. (If another commit adds it meanwhile, this attempt read the witness
        // that commit writes, and fails validation.)
        let mut inserted = Some(inserted);
        loop {
            let entry = self.entry_for_insert(tx, hash, &key)?;
            match entry.payload.update(tx, |_| (inserted.take(), ())) {
                Ok(Some(())) => return self.witness(hash).write(tx, 0),
                Ok(None) => self.index().wait_for_unlink(hash),
                Err(error) => {
                    // No write entry holds the claim, to clear it as the attempt ends.
                    entry.payload.unclaim();
                    return Err(error);
                }
            }
        }
    }

    /// How many entries the map holds. Walks the whole map (reading every key's
    /// variable), so a transaction that calls it conflicts with any insert or removal.
    ///
    /// ```
    /// use braid::stm::{atomically, TMap};
    /// let map = TMap::new();
    /// atomically(|tx| (0..10).try_for_each(|i| map.insert(tx, i, i * i).map(drop)));
    /// assert_eq!(atomically(|tx| map.len(tx)), 10);
    /// ```
    pub fn len(&self, tx: &mut Transaction) -> StmResult<usize> {
        let mut len = 0;
        self.for_each_present(tx, |_, _, _| {
            len += 1;
            Ok(())
        })?;
        Ok(len)
    }

    /// Whether the map is empty. Walks the map up to its first key.
    ///
    /// ```
    /// use braid::stm::{atomically, TMap};
    /// let map: TMap<u8, u8> = TMap::new();
    /// assert!(atomically(|tx| map.is_empty(tx)));
    /// ```
    pub fn is_empty(&self, tx: &mut Transaction) -> StmResult<bool> {
        tx.fence_section();
        for shard in 0..index::SHARDS {
            // Read before and after the walk, as in `for_each_present`.
            self.read_witness(tx, shard)?;
            // SAFETY: as in `lookup`.
            for entry in unsafe { self.index().entries(shard) } {
                if let SlotRead::Live(Some(_)) = entry.payload.read(tx)? {
                    return Ok(false);
                }
            }
            self.read_witness(tx, shard)?;
            tx.check_unlinks()?;
        }
        Ok(true)
    }

    /// Every entry, as one consistent snapshot, in no particular order.
    ///
    /// ```
    /// use braid::stm::{atomically, TMap};
    /// let map = TMap::new();
    /// atomically(|tx| map.insert(tx, 'k', 1));
    /// assert_eq!(atomically(|tx| map.to_vec(tx)), [('k', 1)]);
    /// ```
    pub fn to_vec(&self, tx: &mut Transaction) -> StmResult<Vec<(K, V)>> {
        let mut all = Vec::new();
        self.for_each_present(tx, |_, entry, value| {
            all.push((entry.key.clone(), value));
            Ok(())
        })?;
        Ok(all)
    }

    /// Calls `f` on every entry, in no particular order, without collecting them.
    ///
    /// ```
    /// use braid::stm::{atomically, TMap};
    /// let prices = TMap::new();
    /// atomically(|tx| {
    ///     prices.insert(tx, "tea", 3)?;
    ///     prices.insert(tx, "cake", 4)
    /// });
    /// let total = atomically(|tx| {
    ///     let mut total = 0;
    ///     prices.for_each(tx, |_, price| total += price)?;
    ///     Ok(total)
    /// });
    /// assert_eq!(total, 7);
    /// ```
    pub fn for_each(&self, tx: &mut Transaction, mut f: impl FnMut(&K, &V)) -> StmResult<()> {
        self.for_each_present(tx, |_, entry, value| {
            f(&entry.key, &value);
            Ok(())
        })
    }

    /// Keeps only the entries for which `keep` returns true.
    ///
    /// ```
    /// use braid::stm::{atomically, TMap};
    /// let map = TMap::new();
    /// atomically(|tx| (0..10).try_for_each(|i| map.insert(tx, i, i).map(drop)));
    /// atomically(|tx| map.retain(tx, |_, v| v % 2 == 0));
    /// assert_eq!(atomically(|tx| map.len(tx)), 5);
    /// ```
    pub fn retain(
        &self,
        tx: &mut Transaction,
        mut keep: impl FnMut(&K, &V) -> bool,
    ) -> StmResult<()> {
        let mut removed = false;
        self.for_each_present(tx, |tx, entry, value| {
            if keep(&entry.key, &value) {
                return Ok(());
            }
            removed = true;
            self.remove_entry(tx, entry)
        })?;
        if removed {
            self.sweep_after_commit(tx);
        }
        Ok(())
    }

    /// Removes every entry: a write of each key's variable. Once it commits, the index
    /// lets go of the keys and shrinks.
    ///
    /// ```
    /// use braid::stm::{atomically, TMap};
    /// let map = TMap::new();
    /// atomically(|tx| map.insert(tx, 1, 1));
    /// atomically(|tx| map.clear(tx));
    /// assert!(atomically(|tx| map.is_empty(tx)));
    /// ```
    pub fn clear(&self, tx: &mut Transaction) -> StmResult<()> {
        self.retain(tx, |_, _| false)
    }

    /// Inserts every pair, in order (a later pair for the same key wins).
    ///
    /// All in one transaction: for filling a large map from outside a transaction,
    /// collect into it instead ([`FromIterator`]), which commits pair by pair.
    ///
    /// ```
    /// use braid::stm::{atomically, TMap};
    /// let map = TMap::new();
    /// atomically(|tx| map.extend(tx, [(1, 'a'), (2, 'b')]));
    /// assert_eq!(atomically(|tx| map.get(tx, &2)), Some('b'));
    /// ```
    pub fn extend(
        &self,
        tx: &mut Transaction,
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> StmResult<()> {
        pairs
            .into_iter()
            .try_for_each(|(key, value)| self.insert(tx, key, value).map(drop))
    }
}

/// Collects pairs into a new map (a later pair for the same key wins). A new key goes
/// straight into the index, present, with no transaction: the map is not shared yet,
/// so no transaction can have read it. A repeated key is set by a transaction.
///
/// ```
/// use braid::stm::{atomically, TMap};
/// let squares: TMap<u32, u32> = (1..=4).map(|i| (i, i * i)).collect();
/// assert_eq!(atomically(|tx| squares.get(tx, &3)), Some(9));
/// ```
impl<K, V> FromIterator<(K, V)> for TMap<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    fn from_iter<I: IntoIterator<Item = (K, V)>>(pairs: I) -> Self {
        let map = TMap::new();
        for (key, value) in pairs {
            map.fill(key, value);
        }
        map
    }
}

impl<K, V, S: Clone> Clone for TMap<K, V, S> {
    /// Another handle to the same map.
    fn clone(&self) -> Self {
        TMap {
            shared: Arc::clone(&self.shared),
            hasher: self.hasher.clone(),
        }
    }
}

impl<K, V> Default for TMap<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    fn default() -> Self {
        TMap::new()
    }
}

/// The entries, each value as of its own latest commit (not one snapshot: read
/// [`TMap::to_vec`] in a transaction for that). Callable inside a transaction.
impl<K, V, S> fmt::Debug for TMap<K, V, S>
where
    K: fmt::Debug + Clone + Send + Sync + 'static,
    V: fmt::Debug + Clone + Send + Sync + 'static,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        in_section(|| {
            before_probing();
            for shard in 0..index::SHARDS {
                // SAFETY: inside the section, where the entries are used.
                for entry in unsafe { self.shared.index.entries(shard) } {
                    if let Some(value) = entry.payload.load() {
                        map.entry(&entry.key, &value);
                    }
                }
            }
        });
        map.finish()
    }
}
