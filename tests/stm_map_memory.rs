#![cfg(not(loom))]
//! Heap bytes per entry of a `TMap<u64, u64>` against a `HashMap<u64, u64>` at 1M
//! entries, as live bytes by a counting allocator (what the map holds, not what the
//! allocator keeps around it). Ignored by default: run with
//! `cargo test --release --test stm_map_memory -- --ignored --nocapture`.
//! The figure is in BENCHMARKS.md.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::sync::atomic::{AtomicIsize, Ordering};

use braid::stm::TMap;

/// Counts live heap bytes, all threads together.
struct LiveBytes;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator and counts.
unsafe impl GlobalAlloc for LiveBytes {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same layout contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: LiveBytes = LiveBytes;

/// Live bytes after `make` builds something, per entry of `entries`; the thing is kept
/// alive while measured.
fn bytes_per_entry<T: Send>(entries: usize, make: impl FnOnce() -> T + Send) -> f64 {
    let before = LIVE.load(Ordering::Relaxed);
    // Built on a thread of its own, which hands its retired nodes over when it exits.
    let built = std::thread::scope(|s| s.spawn(make).join().unwrap());
    for _ in 0..100 {
        crossbeam_epoch::pin().flush();
    }
    let after = LIVE.load(Ordering::Relaxed);
    let per_entry = (after - before) as f64 / entries as f64;
    drop(built);
    per_entry
}

#[test]
#[ignore = "a measurement, not a check: run it by name"]
fn memory_per_entry_at_one_million_entries() {
    const N: u64 = 1_000_000;
    let hash_map = bytes_per_entry(N as usize, || {
        (0..N).map(|k| (k, k)).collect::<HashMap<_, _>>()
    });
    let t_map = bytes_per_entry(N as usize, || {
        (0..N).map(|k| (k, k)).collect::<TMap<_, _>>()
    });
    println!("HashMap<u64, u64>: {hash_map:.0} bytes per entry");
    println!(
        "TMap<u64, u64>:    {t_map:.0} bytes per entry ({:.1}x)",
        t_map / hash_map
    );
}
