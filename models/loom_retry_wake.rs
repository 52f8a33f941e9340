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

/// A transaction drops the last handle to a variable it read, then retries. Its wait must
/// not take a counted reference to that variable (bringing a count of zero back to one
/// would free the variable a second time when the wait ends, and the first free, which
/// waits only for the transaction, would already have run while the thread slept). The
/// commit to the flag it also read still wakes it.
#[test]
fn a_retry_does_not_revive_a_variable_whose_last_handle_it_dropped() {
    loom::model(|| {
        let flag = TVar::new(false);
        let waiter = {
            let flag = flag.clone();
            thread::spawn(move || {
                let mut only_handle = Some(TVar::new(0u64));
                atomically(|tx| {
                    if let Some(temporary) = only_handle.take() {
                        temporary.read(tx)?;
                    }
                    check(flag.read(tx)?)
                })
            })
        };
        atomically(|tx| flag.write(tx, true));
        waiter.join().unwrap();
    });
}

/// Two waiters on a variable nobody waited on before race to install its wait list (the
/// first waiter allocates it, `stm/wait.rs`): whichever CAS loses must register on the
/// winner's list, and the commit must wake both, whatever the order.
#[test]
fn two_first_waiters_share_the_list_one_installs() {
    loom::model(|| {
        let flag = TVar::new(false);
        let other_waiter = {
            let flag = flag.clone();
            thread::spawn(move || atomically(|tx| check(flag.read(tx)?)))
        };
        let committer = {
            let flag = flag.clone();
            thread::spawn(move || atomically(|tx| flag.write(tx, true)))
        };
        atomically(|tx| check(flag.read(tx)?));
        other_waiter.join().unwrap();
        committer.join().unwrap();
    });
}
