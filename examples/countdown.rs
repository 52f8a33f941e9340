//! Beazley's three countdown tasks on a round-robin scheduler: each prints a number and
//! yields, so the output interleaves 5 10 15 4 9 14 ...
//!
//! Run with `cargo run --release --example countdown`.

use std::cell::RefCell;
use std::rc::Rc;

use braid::coro::{yield_now, Scheduler};

fn main() {
    let printed = Rc::new(RefCell::new(Vec::new()));
    let mut scheduler = Scheduler::new();
    for start in [5, 10, 15] {
        let printed = printed.clone(); // tasks may share `Rc`s: they never leave this thread
        scheduler.spawn(async move {
            for n in (start - 4..=start).rev() {
                println!("T-minus {n}");
                printed.borrow_mut().push(n);
                yield_now().await;
            }
        });
    }
    scheduler.run().expect("countdowns cannot deadlock");
    let printed = printed.borrow();
    assert_eq!(printed[..6], [5, 10, 15, 4, 9, 14]);
    println!("round robin: {printed:?}");
}
