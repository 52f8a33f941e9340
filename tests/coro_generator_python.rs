#![cfg(not(loom))]
//! Generators as a Python user expects them (PEP 342 and 380), through the public API
//! only: bodies that borrow, generators that are `Send`, `close` and `throw`, boxed
//! generators, and a `Co` that refuses to work outside its own generator.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};

mod common;

use braid::coro::{BoxGenerator, Co, Generator, GeneratorState, LocalBoxGenerator};
use braid::exec::Pool;
use common::{panic_message, quietly};

fn evens<'a>(xs: &'a [u32]) -> impl Iterator<Item = u32> + 'a {
    Generator::new(move |co: Co<u32>| async move {
        for &x in xs {
            if x % 2 == 0 {
                co.yield_(x).await;
            }
        }
    })
}

#[test]
fn a_body_may_borrow_a_slice_for_as_long_as_the_generator_lives() {
    let numbers: Vec<u32> = (0..10).collect();
    assert_eq!(evens(&numbers).collect::<Vec<_>>(), [0, 2, 4, 6, 8]);
}

#[test]
fn a_body_may_hold_a_mutable_borrow_that_the_caller_uses_again_afterwards() {
    let mut seen = Vec::new();
    {
        let seen = &mut seen;
        let mut recorder = Generator::new(move |co: Co<(), &'static str>| async move {
            let mut word = co.first_input().unwrap();
            loop {
                seen.push(word);
                word = co.yield_(()).await;
            }
        });
        recorder.resume("send");
        recorder.resume("throw");
        recorder.resume("close");
    }
    seen.push("done");
    assert_eq!(seen, ["send", "throw", "close", "done"]);
}

fn assert_send<T: Send>(value: T) -> T {
    value
}

#[test]
fn a_generator_with_a_send_body_moves_to_another_thread_midway() {
    let mut squares = assert_send(Generator::new(|co| async move {
        for n in 1..=4u64 {
            co.yield_(n * n).await;
        }
    }));
    assert_eq!(squares.next(), Some(1));
    let rest = std::thread::spawn(move || squares.collect::<Vec<_>>())
        .join()
        .unwrap();
    assert_eq!(rest, [4, 9, 16]);
}

#[test]
fn a_generator_whose_body_keeps_no_input_is_send_even_if_the_input_type_is_not() {
    // `Rc` is not `Send`, but each input is dropped before the next yield: nothing the
    // generator keeps between resumes is tied to a thread.
    let mut lengths: Generator<usize, Rc<String>, (), _> =
        assert_send(Generator::new(|co| async move {
            let mut total = 0;
            loop {
                let line: Rc<String> = co.yield_(total).await;
                total += line.len();
            }
        }));
    assert_eq!(lengths.start(), GeneratorState::Yielded(0));
    assert_eq!(
        lengths.resume(Rc::new("ab".to_string())),
        GeneratorState::Yielded(2)
    );
    let total = std::thread::spawn(move || lengths.resume(Rc::new("cde".to_string())))
        .join()
        .unwrap();
    assert_eq!(total, GeneratorState::Yielded(5));
}

#[test]
fn a_generator_lives_across_an_await_in_a_pool_task() {
    let pool = Pool::new(2);
    let task = pool.spawn(async {
        let mut letters = Generator::new(|co| async move {
            for c in ['a', 'b', 'c'] {
                co.yield_(c).await;
            }
        });
        let mut out = String::new();
        out.push(letters.next().unwrap());
        braid::coro::yield_now().await; // the generator is held across this await
        out.extend(letters);
        out
    });
    assert_eq!(task.join().unwrap(), "abc");
}

#[test]
fn close_drops_the_suspended_body_now_and_is_idempotent() {
    let dropped = Rc::new(Cell::new(0));
    struct Finally(Rc<Cell<u32>>);
    impl Drop for Finally {
        fn drop(&mut self) {
            self.0.set(self.0.get() + 1);
        }
    }
    let guard = Finally(dropped.clone());
    let mut g = Generator::new(|co| async move {
        let _finally = guard;
        for n in 0.. {
            co.yield_(n).await;
        }
    });
    assert_eq!(g.next(), Some(0));
    assert_eq!(dropped.get(), 0);
    g.close();
    assert_eq!(dropped.get(), 1, "close ran the body's destructors");
    assert!(g.is_complete());
    assert_eq!(g.next(), None);
    g.close();
    assert_eq!(dropped.get(), 1, "a second close does nothing");
}

#[test]
fn close_before_the_start_runs_none_of_the_body() {
    let ran = Cell::new(false);
    let ran_ref = &ran;
    let mut g: Generator<u8, (), (), _> = Generator::new(|co| async move {
        ran_ref.set(true);
        co.yield_(1).await;
    });
    g.close();
    assert!(g.is_complete());
    assert_eq!(g.next(), None);
    assert!(!ran.get());
}

#[test]
fn resuming_a_closed_generator_panics_like_resuming_a_finished_one() {
    let mut g: Generator<u8, u8, (), _> = Generator::new(|co| async move {
        co.yield_(1).await;
    });
    g.start();
    g.close();
    let err = quietly(|| catch_unwind(AssertUnwindSafe(|| g.resume(5)))).unwrap_err();
    assert!(panic_message(err).contains("already completed"));
}

/// A body that keeps a log of what it was sent and thrown; "stop" ends it.
fn logger(
) -> Generator<usize, Result<u32, &'static str>, Vec<String>, impl Future<Output = Vec<String>>> {
    Generator::new(|co| async move {
        let mut log = Vec::new();
        loop {
            match co.yield_(log.len()).await {
                Ok(n) => log.push(format!("sent {n}")),
                Err("stop") => return log,
                Err(e) => log.push(format!("caught {e}")),
            }
        }
    })
}

#[test]
fn throw_raises_at_the_suspended_yield_and_a_handled_error_yields_again() {
    let mut g = logger();
    assert_eq!(g.start(), GeneratorState::Yielded(0));
    assert_eq!(g.resume(Ok(7)), GeneratorState::Yielded(1));
    assert_eq!(g.throw("oops"), GeneratorState::Yielded(2));
    assert_eq!(
        g.throw("stop"),
        GeneratorState::Complete(vec!["sent 7".to_string(), "caught oops".to_string()])
    );
    assert!(g.is_complete());
}

#[test]
fn an_error_the_body_does_not_handle_propagates_as_its_return() {
    let mut g: Generator<u8, Result<(), String>, Result<(), String>, _> =
        Generator::new(|co| async move {
            loop {
                co.yield_(0).await?; // `?` passes a thrown error on, as an unhandled exception
            }
        });
    g.start();
    assert_eq!(
        g.throw("disk full".to_string()),
        GeneratorState::Complete(Err("disk full".to_string()))
    );
}

#[test]
fn boxed_generators_can_be_named_in_fields_and_recurse() {
    struct Walker {
        steps: BoxGenerator<'static, u32>,
    }
    fn countdown(n: u32) -> BoxGenerator<'static, u32> {
        Generator::new(move |co| async move {
            if n > 0 {
                co.yield_(n).await;
                co.yield_from(countdown(n - 1)).await;
            }
        })
        .boxed()
    }
    let walker = Walker {
        steps: countdown(4),
    };
    let walker = std::thread::spawn(move || walker).join().unwrap(); // BoxGenerator is Send
    assert_eq!(walker.steps.collect::<Vec<_>>(), [4, 3, 2, 1]);

    let shared = Rc::new(Cell::new(0));
    let local: LocalBoxGenerator<'_, u32> = {
        let shared = shared.clone();
        Generator::new(move |co| async move {
            shared.set(1);
            co.yield_(shared.get()).await;
        })
        .boxed_local()
    };
    assert_eq!(local.collect::<Vec<_>>(), [1]);
}

#[test]
fn a_generator_boxed_after_it_started_goes_on_where_it_was() {
    let mut g = Generator::new(|co| async move {
        for n in 0..3 {
            co.yield_(n).await;
        }
    });
    assert_eq!(g.next(), Some(0));
    let g: BoxGenerator<'static, i32> = g.boxed();
    assert_eq!(g.collect::<Vec<_>>(), [1, 2]);
}

#[test]
fn a_co_smuggled_into_another_generator_panics_instead_of_yielding_there() {
    let stolen: Rc<RefCell<Option<Co<u32>>>> = Rc::default();
    let mut owner = {
        let stolen = stolen.clone();
        Generator::new(move |co: Co<u32>| async move {
            co.yield_(1).await;
            *stolen.borrow_mut() = Some(co);
        })
    };
    assert_eq!(owner.next(), Some(1));
    let mut thief: Generator<u32, (), (), _> = Generator::new(move |_own| async move {
        let co = stolen.borrow_mut().take().unwrap();
        co.yield_(99).await;
    });
    assert_eq!(
        owner.next(),
        None,
        "the owner finished after handing its Co over"
    );
    let err = quietly(|| catch_unwind(AssertUnwindSafe(|| thief.next()))).unwrap_err();
    assert!(panic_message(err).contains("is not the one running"));
    assert!(thief.is_complete());
}

#[test]
fn a_co_sent_to_another_thread_panics_there_without_touching_the_generator() {
    let (send_co, receive_co) = std::sync::mpsc::channel::<Co<u32>>();
    let mut g = Generator::new(move |co: Co<u32>| async move {
        co.yield_(1).await;
        send_co.send(co).unwrap();
    });
    assert_eq!(g.next(), Some(1));
    assert_eq!(g.next(), None);
    let outcome = quietly(|| {
        std::thread::spawn(move || {
            let co = receive_co.recv().unwrap();
            let pool_like = std::pin::pin!(co.yield_(2));
            let _ = pool_like.poll(&mut std::task::Context::from_waker(std::task::Waker::noop()));
        })
        .join()
    });
    let err = outcome.unwrap_err();
    assert!(panic_message(err).contains("a value yielded now would be lost"));
}

#[test]
fn a_co_used_in_a_pool_task_panics_in_that_task() {
    let (send_co, receive_co) = std::sync::mpsc::channel::<Co<u8>>();
    let mut g = Generator::new(move |co: Co<u8>| async move {
        send_co.send(co).unwrap();
    });
    assert_eq!(g.next(), None);
    let co = receive_co.recv().unwrap();
    let pool = Pool::new(1);
    let task = pool.spawn(async move {
        co.yield_(1).await;
    });
    let err = quietly(|| task.join()).unwrap_err();
    assert!(err.panic_message().unwrap().contains("Co::yield_"));
}

#[test]
fn the_first_input_is_gone_after_the_first_yield() {
    let mut g: Generator<u8, u8, Option<u8>, _> = Generator::new(|co| async move {
        let first = co.first_input();
        co.yield_(first.unwrap_or(0)).await;
        co.first_input() // too late: taken
    });
    assert_eq!(g.resume(3), GeneratorState::Yielded(3));
    assert_eq!(g.resume(4), GeneratorState::Complete(None));
}

/// The reviewer's program: a body lends its `Co` and its poll's waker to two scoped
/// threads, each of which polls a `yield_` future of its own. Before the slot was found
/// through the polling thread's record, both wrote the slot at once (a data race, torn
/// values read back). Now each thread finds no generator running on it and panics
/// before touching anything, and the generator sees no yield.
#[test]
fn yield_futures_polled_on_scoped_threads_inside_the_poll_panic_instead_of_racing() {
    use std::future::poll_fn;
    use std::pin::pin;
    use std::task::{Context, Poll};

    let refused = std::sync::atomic::AtomicUsize::new(0);
    let refused = &refused;
    let mut g = Generator::new(move |co: Co<Vec<u8>>| async move {
        poll_fn(|cx| {
            let waker = cx.waker();
            std::thread::scope(|s| {
                for i in 0..2usize {
                    let co = &co;
                    s.spawn(move || {
                        let outcome = catch_unwind(AssertUnwindSafe(|| {
                            let mut cx = Context::from_waker(waker);
                            let mut y = pin!(co.yield_(vec![i as u8; 1 + i * 1000]));
                            let _ = y.as_mut().poll(&mut cx);
                        }));
                        let message = panic_message(outcome.unwrap_err());
                        assert!(message.contains("is not the one running"), "{message}");
                        refused.fetch_add(1, Ordering::SeqCst);
                    });
                }
            });
            Poll::Ready(())
        })
        .await;
        co.yield_(vec![7]).await;
    });
    let first = quietly(|| g.next());
    assert_eq!(first, Some(vec![7]), "only the body's own yield arrived");
    assert_eq!(refused.load(Ordering::SeqCst), 2);
}

#[test]
fn generators_nested_in_first_steps_each_get_their_own_first_input() {
    let mut outer: Generator<String, String, (), _> = Generator::new(|co| async move {
        let mut inner: Generator<String, String, (), _> = Generator::new(|co| async move {
            let mine = co.first_input().unwrap();
            co.yield_(format!("inner got {mine}")).await;
        });
        let GeneratorState::Yielded(said) = inner.resume("b".to_string()) else {
            unreachable!()
        };
        let mine = co.first_input().unwrap(); // after the inner first step: still ours
        co.yield_(format!("{said}, outer got {mine}")).await;
    });
    assert_eq!(
        outer.resume("a".to_string()),
        GeneratorState::Yielded("inner got b, outer got a".to_string())
    );
}

#[test]
fn values_in_flight_are_dropped_once_whatever_happens() {
    static LIVE: AtomicUsize = AtomicUsize::new(0);
    struct Tracked;
    impl Tracked {
        fn new() -> Tracked {
            LIVE.fetch_add(1, Ordering::SeqCst);
            Tracked
        }
    }
    impl Drop for Tracked {
        fn drop(&mut self) {
            LIVE.fetch_sub(1, Ordering::SeqCst);
        }
    }
    {
        let mut g: Generator<Tracked, Tracked, (), _> = Generator::new(|co| async move {
            let _first = co.first_input();
            loop {
                let _input = co.yield_(Tracked::new()).await;
            }
        });
        drop(g.resume(Tracked::new()));
        drop(g.resume(Tracked::new()));
        g.close();
    }
    assert_eq!(LIVE.load(Ordering::SeqCst), 0);
}
