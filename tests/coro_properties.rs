#![cfg(not(loom))]
//! Property test: generators (with delegation) against a sequential model of what they
//! yield, what each `yield_` receives, and what they return.

use braid::coro::{Co, Generator, GeneratorState};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Step {
    /// Yield this value; record the resume value received.
    Yield(u8),
    /// `yield_from` an inner generator yielding these values; record its return value
    /// (the sum of the resume values it received).
    Delegate(Vec<u8>),
}

fn inner(values: Vec<u8>) -> Generator<u8, u32, u32> {
    Generator::new(move |co: Co<u8, u32>| async move {
        let mut sum = 0;
        for v in values {
            sum += co.yield_(v).await;
        }
        sum
    })
}

fn outer(script: Vec<Step>) -> Generator<u8, u32, Vec<u32>> {
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
