#![cfg(not(loom))]
//! Property test: generators (with delegation) against a sequential model of what they
//! yield, what each `yield_` receives, and what they return.

use braid::coro::{Co, Generator, GeneratorState};
use proptest::prelude::*;

mod common;

#[derive(Debug, Clone)]
enum Step {
    /// Yield this value; record the resume value received.
    Yield(u8),
    /// `yield_from` an inner generator yielding these values; record its return value
    /// (the sum of the resume values it received).
    Delegate(Vec<u8>),
}

/// Boxed: with the body's type left at its default, a `dyn Future`, the type is written
/// out in full.
fn inner(values: Vec<u8>) -> Generator<u8, u32, u32> {
    Generator::new(move |co: Co<u8, u32>| async move {
        let mut sum = 0;
        for v in values {
            sum += co.yield_(v).await;
        }
        sum
    })
    .boxed_local()
}

fn outer(
    script: Vec<Step>,
) -> Generator<u8, u32, Vec<u32>, impl std::future::Future<Output = Vec<u32>>> {
    Generator::new(move |co: Co<u8, u32>| async move {
        let mut record = Vec::new();
        for step in script {
            record.push(match step {
                Step::Yield(v) => co.yield_(v).await,
                Step::Delegate(values) => co.yield_from(inner(values)).await,
            });
        }
        record
    })
}

/// What the generator should yield, and return, when resumed with 1, 2, 3, ...
fn model(script: &[Step]) -> (Vec<u8>, Vec<u32>) {
    let mut yields = Vec::new();
    let mut record = Vec::new();
    let mut next_input = 1u32;
    for step in script {
        match step {
            Step::Yield(v) => {
                yields.push(*v);
                record.push(next_input);
                next_input += 1;
            }
            Step::Delegate(values) => {
                let mut sum = 0;
                for v in values {
                    yields.push(*v);
                    sum += next_input;
                    next_input += 1;
                }
                record.push(sum);
            }
        }
    }
    (yields, record)
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        any::<u8>().prop_map(Step::Yield),
        prop::collection::vec(any::<u8>(), 0..4).prop_map(Step::Delegate),
    ]
}

proptest! {
    /// Yields, resume values and the return value (through any nesting of `yield_from`)
    /// match the sequential model.
    #[test]
    fn generator_with_delegation_matches_model(script in prop::collection::vec(step(), 0..12)) {
        let (expected_yields, expected_return) = model(&script);
        let mut g = outer(script);
        let mut yields = Vec::new();
        let mut state = g.start();
        let mut input = 1;
        let returned = loop {
            match state {
                GeneratorState::Yielded(v) => {
                    yields.push(v);
                    state = g.resume(input);
                    input += 1;
                }
                GeneratorState::Complete(record) => break record,
            }
        };
        prop_assert!(g.is_complete());
        prop_assert_eq!(yields, expected_yields);
        prop_assert_eq!(returned, expected_return);
    }
}

/// What a user does to a generator whose resume type is `Result<u8, u8>`.
#[derive(Debug, Clone)]
enum Op {
    /// `resume(Ok(x))` (the first one is the body's first input).
    Send(u8),
    /// `throw(e)`: a multiple of 3 makes the body return, anything else is logged.
    Throw(u8),
    /// `close()`.
    Close,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => any::<u8>().prop_map(Op::Send),
        2 => any::<u8>().prop_map(Op::Throw),
        1 => Just(Op::Close),
    ]
}

/// What the generator answers to one operation, as the model predicts it.
#[derive(Debug, PartialEq)]
enum Answer {
    Yielded(usize),
    Complete(Vec<u32>),
    /// Resumed after completion: a panic.
    Refused,
    Closed,
}

proptest! {
    /// Any sequence of send, throw and close gives the answers a `Vec`-based model
    /// predicts: each handled value or error is logged and the log's length yielded; a
    /// thrown multiple of 3 returns the log; after a return or a close every resume and
    /// throw is refused and the body's locals have been dropped exactly once.
    #[test]
    fn send_throw_and_close_match_a_vec_model(ops in prop::collection::vec(op(), 0..24)) {
        let drops = std::rc::Rc::new(std::cell::Cell::new(0));
        struct Local(std::rc::Rc<std::cell::Cell<u32>>);
        impl Drop for Local {
            fn drop(&mut self) {
                self.0.set(self.0.get() + 1);
            }
        }
        let local = Local(drops.clone());
        let mut g = Generator::new(move |co: Co<usize, Result<u8, u8>>| async move {
            let _local = local;
            let mut log: Vec<u32> = Vec::new();
            let mut input = co.first_input();
            loop {
                match input {
                    Some(Ok(x)) => log.push(u32::from(x)),
                    Some(Err(e)) if e % 3 == 0 => return log,
                    Some(Err(e)) => log.push(1000 + u32::from(e)),
                    None => {}
                }
                input = Some(co.yield_(log.len()).await);
            }
        });

        let mut model: Option<Vec<u32>> = Some(Vec::new()); // None: complete
        for op in ops {
            let expected = match (&mut model, &op) {
                (None, Op::Close) => Answer::Closed,
                (None, _) => Answer::Refused,
                (Some(_), Op::Close) => {
                    model = None;
                    Answer::Closed
                }
                (Some(log), Op::Send(x)) => {
                    log.push(u32::from(*x));
                    Answer::Yielded(log.len())
                }
                (Some(log), Op::Throw(e)) if e % 3 == 0 => {
                    let log = std::mem::take(log);
                    model = None;
                    Answer::Complete(log)
                }
                (Some(log), Op::Throw(e)) => {
                    log.push(1000 + u32::from(*e));
                    Answer::Yielded(log.len())
                }
            };
            let answer = match op {
                Op::Close => {
                    g.close();
                    Answer::Closed
                }
                Op::Send(x) | Op::Throw(x) => {
                    let input = if matches!(op, Op::Send(_)) { Ok(x) } else { Err(x) };
                    let outcome = common::quietly(|| {
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match input {
                            Ok(x) => g.resume(Ok(x)),
                            Err(e) => g.throw(e),
                        }))
                    });
                    match outcome {
                        Ok(GeneratorState::Yielded(n)) => Answer::Yielded(n),
                        Ok(GeneratorState::Complete(log)) => Answer::Complete(log),
                        Err(_) => Answer::Refused,
                    }
                }
            };
            prop_assert_eq!(answer, expected);
            prop_assert_eq!(g.is_complete(), model.is_none());
            prop_assert_eq!(drops.get(), u32::from(model.is_none()));
        }
    }
}
