//! Transactional map and set, [`TMap`] and [`TSet`]: a hash trie of `TVar`s on which
//! transactions over different keys do not conflict. `trie.rs` holds the trie and the
//! footprint of each operation; `tmap.rs` and `tset.rs` are the user-facing handles.
//!
//! Built from `TVar`s alone: no atomics of their own, so the STM's loom models cover
//! their concurrency. What is theirs is reading nodes in place while commits replace
//! them: `models/loom_map.rs` checks that under loom (a key moved while others read and
//! update it), and the property tests and fuzz target check the trie against
//! `HashMap`/`HashSet`.

mod tmap;
mod trie;
mod tset;

pub use tmap::TMap;
pub use tset::TSet;
