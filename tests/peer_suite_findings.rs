#![cfg(not(loom))]
//! Scenarios from peers' own test suites (rayon-core, genawaiter, rust-stm), translated
//! to braid's public API, that braid once failed. Each test is named after what it
//! caught.

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use braid::coro::{Co, Generator, GeneratorState};
use braid::stm::{atomically, atomically_timeout, retry, TVar};

// ---- rayon-core join/test.rs: panic_b_still_executes, outside any pool ----------------

#[test]
fn free_join_outside_a_pool_runs_b_after_a_panics_then_reraises_a() {
    let b_ran = AtomicBool::new(false);
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
        braid::exec::join(
            || panic!("a failed"),
            || b_ran.store(true, Ordering::SeqCst),
        )
    }));
    let payload = outcome.expect_err("a's panic is re-raised");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"a failed"));
    assert!(b_ran.load(Ordering::SeqCst), "b still ran");
}

#[test]
fn free_join_outside_a_pool_reraises_a_when_both_panic() {
    let outcome =
        panic::catch_unwind(|| braid::exec::join(|| panic!("from a"), || panic!("from b")));
    assert_eq!(outcome.unwrap_err().downcast_ref::<&str>(), Some(&"from a"));
}

#[test]
fn free_join_outside_a_pool_reraises_b_when_only_b_panics() {
    let a_ran = AtomicBool::new(false);
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
        braid::exec::join(|| a_ran.store(true, Ordering::SeqCst), || panic!("from b"))
    }));
    assert_eq!(outcome.unwrap_err().downcast_ref::<&str>(), Some(&"from b"));
    assert!(a_ran.load(Ordering::SeqCst));
}

#[test]
fn pool_join_runs_b_after_a_panics_then_reraises_a() {
    let pool = braid::exec::Pool::new(2);
    let b_ran = AtomicBool::new(false);
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
        pool.join(
            || panic!("a failed"),
            || b_ran.store(true, Ordering::SeqCst),
        )
    }));
    assert_eq!(
        outcome.unwrap_err().downcast_ref::<&str>(),
        Some(&"a failed")
    );
    assert!(b_ran.load(Ordering::SeqCst));
}

// ---- genawaiter: escaped_co_helpful_message ---------------------------------------------

/// A generator whose body returns its own `Co`.
fn escaping() -> Generator<u32, (), Co<u32>, impl std::future::Future<Output = Co<u32>>> {
    Generator::new(|co| async move { co })
}

/// Polls `future` once with a no-op waker, as any executor would.
fn poll_once<F: std::future::Future>(future: F) {
    let mut future = std::pin::pin!(future);
    let _ = future
        .as_mut()
        .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()));
}

fn escaped_co() -> Co<u32> {
    match escaping().start() {
        GeneratorState::Complete(co) => co,
        GeneratorState::Yielded(_) => unreachable!("the body yields nothing"),
    }
}

#[test]
#[should_panic(expected = "the generator this Co belongs to has ended")]
fn a_co_used_to_yield_after_its_generator_completed_panics() {
    let co = escaped_co();
    poll_once(co.yield_(7));
}

#[test]
#[should_panic(expected = "a value yielded now would be lost")]
fn a_co_kept_after_its_generator_was_dropped_panics_on_yield() {
    let kept = std::rc::Rc::new(std::cell::RefCell::new(None));
    let mut generator: Generator<u32, (), (), _> = {
        let kept = kept.clone();
        Generator::new(move |co| async move {
            co.yield_(1).await;
            *kept.borrow_mut() = Some(co);
        })
    };
    assert_eq!(generator.start(), GeneratorState::Yielded(1));
    generator.resume(());
    drop(generator);
    let co = kept.borrow_mut().take().expect("the body stored its Co");
    poll_once(co.yield_(2));
}

#[test]
#[should_panic(expected = "Co::first_input: the generator this Co belongs to has ended")]
fn first_input_through_an_escaped_co_panics() {
    escaped_co().first_input();
}

#[test]
fn yield_from_through_an_escaped_co_panics_without_running_the_inner_generator() {
    let inner_ran = std::rc::Rc::new(std::cell::Cell::new(false));
    let inner: Generator<u32, (), (), _> = {
        let inner_ran = inner_ran.clone();
        Generator::new(move |co| async move {
            inner_ran.set(true);
            co.yield_(1).await;
        })
    };
    let co = escaped_co();
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| poll_once(co.yield_from(inner))));
    let payload = outcome.expect_err("yield_from through an escaped Co panics");
    let message = payload.downcast_ref::<String>().unwrap();
    assert!(message.contains("Co::yield_from: the generator this Co belongs to has ended"));
    assert!(!inner_ran.get(), "the inner generator never started");
}

// ---- rust-stm: a timed retry that read nothing ------------------------------------------

#[test]
fn a_timed_retry_that_read_nothing_waits_out_the_deadline_and_returns_none() {
    let started = Instant::now();
    let got: Option<()> = atomically_timeout(Duration::from_millis(20), |_| retry());
    assert_eq!(got, None);
    assert!(started.elapsed() >= Duration::from_millis(20));
}

#[test]
fn a_timed_retry_that_read_nothing_with_a_zero_timeout_returns_none_at_once() {
    let got: Option<u8> = atomically_timeout(Duration::ZERO, |_| retry());
    assert_eq!(got, None);
}

#[test]
#[should_panic(expected = "it would block forever")]
fn an_untimed_retry_that_read_nothing_still_panics() {
    atomically(|_| retry::<()>());
}

#[test]
#[should_panic(expected = "it would block forever")]
fn an_async_retry_that_read_nothing_still_panics() {
    poll_once(braid::stm::atomically_async(|_| retry::<()>()));
}

#[test]
fn a_timed_retry_that_read_something_is_still_woken_before_the_deadline() {
    let flag = TVar::new(false);
    let setter = {
        let flag = flag.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(10));
            atomically(|tx| flag.write(tx, true));
        })
    };
    let got = atomically_timeout(Duration::from_secs(30), |tx| {
        braid::stm::check(flag.read(tx)?)
    });
    assert_eq!(got, Some(()));
    setter.join().unwrap();
}
