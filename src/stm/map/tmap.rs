//! `TMap<K, V>`: a transactional hash map whose operations on different keys do not
//! conflict. The trie it is built on, and each operation's footprint, are in `trie.rs`.

use std::borrow::Borrow;
use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hash};

use super::trie::{Entry, Trie};
use crate::stm::tvar::Snapshot;
use crate::stm::{atomically, StmResult, TVar, Transaction};

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
/// Built as stm-containers builds its maps: a hash trie whose nodes are `TVar`s, with
/// each value in a `TVar` of its own. So operations on different keys do not conflict:
/// - changing the value of an existing key (`insert` over it, [`modify`](TMap::modify),
///   [`upsert`](TMap::upsert)) writes only that value, and reads only the nodes on the
///   key's path;
/// - adding or removing a key writes one node, the deepest on its path (32 children at
///   most), so it conflicts only with changes and lookups of keys in that node;
/// - [`len`](TMap::len) walks the map (there is no shared count for every insert to
///   write), and [`is_empty`](TMap::is_empty) reads only the root.
///
/// A transaction that waits ([`retry`](crate::stm::retry)) after looking up a key wakes
/// when that key's value changes or the node where it would be inserted changes, not
/// for writes elsewhere in the map.
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
    trie: Trie<K, TVar<V>>,
    hasher: S,
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
        TMap {
            trie: Trie::new(),
            hasher,
        }
    }

    fn hash<Q: Hash + ?Sized>(&self, key: &Q) -> u64 {
        self.hasher.hash_one(key)
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
        // SAFETY: the entry is used here, in this attempt, and nothing writes the trie.
        match unsafe { self.trie.find(tx, self.hash(key), key) }? {
            Some(entry) => entry.payload.read(tx).map(Some),
            None => Ok(None),
        }
    }

    /// The value for `key` now, read outside any transaction, as [`TVar::load`] reads
    /// a variable: a value some commit published, never a torn or uncommitted one, and
    /// consistent with the map's structure at one moment (the lookup's nodes and the
    /// value are all read as of one time on the STM's clock, and the lookup starts over
    /// if a commit lands on them meanwhile). It makes no transaction and keeps no read
    /// set, so it costs about a lookup in an ordinary hash map plus a clone, and writes
    /// no shared memory.
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
        let mut snapshot = Snapshot::now();
        loop {
            match self.trie.find_in(&snapshot, hash, key) {
                Some(None) => return None,
                Some(Some(entry)) => {
                    if let Some(value) = snapshot.read_clone(&entry.payload) {
                        return Some(value);
                    }
                }
                None => {}
            }
            snapshot.renew();
        }
    }

    /// Whether `key` is present. Reads the nodes on its path, not its value.
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
        // SAFETY: as in `get`.
        Ok(unsafe { self.trie.find(tx, self.hash(key), key) }?.is_some())
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
        // SAFETY: the path is used in this attempt, for at most one write (`remove_at`).
        let path = unsafe { self.trie.path(tx, hash, key) }?;
        let Some(entry) = path.entry() else {
            return Ok(None);
        };
        let old = entry.payload.read(tx)?;
        Trie::remove_at(tx, path)?;
        Ok(Some(old))
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
        // SAFETY: as in `get`; the write is to the value's variable, not the trie.
        match unsafe { self.trie.find(tx, self.hash(key), key) }? {
            Some(entry) => entry.payload.modify(tx, f).map(|()| true),
            None => Ok(false),
        }
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
        // SAFETY: the path is used in this attempt, for at most one write to the trie
        // (`insert_at` or `remove_at`).
        let path = unsafe { self.trie.path(tx, hash, &key) }?;
        match path.entry() {
            Some(entry) => {
                let old = entry.payload.read(tx)?;
                match f(Some(old)) {
                    Some(new) => entry.payload.write(tx, new),
                    None => Trie::remove_at(tx, path),
                }
            }
            None => match f(None) {
                Some(new) => {
                    let payload = TVar::new(new);
                    Trie::insert_at(tx, path, Entry { hash, key, payload })
                }
                None => Ok(()),
            },
        }
    }

    /// How many entries the map holds. Walks the whole map (reading every node, but no
    /// value), so a transaction that calls it conflicts with any insert or removal.
    ///
    /// ```
    /// use braid::stm::{atomically, TMap};
    /// let map = TMap::new();
    /// atomically(|tx| (0..10).try_for_each(|i| map.insert(tx, i, i * i).map(drop)));
    /// assert_eq!(atomically(|tx| map.len(tx)), 10);
    /// ```
    pub fn len(&self, tx: &mut Transaction) -> StmResult<usize> {
        self.trie.len(tx)
    }

    /// Whether the map is empty. Reads only the root node.
    ///
    /// ```
    /// use braid::stm::{atomically, TMap};
    /// let map: TMap<u8, u8> = TMap::new();
    /// assert!(atomically(|tx| map.is_empty(tx)));
    /// ```
    pub fn is_empty(&self, tx: &mut Transaction) -> StmResult<bool> {
        self.trie.is_empty(tx)
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
        self.trie.for_each(tx, |tx, entry| {
            all.push((entry.key.clone(), entry.payload.read(tx)?));
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
        self.trie.for_each(tx, |tx, entry| {
            f(&entry.key, &entry.payload.read(tx)?);
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
        self.trie.retain(tx, |tx, entry| {
            Ok(keep(&entry.key, &entry.payload.read(tx)?))
        })
    }

    /// Removes every entry: one write, of the root.
    ///
    /// ```
    /// use braid::stm::{atomically, TMap};
    /// let map = TMap::new();
    /// atomically(|tx| map.insert(tx, 1, 1));
    /// atomically(|tx| map.clear(tx));
    /// assert!(atomically(|tx| map.is_empty(tx)));
    /// ```
    pub fn clear(&self, tx: &mut Transaction) -> StmResult<()> {
        self.trie.clear(tx)
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

/// Collects pairs into a new map, one transaction per pair (a later pair for the same
/// key wins). Not inside a transaction: it runs its own.
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
            atomically(|tx| map.insert(tx, key.clone(), value.clone()).map(drop));
        }
        map
    }
}

impl<K, V, S: Clone> Clone for TMap<K, V, S> {
    /// Another handle to the same map.
    fn clone(&self) -> Self {
        TMap {
            trie: self.trie.clone(),
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

/// The entries, each node and value as of its own latest commit (not one snapshot:
/// read [`TMap::to_vec`] in a transaction for that). Callable inside a transaction.
impl<K, V, S> fmt::Debug for TMap<K, V, S>
where
    K: fmt::Debug + Clone + Send + Sync + 'static,
    V: fmt::Debug + Clone + Send + Sync + 'static,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        self.trie.for_each_loaded(|entry| {
            map.entry(&entry.key, &entry.payload.load());
        });
        map.finish()
    }
}
