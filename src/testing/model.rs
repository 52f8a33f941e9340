//! `model`: loom with the bounds that let a user's model of braid code finish.
//!
//! loom explores every interleaving of a closure's threads up to its bounds. Unbounded,
//! a model whose threads wait for each other (a `retry`, a Pool worker parking, a join)
//! explores each wait's every way of being preempted, and even a three-thread model of
//! braid code can run for hours. Bounded at a few preemptions it finishes in seconds and
//! still finds the bugs that matter: most concurrency bugs need two or three preemptions
//! to show (Musuvathi and Qadeer, "Iterative context bounding", PLDI 2007, the idea
//! behind loom's bound), and a lost update or an order violation between two threads
//! needs one.
//!
//! braid's waits are written for loom: every spin or backoff step is a loom yield, a
//! thread that waits parks on a parker of its own (so a late wake-up can never land in
//! loom's `join`), and a Scheduler's timers run on a virtual clock that jumps to the next
//! deadline when nothing else can run. A timed STM wait keeps the real clock: use
//! `Duration::ZERO` in a model to explore its expiry.

use std::panic::{self, AssertUnwindSafe};
use std::time::Instant;

use crate::sync::outside_loom::{Arc, AtomicUsize, Ordering};

/// The preemption bound [`model`] applies when `LOOM_MAX_PREEMPTIONS` is not set.
pub const DEFAULT_PREEMPTION_BOUND: usize = 3;

/// The branch limit per execution [`model`] applies when `LOOM_MAX_BRANCHES` is not set
/// (loom's own default is 1,000; braid's waits stay well within this one).
pub const DEFAULT_MAX_BRANCHES: usize = 10_000;

/// Runs `f` under loom, once per interleaving of its threads that loom explores, with
/// braid's defaults: at most [`DEFAULT_PREEMPTION_BOUND`] preemptions per execution and
/// [`DEFAULT_MAX_BRANCHES`] branches. The environment variables loom reads win over
/// them (`LOOM_MAX_PREEMPTIONS`, `LOOM_MAX_BRANCHES`, `LOOM_MAX_DURATION`,
/// `LOOM_CHECKPOINT_FILE`, `LOOM_LOG`, ...). It prints the bound it applied and, at
/// the end, how many executions it explored.
///
/// Only under `RUSTFLAGS="--cfg loom"`, where braid's own atomics, mutexes and threads
/// are loom's: the model sees through every `atomically`, `retry`, Pool and Scheduler
/// inside `f`. Spawn threads with [`loom::thread::spawn`](crate::testing::loom::thread)
/// (braid re-exports the loom it was built with as `braid::testing::loom`).
///
/// When `f` panics in some execution (an assertion found a bug), the panic leaves
/// `model` with `f`'s own message, like any failing test (`#[should_panic]` works), after
/// a note saying which execution failed and how to replay it:
/// `LOOM_CHECKPOINT_FILE=braid-model.json LOOM_CHECKPOINT_INTERVAL=1 cargo test NAME`
/// records the failing interleaving on the first run and replays it first on the next.
///
/// ```ignore
/// // In a test built with RUSTFLAGS="--cfg loom":
/// use braid::stm::{atomically, TVar};
/// use braid::testing::{loom::thread, model};
///
/// #[test]
/// fn increments_are_not_lost() {
///     model(|| {
///         let hits = TVar::new(0);
///         let other = {
///             let hits = hits.clone();
///             thread::spawn(move || atomically(|tx| hits.modify(tx, |n| n + 1)))
///         };
///         atomically(|tx| hits.modify(tx, |n| n + 1));
///         other.join().unwrap();
///         assert_eq!(hits.load(), 2);
///     });
/// }
/// ```
///
/// # Panics
/// With `f`'s panic, when some execution of `f` panics; with loom's message when an
/// execution deadlocks, leaks, or passes the branch limit.
pub fn model<F: Fn() + Sync + Send + 'static>(f: F) {
    let mut builder = loom::model::Builder::new();
    let preemptions_from_env = builder.preemption_bound.is_some();
    if !preemptions_from_env {
        builder.preemption_bound = Some(DEFAULT_PREEMPTION_BOUND);
    }
    if std::env::var_os("LOOM_MAX_BRANCHES").is_none() {
        builder.max_branches = DEFAULT_MAX_BRANCHES;
    }
    let bound = match builder.preemption_bound {
        Some(bound) if preemptions_from_env => format!("{bound} (LOOM_MAX_PREEMPTIONS)"),
        Some(bound) => format!("{bound} (braid's default; set LOOM_MAX_PREEMPTIONS to change)"),
        None => "none".to_owned(),
    };
    println!(
        "braid::testing::model: preemption bound {bound}, at most {} branches per execution",
        builder.max_branches
    );

    // Counted outside the model (see `sync::outside_loom`).
    let executions = Arc::new(AtomicUsize::new(0));
    let counted = {
        let executions = executions.clone();
        move || {
            executions.fetch_add(1, Ordering::Relaxed);
            f();
        }
    };
    let started = Instant::now();
    let outcome =
        with_loom_log(|| panic::catch_unwind(AssertUnwindSafe(|| builder.check(counted))));
    let executions = executions.load(Ordering::Relaxed);
    match outcome {
        Ok(()) => println!(
            "braid::testing::model: explored {executions} executions in {:.2?}",
            started.elapsed()
        ),
        Err(payload) => {
            let replay = match &builder.checkpoint_file {
                Some(file) if builder.checkpoint_interval == 1 => format!(
                    "its interleaving is saved in {}: run the test again with the same \
                     LOOM_CHECKPOINT_FILE to replay it first",
                    file.display()
                ),
                _ => "to replay it, run the test with \
                      LOOM_CHECKPOINT_FILE=braid-model.json LOOM_CHECKPOINT_INTERVAL=1 \
                      (the first run saves the failing interleaving, the next replays it), \
                      and LOOM_LOG=trace to see its steps"
                    .to_owned(),
            };
            eprintln!(
                "braid::testing::model: execution {executions} failed (preemption bound \
                 {bound}); {replay}"
            );
            panic::resume_unwind(payload);
        }
    }
}

/// Runs `f` with loom's log set up the way `loom::model` sets it up (`LOOM_LOG` picks
/// what it shows), since a `Builder` alone logs nowhere.
fn with_loom_log<R>(f: impl FnOnce() -> R) -> R {
    let subscriber = tracing_subscriber::fmt::Subscriber::builder()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("LOOM_LOG"))
        .with_test_writer()
        .without_time()
        .finish();
    tracing::subscriber::with_default(subscriber, f)
}
