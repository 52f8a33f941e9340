#![cfg(loom)]
//! `atomically_timeout` expiring while a commit lands. Loom has no clock, so the shim
//! explores every timed park as one that may time out at once: the waiter either sees
//! the commit (it must, if the commit came before its last check) or gives up having
//! published nothing; either way the committer's wake-up of a waiter that has left is
//! harmless, and nothing leaks (loom checks every `Arc`).

use std::time::Duration;

use braid::stm::{atomically, atomically_timeout, check, TVar};
use loom::thread;

#[test]
fn expiry_racing_a_commit_sees_it_or_leaves_no_trace() {
    loom::model(|| {
        let (flag, claimed) = (TVar::new(false), TVar::new(false));
        let committer = {
            let flag = flag.clone();
            thread::spawn(move || atomically(|tx| flag.write(tx, true)))
        };
        let got = atomically_timeout(Duration::ZERO, |tx| {
            check(flag.read(tx)?)?;
            claimed.write(tx, true)
        });
        committer.join().unwrap();
        match got {
            Some(()) => assert!(claimed.load(), "a committed wait published nothing"),
            None => assert!(!claimed.load(), "a timed-out wait published its writes"),
        }
    });
}

#[test]
fn long_deadline_waiter_is_woken_by_the_commit() {
    loom::model(|| {
        let flag = TVar::new(false);
        let committer = {
            let flag = flag.clone();
            thread::spawn(move || atomically(|tx| flag.write(tx, true)))
        };
        let got = atomically_timeout(Duration::from_secs(3600), |tx| check(flag.read(tx)?));
        assert_eq!(got, Some(()), "timed out long before the deadline");
        committer.join().unwrap();
    });
}

/// A timed `retry` that read nothing waits out its deadline (nothing can wake it) and
/// returns `None`. (A zero deadline: loom has no clock, and a far one with nobody to wake
/// the waiter would yield until the real clock passed it.)
#[test]
fn a_timed_retry_that_read_nothing_returns_none() {
    loom::model(|| {
        let got: Option<()> = atomically_timeout(Duration::ZERO, |_| braid::stm::retry());
        assert_eq!(got, None);
    });
}

/// A waiter woken by a first commit runs again, still cannot go on, and is past its
/// deadline: it gives up at that retry (the deadline is checked at every retry after the
/// first wait, so that commits that keep waking it cannot keep it past the deadline),
/// having published nothing and left no waiter behind, however the second commit lands.
#[test]
fn a_woken_waiter_that_retries_past_its_deadline_leaves_no_trace() {
    loom::model(|| {
        let (stage, claimed) = (TVar::new(0u8), TVar::new(false));
        let committer = {
            let stage = stage.clone();
            thread::spawn(move || {
                atomically(|tx| stage.write(tx, 1));
                atomically(|tx| stage.write(tx, 2));
            })
        };
        let got = atomically_timeout(Duration::ZERO, |tx| {
            check(stage.read(tx)? == 2)?;
            claimed.write(tx, true)
        });
        committer.join().unwrap();
        match got {
            Some(()) => assert!(claimed.load(), "a committed wait published nothing"),
            None => assert!(!claimed.load(), "a timed-out wait published its writes"),
        }
    });
}
