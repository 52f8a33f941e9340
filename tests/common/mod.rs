//! Code shared by the integration tests (and, through `#[path]`, the fuzz target).
#![allow(dead_code)]

pub mod counted;
pub mod program;

/// The message of a caught panic, whether it was raised with a `String` or a `&str`.
pub fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// Runs `f` with the default panic hook silenced (for tests whose panics are expected).
pub fn quietly<R>(f: impl FnOnce() -> R) -> R {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = f();
    std::panic::set_hook(hook);
    result
}
