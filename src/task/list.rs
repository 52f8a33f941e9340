//! An executor's list of live tasks, so that shutting down can cancel every task that
//! has not finished, including tasks nobody will ever wake (their future is dropped then,
//! not leaked). Sharded by task address, so spawns on different threads rarely share a lock.

use std::ptr::NonNull;
use std::time::Instant;

use super::raw::{Header, TaskRef};
use crate::sync::atomic::{AtomicBool, Ordering};
use crate::sync::park::Parker;
use crate::sync::{lock, Mutex};

#[cfg(not(loom))]
const SHARDS: usize = 16;
/// One shard under loom: the shard is picked by address, and addresses differ between
/// explored executions, which loom rejects as nondeterminism.
#[cfg(loom)]
const SHARDS: usize = 1;

pub(crate) struct TaskList {
    shards: Box<[Mutex<Shard>]>,
    closed: AtomicBool,
    /// Set while a thread waits for the list to empty (`wait_until_empty`); then each
    /// removal looks whether it emptied the list and unparks the waiter. Until then
    /// removals pay one load for it.
    watched: AtomicBool,
    emptied: Parker,
}

#[derive(Default)]
struct Shard {
    slots: Vec<Option<TaskRef>>,
    free: Vec<usize>,
    /// How many slots hold a task.
    live: usize,
}

impl TaskList {
    pub(crate) fn new() -> TaskList {
        TaskList {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            closed: AtomicBool::new(false),
            watched: AtomicBool::new(false),
            emptied: Parker::new(),
        }
    }

    fn shard(&self, task: NonNull<Header>) -> &Mutex<Shard> {
        // Tasks are at least 64-byte aligned apart in practice; skip the low bits.
        &self.shards[(task.as_ptr() as usize >> 6) % SHARDS]
    }

    /// Adds a task. Fails, giving the reference back, once the list is closed: the caller
    /// must then cancel the task itself.
    pub(crate) fn insert(&self, task: TaskRef) -> Result<(), TaskRef> {
        let mut shard = lock(self.shard(task.ptr()));
        // Relaxed: `close` sets the flag before it takes each shard's lock, and we read it
        // under the lock, so a shard already emptied by `close` shows us the flag.
        if self.closed.load(Ordering::Relaxed) {
            return Err(task);
        }
        let slot = match shard.free.pop() {
            Some(slot) => slot,
            None => {
                shard.slots.push(None);
                shard.slots.len() - 1
            }
        };
        task.header().set_list_slot(slot);
        shard.slots[slot] = Some(task);
        shard.live += 1;
        Ok(())
    }

    /// Removes a task, returning the list's reference (`None` if `close` took it already).
    pub(crate) fn remove(&self, task: NonNull<Header>) -> Option<TaskRef> {
        let mut shard = lock(self.shard(task));
        // SAFETY: the caller holds a reference, so the header is alive.
        let slot = unsafe { task.as_ref() }.list_slot();
        let listed = shard.slots.get(slot)?.as_ref();
        if listed.is_none_or(|listed| listed.ptr() != task) {
            return None;
        }
        shard.free.push(slot);
        shard.live -= 1;
        let listed = shard.slots[slot].take();
        drop(shard);
        // SeqCst, with the store in `wait_until_empty`: either this sees the waiter, or
        // the waiter's look at this shard (under its lock, after its store) comes after
        // this removal and sees it.
        if self.watched.load(Ordering::SeqCst) && self.is_empty() {
            self.emptied.unpark();
        }
        listed
    }

    /// Whether no task is listed.
    pub(crate) fn is_empty(&self) -> bool {
        self.shards.iter().all(|shard| lock(shard).live == 0)
    }

    /// Refuses new tasks (`insert` fails from now on), keeping the listed ones.
    pub(crate) fn refuse_new(&self) {
        self.closed.store(true, Ordering::Relaxed);
    }

    /// Waits until no task is listed, or `deadline` passes; returns whether the list
    /// emptied. One thread at a time.
    pub(crate) fn wait_until_empty(&self, deadline: Option<Instant>) -> bool {
        self.watched.store(true, Ordering::SeqCst);
        loop {
            if self.is_empty() {
                return true;
            }
            match deadline {
                None => self.emptied.park(),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return false;
                    }
                    self.emptied.park_timeout(deadline - now);
                }
            }
        }
    }

    /// Calls `f` with every task in the list (under the shards' locks: `f` must not
    /// touch the list).
    pub(crate) fn for_each(&self, mut f: impl FnMut(&TaskRef)) {
        for shard in self.shards.iter() {
            lock(shard).slots.iter().flatten().for_each(&mut f);
        }
    }

    /// Closes the list to new tasks and returns every task still in it.
    pub(crate) fn close(&self) -> Vec<TaskRef> {
        self.closed.store(true, Ordering::Relaxed);
        let mut all = Vec::new();
        for shard in self.shards.iter() {
            let mut shard = lock(shard);
            shard.free.clear();
            shard.live = 0;
            all.extend(shard.slots.drain(..).flatten());
        }
        // The list is empty now: a `wait_until_empty` under way returns (a Pool that
        // fails on a task's panic closes its list while `shutdown` may wait on it).
        // SeqCst, as in `remove`.
        if self.watched.load(Ordering::SeqCst) {
            self.emptied.unpark();
        }
        all
    }
}
