//! Threads for work that blocks (file I/O, a C library call, a long `sleep`), kept apart
//! from the workers so that blocking never stalls the tasks queued behind it. Threads are
//! started on demand up to a bound and exit after a while without work.

use std::collections::VecDeque;
use std::ptr::NonNull;
use std::time::Duration;

use super::worker::Shared;
use crate::sync::{lock, thread, Arc, Condvar, Mutex};
use crate::task::{Header, Schedule, TaskRef};

/// How long an idle blocking thread waits for work before it exits.
const KEEP_ALIVE: Duration = Duration::from_secs(10);

pub(crate) struct Blocking {
    state: Mutex<State>,
    condvar: Condvar,
    max_threads: usize,
}

struct State {
    queue: VecDeque<TaskRef>,
    threads: usize,
    idle: usize,
    shutdown: bool,
    handles: Vec<thread::JoinHandle<()>>,
}

/// The scheduler a blocking task carries: its pool's shared state.
pub(crate) struct BlockingSchedule(pub(crate) Arc<Shared>);

impl Schedule for BlockingSchedule {
    fn schedule(&self, task: TaskRef) {
        Blocking::push(&self.0, task);
    }

    fn release(&self, task: NonNull<Header>) -> Option<TaskRef> {
        self.0.tasks.remove(task)
    }
}

impl Blocking {
    pub(crate) fn new(max_threads: usize) -> Blocking {
        Blocking {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                threads: 0,
                idle: 0,
                shutdown: false,
                handles: Vec::new(),
            }),
            condvar: Condvar::new(),
            max_threads,
        }
    }

    /// Queues a blocking task, starting a thread when none is idle and the bound allows.
    /// At the bound, the task waits for a thread to come free.
    pub(crate) fn push(shared: &Arc<Shared>, task: TaskRef) {
        let this = &shared.blocking;
        let mut state = lock(&this.state);
        if state.shutdown {
            // The pool is gone: the task was cancelled with the others; drop the entry.
            return;
        }
        state.queue.push_back(task);
        if state.idle > 0 {
            drop(state);
            this.condvar.notify_one();
            return;
        }
        if state.threads < this.max_threads {
            state.threads += 1;
            let shared = shared.clone();
            let spawned = thread::Builder::new()
                .name("braid-blocking".into())
                .spawn(move || Blocking::run(&shared));
            match spawned {
                Ok(handle) => state.handles.push(handle),
                Err(error) => {
                    state.threads -= 1;
                    if state.threads == 0 {
                        panic!("braid: cannot start a blocking thread: {error}");
                    }
                }
            }
        }
    }

    fn run(shared: &Arc<Shared>) {
        let this = &shared.blocking;
        let mut state = lock(&this.state);
        loop {
            if let Some(task) = state.queue.pop_front() {
                drop(state);
                task.run();
                state = lock(&this.state);
                continue;
            }
            if state.shutdown {
                break;
            }
            state.idle += 1;
            let (next, timeout) = this
                .condvar
                .wait_timeout(state, KEEP_ALIVE)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            state = next;
            state.idle -= 1;
            if timeout.timed_out() && state.queue.is_empty() && !state.shutdown {
                break;
            }
        }
        state.threads -= 1;
    }

    /// Stops taking work, lets running jobs finish, joins the threads and drops what is
    /// still queued (those tasks were cancelled already).
    pub(crate) fn shutdown(&self) {
        let (handles, queued) = {
            let mut state = lock(&self.state);
            state.shutdown = true;
            (
                std::mem::take(&mut state.handles),
                std::mem::take(&mut state.queue),
            )
        };
        self.condvar.notify_all();
        drop(queued);
        for handle in handles {
            let _ = handle.join();
        }
    }
}
