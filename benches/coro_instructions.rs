//! Instructions per item for `benches/coro.rs`'s generator workloads, braid beside its
//! peers, for `valgrind --tool=callgrind` (exact and repeatable where wall-clock times on
//! a shared machine are not). Each workload is its bench's shape (the generator made and
//! drained in one function) and runs `N` items:
//!
//! ```text
//! cargo bench --bench coro_instructions --no-run    # prints the binary's path
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null BINARY braid_yield 200000
//! ```
//!
//! Instructions per item are the difference between runs of `2N` and `N` items, over `N`.
//! Run by `cargo bench` (with its `--bench` flag), it does nothing.

use std::hint::black_box;

#[path = "common/drive.rs"]
mod drive;
use drive::{block_on, next};

#[inline(never)]
fn braid_yield(n: u64) -> u64 {
    let counter = braid::coro::Generator::new(move |co| async move {
        for i in 0..n {
            co.yield_(i).await;
        }
    });
    counter.map(black_box).sum()
}

/// `braid_yield` with the clock read around the drain, as `benches/coro.rs` does.
#[inline(never)]
fn braid_yield_timed(n: u64) -> u64 {
    let counter = braid::coro::Generator::new(move |co| async move {
        for i in 0..n {
            co.yield_(i).await;
        }
    });
    let start = std::time::Instant::now();
    let sum: u64 = counter.map(black_box).sum();
    black_box(start.elapsed());
    sum
}

#[inline(never)]
fn rc_yield(n: u64) -> u64 {
    let counter = genawaiter::rc::Gen::new(move |co| async move {
        for i in 0..n {
            co.yield_(i).await;
        }
    });
    counter.into_iter().map(black_box).sum()
}

#[inline(never)]
fn stack_yield(n: u64) -> u64 {
    let mut shelf = genawaiter::stack::Shelf::new();
    // SAFETY (genawaiter's contract): the body's `Co` never leaves the body.
    let mut counter = unsafe {
        genawaiter::stack::Gen::new(&mut shelf, move |co| async move {
            for i in 0..n {
                co.yield_(i).await;
            }
        })
    };
    (&mut counter).into_iter().map(black_box).sum()
}

#[inline(never)]
fn braid_send(n: u64) -> u64 {
    use braid::coro::GeneratorState as S;
    let mut summer = braid::coro::Generator::new(|co| async move {
        let mut sum = 0u64;
        loop {
            let x: u64 = co.yield_(sum).await;
            sum += x;
        }
    });
    summer.start();
    let mut last = 0;
    for i in 0..n {
        if let S::Yielded(sum) = summer.resume(black_box(i)) {
            last = sum;
        }
    }
    last
}

#[inline(never)]
fn rc_send(n: u64) -> u64 {
    use genawaiter::GeneratorState as S;
    let mut summer = genawaiter::rc::Gen::new(|co| async move {
        let mut sum = 0u64;
        loop {
            let x: u64 = co.yield_(sum).await;
            sum += x;
        }
    });
    summer.resume_with(0);
    let mut last = 0;
    for i in 0..n {
        if let S::Yielded(sum) = summer.resume_with(black_box(i)) {
            last = sum;
        }
    }
    last
}

#[inline(never)]
fn stack_send(n: u64) -> u64 {
    use genawaiter::GeneratorState as S;
    let mut shelf = genawaiter::stack::Shelf::new();
    // SAFETY (genawaiter's contract): the body's `Co` never leaves the body.
    let mut summer = unsafe {
        genawaiter::stack::Gen::new(&mut shelf, |co| async move {
            let mut sum = 0u64;
            loop {
                let x: u64 = co.yield_(sum).await;
                sum += x;
            }
        })
    };
    summer.resume_with(0);
    let mut last = 0;
    for i in 0..n {
        if let S::Yielded(sum) = summer.resume_with(black_box(i)) {
            last = sum;
        }
    }
    last
}

/// Drains an iterator in a function of its own that is not inlined, as a consumer in
/// another module would: nothing of the generator's state can stay in registers.
#[inline(never)]
fn sum_apart(items: &mut dyn Iterator<Item = u64>) -> u64 {
    let mut sum = 0;
    for x in items {
        sum += black_box(x);
    }
    sum
}

#[inline(never)]
fn braid_yield_apart(n: u64) -> u64 {
    let mut counter = braid::coro::Generator::new(move |co| async move {
        for i in 0..n {
            co.yield_(i).await;
        }
    });
    sum_apart(&mut counter)
}

#[inline(never)]
fn rc_yield_apart(n: u64) -> u64 {
    let counter = genawaiter::rc::Gen::new(move |co| async move {
        for i in 0..n {
            co.yield_(i).await;
        }
    });
    sum_apart(&mut counter.into_iter())
}

/// Drains a stream through `poll_next` in a function that is not inlined.
#[inline(never)]
fn sum_stream_apart(stream: std::pin::Pin<&mut dyn braid::coro::Stream<Item = u64>>) -> u64 {
    block_on(async move {
        let mut stream = stream;
        let mut sum = 0;
        while let Some(x) = next(stream.as_mut()).await {
            sum += black_box(x);
        }
        sum
    })
}

#[inline(never)]
fn braid_async_apart(n: u64) -> u64 {
    let numbers = braid::coro::AsyncGenerator::new(|co| async move {
        for i in 0..black_box(n) {
            co.yield_(i).await;
        }
    });
    sum_stream_apart(std::pin::pin!(numbers))
}

#[inline(never)]
fn stream_async_apart(n: u64) -> u64 {
    let numbers = async_stream::stream! {
        for i in 0..black_box(n) {
            yield i;
        }
    };
    sum_stream_apart(std::pin::pin!(numbers))
}

#[inline(never)]
fn braid_async(n: u64) -> u64 {
    block_on(async {
        let mut numbers = braid::coro::AsyncGenerator::new(|co| async move {
            for i in 0..black_box(n) {
                co.yield_(i).await;
            }
        });
        let mut sum = 0;
        while let Some(x) = numbers.next().await {
            sum += black_box(x);
        }
        sum
    })
}

#[inline(never)]
fn stream_async(n: u64) -> u64 {
    block_on(async {
        let numbers = async_stream::stream! {
            for i in 0..black_box(n) {
                yield i;
            }
        };
        let mut numbers = std::pin::pin!(numbers);
        let mut sum = 0;
        while let Some(x) = next(numbers.as_mut()).await {
            sum += black_box(x);
        }
        sum
    })
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(workload), Some(n)) = (args.get(1), args.get(2)) else {
        return;
    };
    if workload.starts_with("--") {
        return; // run by `cargo bench`: these are not timed benches
    }
    let n: u64 = n.parse().expect("N, the number of items");
    let r = match workload.as_str() {
        "braid_yield" => braid_yield(n),
        "rc_yield" => rc_yield(n),
        "stack_yield" => stack_yield(n),
        "braid_send" => braid_send(n),
        "rc_send" => rc_send(n),
        "stack_send" => stack_send(n),
        "braid_async" => braid_async(n),
        "stream_async" => stream_async(n),
        "braid_yield_apart" => braid_yield_apart(n),
        "braid_yield_timed" => braid_yield_timed(n),
        "rc_yield_apart" => rc_yield_apart(n),
        "braid_async_apart" => braid_async_apart(n),
        "stream_async_apart" => stream_async_apart(n),
        w => panic!(
            "unknown workload {w}: braid_yield, braid_yield_timed, rc_yield, stack_yield, braid_send, rc_send, \
             stack_send, braid_async, stream_async, braid_yield_apart, rc_yield_apart, \
             braid_async_apart, stream_async_apart"
        ),
    };
    println!("{r}");
}
