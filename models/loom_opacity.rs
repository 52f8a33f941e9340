#![cfg(loom)]
//! A committer against a reader: the reader's body never sees a torn pair (opacity), and
//! a non-transactional `load` never sees half a value's publication.

use braid::stm::{atomically, TVar};
use loom::thread;

#[test]
fn reader_body_never_sees_a_torn_pair() {
    loom::model(|| {
        let x = TVar::new(0);
        let y = TVar::new(0);
        let writer = {
            let (x, y) = (x.clone(), y.clone());
            thread::spawn(move || {
                atomically(|tx| {
                    x.write(tx, 1)?;
                    y.write(tx, 1)
                })
            })
        };
        let pair = atomically(|tx| {
            let a = x.read(tx)?;
            let b = y.read(tx)?;
            // Inside the body, before any commit-time check: opacity, not just
            // serializability of committed results.
            assert_eq!(a, b, "body saw a torn pair");
            Ok((a, b))
        });
        assert!(pair == (0, 0) || pair == (1, 1));
        writer.join().unwrap();
        assert_eq!((x.load(), y.load()), (1, 1));
    });
}

#[test]
fn reader_body_never_sees_a_torn_pair_across_two_commits() {
    // Two successive commits let the reader extend its snapshot between its reads; the
    // extension must not let the second commit slip past the first read.
    loom::model(|| {
        let x = TVar::new(0);
        let y = TVar::new(0);
        let writer = |value: i32| {
            let (x, y) = (x.clone(), y.clone());
            thread::spawn(move || {
                atomically(|tx| {
                    x.write(tx, value)?;
                    y.write(tx, value)
                })
            })
        };
        let (w1, w2) = (writer(1), writer(2));
        atomically(|tx| {
            let a = x.read(tx)?;
            let b = y.read(tx)?;
            assert_eq!(a, b, "body saw a torn pair");
            Ok(())
        });
        w1.join().unwrap();
        w2.join().unwrap();
        let end = (x.load(), y.load());
        assert!(end == (1, 1) || end == (2, 2), "{end:?}");
    });
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
