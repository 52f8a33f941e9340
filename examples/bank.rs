//! A bank: threads move money between accounts; a transfer that would overdraw is
//! refused with `try_atomically` (nothing is written); auditors check, concurrently,
//! that the total never changes.
//!
//! Run it with `cargo run --release --example bank`.

use std::thread;
use std::time::Instant;

use braid::stm::{atomically, try_atomically, TVar, TxError};

const ACCOUNTS: usize = 16;
const TELLERS: usize = 4;
const TRANSFERS: usize = 50_000;
const OPENING_BALANCE: i64 = 100;

#[derive(Debug)]
struct InsufficientFunds {
    balance: i64,
    wanted: i64,
}

fn transfer(from: &TVar<i64>, to: &TVar<i64>, amount: i64) -> Result<(), InsufficientFunds> {
    try_atomically(|tx| {
        let balance = from.read(tx)?;
        if balance < amount {
            return Err(TxError::Abort(InsufficientFunds {
                balance,
                wanted: amount,
            }));
        }
        from.write(tx, balance - amount)?;
        to.modify(tx, |b| b + amount)?;
        Ok(())
    })
}

fn main() {
    let accounts: Vec<TVar<i64>> = (0..ACCOUNTS).map(|_| TVar::new(OPENING_BALANCE)).collect();
    let total = OPENING_BALANCE * ACCOUNTS as i64;
    let started = Instant::now();
    let (refused, audits) = thread::scope(|s| {
        let tellers: Vec<_> = (0..TELLERS)
            .map(|t| {
                let accounts = &accounts;
                s.spawn(move || {
                    let mut seed = t as u64 * 7919 + 1;
                    let mut refused = 0;
                    for _ in 0..TRANSFERS {
                        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                        let from = (seed >> 33) as usize % ACCOUNTS;
                        let to = (from + 1 + (seed >> 45) as usize % (ACCOUNTS - 1)) % ACCOUNTS;
                        let amount = 1 + (seed >> 20) as i64 % 60;
                        if let Err(InsufficientFunds { balance, wanted }) =
                            transfer(&accounts[from], &accounts[to], amount)
                        {
                            assert!(balance < wanted);
                            refused += 1;
                        }
                    }
                    refused
                })
            })
            .collect();
        let auditor = s.spawn(|| {
            let mut audits = 0;
            while audits < 2_000 {
                let (sum, lowest) = atomically(|tx| {
                    let mut sum = 0;
                    let mut lowest = i64::MAX;
                    for account in &accounts {
                        let b = account.read(tx)?;
                        sum += b;
                        lowest = lowest.min(b);
                    }
                    Ok((sum, lowest))
                });
                assert_eq!(sum, total, "money appeared or vanished");
                assert!(lowest >= 0, "an account was overdrawn");
                audits += 1;
            }
            audits
        });
        let refused: usize = tellers.into_iter().map(|t| t.join().unwrap()).sum();
        (refused, auditor.join().unwrap())
    });
    let end: i64 = accounts.iter().map(TVar::load).sum();
    assert_eq!(end, total);
    println!(
        "{} transfers by {TELLERS} tellers in {:.1?}: {} made, {refused} refused for \
         insufficient funds (nothing written).",
        TELLERS * TRANSFERS,
        started.elapsed(),
        TELLERS * TRANSFERS - refused,
    );
    println!("{audits} concurrent audits all saw exactly {total}, and no negative balance.");
}
