//! Persistent (immutable, structurally shared) sequences: the building blocks of `TQueue`.
//!
//! A `TVar` read clones its value, so a queue kept as a `Vec` would cost O(n) per
//! operation. These clone in O(1) (one reference count):
//! - `Stack`: a persistent stack of chunks. A push usually writes into a free slot of the
//!   newest chunk, shared with older versions of the stack, instead of allocating.
//! - `Run`: a read-only run of values with a cursor. Popping shares the same buffer and
//!   moves the cursor, so it allocates nothing.
//!
//! `TQueue` keeps a `Stack` for pushes and a `Run` for pops, as GHC's `TQueue` keeps two
//! lists (Okasaki's banker's queue): when the run is used up, a pop turns the whole push
//! stack into a new run, one buffer for the batch instead of one node per value.
//!
//! # Sharing a chunk between versions
//! A stack is a chunk and how many of its slots it owns (`top_len`), above a chain of full
//! chunks. Versions of a stack that share a chunk agree on the slots they own: each owns a
//! prefix. Pushing onto a version that owns `n` slots claims slot `n` with a CAS on the
//! chunk's `claimed` count: the winner writes the value there and owns `n + 1` slots;
//! anyone else pushing onto that same version (a transaction that conflicted, say, whose
//! claimed slot now holds a value no committed stack owns) copies the `n` values into a
//! new chunk. A slot is written once, by its claimer, before any version that owns it
//! exists, and it is read only through such versions, which reach other threads through
//! a `TVar` (whose publication orders the write before the reads). The chunk drops its
//! claimed slots when the last version using it is gone.
//!
//! So a producer allocates once per chunk, and the consumer that turns the stack into a
//! run walks one pointer per chunk, not one per value (each a cache miss when the values
//! were pushed on another core).

use std::mem::MaybeUninit;

use smallvec::SmallVec;

use crate::sync::atomic::{AtomicUsize, Ordering};
use crate::sync::{arc_into_inner, Arc, UnsafeCell};

/// The most slots a chunk has: enough to make the walk cheap, few enough that a chunk of
/// large values stays small. Two under loom, so that models cross chunk boundaries.
const fn max_chunk<T>() -> usize {
    if cfg!(loom) {
        return 2;
    }
    let size = if size_of::<T>() == 0 {
        1
    } else {
        size_of::<T>()
    };
    let fit = 512 / size;
    if fit < 4 {
        4
    } else if fit > 32 {
        32
    } else {
        fit
    }
}

/// Slots for a new chunk above `below`: the bottom chunk is small, since a queue whose
/// consumer keeps up takes the stack while it holds a value or two; each chunk above
/// doubles, up to `max_chunk`.
fn chunk_capacity<T>(below: Option<&Chunk<T>>) -> usize {
    below
        .map_or(2, |below| below.slots.len() * 2)
        .min(max_chunk::<T>())
}

/// An immutable stack of `T` with O(1) `clone` and amortized O(1) `push`.
pub(crate) struct Stack<T> {
    len: usize,
    /// The newest chunk and how many of its slots this stack owns (at least one).
    top: Option<Arc<Chunk<T>>>,
    top_len: usize,
}

struct Chunk<T> {
    /// How many slots have been claimed (each claimed slot is written right after).
    claimed: AtomicUsize,
    /// Inline for the bottom chunk's two slots, so a queue whose consumer keeps up
    /// allocates once per push, as a linked list would.
    slots: SmallVec<[UnsafeCell<MaybeUninit<T>>; 2]>,
    /// The full chunk below, owned entirely by every stack that owns this one.
    below: Option<Arc<Chunk<T>>>,
}

impl<T> Chunk<T> {
    /// A chunk of `capacity` slots holding `values`, unshared.
    fn new(
        capacity: usize,
        values: impl Iterator<Item = T>,
        below: Option<Arc<Chunk<T>>>,
    ) -> Chunk<T> {
        let chunk = Chunk {
            claimed: AtomicUsize::new(0),
            slots: (0..capacity)
                .map(|_| UnsafeCell::new(MaybeUninit::uninit()))
                .collect(),
            below,
        };
        for (i, value) in values.enumerate() {
            // SAFETY: slot `i` is unclaimed and the chunk is not shared yet.
            chunk.slots[i].with_mut(|slot| unsafe { (*slot).write(value) });
            // Counted after each write, so a panicking `clone` in `values` leaves only
            // written slots claimed for `Drop`. Relaxed: nobody else sees the chunk yet.
            chunk.claimed.store(i + 1, Ordering::Relaxed);
        }
        chunk
    }

    /// Claims slot `n` for a push onto a version that owns `n` slots; `false` when
    /// another push onto such a version got it first.
    fn claim(&self, n: usize) -> bool {
        // Relaxed: the claim only decides who writes the slot; the value reaches readers
        // through the `TVar` that publishes the version owning it.
        n < self.slots.len()
            && self
                .claimed
                .compare_exchange(n, n + 1, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }

    /// The value in slot `i`, cloned.
    ///
    /// # Safety
    /// The caller's stack owns slot `i` (so it was written before the caller saw it).
    unsafe fn get(&self, i: usize) -> T
    where
        T: Clone,
    {
        // SAFETY: per the contract, the slot is initialized and never written again.
        self.slots[i].with(|slot| unsafe { (*slot).assume_init_ref().clone() })
    }
}

impl<T> Drop for Chunk<T> {
    fn drop(&mut self) {
        // Relaxed: the last `Arc` drop synchronized with every thread that claimed.
        let claimed = self.claimed.load(Ordering::Relaxed);
        for slot in &self.slots[..claimed] {
            // SAFETY: claimed slots were written, and nobody uses the chunk any more.
            slot.with_mut(|slot| unsafe { (*slot).assume_init_drop() });
        }
    }
}

impl<T: Clone> Stack<T> {
    pub(crate) fn new() -> Stack<T> {
        Stack {
            len: 0,
            top: None,
            top_len: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// This stack with `value` on top. Consumes `self` so that its reference to the top
    /// chunk moves into the result instead of being counted up and down again (the
    /// chunk may sit on a cache line the consumer is using).
    pub(crate) fn push(mut self, value: T) -> Stack<T> {
        let len = self.len + 1;
        let top = match self.top.take() {
            Some(top) if top.claim(self.top_len) => {
                // SAFETY: we claimed the slot, and no version owning it exists yet.
                top.slots[self.top_len].with_mut(|slot| unsafe { (*slot).write(value) });
                return Stack {
                    len,
                    top: Some(top),
                    top_len: self.top_len + 1,
                };
            }
            Some(top) if self.top_len == top.slots.len() => Chunk::new(
                chunk_capacity(Some(&top)),
                std::iter::once(value),
                Some(top),
            ),
            Some(top) => {
                // Another push onto this version took the next slot: copy what we own.
                // SAFETY: this stack owns the first `top_len` slots.
                let owned = (0..self.top_len).map(|i| unsafe { top.get(i) });
                let values = owned.chain(std::iter::once(value));
                Chunk::new(top.slots.len(), values, top.below.clone())
            }
            None => Chunk::new(chunk_capacity::<T>(None), std::iter::once(value), None),
        };
        let top_len = top.claimed.load(Ordering::Relaxed);
        Stack {
            len,
            top: Some(Arc::new(top)),
            top_len,
        }
    }

    /// The values, oldest (bottom) first, cloned into one `Vec`.
    pub(crate) fn to_vec_oldest_first(&self) -> Vec<T> {
        // The chunks top to bottom, with how many slots of each this stack owns. Chunks
        // double, so eight cover a few hundred values without allocating.
        let mut chunks: SmallVec<[(&Chunk<T>, usize); 8]> = SmallVec::new();
        let mut next = self.top.as_deref().map(|top| (top, self.top_len));
        while let Some((chunk, owned)) = next {
            chunks.push((chunk, owned));
            next = chunk
                .below
                .as_deref()
                .map(|below| (below, below.slots.len()));
        }
        let mut values = Vec::with_capacity(self.len);
        for &(chunk, owned) in chunks.iter().rev() {
            // SAFETY: this stack owns the first `owned` slots of each of its chunks.
            values.extend((0..owned).map(|i| unsafe { chunk.get(i) }));
        }
        values
    }
}

/// A read-only run of values, front first, with a cursor: O(1) `clone` and `pop`.
pub(crate) struct Run<T> {
    /// `None` for the empty run, so making one allocates nothing.
    items: Option<Arc<Vec<T>>>,
    next: usize,
}

impl<T: Clone> Run<T> {
    pub(crate) fn new() -> Run<T> {
        Run {
            items: None,
            next: 0,
        }
    }

    /// The stack's values as a run, bottom (oldest push) first. O(n), one allocation.
    pub(crate) fn from_stack(stack: &Stack<T>) -> Run<T> {
        if stack.is_empty() {
            return Run::new();
        }
        Run {
            items: Some(Arc::new(stack.to_vec_oldest_first())),
            next: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.items
            .as_ref()
            .map_or(0, |items| items.len() - self.next)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The front value (cloned) and the rest of the run, which keeps the same buffer.
    pub(crate) fn pop(self) -> Option<(T, Run<T>)> {
        let value = self.peek()?;
        let rest = Run {
            items: self.items,
            next: self.next + 1,
        };
        Some((value, rest))
    }

    /// The front value, cloned.
    pub(crate) fn peek(&self) -> Option<T> {
        self.items.as_ref()?.get(self.next).cloned()
    }

    /// The values from front to back, cloned.
    pub(crate) fn iter(&self) -> impl Iterator<Item = T> + '_ {
        let rest = self
            .items
            .as_deref()
            .map_or(&[][..], |items| &items[self.next..]);
        rest.iter().cloned()
    }
}

impl<T> Clone for Run<T> {
    fn clone(&self) -> Self {
        Run {
            items: self.items.clone(),
            next: self.next,
        }
    }
}

impl<T> Clone for Stack<T> {
    fn clone(&self) -> Self {
        Stack {
            len: self.len,
            top: self.top.clone(),
            top_len: self.top_len,
        }
    }
}

impl<T> Drop for Stack<T> {
    /// Unlinks the chunks this stack holds alone one at a time: the default recursive
    /// drop would overflow the thread's stack on a long queue.
    fn drop(&mut self) {
        let mut next = self.top.take();
        while let Some(chunk) = next {
            match arc_into_inner(chunk) {
                Some(mut chunk) => next = chunk.below.take(),
                // Shared with another stack, which will drop the rest.
                None => break,
            }
        }
    }
}

// SAFETY: a chunk hands out clones of its values (`&T` across threads, so `T: Sync`) and
// drops them on whichever thread lets go last (`T: Send`); its own state is an atomic.
unsafe impl<T: Send + Sync> Send for Chunk<T> {}
// SAFETY: as above; shared access only reads written slots or claims free ones.
unsafe impl<T: Send + Sync> Sync for Chunk<T> {}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn push_shares_the_old_stack() {
        let s = Stack::new().push(1).push(2);
        let t = s.clone().push(3);
        assert_eq!(
            s.to_vec_oldest_first(),
            [1, 2],
            "push must not change the original"
        );
        assert_eq!((t.len(), t.to_vec_oldest_first()), (3, vec![1, 2, 3]));
    }

    #[test]
    fn two_pushes_onto_one_version_keep_both_results_intact() {
        for depth in [0, 1, 2, 3, 5, 6, 14, 100, 101] {
            let base = (0..depth as u64).fold(Stack::new(), Stack::push);
            let a = base.clone().push(100);
            let b = base.clone().push(200).push(201);
            let expected: Vec<u64> = (0..depth as u64).collect();
            assert_eq!(base.to_vec_oldest_first(), expected);
            let with = |extra: &[u64]| [&expected[..], extra].concat();
            assert_eq!(a.to_vec_oldest_first(), with(&[100]), "depth {depth}");
            assert_eq!(b.to_vec_oldest_first(), with(&[200, 201]), "depth {depth}");
            assert_eq!((a.len(), b.len()), (depth + 1, depth + 2));
        }
    }

    #[test]
    fn every_value_is_dropped_once_including_orphaned_claims() {
        let value = std::sync::Arc::new(());
        {
            let base = (0..7).fold(Stack::new(), |s, _| s.push(value.clone()));
            // The first push onto `base` claims a slot; the second copies. Both are then
            // dropped, and the claimed slot must be dropped with its chunk.
            let first = base.clone().push(value.clone());
            let second = base.clone().push(value.clone());
            drop((first, base));
            assert_eq!(second.to_vec_oldest_first().len(), 8);
        }
        assert_eq!(std::sync::Arc::strong_count(&value), 1);
    }

    proptest::proptest! {
        /// Pushes onto random earlier versions (so chunks are shared, slots claimed and
        /// copied) leave every version equal to its model: its parent's values plus one.
        #[test]
        fn every_version_equals_its_model_under_branching_pushes(
            parents in proptest::collection::vec(proptest::num::usize::ANY, 1..200),
        ) {
            let mut versions = vec![(Stack::new(), Vec::new())];
            for (value, parent) in parents.into_iter().enumerate() {
                let (stack, model) = &versions[parent % versions.len()];
                let stack = stack.clone().push(value);
                let mut model = model.clone();
                model.push(value);
                versions.push((stack, model));
            }
            for (stack, model) in &versions {
                proptest::prop_assert_eq!(stack.len(), model.len());
                proptest::prop_assert_eq!(&stack.to_vec_oldest_first(), model);
            }
        }
    }

    #[test]
    fn a_run_pops_in_push_order_and_shares_its_buffer() {
        let s = Stack::new().push(1).push(2).push(3);
        let run = Run::from_stack(&s);
        assert_eq!(run.iter().collect::<Vec<_>>(), [1, 2, 3]);
        let (first, rest) = run.clone().pop().unwrap();
        assert_eq!((first, rest.len(), rest.peek()), (1, 2, Some(2)));
        assert_eq!(run.len(), 3, "pop must not change the original");
        assert!(Run::<u8>::from_stack(&Stack::new()).is_empty());
    }

    #[test]
    fn dropping_a_long_stack_does_not_overflow() {
        let mut s = Stack::new();
        for i in 0..1_000_000 {
            s = s.push(i);
        }
        drop(s);
    }
}
