#![cfg(loom)]
//! `or_else` rollback under a concurrent commit: the second branch never sees the first
//! branch's writes, and the outcome is one of the two serial orders.

use braid::stm::{atomically, check, or_else, TVar};
use loom::thread;

#[test]
fn first_branch_writes_vanish_when_it_retries() {
    loom::model(|| {
        let (a, b, c) = (TVar::new(0), TVar::new(0), TVar::new(0));
        let opener = {
            let b = b.clone();
            thread::spawn(move || atomically(|tx| b.write(tx, 1)))
        };
        atomically(|tx| {
            or_else(
                tx,
                |tx| {
                    a.write(tx, 5)?;
                    check(b.read(tx)? == 1)
                },
                |tx| {
                    let seen = a.read(tx)?;
                    assert_eq!(seen, 0, "second branch saw the first branch's write");
                    c.write(tx, seen + 100)
                },
            )
        });
        opener.join().unwrap();
        let end = (a.load(), b.load(), c.load());
        // Opener first: branch one commits. Opener second: branch two commits.
        assert!(
            end == (5, 1, 0) || end == (0, 1, 100),
            "not serializable: {end:?}"
        );
    });
}
