//! Property tests for the Pool's data-parallel operations against sequential models.
#![cfg(not(loom))]

use std::sync::OnceLock;

use braid::exec::Pool;
use proptest::prelude::*;

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| Pool::new(3))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// `map` returns exactly what a sequential `map` returns, in the same order.
    #[test]
    fn map_equals_a_sequential_map(items in proptest::collection::vec(any::<u32>(), 0..2000)) {
        let expected: Vec<u64> = items.iter().map(|&n| u64::from(n) * 3 + 1).collect();
        prop_assert_eq!(pool().map(items, |n| u64::from(n) * 3 + 1), expected);
    }

    /// Every write made by a scope's jobs (and their nested jobs) is visible after
    /// `scope` returns: the result equals applying the same writes sequentially.
    #[test]
    fn scope_sees_every_write(values in proptest::collection::vec(any::<u16>(), 0..300), split in 1usize..16) {
        let mut cells = vec![0u32; values.len()];
        pool().scope(|s| {
            for (cells, values) in cells.chunks_mut(split).zip(values.chunks(split)) {
                s.spawn(move |s| {
                    let (first, rest) = cells.split_at_mut(1.min(cells.len()));
                    let (first_value, rest_values) = values.split_at(first.len());
                    s.spawn(move |_| {
                        for (cell, &value) in first.iter_mut().zip(first_value) {
                            *cell = u32::from(value) + 1;
                        }
                    });
                    for (cell, &value) in rest.iter_mut().zip(rest_values) {
                        *cell = u32::from(value) + 1;
                    }
                });
            }
        });
        let expected: Vec<u32> = values.iter().map(|&v| u32::from(v) + 1).collect();
        prop_assert_eq!(cells, expected);
    }
}
