//! A worker's run queue: a fixed-size ring buffer that its owner pushes to and pops from
//! at either end without locks, and that other workers steal half of at a time.
//!
//! The layout follows tokio's local queue: `tail` is written only by the owner; `head`
//! packs two 32-bit indices, `real` (the next entry to hand out) and `steal` (the first
//! entry a thief is still copying; equal to `real` when no steal is in flight). Indices
//! grow without bound and wrap; an entry's slot is its index modulo the capacity.
//!
//! - the owner pops the oldest entry (`pop`, FIFO: fair to tasks);
//! - a thief claims the older half by moving `real` with one CAS, copies the entries out,
//!   then moves `steal` up to `real`, which frees the slots for the owner;
//! - a push to a full ring moves half of it to the pool's injector (`Overflow`), so a
//!   push never fails and never blocks.
//!
//! The owner never takes entries back from the tail: a thief's view of `tail` may be
//! stale, and it claims half of what it saw. `join` uses the Chase–Lev deque in
//! `deque.rs` instead, whose thieves take one entry at a time.

use std::mem::MaybeUninit;

use crate::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use crate::sync::{Arc, UnsafeCell};

/// Entries per ring. Small under loom, so that models reach overflow and wrap-around.
#[cfg(not(loom))]
pub const CAPACITY: usize = 256;
#[cfg(loom)]
pub const CAPACITY: usize = 4;
const MASK: u32 = CAPACITY as u32 - 1;

/// Where a full ring sends half of its entries.
pub trait Overflow<T> {
    fn push_batch(&self, batch: Vec<T>);
}

struct Ring<T> {
    /// `steal << 32 | real`.
    head: AtomicU64,
    tail: AtomicU32,
    slots: Box<[UnsafeCell<MaybeUninit<T>>]>,
}

// SAFETY: entries move between threads (a thief takes them), so `T: Send`; the slots are
// handed out by the index protocol, so no slot is touched by two threads at once.
unsafe impl<T: Send> Send for Ring<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for Ring<T> {}

fn pack(steal: u32, real: u32) -> u64 {
    (u64::from(steal) << 32) | u64::from(real)
}

fn unpack(head: u64) -> (u32, u32) {
    ((head >> 32) as u32, head as u32)
}

/// The owner's end. Not `Sync` and not `Clone`: one thread pushes and pops.
pub struct Local<T> {
    ring: Arc<Ring<T>>,
    _not_sync: std::marker::PhantomData<std::cell::Cell<()>>,
}

/// A thief's end: any number of threads may hold one.
pub struct Stealer<T> {
    ring: Arc<Ring<T>>,
}

impl<T> Clone for Stealer<T> {
    fn clone(&self) -> Self {
        Stealer {
            ring: self.ring.clone(),
        }
    }
}

/// A new, empty ring: the owner's end and a thief's end.
pub fn new<T>() -> (Local<T>, Stealer<T>) {
    new_at(0)
}

/// A new, empty ring whose indices start at `start`, so tests reach the point where
/// they wrap around `u32::MAX` in a few operations.
pub fn new_at<T>(start: u32) -> (Local<T>, Stealer<T>) {
    let ring = Arc::new(Ring {
        head: AtomicU64::new(pack(start, start)),
        tail: AtomicU32::new(start),
        slots: (0..CAPACITY)
            .map(|_| UnsafeCell::new(MaybeUninit::uninit()))
            .collect(),
    });
    (
        Local {
            ring: ring.clone(),
            _not_sync: std::marker::PhantomData,
        },
        Stealer { ring },
    )
}

impl<T> Ring<T> {
    /// # Safety
    /// The caller owns slot `index` (by the index protocol) and it holds no entry.
    unsafe fn write(&self, index: u32, value: T) {
        self.slots[(index & MASK) as usize].with_mut(|slot| {
            // SAFETY: forwarded from the caller.
            unsafe { (*slot).write(value) };
        });
    }

    /// # Safety
    /// The caller owns slot `index` and it holds an entry, which moves out.
    unsafe fn read(&self, index: u32) -> T {
        // SAFETY: forwarded from the caller.
        self.slots[(index & MASK) as usize].with(|slot| unsafe { (*slot).assume_init_read() })
    }

    fn len(&self) -> usize {
        let (_, real) = unpack(self.head.load(Ordering::Acquire));
        let tail = self.tail.load(Ordering::Acquire);
        tail.wrapping_sub(real) as usize
    }
}

impl<T> Local<T> {
    /// The owner's own `tail`: only this thread writes it.
    fn tail(&self) -> u32 {
        self.ring.tail.load(Ordering::Relaxed)
    }

    pub fn len(&self) -> usize {
        self.ring.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many pushes fit before the ring overflows (slots a thief is still copying out
    /// count as taken).
    pub fn free_room(&self) -> usize {
        let (steal, _) = unpack(self.ring.head.load(Ordering::Acquire));
        CAPACITY - self.tail().wrapping_sub(steal) as usize
    }

    /// Pushes `value` at the back; when the ring is full, moves half of it (the oldest
    /// entries) plus `value` to `overflow`.
    pub fn push_back(&mut self, mut value: T, overflow: &impl Overflow<T>) {
        loop {
            // Acquire: pairs with a thief's final Release CAS, which frees its slots.
            let (steal, real) = unpack(self.ring.head.load(Ordering::Acquire));
            let tail = self.tail();
            if tail.wrapping_sub(steal) < CAPACITY as u32 {
                // SAFETY: slot `tail` is outside `steal..tail`, so nobody reads it.
                unsafe { self.ring.write(tail, value) };
                // Release: a thief that reads this tail sees the entry written above.
                self.ring
                    .tail
                    .store(tail.wrapping_add(1), Ordering::Release);
                return;
            }
            if steal != real {
                // A thief is copying entries out and will free room soon; the injector
                // takes this one so the push does not wait.
                overflow.push_batch(vec![value]);
                return;
            }
            match self.move_half_to(overflow, real, tail, value) {
                Ok(()) => return,
                Err(back) => value = back,
            }
        }
    }

    /// Moves the older half of a full ring, and `value`, to `overflow`. Fails when a
    /// thief got in first (then the ring has room again).
    fn move_half_to(
        &mut self,
        overflow: &impl Overflow<T>,
        real: u32,
        tail: u32,
        value: T,
    ) -> Result<(), T> {
        let half = (CAPACITY / 2) as u32;
        debug_assert_eq!(tail.wrapping_sub(real), CAPACITY as u32);
        let taken = real.wrapping_add(half);
        // Release is not needed for the slots (they are ours to read); Acquire/Relaxed:
        // on failure we only retry.
        if self
            .ring
            .head
            .compare_exchange(
                pack(real, real),
                pack(taken, taken),
                Ordering::AcqRel,
                Ordering::Relaxed,
            )
            .is_err()
        {
            return Err(value);
        }
        let mut batch = Vec::with_capacity(half as usize + 1);
        for i in 0..half {
            // SAFETY: the CAS moved `head` past these slots and no thief is copying
            // (`steal == real`), so they are ours.
            batch.push(unsafe { self.ring.read(real.wrapping_add(i)) });
        }
        batch.push(value);
        overflow.push_batch(batch);
        Ok(())
    }

    /// Takes the oldest entry.
    pub fn pop(&mut self) -> Option<T> {
        let mut head = self.ring.head.load(Ordering::Acquire);
        let index = loop {
            let (steal, real) = unpack(head);
            if real == self.tail() {
                return None;
            }
            let next_real = real.wrapping_add(1);
            let next = if steal == real {
                pack(next_real, next_real)
            } else {
                pack(steal, next_real)
            };
            // AcqRel: Acquire for a thief's slot release; Release so a thief that reads
            // the new head knows this slot is taken.
            match self.ring.head.compare_exchange_weak(
                head,
                next,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break real,
                Err(actual) => head = actual,
            }
        };
        // SAFETY: the CAS claimed slot `index` for us.
        Some(unsafe { self.ring.read(index) })
    }
}

impl<T> Drop for Local<T> {
    fn drop(&mut self) {
        // Entries left in the ring are dropped with it (tasks give up their references).
        while self.pop().is_some() {}
    }
}

impl<T> Stealer<T> {
    pub fn is_empty(&self) -> bool {
        self.ring.len() == 0
    }

    /// Moves about half of this ring's entries into `dst` (the thief's own ring) and
    /// returns one of them to run now. `None` if there was nothing to take, another thief
    /// is busy here, or `dst` lacks room.
    pub fn steal_into(&self, dst: &mut Local<T>) -> Option<T> {
        let dst_tail = dst.tail();
        let (dst_steal, _) = unpack(dst.ring.head.load(Ordering::Acquire));
        if dst_tail.wrapping_sub(dst_steal) > (CAPACITY / 2) as u32 {
            return None;
        }
        let count = self.claim_into(dst, dst_tail);
        if count == 0 {
            return None;
        }
        // Run the newest stolen entry now; publish the rest in `dst`.
        let last = dst_tail.wrapping_add(count - 1);
        // SAFETY: `claim_into` wrote slots `dst_tail..dst_tail + count` of our own ring,
        // above its published tail.
        let value = unsafe { dst.ring.read(last) };
        if count > 1 {
            // Release: thieves of `dst` that read this tail see the copied entries.
            dst.ring.tail.store(last, Ordering::Release);
        }
        Some(value)
    }

    /// Claims the older half of this ring, copies it to `dst` from `dst_tail` on, and
    /// releases the claimed slots. Returns how many were copied.
    fn claim_into(&self, dst: &mut Local<T>, dst_tail: u32) -> u32 {
        let mut head = self.ring.head.load(Ordering::Acquire);
        let (first, claimed_to) = loop {
            let (steal, real) = unpack(head);
            if steal != real {
                return 0; // another thief is copying
            }
            // Acquire: pairs with the owner's Release store in `push_back`, so the
            // entries below this tail are visible.
            let tail = self.ring.tail.load(Ordering::Acquire);
            let available = tail.wrapping_sub(real);
            if available == 0 {
                return 0;
            }
            let count = available - available / 2;
            let next = pack(steal, real.wrapping_add(count));
            // AcqRel: Acquire so the slots' contents are ours to read; Release so the
            // owner's pops see the claim.
            match self.ring.head.compare_exchange_weak(
                head,
                next,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break (real, real.wrapping_add(count)),
                Err(actual) => head = actual,
            }
        };
        let count = claimed_to.wrapping_sub(first);
        for i in 0..count {
            // SAFETY: our CAS claimed `first..claimed_to` of the source (the owner will not
            // reuse them until `steal` moves past them below), and the destination slots
            // are above `dst`'s tail, which only we (its owner) move.
            unsafe {
                let value = self.ring.read(first.wrapping_add(i));
                dst.ring.write(dst_tail.wrapping_add(i), value);
            }
        }
        // Free the claimed slots: move `steal` up to `real` (which the owner may have
        // moved further meanwhile). Release: the owner's next push may reuse the slots.
        let mut head = pack(first, claimed_to);
        loop {
            let (steal, real) = unpack(head);
            debug_assert_eq!(steal, first);
            match self.ring.head.compare_exchange_weak(
                head,
                pack(real, real),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return count,
                Err(actual) => head = actual,
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::cell::RefCell;
    use std::collections::VecDeque;

    use proptest::prelude::*;

    use super::*;

    #[derive(Default)]
    struct Sink(RefCell<Vec<u32>>);

    impl Overflow<u32> for Sink {
        fn push_batch(&self, batch: Vec<u32>) {
            self.0.borrow_mut().extend(batch);
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Push(u32),
        Pop,
        Steal,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => any::<u32>().prop_map(Op::Push),
            2 => Just(Op::Pop),
            1 => Just(Op::Steal),
        ]
    }

    proptest! {
        /// Push, pop, steal-half and overflow behave like a `VecDeque` whose
        /// oldest half moves to the injector when it holds `CAPACITY` entries, also when
        /// the indices wrap around `u32::MAX`.
        #[test]
        fn the_ring_matches_a_deque_model(
            ops in proptest::collection::vec(op(), 0..1500),
            near_wrap in any::<bool>(),
        ) {
            let start = if near_wrap { u32::MAX - 300 } else { 0 };
            let (mut local, stealer) = new_at::<u32>(start);
            let sink = Sink::default();
            let mut model = VecDeque::new();
            let mut model_overflow = Vec::new();
            for op in ops {
                match op {
                    Op::Push(value) => {
                        if model.len() == CAPACITY {
                            model_overflow.extend(model.drain(..CAPACITY / 2));
                            model_overflow.push(value);
                        } else {
                            model.push_back(value);
                        }
                        local.push_back(value, &sink);
                        prop_assert_eq!(&*sink.0.borrow(), &model_overflow);
                    }
                    Op::Pop => prop_assert_eq!(local.pop(), model.pop_front()),
                    Op::Steal => {
                        let (mut thief, _) = new::<u32>();
                        let got = stealer.steal_into(&mut thief);
                        let count = model.len() - model.len() / 2;
                        let mut stolen: Vec<u32> = model.drain(..count).collect();
                        prop_assert_eq!(got, stolen.pop());
                        let rest: Vec<u32> = std::iter::from_fn(|| thief.pop()).collect();
                        prop_assert_eq!(rest, stolen);
                    }
                }
                prop_assert_eq!(local.len(), model.len());
            }
        }
    }
}
