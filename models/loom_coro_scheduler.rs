#![cfg(loom)]
//! The Scheduler going to sleep races a wake-up from another thread: the wake is never
//! lost (the run finishes), and the deadlock check does not fire while another thread
//! holds the waker.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use braid::coro::Scheduler;
use loom::sync::atomic::{AtomicBool, Ordering};
use loom::sync::{Arc, Mutex};
use loom::thread;

/// Pending until `open` is called; the waker lives here, outside the scheduler.
#[derive(Clone)]
struct Gate(Arc<(AtomicBool, Mutex<Option<Waker>>)>);

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

#[test]
fn a_wake_from_another_thread_while_the_scheduler_falls_asleep_is_not_lost() {
    loom::model(|| {
        let gate = Gate(Arc::new((AtomicBool::new(false), Mutex::new(None))));
        let opener = {
            let gate = gate.clone();
            thread::spawn(move || {
                gate.0 .0.store(true, Ordering::SeqCst);
                if let Some(waker) = gate.0 .1.lock().unwrap().take() {
                    waker.wake();
                }
            })
        };
        let mut scheduler = Scheduler::new();
        let task = scheduler.spawn(gate);
        scheduler
            .run()
            .expect("another thread holds the waker: no deadlock");
        assert!(task.is_finished());
        opener.join().unwrap();
    });
}
