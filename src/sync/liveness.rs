//! A liveness mark for memory that loom must catch being used after its free.
//!
//! Under loom, memory whose free must happen after every use (a `TVar`'s core, `TMap`'s
//! index tables and entries) is marked freed and leaked instead of freed. Every use reads
//! the mark first, so loom reports a use that does not happen after the free as a data
//! race on the mark, and one after it as a failed assertion, never a read of freed
//! memory. Under std the mark is a zero-sized type whose methods compile to nothing.

/// See the module docs.
pub(crate) struct Liveness {
    #[cfg(loom)]
    alive: super::UnsafeCell<bool>,
}

impl Liveness {
    /// The mark of memory just made.
    pub(crate) fn new() -> Self {
        Liveness {
            #[cfg(loom)]
            alive: super::UnsafeCell::new(true),
        }
    }

    /// Under loom, fails if the free of what this marks (`what`, for the message) does
    /// not happen after this use. Nothing under std.
    #[inline(always)]
    pub(crate) fn check(&self, what: &str) {
        #[cfg(loom)]
        self.alive.with(|alive| {
            // SAFETY: loom's cell checks this read against the free's write.
            assert!(unsafe { *alive }, "braid: {what} was used after its free");
        });
        #[cfg(not(loom))]
        let _ = what;
    }

    /// Marks what this marks as freed. Nothing under std.
    #[inline(always)]
    pub(crate) fn mark_freed(&self) {
        #[cfg(loom)]
        self.alive.with_mut(|alive| {
            // SAFETY: loom's cell checks this write against every use's read.
            unsafe { *alive = false }
        });
    }
}
