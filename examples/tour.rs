//! A guided run through braid. Run it with `cargo run --release --example tour`.
//!
//! Each stop prints what it does and checks its own result, so a run that finishes is a
//! run that held every promise it printed.

use std::future::Future;
use std::thread;
use std::time::{Duration, Instant};

use braid::coro::{self, yield_now, AsyncGenerator, Co, Generator, GeneratorState, Scheduler};
use braid::exec::{self, Pool};
use braid::stm::{
    atomically, atomically_timeout, check, or_else, retry, TBQueue, TChan, TMVar, TMap, TQueue,
    TVar,
};
use braid::stm::{atomically_async, atomically_async_timeout};
use braid::time::{sleep, timeout};
use braid::JoinSet;

fn main() {
    println!("braid tour: shared state without locks in your code\n");
    bank_transfers();
    blocking_consumer();
    choice_with_or_else();
    structures();
    generators();
    pool();
    scheduler();
    time_and_completion();
    println!("\nEvery stop checked its own result.");
}

/// Stop 1: many threads move money between accounts; the total never changes, and an
/// auditor running at the same time always sees the exact total.
fn bank_transfers() {
    const ACCOUNTS: usize = 8;
    const THREADS: usize = 4;
    const TRANSFERS: usize = 25_000;
    println!(
        "1. Bank: {THREADS} threads make {TRANSFERS} transfers each between {ACCOUNTS} accounts."
    );

    let accounts: Vec<TVar<i64>> = (0..ACCOUNTS).map(|_| TVar::new(1_000)).collect();
    let total = 1_000 * ACCOUNTS as i64;
    let started = Instant::now();
    let audits = thread::scope(|s| {
        for t in 0..THREADS {
            let accounts = &accounts;
            s.spawn(move || {
                for i in 0..TRANSFERS {
                    let from = (t + i) % ACCOUNTS;
                    let to = (t * 3 + i * 7 + 1) % ACCOUNTS;
                    if from == to {
                        continue;
                    }
                    // Both updates happen, or neither does. No lock, no lock order.
                    atomically(|tx| {
                        accounts[from].modify(tx, |balance| balance - 1)?;
                        accounts[to].modify(tx, |balance| balance + 1)
                    });
                }
            });
        }
        // Meanwhile, an auditor: a read-only transaction sees one consistent snapshot.
        let auditor = s.spawn(|| {
            let mut audits = 0;
            while audits < 1_000 {
                let sum: i64 = atomically(|tx| {
                    let mut sum = 0;
                    for account in &accounts {
                        sum += account.read(tx)?;
                    }
                    Ok(sum)
                });
                assert_eq!(sum, total, "an audit saw money appear or vanish");
                audits += 1;
            }
            audits
        });
        auditor.join().unwrap()
    });
    let end: i64 = accounts.iter().map(TVar::load).sum();
    assert_eq!(end, total);
    println!(
        "   {} transfers in {:.1?}; {audits} concurrent audits all saw exactly {total}; final total {end}.",
        THREADS * TRANSFERS,
        started.elapsed()
    );
}

/// Stop 2: a consumer waits for work with `retry`. It sleeps (no polling, no condition
/// variable) until a producer commits to a variable it read.
fn blocking_consumer() {
    println!("\n2. Blocking consumer: `retry` sleeps until a TVar it read changes.");
    let inbox: TVar<Vec<String>> = TVar::new(Vec::new());
    let consumer = {
        let inbox = inbox.clone();
        thread::spawn(move || {
            let mut received = Vec::new();
            while received.len() < 3 {
                let batch = atomically(|tx| {
                    let items = inbox.read(tx)?;
                    if items.is_empty() {
                        return retry(); // park until `inbox` is committed to
                    }
                    inbox.write(tx, Vec::new())?;
                    Ok(items)
                });
                for item in batch {
                    println!("   consumer woke up and took {item:?}");
                    received.push(item);
                }
            }
            received
        })
    };
    for word in ["hello", "from", "braid"] {
        thread::sleep(Duration::from_millis(30));
        println!("   producer commits {word:?}");
        atomically(|tx| {
            inbox.modify(tx, |mut items| {
                items.push(word.to_string());
                items
            })
        });
    }
    let received = consumer.join().unwrap();
    assert_eq!(received, ["hello", "from", "braid"]);
    println!("   the consumer got all three, in order, without polling.");
}

/// Stop 3: `or_else` tries one blocking alternative, and if it would wait, the other.
/// When both would wait, the transaction sleeps on everything either branch read.
fn choice_with_or_else() {
    println!("\n3. Choice: take from the fast lane, or else the slow lane.");
    let fast: TVar<Option<u32>> = TVar::new(None);
    let slow: TVar<Option<u32>> = TVar::new(Some(7));
    let take = |lane: &TVar<Option<u32>>, tx: &mut braid::stm::Transaction| {
        let job = lane.read(tx)?;
        check(job.is_some())?;
        lane.write(tx, None)?;
        Ok(job.unwrap())
    };
    let from_slow = atomically(|tx| or_else(tx, |tx| take(&fast, tx), |tx| take(&slow, tx)));
    println!("   fast lane empty, so or_else took job {from_slow} from the slow lane");
    assert_eq!(from_slow, 7);

    // Both lanes empty now: the next take waits on both, and either commit wakes it.
    let waiter = {
        let (fast, slow) = (fast.clone(), slow.clone());
        thread::spawn(move || {
            atomically(|tx| or_else(tx, |tx| take(&fast, tx), |tx| take(&slow, tx)))
        })
    };
    thread::sleep(Duration::from_millis(30));
    println!("   both lanes empty; the waiter sleeps on both. Putting job 42 in the fast lane.");
    atomically(|tx| fast.write(tx, Some(42)));
    let from_fast = waiter.join().unwrap();
    assert_eq!(from_fast, 42);
    assert_eq!((fast.load(), slow.load()), (None, None));
    println!("   the waiter woke and took job {from_fast}: one commit on either lane is enough.");
}

/// Stop 4: the structures built from TVars. A bounded queue between threads, a
/// broadcast channel, a one-slot mailbox, and a wait with a deadline.
fn structures() {
    println!("\n4. Structures: TBQueue, TChan, TMVar, a timeout, and TMap.");
    let queue = TBQueue::new(2);
    let producer = {
        let queue = queue.clone();
        thread::spawn(move || {
            for job in 1..=5 {
                atomically(|tx| queue.push(tx, job)); // waits while 2 are queued
            }
        })
    };
    let jobs: Vec<i32> = (0..5).map(|_| atomically(|tx| queue.pop(tx))).collect();
    producer.join().unwrap();
    assert_eq!(jobs, [1, 2, 3, 4, 5]);
    println!("   a TBQueue of capacity 2 carried jobs {jobs:?}, in order, with back-pressure");

    let news = TChan::new();
    let (alice, bob) = (news.subscribe(), news.subscribe());
    atomically(|tx| {
        news.send(tx, "braid 0.1 released")?;
        news.send(tx, "tour extended")
    });
    for (name, rx) in [("alice", &alice), ("bob", &bob)] {
        let got: Vec<&str> = (0..2).map(|_| atomically(|tx| rx.recv(tx))).collect();
        assert_eq!(got, ["braid 0.1 released", "tour extended"]);
        println!("   {name} received both broadcasts: {got:?}");
    }

    let mailbox: TMVar<String> = TMVar::new_empty();
    let started = Instant::now();
    let nothing = atomically_timeout(Duration::from_millis(20), |tx| mailbox.take(tx));
    assert_eq!(nothing, None);
    println!(
        "   waiting on an empty TMVar with a 20 ms deadline gave up after {:.0?}, publishing nothing",
        started.elapsed()
    );
    atomically(|tx| mailbox.put(tx, "a letter".to_string()));
    let letter = atomically_timeout(Duration::from_secs(1), |tx| mailbox.take(tx));
    assert_eq!(letter.as_deref(), Some("a letter"));
    println!("   after a put, the same wait returned {letter:?} at once");

    // A map whose keys are independent: two threads count words into it at once, and a
    // waiter for one key sleeps until that key appears.
    let counts: TMap<&str, u32> = TMap::new();
    let waiter = {
        let counts = counts.clone();
        thread::spawn(move || {
            atomically(|tx| match counts.get(tx, "fin")? {
                Some(n) => Ok(n),
                None => retry(),
            })
        })
    };
    thread::scope(|s| {
        for text in ["the cat and the hat", "the bat and the rat"] {
            let counts = &counts;
            s.spawn(move || {
                for word in text.split(' ') {
                    atomically(|tx| counts.upsert(tx, word, |n| n.unwrap_or(0) + 1));
                }
            });
        }
    });
    assert_eq!(atomically(|tx| counts.get(tx, "the")), Some(4));
    atomically(|tx| counts.insert(tx, "fin", 1));
    assert_eq!(waiter.join().unwrap(), 1);
    println!(
        "   two threads counted words into a TMap ({} distinct); a waiter for \"fin\" woke when it was inserted",
        atomically(|tx| counts.len(tx)) - 1
    );
    println!("   (a Linda tuple space on a TMap: cargo run --release --example tuple_space)");
}

/// Stop 5: generators. A body that yields values out and takes values in, suspended
/// between resumes without a thread of its own (Python's generators: `send`, `throw`,
/// `close`, `yield from`), and async generators that await between their yields.
fn generators() {
    println!(
        "\n5. Generators: yield out, send in, delegate, borrow, throw, close; async generators."
    );
    let fibonacci = Generator::new(|co| async move {
        let (mut a, mut b) = (0u64, 1u64);
        loop {
            co.yield_(a).await;
            (a, b) = (b, a + b);
        }
    });
    let first: Vec<u64> = fibonacci.take(10).collect();
    assert_eq!(first, [0, 1, 1, 2, 3, 5, 8, 13, 21, 34]);
    println!("   an endless Fibonacci generator, used as an iterator: {first:?}");

    let mut average = Generator::new(|co| async move {
        let (mut sum, mut count) = (0.0, 0.0);
        let mut next: f64 = co.first_input().expect("the first resume's input");
        loop {
            sum += next;
            count += 1.0;
            next = co.yield_(sum / count).await;
        }
    });
    for sample in [10.0, 20.0, 60.0] {
        let GeneratorState::Yielded(mean) = average.resume(sample) else {
            unreachable!("the averager never returns")
        };
        println!("   sent {sample:>4} into a running average, got back {mean:.1}");
    }

    fn countdown(
        from: u32,
    ) -> Generator<u32, (), &'static str, impl Future<Output = &'static str>> {
        Generator::new(move |co| async move {
            for n in (1..=from).rev() {
                co.yield_(n).await;
            }
            "liftoff"
        })
    }
    let mut launch = Generator::new(|co| async move {
        let said = co.yield_from(countdown(3)).await; // PEP 380: yield from
        co.yield_(0).await;
        said
    });
    let mut seen = Vec::new();
    let outcome = loop {
        match launch.resume(()) {
            GeneratorState::Yielded(n) => seen.push(n),
            GeneratorState::Complete(said) => break said,
        }
    };
    assert_eq!((seen.as_slice(), outcome), (&[3, 2, 1, 0][..], "liftoff"));
    println!(
        "   an outer generator delegated to a countdown: {seen:?}, then it returned {outcome:?}"
    );

    // A body may borrow: this generator reads the caller's slice in place.
    fn long_words<'a>(words: &'a [&'a str]) -> impl Iterator<Item = &'a str> + 'a {
        Generator::new(move |co: Co<&'a str>| async move {
            for &word in words {
                if word.len() > 4 {
                    co.yield_(word).await;
                }
            }
        })
    }
    let words = ["send", "throw", "close", "yield", "from"];
    let long: Vec<&str> = long_words(&words).collect();
    println!("   a generator borrowing the caller's words kept the long ones: {long:?}");

    // throw and close (PEP 342): the resume type is a Result; close drops the body now.
    let mut tally = Generator::new(|co| async move {
        let mut total = 0;
        loop {
            match co.yield_(total).await {
                Ok(n) => total += n,
                Err(reason) => {
                    println!("   the body caught {reason:?} and started over");
                    total = 0;
                }
            }
        }
    });
    tally.start();
    tally.resume(Ok(5));
    let after = tally.throw("reset");
    tally.close();
    assert_eq!(after, GeneratorState::Yielded(0));
    println!(
        "   throw(\"reset\") -> {after:?}; close() -> complete: {}",
        tally.is_complete()
    );

    // An async generator (PEP 525) awaits between its yields, here a timer, and is a
    // Stream, consumed here by a Scheduler task.
    let mut scheduler = Scheduler::new();
    let beats = scheduler
        .block_on(async {
            let mut heartbeat = AsyncGenerator::new(|co| async move {
                for beat in 1..=3 {
                    sleep(Duration::from_millis(2)).await;
                    co.yield_(beat).await;
                }
            });
            let mut beats = Vec::new();
            while let Some(beat) = heartbeat.next().await {
                beats.push(beat);
            }
            beats
        })
        .unwrap();
    assert_eq!(beats, [1, 2, 3]);
    println!("   an async generator awaited a timer between its yields: {beats:?}");
    println!("   (Python's idioms side by side: cargo run --release --example generators)");
}

/// Stop 6: the work-stealing Pool. "This is a task. Go.": closures and futures, results
/// and panics through handles, fork-join, an ordered parallel map, and tasks that wait on
/// a transaction without holding a worker.
fn pool() {
    println!("\n6. The Pool: tasks, join, map, and transactions inside tasks.");
    let pool = Pool::new(std::thread::available_parallelism().map_or(2, |n| n.get()));

    let task = pool.spawn_fn(|| (1..=20u64).product::<u64>());
    let answer = task.join().unwrap();
    assert_eq!(answer, 2_432_902_008_176_640_000);
    println!("   a closure on a worker (Pool.apply_async, then .get()): 20! = {answer}");

    // The default panic hook would print the worker's panic here; the handle gets it.
    let quiet = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let failing = pool.spawn_fn(|| -> u32 { panic!("file not found: data.csv") });
    let error = failing.join().unwrap_err();
    std::panic::set_hook(quiet);
    assert_eq!(error.panic_message(), Some("file not found: data.csv"));
    println!("   a task that panicked handed back its error: {error}");

    fn fib(n: u64) -> u64 {
        if n < 20 {
            return (1..=n).fold((0, 1), |(a, b), _| (b, a + b)).0;
        }
        let (a, b) = exec::join(|| fib(n - 1), || fib(n - 2));
        a + b
    }
    let fib32 = pool.join(|| fib(32), || ()).0;
    assert_eq!(fib32, 2_178_309);
    println!("   fork-join (rayon's join), idle workers steal the halves: fib(32) = {fib32}");

    let lengths = pool.map(["braid", "weaves", "three", "strands"], str::len);
    assert_eq!(lengths, [5, 6, 5, 7]);
    println!("   an order-keeping parallel map (Pool.map): {lengths:?}");

    let gate = TVar::new(0u32);
    let waiters: Vec<_> = (0..64)
        .map(|_| {
            let gate = gate.clone();
            pool.spawn(async move {
                atomically_async(|tx| {
                    let value = gate.read(tx)?;
                    check(value > 0)?;
                    Ok(value)
                })
                .await
            })
        })
        .collect();
    let still_free = pool.spawn_fn(|| "a worker is still free").join().unwrap();
    atomically(|tx| gate.write(tx, 7));
    let woken: u32 = waiters.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(woken, 64 * 7);
    println!("   64 tasks retried a transaction and were suspended ({still_free});");
    println!("   one commit from this thread woke all of them");
}

/// Stop 7: cooperative tasks on one thread, in Beazley's round-robin order, with the same
/// handles as the Pool; and a deadlock reported instead of a hang.
fn scheduler() {
    println!("\n7. The Scheduler: cooperative tasks taking turns on one thread.");
    let printed = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let mut scheduler = Scheduler::new();
    for start in [3, 6, 9] {
        let printed = printed.clone(); // `Rc`: tasks never leave this thread
        scheduler.spawn(async move {
            for n in (start - 2..=start).rev() {
                printed.borrow_mut().push(n);
                yield_now().await;
            }
        });
    }
    scheduler.run().unwrap();
    assert_eq!(*printed.borrow(), [3, 6, 9, 2, 5, 8, 1, 4, 7]);
    println!(
        "   three countdowns, each yielding after every number: {:?}",
        printed.borrow()
    );

    let total = scheduler
        .block_on(async {
            let a = coro::spawn(async {
                coro::sleep(Duration::from_millis(5)).await;
                20
            });
            let b = coro::spawn(async { 22 });
            a.await.unwrap() + b.await.unwrap()
        })
        .unwrap();
    assert_eq!(total, 42);
    println!("   block_on awaited two spawned tasks (one slept 5 ms): {total}");

    let stuck = scheduler.spawn(std::future::pending::<()>());
    let deadlock = scheduler.block_on(stuck).unwrap_err();
    assert_eq!(deadlock.blocked(), 1);
    println!("   a task nothing can wake is reported, not waited on forever:");
    println!("   \"{deadlock}\"");
}

/// Stop 8: deadlines everywhere Python has them, results in the order tasks finish, and a
/// pool shut down with a deadline.
fn time_and_completion() {
    println!("\n8. Time: sleeps, timeouts, results as they complete, a graceful shutdown.");
    let pool = Pool::new(2);
    // PEP 3148's `as_completed`: results in the order the tasks finish.
    let mut set: JoinSet<u64> = [30u64, 10, 20]
        .into_iter()
        .map(|ms| {
            pool.spawn(async move {
                sleep(Duration::from_millis(ms)).await; // holds no worker while it sleeps
                ms
            })
        })
        .collect();
    let mut order = Vec::new();
    while let Some(result) = set.join_next_blocking() {
        order.push(result.unwrap());
    }
    assert_eq!(order, [10, 20, 30]);
    println!("   tasks sleeping 30, 10 and 20 ms came out of a JoinSet as {order:?}");

    // asyncio's `wait_for`: a future with a deadline.
    let late = pool.block_on(timeout(
        Duration::from_millis(10),
        sleep(Duration::from_secs(60)),
    ));
    assert!(late.is_err());
    println!(
        "   a 60 s sleep under a 10 ms timeout: {}",
        late.unwrap_err()
    );

    // `queue.get(timeout=...)` inside a task.
    let jobs: TQueue<u32> = TQueue::new();
    let got = pool.block_on(atomically_async_timeout(Duration::from_millis(10), |tx| {
        jobs.pop(tx)
    }));
    assert_eq!(got, None);
    println!("   a task waited 10 ms on an empty TQueue and gave up: {got:?}");

    // `AsyncResult.get(timeout)`: the handle stays usable after a timed-out wait.
    let mut slow = pool.spawn(async {
        sleep(Duration::from_millis(20)).await;
        "done"
    });
    assert!(slow.join_timeout(Duration::from_millis(1)).is_none());
    let done = slow.join_timeout(Duration::from_secs(5)).unwrap().unwrap();
    println!("   join_timeout(1 ms) said not yet; the next wait got {done:?}");

    // `executor.shutdown(cancel_futures=True)` after a deadline.
    let stuck = pool.spawn(std::future::pending::<()>());
    let all_finished = pool.shutdown_timeout(Duration::from_millis(20));
    assert!(!all_finished && stuck.join().unwrap_err().is_cancelled());
    println!("   shutdown_timeout(20 ms) cancelled the task that never ends: all finished = {all_finished}");
}
