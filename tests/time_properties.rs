#![cfg(not(loom))]
//! Property: tasks sleeping for distinct random durations come out of a `JoinSet` in
//! deadline order (on the Scheduler, whose single thread makes the order exact).

use std::time::Duration;

use braid::coro::{self, Scheduler};
use braid::time::sleep;
use braid::JoinSet;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn random_sleeps_complete_through_a_join_set_in_deadline_order(
        steps in proptest::collection::btree_set(0u64..40, 1..10),
        shuffle in any::<u64>(),
    ) {
        // Distinct deadlines 2 ms apart, spawned in a scrambled order.
        let mut waits: Vec<u64> = steps.iter().map(|step| step * 2).collect();
        let n = waits.len();
        for i in (1..n).rev() {
            let j = (shuffle.rotate_left(i as u32) as usize) % (i + 1);
            waits.swap(i, j);
        }
        let mut scheduler = Scheduler::new();
        let order = scheduler.block_on(async {
            let mut set: JoinSet<u64> = waits
                .iter()
                .map(|&ms| coro::spawn(async move {
                    sleep(Duration::from_millis(ms)).await;
                    ms
                }))
                .collect();
            let mut order = Vec::new();
            while let Some(ms) = set.join_next().await {
                order.push(ms.unwrap());
            }
            order
        }).unwrap();
        let mut sorted = waits.clone();
        sorted.sort_unstable();
        prop_assert_eq!(order, sorted);
    }
}
