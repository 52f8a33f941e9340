//! A future that stays pending until another thread opens it. The waker it is given lives
//! here, outside any executor, like a waker held by an I/O source or a channel.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use loom::sync::atomic::{AtomicBool, Ordering};
use loom::sync::{Arc, Mutex};

#[derive(Clone)]
pub struct Gate(Arc<(AtomicBool, Mutex<Option<Waker>>)>);

impl Gate {
    pub fn new() -> Gate {
        Gate(Arc::new((AtomicBool::new(false), Mutex::new(None))))
    }

    /// Opens the gate from a new thread, racing whatever this thread does next.
    #[allow(dead_code)] // not every model that shares this file uses it
    pub fn open_from_another_thread(&self) -> loom::thread::JoinHandle<()> {
        let gate = self.clone();
        loom::thread::spawn(move || gate.open())
    }

    pub fn open(&self) {
        self.0 .0.store(true, Ordering::SeqCst);
        if let Some(waker) = self.0 .1.lock().unwrap().take() {
            waker.wake();
        }
    }
}

impl Future for Gate {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        *self.0 .1.lock().unwrap() = Some(cx.waker().clone());
        if self.0 .0.load(Ordering::SeqCst) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}
