//! Software transactional memory: `TVar`s changed inside `atomically` blocks.
//!
//! A transaction body reads and writes [`TVar`]s through a `&mut Transaction`. Its
//! writes become visible to other threads all at once when it commits; until then, and
//! while it runs, it sees a consistent snapshot. There are no locks in user code and
//! nothing to deadlock on: blocking is [`retry`] ("wait until something I read changes"),
//! and alternatives compose with [`or_else`].
//!
//! The engine is TL2 (Dice, Shalev, Shavit 2006): a global version clock, a versioned
//! lock per variable, invisible reads validated one by one (so a running body never sees
//! an inconsistent state), and read-only transactions that write no shared memory.
//! The protocol, and where braid departs from the paper, is written up in the source, at
//! the top of `src/stm/tx/mod.rs` and `src/stm/commit.rs`.
//!
//! # Guarantees
//! - Committed transactions are serializable, and running ones are opaque.
//! - `retry` sleeps until a variable it read is committed to; no wake-up is lost.
//!   A `retry` that read nothing panics instead of sleeping forever.
//! - A panic in a body publishes nothing and propagates; the thread stays usable.
//! - A transaction that keeps losing conflicts eventually commits: after a bounded number
//!   of losses it takes a priority token that holds other writers back (`progress.rs`).
//! - A transaction touching up to 8 variables allocates no bookkeeping: its read and
//!   write sets live in a log that each thread keeps and reuses.
//!   Variables of primitive scalar type (integers, floats, `bool`, `char`) hold their
//!   value in their own word, so writing them allocates nothing at all. Any other value
//!   lives in a node: a transaction's only heap allocations are the nodes of the new
//!   values it publishes (small ones recycled through per-thread free lists) and, rarely,
//!   a record for a batch of 32 replaced values when the thread has no spare one. (The
//!   epoch collector, which any transaction that reads a node may run, can allocate too
//!   while it finishes other threads' frees.)
//!
//! # Structures
//! Built from `TVar`s, so every operation composes inside one transaction: [`TMVar`] (a
//! box that is full or empty), [`TQueue`] and [`TBQueue`] (FIFO queues, unbounded and
//! bounded), [`TSem`] (a semaphore), [`TChan`] (a broadcast channel), and [`TMap`] and
//! [`TSet`] (a hash map and set on which transactions over different keys do not
//! conflict). Waiting with a deadline is [`atomically_timeout`].
//!
//! ```
//! use braid::stm::{atomically, check, TVar};
//! use std::thread;
//!
//! let account = TVar::new(0);
//! let spender = {
//!     let account = account.clone();
//!     thread::spawn(move || atomically(|tx| {
//!         let balance = account.read(tx)?;
//!         check(balance >= 50)?;          // wait for enough money
//!         account.write(tx, balance - 50)
//!     }))
//! };
//! atomically(|tx| account.modify(tx, |b| b + 80));
//! spender.join().unwrap();
//! assert_eq!(account.load(), 30);
//! ```

mod atomically;
mod clock;
#[cfg(loom)]
pub(crate) use clock::stamp_next_commit;
mod commit;
mod error;
mod lock;
mod map;
mod node;
mod parcel;
mod progress;
pub(crate) mod stack;
mod stream;
mod tbqueue;
mod tchan;
mod tmvar;
mod tqueue;
mod tsem;
mod tvar;
mod tx;
mod value;
mod var;
mod wait;

pub use atomically::{
    atomically, atomically_async, atomically_async_timeout, atomically_timeout, check, or_else,
    retry, try_atomically,
};
pub use error::{StmError, StmResult, TxError};
pub use map::{TMap, TSet};
pub use parcel::Closed;
pub use stream::{TBQueueStream, TChanStream, TQueueStream};
pub use tbqueue::TBQueue;
pub use tchan::{TChan, TChanReceiver};
pub use tmvar::TMVar;
pub use tqueue::TQueue;
pub use tsem::{TSem, TSemPermit};
pub use tvar::TVar;
pub use tx::Transaction;
