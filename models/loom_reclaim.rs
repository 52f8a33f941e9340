#![cfg(loom)]
//! Reclamation: values replaced by commits and variables whose last handle is dropped
//! are freed exactly once, and only after readers are done with them. `Track` makes loom
//! report any value that is never freed; the live counter catches double frees. A
//! variable's core is marked dead instead of freed under loom, and every transactional
//! access checks it, so a use that does not happen before the free fails the model.

use braid::stm::{atomically, TVar};
use loom::alloc::Track;
use loom::sync::atomic::{AtomicIsize, Ordering};
use loom::sync::Arc;
use loom::thread;

/// A value that loom tracks, and that counts its live copies.
struct Canary {
    live: Arc<AtomicIsize>,
    _track: Track<()>,
}

impl Canary {
    fn new(live: &Arc<AtomicIsize>) -> Canary {
        live.fetch_add(1, Ordering::Relaxed);
        Canary {
            live: live.clone(),
            _track: Track::new(()),
        }
    }
}

impl Clone for Canary {
    fn clone(&self) -> Self {
        assert!(
            self.live.load(Ordering::Relaxed) > 0,
            "cloned a value after every copy was freed"
        );
        Canary::new(&self.live)
    }
}

impl Drop for Canary {
    fn drop(&mut self) {
        let before = self.live.fetch_sub(1, Ordering::Relaxed);
        assert!(before > 0, "freed more copies than were made");
    }
}

#[test]
fn replaced_values_and_dropped_variables_are_freed_once() {
    loom::model(|| {
        let live = Arc::new(AtomicIsize::new(0));
        let var = TVar::new(Canary::new(&live));
        let writer = {
            let (var, live) = (var.clone(), live.clone());
            thread::spawn(move || {
                atomically(|tx| var.write(tx, Canary::new(&live)));
                // This handle goes here, racing the reader's use of its own handle.
            })
        };
        let reader = {
            let var = var.clone();
            thread::spawn(move || {
                let seen = atomically(|tx| var.read(tx));
                drop(var);
                seen
            })
        };
        drop(var);
        let seen = reader.join().unwrap();
        writer.join().unwrap();
        drop(seen);
        assert_eq!(
            live.load(Ordering::Relaxed),
            0,
            "a value outlived every handle"
        );
    });
}

/// A transaction writes a variable through its own handle, drops the handle, and then
/// commits, which locks and publishes the variable; the other handle goes at the same
/// time. Whichever is last, the variable's free waits for the transaction to end.
#[test]
fn a_variable_dropped_mid_transaction_outlives_the_commit_that_writes_it() {
    loom::model(|| {
        let var = TVar::new(0u64);
        let user = {
            let mut mine = Some(var.clone());
            thread::spawn(move || {
                atomically(|tx| {
                    if let Some(var) = mine.take() {
                        var.modify(tx, |n| n + 1)?;
                    }
                    Ok(())
                })
            })
        };
        drop(var);
        user.join().unwrap();
    });
}

/// A transaction reads a variable through its own handle, drops the handle, and then
/// commits a write elsewhere; a commit on another thread moves the clock, so this commit
/// validates what it read, the dropped variable included. The other handle goes at
/// the same time, before or after that commit.
#[test]
fn a_variable_dropped_mid_transaction_outlives_the_validation_of_its_read() {
    loom::model(|| {
        let (var, sink, other) = (TVar::new(0u64), TVar::new(0u64), TVar::new(0u64));
        let user = {
            let (mut mine, sink) = (Some(var.clone()), sink.clone());
            thread::spawn(move || {
                atomically(|tx| {
                    let seen = match mine.take() {
                        Some(var) => var.read(tx)?,
                        None => 0,
                    };
                    sink.write(tx, seen + 1)
                })
            })
        };
        drop(var);
        atomically(|tx| other.write(tx, 1));
        user.join().unwrap();
        assert_eq!(sink.load(), 1);
    });
}

/// A sealed batch of retired pointers is freed exactly once: by the thread that retired
/// it, if it looks after the grace period, or else by the collector thread. Two grace
/// periods may end for one batch (its thread's deferred call, and the collector's second
/// one for a thread that stopped retiring): each marks the batch ready and the
/// collector then tries to claim it; the owner looks once, at any point. Exactly one
/// mark succeeds, whoever claims gets every item, and the others get nothing.
#[test]
fn a_sealed_batch_is_claimed_once_by_its_owner_or_the_collector() {
    use braid::__loom::SealedBatch;
    loom::model(|| {
        let batch = Arc::new(SealedBatch::new(vec![1, 2, 3]));
        let first_call = {
            let batch = batch.clone();
            thread::spawn(move || batch.mark_ready())
        };
        let collector = {
            let batch = batch.clone();
            thread::spawn(move || {
                let marked = batch.mark_ready();
                (marked, batch.take())
            })
        };
        let by_owner = if batch.is_pending() {
            None
        } else {
            batch.take()
        };
        let (marked_second, by_collector) = collector.join().unwrap();
        let marked_first = first_call.join().unwrap();
        assert!(
            marked_first != marked_second,
            "marked ready twice, or never"
        );
        match (by_owner, by_collector) {
            (Some(items), None) | (None, Some(items)) => assert_eq!(items, [1, 2, 3]),
            (owner, collector) => panic!("claimed by owner {owner:?} and collector {collector:?}"),
        }
    });
}
