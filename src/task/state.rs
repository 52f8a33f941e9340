//! A task's state word: who may touch the future, whether it is queued, finished or
//! cancelled, whether a `JoinHandle` still wants the output, and how many references to
//! the task's allocation exist. One atomic, so every transition is a single CAS.
//!
//! The rules the bits encode:
//! - `RUNNING`: one thread owns the future (polls it, or drops it to cancel). Only the
//!   owner of `RUNNING` touches the stage before `COMPLETE` is set. On an executor that
//!   keeps a yielding task `RUNNING` (`Schedule::KEEP_RUNNING_ON_YIELD`), the task's queue
//!   entry holds it while queued, and the next poll needs no transition.
//! - `NOTIFIED`: a wake-up is pending: the task is in a run queue, or the thread that owns
//!   `RUNNING` will queue it again when the poll ends. At most one queue entry exists.
//! - `COMPLETE`: the stage holds the output (or the cancellation) for the `JoinHandle`.
//! - `CANCELLED`: an abort was asked for; the next owner of `RUNNING` drops the future.
//! - `JOIN_INTEREST`: a `JoinHandle` exists. While it is set and `COMPLETE` is set, only
//!   the handle touches the stage.
//! - `JOIN_WAKER`: the join-waker slot holds a waker that the completing thread may read.
//!   Only the handle writes the slot, and only while this bit is clear.
//! - the bits above are a reference count; the allocation is freed when it reaches zero.

use std::fmt;

use crate::sync::atomic::{AtomicUsize, Ordering};

const RUNNING: usize = 1 << 0;
const COMPLETE: usize = 1 << 1;
const NOTIFIED: usize = 1 << 2;
const CANCELLED: usize = 1 << 3;
const JOIN_INTEREST: usize = 1 << 4;
const JOIN_WAKER: usize = 1 << 5;
const REF_SHIFT: u32 = 6;
const REF_ONE: usize = 1 << REF_SHIFT;

/// A decoded state word. The atomic is [`StateCell`]; this is a value.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct State(usize);

impl State {
    pub(crate) const fn is_running(self) -> bool {
        self.0 & RUNNING != 0
    }
    pub(crate) const fn is_complete(self) -> bool {
        self.0 & COMPLETE != 0
    }
    pub(crate) const fn is_notified(self) -> bool {
        self.0 & NOTIFIED != 0
    }
    pub(crate) const fn is_cancelled(self) -> bool {
        self.0 & CANCELLED != 0
    }
    pub(crate) const fn has_join_interest(self) -> bool {
        self.0 & JOIN_INTEREST != 0
    }
    pub(crate) const fn has_join_waker(self) -> bool {
        self.0 & JOIN_WAKER != 0
    }
    pub(crate) const fn ref_count(self) -> usize {
        self.0 >> REF_SHIFT
    }
    const fn is_idle(self) -> bool {
        self.0 & (RUNNING | COMPLETE) == 0
    }
}

impl fmt::Debug for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("State")
            .field("running", &self.is_running())
            .field("complete", &self.is_complete())
            .field("notified", &self.is_notified())
            .field("cancelled", &self.is_cancelled())
            .field("join_interest", &self.has_join_interest())
            .field("join_waker", &self.has_join_waker())
            .field("refs", &self.ref_count())
            .finish()
    }
}

/// What the thread that popped a queued task should do with it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ToRunning {
    /// Poll the future.
    Poll,
    /// An abort came in while the task was queued: drop the future, complete as cancelled.
    Cancel,
    /// Someone else finished or cancelled the task: just drop the queue's reference.
    Gone,
}

/// What the poller should do after a poll returned `Pending`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ToIdle {
    /// Nothing: the poller's reference is dropped, a later wake queues the task.
    Idle,
    /// A wake arrived during the poll: queue the task again, reusing the poller's reference.
    Notified,
    /// An abort arrived during the poll: drop the future now.
    Cancel,
}

/// What a wake-up should do.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Wake {
    /// Queue the task; the caller's reference (or a new one, for a wake by reference)
    /// now belongs to the queue entry.
    Schedule,
    /// Already queued, running (the poller requeues it) or finished.
    Nothing,
}

/// The atomic state word.
pub(crate) struct StateCell(AtomicUsize);

impl StateCell {
    /// A new task: queued once, with a `JoinHandle`, and `refs` references (one per owner:
    /// queue entry, handle, the executor's list of live tasks).
    pub(crate) fn new(refs: usize) -> StateCell {
        StateCell(AtomicUsize::new(
            NOTIFIED | JOIN_INTEREST | (refs * REF_ONE),
        ))
    }

    pub(crate) fn load(&self) -> State {
        State(self.0.load(Ordering::Acquire))
    }

    /// Applies `f` until the CAS succeeds. `f` returns the new word (or `None` to stop)
    /// and a result. Acquire/Release: each transition publishes the stage writes made
    /// under the previous state and sees those of the thread that made it.
    fn update<R>(&self, mut f: impl FnMut(State) -> (Option<usize>, R)) -> R {
        let mut current = self.0.load(Ordering::Acquire);
        loop {
            let (next, result) = f(State(current));
            let Some(next) = next else { return result };
            match self
                .0
                .compare_exchange_weak(current, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return result,
                Err(actual) => current = actual,
            }
        }
    }

    /// A queued task is about to run: take `RUNNING`, clear `NOTIFIED`.
    pub(crate) fn to_running(&self) -> ToRunning {
        self.update(|s| {
            if !s.is_idle() {
                debug_assert!(s.is_complete(), "a queued task was already running: {s:?}");
                return (None, ToRunning::Gone);
            }
            let next = (s.0 & !NOTIFIED) | RUNNING;
            if s.is_cancelled() {
                (Some(next), ToRunning::Cancel)
            } else {
                (Some(next), ToRunning::Poll)
            }
        })
    }

    /// A poll returned `Pending`: release `RUNNING`. `yielded` says the task asked to be
    /// queued again (`yield_now`), which counts as a wake during the poll.
    pub(crate) fn to_idle(&self, yielded: bool) -> ToIdle {
        self.update(|s| {
            debug_assert!(s.is_running());
            if s.is_cancelled() {
                return (None, ToIdle::Cancel);
            }
            let next = s.0 & !RUNNING & !NOTIFIED;
            if s.is_notified() || yielded {
                // Keep NOTIFIED set: the poller's reference becomes the queue entry.
                (Some(next | NOTIFIED), ToIdle::Notified)
            } else {
                (Some(next), ToIdle::Idle)
            }
        })
    }

    /// The stage now holds the output: set `COMPLETE`, clear `RUNNING`. Returns the state
    /// after the change, which tells whether a handle waits and whether it left a waker.
    pub(crate) fn to_complete(&self) -> State {
        let previous = self.0.fetch_xor(RUNNING | COMPLETE, Ordering::AcqRel);
        debug_assert!(State(previous).is_running() && !State(previous).is_complete());
        State(previous ^ (RUNNING | COMPLETE))
    }

    /// A wake-up. `by_value` says the waker's own reference is consumed by this call: it
    /// either moves to the queue entry (`Schedule`) or must be dropped by the caller.
    /// A wake by reference that schedules takes a new reference here.
    pub(crate) fn wake(&self, by_value: bool) -> Wake {
        self.update(|s| {
            if s.is_complete() || s.is_notified() {
                (None, Wake::Nothing)
            } else if s.is_running() {
                (Some(s.0 | NOTIFIED), Wake::Nothing)
            } else {
                let refs = if by_value { 0 } else { REF_ONE };
                (Some((s.0 | NOTIFIED) + refs), Wake::Schedule)
            }
        })
    }

    /// `JoinHandle::abort`. Returns `Schedule` when the task was idle: it is now notified
    /// and cancelled, and the caller must queue it with a new reference (taken here), so the
    /// executor drops the future on its own thread.
    pub(crate) fn abort(&self) -> Wake {
        self.update(|s| {
            if s.is_complete() || s.is_cancelled() {
                (None, Wake::Nothing)
            } else if s.is_running() || s.is_notified() {
                (Some(s.0 | CANCELLED | NOTIFIED), Wake::Nothing)
            } else {
                (Some((s.0 | CANCELLED | NOTIFIED) + REF_ONE), Wake::Schedule)
            }
        })
    }

    /// Executor shutdown: cancel, and take `RUNNING` if nobody holds it. `true` means the
    /// caller now owns the future and must complete the task as cancelled.
    pub(crate) fn to_shutdown(&self) -> bool {
        self.update(|s| {
            if s.is_idle() {
                (Some(s.0 | CANCELLED | RUNNING), true)
            } else {
                (Some(s.0 | CANCELLED), false)
            }
        })
    }

    /// The handle is dropped. Fails (returns `false`) once the task is complete: then the
    /// handle owns the output and must drop it itself.
    pub(crate) fn drop_join_interest(&self) -> bool {
        self.update(|s| {
            if s.is_complete() {
                (None, false)
            } else {
                (Some(s.0 & !(JOIN_INTEREST | JOIN_WAKER)), true)
            }
        })
    }

    /// The handle stored a waker in the slot: publish it. Fails once the task is complete.
    pub(crate) fn set_join_waker(&self) -> bool {
        self.update(|s| {
            debug_assert!(s.has_join_interest() && !s.has_join_waker());
            if s.is_complete() {
                (None, false)
            } else {
                (Some(s.0 | JOIN_WAKER), true)
            }
        })
    }

    /// The handle wants to replace its waker: take the slot back. Fails once complete.
    pub(crate) fn unset_join_waker(&self) -> bool {
        self.update(|s| {
            debug_assert!(s.has_join_interest() && s.has_join_waker());
            if s.is_complete() {
                (None, false)
            } else {
                (Some(s.0 & !JOIN_WAKER), true)
            }
        })
    }

    pub(crate) fn ref_inc(&self) {
        // Relaxed: a new reference is made from an existing one, which already orders
        // everything before it (as in `Arc::clone`).
        let previous = self.0.fetch_add(REF_ONE, Ordering::Relaxed);
        assert!(State(previous).ref_count() < usize::MAX >> (REF_SHIFT + 1));
    }

    /// Drops `count` references; `true` when they were the last ones. AcqRel: the thread
    /// that frees the task must see every other owner's last use of it (as in `Arc`).
    pub(crate) fn ref_dec(&self, count: usize) -> bool {
        let previous = State(self.0.fetch_sub(count * REF_ONE, Ordering::AcqRel));
        debug_assert!(previous.ref_count() >= count, "{previous:?}");
        previous.ref_count() == count
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_wake_during_the_poll_requeues_the_task_once() {
        let state = StateCell::new(2);
        assert_eq!(state.to_running(), ToRunning::Poll);
        assert_eq!(state.wake(false), Wake::Nothing);
        assert_eq!(state.wake(false), Wake::Nothing);
        assert_eq!(state.to_idle(false), ToIdle::Notified);
        assert!(state.load().is_notified());
        assert_eq!(state.load().ref_count(), 2);
    }

    #[test]
    fn an_idle_task_is_scheduled_by_the_first_wake_only() {
        let state = StateCell::new(2);
        state.to_running();
        assert_eq!(state.to_idle(false), ToIdle::Idle);
        assert_eq!(state.wake(false), Wake::Schedule);
        assert_eq!(state.wake(false), Wake::Nothing);
        assert_eq!(state.load().ref_count(), 3);
    }

    #[test]
    fn abort_of_an_idle_task_queues_it_for_cancellation() {
        let state = StateCell::new(2);
        state.to_running();
        state.to_idle(false);
        assert_eq!(state.abort(), Wake::Schedule);
        assert_eq!(state.to_running(), ToRunning::Cancel);
    }

    #[test]
    fn a_completed_task_keeps_its_output_for_the_handle() {
        let state = StateCell::new(2);
        state.to_running();
        let done = state.to_complete();
        assert!(done.is_complete() && !done.is_running() && done.has_join_interest());
        assert!(!state.drop_join_interest());
        assert_eq!(state.wake(false), Wake::Nothing);
        assert_eq!(state.abort(), Wake::Nothing);
    }

    #[test]
    fn debug_names_the_bits() {
        let text = format!("{:?}", StateCell::new(3).load());
        assert!(
            text.contains("notified: true") && text.contains("refs: 3"),
            "{text}"
        );
    }
}
