#![cfg(loom)]
//! The progress mode: under loom a transaction takes the priority token after its first
//! conflict. A transaction that keeps conflicting and a competitor both finish (no
//! deadlock between the token and the variable locks), and the result is serializable.

use braid::stm::{atomically, TVar};
use loom::thread;

#[test]
fn starving_transaction_and_competitor_both_finish() {
    loom::model(|| {
        let (x, y) = (TVar::new(0), TVar::new(0));
        let competitor = {
            let (x, y) = (x.clone(), y.clone());
            thread::spawn(move || {
                atomically(|tx| x.modify(tx, |v| v + 1));
                atomically(|tx| y.modify(tx, |v| v + 1));
            })
        };
        // Reads both, writes both: invalidated by either of the competitor's commits.
        atomically(|tx| {
            let (a, b) = (x.read(tx)?, y.read(tx)?);
            x.write(tx, a + 10)?;
            y.write(tx, b + 10)
        });
        competitor.join().unwrap();
        assert_eq!((x.load(), y.load()), (11, 11));
    });
}

/// Regression: a transaction that won the priority token kept it while its `on_commit`
/// hooks ran, so a hook that committed a write waited for the token forever.
#[test]
fn a_priority_holders_hook_may_commit() {
    loom::model(|| {
        let (x, log) = (TVar::new(0), TVar::new(0));
        let competitor = {
            let x = x.clone();
            thread::spawn(move || atomically(|tx| x.modify(tx, |v| v + 1)))
        };
        atomically(|tx| {
            let seen = x.read(tx)?;
            x.write(tx, seen + 10)?;
            let log = log.clone();
            tx.on_commit(move || atomically(|tx| log.write(tx, 1)));
            Ok(())
        });
        competitor.join().unwrap();
        assert_eq!((x.load(), log.load()), (11, 1));
    });
}
