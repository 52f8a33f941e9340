#![cfg(not(loom))]
//! Generators: resume values in, yields out, return values, delegation, misuse, and
//! that dropping an unfinished generator drops the body's locals.

use std::cell::Cell;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;

mod common;

use braid::coro::{Generator, GeneratorState};
use common::panic_message;

#[test]
fn resume_values_go_in_and_yields_come_out_in_order() {
    let mut g = Generator::new(|co| async move {
        let mut log = vec![co.first_input().unwrap()];
        for i in 0..3 {
            log.push(co.yield_(i).await);
        }
        log
    });
    assert_eq!(g.resume(100), GeneratorState::Yielded(0));
    assert_eq!(g.resume(101), GeneratorState::Yielded(1));
    assert_eq!(g.resume(102), GeneratorState::Yielded(2));
    assert_eq!(
        g.resume(103),
        GeneratorState::Complete(vec![100, 101, 102, 103])
    );
    assert!(g.is_complete());
}

#[test]
fn resuming_a_finished_generator_panics_with_a_clear_message() {
    let mut g: Generator<(), (), (), _> = Generator::new(|_co| async move {});
    assert_eq!(g.start(), GeneratorState::Complete(()));
    let err = catch_unwind(AssertUnwindSafe(|| g.resume(()))).unwrap_err();
    assert!(panic_message(err).contains("already completed"));
    assert_eq!(
        g.next(),
        None,
        "iteration after the end is fused, not a panic"
    );
}

#[test]
fn an_untaken_first_input_is_refused_not_dropped() {
    let mut g = Generator::new(|co| async move {
        co.yield_(1).await;
    });
    let err = catch_unwind(AssertUnwindSafe(|| g.resume(String::from("lost?")))).unwrap_err();
    assert!(panic_message(err).contains("first_input"));
    assert!(
        g.is_complete(),
        "a generator whose body panicked is complete"
    );
}

#[test]
fn two_yields_pending_at_once_are_refused_not_one_lost() {
    let mut g: Generator<i32, (), (), _> = Generator::new(|co| async move {
        let mut first = Box::pin(co.yield_(1));
        let mut second = Box::pin(co.yield_(2));
        std::future::poll_fn(|cx| {
            let _ = first.as_mut().poll(cx);
            let _ = second.as_mut().poll(cx);
            std::task::Poll::<()>::Pending
        })
        .await;
    });
    let err = catch_unwind(AssertUnwindSafe(|| g.start())).unwrap_err();
    assert!(panic_message(err).contains("yielded twice"));
    assert!(g.is_complete());
}

#[test]
fn awaiting_a_foreign_future_panics_instead_of_hanging() {
    let mut g: Generator<u8, (), (), _> = Generator::new(|_co| async move {
        std::future::pending::<()>().await;
    });
    let err = catch_unwind(AssertUnwindSafe(|| g.start())).unwrap_err();
    assert!(panic_message(err).contains("cannot wait on I/O"));
    assert!(g.is_complete());
}

#[test]
fn a_panicking_body_completes_the_generator_and_drops_its_locals() {
    let dropped = Rc::new(Cell::new(false));
    struct Flag(Rc<Cell<bool>>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.set(true);
        }
    }
    let flag = Flag(dropped.clone());
    let mut g: Generator<u8, (), (), _> = Generator::new(|co| async move {
        let _flag = flag;
        co.yield_(1).await;
        panic!("boom");
    });
    assert_eq!(g.start(), GeneratorState::Yielded(1));
    let err = catch_unwind(AssertUnwindSafe(|| g.resume(()))).unwrap_err();
    assert_eq!(panic_message(err), "boom");
    assert!(dropped.get());
    assert!(g.is_complete());
}

#[test]
fn dropping_an_unfinished_generator_drops_the_body_locals() {
    let dropped = Rc::new(Cell::new(0));
    struct Counted(Rc<Cell<u32>>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.set(self.0.get() + 1);
        }
    }
    let (a, b) = (Counted(dropped.clone()), Counted(dropped.clone()));
    let mut g: Generator<(), (), (), _> = Generator::new(|co| async move {
        let _a = a;
        co.yield_(()).await;
        let _b = b; // never reached
        co.yield_(()).await;
    });
    assert_eq!(g.start(), GeneratorState::Yielded(()));
    assert_eq!(dropped.get(), 0);
    drop(g);
    assert_eq!(
        dropped.get(),
        2,
        "both the live local and the captured one are dropped"
    );
}

#[test]
fn yield_from_passes_resume_values_through_and_returns_the_inner_result() {
    fn accumulate(limit: i32) -> Generator<i32, i32, i32, impl Future<Output = i32>> {
        Generator::new(move |co| async move {
            let mut total = 0;
            while total < limit {
                total += co.yield_(total).await;
            }
            total
        })
    }
    let mut outer = Generator::new(|co| async move {
        let first = co.yield_from(accumulate(5)).await;
        let second = co.yield_from(accumulate(2)).await;
        first * 100 + second
    });
    assert_eq!(outer.start(), GeneratorState::Yielded(0));
    assert_eq!(outer.resume(3), GeneratorState::Yielded(3));
    assert_eq!(outer.resume(3), GeneratorState::Yielded(0)); // inner 1 done (6); inner 2 starts
    assert_eq!(outer.resume(2), GeneratorState::Complete(602));
}

#[test]
fn zero_sized_first_input_may_start_a_generator() {
    let mut g: Generator<i32, (), (), _> = Generator::new(|co| async move {
        co.yield_(7).await;
    });
    assert_eq!(g.resume(()), GeneratorState::Yielded(7));
}

#[test]
fn an_untaken_first_input_is_refused_also_when_the_body_returns_at_once() {
    let mut g: Generator<(), String, u8, _> = Generator::new(|_co| async move { 5 });
    let err = catch_unwind(AssertUnwindSafe(|| g.resume(String::from("lost?")))).unwrap_err();
    assert!(panic_message(err).contains("first_input"));
    assert!(g.is_complete());
}
