#![cfg(loom)]
//! A committer against a reader: the reader's body never sees a torn pair (opacity), and
//! a non-transactional `load` never sees half a value's publication.
//!
//! The torn-pair models run on both of braid's value representations: `i32`, kept in the
//! variable's own word, and `InNode`, kept in a heap node that each commit replaces.

use std::fmt::Debug;

use braid::stm::{atomically, TVar};
use loom::thread;

/// A number that braid keeps in a heap node (it is not a primitive scalar).
#[derive(Clone, Debug, PartialEq)]
struct InNode(i32);

impl From<i32> for InNode {
    fn from(value: i32) -> Self {
        InNode(value)
    }
}

/// What the models need of a value: built from a number, compared, printed on failure.
trait Value: Clone + Debug + PartialEq + From<i32> + Send + Sync + 'static {}
impl<V: Clone + Debug + PartialEq + From<i32> + Send + Sync + 'static> Value for V {}

#[test]
fn reader_body_never_sees_a_torn_pair_of_words() {
    loom::model(torn_pair::<i32>);
}

#[test]
fn reader_body_never_sees_a_torn_pair_of_nodes() {
    loom::model(torn_pair::<InNode>);
}

/// Two variables, both 0, that every commit in these models writes together.
fn pair<V: Value>() -> (TVar<V>, TVar<V>) {
    (TVar::new(V::from(0)), TVar::new(V::from(0)))
}

/// `(value, value)`: what a consistent read of the pair sees.
fn both<V: Value>(value: i32) -> (V, V) {
    (V::from(value), V::from(value))
}

/// Commits `value` to both variables from a new thread.
fn write_pair<V: Value>(x: &TVar<V>, y: &TVar<V>, value: i32) -> thread::JoinHandle<()> {
    let (x, y) = (x.clone(), y.clone());
    thread::spawn(move || {
        atomically(|tx| {
            x.write(tx, V::from(value))?;
            y.write(tx, V::from(value))
        })
    })
}

/// Reads both variables in one transaction. The check runs inside the body, before any
/// commit-time validation: opacity, not just serializability of committed results.
fn read_pair<V: Value>(x: &TVar<V>, y: &TVar<V>) -> (V, V) {
    atomically(|tx| {
        let a = x.read(tx)?;
        let b = y.read(tx)?;
        assert_eq!(a, b, "body saw a torn pair");
        Ok((a, b))
    })
}

fn torn_pair<V: Value>() {
    let (x, y) = pair::<V>();
    let writer = write_pair(&x, &y, 1);
    let seen = read_pair(&x, &y);
    assert!(seen == both(0) || seen == both(1), "{seen:?}");
    writer.join().unwrap();
    assert_eq!((x.load(), y.load()), both(1));
}

#[test]
fn reader_body_never_sees_a_torn_pair_across_two_commits_of_words() {
    loom::model(torn_pair_across_two_commits::<i32>);
}

#[test]
fn reader_body_never_sees_a_torn_pair_across_two_commits_of_nodes() {
    loom::model(torn_pair_across_two_commits::<InNode>);
}

/// Two successive commits let the reader extend its snapshot between its reads; the
/// extension must not let the second commit slip past the first read.
fn torn_pair_across_two_commits<V: Value>() {
    let (x, y) = pair::<V>();
    let (w1, w2) = (write_pair(&x, &y, 1), write_pair(&x, &y, 2));
    read_pair(&x, &y);
    w1.join().unwrap();
    w2.join().unwrap();
    let end = (x.load(), y.load());
    assert!(end == both(1) || end == both(2), "{end:?}");
}

#[test]
fn load_sees_old_or_new_value_never_a_freed_one() {
    loom::model(|| {
        let x = TVar::new(vec![0u8; 2]);
        let writer = {
            let x = x.clone();
            thread::spawn(move || atomically(|tx| x.write(tx, vec![1u8; 2])))
        };
        let seen = x.load();
        assert!(seen == [0, 0] || seen == [1, 1], "{seen:?}");
        writer.join().unwrap();
    });
}

#[test]
fn load_of_a_word_sees_the_old_or_the_new_value() {
    loom::model(|| {
        let x = TVar::new(u64::MAX);
        let writer = {
            let x = x.clone();
            thread::spawn(move || atomically(|tx| x.write(tx, 7)))
        };
        let seen = x.load();
        assert!(seen == u64::MAX || seen == 7, "{seen}");
        writer.join().unwrap();
        assert_eq!(x.load(), 7);
    });
}

/// Commits do not move the clock; a reader that meets a newer version does
/// (`stm/clock.rs`). Here the reader first commits a third variable on its own (stamped
/// past the clock, which stays put), then reads `x`, that third variable, and `y`:
/// meeting the third's version moves the clock past its snapshot, while the pair's
/// commit, on the other thread, may have read the old time and stamped the pair with the
/// reader's new one. The orderings of `clock.rs` must keep the reader from taking `y`'s
/// new value after `x`'s old one; the body checks the pair before any validation.
#[test]
fn a_reader_that_moves_the_clock_never_sees_half_of_a_commit() {
    loom::model(|| {
        let (x, y) = pair::<i32>();
        let other = TVar::new(0);
        let writer = write_pair(&x, &y, 1);
        atomically(|tx| other.write(tx, 1));
        let seen = atomically(|tx| {
            let a = x.read(tx)?;
            other.read(tx)?;
            let b = y.read(tx)?;
            assert_eq!(a, b, "the body saw half of a commit");
            Ok(a)
        });
        writer.join().unwrap();
        assert!(seen == 0 || seen == 1);
    });
}

/// A thread that commits alone ticks the clock, and skips validation when the tick shows
/// that nothing committed since its snapshot; a thread that commits beside others stamps
/// past the clock without moving it (`stm/clock.rs`). Here one thread stamps a commit
/// (asked to, as a thread that has seen company would) and then commits once more, which
/// ends its run of stamps (a run is one commit under loom), while the other commits by
/// ticking. Each reads what the other writes: any
/// serial order leaves `(11, 1)` or `(10, 11)`, and `(10, 1)` means the ticking commit
/// skipped validation past the stamped one. It does without the tick with which a
/// stamping thread leaves the count of stampers, or without the count.
#[test]
fn a_ticking_commit_never_skips_validation_past_a_stamped_one() {
    loom::model(|| {
        let (x, y) = (TVar::new(0), TVar::new(0));
        let stamper = {
            let (x, y) = (x.clone(), y.clone());
            thread::spawn(move || {
                braid::__loom::stamp_next_commit();
                atomically(|tx| {
                    let seen = y.read(tx)?;
                    x.write(tx, seen + 10)
                });
                let own = TVar::new(0);
                atomically(|tx| own.write(tx, 1));
            })
        };
        atomically(|tx| {
            let seen = x.read(tx)?;
            y.write(tx, seen + 1)
        });
        stamper.join().unwrap();
        let outcome = (x.load(), y.load());
        assert!(
            outcome == (11, 1) || outcome == (10, 11),
            "not serializable: {outcome:?}"
        );
    });
}
