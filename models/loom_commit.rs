#![cfg(loom)]
//! Two committers on overlapping variables: the final state equals one of the two serial
//! orders, and each body saw a state that serial order produces.

use braid::stm::{atomically, TVar};
use loom::thread::{self, JoinHandle};

/// Runs `f` on a new thread with its own handles to `x` and `y`.
fn on_thread<R: Send + 'static>(
    x: &TVar<i32>,
    y: &TVar<i32>,
    f: impl FnOnce(TVar<i32>, TVar<i32>) -> R + Send + 'static,
) -> JoinHandle<R> {
    let (x, y) = (x.clone(), y.clone());
    thread::spawn(move || f(x, y))
}

#[test]
fn two_committers_on_overlapping_variables_serialize() {
    loom::model(|| {
        let x = TVar::new(0);
        let y = TVar::new(0);
        // T1: (x, y) += 1.   T2: (x, y) := (y * 10, x * 10).
        let t1 = on_thread(&x, &y, |x, y| {
            atomically(|tx| {
                x.modify(tx, |v| v + 1)?;
                y.modify(tx, |v| v + 1)
            })
        });
        let seen = atomically(|tx| {
            let (a, b) = (x.read(tx)?, y.read(tx)?);
            x.write(tx, b * 10)?;
            y.write(tx, a * 10)?;
            Ok((a, b))
        });
        t1.join().unwrap();
        let end = (x.load(), y.load());
        // T1 then T2: T2 saw (1, 1), ends (10, 10). T2 then T1: saw (0, 0), ends (1, 1).
        assert!(
            (seen, end) == ((1, 1), (10, 10)) || (seen, end) == ((0, 0), (1, 1)),
            "not serializable: T2 saw {seen:?}, final {end:?}"
        );
    });
}

/// Three threads, so explored with one preemption, not CI's two: transactions take no
/// global lock under loom any more (the stand-in epoch pin they took did, and it ordered
/// every transaction after the last), so the model now meets the real weak-memory
/// orders, and at two preemptions it ran 1.3 million executions in three minutes. At one
/// it runs about 30,000, as many as it ran at two with the lock. The two-thread models
/// here and in `loom_opacity.rs` cover the same races at two.
#[test]
fn two_incrementers_and_an_auditor_agree() {
    let mut model = loom::model::Builder::new();
    model.preemption_bound = Some(model.preemption_bound.map_or(1, |bound| bound.min(1)));
    model.check(|| {
        let x = TVar::new(0);
        let y = TVar::new(0);
        let bump = || {
            on_thread(&x, &y, |x, y| {
                atomically(|tx| {
                    x.modify(tx, |v| v + 1)?;
                    y.modify(tx, |v| v + 1)
                })
            })
        };
        let (t1, t2) = (bump(), bump());
        let (a, b) = atomically(|tx| Ok((x.read(tx)?, y.read(tx)?)));
        assert_eq!(a, b, "auditor saw a half-applied increment");
        t1.join().unwrap();
        t2.join().unwrap();
        assert_eq!((x.load(), y.load()), (2, 2), "an increment was lost");
    });
}

/// Regression (found by `examples/bank.rs`): a snapshot extension trusted a variable that
/// the transaction had written and another committer held locked, so a later commit that
/// skipped validation overwrote that committer's update.
#[test]
fn extension_does_not_trust_a_locked_variable_it_wrote() {
    loom::model(|| {
        // `y` first, so a committer of both locks and unlocks `y` before `x`.
        let y = TVar::new(0);
        let x = TVar::new(0);
        let committer = on_thread(&x, &y, |x, y| {
            atomically(|tx| {
                x.modify(tx, |v| v + 1)?;
                y.modify(tx, |v| v + 1)
            })
        });
        atomically(|tx| {
            x.modify(tx, |v| v + 10)?;
            y.read(tx).map(drop)
        });
        committer.join().unwrap();
        assert_eq!((x.load(), y.load()), (11, 1), "an update to x was lost");
    });
}

/// Write skew, the anomaly of snapshot isolation: each transaction writes one variable
/// from the other's value (the one-write commit path), so only validating the read set
/// at commit keeps them serializable.
#[test]
fn one_variable_writers_do_not_skew() {
    loom::model(|| {
        let x = TVar::new(0);
        let y = TVar::new(0);
        let t1 = on_thread(&x, &y, |x, y| {
            atomically(|tx| {
                let seen = x.read(tx)?;
                y.write(tx, seen + 1)
            })
        });
        atomically(|tx| {
            let seen = y.read(tx)?;
            x.write(tx, seen + 1)
        });
        t1.join().unwrap();
        let end = (x.load(), y.load());
        // T1 then T2: (2, 1). T2 then T1: (1, 2). Both from the same snapshot: (1, 1).
        assert!(end == (2, 1) || end == (1, 2), "write skew: final {end:?}");
    });
}
