//! `TSet<T>`: a transactional hash set, a trie of `TVar` nodes (`trie.rs`).

use std::borrow::Borrow;
use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hash};

use super::trie::{Entry, Trie};
use crate::stm::tvar::Snapshot;
use crate::stm::{atomically, StmResult, Transaction};

/// A transactional hash set: a hash trie of `TVar` nodes, as in Haskell's
/// stm-containers (where [`TMap`](super::TMap) is predicated: one variable per key,
/// behind a lock-free index). Adding or removing an element writes one node, the
/// deepest on its path, so work on different elements rarely conflicts; `contains`
/// reads only that path. Cloning shares the same set.
///
/// **The closure may run again, so clone what you insert.** `atomically` re-runs its
/// closure after a conflict or a `retry`, and the closure is `FnMut`: an element moved
/// into the set on the first run is gone on the second. Clone it inside the closure (or
/// keep large elements behind an `Arc`).
///
/// ```
/// use braid::stm::{atomically, TSet};
///
/// let seen: TSet<String> = TSet::new();
/// let word = String::from("braid");
/// // `seen.insert(tx, word)` would not compile: the closure may run more than once.
/// assert!(atomically(|tx| seen.insert(tx, word.clone())));
/// assert!(atomically(|tx| seen.contains(tx, &word)));
/// ```
///
/// ```
/// use braid::stm::{atomically, TSet};
///
/// let online: TSet<String> = TSet::new();
/// assert!(atomically(|tx| online.insert(tx, "ada".to_string())));
/// assert!(!atomically(|tx| online.insert(tx, "ada".to_string()))); // already there
/// assert!(atomically(|tx| online.contains(tx, "ada")));
/// assert!(atomically(|tx| online.remove(tx, "ada")));
/// assert!(atomically(|tx| online.is_empty(tx)));
/// ```
pub struct TSet<T, S = RandomState> {
    trie: Trie<T>,
    hasher: S,
}

impl<T> TSet<T>
where
    T: Hash + Eq + Clone + Send + Sync + 'static,
{
    /// An empty set.
    ///
    /// ```
    /// let set: braid::stm::TSet<u32> = braid::stm::TSet::new();
    /// assert_eq!(braid::stm::atomically(|tx| set.len(tx)), 0);
    /// ```
    pub fn new() -> TSet<T> {
        TSet::with_hasher(RandomState::new())
    }
}

impl<T, S> TSet<T, S>
where
    T: Hash + Eq + Clone + Send + Sync + 'static,
    S: BuildHasher,
{
    /// An empty set that hashes elements with `hasher`.
    ///
    /// ```
    /// let set = braid::stm::TSet::with_hasher(std::collections::hash_map::RandomState::new());
    /// assert!(braid::stm::atomically(|tx| set.insert(tx, 1)));
    /// ```
    pub fn with_hasher(hasher: S) -> TSet<T, S> {
        TSet {
            trie: Trie::new(),
            hasher,
        }
    }

    /// Adds `value`; `false` if it was already present (the set is then unchanged, and
    /// nothing is written).
    ///
    /// ```
    /// use braid::stm::{atomically, TSet};
    /// let set = TSet::new();
    /// assert!(atomically(|tx| set.insert(tx, 'a')));
    /// assert!(!atomically(|tx| set.insert(tx, 'a')));
    /// ```
    pub fn insert(&self, tx: &mut Transaction, value: T) -> StmResult<bool> {
        let hash = self.hasher.hash_one(&value);
        // SAFETY: the path is used in this attempt, for at most one write (`insert_at`).
        let path = unsafe { self.trie.path(tx, hash, &value) }?;
        if path.entry().is_some() {
            return Ok(false);
        }
        let entry = Entry { hash, key: value };
        Trie::insert_at(tx, path, entry).map(|()| true)
    }

    /// Removes `value`; `false` if it was not present. A borrowed form will do.
    ///
    /// ```
    /// use braid::stm::{atomically, TSet};
    /// let set = TSet::new();
    /// atomically(|tx| set.insert(tx, "x".to_string()));
    /// assert!(atomically(|tx| set.remove(tx, "x")));
    /// assert!(!atomically(|tx| set.remove(tx, "x")));
    /// ```
    pub fn remove<Q>(&self, tx: &mut Transaction, value: &Q) -> StmResult<bool>
    where
        T: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hasher.hash_one(value);
        // SAFETY: the path is used in this attempt, for at most one write (`remove_at`).
        let path = unsafe { self.trie.path(tx, hash, value) }?;
        if path.entry().is_none() {
            return Ok(false);
        }
        Trie::remove_at(tx, path).map(|()| true)
    }

    /// Whether `value` is present. A borrowed form will do.
    ///
    /// ```
    /// use braid::stm::{atomically, TSet};
    /// let set = TSet::new();
    /// atomically(|tx| set.insert(tx, 3));
    /// assert!(atomically(|tx| set.contains(tx, &3)));
    /// ```
    pub fn contains<Q>(&self, tx: &mut Transaction, value: &Q) -> StmResult<bool>
    where
        T: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hasher.hash_one(value);
        // SAFETY: the entry is used here, in this attempt, and nothing writes the trie.
        Ok(unsafe { self.trie.find(tx, hash, value) }?.is_some())
    }

    /// Whether `value` is present now, read outside any transaction: the set's
    /// [`TMap::load`](crate::stm::TMap::load). The answer is the set's state at one
    /// moment (never half of a commit); it makes no transaction and keeps no read set.
    /// Inside a transaction body it ignores that transaction's own writes.
    ///
    /// ```
    /// use braid::stm::{atomically, TSet};
    /// let seen = TSet::new();
    /// atomically(|tx| seen.insert(tx, "page-1"));
    /// assert!(seen.contains_now("page-1"));
    /// assert!(!seen.contains_now("page-2"));
    /// ```
    pub fn contains_now<Q>(&self, value: &Q) -> bool
    where
        T: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hasher.hash_one(value);
        let mut snapshot = Snapshot::now();
        loop {
            if let Some(found) = self.trie.find_in(&snapshot, hash, value) {
                return found.is_some();
            }
            snapshot.renew();
        }
    }

    /// How many elements the set holds. Walks the whole set.
    ///
    /// ```
    /// use braid::stm::{atomically, TSet};
    /// let set = TSet::new();
    /// atomically(|tx| set.extend(tx, [1, 2, 2, 3]));
    /// assert_eq!(atomically(|tx| set.len(tx)), 3);
    /// ```
    pub fn len(&self, tx: &mut Transaction) -> StmResult<usize> {
        self.trie.len(tx)
    }

    /// Whether the set is empty. Reads only the root node.
    ///
    /// ```
    /// let set: braid::stm::TSet<u8> = braid::stm::TSet::new();
    /// assert!(braid::stm::atomically(|tx| set.is_empty(tx)));
    /// ```
    pub fn is_empty(&self, tx: &mut Transaction) -> StmResult<bool> {
        self.trie.is_empty(tx)
    }

    /// Every element, as one consistent snapshot, in no particular order.
    ///
    /// ```
    /// use braid::stm::{atomically, TSet};
    /// let set = TSet::new();
    /// atomically(|tx| set.insert(tx, "only"));
    /// assert_eq!(atomically(|tx| set.to_vec(tx)), ["only"]);
    /// ```
    pub fn to_vec(&self, tx: &mut Transaction) -> StmResult<Vec<T>> {
        let mut all = Vec::new();
        self.for_each(tx, |value| all.push(value.clone()))?;
        Ok(all)
    }

    /// Calls `f` on every element, in no particular order, without collecting them.
    ///
    /// ```
    /// use braid::stm::{atomically, TSet};
    /// let set = TSet::new();
    /// atomically(|tx| set.extend(tx, [1, 2, 3]));
    /// let mut sum = 0;
    /// atomically(|tx| { sum = 0; set.for_each(tx, |n| sum += n) });
    /// assert_eq!(sum, 6);
    /// ```
    pub fn for_each(&self, tx: &mut Transaction, mut f: impl FnMut(&T)) -> StmResult<()> {
        self.trie.for_each(tx, |_, entry| {
            f(&entry.key);
            Ok(())
        })
    }

    /// Keeps only the elements for which `keep` returns true.
    ///
    /// ```
    /// use braid::stm::{atomically, TSet};
    /// let set = TSet::new();
    /// atomically(|tx| set.extend(tx, 0..10));
    /// atomically(|tx| set.retain(tx, |n| n % 3 == 0));
    /// assert_eq!(atomically(|tx| set.len(tx)), 4);
    /// ```
    pub fn retain(&self, tx: &mut Transaction, mut keep: impl FnMut(&T) -> bool) -> StmResult<()> {
        self.trie.retain(tx, |_, entry| Ok(keep(&entry.key)))
    }

    /// Removes every element: one write, of the root.
    ///
    /// ```
    /// use braid::stm::{atomically, TSet};
    /// let set = TSet::new();
    /// atomically(|tx| set.insert(tx, 1));
    /// atomically(|tx| set.clear(tx));
    /// assert!(atomically(|tx| set.is_empty(tx)));
    /// ```
    pub fn clear(&self, tx: &mut Transaction) -> StmResult<()> {
        self.trie.clear(tx)
    }

    /// Adds every element, in one transaction.
    ///
    /// ```
    /// use braid::stm::{atomically, TSet};
    /// let set = TSet::new();
    /// atomically(|tx| set.extend(tx, ["a", "b"]));
    /// assert!(atomically(|tx| set.contains(tx, "b")));
    /// ```
    pub fn extend(
        &self,
        tx: &mut Transaction,
        values: impl IntoIterator<Item = T>,
    ) -> StmResult<()> {
        values
            .into_iter()
            .try_for_each(|value| self.insert(tx, value).map(drop))
    }
}

/// Collects into a new set, one transaction per element. Not inside a transaction: it
/// runs its own.
///
/// ```
/// use braid::stm::{atomically, TSet};
/// let vowels: TSet<char> = "aeiou".chars().collect();
/// assert!(atomically(|tx| vowels.contains(tx, &'e')));
/// ```
impl<T> FromIterator<T> for TSet<T>
where
    T: Hash + Eq + Clone + Send + Sync + 'static,
{
    fn from_iter<I: IntoIterator<Item = T>>(values: I) -> Self {
        let set = TSet::new();
        for value in values {
            atomically(|tx| set.insert(tx, value.clone()).map(drop));
        }
        set
    }
}

impl<T, S: Clone> Clone for TSet<T, S> {
    /// Another handle to the same set.
    fn clone(&self) -> Self {
        TSet {
            trie: self.trie.clone(),
            hasher: self.hasher.clone(),
        }
    }
}

impl<T> Default for TSet<T>
where
    T: Hash + Eq + Clone + Send + Sync + 'static,
{
    fn default() -> Self {
        TSet::new()
    }
}

/// The elements, each node as of its own latest commit (not one snapshot: read
/// [`TSet::to_vec`] in a transaction for that). Callable inside a transaction.
impl<T, S> fmt::Debug for TSet<T, S>
where
    T: fmt::Debug + Clone + Send + Sync + 'static,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut set = f.debug_set();
        self.trie.for_each_loaded(|entry| {
            set.entry(&entry.key);
        });
        set.finish()
    }
}
