//! What the generator benches drive async generators with, shared by `coro.rs` (timed by
//! criterion) and `coro_instructions.rs` (counted by callgrind), so both measure the same
//! shapes.

/// The plainest `block_on`: polls on this thread with a no-op waker until ready (neither
/// generator here ever waits on anything but its own yields).
#[inline]
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(value) = future.as_mut().poll(&mut cx) {
            return value;
        }
        std::hint::spin_loop();
    }
}

/// `StreamExt::next` without the `futures` crate: the next item of a pinned stream.
pub fn next<S: braid::coro::Stream + ?Sized>(
    stream: std::pin::Pin<&mut S>,
) -> impl std::future::Future<Output = Option<S::Item>> + '_ {
    let mut stream = stream;
    std::future::poll_fn(move |cx| stream.as_mut().poll_next(cx))
}
