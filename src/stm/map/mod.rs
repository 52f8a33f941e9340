//! Transactional map and set, [`TMap`] and [`TSet`]: a hash trie of `TVar`s on which
//! transactions over different keys do not conflict. `trie.rs` holds the trie and the
//! footprint of each operation; `tmap.rs` and `tset.rs` are the user-facing handles.
//!
//! Built from `TVar`s alone: no atomics of their own, so the STM's loom models cover
//! their concurrency. What is theirs is reading nodes in place while commits replace
//! them: `models/loom_map.rs` checks that under loom (a key moved while others read and
//! update it), and the property tests and fuzz target check the trie against
//! `HashMap`/`HashSet`.
//!
//! `TMap::load` and `TSet::contains_now` read one key outside any transaction: the nodes
//! on its path and its value, each as of one time on the STM's clock (`tvar::Snapshot`,
//! TL2's read-only transaction without a read set). They are in no transaction's
//! footprint: they never make a commit retry, and start over themselves only when a
//! commit lands on a node of their path or on the value while they read it.
//! `loom_map` checks one against a commit that splits its key's leaf.

// Not used yet: the predicated `TMap` of issue 29 will be built on it.
#[allow(dead_code)]
mod index;
mod tmap;
mod trie;
mod tset;

pub use tmap::TMap;
pub use tset::TSet;
