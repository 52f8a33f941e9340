#![cfg(not(loom))]
//! Property tests: each STM structure against a sequential model, on random operation
//! sequences. Several operations may share one transaction (its effects must equal
//! applying them in order), and a transaction may abort halfway (its effects must vanish).

use std::collections::VecDeque;

use braid::stm::{atomically, or_else, retry, TBQueue, TChan, TMVar, TQueue, TSem};
use proptest::prelude::*;

/// Runs `ops` in one transaction; if `abort` is set, the transaction ends in a `retry`
/// caught by `or_else`, so its effects must be rolled back.
fn in_one_transaction<T>(
    abort: bool,
    mut ops: impl FnMut(&mut braid::stm::Transaction) -> braid::stm::StmResult<T>,
) -> Option<T> {
    atomically(|tx| {
        or_else(
            tx,
            |tx| {
                let out = ops(tx)?;
                if abort {
                    return retry();
                }
                Ok(Some(out))
            },
            |_| Ok(None),
        )
    })
}

#[derive(Debug, Clone)]
enum QueueOp {
    Push(u8),
    Pop,
    Peek,
    Len,
}

fn queue_op() -> impl Strategy<Value = QueueOp> {
    prop_oneof![
        any::<u8>().prop_map(QueueOp::Push),
        Just(QueueOp::Pop),
        Just(QueueOp::Peek),
        Just(QueueOp::Len),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// TQueue behaves as a VecDeque, with aborted batches leaving no trace.
    #[test]
    fn tqueue_matches_vecdeque_model(batches in prop::collection::vec((prop::collection::vec(queue_op(), 1..6), any::<bool>()), 0..40)) {
        let queue = TQueue::new();
        let mut model = VecDeque::new();
        for (ops, abort) in batches {
            let mut scratch = model.clone();
            let mut expected = Vec::new();
            for op in &ops {
                expected.push(match op {
                    QueueOp::Push(v) => { scratch.push_back(*v); None }
                    QueueOp::Pop => Some(scratch.pop_front().map(usize::from)),
                    QueueOp::Peek => Some(scratch.front().copied().map(usize::from)),
                    QueueOp::Len => Some(Some(scratch.len())),
                });
            }
            let got = in_one_transaction(abort, |tx| {
                let mut out = Vec::new();
                for op in &ops {
                    out.push(match op {
                        QueueOp::Push(v) => { queue.push(tx, *v)?; None }
                        QueueOp::Pop => Some(queue.try_pop(tx)?.map(usize::from)),
                        QueueOp::Peek => Some(queue.try_peek(tx)?.map(usize::from)),
                        QueueOp::Len => Some(Some(queue.len(tx)?)),
                    });
                }
                Ok(out)
            });
            if abort {
                prop_assert_eq!(got, None);
            } else {
                prop_assert_eq!(got, Some(expected));
                model = scratch;
            }
            prop_assert_eq!(atomically(|tx| queue.len(tx)), model.len());
        }
    }

    /// TBQueue behaves as a VecDeque that refuses pushes beyond its capacity.
    #[test]
    fn tbqueue_matches_bounded_model(capacity in 1usize..5, ops in prop::collection::vec(queue_op(), 0..80)) {
        let queue = TBQueue::new(capacity);
        let mut model = VecDeque::new();
        for op in ops {
            match op {
                QueueOp::Push(v) => {
                    let fits = model.len() < capacity;
                    if fits { model.push_back(v); }
                    prop_assert_eq!(atomically(|tx| queue.try_push(tx, v)), fits);
                }
                QueueOp::Pop => prop_assert_eq!(atomically(|tx| queue.try_pop(tx)), model.pop_front()),
                QueueOp::Peek | QueueOp::Len => {
                    prop_assert_eq!(atomically(|tx| queue.len(tx)), model.len());
                    prop_assert_eq!(atomically(|tx| queue.is_full(tx)), model.len() == capacity);
                }
            }
        }
    }

    /// A TBQueue large enough to hand batches of pushes to its consumers (32 or more)
    /// still behaves as a bounded VecDeque, in runs of pushes and pops that move values
    /// through the hand-off and the push stack in every order; its Debug lists them front
    /// first.
    #[test]
    fn tbqueue_handing_off_batches_matches_bounded_model(
        capacity in 32usize..100,
        runs in prop::collection::vec((0usize..90, 0usize..90), 0..12),
    ) {
        let queue = TBQueue::new(capacity);
        let mut model = VecDeque::new();
        let mut next = 0u32;
        for (pushes, pops) in runs {
            for _ in 0..pushes {
                let fits = model.len() < capacity;
                if fits { model.push_back(next); }
                prop_assert_eq!(atomically(|tx| queue.try_push(tx, next)), fits);
                next += 1;
            }
            let items: Vec<String> = model.iter().map(u32::to_string).collect();
            let debug = format!("{queue:?}");
            prop_assert!(debug.contains(&format!("items: [{}]", items.join(", "))), "{}", debug);
            for _ in 0..pops {
                prop_assert_eq!(atomically(|tx| queue.try_pop(tx)), model.pop_front());
            }
            prop_assert_eq!(atomically(|tx| queue.len(tx)), model.len());
        }
    }

    /// TMVar behaves as an Option: put fills an empty one, take empties a full one.
    #[test]
    fn tmvar_matches_option_model(ops in prop::collection::vec(prop::option::of(any::<u8>()), 0..60)) {
        let slot = TMVar::new_empty();
        let mut model: Option<u8> = None;
        for op in ops {
            match op {
                Some(v) => {
                    let empty = model.is_none();
                    if empty { model = Some(v); }
                    prop_assert_eq!(atomically(|tx| slot.try_put(tx, v)), empty);
                }
                None => prop_assert_eq!(atomically(|tx| slot.try_take(tx)), model.take()),
            }
            prop_assert_eq!(atomically(|tx| slot.is_empty(tx)), model.is_none());
        }
    }

    /// TSem behaves as a counter that never goes below zero.
    #[test]
    fn tsem_matches_counter_model(start in 0usize..3, ops in prop::collection::vec(any::<bool>(), 0..60)) {
        let sem = TSem::new(start);
        let mut model = start;
        for release in ops {
            if release {
                atomically(|tx| sem.release(tx));
                model += 1;
            } else {
                let acquired = atomically(|tx| or_else(tx, |tx| sem.acquire(tx).map(|_| true), |_| Ok(false)));
                prop_assert_eq!(acquired, model > 0);
                model = model.saturating_sub(1);
            }
            prop_assert_eq!(atomically(|tx| sem.available(tx)), model);
        }
    }

    /// TChan: every receiver gets exactly the messages sent after it subscribed, in order.
    #[test]
    fn tchan_matches_per_receiver_queues(ops in prop::collection::vec((0u8..3, any::<u8>()), 0..80)) {
        let chan = TChan::new();
        let mut receivers = Vec::new();
        let mut models: Vec<VecDeque<u8>> = Vec::new();
        for (kind, value) in ops {
            match kind {
                0 => {
                    atomically(|tx| chan.send(tx, value));
                    for m in &mut models { m.push_back(value); }
                }
                1 => {
                    receivers.push(chan.subscribe());
                    models.push(VecDeque::new());
                }
                _ if !receivers.is_empty() => {
                    let i = usize::from(value) % receivers.len();
                    prop_assert_eq!(atomically(|tx| receivers[i].try_recv(tx)), models[i].pop_front());
                }
                _ => {}
            }
        }
    }
}
