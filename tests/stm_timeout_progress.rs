#![cfg(not(loom))]
//! `atomically_timeout` deadlines, and the progress guarantee: a long transaction commits
//! even while short ones keep invalidating it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use braid::stm::{atomically, atomically_timeout, check, TVar};

#[test]
fn timeout_gives_none_once_the_deadline_passes_while_parked() {
    let never = TVar::new(false);
    let started = Instant::now();
    let got = atomically_timeout(Duration::from_millis(50), |tx| check(never.read(tx)?));
    assert_eq!(got, None);
    assert!(
        started.elapsed() >= Duration::from_millis(50),
        "returned before the deadline"
    );
}

#[test]
fn timeout_gives_the_value_when_a_commit_arrives_in_time() {
    let ready = TVar::new(0);
    let setter = {
        let ready = ready.clone();
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            atomically(|tx| ready.write(tx, 7));
        })
    };
    let got = atomically_timeout(Duration::from_secs(30), |tx| {
        let n = ready.read(tx)?;
        check(n != 0)?;
        Ok(n)
    });
    setter.join().unwrap();
    assert_eq!(got, Some(7));
}

#[test]
fn timed_out_transaction_publishes_nothing_and_runs_no_hooks() {
    let (gate, scratch) = (TVar::new(false), TVar::new(0));
    let hook_ran = Arc::new(AtomicBool::new(false));
    let got = atomically_timeout(Duration::from_millis(10), |tx| {
        scratch.write(tx, 99)?;
        let hook_ran = hook_ran.clone();
        tx.on_commit(move || hook_ran.store(true, Ordering::SeqCst));
        check(gate.read(tx)?)
    });
    assert_eq!(got, None);
    assert_eq!(scratch.load(), 0);
    assert!(!hook_ran.load(Ordering::SeqCst));
}

#[test]
fn zero_timeout_still_runs_the_body_once() {
    let x = TVar::new(5);
    assert_eq!(atomically_timeout(Duration::ZERO, |tx| x.read(tx)), Some(5));
}

#[test]
fn long_transaction_commits_while_three_threads_hammer_its_variables() {
    const VARS: usize = 200;
    let vars: Arc<Vec<TVar<u64>>> = Arc::new((0..VARS).map(|_| TVar::new(0)).collect());
    let stop = Arc::new(AtomicBool::new(false));
    let short_commits = Arc::new(AtomicU64::new(0));
    let hammers: Vec<_> = (0..3)
        .map(|t| {
            let (vars, stop, short_commits) = (vars.clone(), stop.clone(), short_commits.clone());
            thread::spawn(move || {
                let mut i = t;
                while !stop.load(Ordering::Relaxed) {
                    i = (i * 7 + 13) % VARS;
                    atomically(|tx| vars[i].modify(tx, |v| v + 1));
                    short_commits.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    // Let the hammers get going, then run the long transaction on its own thread so a
    // starvation bug fails this test instead of hanging it.
    thread::sleep(Duration::from_millis(20));
    let (done, finished) = mpsc::channel();
    let hooked = TVar::new(false);
    let long = {
        let (vars, hooked) = (vars.clone(), hooked.clone());
        thread::spawn(move || {
            let runs = AtomicU64::new(0);
            atomically(|tx| {
                runs.fetch_add(1, Ordering::Relaxed);
                let mut seen = Vec::with_capacity(VARS);
                for v in vars.iter() {
                    seen.push(v.read(tx)?);
                }
                // A long computation between reading and writing: any short commit to
                // any of the 200 variables meanwhile invalidates this run.
                let busy = Instant::now();
                while busy.elapsed() < Duration::from_millis(2) {
                    std::hint::spin_loop();
                }
                for (v, x) in vars.iter().zip(seen) {
                    v.write(tx, x + 1_000_000)?;
                }
                // The commit that won the priority token runs this hook; a hook that
                // commits must not wait for the token its own transaction held.
                let hooked = hooked.clone();
                tx.on_commit(move || atomically(|tx| hooked.write(tx, true)));
                Ok(())
            });
            done.send(runs.load(Ordering::Relaxed)).unwrap();
        })
    };
    let runs = finished.recv_timeout(Duration::from_secs(60));
    stop.store(true, Ordering::Relaxed);
    // Before joining anything: a stuck transaction (which can hold up the hammers too)
    // must fail this test, not hang it.
    let runs = runs.expect("the long transaction (or its hook) was stuck for a minute");
    for h in hammers {
        h.join().unwrap();
    }
    long.join().unwrap();
    // Every variable got the long transaction's million exactly once, plus the hammers'.
    let total: u64 = vars.iter().map(TVar::load).sum();
    assert_eq!(
        total,
        VARS as u64 * 1_000_000 + short_commits.load(Ordering::Relaxed)
    );
    // 16 losses, then the token; a few commits already past the gate may cost a run more.
    assert!(runs <= 40, "{runs} runs");
    assert!(hooked.load(), "the hook did not commit");
}
