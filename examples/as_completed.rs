//! PEP 3148's ThreadPoolExecutor example, ported: load several "URLs" at once, each with a
//! timeout, and handle the results in the order they complete. Run it with
//! `cargo run --release --example as_completed`.
//!
//! ```python
//! with ThreadPoolExecutor(max_workers=5) as executor:
//!     future_to_url = {executor.submit(load_url, url, 60): url for url in URLS}
//!     for future in as_completed(future_to_url):
//!         url = future_to_url[future]
//!         try:
//!             data = future.result()
//!         except Exception as exc:
//!             print('%r generated an exception: %s' % (url, exc))
//!         else:
//!             print('%r page is %d bytes' % (url, len(data)))
//! ```
//!
//! There is no network here: a "download" is a sleep of the URL's latency, so the order
//! is known and checked. The slow one runs out of time; the broken one panics.

use std::time::Duration;

use braid::exec::Pool;
use braid::time::{sleep, timeout, Elapsed};
use braid::JoinSet;

/// (url, latency in ms, page size); a size of 0 is a server that crashes.
const URLS: [(&str, u64, usize); 5] = [
    ("http://www.foxnews.com/", 40, 92_000),
    ("http://www.cnn.com/", 10, 120_000),
    ("http://europe.wsj.com/", 30, 0),
    ("http://www.bbc.co.uk/", 20, 300_000),
    ("http://some-made-up-domain.com/", 5_000, 1),
];

/// Loads `url`, giving up after `limit`.
async fn load_url(latency_ms: u64, size: usize, limit: Duration) -> Result<Vec<u8>, Elapsed> {
    timeout(limit, async move {
        sleep(Duration::from_millis(latency_ms)).await; // the network
        assert!(size > 0, "connection reset by peer");
        vec![0u8; size]
    })
    .await
}

fn main() {
    let pool = Pool::new(5);
    let mut futures: JoinSet<(&str, Result<Vec<u8>, Elapsed>)> = URLS
        .iter()
        .map(|&(url, latency, size)| {
            pool.spawn(async move {
                (
                    url,
                    load_url(latency, size, Duration::from_millis(100)).await,
                )
            })
        })
        .collect();

    let mut report = Vec::new();
    while let Some(done) = futures.join_next_blocking() {
        let line = match done {
            Ok((url, Ok(page))) => format!("{url:?} page is {} bytes", page.len()),
            Ok((url, Err(elapsed))) => format!("{url:?} gave up: {elapsed}"),
            // A panic is the task's; its message says which server broke.
            Err(error) => format!("a download generated an exception: {error}"),
        };
        println!("{line}");
        report.push(line);
    }
    assert_eq!(report.len(), URLS.len(), "every future came back");
    // The pages in the order their latencies say. (Where the panic lands depends on how
    // long the panic hook takes to print: with a backtrace under RUST_BACKTRACE, long.)
    let pages: Vec<&str> = report
        .iter()
        .filter(|line| line.contains("page is"))
        .map(|line| line.split('"').nth(1).unwrap())
        .collect();
    assert_eq!(
        pages,
        [
            "http://www.cnn.com/",
            "http://www.bbc.co.uk/",
            "http://www.foxnews.com/"
        ]
    );
    let said = |a: &str, b: &str| {
        report
            .iter()
            .any(|line| line.contains(a) && line.contains(b))
    };
    assert!(said("exception", "connection reset by peer"));
    assert!(said("made-up-domain", "deadline has elapsed"));

    // `with ThreadPoolExecutor(...)` waits for everything on exit: here, explicitly.
    assert!(pool.shutdown_timeout(Duration::from_secs(5)));
    println!("in completion order, the slow one timed out, and the pool shut down cleanly");
}
