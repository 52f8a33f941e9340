#![cfg(loom)]
//! A retrying waiter against a committer: the waiter always wakes (loom reports a
//! deadlock if a wake-up is lost), whether it parks a thread or suspends a future.

use braid::stm::{atomically, atomically_async, check, TVar};
use loom::thread;

#[test]
fn parked_thread_is_woken_by_the_commit() {
    loom::model(|| {
        let flag = TVar::new(false);
        let committer = {
            let flag = flag.clone();
            thread::spawn(move || atomically(|tx| flag.write(tx, true)))
        };
        atomically(|tx| check(flag.read(tx)?));
        committer.join().unwrap();
    });
}

#[test]
fn suspended_future_is_woken_by_the_commit() {
    loom::model(|| {
        let flag = TVar::new(false);
        let committer = {
            let flag = flag.clone();
            thread::spawn(move || atomically(|tx| flag.write(tx, true)))
        };
        loom::future::block_on(atomically_async(|tx| check(flag.read(tx)?)));
        committer.join().unwrap();
    });
}
