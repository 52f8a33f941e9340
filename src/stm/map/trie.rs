//! The trie under [`TSet`](super::TSet): a hash array mapped
//! trie (Bagwell 2001) whose nodes are `TVar`s, as in Haskell's stm-containers.
//!
//! # Shape
//! A node is a `TVar<Node>`: a bitmap of which of its 32 children exist and a dense array
//! of them, indexed by 5 bits of the key's 64-bit hash per level (the root uses the
//! lowest 5 bits). A child is
//! - `One`: a single entry (its hash and key);
//! - `Many`: two or more entries whose whole 64-bit hashes are equal (a collision),
//!   searched one by one;
//! - `Branch`: the `TVar` of the next level's node.
//!
//! Two entries share a node only while their hashes agree on every bit above it, so a
//! map of n keys with a good hash is about log32(n) levels deep (4 at 100k keys), and two
//! different hashes part by level 12 at the latest. A non-root node is never empty: a
//! removal that empties one drops its branch from the parent instead of writing it.
//!
//! # What a transaction touches
//! The point of nodes being `TVar`s is that a change rewrites only the one node that
//! holds the changed child; its ancestors keep pointing to the same `TVar`, so they are
//! not written, and readers of other paths are not disturbed:
//! - lookup: reads the nodes on the key's path (one per level);
//! - an insert of a new key, or a removal: those reads, plus one write of the deepest
//!   node on the path (or, when a removal empties nodes, of the nearest ancestor that
//!   stays non-empty);
//! - a walk (`len`, `to_vec`, `retain`): reads every node.
//!
//! So transactions on different keys conflict only when one of them changes the
//! structure of a node the other read: an insert or removal conflicts with operations on
//! keys in the same deepest node (a few: about 3 at 100k keys).
//!
//! # Reading in place
//! Nodes are read with `Transaction::read_in_place`, a pointer into the node instead of a
//! clone: a clone would copy the child array, and touch the reference count of every
//! child. Such a pointer, and every reference derived from it, is good until the attempt
//! ends or writes that node's variable again, which is why every structural change here
//! writes exactly once, after its last look at the old nodes, and why the lifetimes `'a`
//! below are chosen by the caller rather than checked: see each `unsafe fn`'s contract.

use std::borrow::Borrow;

use smallvec::SmallVec;

use crate::stm::tvar::Snapshot;
use crate::stm::{StmResult, TVar, Transaction};

/// Hash bits used per level, and so the fan-out of a node.
const BITS: u32 = 5;
const FAN_OUT_MASK: u64 = (1 << BITS) - 1;

/// One key of the set, with its hash.
#[derive(Clone)]
pub(crate) struct Entry<K> {
    pub(crate) hash: u64,
    pub(crate) key: K,
}

#[derive(Clone)]
enum Child<K> {
    One(Entry<K>),
    /// At least two entries, all with the same hash.
    Many(Box<[Entry<K>]>),
    Branch(TVar<Node<K>>),
}

impl<K> Child<K> {
    /// The entry of this leaf for `key` (none for a branch).
    fn entry_for<Q>(&self, hash: u64, key: &Q) -> Option<&Entry<K>>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let matches = |entry: &&Entry<K>| entry.hash == hash && entry.key.borrow() == key;
        match self {
            Child::One(entry) => Some(entry).filter(matches),
            Child::Many(entries) => entries.iter().find(matches),
            Child::Branch(_) => None,
        }
    }

    /// The hash of every entry here (a leaf's; not called on a branch).
    fn leaf_hash(&self) -> u64 {
        match self {
            Child::One(entry) => entry.hash,
            Child::Many(entries) => entries[0].hash,
            Child::Branch(_) => unreachable!("a branch has no single hash"),
        }
    }
}

/// One level: which of the 32 children exist, and those children in order.
#[derive(Clone)]
pub(crate) struct Node<K> {
    bitmap: u32,
    children: Box<[Child<K>]>,
}

impl<K> Node<K> {
    fn empty() -> Self {
        Node {
            bitmap: 0,
            children: Box::new([]),
        }
    }

    /// The position of the child for `bit` in `children`, were it present.
    fn position(&self, bit: u32) -> usize {
        (self.bitmap & (bit - 1)).count_ones() as usize
    }

    fn child(&self, bit: u32) -> Option<&Child<K>> {
        (self.bitmap & bit != 0).then(|| &self.children[self.position(bit)])
    }

    /// A copy with `child` added for `bit` (absent so far).
    fn with_added(&self, bit: u32, child: Child<K>) -> Self
    where
        Child<K>: Clone,
    {
        let at = self.position(bit);
        let mut children = Vec::with_capacity(self.children.len() + 1);
        children.extend_from_slice(&self.children[..at]);
        children.push(child);
        children.extend_from_slice(&self.children[at..]);
        Node {
            bitmap: self.bitmap | bit,
            children: children.into(),
        }
    }

    /// A copy with the child for `bit` (present) replaced by `child`.
    fn with_replaced(&self, bit: u32, child: Child<K>) -> Self
    where
        Child<K>: Clone,
    {
        let mut children = self.children.to_vec();
        children[self.position(bit)] = child;
        Node {
            bitmap: self.bitmap,
            children: children.into(),
        }
    }

    /// A copy without the child for `bit` (present).
    fn with_removed(&self, bit: u32) -> Self
    where
        Child<K>: Clone,
    {
        let at = self.position(bit);
        let mut children = Vec::with_capacity(self.children.len() - 1);
        children.extend_from_slice(&self.children[..at]);
        children.extend_from_slice(&self.children[at + 1..]);
        Node {
            bitmap: self.bitmap & !bit,
            children: children.into(),
        }
    }
}

/// The bit that selects `hash`'s child at `depth`.
fn bit_at(hash: u64, depth: u32) -> u32 {
    debug_assert!(
        depth * BITS < 64,
        "two different hashes part before level 13"
    );
    1 << ((hash >> (depth * BITS)) & FAN_OUT_MASK)
}

/// A node holding two leaves whose hashes differ, at `depth` and below.
fn pair<K>(depth: u32, a: Child<K>, b: Child<K>) -> Node<K>
where
    K: Clone + Send + Sync + 'static,
{
    let (bit_a, bit_b) = (bit_at(a.leaf_hash(), depth), bit_at(b.leaf_hash(), depth));
    if bit_a == bit_b {
        let below = TVar::new(pair(depth + 1, a, b));
        return Node {
            bitmap: bit_a,
            children: Box::new([Child::Branch(below)]),
        };
    }
    let children = if bit_a < bit_b { [a, b] } else { [b, a] };
    Node {
        bitmap: bit_a | bit_b,
        children: Box::new(children),
    }
}

/// Where a key was found, or where it would go.
enum Spot {
    /// No child for the key's bit.
    Vacant,
    /// The key is the `One` entry.
    One,
    /// The key is entry `i` of the `Many`.
    InMany(usize),
    /// A leaf of other keys holds the bit.
    Taken,
}

/// One node on a key's path: its variable and the node as this attempt sees it.
struct Level<'a, K> {
    var: &'a TVar<Node<K>>,
    node: &'a Node<K>,
}

/// The path to a key: the nodes from the root down, and what the last one holds.
pub(crate) struct Path<'a, K> {
    levels: SmallVec<[Level<'a, K>; 8]>,
    hash: u64,
    spot: Spot,
}

/// A path taken apart for a change: its deepest node, the bit of the key's child there,
/// and the levels above it.
struct End<'a, K> {
    above: SmallVec<[Level<'a, K>; 8]>,
    var: &'a TVar<Node<K>>,
    node: &'a Node<K>,
    depth: u32,
    bit: u32,
    hash: u64,
    spot: Spot,
}

impl<'a, K> Path<'a, K> {
    fn into_end(self) -> End<'a, K> {
        let Path {
            mut levels,
            hash,
            spot,
        } = self;
        let depth = levels.len() as u32 - 1;
        let Level { var, node } = levels.pop().expect("a path starts at the root");
        End {
            above: levels,
            var,
            node,
            depth,
            bit: bit_at(hash, depth),
            hash,
            spot,
        }
    }

    /// The entry the path ends at, if the key is present.
    pub(crate) fn entry(&self) -> Option<&'a Entry<K>> {
        let last = self.levels.last().expect("a path starts at the root");
        let depth = self.levels.len() as u32 - 1;
        match (&self.spot, last.node.child(bit_at(self.hash, depth))) {
            (Spot::One, Some(Child::One(entry))) => Some(entry),
            (Spot::InMany(i), Some(Child::Many(entries))) => Some(&entries[*i]),
            _ => None,
        }
    }
}

/// The trie: a handle to its root node.
pub(crate) struct Trie<K> {
    root: TVar<Node<K>>,
}

impl<K> Clone for Trie<K> {
    fn clone(&self) -> Self {
        Trie {
            root: self.root.clone(),
        }
    }
}

impl<K> Trie<K>
where
    K: Clone + Send + Sync + 'static,
{
    pub(crate) fn new() -> Self {
        Trie {
            root: TVar::new(Node::empty()),
        }
    }

    /// `var`'s node as this attempt sees it.
    ///
    /// # Safety
    /// The reference is used only in this attempt and not after `var` is written (see the
    /// module docs, Reading in place); `var` itself lives that long.
    unsafe fn node<'a>(tx: &mut Transaction, var: &TVar<Node<K>>) -> StmResult<&'a Node<K>> {
        let node = var.read_in_place(tx)?;
        // SAFETY: `read_in_place` points to a live node for as long as the caller's
        // contract allows using it.
        Ok(unsafe { node.as_ref() })
    }

    /// The entry for `key`, if present. Reads one node per level.
    ///
    /// # Safety
    /// The entry is used only in this attempt, before any write to this trie.
    pub(crate) unsafe fn find<'a, Q>(
        &'a self,
        tx: &mut Transaction,
        hash: u64,
        key: &Q,
    ) -> StmResult<Option<&'a Entry<K>>>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let mut var = &self.root;
        let mut depth = 0;
        loop {
            // SAFETY: the caller's contract; a child variable lives as long as the node
            // that holds it.
            let node: &'a Node<K> = unsafe { Self::node(tx, var) }?;
            let found = match node.child(bit_at(hash, depth)) {
                None => None,
                Some(Child::Branch(below)) => {
                    var = below;
                    depth += 1;
                    continue;
                }
                Some(leaf) => leaf.entry_for(hash, key),
            };
            return Ok(found);
        }
    }

    /// `find` outside a transaction: the entry for `key` as of `snapshot`, reading the
    /// same nodes; `None` if one of them changed since the snapshot (renew it and look
    /// again). The entry lives as long as the snapshot's pin.
    pub(crate) fn find_in<'a, Q>(
        &'a self,
        snapshot: &'a Snapshot,
        hash: u64,
        key: &Q,
    ) -> Option<Option<&'a Entry<K>>>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let mut var = &self.root;
        let mut depth = 0;
        loop {
            let node = snapshot.read_in_place(var)?;
            let found = match node.child(bit_at(hash, depth)) {
                None => None,
                Some(Child::Branch(below)) => {
                    var = below;
                    depth += 1;
                    continue;
                }
                Some(leaf) => leaf.entry_for(hash, key),
            };
            return Some(found);
        }
    }

    /// The path to `key`, for a change. Reads the same nodes as `find`.
    ///
    /// # Safety
    /// As for `find`: the path is used in this attempt, up to one write to this trie.
    pub(crate) unsafe fn path<'a, Q>(
        &'a self,
        tx: &mut Transaction,
        hash: u64,
        key: &Q,
    ) -> StmResult<Path<'a, K>>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let mut levels = SmallVec::new();
        let mut var = &self.root;
        loop {
            // SAFETY: as in `find`.
            let node: &'a Node<K> = unsafe { Self::node(tx, var) }?;
            levels.push(Level { var, node });
            let depth = levels.len() as u32 - 1;
            let is_key = |entry: &Entry<K>| entry.hash == hash && entry.key.borrow() == key;
            let spot = match node.child(bit_at(hash, depth)) {
                None => Spot::Vacant,
                Some(Child::One(entry)) if is_key(entry) => Spot::One,
                Some(Child::Many(entries)) => match entries.iter().position(is_key) {
                    Some(i) => Spot::InMany(i),
                    None => Spot::Taken,
                },
                Some(Child::One(_)) => Spot::Taken,
                Some(Child::Branch(below)) => {
                    var = below;
                    continue;
                }
            };
            return Ok(Path { levels, hash, spot });
        }
    }

    /// Adds `entry` where `path` (to a key that is absent) ends: one node written.
    pub(crate) fn insert_at(
        tx: &mut Transaction,
        path: Path<'_, K>,
        entry: Entry<K>,
    ) -> StmResult<()> {
        let End {
            var,
            node,
            depth,
            bit,
            spot,
            ..
        } = path.into_end();
        let new_node = match (spot, node.child(bit)) {
            (Spot::Vacant, _) => node.with_added(bit, Child::One(entry)),
            (Spot::Taken, Some(leaf)) => {
                let child = if leaf.leaf_hash() == entry.hash {
                    // A full collision: the entries share a hash, and are told apart by key.
                    let mut entries = match leaf {
                        Child::One(one) => vec![one.clone()],
                        Child::Many(many) => many.to_vec(),
                        Child::Branch(_) => unreachable!("a path ends above a leaf"),
                    };
                    entries.push(entry);
                    Child::Many(entries.into())
                } else {
                    let below = pair(depth + 1, leaf.clone(), Child::One(entry));
                    Child::Branch(TVar::new(below))
                };
                node.with_replaced(bit, child)
            }
            _ => unreachable!("insert_at is for a key that is absent"),
        };
        var.write(tx, new_node)
    }

    /// Removes the entry `path` ends at (the key is present): one node written.
    pub(crate) fn remove_at(tx: &mut Transaction, path: Path<'_, K>) -> StmResult<()> {
        let End {
            above: mut levels,
            var,
            node,
            bit,
            hash,
            spot,
            ..
        } = path.into_end();
        if let (Spot::InMany(i), Some(Child::Many(entries))) = (&spot, node.child(bit)) {
            let mut rest = entries.to_vec();
            rest.remove(*i);
            let child = match rest.len() {
                1 => Child::One(rest.pop().expect("one entry")),
                _ => Child::Many(rest.into()),
            };
            return var.write(tx, node.with_replaced(bit, child));
        }
        debug_assert!(
            matches!(spot, Spot::One),
            "remove_at is for a key that is present"
        );
        // Drop the child; while that leaves a non-root node empty, drop that node's
        // branch from its parent instead.
        let (mut var, mut node, mut bit) = (var, node, bit);
        while node.children.len() == 1 {
            let Some(parent) = levels.pop() else { break };
            (var, node) = (parent.var, parent.node);
            bit = bit_at(hash, levels.len() as u32);
        }
        var.write(tx, node.with_removed(bit))
    }

    /// Whether the trie holds no entry: the root has no child (non-root nodes are never
    /// empty). Reads the root only.
    pub(crate) fn is_empty(&self, tx: &mut Transaction) -> StmResult<bool> {
        // SAFETY: used at once, before any write.
        let root = unsafe { Self::node(tx, &self.root) }?;
        Ok(root.bitmap == 0)
    }

    /// How many entries the trie holds. Reads every node (no shared count: every insert
    /// would write it).
    pub(crate) fn len(&self, tx: &mut Transaction) -> StmResult<usize> {
        let mut len = 0;
        self.for_each(tx, |_, _| {
            len += 1;
            Ok(())
        })?;
        Ok(len)
    }

    /// Calls `f` on every entry, in hash order. Reads every node.
    pub(crate) fn for_each(
        &self,
        tx: &mut Transaction,
        mut f: impl FnMut(&mut Transaction, &Entry<K>) -> StmResult<()>,
    ) -> StmResult<()> {
        Self::for_each_below(tx, &self.root, &mut f)
    }

    fn for_each_below(
        tx: &mut Transaction,
        var: &TVar<Node<K>>,
        f: &mut impl FnMut(&mut Transaction, &Entry<K>) -> StmResult<()>,
    ) -> StmResult<()> {
        // SAFETY: nothing here writes the trie (`f` gets entries, not the trie), and the
        // node is used only during this call.
        let node = unsafe { Self::node(tx, var) }?;
        for child in node.children.iter() {
            match child {
                Child::One(entry) => f(tx, entry)?,
                Child::Many(entries) => entries.iter().try_for_each(|entry| f(tx, entry))?,
                Child::Branch(below) => Self::for_each_below(tx, below, f)?,
            }
        }
        Ok(())
    }

    /// Keeps only the entries for which `keep` is true. Writes each node that loses an
    /// entry (or drops a branch), once.
    pub(crate) fn retain(
        &self,
        tx: &mut Transaction,
        mut keep: impl FnMut(&mut Transaction, &Entry<K>) -> StmResult<bool>,
    ) -> StmResult<()> {
        Self::retain_below(tx, &self.root, true, &mut keep).map(drop)
    }

    /// `retain` under `var`; true when a non-root node was left empty (and so was not
    /// written: its parent drops it).
    fn retain_below(
        tx: &mut Transaction,
        var: &TVar<Node<K>>,
        is_root: bool,
        keep: &mut impl FnMut(&mut Transaction, &Entry<K>) -> StmResult<bool>,
    ) -> StmResult<bool> {
        // SAFETY: `var` is written at most once, at the end, after the last use of `node`;
        // the variables below it are other variables.
        let node = unsafe { Self::node(tx, var) }?;
        let mut changed = false;
        let mut bitmap = 0;
        let mut kept = Vec::with_capacity(node.children.len());
        let mut bits = (0..32)
            .map(|i| 1u32 << i)
            .filter(|bit| node.bitmap & bit != 0);
        for child in node.children.iter() {
            let bit = bits.next().expect("a bit per child");
            // The child to keep in its place, if any, and whether it differs from before.
            let (child, new) = match child {
                Child::One(entry) => (keep(tx, entry)?.then(|| child.clone()), false),
                Child::Many(entries) => {
                    let mut rest = Vec::with_capacity(entries.len());
                    for entry in entries.iter() {
                        if keep(tx, entry)? {
                            rest.push(entry.clone());
                        }
                    }
                    match rest.len() {
                        0 => (None, false),
                        1 => (Some(Child::One(rest.pop().expect("one entry"))), true),
                        n if n == entries.len() => (Some(child.clone()), false),
                        _ => (Some(Child::Many(rest.into())), true),
                    }
                }
                Child::Branch(below) => {
                    let emptied = Self::retain_below(tx, below, false, keep)?;
                    ((!emptied).then(|| child.clone()), false)
                }
            };
            changed |= new || child.is_none();
            if let Some(child) = child {
                bitmap |= bit;
                kept.push(child);
            }
        }
        if !changed {
            return Ok(false);
        }
        if kept.is_empty() && !is_root {
            return Ok(true);
        }
        let children = kept.into();
        var.write(tx, Node { bitmap, children })?;
        Ok(false)
    }

    /// Empties the trie: one write, of the root.
    pub(crate) fn clear(&self, tx: &mut Transaction) -> StmResult<()> {
        self.root.write(tx, Node::empty())
    }

    /// Calls `f` on every entry without a transaction, each node as of its own `load`
    /// (for `Debug`: not one snapshot).
    pub(crate) fn for_each_loaded(&self, mut f: impl FnMut(&Entry<K>)) {
        fn walk<K>(node: &Node<K>, f: &mut impl FnMut(&Entry<K>))
        where
            K: Clone + Send + Sync + 'static,
        {
            for child in node.children.iter() {
                match child {
                    Child::One(entry) => f(entry),
                    Child::Many(entries) => entries.iter().for_each(&mut *f),
                    Child::Branch(below) => walk(&below.load(), f),
                }
            }
        }
        walk(&self.root.load(), &mut f);
    }
}
