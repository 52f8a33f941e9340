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
//! Blocks go back to the allocator when the pool is full, and when a list held them
//! unused for a while (its low-water mark over the last 4,096 frees): a cache that
//! only grew would keep the peak of every thread's garbage for the life of the process.

use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::cell::RefCell;
use std::ptr::NonNull;

use crate::sync::{lock, sync_static, thread_local, Mutex};

/// Block sizes of the recycled classes; every block is aligned to `ALIGN`.
const CLASSES: [usize; 3] = [16, 32, 64];
const ALIGN: usize = 16;
/// Bytes of free blocks kept per class and thread, at most. Retired nodes come back in
/// bursts (a thread frees all its ready batches at once, 32 nodes each), and a list
/// smaller than a burst sends most of it back to the allocator only to allocate it
/// again (measured when the collector still freed whole bursts at once: 4096 blocks made
/// a one-thread bank benchmark 1.5x faster than 128; with 16 KiB instead of 64, a
/// bounded queue's messages took 18-28% longer). A list holds only what the thread
/// used lately, though: see `SCAVENGE_EVERY`.
const KEEP_BYTES: usize = 64 * 1024;
/// Bytes of free blocks handed to the shared pool at once, and how many such chains the
/// pool keeps per class (64 KiB): a producer/consumer imbalance moves chains through it
/// at the rate they come, so it needs few (with 64, the messages benchmarks ran no
/// faster).
const CHAIN_BYTES: usize = 16 * 1024;
const SHARED_CHAINS: usize = 4;
/// Every this many frees into a class, a thread gives back to the allocator the blocks
/// its list held throughout (the list's low-water mark since the last look): blocks
/// that sat unused for a whole period are not a working set. (A thread that only frees,
/// such as the collector thread, so keeps only what it freed in the last period.)
///
/// Everything kept here counts as live memory to the allocator, so what the lists and
/// the pool hold is what a long-running process pays for the cache. With no scavenging,
/// and 1 MiB of pool per class, the lists and the pool drifted up towards their limits
/// and stayed there: a soak run (`examples/soak.rs`) held about 4,000 more blocks of 32
/// to 127 bytes at 30 s than at 20 s, and its pipelines alone 7,000 more of 16 to 31
/// bytes at 30 s than at 5, none of them a leak.
const SCAVENGE_EVERY: u32 = 4096;

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
    /// The shortest each list has been since its last scavenge.
    low_water: [usize; 3],
    /// Frees left before each list's next scavenge.
    until_scavenge: [u32; 3],
}

impl FreeLists {
    const EMPTY: FreeLists = FreeLists {
        lists: [Chain::EMPTY, Chain::EMPTY, Chain::EMPTY],
        spills: [Chain::EMPTY, Chain::EMPTY, Chain::EMPTY],
        until_look: [0; 3],
        low_water: [0; 3],
        until_scavenge: [SCAVENGE_EVERY; 3],
    };

    #[inline]
    fn pop(&mut self, class: usize, pool: &Pool) -> Option<NonNull<u8>> {
        if self.lists[class].len == 0 {
            self.refill(class, pool);
        }
        let block = self.lists[class].pop();
        self.low_water[class] = self.low_water[class].min(self.lists[class].len);
        block
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
        self.until_scavenge[class] -= 1;
        if self.until_scavenge[class] == 0 {
            self.scavenge(class);
        }
        if self.lists[class].len < KEEP_BLOCKS[class] {
            return self.lists[class].push(block);
        }
        self.spill(class, block, pool);
    }

    /// Gives back what the list held unused since the last look (see `SCAVENGE_EVERY`),
    /// and starts the next period.
    #[cold]
    fn scavenge(&mut self, class: usize) {
        self.until_scavenge[class] = SCAVENGE_EVERY;
        for _ in 0..self.low_water[class] {
            let block = (self.lists[class].pop()).expect("the low-water mark is within the list");
            // SAFETY: every block of a class-`class` list was allocated with that layout.
            unsafe { dealloc(block.as_ptr(), layout(class)) };
        }
        self.low_water[class] = self.lists[class].len;
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

    /// Allocates `n` blocks of `class` and frees them into `lists`.
    fn fill(lists: &mut FreeLists, class: usize, n: usize, pool: &Pool) {
        for _ in 0..n {
            // SAFETY: class layouts have a non-zero size.
            let block = NonNull::new(unsafe { alloc(layout(class)) }).unwrap();
            lists.push(class, block, pool);
        }
    }

    /// One allocation and one free, `n` times: the list's length never drops by more
    /// than one.
    fn churn(lists: &mut FreeLists, class: usize, n: usize, pool: &Pool) {
        for _ in 0..n {
            let block = lists.pop(class, pool).expect("the list is not empty");
            lists.push(class, block, pool);
        }
    }

    #[test]
    fn a_list_gives_back_the_blocks_it_held_unused_for_a_period() {
        let pool: Pool = Mutex::new([Vec::new(), Vec::new(), Vec::new()]);
        let class = 0;
        let mut lists = FreeLists::EMPTY;
        fill(&mut lists, class, 1000, &pool);
        // The first period started empty: nothing sat unused through it.
        churn(&mut lists, class, SCAVENGE_EVERY as usize - 1000, &pool);
        assert_eq!(lists.lists[class].len, 1000);
        // Through the second, 999 blocks sat unused: they go.
        churn(&mut lists, class, SCAVENGE_EVERY as usize, &pool);
        assert_eq!(lists.lists[class].len, 1);
        assert!(
            lock(&pool)[class].is_empty(),
            "scavenged blocks go to the allocator"
        );
    }

    #[test]
    fn a_list_whose_blocks_are_all_used_in_each_period_keeps_them() {
        let pool: Pool = Mutex::new([Vec::new(), Vec::new(), Vec::new()]);
        let class = 1;
        let mut lists = FreeLists::EMPTY;
        fill(&mut lists, class, 1000, &pool);
        // Ten times: take every block, then give them all back. Each period of
        // `SCAVENGE_EVERY` frees sees the list empty at least once.
        for _ in 0..10 {
            let taken: Vec<_> = (0..1000)
                .map(|_| lists.pop(class, &pool).expect("1000 blocks"))
                .collect();
            for block in taken {
                lists.push(class, block, &pool);
            }
        }
        assert_eq!(lists.lists[class].len, 1000);
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
