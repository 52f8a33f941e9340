//! Threads for work that blocks (file I/O, a C library call, a long `sleep`), kept apart
//! from the workers so that blocking never stalls the tasks queued behind it. Threads are
//! started on demand up to a bound and exit after a while without work.

use std::collections::VecDeque;
use std::time::Duration;

use crate::sync::{lock, thread, Condvar, Mutex};
use crate::task::TaskRef;

/// How long an idle blocking thread waits for work before it exits. (Short in unit tests,
/// which watch threads exit.)
const KEEP_ALIVE: Duration = if cfg!(test) {
    Duration::from_millis(20)
} else {
    Duration::from_secs(10)
};

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
    /// Threads started and not joined yet, by id.
    handles: Vec<(u64, thread::JoinHandle<()>)>,
    /// Ids of threads that left their loop after idling too long. A thread cannot join
    /// itself, and one that exits unjoined keeps its stack until someone does, so the
    /// next thread to start joins these (a pool that saw bursts of blocking work would
    /// otherwise keep a handle, and a stack, per thread it ever started).
    exited: Vec<u64>,
    next_id: u64,
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
                exited: Vec::new(),
                next_id: 0,
            }),
            condvar: Condvar::new(),
            max_threads,
        }
    }

    /// Queues a blocking task, starting a thread when none is idle and the bound allows:
    /// `start(id)` starts one that runs [`run`](Self::run)`(id)`. At the bound, the task
    /// waits for a thread to come free.
    pub(crate) fn push(
        &self,
        task: TaskRef,
        start: impl FnOnce(u64) -> std::io::Result<thread::JoinHandle<()>>,
    ) {
        let this = self;
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
            let id = state.next_id;
            state.next_id += 1;
            match start(id) {
                Ok(handle) => state.handles.push((id, handle)),
                Err(error) => {
                    state.threads -= 1;
                    if state.threads == 0 {
                        panic!("braid: cannot start a blocking thread: {error}");
                    }
                }
            }
            let exited = state.take_exited();
            drop(state);
            // Outside the lock: each has left its loop and only has to return.
            for handle in exited {
                let _ = handle.join();
            }
        }
    }

    /// The loop of blocking thread `id`: runs queued tasks, and exits after `KEEP_ALIVE`
    /// without any, or at shutdown.
    pub(crate) fn run(&self, id: u64) {
        let this = self;
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
                state.exited.push(id);
                break;
            }
        }
        state.threads -= 1;
    }

    /// Stops taking work, lets running jobs finish, joins the threads (when `join`; else
    /// they exit on their own) and drops what is still queued (those tasks were cancelled
    /// already). Called on one of these threads, `join` must be false: a thread cannot
    /// join itself, and the job that called this is still running.
    pub(crate) fn shutdown(&self, join: bool) {
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
        if join {
            for (_, handle) in handles {
                let _ = handle.join();
            }
        }
    }
}

impl State {
    /// The handles of the threads that have exited on their own, removed from `handles`.
    fn take_exited(&mut self) -> Vec<thread::JoinHandle<()>> {
        if self.exited.is_empty() {
            return Vec::new();
        }
        let exited = std::mem::take(&mut self.exited);
        let mut joinable = Vec::with_capacity(exited.len());
        let mut i = 0;
        while i < self.handles.len() {
            if exited.contains(&self.handles[i].0) {
                joinable.push(self.handles.swap_remove(i).1);
            } else {
                i += 1;
            }
        }
        joinable
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use crate::exec::Pool;
    use crate::sync::lock;
    use std::time::{Duration, Instant};

    #[test]
    fn threads_that_exit_when_idle_are_joined_by_the_next_start() {
        let pool = Pool::builder().workers(1).build();
        let handles = || lock(&pool.shared.blocking.state).handles.len();
        for round in 0..5 {
            pool.block_on(pool.spawn_blocking(|| ())).unwrap();
            assert_eq!(
                handles(),
                1,
                "round {round}: one thread started, none left over"
            );
            // Let the thread idle past its keep-alive and exit.
            let deadline = Instant::now() + Duration::from_secs(10);
            while lock(&pool.shared.blocking.state).threads > 0 {
                assert!(
                    Instant::now() < deadline,
                    "the idle blocking thread never exited"
                );
                std::thread::sleep(super::KEEP_ALIVE);
            }
        }
    }
}
