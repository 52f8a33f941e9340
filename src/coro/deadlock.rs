//! [`Deadlock`]: what a Scheduler reports when no task can ever run again, naming each
//! blocked task, where it was spawned, and what it waits on. The Scheduler decides when
//! that is (see `Scheduler::run`); this file only says it.

use std::fmt;
use std::panic::Location;

use crate::task::TaskId;

/// `run` or `block_on` found every remaining task blocked with nothing able to wake it.
///
/// It names each blocked task ([`tasks`](Deadlock::tasks)): its [`TaskId`], where it was
/// spawned, and what it waits on; `Display` lists them, one per line.
///
/// ```
/// use braid::coro::{Scheduler, WaitsOn};
///
/// let mut scheduler = Scheduler::new();
/// let line = line!() + 1;
/// let stuck = scheduler.spawn(std::future::pending::<()>());
/// let deadlock = scheduler.run().unwrap_err();
/// assert_eq!(deadlock.blocked(), 1);
/// let task = &deadlock.tasks()[0];
/// assert_eq!(task.id(), stuck.id());
/// assert_eq!(task.spawned_at().line(), line);
/// assert_eq!(task.waits_on(), WaitsOn::Other);
/// assert!(deadlock.to_string().contains("1 task"));
/// ```
///
/// Tasks waiting on transactions that only each other would commit: reported by an
/// [isolated](super::Scheduler::isolated) scheduler, which knows no other thread will
/// commit.
///
/// ```
/// use braid::coro::Scheduler;
/// use braid::stm::{atomically_async, check, TVar};
///
/// let (fork, knife) = (TVar::new(false), TVar::new(false));
/// let mut scheduler = Scheduler::new().isolated();
/// for (mine, theirs) in [(fork.clone(), knife.clone()), (knife, fork)] {
///     scheduler.spawn(async move {
///         atomically_async(|tx| check(theirs.read(tx)?)).await; // waits for the other
///         atomically_async(|tx| mine.write(tx, true)).await;
///     });
/// }
/// let deadlock = scheduler.run().unwrap_err();
/// assert_eq!(deadlock.waiting_on_transactions(), 2);
/// assert!(deadlock.to_string().starts_with("deadlock: 2 tasks blocked (2 waiting on transactions"));
/// assert!(deadlock.to_string().contains("waits in a transaction's retry"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deadlock {
    /// In spawn order (by id).
    tasks: Vec<BlockedTask>,
}

/// One task a [`Deadlock`] found blocked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockedTask {
    id: TaskId,
    spawned_at: &'static Location<'static>,
    waits_on: WaitsOn,
}

/// What a [`BlockedTask`] waits on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WaitsOn {
    /// A transaction's `retry` (through `atomically_async`); only an
    /// [isolated](super::Scheduler::isolated) scheduler reports these.
    Transaction,
    /// The [`JoinHandle`](crate::JoinHandle) of this task, itself blocked in the same
    /// deadlock (when it awaits several handles at once, the one of the earliest task).
    JoinHandle(TaskId),
    /// Something else that nothing holds a waker for (a future that dropped its waker,
    /// `std::future::pending`).
    Other,
}

impl Deadlock {
    /// A deadlock of `tasks`, in any order.
    pub(super) fn new(mut tasks: Vec<BlockedTask>) -> Deadlock {
        tasks.sort_by_key(|task| task.id);
        Deadlock { tasks }
    }

    /// The blocked tasks, in the order they were spawned (not counting `block_on`'s own
    /// future, which is no task).
    ///
    /// ```
    /// use braid::coro::{self, Scheduler, WaitsOn};
    ///
    /// let mut scheduler = Scheduler::new();
    /// let parent = scheduler.spawn(async {
    ///     let child = coro::spawn(std::future::pending::<()>());
    ///     let child_id = child.id();
    ///     child.await.unwrap();
    ///     child_id
    /// });
    /// let deadlock = scheduler.run().unwrap_err();
    /// let [waiting, child] = deadlock.tasks() else { panic!("two tasks") };
    /// assert_eq!(waiting.id(), parent.id());
    /// assert_eq!(waiting.waits_on(), WaitsOn::JoinHandle(child.id()));
    /// assert_eq!(child.waits_on(), WaitsOn::Other);
    /// ```
    pub fn tasks(&self) -> &[BlockedTask] {
        &self.tasks
    }

    /// How many tasks were blocked (not counting `block_on`'s own future).
    pub fn blocked(&self) -> usize {
        self.tasks.len()
    }

    /// How many of them waited in a transaction's `retry` (only an
    /// [isolated](super::Scheduler::isolated) scheduler reports these: otherwise a commit
    /// from another thread could still wake them).
    ///
    /// ```
    /// use braid::coro::Scheduler;
    /// use braid::stm::{atomically_async, check, TVar};
    ///
    /// let never = TVar::new(false);
    /// let mut scheduler = Scheduler::new().isolated();
    /// scheduler.spawn(async move { atomically_async(|tx| check(never.read(tx)?)).await });
    /// let deadlock = scheduler.run().unwrap_err();
    /// assert_eq!(deadlock.waiting_on_transactions(), 1);
    /// assert!(deadlock.to_string().contains("1 waiting on transactions"));
    /// ```
    pub fn waiting_on_transactions(&self) -> usize {
        self.count(|waits_on| waits_on == WaitsOn::Transaction)
    }

    /// How many of them waited on the `JoinHandle` of another blocked task.
    ///
    /// ```
    /// use braid::coro::{self, Scheduler};
    ///
    /// let mut scheduler = Scheduler::new();
    /// scheduler.spawn(async { coro::spawn(std::future::pending::<()>()).await });
    /// let deadlock = scheduler.run().unwrap_err();
    /// assert_eq!((deadlock.waiting_on_join_handles(), deadlock.blocked()), (1, 2));
    /// ```
    pub fn waiting_on_join_handles(&self) -> usize {
        self.count(|waits_on| matches!(waits_on, WaitsOn::JoinHandle(_)))
    }

    /// How many of them waited on something else that nothing holds a waker for (a
    /// future that dropped its waker, `std::future::pending`).
    pub fn waiting_on_other_futures(&self) -> usize {
        self.count(|waits_on| waits_on == WaitsOn::Other)
    }

    fn count(&self, what: impl Fn(WaitsOn) -> bool) -> usize {
        self.tasks.iter().filter(|task| what(task.waits_on)).count()
    }

    fn spawn_site_of(&self, id: TaskId) -> Option<&'static Location<'static>> {
        self.tasks
            .iter()
            .find(|task| task.id == id)
            .map(|task| task.spawned_at)
    }
}

impl BlockedTask {
    pub(super) fn new(
        id: TaskId,
        spawned_at: &'static Location<'static>,
        waits_on: WaitsOn,
    ) -> BlockedTask {
        BlockedTask {
            id,
            spawned_at,
            waits_on,
        }
    }

    /// The task's id, as its [`JoinHandle::id`](crate::JoinHandle::id) and, inside it,
    /// [`TaskId::current`] give it.
    pub fn id(&self) -> TaskId {
        self.id
    }

    /// Where the user's code spawned the task.
    pub fn spawned_at(&self) -> &'static Location<'static> {
        self.spawned_at
    }

    /// What the task waits on.
    pub fn waits_on(&self) -> WaitsOn {
        self.waits_on
    }
}

impl fmt::Display for Deadlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let blocked = self.blocked();
        let s = if blocked == 1 { "" } else { "s" };
        write!(
            f,
            "deadlock: {blocked} task{s} blocked ({} waiting on transactions, {} on join \
             handles, {} on other futures), no timer pending, and nothing outside the \
             scheduler can wake them",
            self.waiting_on_transactions(),
            self.waiting_on_join_handles(),
            self.waiting_on_other_futures(),
        )?;
        for task in &self.tasks {
            write!(f, "\n  task {} (spawned at {}) ", task.id, task.spawned_at)?;
            match task.waits_on {
                WaitsOn::Transaction => write!(f, "waits in a transaction's retry")?,
                WaitsOn::JoinHandle(other) => {
                    write!(f, "waits on the JoinHandle of task {other}")?;
                    if let Some(at) = self.spawn_site_of(other) {
                        write!(f, " (spawned at {at})")?;
                    }
                }
                WaitsOn::Other => write!(f, "waits on a future that nothing can wake")?,
            }
        }
        Ok(())
    }
}

impl std::error::Error for Deadlock {}
