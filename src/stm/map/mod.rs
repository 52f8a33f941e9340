//! Transactional map and set, [`TMap`] and [`TSet`].
//!
//! # `TMap`: transactional predication
//! `TMap` is built as Bronson, Casper, Chafi and Olukotun build theirs ("Transactional
//! predication", PODC 2010): an ordinary concurrent hash index (`index.rs`), outside the
//! STM, maps each key to a transactional variable of its own (`key_var.rs`), which holds
//! the key's value or says that the key is absent. A map operation is an index probe
//! (lock-free: no lock, no shared write) followed by reads and writes of that one
//! variable, so transactions conflict exactly where they touch the same key.
//!
//! Chosen over the alternatives issue 29 named, measured side by side (BENCHMARKS.md,
//! "Predication, measured"): a hash trie of `TVar` nodes (stm-containers; what `TMap`
//! was) costs about 4 dependent node reads per lookup, 935 instructions and 9 L1 misses
//! for a transactional `get` at 100k keys, against predication's 380 and 3; version words
//! inline in trie leaves keep those node reads. Predication's costs are an entry per key
//! in the index even while the key is absent, until a sweep unlinks it, and whole-map
//! reads that need witnesses (below).
//!
//! ## Footprint of each operation (what it reads and writes)
//! - `get`, `contains_key`, and `modify` of a present key: the key's variable.
//! - `insert`, `upsert`, `alter`: the key's variable; a key with no entry is looked up as
//!   below, and gets an entry (its variable made absent, and claimed by the transaction)
//!   only if the operation adds it. A change from absent to present or back also writes
//!   the shard's *witness*, blindly (a write without a read, so two such commits never
//!   conflict).
//! - `remove`: the key's variable, and the witness if the key was present.
//! - A lookup of a key with no entry reads the witness of its shard (1 of 32, by hash),
//!   and looks again: it then conflicts with (and a `retry` waits for) adding any key of
//!   that shard, where an entry made for it would cost a locked insert per miss. The
//!   read counts even after the transaction wrote that witness itself (it removed a key
//!   of the shard, say), where an ordinary read would see its own write and record
//!   nothing (`Transaction::depend_on`).
//! - `len`, `is_empty`, `to_vec`, `for_each`, `retain`, `clear`: every key's variable,
//!   and each shard's witness before and after walking the shard (before: a key added
//!   behind the walk; after: a key removed, then swept before the walk reached it); so
//!   they see all of a commit's inserts and removals or none.
//!
//! Absence is a bit of the variable's lock word, published by the store that unlocks
//! (`lock.rs`, `tx/slot.rs`): a word-sized value stays in the variable's word, with no
//! value reserved for "absent", and an absent key's variable holds nothing to free.
//!
//! An entry is one allocation: the key's hash, the key, and the variable's core inline
//! (`key_var.rs`), so a lookup goes from the table's slot to the key and the lock word
//! without another pointer. They sit in that order at the entry's start, so a lookup
//! of a `u64` key reads one 32-byte run, within one cache line unless the block starts
//! 48 bytes into a line (glibc's blocks start 16-byte aligned). A `u64 -> u64` entry
//! is 56 bytes, a 64-byte block, and costs 81 resident bytes at 1M entries with its
//! slots (BENCHMARKS.md). The index holds one counted reference to the core; a
//! transaction parked in `retry` may hold more, and the last one frees the entry.
//!
//! ## Cleanup (Bronson's embalm)
//! An absent key's entry stays in the index until its shard's table fills (or a `clear`
//! or `retain` commits), when the index asks every entry to *embalm* itself: a variable
//! that is absent, not claimed, and not being committed is marked dead by a commit of
//! its own (a new version from the clock, so every transaction that read it fails
//! validation, even one whose commit would skip validation), then unlinked, its
//! waiters woken, and freed once the transactions running have ended. A lookup that
//! still finds the dead variable (it probed just before the unlink) waits for the
//! unlink (the shard's lock) and looks again. So a write can never land in an unlinked
//! variable, where it would be lost.
//!
//! A new key's variable is *claimed* by the transaction that made it until that
//! transaction commits it or ends (`lock.rs`), so a sweep never takes a variable that
//! is absent only because its insert has not committed yet; else a transaction that
//! inserts many keys at once would lose its own new entries to the sweeps it causes,
//! and never commit. And it starts at the clock's time, not 0: a reader whose snapshot
//! predates the removal that emptied the key's previous variable finds it newer than
//! its snapshot, instead of reading an absence that predates it (`var.rs`).
//!
//! A sweep may still take a variable that a running attempt wrote (one that was absent
//! and unclaimed when the attempt wrote into it). The attempt is doomed, since the
//! embalm moved the version, but before it validates it could look the key up, miss it,
//! and see its own write vanish. So an attempt that finds a key missing, or has walked a
//! shard, checks a count of unlink passes, and gives up at once if a variable it read or
//! wrote has died (`tx/slot.rs`, Unlinks).
//!
//! ## Checks
//! Loom models: `models/loom_map.rs` (a key moved to another in one commit, racing a
//! transactional update and a reader; `load` against a commit), `models/loom_map_sweep.rs`
//! (an insert of a removed key racing the growth that sweeps its variable: after a
//! transactional read of it, and followed by a walk in the same attempt; and a waiter
//! parked on that key, which keeps its entry alive through the sweep), and the index's
//! own, `index_loom.rs` (a lock-free lookup while
//! a full table grows and a sweep unlinks; without the reader's fence, loom finds the
//! free racing the read). The property tests and the fuzz target check the map against
//! `HashMap`, `load` included; `tests/stm_map.rs` holds the stale-absence, own-witness
//! and leak cases.
//!
//! # `TSet`
//! `TSet` is a hash trie whose nodes are `TVar`s, as in Haskell's stm-containers
//! (`trie.rs` holds the trie and its footprint). It has no atomics of its own: the STM's
//! loom models cover it, and `models/loom_map.rs` checks its in-place node reads while
//! commits split and shrink the trie. `TSet::contains_now` reads one value outside any
//! transaction, the nodes on its path as of one time on the STM's clock
//! (`tvar::Snapshot`).

mod index;
mod key_var;
mod tmap;
mod trie;
mod tset;

pub use tmap::TMap;
pub use tset::TSet;
