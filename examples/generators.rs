//! Python's generator idioms, side by side with braid's.
//!
//! `cargo run --release --example generators`
//!
//! 1. A pipeline of generators over borrowed data (PEP 255, David Beazley's "Generator
//!    Tricks for Systems Programmers").
//! 2. A `send`-driven running average (PEP 342).
//! 3. `throw` and `close` (PEP 342).
//! 4. `yield from` (PEP 380), with the return value.

use std::future::Future;

use braid::coro::{Co, Generator, GeneratorState};

const LOG: &str = "\
GET /index.html 200 1043
GET /missing 404 0
POST /upload 201 52211
GET /big.iso 200 734003200
GET /favicon.ico 404 0";

/// ```python
/// def fields(lines):
///     for line in lines:
///         yield line.split()
/// ```
/// The generator borrows `log`: no copy of the text is made.
fn fields<'a>(log: &'a str) -> impl Iterator<Item = Vec<&'a str>> + 'a {
    Generator::new(move |co: Co<Vec<&'a str>>| async move {
        for line in log.lines() {
            co.yield_(line.split_whitespace().collect()).await;
        }
    })
}

/// ```python
/// def bytes_sent(rows):
///     for row in rows:
///         if row[2] != "404":
///             yield int(row[3])
/// ```
fn bytes_sent<'a>(rows: impl Iterator<Item = Vec<&'a str>> + 'a) -> impl Iterator<Item = u64> + 'a {
    Generator::new(move |co: Co<u64>| async move {
        for row in rows {
            if row[2] != "404" {
                co.yield_(row[3].parse().unwrap()).await;
            }
        }
    })
}

fn pipeline() {
    println!("1. A pipeline over borrowed text: sum(bytes_sent(fields(log)))");
    let total: u64 = bytes_sent(fields(LOG)).sum();
    assert_eq!(total, 734_056_454);
    println!("   {total} bytes sent by the requests that did not 404");
}

fn running_average() {
    println!("\n2. send(): a running average");
    // ```python
    // def averager():
    //     total, count, average = 0.0, 0, None
    //     while True:
    //         value = yield average
    //         total += value; count += 1
    //         average = total / count
    // avg = averager(); next(avg); avg.send(10)
    // ```
    let mut average = Generator::new(|co| async move {
        let (mut total, mut count) = (0.0, 0.0);
        let mut average: Option<f64> = None;
        loop {
            let value: f64 = co.yield_(average).await;
            total += value;
            count += 1.0;
            average = Some(total / count);
        }
    });
    assert_eq!(average.start(), GeneratorState::Yielded(None)); // next(avg)
    for value in [10.0, 30.0, 5.0] {
        let GeneratorState::Yielded(Some(mean)) = average.resume(value) else {
            unreachable!("the averager never returns")
        };
        println!("   send({value}) -> {mean:.2}");
    }
}

/// Prints when dropped: stands for a file or a socket the body holds open.
struct Resource(&'static str);

impl Drop for Resource {
    fn drop(&mut self) {
        println!("   ({} closed: the body's `finally` ran)", self.0);
    }
}

fn throw_and_close() {
    println!("\n3. throw() and close()");
    // ```python
    // def reader():
    //     f = open("data")
    //     try:
    //         n = 0
    //         while True:
    //             try:
    //                 yield n; n += 1
    //             except Rewind:
    //                 n = 0
    //     finally:
    //         f.close()
    // ```
    // The resume type is a `Result`: `throw(e)` makes the suspended yield return `Err(e)`.
    let mut reader = Generator::new(|co| async move {
        let _file = Resource("data");
        let mut n = 0;
        loop {
            match co.yield_(n).await {
                Ok(()) => n += 1,
                Err("rewind") => n = 0,
                Err(other) => panic!("unexpected {other}"),
            }
        }
    });
    let mut read = Vec::new();
    let mut state = reader.start(); // next(reader)
    for _ in 0..3 {
        if let GeneratorState::Yielded(n) = state {
            read.push(n);
        }
        state = reader.resume(Ok(()));
    }
    println!("   read {read:?}");
    let after_rewind = reader.throw("rewind");
    assert_eq!(after_rewind, GeneratorState::Yielded(0));
    println!("   throw(\"rewind\") -> {after_rewind:?}");
    reader.close();
    assert!(reader.is_complete());
    println!("   close(): complete = {}", reader.is_complete());
}

/// ```python
/// def chunk(name, n):
///     for i in range(n):
///         yield f"{name}{i}"
///     return n
/// ```
fn chunk(name: &'static str, n: u32) -> Generator<String, (), u32, impl Future<Output = u32>> {
    Generator::new(move |co| async move {
        for i in 0..n {
            co.yield_(format!("{name}{i}")).await;
        }
        n
    })
}

fn yield_from() {
    println!("\n4. yield from, and the return value (StopIteration.value)");
    // ```python
    // def both():
    //     a = yield from chunk("a", 2)
    //     b = yield from chunk("b", 3)
    //     return a + b
    // ```
    let mut both = Generator::new(|co| async move {
        let a = co.yield_from(chunk("a", 2)).await;
        let b = co.yield_from(chunk("b", 3)).await;
        a + b
    });
    let mut seen = Vec::new();
    let returned = loop {
        match both.resume(()) {
            GeneratorState::Yielded(item) => seen.push(item),
            GeneratorState::Complete(count) => break count,
        }
    };
    assert_eq!(seen, ["a0", "a1", "b0", "b1", "b2"]);
    println!("   yielded {seen:?}, then returned {returned}");
}

fn main() {
    pipeline();
    running_average();
    throw_and_close();
    yield_from();
}
