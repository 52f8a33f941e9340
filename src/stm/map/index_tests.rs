//! Unit tests of `index.rs` under std: lookups across growth, cleanup of absent keys,
//! colliding hashes, a property test against `HashMap`, and a stress test of readers
//! beside writers and a sweeper.

use std::collections::HashMap;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::*;
use crate::sync::atomic::AtomicBool;
use crate::sync::atomic::AtomicUsize;
use crate::sync::presence::Local;
use crate::sync::Arc;

/// What a test knows of one payload, after the index has freed it too.
#[derive(Default)]
struct State {
    absent: AtomicBool,
    embalmed: AtomicBool,
    dropped: AtomicBool,
}

/// A payload: a serial number, and a state that `embalm` reads and marks.
struct Flag {
    serial: u64,
    state: Arc<State>,
    drops: Arc<AtomicUsize>,
}

impl Embalm for Flag {
    fn embalm(&self) -> bool {
        assert!(
            !self.state.embalmed.load(Relaxed),
            "embalm was asked again of an embalmed payload"
        );
        let absent = self.state.absent.load(Relaxed);
        self.state.embalmed.store(absent, Relaxed);
        absent
    }
}

impl Drop for Flag {
    fn drop(&mut self) {
        assert!(
            !self.state.dropped.swap(true, Relaxed),
            "a payload was dropped twice"
        );
        self.drops.fetch_add(1, Relaxed);
    }
}

/// Makes payloads with fresh serial numbers and counts their drops.
#[derive(Default)]
struct Maker {
    made: u64,
    drops: Arc<AtomicUsize>,
    states: HashMap<u64, Arc<State>>,
}

impl Maker {
    fn make(&mut self, key: u64) -> impl FnOnce() -> (u64, Flag) + '_ {
        move || {
            self.made += 1;
            let state = Arc::new(State::default());
            self.states.insert(self.made, state.clone());
            let flag = Flag {
                serial: self.made,
                state,
                drops: self.drops.clone(),
            };
            (key, flag)
        }
    }

    /// Waits until every payload made has been dropped (unlinked ones are freed after
    /// the sections running at their retire, which other tests' threads may hold).
    fn all_dropped(&self) -> bool {
        let started = Instant::now();
        while self.drops.load(Relaxed) < self.made as usize {
            if started.elapsed() > Duration::from_secs(10) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        self.drops.load(Relaxed) == self.made as usize
    }
}

/// A spread of the key's bits (splitmix64's finalizer).
fn mix(key: u64) -> u64 {
    let mut z = key.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A hash whose top bits pick `shard`.
fn in_shard(hash: u64, shard: usize) -> u64 {
    let low = hash & (u64::MAX >> SHARD_BITS);
    low | ((shard as u64) << (64 - SHARD_BITS))
}

type TestIndex = Index<u64, Flag>;

/// Every index operation below runs in a section of this thread, as callers must.
struct Section(Local);

impl Section {
    fn enter() -> Section {
        let local = Local::claim();
        local.enter();
        // SeqCst: the reader's fence of the module docs, Sections.
        fence(SeqCst);
        Section(local)
    }
}

impl Drop for Section {
    fn drop(&mut self) {
        self.0.leave();
    }
}

fn find<'a>(
    index: &'a TestIndex,
    _: &'a Section,
    key: u64,
    hash: u64,
) -> Option<&'a Entry<u64, Flag>> {
    // SAFETY: inside the section, which was fenced after its entry; the reference does
    // not outlive it.
    unsafe { index.find(hash, &key) }
}

fn insert<'a>(
    index: &'a TestIndex,
    _: &'a Section,
    maker: &mut Maker,
    key: u64,
    hash: u64,
) -> &'a Entry<u64, Flag> {
    // SAFETY: inside the section; the reference does not outlive it.
    unsafe { index.find_or_insert(hash, &key, maker.make(key)) }
}

/// Per shard: linked entries, used slots, capacity (0 for no table).
fn census(index: &TestIndex) -> Vec<(usize, usize, usize)> {
    (index.shards.iter())
        .map(|shard| {
            let counts = lock(&shard.lock);
            let head = shard.table.load(Relaxed);
            // SAFETY: the current table, under the lock.
            let capacity = (!head.is_null()).then(|| unsafe { (*head).mask } + 1);
            (counts.live, counts.used, capacity.unwrap_or(0))
        })
        .collect()
}

fn mark_absent(entry: &Entry<u64, Flag>) {
    entry.payload.state.absent.store(true, Relaxed);
}

#[test]
fn a_shard_is_one_cache_line_and_an_empty_index_allocates_no_table() {
    assert_eq!(size_of::<Shard>(), 64);
    assert_eq!(align_of::<Shard>(), 64);
    let index = TestIndex::new();
    assert_eq!(index.shards.len(), SHARDS);
    assert!(census(&index).iter().all(|&shard| shard == (0, 0, 0)));
}

#[test]
fn an_inserted_key_is_found_and_make_runs_once() {
    let (index, mut maker, section) = (TestIndex::new(), Maker::default(), Section::enter());
    let hash = mix(7);
    assert!(find(&index, &section, 7, hash).is_none());
    let entry = insert(&index, &section, &mut maker, 7, hash);
    assert_eq!((entry.key, entry.hash, entry.payload.serial), (7, hash, 1));
    // SAFETY: inside the section.
    let again = unsafe { index.find_or_insert(hash, &7, || panic!("make ran for a linked key")) };
    assert!(ptr::eq(again, entry));
    assert!(ptr::eq(find(&index, &section, 7, hash).unwrap(), entry));
    assert!(find(&index, &section, 8, mix(8)).is_none());
    assert!(
        find(&index, &section, 7, hash ^ 1).is_none(),
        "a wrong hash misses"
    );
}

#[test]
#[should_panic(expected = "make() returned a different key")]
fn make_returning_another_key_panics() {
    let (index, section) = (TestIndex::new(), Section::enter());
    let mut maker = Maker::default();
    let make = maker.make(2);
    // SAFETY: inside the section.
    unsafe { index.find_or_insert(mix(1), &1, make) };
    drop(section);
}

#[test]
fn a_panic_in_make_leaves_the_shard_as_it_was() {
    let (index, mut maker, section) = (TestIndex::new(), Maker::default(), Section::enter());
    let hash = |key: u64| in_shard(mix(key), 5);
    // Six keys: the next insert would grow the table.
    for key in 0..6 {
        insert(&index, &section, &mut maker, key, hash(key));
    }
    let before = (census(&index), shard_table(&index, 5));
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: inside the section.
        unsafe { index.find_or_insert(hash(6), &6, || panic!("no payload today")) }
    }));
    assert!(panicked.is_err());
    assert!(
        before == (census(&index), shard_table(&index, 5)),
        "nothing changed"
    );
    assert!(find(&index, &section, 6, hash(6)).is_none());
    insert(&index, &section, &mut maker, 6, hash(6));
    assert_eq!(
        census(&index)[5],
        (7, 7, 16),
        "the lock was let go, and the shard grows"
    );
}

#[test]
fn every_key_stays_found_and_unmoved_across_growth() {
    let (index, mut maker, section) = (TestIndex::new(), Maker::default(), Section::enter());
    let mut entries = Vec::new();
    for key in 0..20_000 {
        entries.push(ptr::from_ref(insert(
            &index,
            &section,
            &mut maker,
            key,
            mix(key),
        )));
        if key % 997 == 0 {
            for old in (0..=key).step_by(13) {
                let found = find(&index, &section, old, mix(old)).expect("a linked key is found");
                assert!(ptr::eq(found, entries[old as usize]), "entries never move");
            }
        }
    }
    for key in 0..20_000 {
        let found = find(&index, &section, key, mix(key)).unwrap();
        assert!(ptr::eq(found, entries[key as usize]));
    }
    let census = census(&index);
    assert_eq!(census.iter().map(|&(live, ..)| live).sum::<usize>(), 20_000);
    for (live, used, capacity) in census {
        assert_eq!(live, used, "no tombstones without absent keys");
        // The memory claim: between 3/8 and 3/4 full, so about 16 bytes of slots per
        // entry (8 / (3/8) = 21.3 at worst, 10.7 at best).
        assert!(
            live * 8 >= capacity * 3 && live * 4 <= capacity * 3,
            "{live} in {capacity}"
        );
    }
}

#[test]
fn absent_entries_disappear_at_growth_and_present_ones_never_do() {
    let (index, mut maker, section) = (TestIndex::new(), Maker::default(), Section::enter());
    let hash = |key: u64| in_shard(mix(key), 3);
    // Six keys fill a table of 8 to its limit; the seventh insert grows it.
    for key in 0..6 {
        insert(&index, &section, &mut maker, key, hash(key));
    }
    assert_eq!(census(&index)[3], (6, 6, 8));
    for key in [1, 4] {
        mark_absent(find(&index, &section, key, hash(key)).unwrap());
    }
    insert(&index, &section, &mut maker, 6, hash(6));
    // 4 live and the new key make 5, more than half of 8 slots: 16.
    assert_eq!(census(&index)[3], (5, 5, 16));
    for key in 0..7 {
        let absent = key == 1 || key == 4;
        assert_eq!(
            find(&index, &section, key, hash(key)).is_none(),
            absent,
            "key {key}"
        );
    }
    for serial in [2, 5] {
        assert!(maker.states[&serial].embalmed.load(Relaxed));
    }
    drop(section);
    let drops = maker.drops.clone();
    let started = Instant::now();
    while drops.load(Relaxed) < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "unlinked entries were not freed"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(
        drops.load(Relaxed),
        2,
        "only the unlinked entries are freed"
    );
    drop(index);
    assert!(maker.all_dropped());
}

#[test]
fn a_sweep_tombstones_in_place_and_an_insert_reuses_the_tombstone() {
    let (index, mut maker, section) = (TestIndex::new(), Maker::default(), Section::enter());
    // Keys whose hashes all start probing at slot 0 of shard 0: one chain.
    let hash = |key: u64| in_shard(key << 8, 0);
    for key in 0..7 {
        insert(&index, &section, &mut maker, key, hash(key));
    }
    // 7 live in 16 slots; marking one absent and sweeping leaves 6, for which 16 is
    // still the smallest table: the slot becomes a tombstone.
    assert_eq!(census(&index)[0], (7, 7, 16));
    let table = shard_table(&index, 0);
    mark_absent(find(&index, &section, 2, hash(2)).unwrap());
    index.sweep();
    assert_eq!(census(&index)[0], (6, 7, 16));
    assert_eq!(shard_table(&index, 0), table, "no new table");
    assert!(find(&index, &section, 2, hash(2)).is_none());
    for key in (0..7).filter(|&key| key != 2) {
        assert_eq!(
            find(&index, &section, key, hash(key)).unwrap().key,
            key,
            "the chain holds past the tombstone"
        );
    }
    // A new key on the same chain takes the tombstone's slot.
    insert(&index, &section, &mut maker, 9, hash(9));
    assert_eq!(census(&index)[0], (7, 7, 16));
    assert_eq!(
        find(&index, &section, 9, hash(9)).unwrap().payload.serial,
        8
    );
}

/// The head of a shard's current table.
fn shard_table(index: &TestIndex, shard: usize) -> *mut Head {
    index.shards[shard].table.load(Relaxed)
}

#[test]
fn keys_with_one_full_hash_stay_apart() {
    let (index, mut maker, section) = (TestIndex::new(), Maker::default(), Section::enter());
    let hash = mix(42);
    for key in 0..40 {
        let entry = insert(&index, &section, &mut maker, key, hash);
        assert_eq!(entry.key, key);
    }
    for key in 0..40 {
        let entry = find(&index, &section, key, hash).unwrap();
        assert_eq!((entry.key, entry.payload.serial), (key, key + 1));
    }
    for key in (0..40).step_by(3) {
        mark_absent(find(&index, &section, key, hash).unwrap());
    }
    index.sweep();
    for key in 0..40 {
        assert_eq!(
            find(&index, &section, key, hash).is_none(),
            key % 3 == 0,
            "key {key}"
        );
    }
    assert!(find(&index, &section, 40, hash).is_none());
}

/// Slots carry their entry's tag (module docs, Tags): keys whose hashes share the slot
/// bits and differ only in the tag's, or share the tag and differ elsewhere, are each
/// found under their own hash and under no other, across a growth.
#[test]
fn keys_told_apart_by_their_tags_and_keys_sharing_a_tag_are_each_found() {
    let (index, mut maker, section) = (TestIndex::new(), Maker::default(), Section::enter());
    let base = mix(5) & !(0xffff << 32);
    // Keys 0..20 differ only in the tag's bits; keys 20..40 share key 0's tag and differ
    // in the low bits (another slot, the same chain once the table is small).
    let hash_of = |key: u64| match key {
        0..20 => base | key << 33,
        _ => base ^ (key - 19),
    };
    for key in 0..40 {
        insert(&index, &section, &mut maker, key, hash_of(key));
    }
    for key in 0..40 {
        let entry = find(&index, &section, key, hash_of(key)).unwrap();
        assert_eq!((entry.key, entry.payload.serial), (key, key + 1));
        let other = hash_of((key + 1) % 40);
        assert!(find(&index, &section, key, other).is_none(), "key {key}");
    }
    #[cfg(target_pointer_width = "64")]
    {
        let shard = shard_of(base);
        // SAFETY: the shard's current table; the test's section keeps it.
        let table = unsafe { Table::<u64, Flag>::from_head(shard_table(&index, shard)) };
        for slot in &table.slots {
            let slot = slot.load(Relaxed);
            if is_entry(slot) {
                // SAFETY: a linked entry, inside the section.
                let hash = unsafe { &*untagged(slot) }.hash;
                assert_eq!(
                    slot.addr() >> TAG_SHIFT,
                    tag_of(hash),
                    "a slot without its tag"
                );
            }
        }
    }
}

#[test]
fn a_sweep_unlinks_absent_entries_and_frees_an_emptied_shard() {
    let (index, mut maker, section) = (TestIndex::new(), Maker::default(), Section::enter());
    for key in 0..1000 {
        insert(&index, &section, &mut maker, key, mix(key));
    }
    for key in 0..1000 {
        if key % 10 != 0 {
            mark_absent(find(&index, &section, key, mix(key)).unwrap());
        }
    }
    index.sweep();
    let shards = census(&index);
    assert_eq!(shards.iter().map(|&(live, ..)| live).sum::<usize>(), 100);
    for (live, used, capacity) in shards {
        assert_eq!(live, used, "a shrunk table has no tombstones");
        let fit = if live == 0 { 0 } else { capacity_for(live) };
        assert_eq!(capacity, fit, "shrunk to fit, or freed");
    }
    for key in 0..1000 {
        assert_eq!(
            find(&index, &section, key, mix(key)).is_some(),
            key % 10 == 0
        );
    }
    for key in (0..1000).step_by(10) {
        mark_absent(find(&index, &section, key, mix(key)).unwrap());
    }
    index.sweep();
    assert!(
        census(&index).iter().all(|&shard| shard == (0, 0, 0)),
        "every table freed"
    );
    drop(section);
    drop(index);
    assert!(maker.all_dropped(), "every payload dropped");
}

#[test]
fn dropping_the_index_drops_every_payload_once() {
    let (index, mut maker, section) = (TestIndex::new(), Maker::default(), Section::enter());
    for key in 0..3000 {
        let entry = insert(&index, &section, &mut maker, key, mix(key));
        if key % 4 == 0 {
            mark_absent(entry);
        }
    }
    index.sweep();
    let linked = census(&index).iter().map(|&(live, ..)| live).sum::<usize>();
    assert_eq!(linked, 2250);
    drop(section);
    drop(index);
    assert!(
        maker.all_dropped(),
        "{} of {} dropped",
        maker.drops.load(Relaxed),
        maker.made
    );
    // (A second drop of any payload fails in `Flag::drop`.)
}

/// One step of the property test.
#[derive(Clone, Debug)]
enum Op {
    Insert(u64),
    MarkAbsent(u64),
    Find(u64),
    Sweep,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..64u64).prop_map(Op::Insert),
        2 => (0..64u64).prop_map(Op::MarkAbsent),
        3 => (0..64u64).prop_map(Op::Find),
        1 => Just(Op::Sweep),
    ]
}

/// Keys 48..64 share their whole hash with keys 0..16, and every key is in one of two
/// shards, so tables grow and chains collide.
fn property_hash(key: u64) -> u64 {
    in_shard(mix(key % 48), (key % 2) as usize)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// `find` agrees with a `HashMap` of linked keys: a present key is found as it was
    /// inserted (the same payload) until it is made absent; an absent key may disappear
    /// (embalmed, at a growth) but nothing else does; a sweep unlinks exactly the
    /// absent ones; `find_or_insert` returns the linked entry or a new one.
    #[test]
    fn find_agrees_with_a_hashmap_and_only_absent_keys_ever_disappear(
        ops in proptest::collection::vec(op(), 0..400),
    ) {
        let (index, mut maker, section) = (TestIndex::new(), Maker::default(), Section::enter());
        // Linked keys: their payload's serial, and whether it is marked absent.
        let mut model: HashMap<u64, (u64, bool)> = HashMap::new();
        for op in ops {
            match op {
                Op::Insert(key) => {
                    let serial = insert(&index, &section, &mut maker, key, property_hash(key)).payload.serial;
                    match model.get(&key) {
                        Some(&(linked, absent)) if linked != serial => {
                            prop_assert!(absent, "a present key got a new entry");
                            prop_assert!(maker.states[&linked].embalmed.load(Relaxed));
                            prop_assert_eq!(serial, maker.made, "a new entry");
                            model.insert(key, (serial, false));
                        }
                        Some(_) => {}
                        None => {
                            prop_assert_eq!(serial, maker.made, "a new entry");
                            model.insert(key, (serial, false));
                        }
                    }
                }
                Op::MarkAbsent(key) => {
                    match (find(&index, &section, key, property_hash(key)), model.get(&key)) {
                        (Some(entry), Some(&(linked, _))) => {
                            prop_assert_eq!(entry.payload.serial, linked);
                            mark_absent(entry);
                            model.insert(key, (linked, true));
                        }
                        (None, Some(&(linked, absent))) => {
                            prop_assert!(absent, "a present key disappeared");
                            prop_assert!(maker.states[&linked].embalmed.load(Relaxed));
                            model.remove(&key);
                        }
                        (None, None) => {}
                        (Some(entry), None) => prop_assert!(false, "found {key} ({}), never linked", entry.payload.serial),
                    }
                }
                Op::Find(key) => {
                    let found = find(&index, &section, key, property_hash(key));
                    match (found.map(|entry| entry.payload.serial), model.get(&key)) {
                        (Some(serial), Some(&(linked, _))) => prop_assert_eq!(serial, linked),
                        (None, Some(&(linked, absent))) => {
                            prop_assert!(absent, "a present key disappeared");
                            prop_assert!(maker.states[&linked].embalmed.load(Relaxed));
                            model.remove(&key);
                        }
                        (None, None) => {}
                        (Some(serial), None) => prop_assert!(false, "found {key} ({serial}), never linked"),
                    }
                }
                Op::Sweep => {
                    index.sweep();
                    model.retain(|_, &mut (_, absent)| !absent);
                    let linked: usize = census(&index).iter().map(|&(live, ..)| live).sum();
                    prop_assert_eq!(linked, model.len());
                }
            }
        }
        for shard in 0..SHARDS {
            // SAFETY: inside the section.
            for entry in unsafe { index.entries(shard) } {
                prop_assert_eq!(Some(&entry.payload.serial), model.get(&entry.key).map(|(serial, _)| serial));
            }
        }
        drop(section);
        drop(index);
        prop_assert!(maker.all_dropped());
    }
}

#[test]
fn a_key_linked_before_a_reader_starts_is_always_found_while_others_grow_and_sweep() {
    const STABLE: u64 = 200;
    const INSERTS: u64 = 20_000;
    let index = Arc::new(TestIndex::new());
    let drops = Arc::new(AtomicUsize::new(0));
    let made = Arc::new(AtomicUsize::new(0));
    let flag = {
        let drops = drops.clone();
        move |serial: u64| Flag {
            serial,
            state: Arc::default(),
            drops: drops.clone(),
        }
    };
    {
        let section = Section::enter();
        for key in 0..STABLE {
            // SAFETY: inside the section.
            unsafe { index.find_or_insert(mix(key), &key, || (key, flag(key))) };
        }
        drop(section);
    }
    made.fetch_add(STABLE as usize, Relaxed);
    let barrier = Arc::new(Barrier::new(3));
    // Writers still running: the sweeper goes on until none is.
    let writing = Arc::new(AtomicUsize::new(2));
    let writers: Vec<_> = (0..2u64)
        .map(|writer| {
            let (index, barrier, made, flag) =
                (index.clone(), barrier.clone(), made.clone(), flag.clone());
            let writing = writing.clone();
            std::thread::spawn(move || {
                barrier.wait();
                for n in 0..INSERTS {
                    let key = STABLE + writer * INSERTS + n;
                    // Left as it drops, so that a failed assertion fails the test
                    // instead of aborting it.
                    let _section = Section::enter();
                    // SAFETY: inside the section, fenced; references dropped before leaving.
                    unsafe {
                        let entry = index.find_or_insert(mix(key), &key, || (key, flag(key)));
                        assert_eq!(entry.key, key);
                        // The sweeper makes keys absent, but never those divisible by 3.
                        match index.find(mix(key), &key) {
                            Some(found) => assert_eq!(found.payload.serial, key),
                            None => assert_ne!(key % 3, 0, "a key just inserted is found"),
                        }
                        let stable = n % STABLE;
                        let found = index
                            .find(mix(stable), &stable)
                            .expect("a stable key is always found");
                        assert_eq!(found.key, stable);
                        assert!(!found.payload.state.embalmed.load(Relaxed));
                        let other = STABLE + (1 - writer) * INSERTS + n;
                        if let Some(found) = index.find(mix(other), &other) {
                            assert_eq!(found.key, other);
                        }
                    }
                }
                made.fetch_add(INSERTS as usize, Relaxed);
                writing.fetch_sub(1, Relaxed);
            })
        })
        .collect();
    let sweeper = {
        let (index, barrier, writing) = (index.clone(), barrier.clone(), writing.clone());
        std::thread::spawn(move || {
            barrier.wait();
            // Sweeps in all, and those that began while a writer was running.
            let (mut sweeps, mut beside_writers) = (0, 0);
            while sweeps < 50 || writing.load(Relaxed) > 0 {
                beside_writers += usize::from(writing.load(Relaxed) > 0);
                let section = Section::enter();
                for shard in 0..SHARDS {
                    // SAFETY: inside the section, fenced.
                    for entry in unsafe { index.entries(shard) } {
                        if entry.key >= STABLE && entry.key % 3 != 0 {
                            entry.payload.state.absent.store(true, Relaxed);
                        }
                    }
                }
                drop(section);
                index.sweep();
                sweeps += 1;
                std::thread::yield_now();
            }
            beside_writers
        })
    };
    for writer in writers {
        writer.join().unwrap();
    }
    let beside_writers = sweeper.join().unwrap();
    // (20 to 123 in three runs on a 2-core machine.)
    assert!(
        beside_writers > 0,
        "the sweeper never ran beside the writers"
    );
    let section = Section::enter();
    for key in 0..STABLE {
        assert!(find(&index, &section, key, mix(key)).is_some());
    }
    drop(section);
    drop(index);
    let started = Instant::now();
    while drops.load(Relaxed) < made.load(Relaxed) {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "payloads were not freed"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(drops.load(Relaxed), made.load(Relaxed));
}
