//! A Linda tuple space on a `TMap`, running a master/worker computation on the Pool.
//!
//! Linda (Gelernter, 1985) coordinates processes through a shared bag of tuples with three
//! operations: `out` adds a tuple, `in` takes one that matches a pattern, waiting until
//! one exists, and `rd` reads one without taking it. Here the bag is a `TMap` from a
//! tuple's tag to a `TMap` counting that tag's tuples, so waiting is a `retry`: a worker
//! blocked in `in("task", ?)` sleeps until a commit changes the "task" tuples, and is not
//! woken by the "result" tuples the other workers add. And the operations compose: a
//! worker takes a task *or* sees the "stop" tuple, in one transaction (`or_else`).
//!
//! The master puts out tasks (find the longest Collatz chain that starts in a block of
//! numbers), the workers take them and put out results, the master takes every result,
//! then puts out "stop".
//!
//! Run it with `cargo run --release --example tuple_space`.

use braid::exec::Pool;
use braid::stm::{atomically, atomically_async, or_else, retry, StmResult, TMap, Transaction};

/// A tuple's fields after its tag.
type Fields = Vec<i64>;

/// One field of a pattern: a value that must match, or `Any` (Linda's `?x`).
#[derive(Clone, Copy)]
enum Field {
    Is(i64),
    Any,
}

/// The tuple space: each tag's tuples, with how many copies of each.
#[derive(Clone, Default)]
struct TupleSpace {
    by_tag: TMap<&'static str, TMap<Fields, usize>>,
}

impl TupleSpace {
    /// Linda's `out`: adds a tuple.
    fn out(&self, tx: &mut Transaction, tag: &'static str, fields: Fields) -> StmResult<()> {
        let tuples = match self.by_tag.get(tx, tag)? {
            Some(tuples) => tuples,
            None => {
                let tuples = TMap::new();
                self.by_tag.insert(tx, tag, tuples.clone())?;
                tuples
            }
        };
        tuples.upsert(tx, fields, |copies| copies.unwrap_or(0) + 1)
    }

    /// Linda's `rd`: a tuple matching `pattern`, left in the space; retries until one
    /// exists.
    fn rd(&self, tx: &mut Transaction, tag: &'static str, pattern: &[Field]) -> StmResult<Fields> {
        let Some(tuples) = self.by_tag.get(tx, tag)? else {
            return retry();
        };
        let mut found = None;
        tuples.for_each(tx, |fields, _| {
            if found.is_none() && matches(fields, pattern) {
                found = Some(fields.clone());
            }
        })?;
        match found {
            Some(fields) => Ok(fields),
            None => retry(),
        }
    }

    /// Linda's `in` (a keyword in Rust, hence the name): takes a tuple matching
    /// `pattern`; retries until one exists.
    fn take(
        &self,
        tx: &mut Transaction,
        tag: &'static str,
        pattern: &[Field],
    ) -> StmResult<Fields> {
        let fields = self.rd(tx, tag, pattern)?;
        let tuples = self.by_tag.get(tx, tag)?.expect("rd found the tag");
        tuples.alter(tx, fields.clone(), |copies| {
            copies.filter(|&n| n > 1).map(|n| n - 1)
        })?;
        Ok(fields)
    }
}

fn matches(fields: &[i64], pattern: &[Field]) -> bool {
    fields.len() == pattern.len()
        && fields
            .iter()
            .zip(pattern)
            .all(|(value, field)| match field {
                Field::Is(wanted) => value == wanted,
                Field::Any => true,
            })
}

fn collatz_steps(mut n: i64) -> i64 {
    let mut steps = 0;
    while n != 1 {
        n = if n % 2 == 0 { n / 2 } else { 3 * n + 1 };
        steps += 1;
    }
    steps
}

const BLOCK: i64 = 10_000;

/// The longest chain starting in block `b` (numbers `b * BLOCK + 1 ..= (b + 1) * BLOCK`),
/// as (steps, start).
fn longest_in_block(b: i64) -> (i64, i64) {
    (b * BLOCK + 1..=(b + 1) * BLOCK)
        .map(|n| (collatz_steps(n), n))
        .max()
        .expect("a block is not empty")
}

fn main() {
    const TASKS: i64 = 100;
    const WORKERS: usize = 4;
    let space = TupleSpace::default();
    let pool = Pool::new(WORKERS);

    // Workers: take a task, or see "stop" and finish; put out each result.
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let space = space.clone();
            pool.spawn(async move {
                let mut done = 0;
                loop {
                    let task = atomically_async(|tx| {
                        or_else(
                            tx,
                            |tx| space.take(tx, "task", &[Field::Any]).map(Some),
                            |tx| space.rd(tx, "stop", &[]).map(|_| None),
                        )
                    })
                    .await;
                    let Some(task) = task else { return done };
                    let block = task[0];
                    let (steps, start) = longest_in_block(block);
                    let result = vec![block, steps, start];
                    atomically_async(|tx| space.out(tx, "result", result.clone())).await;
                    done += 1;
                }
            })
        })
        .collect();

    // The master: every task in one transaction, then the results block by block, each
    // taken by matching its block number (waiting for it if it is not out yet).
    atomically(|tx| (0..TASKS).try_for_each(|b| space.out(tx, "task", vec![b])));
    let mut longest = (0, 0);
    for block in 0..TASKS {
        let pattern = [Field::Is(block), Field::Any, Field::Any];
        let result = atomically(|tx| space.take(tx, "result", &pattern));
        longest = longest.max((result[1], result[2]));
    }
    atomically(|tx| space.out(tx, "stop", vec![]));

    let per_worker: Vec<i64> = workers.into_iter().map(|w| w.join().unwrap()).collect();
    assert_eq!(per_worker.iter().sum::<i64>(), TASKS);
    assert_eq!(longest, (0..TASKS).map(longest_in_block).max().unwrap());
    let left = atomically(|tx| space.by_tag.get(tx, "task")).unwrap();
    assert!(atomically(|tx| left.is_empty(tx)), "every task was taken");
    println!("{WORKERS} workers took {TASKS} tasks from the tuple space: {per_worker:?} each");
    let below = TASKS * BLOCK + 1;
    println!(
        "the longest Collatz chain below {below}: {} takes {} steps",
        longest.1, longest.0
    );
}
