#![cfg(not(loom))]
//! Async generators (PEP 525) through the public API only: a body that awaits timers,
//! transactions and join handles between its yields, consumed as a `Stream` on the Pool,
//! the Scheduler, a hand-written `block_on` and tokio; the consumer woken by what the
//! body awaits; and the body's destructors run when the consumer stops early.

use std::cell::Cell;
use std::future::Future;
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

mod common;

use braid::coro::{
    AsyncCo, AsyncGenerator, BoxAsyncGenerator, Generator, Scheduler, Stream, WaitsOn,
};
use braid::exec::Pool;
use braid::stm::{atomically_async, TQueue};
use braid::time::sleep;
use common::{panic_message, quietly};

/// A `block_on` of the plainest kind: parks the thread until the waker unparks it.
fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Poll::Ready(value) = future.as_mut().poll(&mut cx) {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "no wake-up came: the consumer hangs"
        );
        thread::park_timeout(Duration::from_secs(1));
    }
}

/// Drains any stream into a `Vec` with nothing but the `Stream` trait.
async fn collect<S: Stream + Unpin>(mut stream: S) -> Vec<S::Item> {
    let mut out = Vec::new();
    while let Some(item) = std::future::poll_fn(|cx| Pin::new(&mut stream).poll_next(cx)).await {
        out.push(item);
    }
    out
}

fn ticks(n: u32) -> BoxAsyncGenerator<'static, u32> {
    AsyncGenerator::new(move |co| async move {
        for i in 0..n {
            sleep(Duration::from_millis(2)).await;
            co.yield_(i).await;
        }
    })
    .boxed()
}

#[test]
fn a_timer_fed_generator_is_consumed_on_every_executor() {
    assert_eq!(block_on(collect(ticks(3))), [0, 1, 2]);

    let pool = Pool::new(2);
    assert_eq!(pool.block_on(collect(ticks(3))), [0, 1, 2]);
    assert_eq!(pool.spawn(collect(ticks(3))).join().unwrap(), [0, 1, 2]);

    let mut scheduler = Scheduler::new();
    assert_eq!(scheduler.block_on(collect(ticks(3))).unwrap(), [0, 1, 2]);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    assert_eq!(runtime.block_on(collect(ticks(3))), [0, 1, 2]);
}

#[test]
fn the_consumer_is_woken_when_the_awaited_transaction_can_go_on() {
    let queue = TQueue::new();
    let items = {
        let queue = queue.clone();
        AsyncGenerator::new(move |co| async move {
            loop {
                let item: u32 = atomically_async(|tx| queue.pop(tx)).await;
                if item == 0 {
                    return;
                }
                co.yield_(item * 10).await;
            }
        })
    };
    let producer = thread::spawn(move || {
        for item in [1, 2, 3, 0] {
            thread::sleep(Duration::from_millis(5));
            queue.put(item).unwrap();
        }
    });
    let mut items = items;
    let mut seen = Vec::new();
    block_on(async {
        while let Some(item) = items.next().await {
            seen.push(item);
        }
    });
    producer.join().unwrap();
    assert_eq!(seen, [10, 20, 30]);
    assert!(items.is_complete());
}

#[test]
fn a_body_may_await_join_handles_of_pool_tasks() {
    let pool = Arc::new(Pool::new(2));
    let squares = {
        let pool = pool.clone();
        AsyncGenerator::new(move |co| async move {
            for n in 1..=3u64 {
                let square = pool.spawn_fn(move || n * n).await.unwrap();
                co.yield_(square).await;
            }
        })
    };
    assert_eq!(block_on(collect(squares)), [1, 4, 9]);
}

#[test]
fn next_returns_none_for_ever_once_the_body_has_returned() {
    let mut once = AsyncGenerator::new(|co| async move { co.yield_('x').await });
    block_on(async {
        assert_eq!(once.next().await, Some('x'));
        assert_eq!(once.next().await, None);
        assert_eq!(once.next().await, None);
    });
}

#[test]
fn dropping_it_midway_runs_the_body_destructors() {
    struct Finally(Rc<Cell<bool>>);
    impl Drop for Finally {
        fn drop(&mut self) {
            self.0.set(true);
        }
    }
    let cleaned = Rc::new(Cell::new(false));
    let guard = Finally(cleaned.clone());
    let mut endless = AsyncGenerator::new(|co| async move {
        let _finally = guard;
        for n in 0.. {
            co.yield_(n).await;
        }
    });
    block_on(async {
        assert_eq!(endless.next().await, Some(0));
        assert_eq!(endless.next().await, Some(1));
    });
    assert!(!cleaned.get());
    drop(endless);
    assert!(cleaned.get());
}

#[test]
fn close_ends_the_stream_and_runs_the_destructors() {
    let cleaned = Arc::new(AtomicBool::new(false));
    struct Finally(Arc<AtomicBool>);
    impl Drop for Finally {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let guard = Finally(cleaned.clone());
    let mut g = AsyncGenerator::new(|co| async move {
        let _finally = guard;
        loop {
            co.yield_(1).await;
        }
    });
    block_on(async { assert_eq!(g.next().await, Some(1)) });
    g.close();
    assert!(cleaned.load(Ordering::SeqCst));
    assert!(g.is_complete());
    assert_eq!(block_on(g.next()), None);
}

fn assert_send<T: Send>(value: T) -> T {
    value
}

#[test]
fn it_is_send_when_its_body_is_and_moves_between_threads_midway() {
    let mut words = assert_send(AsyncGenerator::new(|co| async move {
        for word in ["one", "two", "three"] {
            sleep(Duration::from_millis(1)).await;
            co.yield_(word.to_string()).await;
        }
    }));
    let first = block_on(words.next());
    let rest = thread::spawn(move || block_on(collect(words)))
        .join()
        .unwrap();
    assert_eq!(first.as_deref(), Some("one"));
    assert_eq!(rest, ["two", "three"]);
}

#[test]
fn a_scheduler_task_consumes_a_generator_fed_by_another_task() {
    let mut scheduler = Scheduler::new();
    let queue = TQueue::new();
    let producer = {
        let queue = queue.clone();
        scheduler.spawn(async move {
            for n in 1..=3 {
                queue.put_async(n).await.unwrap();
                braid::coro::yield_now().await;
            }
            queue.put_async(0).await.unwrap();
        })
    };
    let consumer = scheduler.spawn(async move {
        let doubled = AsyncGenerator::new(|co| async move {
            loop {
                match queue.get_async().await {
                    Some(0) | None => return,
                    Some(n) => co.yield_(n * 2).await,
                }
            }
        });
        collect(doubled).await
    });
    scheduler.run().unwrap();
    drop(producer);
    assert_eq!(block_on(consumer).unwrap(), [2, 4, 6]);
}

#[test]
fn its_co_cannot_yield_inside_a_plain_generator() {
    let (send_co, receive_co) = std::sync::mpsc::channel::<AsyncCo<u8>>();
    let mut agen = AsyncGenerator::new(move |co: AsyncCo<u8>| async move {
        send_co.send(co).unwrap();
    });
    assert_eq!(block_on(agen.next()), None);
    let co = receive_co.recv().unwrap();
    let mut plain: Generator<u8, (), (), _> = Generator::new(move |_own| async move {
        co.yield_(1).await;
    });
    let err = quietly(|| std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| plain.next())))
        .unwrap_err();
    assert!(panic_message(err).contains("AsyncCo::yield_: not polled by this AsyncCo's own"));
}

#[test]
fn a_body_may_drain_other_generators_between_its_own_yields() {
    // Each inner poll runs while this body's poll runs, with the inner generator's own
    // context: this body's next `yield_` must still find its own poll.
    let digits = || {
        AsyncGenerator::new(|co| async move {
            for d in 1..=3u32 {
                co.yield_(d).await;
            }
        })
    };
    let mut squares: Generator<u32, (), (), _> = Generator::new(|co| async move {
        for n in 1..=3u32 {
            co.yield_(n * n).await;
        }
    });
    let mixed = AsyncGenerator::new(move |co| async move {
        let mut inner = digits();
        while let Some(d) = inner.next().await {
            co.yield_(d * 10).await;
            if let Some(square) = squares.next() {
                co.yield_(square).await;
            }
        }
    });
    assert_eq!(block_on(collect(mixed)), [10, 1, 20, 4, 30, 9]);

    // An async generator drained inside a plain generator's body (it never waits on
    // anything but its yields, so each `next` is ready at once).
    let tens: Generator<u32, (), (), _> = Generator::new(move |co| async move {
        let mut inner = digits();
        while let Some(d) = inner.next().await {
            co.yield_(d * 10).await;
        }
    });
    assert_eq!(tens.collect::<Vec<_>>(), [10, 20, 30]);
}

#[test]
fn a_value_left_by_a_yield_the_body_abandons_is_still_delivered() {
    // The body polls a `yield_` once (it leaves its value) and drops it, as a `select`
    // that another branch won would, then returns in the same poll: the value is not
    // lost, and the stream ends after it.
    let mut abandoning = AsyncGenerator::new(|co| async move {
        let mut offer = Box::pin(co.yield_(7u8));
        std::future::poll_fn(|cx| {
            let _ = offer.as_mut().poll(cx);
            Poll::Ready(())
        })
        .await;
    });
    block_on(async {
        assert_eq!(abandoning.next().await, Some(7));
        assert_eq!(abandoning.next().await, None);
    });
}

#[test]
fn a_waker_the_body_keeps_is_the_consumers_own() {
    // What the body's futures clone is the consumer's waker, not the stand-in the body
    // is polled with: it outlives the poll and wakes the consumer.
    let (send_kept, receive_kept) = std::sync::mpsc::channel::<Waker>();
    let mut keeper = AsyncGenerator::new(move |co: AsyncCo<()>| async move {
        let kept = std::future::poll_fn(|cx| Poll::Ready(cx.waker().clone())).await;
        send_kept.send(kept).unwrap();
        co.yield_(()).await;
    });
    struct Counting(std::sync::atomic::AtomicUsize);
    impl Wake for Counting {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let counting = Arc::new(Counting(std::sync::atomic::AtomicUsize::new(0)));
    let consumer = Waker::from(counting.clone());
    let polled = pin!(keeper.next()).poll(&mut Context::from_waker(&consumer));
    assert_eq!(polled, Poll::Ready(Some(())));
    let kept = receive_kept.recv().unwrap();
    assert!(
        kept.will_wake(&consumer),
        "the kept waker is the consumer's"
    );
    kept.wake();
    assert_eq!(counting.0.load(Ordering::SeqCst), 1);
}

#[test]
fn its_co_panics_under_a_combinator_that_polls_with_a_waker_of_its_own() {
    // `FuturesUnordered` and `Shared` poll what they hold with wakers of their own; a
    // `yield_` polled that way cannot reach its generator, and says so.
    let mut agen = AsyncGenerator::new(|co: AsyncCo<u8>| async move {
        let mut offer = pin!(co.yield_(1));
        let _ = offer.as_mut().poll(&mut Context::from_waker(Waker::noop()));
    });
    let err = quietly(|| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| block_on(agen.next())))
    })
    .unwrap_err();
    let message = panic_message(err);
    assert!(message.contains("a waker of its own"), "{message}");
    assert!(agen.is_complete(), "a body that panicked is dropped");
}

#[test]
fn its_co_panics_on_another_thread_even_with_the_polls_own_waker() {
    // The waker the body sees may be shown to another thread while the poll runs; a
    // `yield_` polled there panics before it leaves anything, and the body's own
    // `yield_` afterwards delivers its value as usual.
    let mut agen = AsyncGenerator::new(|co: AsyncCo<u8>| async move {
        let from_elsewhere = std::future::poll_fn(|cx| {
            let waker = cx.waker();
            let co = &co;
            let outcome = thread::scope(|scope| {
                scope
                    .spawn(move || {
                        let mut offer = pin!(co.yield_(99));
                        let _ = offer.as_mut().poll(&mut Context::from_waker(waker));
                    })
                    .join()
            });
            Poll::Ready(outcome.map_err(panic_message))
        })
        .await;
        let message = from_elsewhere.unwrap_err();
        assert!(message.contains("on this thread"), "{message}");
        co.yield_(1).await;
    });
    let seen = quietly(|| block_on(collect(&mut agen)));
    assert_eq!(seen, [1]);
}

#[test]
fn a_scheduler_names_what_a_generators_body_waits_on_in_a_deadlock() {
    // The body's transaction and join handle hold clones of the task's own waker, so
    // the deadlock report names them as if the task awaited them itself.
    let never = braid::stm::TVar::new(false);
    let mut scheduler = Scheduler::new().isolated();
    let in_retry = scheduler.spawn(async move {
        let mut waiting = AsyncGenerator::new(|co: AsyncCo<()>| async move {
            atomically_async(|tx| braid::stm::check(never.read(tx)?)).await;
            co.yield_(()).await;
        });
        waiting.next().await
    });
    let joining = scheduler.spawn(async move {
        let mut waiting = AsyncGenerator::new(|co: AsyncCo<()>| async move {
            let _ = braid::coro::spawn(std::future::pending::<()>()).await;
            co.yield_(()).await;
        });
        waiting.next().await
    });
    let deadlock = scheduler.run().unwrap_err();
    let waits: Vec<_> = deadlock
        .tasks()
        .iter()
        .map(|task| (task.id(), task.waits_on()))
        .collect();
    assert_eq!(
        waits[0],
        (in_retry.id(), WaitsOn::Transaction),
        "{deadlock}"
    );
    assert_eq!(waits[1].0, joining.id(), "{deadlock}");
    assert!(
        matches!(waits[1].1, WaitsOn::JoinHandle(child) if child == waits[2].0),
        "{deadlock}"
    );
}

#[test]
fn a_plain_generators_co_yields_from_inside_an_async_generator_its_body_drains() {
    // The async generator runs inside the plain generator's poll, so the plain
    // generator's `Co` may yield from the async body; the async generator then waits
    // (nothing for its own consumer) until the plain generator is resumed.
    let mut outer: Generator<&str, (), (), _> = Generator::new(|co| async move {
        let co = &co;
        let mut inner = AsyncGenerator::new(|inner_co: AsyncCo<u8>| async move {
            co.yield_("from the async body").await;
            inner_co.yield_(1).await;
        });
        assert_eq!(inner.next().await, Some(1));
        co.yield_("from the plain body").await;
    });
    assert_eq!(
        outer.by_ref().collect::<Vec<_>>(),
        ["from the async body", "from the plain body"]
    );
    assert!(outer.is_complete());
}

#[test]
fn two_yields_at_once_are_refused_naming_the_async_co() {
    let mut twice = AsyncGenerator::new(|co: AsyncCo<u8>| async move {
        let (mut first, mut second) = (pin!(co.yield_(1)), pin!(co.yield_(2)));
        std::future::poll_fn(|cx| {
            let _ = first.as_mut().poll(cx);
            second.as_mut().poll(cx)
        })
        .await;
    });
    let err = quietly(|| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| block_on(twice.next())))
    })
    .unwrap_err();
    let message = panic_message(err);
    assert!(
        message.contains("AsyncCo::yield_: the body yielded twice"),
        "{message}"
    );
}
