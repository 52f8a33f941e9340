//! Value nodes: the immutable heap cells a `TVar` points to, one per committed value, for
//! every value type that is not held in the variable's word (see `value.rs`).
//!
//! Every write of such a value allocates a node and every commit retires one, so node
//! traffic is most of a small transaction's cost. A retired node is freed in a batch,
//! usually by the thread that retired it (see `sync/reclaim.rs`), which need not be the
//! thread that allocated it: a variable written by several threads has its nodes
//! allocated by one and replaced by another. The system allocator handles bursts of such
//! foreign frees badly (under glibc, half the time of a two-thread bank benchmark once
//! went to `malloc`/`free` and their arena locks).
//!
//! So small nodes (at most 64 bytes, alignment at most 16) are recycled: each size class
//! of 16, 32 and 64 bytes has a per-thread free list of up to `KEEP_BYTES`, filled by
//! frees on this thread and drained by allocations on it. Everything else is a plain
//! `Box`. The lists are thread-local, and intrusive (a free block holds the link to the
//! next), so keeping a block allocates nothing.
//!
//! Frees and allocations are often on different threads: a producer allocates the values
//! its consumer replaces, and the collector frees a batch itself when the retiring thread
//! stopped retiring. So a thread whose list is full gathers further frees into a chain of
//! `CHAIN_BYTES`, and hands the whole chain to a shared pool (one lock per chain); a
//! thread whose lists are empty takes a chain from there before it asks the allocator.
//! Only when the pool is full do blocks go back to the allocator.

use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::cell::RefCell;
use std::ptr::NonNull;

use crate::sync::{lock, sync_static, thread_local, Mutex};

/// Block sizes of the recycled classes; every block is aligned to `ALIGN`.
const CLASSES: [usize; 3] = [16, 32, 64];
const ALIGN: usize = 16;
/// Bytes of free blocks kept per class and thread. Retired nodes come back in bursts
/// (the collector releases batches 64 deferred calls at a time, each call a batch of
/// retired nodes), and a list smaller than a burst sends most of it back to the
/// allocator only to allocate it again (measured when the collector still freed whole
/// bursts at once: 4096 blocks made a one-thread bank benchmark 1.5x faster than 128).
/// So a thread keeps at most 3 x 64 KiB.
const KEEP_BYTES: usize = 64 * 1024;
/// Bytes of free blocks handed to the shared pool at once, and how many such chains the
/// pool keeps per class (1 MiB): enough to carry a producer/consumer imbalance.
const CHAIN_BYTES: usize = 16 * 1024;
const SHARED_CHAINS: usize = 64;

/// The limits above in blocks, per class (a table, so no division on the free path).
const KEEP_BLOCKS: [usize; 3] = blocks_per_class(KEEP_BYTES);
const CHAIN_BLOCKS: [usize; 3] = blocks_per_class(CHAIN_BYTES);

const fn blocks_per_class(bytes: usize) -> [usize; 3] {
    [bytes / CLASSES[0], bytes / CLASSES[1], bytes / CLASSES[2]]
}

/// The recycled class for `T`, if it has one.
const fn class_of<T>() -> Option<usize> {
    let (size, align) = (size_of::<T>(), align_of::<T>());
    if size == 0 || align > ALIGN {
        return None;
    }
    let mut class = 0;
    while class < CLASSES.len() {
        if size <= CLASSES[class] {
            return Some(class);
        }
        class += 1;
    }
    None
}

fn layout(class: usize) -> Layout {
    Layout::from_size_align(CLASSES[class], ALIGN).expect("node size classes are valid layouts")
}

/// Free blocks of one class as an intrusive singly linked list: a free block's first word
/// points to the next free block. So keeping a block never allocates (a `Vec` of blocks
/// would, on a thread that only frees).
struct Chain {
    head: *mut u8,
    len: usize,
}

// SAFETY: a chain's blocks are unused memory, owned by whoever holds the chain.
unsafe impl Send for Chain {}

impl Chain {
    const EMPTY: Chain = Chain {
        head: std::ptr::null_mut(),
        len: 0,
    };

    fn pop(&mut self) -> Option<NonNull<u8>> {
        let block = NonNull::new(self.head)?;
        // SAFETY: a block on the chain is ours, at least 16 bytes and 16-aligned, and its
        // first word holds the next block (written by `push`).
        self.head = unsafe { block.as_ptr().cast::<*mut u8>().read() };
        self.len -= 1;
        Some(block)
    }

    fn push(&mut self, block: NonNull<u8>) {
        // SAFETY: the caller gives up the block, which is large and aligned enough to
        // hold a pointer.
        unsafe { block.as_ptr().cast::<*mut u8>().write(self.head) };
        self.head = block.as_ptr();
        self.len += 1;
    }

    /// Gives every block back to the allocator.
    fn dealloc_all(&mut self, class: usize) {
        while let Some(block) = self.pop() {
            // SAFETY: every block of a class-`class` chain was allocated with that layout.
            unsafe { dealloc(block.as_ptr(), layout(class)) };
        }
    }
}

/// Full chains handed between threads, per class (see the module docs).
type Pool = Mutex<[Vec<Chain>; 3]>;

sync_static! {
    /// The process's pool. The lists take it as an argument, so a unit test can give
    /// them one of its own that no other test touches.
    static SHARED: Pool = Mutex::new([Vec::new(), Vec::new(), Vec::new()]);
}

/// After finding the shared pool empty, a thread allocates this many blocks of the class
/// from the allocator before it looks again, so that a thread that only allocates does
/// not take the lock every time.
const LOOK_EVERY: u32 = 64;

/// This thread's free blocks, per class: the list it allocates from, and the chain that
/// gathers frees once the list is full.
struct FreeLists {
    lists: [Chain; 3],
    spills: [Chain; 3],
    /// Allocations left before the next look at the shared pool.
    until_look: [u32; 3],
}

impl FreeLists {
    const EMPTY: FreeLists = FreeLists {
        lists: [Chain::EMPTY, Chain::EMPTY, Chain::EMPTY],
        spills: [Chain::EMPTY, Chain::EMPTY, Chain::EMPTY],
        until_look: [0; 3],
    };

    #[inline]
    fn pop(&mut self, class: usize, pool: &Pool) -> Option<NonNull<u8>> {
        if self.lists[class].len == 0 {
            self.refill(class, pool);
        }
        self.lists[class].pop()
    }

    /// Refills the empty list: with this thread's spill chain, else with a chain another
    /// thread freed, if the pool has one and it is time to look.
    #[cold]
    fn refill(&mut self, class: usize, pool: &Pool) {
        if self.spills[class].len > 0 {
            std::mem::swap(&mut self.lists[class], &mut self.spills[class]);
        } else if self.until_look[class] > 0 {
            self.until_look[class] -= 1;
        } else if !cfg!(loom) {
            match lock(pool)[class].pop() {
                Some(chain) => self.lists[class] = chain,
                None => self.until_look[class] = LOOK_EVERY,
            }
        }
    }

    /// Keeps `block`: on the list while it has room, else on the spill chain, which goes
    /// to the shared pool once it is a full chain (or back to the allocator when the pool
    /// is full too).
    #[inline]
    fn push(&mut self, class: usize, block: NonNull<u8>, pool: &Pool) {
        if self.lists[class].len < KEEP_BLOCKS[class] {
            return self.lists[class].push(block);
        }
        self.spill(class, block, pool);
    }

    /// `push` for a full list.
    #[cold]
    fn spill(&mut self, class: usize, block: NonNull<u8>, pool: &Pool) {
        let spill = &mut self.spills[class];
        spill.push(block);
        if spill.len < CHAIN_BLOCKS[class] {
            return;
        }
        let mut chain = std::mem::replace(spill, Chain::EMPTY);
        if !cfg!(loom) {
            let mut shared = lock(pool);
            if shared[class].len() < SHARED_CHAINS {
                return shared[class].push(chain);
            }
        }
        chain.dealloc_all(class);
    }
}

impl Drop for FreeLists {
    fn drop(&mut self) {
        for class in 0..CLASSES.len() {
            self.lists[class].dealloc_all(class);
            self.spills[class].dealloc_all(class);
        }
    }
}

thread_local! {
    static FREE: RefCell<FreeLists> = const { RefCell::new(FreeLists::EMPTY) };
}

/// Moves `value` into a new node and returns the node, type-erased.
pub(crate) fn new<T>(value: T) -> *mut () {
    let Some(class) = class_of::<T>() else {
        return Box::into_raw(Box::new(value)).cast();
    };
    let recycled = FREE
        .try_with(|free| free.borrow_mut().pop(class, &SHARED))
        .ok()
        .flatten();
    let block = recycled.unwrap_or_else(|| {
        // SAFETY: class layouts have a non-zero size.
        let block = unsafe { alloc(layout(class)) };
        NonNull::new(block).unwrap_or_else(|| handle_alloc_error(layout(class)))
    });
    let node = block.as_ptr().cast::<T>();
    // SAFETY: the block is unused, at least `size_of::<T>()` bytes, and aligned to
    // `ALIGN >= align_of::<T>()` (that is what `class_of` checked).
    unsafe { node.write(value) };
    node.cast()
}

/// Drops the value in `node` and frees or recycles the node.
///
/// # Safety
/// `node` came from `new::<T>` and nothing else will use or free it.
pub(crate) unsafe fn free<T>(node: *mut ()) {
    let Some(class) = class_of::<T>() else {
        // SAFETY: nodes outside the classes are `Box<T>` (see `new`), owned by the caller.
        drop(unsafe { Box::from_raw(node.cast::<T>()) });
        return;
    };
    // SAFETY: the node holds a live `T` that nobody else will touch.
    unsafe { node.cast::<T>().drop_in_place() };
    // SAFETY: `new` never returns null.
    let block = unsafe { NonNull::new_unchecked(node.cast::<u8>()) };
    let kept = FREE.try_with(|free| free.borrow_mut().push(class, block, &SHARED));
    if kept.is_err() {
        // The thread is exiting and its lists are gone.
        // SAFETY: the block was allocated with `layout(class)` and is no longer used.
        unsafe { dealloc(block.as_ptr(), layout(class)) };
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn classes_cover_small_aligned_types_only() {
        assert_eq!(class_of::<()>(), None);
        assert_eq!(class_of::<u8>(), Some(0));
        assert_eq!(class_of::<[u64; 2]>(), Some(0));
        assert_eq!(class_of::<[u64; 3]>(), Some(1));
        assert_eq!(class_of::<[u64; 8]>(), Some(2));
        assert_eq!(class_of::<[u64; 9]>(), None);
        #[repr(align(32))]
        struct Wide(#[allow(dead_code)] u8);
        assert_eq!(class_of::<Wide>(), None);
    }

    #[test]
    fn a_thread_with_too_many_free_blocks_hands_a_chain_to_one_with_none() {
        // A pool of its own: other tests' threads spill into the process's pool.
        let pool: Pool = Mutex::new([Vec::new(), Vec::new(), Vec::new()]);
        let class = 0;
        let mut freeing = FreeLists::EMPTY;
        let mut freed = std::collections::HashSet::new();
        for _ in 0..KEEP_BLOCKS[class] + CHAIN_BLOCKS[class] {
            // SAFETY: class layouts have a non-zero size.
            let block = NonNull::new(unsafe { alloc(layout(class)) }).unwrap();
            freed.insert(block.as_ptr() as usize);
            freeing.push(class, block, &pool);
        }
        assert_eq!(
            freeing.spills[class].len, 0,
            "the full chain left the thread"
        );
        assert_eq!(lock(&pool)[class].len(), 1, "the chain is in the pool");
        let mut allocating = FreeLists::EMPTY;
        let block = allocating
            .pop(class, &pool)
            .expect("the chain from the pool");
        assert!(freed.contains(&(block.as_ptr() as usize)));
        assert!(lock(&pool)[class].is_empty(), "the chain left the pool");
        // SAFETY: the block came from `alloc(layout(class))` above.
        unsafe { dealloc(block.as_ptr(), layout(class)) };
        // `freeing` and `allocating` give their remaining blocks back as they drop.
    }

    #[test]
    fn a_freed_block_is_reused_and_values_are_dropped() {
        let counter = std::rc::Rc::new(());
        let first = new(counter.clone());
        // SAFETY: made by `new::<Rc<()>>` just above.
        unsafe { free::<std::rc::Rc<()>>(first) };
        assert_eq!(
            std::rc::Rc::strong_count(&counter),
            1,
            "the value was not dropped"
        );
        let second = new(7u64);
        assert_eq!(second, first, "the block was not recycled");
        // SAFETY: made by `new::<u64>` just above.
        unsafe { free::<u64>(second) };
    }
}
