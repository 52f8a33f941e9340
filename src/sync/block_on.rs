//! Waiting for a future on this thread: the seam below both `task` (whose
//! `JoinHandle::join` blocks) and `exec` (whose workers must not sleep while there is
//! work), so neither has to import the other.
//!
//! A thread that can do useful work while it waits (a Pool worker) registers itself as
//! this thread's [`Helper`]: `block_on` then runs the helper's other work between polls
//! and wakes it through the helper's unparker. Any other thread parks between polls.

use std::cell::Cell;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll};

use crate::sync::atomic::{AtomicBool, Ordering};
use crate::sync::park::Parker;
use crate::sync::{thread_local, waker_fn, Arc};

/// A thread that runs other work while it waits (a Pool worker).
pub(crate) trait Helper {
    /// Something that wakes this thread from another, for a waker.
    fn unparker(&self) -> Box<dyn Fn() + Send + Sync>;
    /// Runs other work until `done()`, sleeping (through the unparker's parker) when
    /// there is none.
    fn help_until(&self, done: &dyn Fn() -> bool);
}

thread_local! {
    /// This thread's helper, while it is registered (`help_here`).
    static HELPER: Cell<Option<*const dyn Helper>> = const { Cell::new(None) };
}

/// Registers `helper` as this thread's helper until the guard drops.
///
/// # Safety
/// `helper` outlives the guard (the guard is dropped before it).
pub(crate) unsafe fn help_here<H: Helper + 'static>(helper: &H) -> impl Drop {
    struct Reset(Option<*const dyn Helper>);
    impl Drop for Reset {
        fn drop(&mut self) {
            let _ = HELPER.try_with(|slot| slot.set(self.0));
        }
    }
    // The caller keeps `helper` alive while it is registered; the guard unregisters it.
    let erased: *const dyn Helper = helper as *const H;
    Reset(HELPER.with(|slot| slot.replace(Some(erased))))
}

/// Runs `f` with this thread's helper, if it has one.
pub(crate) fn with_helper<R>(f: impl FnOnce(Option<&dyn Helper>) -> R) -> R {
    let helper = HELPER.try_with(|slot| slot.get()).ok().flatten();
    // SAFETY: a registered helper is alive until its guard unregisters it (`help_here`).
    f(helper.map(|helper| unsafe { &*helper }))
}

/// Polls `future` to completion on this thread: with a helper, running its other work
/// while the future waits; otherwise parking between wake-ups.
pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    with_helper(|helper| match helper {
        Some(helper) => {
            let woken = Arc::new(AtomicBool::new(true));
            let waker = {
                let (woken, unpark) = (woken.clone(), helper.unparker());
                waker_fn(move || {
                    // Release: pairs with the Acquire swap below.
                    woken.store(true, Ordering::Release);
                    unpark();
                })
            };
            let mut cx = Context::from_waker(&waker);
            loop {
                if woken.swap(false, Ordering::Acquire) {
                    if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
                        return output;
                    }
                }
                helper.help_until(&|| woken.load(Ordering::Acquire));
            }
        }
        None => {
            let parker = Arc::new(Parker::new());
            let waker = {
                let parker = parker.clone();
                waker_fn(move || parker.unpark())
            };
            let mut cx = Context::from_waker(&waker);
            loop {
                if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
                    return output;
                }
                parker.park();
            }
        }
    })
}
