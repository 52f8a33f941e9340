#![cfg(not(loom))]
//! Queue consumers as `futures_core::Stream`s, as a user meets them: `TQueue::stream`,
//! `TBQueue::stream` and `TChanReceiver::into_stream` yield every value once, in order,
//! end when the queue is closed and drained, wake for every value and for the close, and
//! take nothing when dropped while waiting.

use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread;

use braid::coro::{self, Scheduler};
use braid::exec::Pool;
use braid::stm::{atomically, TBQueue, TChan, TQueue};
use futures_core::Stream;

/// Drains any stream, through the `Stream` trait alone.
async fn collect<S: Stream + Unpin>(mut stream: S) -> Vec<S::Item> {
    let mut items = Vec::new();
    while let Some(item) = std::future::poll_fn(|cx| Pin::new(&mut stream).poll_next(cx)).await {
        items.push(item);
    }
    items
}

/// A waker that counts its wake-ups.
#[derive(Default)]
struct CountingWaker(AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A value without `Clone`: queues move values, they do not copy them.
#[derive(Debug, PartialEq)]
struct Unique(u32);

#[test]
fn a_tqueue_stream_yields_every_value_in_order_then_ends() {
    let q = TQueue::new();
    q.put(Unique(1)).unwrap();
    let stream = q.stream();
    q.put(Unique(2)).unwrap();
    atomically(|tx| q.close(tx));
    let got = Scheduler::new().block_on(collect(stream)).unwrap();
    assert_eq!(got, [Unique(1), Unique(2)]);
}

#[test]
fn competing_stream_consumers_on_the_pool_take_each_value_once() {
    let pool = Pool::new(2);
    let q = TQueue::new();
    let consumers: Vec<_> = (0..3).map(|_| pool.spawn(collect(q.stream()))).collect();
    let producers: Vec<_> = (0..4u64)
        .map(|p| {
            let q = q.clone();
            thread::spawn(move || (0..500).for_each(|n| q.put(p * 1000 + n).unwrap()))
        })
        .collect();
    producers.into_iter().for_each(|p| p.join().unwrap());
    atomically(|tx| q.close(tx));
    let mut all: Vec<u64> = consumers
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();
    all.sort();
    let expected: Vec<u64> = (0..4)
        .flat_map(|p| (0..500).map(move |n| p * 1000 + n))
        .collect();
    assert_eq!(all, expected);
}

#[test]
fn a_tbqueue_stream_drains_a_bounded_queue_its_producer_waits_on() {
    let mut scheduler = Scheduler::new();
    let q = TBQueue::new(2);
    let producer = scheduler.spawn({
        let q = q.clone();
        async move {
            for n in 0..50 {
                q.put_async(n).await.unwrap();
            }
            braid::stm::atomically_async(|tx| q.close(tx)).await;
        }
    });
    let mut stream = q.stream();
    let got = scheduler
        .block_on(async {
            let mut got = Vec::new();
            while let Some(n) = stream.next().await {
                got.push(n);
                coro::yield_now().await;
            }
            got
        })
        .unwrap();
    assert_eq!(got, (0..50).collect::<Vec<_>>());
    assert!(producer.is_finished());
    assert_eq!(Scheduler::new().block_on(stream.next()).unwrap(), None);
}

#[test]
fn every_tchan_stream_hears_every_message_after_it_subscribed() {
    let pool = Pool::new(2);
    let chan = TChan::new();
    chan.put(0).unwrap(); // before anyone subscribed: nobody hears it
    let listeners: Vec<_> = (0..3)
        .map(|_| pool.spawn(collect(chan.subscribe().into_stream())))
        .collect();
    (1..=100).for_each(|n| chan.put(n).unwrap());
    atomically(|tx| chan.close(tx));
    for listener in listeners {
        assert_eq!(listener.join().unwrap(), (1..=100).collect::<Vec<_>>());
    }
}

#[test]
fn a_waiting_stream_is_woken_by_a_put_and_by_the_close() {
    let q = TQueue::new();
    let counter = Arc::new(CountingWaker::default());
    let waker = Waker::from(counter.clone());
    let mut cx = Context::from_waker(&waker);
    let mut stream = q.stream();
    assert!(Pin::new(&mut stream).poll_next(&mut cx).is_pending());
    let woken_before = counter.0.load(Ordering::SeqCst);
    thread::scope(|s| {
        s.spawn(|| q.put(7).unwrap());
    });
    assert!(
        counter.0.load(Ordering::SeqCst) > woken_before,
        "the put woke the stream"
    );
    assert_eq!(
        Pin::new(&mut stream).poll_next(&mut cx),
        Poll::Ready(Some(7))
    );
    assert!(Pin::new(&mut stream).poll_next(&mut cx).is_pending());
    let woken_before = counter.0.load(Ordering::SeqCst);
    thread::scope(|s| {
        s.spawn(|| atomically(|tx| q.close(tx)));
    });
    assert!(
        counter.0.load(Ordering::SeqCst) > woken_before,
        "the close woke the stream"
    );
    assert_eq!(Pin::new(&mut stream).poll_next(&mut cx), Poll::Ready(None));
    assert_eq!(
        Pin::new(&mut stream).poll_next(&mut cx),
        Poll::Ready(None),
        "fused"
    );
}

#[test]
fn tchan_and_tbqueue_streams_are_woken_too() {
    let counter = Arc::new(CountingWaker::default());
    let waker = Waker::from(counter.clone());
    let mut cx = Context::from_waker(&waker);

    let chan = TChan::new();
    let mut heard = chan.subscribe().into_stream();
    assert!(Pin::new(&mut heard).poll_next(&mut cx).is_pending());
    thread::scope(|s| {
        s.spawn(|| chan.put("hi").unwrap());
    });
    assert!(counter.0.load(Ordering::SeqCst) >= 1);
    assert_eq!(
        Pin::new(&mut heard).poll_next(&mut cx),
        Poll::Ready(Some("hi"))
    );

    let q = TBQueue::new(1);
    let mut taken = q.stream();
    assert!(Pin::new(&mut taken).poll_next(&mut cx).is_pending());
    let before = counter.0.load(Ordering::SeqCst);
    thread::scope(|s| {
        s.spawn(|| q.put(1).unwrap());
    });
    assert!(counter.0.load(Ordering::SeqCst) > before);
    assert_eq!(
        Pin::new(&mut taken).poll_next(&mut cx),
        Poll::Ready(Some(1))
    );
}

#[test]
fn dropping_a_waiting_stream_takes_nothing() {
    let q = TQueue::new();
    {
        let mut stream = q.stream();
        let mut next = pin!(stream.next());
        assert!(next
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
            .is_pending());
    }
    q.put("kept").unwrap();
    assert_eq!(q.get(), Some("kept"));

    // A stream dropped mid-way leaves the rest for the next consumer.
    ["0", "1", "2", "3"]
        .into_iter()
        .for_each(|n| q.put(n).unwrap());
    let mut first = q.stream();
    let mut scheduler = Scheduler::new();
    assert_eq!(scheduler.block_on(first.next()).unwrap(), Some("0"));
    drop(first);
    atomically(|tx| q.close(tx));
    assert_eq!(q.iter().collect::<Vec<_>>(), ["1", "2", "3"]);
}
