//! The Santa Claus problem (Trono 1994), as Simon Peyton Jones solves it with STM in
//! "Beautiful concurrency": Santa sleeps until either all nine reindeer are back from
//! holiday or three of the ten elves need help; if both, the reindeer go first.
//!
//! Run it with `cargo run --release --example santa`. It checks its own invariants:
//! Santa only ever serves a full group, every reindeer trip and elf visit is served
//! exactly once, and when both groups were ready the reindeer were chosen.

use std::thread;
use std::time::Duration;

use braid::stm::{atomically, check, or_else, StmResult, TVar, Transaction};

const REINDEER: usize = 9;
const ELVES: usize = 10;
const ELF_GROUP: usize = 3;
const TRIPS: u64 = 3; // each reindeer's trips
const VISITS: u64 = 3; // each elf's visits

/// A group that fills up to `size` members, is taken by Santa as a whole, and released
/// when he is done with it.
#[derive(Clone)]
struct Group {
    size: usize,
    joined: TVar<usize>,
    /// The batch that members join now; Santa moves it on when he takes a full group.
    batch: TVar<u64>,
    /// The last batch Santa finished with.
    released: TVar<u64>,
}

impl Group {
    fn new(size: usize) -> Group {
        Group {
            size,
            joined: TVar::new(0),
            batch: TVar::new(1),
            released: TVar::new(0),
        }
    }

    /// A member joins (waiting while the group is full) and learns its batch.
    fn join(&self) -> u64 {
        atomically(|tx| {
            let n = self.joined.read(tx)?;
            check(n < self.size)?;
            self.joined.write(tx, n + 1)?;
            self.batch.read(tx)
        })
    }

    /// A member waits until Santa has finished with its batch.
    fn wait_for_santa(&self, batch: u64) {
        atomically(|tx| check(self.released.read(tx)? >= batch));
    }

    /// Santa takes the group if it is full (retries otherwise): returns its batch.
    fn take(&self, tx: &mut Transaction) -> StmResult<u64> {
        check(self.joined.read(tx)? == self.size)?;
        self.joined.write(tx, 0)?;
        let batch = self.batch.read(tx)?;
        self.batch.write(tx, batch + 1)?;
        Ok(batch)
    }

    fn release(&self, batch: u64) {
        atomically(|tx| self.released.write(tx, batch));
    }
}

enum Job {
    Deliver(u64),
    Meet(u64),
}

/// A little pseudo-random pause, so helpers come back in varying orders.
fn pause(seed: &mut u64) {
    *seed = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    thread::sleep(Duration::from_micros(200 + (*seed >> 33) % 2000));
}

fn main() {
    let reindeer = Group::new(REINDEER);
    let elves = Group::new(ELF_GROUP);
    let mut helpers = Vec::new();
    for r in 0..REINDEER {
        let group = reindeer.clone();
        helpers.push(thread::spawn(move || {
            let mut seed = r as u64 + 1;
            for _ in 0..TRIPS {
                pause(&mut seed); // on holiday
                let batch = group.join();
                group.wait_for_santa(batch);
            }
        }));
    }
    for e in 0..ELVES {
        let group = elves.clone();
        helpers.push(thread::spawn(move || {
            let mut seed = 100 + e as u64;
            for _ in 0..VISITS {
                pause(&mut seed); // making toys
                let batch = group.join();
                group.wait_for_santa(batch);
            }
        }));
    }

    let meetings_due = ELVES as u64 * VISITS / ELF_GROUP as u64;
    let (mut deliveries, mut meetings, mut both_ready) = (0, 0, 0);
    while deliveries < TRIPS || meetings < meetings_due {
        // Reindeer first: `or_else` tries the elves only if the reindeer would wait.
        let (job, reindeer_were_ready) = atomically(|tx| {
            let ready = reindeer.joined.read(tx)? == REINDEER;
            let job = or_else(
                tx,
                |tx| reindeer.take(tx).map(Job::Deliver),
                |tx| elves.take(tx).map(Job::Meet),
            )?;
            Ok((job, ready))
        });
        match job {
            Job::Deliver(batch) => {
                deliveries += 1;
                println!("Ho! Ho! Ho! Let's deliver toys! (reindeer team {batch})");
                thread::sleep(Duration::from_millis(2));
                reindeer.release(batch);
            }
            Job::Meet(batch) => {
                assert!(
                    !reindeer_were_ready,
                    "elves served while all reindeer waited"
                );
                meetings += 1;
                println!("Ho! Ho! Ho! Let's meet in my study! (elf group {batch})");
                thread::sleep(Duration::from_millis(1));
                elves.release(batch);
            }
        }
        if reindeer_were_ready {
            both_ready += 1;
        }
    }
    for h in helpers {
        h.join().expect("a helper panicked");
    }
    assert_eq!(deliveries, TRIPS);
    assert_eq!(meetings, meetings_due);
    println!(
        "\nSanta delivered toys {deliveries} times and held {meetings} meetings; \
         every group was full, and the reindeer always went first ({both_ready} times \
         the reindeer were ready when Santa chose)."
    );
}
