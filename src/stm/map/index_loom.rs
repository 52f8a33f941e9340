//! Loom model of `index.rs`: a reader probing while a writer inserts into a full table,
//! so that it embalms an absent entry and grows, and a third thread sweeps another
//! entry it made absent. Tables and entries are marked dead instead of freed under loom,
//! and the reader's path checks them (module docs), so a use that its free does not
//! follow fails the model; `Track` makes loom report a payload never dropped.

use super::*;
use crate::sync::atomic::AtomicBool;
use crate::sync::presence::Local;
use crate::sync::reclaim::free_after_sections;
use crate::sync::{thread, Arc, Track};
use crate::testing::model;

/// A payload: "absent" when its flag is set.
struct Flag {
    absent: AtomicBool,
    _track: Track<()>,
}

impl Flag {
    fn new(absent: bool) -> Flag {
        Flag {
            absent: AtomicBool::new(absent),
            _track: Track::new(()),
        }
    }
}

impl Embalm for Flag {
    fn embalm(&self) -> bool {
        self.absent.load(Relaxed)
    }
}

/// A reader's section: entered, then fenced (module docs, Sections).
fn enter(local: &Local) {
    local.enter();
    // SeqCst: the reader's fence of the module docs, Sections.
    fence(SeqCst);
}

/// Keys 0 to 3, each hashing to its own slot of shard 0.
const PRESENT: u64 = 0;
const ABSENT: u64 = 1;
const SWEPT: u64 = 2;
const NEW: u64 = 3;

#[test]
fn a_reader_finds_a_present_key_while_a_full_table_grows_and_a_sweep_unlinks() {
    grow_and_sweep_beside_a_reader(true);
}

/// What the reader's fence is for: without it, its presence mark and the writer's scan
/// are the store-buffering pattern, and the writer frees a table or entry that the
/// reader still uses (module docs, Sections). Regression for the first design, which
/// relied on the mark alone.
#[test]
#[should_panic(expected = "Causality violation")]
fn a_reader_that_skips_the_fence_uses_what_is_freed() {
    grow_and_sweep_beside_a_reader(false);
}

/// The model: `reader_fences` says whether the reader runs its fence.
fn grow_and_sweep_beside_a_reader(reader_fences: bool) {
    model(move || {
        let index = Arc::new(Index::<u64, Flag>::new());
        {
            let local = Local::claim();
            local.enter();
            for key in [PRESENT, ABSENT, SWEPT] {
                // SAFETY: inside a section; the reference is dropped at once.
                unsafe { index.find_or_insert(key, &key, || (key, Flag::new(key == ABSENT))) };
            }
            local.leave();
        }
        // Three of four slots: the next insert grows the table.
        assert_eq!(lock(&index.shards[0].lock).used, 3);

        let reader = {
            let index = index.clone();
            thread::spawn(move || {
                let local = Local::claim();
                if reader_fences {
                    enter(&local);
                } else {
                    local.enter();
                }
                // SAFETY: inside a section, fenced unless the model tests its absence;
                // the references end with it.
                unsafe {
                    let found = index
                        .find(PRESENT, &PRESENT)
                        .expect("a present key is found");
                    assert_eq!(found.key, PRESENT);
                    if let Some(found) = index.find(NEW, &NEW) {
                        assert_eq!(found.key, NEW);
                    }
                    if let Some(found) = index.find(SWEPT, &SWEPT) {
                        assert_eq!(found.key, SWEPT);
                    }
                    // Still usable at the end of the section.
                    found.check_alive();
                }
                local.leave();
                free_after_sections();
            })
        };
        let writer = {
            let index = index.clone();
            thread::spawn(move || {
                let local = Local::claim();
                local.enter();
                // SAFETY: inside a section; the reference ends with it.
                let entry = unsafe { index.find_or_insert(NEW, &NEW, || (NEW, Flag::new(false))) };
                assert_eq!(entry.key, NEW);
                local.leave();
                free_after_sections();
            })
        };
        // The model's third thread: makes a key absent and sweeps it.
        {
            let local = Local::claim();
            enter(&local);
            // SAFETY: inside a fenced section; the reference ends with it.
            let swept = unsafe { index.find(SWEPT, &SWEPT) }.expect("not yet unlinked");
            swept.payload.absent.store(true, Relaxed);
            local.leave();
            index.sweep();
            free_after_sections();
        }
        reader.join().unwrap();
        writer.join().unwrap();

        let local = Local::claim();
        enter(&local);
        for (key, linked) in [
            (PRESENT, true),
            (ABSENT, false),
            (SWEPT, false),
            (NEW, true),
        ] {
            // SAFETY: inside a fenced section.
            assert_eq!(
                unsafe { index.find(key, &key) }.is_some(),
                linked,
                "key {key}"
            );
        }
        local.leave();
        drop(index);
        free_after_sections();
    });
}
