//! The attempt's state: what an attempt starts from besides its empty sets, reset in one
//! store.

/// What an attempt starts from, besides its empty sets: 16 bytes, so that setting it
/// back (`AttemptState::FRESH`) is one store.
#[derive(Clone, Copy)]
#[repr(C, align(16))]
pub(crate) struct AttemptState {
    /// A one-word Bloom filter of the cores in `writes`: most reads skip the scan. All
    /// ones once the attempt is doomed, so that the inlined read and write test only
    /// this word: any operation whose bit is set goes to the slow path, which checks.
    pub(super) write_filter: u64,
    /// A read failed validation: this attempt must run again, whatever the body returns.
    pub(crate) doomed: bool,
    /// This transaction holds the priority token (see `progress.rs`): its commit does
    /// not wait for one.
    pub(crate) has_priority: bool,
    /// The id the next `or_else` branch gets.
    pub(super) next_scope: u32,
    /// This attempt ran `Transaction::fence_section`'s fence.
    pub(super) section_fenced: bool,
}

impl AttemptState {
    pub(super) const FRESH: AttemptState = AttemptState {
        write_filter: 0,
        doomed: false,
        has_priority: false,
        next_scope: 1,
        section_fenced: false,
    };
}
