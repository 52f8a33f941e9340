//! Value nodes: the immutable heap cells a `TVar` points to, one per committed value.
//!
//! Every write allocates a node and every commit retires one, so node traffic is most of
//! a small transaction's cost. Retired nodes are freed in batches by whichever thread
//! runs the epoch collector, often not the thread that allocated them, and the system
//! allocator handles such bursts of foreign frees badly (under glibc, half the time of a
//! two-thread bank benchmark went to `malloc`/`free` and their arena locks).
//!
//! So small nodes (at most 64 bytes, alignment at most 16) are recycled: each size class
//! of 16, 32 and 64 bytes has a per-thread free list of up to `KEEP_BYTES`, filled by
//! frees on this thread and drained by allocations on it. Everything else is a plain
//! `Box`. No locks and no atomics: the lists are thread-local, and intrusive (a free
//! block holds the link to the next), so keeping a block allocates nothing.

use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::cell::RefCell;
use std::ptr::NonNull;

use crate::sync::thread_local;

/// Block sizes of the recycled classes; every block is aligned to `ALIGN`.
const CLASSES: [usize; 3] = [16, 32, 64];
const ALIGN: usize = 16;
/// Bytes of free blocks kept per class and thread. The epoch collector frees retired
/// nodes in bursts of a few thousand (crossbeam's bag of 64 deferred calls, each a
/// batch of retired nodes), and a list smaller than a burst sends most of it back to the
/// allocator only to allocate it again (measured: 4096 blocks made a one-thread bank
/// benchmark 1.5x faster than 128). So a thread keeps at most 3 x 64 KiB.
const KEEP_BYTES: usize = 64 * 1024;

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

/// This thread's free blocks, per class, as intrusive singly linked lists: a free block's
/// first word points to the next free block. So keeping a block never allocates (a `Vec`
/// of blocks would, on a thread that only frees).
struct FreeLists {
    heads: [*mut u8; 3],
    lens: [usize; 3],
}

impl FreeLists {
    fn pop(&mut self, class: usize) -> Option<NonNull<u8>> {
        let block = NonNull::new(self.heads[class])?;
        // SAFETY: a block on the list is ours, at least 16 bytes and 16-aligned, and its
        // first word holds the next block (written by `push`).
        self.heads[class] = unsafe { block.as_ptr().cast::<*mut u8>().read() };
        self.lens[class] -= 1;
        Some(block)
    }

    /// Keeps `block` unless the class's list is full; returns whether it did.
    fn push(&mut self, class: usize, block: NonNull<u8>) -> bool {
        if self.lens[class] >= KEEP_BYTES / CLASSES[class] {
            return false;
        }
        // SAFETY: the caller gives up the block, which is large and aligned enough to
        // hold a pointer.
        unsafe { block.as_ptr().cast::<*mut u8>().write(self.heads[class]) };
        self.heads[class] = block.as_ptr();
        self.lens[class] += 1;
        true
    }
}

impl Drop for FreeLists {
    fn drop(&mut self) {
        for class in 0..CLASSES.len() {
            while let Some(block) = self.pop(class) {
                // SAFETY: every block in list `class` was allocated with `layout(class)`.
                unsafe { dealloc(block.as_ptr(), layout(class)) };
            }
        }
    }
}

thread_local! {
    static FREE: RefCell<FreeLists> = const { RefCell::new(FreeLists {
        heads: [std::ptr::null_mut(); 3],
        lens: [0; 3],
    }) };
}

/// Moves `value` into a new node and returns the node, type-erased.
pub(crate) fn new<T>(value: T) -> *mut () {
    let Some(class) = class_of::<T>() else {
        return Box::into_raw(Box::new(value)).cast();
    };
    let recycled = FREE
        .try_with(|free| free.borrow_mut().pop(class))
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
    let kept = FREE.try_with(|free| free.borrow_mut().push(class, block));
    if !matches!(kept, Ok(true)) {
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
