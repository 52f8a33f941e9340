//! Which threads are inside a critical section right now, for frees that must wait until
//! every section running at some moment has ended.
//!
//! A transaction keeps raw pointers to the variables it touched without holding counted
//! references (a read-only transaction must write no shared memory). Such a pointer came
//! out of a live handle, but the last handle may go while the transaction still runs (a
//! handle dropped inside the body, or one that lived in a value another commit replaced),
//! so the variable's free waits for every transaction running at that moment to end.
//! An epoch pin does that too, but costs a locked instruction and a load of the shared
//! epoch per transaction, and now and then a collection; a presence mark is a plain
//! store to a line that only its own thread writes, one on entry and one on exit.
//! (Transactions still pin to read values kept in nodes, which epochs protect; see
//! `tx/read.rs`.) Dropping the pin from word-only transactions made a one-variable increment
//! 12% faster and a one-thread bank 15% faster (see BENCHMARKS.md).
//!
//! Each thread that runs sections owns a `Record` (through `Local`): a counter that is
//! odd while the thread is inside a section, moved to the next odd number on entry and
//! to the next even one on exit.
//! Records are never freed; a thread that exits gives its record back for the next one
//! to claim, and the counter carries on, so a count seen once is never seen again.
//! `in_flight()` lists the records that were inside a section and their counts; once
//! each count has changed (`Snapshot::all_left`), every section that was running has
//! ended.
//!
//! # Why the marks need no fence
//! Take a section that loaded pointer `p` from a live handle, and the thread that drops
//! the last handle and then calls `in_flight()`. The section's entry mark is sequenced
//! before its load of `p` from the handle, and that load happens before the handle's
//! destruction (anything else is a data race on the handle), which happens before the
//! last release of the reference count (`Release` decrements, an `Acquire` fence in the
//! last: see `var.rs`). So the entry mark happens before `in_flight`'s load of the
//! count, which therefore reads the entry or a later count (write-read coherence): a
//! section that can hold `p` is never missed. The exit mark and every entry mark are
//! `Release` stores, read with `Acquire`: whatever count `all_left` sees changed, the
//! section's uses of `p` happen before it, and so before the free that follows. The same
//! argument covers a section that drops the last handle itself: it sees its own mark.
//! (On x86 a `Release` store is a plain store; no instruction here is locked.)
//!
//! The list of records is behind a mutex: a thread claims its record before its first
//! entry mark, and `in_flight` scans under the same mutex, so the scan finds every
//! record whose mark the argument above says it must see. Claims happen once per thread
//! and scans once per variable freed, so the mutex is never on a transaction's path.
//! (A lock-free list would do as well, but under loom its loads branch on every value
//! they may read, which multiplied the states of three-thread models past CI's time.)

use crate::sync::atomic::AtomicU64;
use crate::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use crate::sync::{lock, sync_static, Mutex};

/// One thread's presence: its count of entries and exits. On a cache line of its own:
/// its owner writes it twice per section, and a neighbour written by another thread
/// would slow every one of those stores.
#[repr(align(64))]
struct Record {
    /// Odd while the owner is inside a section. Written only by the owner.
    count: AtomicU64,
}

/// Every record ever made, and whether a thread owns it.
struct Registry {
    records: Vec<(&'static Record, bool)>,
}

sync_static! {
    /// Records are leaked, so every reference here stays valid for the life of the process.
    static REGISTRY: Mutex<Registry> = Mutex::new(Registry { records: Vec::new() });
}

/// A thread's own record, through which it enters and leaves sections.
pub(crate) struct Local {
    record: &'static Record,
}

impl Local {
    /// Claims a record left by an exited thread, or makes a new one.
    pub(crate) fn claim() -> Local {
        let mut registry = lock(&REGISTRY);
        let free = registry.records.iter_mut().find(|(_, claimed)| !claimed);
        let record = match free {
            Some((record, claimed)) => {
                *claimed = true;
                *record
            }
            None => {
                let record: &'static Record = Box::leak(Box::new(Record {
                    count: AtomicU64::new(0),
                }));
                registry.records.push((record, true));
                record
            }
        };
        Local { record }
    }

    /// Marks the thread as inside a section (if it is not already).
    #[inline]
    pub(crate) fn enter(&self) {
        self.publish(self.count() | 1);
    }

    /// Marks the thread as inside a section, unless it already is: then returns false
    /// and changes nothing.
    #[inline]
    pub(crate) fn try_enter(&self) -> bool {
        let count = self.count();
        if count % 2 == 1 {
            return false;
        }
        self.publish(count | 1);
        true
    }

    /// Marks the thread as outside any section (if it is not already). Idempotent, like
    /// `enter`, so that an unwind between a leave and the next enter cannot turn the
    /// parity around and leave the thread looking outside while it is inside.
    #[inline]
    pub(crate) fn leave(&self) {
        self.publish((self.count() + 1) & !1);
    }

    /// Whether the thread is inside a section.
    #[inline]
    pub(crate) fn is_inside(&self) -> bool {
        self.count() % 2 == 1
    }

    /// The record's count. Relaxed: only this thread writes it, so this reads its own
    /// last store (or, right after a claim, the previous owner's, which the registry's
    /// mutex ordered before the claim). Not cached beside the record: a mark is then one
    /// store, and a load from a line the thread owns.
    #[inline]
    fn count(&self) -> u64 {
        self.record.count.load(Relaxed)
    }

    #[inline]
    fn publish(&self, count: u64) {
        // Release: see the module docs (what a scan that sees the new count may rely on).
        self.record.count.store(count, Release);
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        debug_assert!(
            !self.is_inside(),
            "a thread gave up its presence record inside a section"
        );
        // Under loom the record is not given back: loom drops the main thread's
        // thread-locals after the model's statics, and each explored execution starts
        // with a registry of its own anyway.
        #[cfg(not(loom))]
        {
            let mut registry = lock(&REGISTRY);
            let mine = (registry.records.iter_mut()).find(|(r, _)| std::ptr::eq(*r, self.record));
            mine.expect("a claimed record is in the registry").1 = false;
        }
    }
}

/// The sections running at one moment: each inside record and the count it had.
pub(crate) struct Snapshot {
    inside: Vec<(&'static Record, u64)>,
}

/// Every thread inside a section now, with its count. See the module docs for why a
/// section that can hold a pointer whose last owner let go before this call is in it.
pub(crate) fn in_flight() -> Snapshot {
    let registry = lock(&REGISTRY);
    let inside = (registry.records.iter())
        .filter_map(|&(record, _)| {
            // Acquire: see the module docs.
            let count = record.count.load(Acquire);
            (count % 2 == 1).then_some((record, count))
        })
        .collect();
    Snapshot { inside }
}

impl Snapshot {
    /// Whether every section of the snapshot has ended. Once true, it stays true, and
    /// everything those sections did happens before this call returned it.
    pub(crate) fn all_left(&self) -> bool {
        // Acquire: pairs with the owner's Release marks (see the module docs).
        (self.inside.iter()).all(|&(record, count)| record.count.load(Acquire) != count)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::ptr;

    use super::*;

    /// Whether `snapshot` saw `local` inside a section, and `local` has left it since.
    /// (Other tests' threads may be inside sections of their own meanwhile.)
    fn saw_and_left(snapshot: &Snapshot, local: &Local) -> Option<bool> {
        let &(record, count) = (snapshot.inside.iter()).find(|(r, _)| ptr::eq(*r, local.record))?;
        Some(record.count.load(Acquire) != count)
    }

    #[test]
    fn a_snapshot_waits_for_a_section_until_it_leaves() {
        let local = Local::claim();
        assert_eq!(
            saw_and_left(&in_flight(), &local),
            None,
            "outside: not seen"
        );
        local.enter();
        let snapshot = in_flight();
        assert_eq!(saw_and_left(&snapshot, &local), Some(false));
        local.leave();
        assert_eq!(saw_and_left(&snapshot, &local), Some(true));
        local.enter();
        assert_eq!(
            saw_and_left(&snapshot, &local),
            Some(true),
            "a later section is not the one the snapshot saw"
        );
        local.leave();
    }

    #[test]
    fn a_second_leave_or_enter_changes_nothing() {
        let local = Local::claim();
        local.enter();
        let inside = local.count();
        local.enter();
        assert_eq!(local.count(), inside);
        local.leave();
        local.leave();
        assert_eq!(local.count(), inside + 1, "outside, once");
        local.enter();
        assert_eq!(local.count(), inside + 2, "inside again");
        local.leave();
    }

    #[test]
    fn try_enter_refuses_a_thread_already_inside() {
        let local = Local::claim();
        assert!(local.try_enter(), "outside: enters");
        let inside = local.count();
        assert!(!local.try_enter(), "inside: refused");
        assert_eq!(local.count(), inside, "a refused entry changes nothing");
        local.leave();
        assert!(local.try_enter(), "outside again: enters");
        local.leave();
    }

    #[test]
    fn a_record_outlives_its_thread_with_an_even_count() {
        let record = std::thread::spawn(|| {
            let local = Local::claim();
            local.enter();
            local.leave();
            ptr::from_ref(local.record) as usize
        })
        .join()
        .unwrap();
        let registry = lock(&REGISTRY);
        let found = (registry.records.iter()).find(|(r, _)| ptr::from_ref(*r) as usize == record);
        let (found, _) = found.expect("a record is never removed from the registry");
        assert_eq!(
            found.count.load(Acquire) % 2,
            0,
            "an exited thread is outside"
        );
    }
}
