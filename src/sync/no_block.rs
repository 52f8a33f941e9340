//! Threads that must not block: a Pool worker runs many tasks, so a task that parks the
//! worker (a blocking `atomically` waiting in `retry`) stalls every task queued behind it,
//! and with one worker, the very task that would wake it: a hang with no message. The
//! worker marks its thread here; blocking calls below the executor (the STM) ask before
//! they sleep and panic with a way out instead. (tokio panics the same way when
//! `block_on` runs inside its runtime.)

use std::cell::Cell;

use crate::sync::thread_local;

thread_local! {
    /// What this thread is, when it must not block: named in the panic message.
    static FORBIDDEN: Cell<Option<&'static str>> = const { Cell::new(None) };
}

/// Marks this thread as one that must not block, described as `what`, until the guard
/// drops.
pub(crate) fn forbid_here(what: &'static str) -> impl Drop {
    struct Reset(Option<&'static str>);
    impl Drop for Reset {
        fn drop(&mut self) {
            // `try_with`: the guard may drop while the thread's locals are being torn down.
            let _ = FORBIDDEN.try_with(|forbidden| forbidden.set(self.0));
        }
    }
    Reset(FORBIDDEN.with(|forbidden| forbidden.replace(Some(what))))
}

/// What this thread is if it must not block, or `None` if it may.
pub(crate) fn forbidden() -> Option<&'static str> {
    FORBIDDEN
        .try_with(|forbidden| forbidden.get())
        .ok()
        .flatten()
}
