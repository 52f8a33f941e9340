//! Dining philosophers without deadlock or lock ordering: a philosopher picks up both
//! forks in one transaction, or waits (with `retry`) until both are free.
//!
//! Run it with `cargo run --release --example philosophers`. It checks its invariant
//! while it runs: no two neighbours ever eat at the same time, and everyone eats.

use std::thread;
use std::time::Duration;

use braid::stm::{atomically, check, TVar};

const PHILOSOPHERS: usize = 5;
const MEALS: usize = 20;

fn main() {
    let forks: Vec<TVar<bool>> = (0..PHILOSOPHERS).map(|_| TVar::new(true)).collect();
    let eating: Vec<TVar<bool>> = (0..PHILOSOPHERS).map(|_| TVar::new(false)).collect();
    let names = ["Aristotle", "Kant", "Spinoza", "Marx", "Russell"];

    let diners: Vec<_> = (0..PHILOSOPHERS)
        .map(|i| {
            let (forks, eating) = (forks.clone(), eating.clone());
            thread::spawn(move || {
                let (left, right) = (i, (i + 1) % PHILOSOPHERS);
                for _ in 0..MEALS {
                    // Both forks or neither: no philosopher ever holds one and waits.
                    atomically(|tx| {
                        check(forks[left].read(tx)? && forks[right].read(tx)?)?;
                        forks[left].write(tx, false)?;
                        forks[right].write(tx, false)?;
                        let neighbours = [(i + PHILOSOPHERS - 1) % PHILOSOPHERS, right];
                        for n in neighbours {
                            assert!(!eating[n].read(tx)?, "neighbours eating together");
                        }
                        eating[i].write(tx, true)
                    });
                    thread::sleep(Duration::from_micros(300)); // eat
                    atomically(|tx| {
                        eating[i].write(tx, false)?;
                        forks[left].write(tx, true)?;
                        forks[right].write(tx, true)
                    });
                    thread::sleep(Duration::from_micros(100)); // think
                }
                MEALS
            })
        })
        .collect();
    for (name, diner) in names.iter().zip(diners) {
        let meals = diner.join().expect("a philosopher panicked");
        println!("{name} ate {meals} meals");
    }
    assert!(forks.iter().all(|f| f.load()), "a fork was never put back");
    println!("\nNo deadlock, no neighbours eating together, every fork back on the table.");
}
