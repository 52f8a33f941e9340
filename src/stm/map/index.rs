//! The hash index of a predicated map: each key to one entry of its own, which holds the
//! key's payload (its variable), outside the STM.
//!
//! Transactional predication (Bronson, Casper, Chafi and Olukotun, PODC 2010) maps each
//! key to one STM variable through an ordinary concurrent map; transactions touch only
//! the variables, so their conflicts are per key. A variable holding "absent" is taken
//! out of the map lazily, and only once it is *embalmed*: marked so that no transaction
//! can use it again. The paper takes a `ConcurrentHashMap` and removes each embalmed
//! variable as it goes; here the map is our own, so that a lookup is a few loads with no
//! lock, no read-modify-write and no store, and the cleanup runs in batches: when a
//! table is full, and in [`Index::sweep`].
//!
//! # Layout
//! - `SHARDS` shards, picked by the top bits of the key's hash, each on a cache line of
//!   its own (two shards' writers never share one) and 64 bytes in all: a map with no
//!   entries costs `SHARDS x 64` bytes.
//! - A shard has a mutex, which writers take (it also guards the counts of the current
//!   table's slots), and a pointer to its current table, which readers load without it;
//!   null before the first insert, and again once a sweep empties the shard.
//! - A table is one allocation: its mask (capacity - 1, a power of two), then its slots.
//!   Open addressing with linear probing from `hash & mask`. A slot holds null (never
//!   used), a pointer to an entry, or the tombstone (an entry was unlinked from it; a
//!   sentinel address that is never dereferenced).
//! - A slot's value carries a 16-bit tag of its entry's hash in the bits above the
//!   address (Tags, below).
//! - An entry is boxed once, holds its hash, key and payload and nothing else, and
//!   never changes or moves: tables hold pointers. A table without tombstones is
//!   between 3/8 and 3/4 full, so slots cost 11 to 21 bytes per entry (17 at 1M
//!   entries: 31,250 per shard in 65,536 slots).
//!
//! # Rules
//! 1. Only a holder of the shard's lock stores to the shard's table pointer or to a slot
//!    of its current table. A table that has been replaced is never written again.
//! 2. A slot goes from null to an entry, from an entry to the tombstone, or from the
//!    tombstone to an entry; never back to null, and never from one entry to another.
//!    Entries never move within a table (no backward-shift deletion, no Robin Hood):
//!    a reader part-way along a probe chain would miss a key that moved behind it.
//! 3. An entry is unlinked (tombstoned, or left out of a new table) only if its payload
//!    embalmed, and in the critical section that embalmed it.
//! 4. Live entries plus tombstones stay at most 3/4 of the capacity, so every table has
//!    a null slot and every probe ends. An insert that would pass that first embalms
//!    and unlinks what it can, then moves the live entries to a new table sized for
//!    them (at most half full, at least `MIN_CAPACITY` slots) and publishes it. A sweep
//!    that leaves tombstones in a table that a smaller one would hold does the same, or
//!    frees the table if no entry is left.
//! 5. Unlinked entries and replaced tables are freed together, with one
//!    `reclaim::retire_after_sections` per growth or sweep, once every section running
//!    at that call has ended (see Sections).
//!
//! # Tags
//! A probe passes over the entries of other keys on its way to its own, and reading
//! each of those entries' hash is a cache miss in a large map, and a line that another
//! core writes (the entry's variable sits beside its hash) when that key is another
//! thread's. So a slot keeps 16 bits of its entry's hash above the entry's address
//! (user-space addresses on 64-bit targets have 48 bits), and a probe reads an entry
//! only when the tag matches: one entry in 32,768 of those it passes. The tag is part of
//! the slot's one word, stored and loaded with it, so nothing about the orderings
//! changes. An entry whose address needs those bits (none on x86-64 or AArch64 today),
//! and every entry on a 32-bit target, is linked untagged (tag 0), and probes read it as
//! before. (Two threads updating disjoint keys of one map: BENCHMARKS.md, issue 29.)
//!
//! # Why a reader needs no lock
//! A reader loads the table pointer, then probes slots from `hash & mask` until it finds
//! the key or a null slot. Take an entry `e` that was linked before the lookup began
//! (its link happens before the lookup) and is not embalmed while it runs. The reader
//! loads the table `e` was linked into or a later one (coherence), and each later table
//! got `e` from the rebuild that made it, which copies every entry that did not embalm
//! before publishing the table; either way, `e`'s linking into the table the reader
//! probes happens before the probe. At that linking, every slot from `hash & mask` up to
//! `e`'s was non-null (a link takes the first null or tombstone) and stays so (rule 2),
//! so the reader reads non-null in each (coherence) and reaches `e`'s slot, which still
//! holds `e` (rule 3). A table replaced meanwhile stays as it was (rule 1). So a lookup
//! finds every such entry; it may or may not see an entry linked or embalmed while it
//! runs, and may return one that embalmed meanwhile: the caller reads the payload to
//! learn whether the key is there, as it must anyway. `find_or_insert` probes under the
//! lock, where every embalmed entry is already unlinked (rule 3): it never returns one.
//!
//! # Sections
//! A reader uses the table and entries it found for as long as its section
//! (`presence.rs`) runs, and rule 5 frees them only after every section running at the
//! retire has ended. That needs the retiring writer's scan to see the section of every
//! reader that can still reach what it retires. The chain `var.rs` relies on (the
//! reader's load happens before the unlink) does not exist here: a reader that loads an
//! old slot or table pointer reads *before* the unlink, which orders nothing. With only
//! the presence mark's `Release` store, the writer's scan and the reader's load are the
//! store-buffering pattern: the reader's mark may still sit in its store buffer while it
//! loads the old table, and the writer's scan miss it, on x86 too. So both sides fence:
//! - the writer runs a `SeqCst` fence after unlinking (the tombstone stores and the new
//!   table pointer) and before the scan (`Garbage::retire`);
//! - the reader runs a `SeqCst` fence after entering its section and before its first
//!   `find` or `entries` (a precondition of both: once per section is enough).
//!
//! The two fences are in one total order. If the writer's comes first, the reader's
//! loads after its own fence read the unlinking stores or later ones: it never reaches
//! what was unlinked. If the reader's comes first, the writer's scan reads the reader's
//! mark or a later count: it waits for that section, and `all_left` (an `Acquire` load
//! of the changed count) orders the section's uses before the free.
//! `find_or_insert`'s caller needs no fence for the entry it gets: it took the lock after
//! entering its section, and whoever unlinks that entry later takes the lock after, so
//! its scan sees the mark.
//! The loom model in `index_loom.rs` fails without either fence (a free races the
//! reader's use): it keeps a twin of the model without the reader's.
//!
//! # Orderings
//! - Table pointer: stored `Release` by the writer that built the table, loaded
//!   `Acquire` by readers: the table's slots, and the entries they point to (linked
//!   before under the same lock), are visible to the reader.
//! - Slot, linking an entry into the current table: stored `Release` after the entry
//!   was written, loaded `Acquire` by readers: the entry's contents are visible.
//! - Slot, tombstoning an entry: stored `Release`, loaded `Acquire` by readers: a reader
//!   that finds the key gone also sees the embalm that preceded the unlink. (What the
//!   reader may no longer reach is the fences' business, below.)
//! - Every load by the lock holder: `Relaxed`. The lock orders all writers (rule 1).
//!   (A rebuild links entries into its unpublished table with the same `Release` store
//!   as an insert; there the publication is what orders them.)
//! - The two `SeqCst` fences: see Sections.
//!
//! Under loom, tables and entries have a liveness cell, like a variable's core
//! (`var.rs`): a free marks it dead and leaks the memory, and the reader's path reads it,
//! so loom reports a use that the free does not follow.

use std::alloc::{self, Layout};
use std::borrow::Borrow;
use std::marker::PhantomData;
use std::ptr;

use crate::sync::atomic::Ordering::{Acquire, Relaxed, Release, SeqCst};
use crate::sync::atomic::{fence, AtomicPtr};
use crate::sync::liveness::Liveness;
use crate::sync::{lock, reclaim, Mutex};

/// How many bits of the hash pick the shard: the top ones, which no table with fewer
/// than `2^(64 - SHARD_BITS)` slots uses for its slot index. Fewer under loom, so that a
/// model's keys meet in one shard.
#[cfg(not(loom))]
const SHARD_BITS: u32 = 5;
#[cfg(loom)]
const SHARD_BITS: u32 = 1;

/// How many shards an index has.
pub(crate) const SHARDS: usize = 1 << SHARD_BITS;

/// The fewest slots a table has. Smaller under loom, so that a model fills one.
#[cfg(not(loom))]
const MIN_CAPACITY: usize = 8;
#[cfg(loom)]
const MIN_CAPACITY: usize = 4;

/// The shard of a key's hash.
#[inline]
pub(crate) fn shard_of(hash: u64) -> usize {
    (hash >> (64 - SHARD_BITS)) as usize
}

/// One key's entry: boxed once, never moved or changed while linked. `repr(C)`, in this
/// order: a lookup compares the hash and the key, then reads the payload's first words
/// (a key variable's lock word and value), so these sit together at the entry's start,
/// on one cache line unless the block straddles two.
#[repr(C)]
pub(crate) struct Entry<K, P> {
    pub(crate) hash: u64,
    pub(crate) key: K,
    pub(crate) payload: P,
    /// Marked freed with the entry (under loom entries are leaked): see the module docs.
    alive: Liveness,
}

impl<K, P> Entry<K, P> {
    /// Under loom, fails if this entry's free does not happen after this access (as a
    /// data race or as an assertion). Nothing under std.
    #[inline(always)]
    pub(crate) fn check_alive(&self) {
        self.alive.check("an index entry");
    }
}

/// What the index asks of a payload when it would grow a table, or sweeps.
pub(crate) trait Embalm {
    /// Called with the shard's lock held, for each linked entry, when the shard's table
    /// is full, and by `sweep`. True: the key is absent, and the payload is now marked so
    /// that nothing will use it again; the index then unlinks the entry, and frees it
    /// once the sections running now have ended. It is never called again on that entry.
    fn embalm(&self) -> bool;

    /// Called once for each entry that embalmed, after it is unlinked and with no lock
    /// held, before its free is deferred: for what must not run under the shard's lock
    /// (a variable's waiters are woken here, to look the key up again).
    fn wake(&self) {}

    /// Called with the shard's lock held, once per pass over a table in which some
    /// entries embalmed: after all of them embalmed and before any is unlinked. A reader
    /// that finds one of them gone from the index therefore also sees what this did
    /// (`TMap` tells running transactions that something was unlinked:
    /// `tx/slot.rs`, Unlinks).
    fn before_unlink() {}

    /// Frees an entry the index is done with: unlinked, and every section that could
    /// reach it ended (or the index is dropped). The default drops it. A payload that
    /// others keep alive past that (a key's variable, which parked waiters hold counted
    /// references to) gives up the index's share instead, and frees the entry with
    /// [`free_entry`] once the last share goes.
    ///
    /// # Safety
    /// `entry` came from this index's `find_or_insert`, and the index does not use it
    /// again.
    unsafe fn free<K>(entry: *mut Entry<K, Self>)
    where
        Self: Sized,
    {
        // SAFETY: the caller's precondition.
        unsafe { free_entry(entry) }
    }
}

/// The entry whose payload is at `payload`: for a payload that frees its own entry
/// (`Embalm::free`) and has only its own address.
///
/// # Safety
/// `payload` points to the payload of a live entry of an index (whose allocation the
/// index exposed: see `find_or_insert`).
pub(crate) unsafe fn entry_of_payload<K, P>(payload: *mut P) -> *mut Entry<K, P> {
    let address = payload as usize - std::mem::offset_of!(Entry<K, P>, payload);
    // The entry's own provenance, which `find_or_insert` exposed, not the payload
    // field's: the caller's pointer may come from a reference to the payload alone.
    ptr::with_exposed_provenance_mut(address)
}

/// The slot value of an unlinked entry. Entries are aligned to 8 (they hold a `u64`),
/// so no entry is ever at address 1; it is compared, never dereferenced.
#[inline(always)]
fn tombstone<K, P>() -> *mut Entry<K, P> {
    ptr::without_provenance_mut(1)
}

/// Whether a slot's value points to an entry (is neither null nor the tombstone).
#[inline(always)]
fn is_entry<K, P>(slot: *mut Entry<K, P>) -> bool {
    !slot.is_null() && slot != tombstone()
}

/// Where a slot keeps its entry's tag (see the module docs, Tags): the bits above the
/// 48 of a user-space address on 64-bit targets.
#[cfg(target_pointer_width = "64")]
const TAG_SHIFT: u32 = 48;

/// A key's tag: 16 bits of its hash that pick neither its shard (the top bits) nor,
/// below 2^32 slots, its slot (the low bits); never 0, which marks an untagged slot.
#[cfg(target_pointer_width = "64")]
#[inline(always)]
fn tag_of(hash: u64) -> usize {
    ((hash >> 32) as usize & 0xffff) | 1
}

/// The slot value of `entry`, whose key hashes to `hash`: its address with its key's
/// tag above it, or the bare address if the address needs those bits.
#[inline(always)]
fn tagged<K, P>(entry: *mut Entry<K, P>, hash: u64) -> *mut Entry<K, P> {
    #[cfg(target_pointer_width = "64")]
    if entry.addr() >> TAG_SHIFT == 0 {
        return entry.map_addr(|address| address | tag_of(hash) << TAG_SHIFT);
    }
    let _ = hash;
    entry
}

/// The entry a slot value that `is_entry` points to, without its tag.
#[inline(always)]
fn untagged<K, P>(slot: *mut Entry<K, P>) -> *mut Entry<K, P> {
    #[cfg(target_pointer_width = "64")]
    return slot.map_addr(|address| address & ((1 << TAG_SHIFT) - 1));
    #[cfg(not(target_pointer_width = "64"))]
    slot
}

/// Whether the entry in a slot whose value `is_entry` may hold a key that hashes to
/// `hash`: false only if its tag says it cannot, so the entry need not be read.
#[inline(always)]
fn may_match<K, P>(slot: *mut Entry<K, P>, hash: u64) -> bool {
    #[cfg(target_pointer_width = "64")]
    {
        let tag = slot.addr() >> TAG_SHIFT;
        tag == 0 || tag == tag_of(hash)
    }
    #[cfg(not(target_pointer_width = "64"))]
    {
        let _ = (slot, hash);
        true
    }
}

/// The fixed part of a table, where the shard's pointer points.
struct Head {
    /// The capacity minus one; the capacity is a power of two.
    mask: usize,
    /// Marked freed with the table (under loom tables are leaked): see the module docs.
    alive: Liveness,
}

/// A table: its head, then `mask + 1` slots, in one allocation.
#[repr(C)]
struct Table<K, P> {
    head: Head,
    slots: [AtomicPtr<Entry<K, P>>],
}

impl<K, P> Table<K, P> {
    fn layout(capacity: usize) -> Layout {
        let slots = Layout::array::<AtomicPtr<Entry<K, P>>>(capacity);
        let slots = slots.expect("braid: a TMap shard's table outgrew the address space");
        let (layout, _) = (Layout::new::<Head>().extend(slots))
            .expect("braid: a TMap shard's table outgrew the address space");
        layout.pad_to_align()
    }

    /// A table of `capacity` null slots, not yet published; its head.
    fn alloc(capacity: usize) -> *mut Head {
        debug_assert!(capacity.is_power_of_two());
        let layout = Self::layout(capacity);
        // SAFETY: the layout has a non-zero size (it holds a `Head`).
        let raw = unsafe { alloc::alloc(layout) };
        if raw.is_null() {
            alloc::handle_alloc_error(layout);
        }
        let table = ptr::slice_from_raw_parts_mut(raw, capacity) as *mut Table<K, P>;
        // SAFETY: `raw` is a fresh allocation of `Table`'s layout with `capacity` slots
        // (`layout` computes what `repr(C)` lays out); each field is written once.
        unsafe {
            (&raw mut (*table).head).write(Head {
                mask: capacity - 1,
                alive: Liveness::new(),
            });
            let slots = (&raw mut (*table).slots).cast::<AtomicPtr<Entry<K, P>>>();
            for i in 0..capacity {
                slots.add(i).write(AtomicPtr::new(ptr::null_mut()));
            }
        }
        raw.cast()
    }

    /// The whole table whose head this is, as a raw pointer.
    ///
    /// # Safety
    /// `head` came from `Table::<K, P>::alloc` and is not freed.
    #[inline(always)]
    unsafe fn whole(head: *mut Head) -> *mut Table<K, P> {
        // SAFETY: the caller's precondition (under loom, tables are never deallocated).
        unsafe { &(*head).alive }.check("an index table");
        // SAFETY: the caller's precondition: a live table's head.
        let slots = unsafe { (*head).mask } + 1;
        // The pointer keeps the provenance of the whole allocation (it is `alloc`'s).
        ptr::slice_from_raw_parts_mut(head, slots) as *mut Table<K, P>
    }

    /// The table whose head this is.
    ///
    /// # Safety
    /// `head` came from `Table::<K, P>::alloc` and is not freed during `'a`.
    #[inline(always)]
    unsafe fn from_head<'a>(head: *mut Head) -> &'a Table<K, P> {
        // SAFETY: the caller's precondition.
        unsafe { &*Self::whole(head) }
    }

    /// Frees the table (not the entries it points to).
    ///
    /// # Safety
    /// `head` came from `Table::<K, P>::alloc`, and nothing uses it from now on.
    unsafe fn free(head: *mut Head) {
        // SAFETY: the caller's precondition.
        let table = unsafe { Self::whole(head) };
        // SAFETY: the caller's precondition; under loom the memory is leaked, and the
        // mark is left for late readers to fail on.
        unsafe { &(*table).head.alive }.mark_freed();
        #[cfg(not(loom))]
        // SAFETY: allocated by the global allocator with `layout(mask + 1)`, which is
        // `Layout::for_value` of this table; nothing uses it from now on.
        drop(unsafe { Box::from_raw(table) });
    }

    /// The entry for `key` in this table, if it holds one. Any thread.
    #[inline]
    fn find<Q>(&self, hash: u64, key: &Q) -> Option<&Entry<K, P>>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let mask = self.head.mask;
        let mut i = hash as usize & mask;
        loop {
            // Acquire: pairs with the Release store that linked the entry (`link`), so
            // its contents are visible.
            let slot = self.slots[i].load(Acquire);
            if slot.is_null() {
                return None;
            }
            if slot != tombstone() && may_match(slot, hash) {
                // SAFETY: a linked entry stays allocated while any section that can
                // reach this table runs (module docs, Sections), and the caller's does.
                let entry = unsafe { &*untagged(slot) };
                entry.check_alive();
                if entry.hash == hash && entry.key.borrow() == key {
                    return Some(entry);
                }
            }
            i = (i + 1) & mask;
        }
    }

    /// Stores `entry` in the first null or tombstone slot of its probe chain; returns
    /// whether that slot was null. For a lock holder, whose key is not in the table.
    fn link(&self, entry: *mut Entry<K, P>, hash: u64) -> bool {
        let mask = self.head.mask;
        let mut i = hash as usize & mask;
        loop {
            // Relaxed: the lock holder's own table (rule 1).
            let slot = self.slots[i].load(Relaxed);
            if !is_entry(slot) {
                // Release: pairs with the readers' Acquire slot loads (`find`).
                self.slots[i].store(tagged(entry, hash), Release);
                return slot.is_null();
            }
            i = (i + 1) & mask;
        }
    }

    /// Every entry linked in this table, as its slots are read one by one.
    fn entries(&self) -> impl Iterator<Item = *mut Entry<K, P>> + '_ {
        (self.slots.iter())
            // Acquire: as in `find`.
            .map(|slot| slot.load(Acquire))
            .filter(|&slot| is_entry(slot))
            .map(untagged)
    }
}

/// The counts of a shard's current table, under the shard's lock.
#[derive(Default)]
struct Counts {
    /// Linked entries.
    live: usize,
    /// Slots that are not null: linked entries and tombstones.
    used: usize,
}

/// One shard: a cache line of its own (see the module docs, Layout).
#[repr(align(64))]
struct Shard {
    /// Taken by writers (rule 1).
    lock: Mutex<Counts>,
    /// The head of the current table, or null for none.
    table: AtomicPtr<Head>,
}

/// Whether one more slot in use would pass 3/4 of the table (rule 4).
fn is_full<K, P>(table: &Table<K, P>, counts: &Counts) -> bool {
    (counts.used + 1) * 4 > (table.head.mask + 1) * 3
}

/// The smallest table in which `live` entries fill at most half the slots.
fn capacity_for(live: usize) -> usize {
    (2 * live).next_power_of_two().max(MIN_CAPACITY)
}

/// A sharded hash index from keys to entries, with lock-free lookups; see the module docs.
pub(crate) struct Index<K, P: Embalm> {
    /// An array, not a slice: `shard_of` is below `SHARDS` by construction, so lookups
    /// index it without a bounds check.
    shards: Box<[Shard; SHARDS]>,
    /// The index owns its entries, and hands out references to them across threads.
    _entries: PhantomData<Box<Entry<K, P>>>,
}

// SAFETY: entries are shared between threads through `&Entry` (so `K, P: Sync`) and
// dropped on whichever thread frees them (so `K, P: Send`); nothing else in the index
// belongs to one thread.
unsafe impl<K: Send + Sync, P: Embalm + Send + Sync> Send for Index<K, P> {}
// SAFETY: as for `Send`.
unsafe impl<K: Send + Sync, P: Embalm + Send + Sync> Sync for Index<K, P> {}

impl<K, P: Embalm> Index<K, P> {
    /// An empty index; it allocates no table until a shard's first insert.
    pub(crate) fn new() -> Self {
        let shards = (0..SHARDS).map(|_| Shard {
            lock: Mutex::new(Counts::default()),
            table: AtomicPtr::new(ptr::null_mut()),
        });
        let shards: Box<[Shard]> = shards.collect();
        Index {
            shards: shards
                .try_into()
                .unwrap_or_else(|_| unreachable!("SHARDS shards")),
            _entries: PhantomData,
        }
    }

    /// The entry for `key`, if one is linked; it may have embalmed (module docs, Why a
    /// reader needs no lock). No lock, no read-modify-write, no store.
    ///
    /// # Safety
    /// The caller is inside a section (`presence.rs`) for as long as it uses the
    /// reference, and ran a `SeqCst` fence after entering it and before this call
    /// (module docs, Sections).
    #[inline]
    pub(crate) unsafe fn find<Q>(&self, hash: u64, key: &Q) -> Option<&Entry<K, P>>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        // Acquire: pairs with the Release store that published the table (`rebuild`).
        let head = self.shards[shard_of(hash)].table.load(Acquire);
        if head.is_null() {
            return None;
        }
        // SAFETY: a table stays allocated while any section that could load its pointer
        // runs (module docs, Sections), and the caller's does.
        unsafe { Table::from_head(head) }.find(hash, key)
    }

    /// The entries of one shard's table as it is now: a lock-free snapshot, which may or
    /// may not include concurrent inserts and unlinks (as `find` may).
    ///
    /// # Safety
    /// As for [`Index::find`].
    pub(crate) unsafe fn entries(&self, shard: usize) -> impl Iterator<Item = &Entry<K, P>> + '_ {
        // Acquire: as in `find`.
        let head = self.shards[shard].table.load(Acquire);
        let table = (!head.is_null()).then(|| {
            // SAFETY: as in `find`.
            unsafe { Table::<K, P>::from_head(head) }
        });
        (table.into_iter().flat_map(Table::entries)).map(|entry| {
            // SAFETY: as in `Table::find`.
            let entry = unsafe { &*entry };
            entry.check_alive();
            entry
        })
    }
}

impl<K, P> Index<K, P>
where
    K: Eq + Send + 'static,
    P: Embalm + Send + 'static,
{
    /// The entry for `key`, linking a new one made by `make` (called at most once, with
    /// the shard's lock held, so it must not use this index) if there is none. Never an
    /// entry that has embalmed. A panic in `make` changes nothing.
    /// Always takes the lock: a caller that expects the key to be there tries `find`
    /// first.
    ///
    /// # Safety
    /// The caller is inside a section for as long as it uses the reference. (No fence:
    /// see the module docs, Sections.)
    pub(crate) unsafe fn find_or_insert<Q>(
        &self,
        hash: u64,
        key: &Q,
        make: impl FnOnce() -> (K, P),
    ) -> &Entry<K, P>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        // SAFETY: forwarded from the caller.
        unsafe { self.insert_or_find(hash, key, make, true) }.0
    }

    /// `find_or_insert` for a caller inside a transaction: a full table grows without a
    /// sweep, since embalming variables that the caller's own transaction has read would
    /// make it fail validation and, run again, do the same (issue 29's livelock). The
    /// `bool` says the table grew: the caller sweeps once its transaction has committed.
    ///
    /// # Safety
    /// As for `find_or_insert`.
    pub(crate) unsafe fn find_or_insert_unswept<Q>(
        &self,
        hash: u64,
        key: &Q,
        make: impl FnOnce() -> (K, P),
    ) -> (&Entry<K, P>, bool)
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        // SAFETY: forwarded from the caller.
        unsafe { self.insert_or_find(hash, key, make, false) }
    }

    /// `find_or_insert`, sweeping at growth or not; with whether the table grew.
    ///
    /// # Safety
    /// As for `find_or_insert`.
    unsafe fn insert_or_find<Q>(
        &self,
        hash: u64,
        key: &Q,
        make: impl FnOnce() -> (K, P),
        sweep_at_growth: bool,
    ) -> (&Entry<K, P>, bool)
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let shard = &self.shards[shard_of(hash)];
        let mut garbage = Garbage::<K, P>::new();
        let mut grew = false;
        let mut counts = lock(&shard.lock);
        // Relaxed: rule 1; the lock orders every store to it.
        let mut head = shard.table.load(Relaxed);
        if !head.is_null() {
            // SAFETY: the current table; it is not freed while the lock is held.
            if let Some(entry) = unsafe { Table::from_head(head) }.find(hash, key) {
                return (entry, false);
            }
        }
        // Made before anything changes, so that a panic in `make` leaves the shard as it
        // was.
        let (key_made, payload) = make();
        assert!(
            key_made.borrow() == key,
            "braid: find_or_insert's make() returned a different key"
        );
        let entry = Box::into_raw(Box::new(Entry {
            hash,
            key: key_made,
            payload,
            alive: Liveness::new(),
        }));
        // For `entry_of_payload`, which goes from a payload back to its whole entry.
        let _ = entry.expose_provenance();
        if head.is_null() {
            head = rebuild(shard, &mut counts, 1, &mut garbage);
        } else {
            // SAFETY: the current table; not freed while the lock is held.
            let table = unsafe { Table::<K, P>::from_head(head) };
            if is_full(table, &counts) {
                if sweep_at_growth {
                    // SAFETY: the current table, under its lock.
                    unsafe { unlink_embalmed(table, &mut counts, &mut garbage) };
                }
                head = rebuild(shard, &mut counts, 1, &mut garbage);
                grew = true;
            }
        }
        // SAFETY: the current table (just built or checked for room), under its lock.
        let table = unsafe { Table::from_head(head) };
        counts.used += usize::from(table.link(entry, hash));
        counts.live += 1;
        drop(counts);
        garbage.retire();
        // SAFETY: linked, so freed only after an embalm and the sections running then,
        // the caller's among them (module docs, Sections).
        (unsafe { &*entry }, grew)
    }

    /// Returns once an entry of `hash`'s shard that embalmed before this call is unlinked:
    /// embalming and unlinking happen under the shard's lock (rule 3), so taking it is
    /// enough. For a reader that found an embalmed entry and will look again: it waits
    /// instead of spinning on the same entry.
    pub(crate) fn wait_for_unlink(&self, hash: u64) {
        drop(lock(&self.shards[shard_of(hash)].lock));
    }

    /// Unlinks every entry whose payload embalms, shard by shard under each lock, and
    /// shrinks (or frees) a table that a smaller one would now hold.
    pub(crate) fn sweep(&self) {
        let mut garbage = Garbage::<K, P>::new();
        for shard in self.shards.iter() {
            let mut counts = lock(&shard.lock);
            // Relaxed: as in `find_or_insert`.
            let head = shard.table.load(Relaxed);
            if head.is_null() {
                continue;
            }
            // SAFETY: the current table; not freed while the lock is held.
            let table = unsafe { Table::from_head(head) };
            // SAFETY: the current table, under its lock.
            unsafe { unlink_embalmed(table, &mut counts, &mut garbage) };
            let capacity = table.head.mask + 1;
            let shrinks = counts.live == 0 || capacity_for(counts.live) < capacity;
            if counts.used > counts.live && shrinks {
                rebuild(shard, &mut counts, 0, &mut garbage);
            }
        }
        garbage.retire();
    }
}

/// Asks every entry of a shard's current table to embalm, then (`Embalm::before_unlink`
/// in between) tombstones those that did.
///
/// # Safety
/// `table` is the shard's current table, and the caller holds the shard's lock.
unsafe fn unlink_embalmed<K, P: Embalm>(
    table: &Table<K, P>,
    counts: &mut Counts,
    garbage: &mut Garbage<K, P>,
) {
    let mut embalmed = Vec::new();
    for slot in &table.slots {
        // Relaxed: the lock holder's own table (rule 1).
        let entry = slot.load(Relaxed);
        if !is_entry(entry) {
            continue;
        }
        let entry = untagged(entry);
        // SAFETY: a linked entry, and the lock keeps it linked.
        if unsafe { &*entry }.payload.embalm() {
            embalmed.push(slot);
            garbage.entries.push(entry);
        }
    }
    if embalmed.is_empty() {
        return;
    }
    P::before_unlink();
    for slot in embalmed {
        // Release: pairs with the readers' Acquire slot loads (`find`), so that a
        // reader that sees the tombstone also sees the embalm and `before_unlink`.
        slot.store(tombstone(), Release);
        counts.live -= 1;
    }
}

/// Replaces the shard's current table with one holding its linked entries, sized for
/// them and `reserve` more (none at all if both are zero), publishes it, and hands the
/// old one to `garbage`. Returns the new table's head. The caller holds the lock.
fn rebuild<K, P>(
    shard: &Shard,
    counts: &mut Counts,
    reserve: usize,
    garbage: &mut Garbage<K, P>,
) -> *mut Head {
    // Relaxed: rule 1.
    let old = shard.table.load(Relaxed);
    let live = counts.live;
    let new = if live + reserve == 0 {
        ptr::null_mut()
    } else {
        let new = Table::<K, P>::alloc(capacity_for(live + reserve));
        if !old.is_null() {
            // SAFETY: both are live tables: `new` is unpublished, `old` is current
            // under the caller's lock.
            let (new_table, old_table) =
                unsafe { (Table::<K, P>::from_head(new), Table::from_head(old)) };
            for entry in old_table.entries() {
                // SAFETY: a linked entry; the lock keeps it linked.
                new_table.link(entry, unsafe { (*entry).hash });
            }
        }
        new
    };
    // Release: pairs with the readers' Acquire loads (`find`): the new table's slots,
    // and the entries they point to, are visible to whoever loads its pointer.
    shard.table.store(new, Release);
    *counts = Counts { live, used: live };
    if !old.is_null() {
        garbage.tables.push(old);
    }
    new
}

/// What one growth or sweep unlinked: replaced tables and unlinked entries, freed
/// together by one `retire_after_sections` (each call takes a global lock).
struct Garbage<K, P> {
    tables: Vec<*mut Head>,
    entries: Vec<*mut Entry<K, P>>,
}

impl<K: Send + 'static, P: Embalm + Send + 'static> Garbage<K, P> {
    fn new() -> Self {
        Garbage {
            tables: Vec::new(),
            entries: Vec::new(),
        }
    }

    /// Wakes the unlinked entries (`Embalm::wake`), and frees it all once every section
    /// running now has ended. Call after the unlinks, with no lock held.
    fn retire(self) {
        if self.tables.is_empty() && self.entries.is_empty() {
            return;
        }
        for &entry in &self.entries {
            // SAFETY: unlinked but not yet retired, so alive; only this writer has it.
            unsafe { &*entry }.payload.wake();
        }
        // SeqCst: the writer's fence of the module docs, Sections, between the unlinks
        // and the scan of sections; pairs with the fence each reader runs after it
        // enters its section.
        fence(SeqCst);
        let garbage = Box::into_raw(Box::new(self)).cast::<()>();
        // SAFETY: everything in it is unlinked (no section that starts now can reach it:
        // module docs, Sections), owned by nothing else, and `K, P: Send + 'static`, so
        // `free_garbage` may run on any thread at any later time.
        unsafe { reclaim::retire_after_sections(garbage, free_garbage::<K, P>) }
    }
}

/// Frees what `Garbage::retire` handed over.
///
/// # Safety
/// `garbage` came from `Garbage::<K, P>::retire`, whose waiting is over.
unsafe fn free_garbage<K, P: Embalm>(garbage: *mut ()) {
    // SAFETY: the caller's precondition; this is its only free.
    let garbage = unsafe { Box::from_raw(garbage.cast::<Garbage<K, P>>()) };
    for &table in &garbage.tables {
        // SAFETY: replaced, so unreachable from now on.
        unsafe { Table::<K, P>::free(table) };
    }
    for &entry in &garbage.entries {
        // SAFETY: unlinked, so unreachable through the index from now on.
        unsafe { P::free(entry) };
    }
}

/// Drops an entry and frees it (under loom: marks it dead, drops its key and payload,
/// and leaks the memory).
///
/// # Safety
/// `entry` came from `find_or_insert`'s box, and nothing uses it from now on.
pub(crate) unsafe fn free_entry<K, P>(entry: *mut Entry<K, P>) {
    #[cfg(not(loom))]
    // SAFETY: the caller's precondition.
    drop(unsafe { Box::from_raw(entry) });
    #[cfg(loom)]
    // SAFETY: the caller's precondition; the key and payload are dropped once, and the
    // liveness mark is left for late readers to fail on.
    unsafe {
        (*entry).alive.mark_freed();
        ptr::drop_in_place(&raw mut (*entry).key);
        ptr::drop_in_place(&raw mut (*entry).payload);
    }
}

impl<K, P: Embalm> Drop for Index<K, P> {
    fn drop(&mut self) {
        for shard in self.shards.iter() {
            // Relaxed: `&mut self`, so no other thread uses the index.
            let head = shard.table.load(Relaxed);
            if head.is_null() {
                continue;
            }
            // SAFETY: the current table, and no reader can exist (`&mut self`); what was
            // unlinked before is retired, not linked here, so each entry is freed once.
            unsafe {
                let table = Table::<K, P>::from_head(head);
                for entry in table.entries() {
                    P::free(entry);
                }
                Table::<K, P>::free(head);
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
#[path = "index_tests.rs"]
mod tests;

#[cfg(all(test, loom))]
#[path = "index_loom.rs"]
mod loom_tests;
