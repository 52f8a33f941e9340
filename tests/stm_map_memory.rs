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

/// Resident bytes of the whole process, from `/proc/self/statm` (0 where there is none).
fn resident_bytes() -> isize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: isize = (statm.split_whitespace().nth(1))
        .and_then(|field| field.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// Live heap bytes and resident bytes per item of `count` items that `make` builds; the
/// resident figure includes what the allocator adds around each block (glibc rounds a
/// 64-aligned 128-byte block up to 256 bytes).
fn bytes_per_item<T: Send>(count: usize, make: impl FnOnce() -> T + Send) -> (f64, f64) {
    let (live, resident) = (LIVE.load(Ordering::Relaxed), resident_bytes());
    let built = std::thread::scope(|s| s.spawn(make).join().unwrap());
    for _ in 0..100 {
        crossbeam_epoch::pin().flush();
    }
    let live = (LIVE.load(Ordering::Relaxed) - live) as f64 / count as f64;
    let resident = (resident_bytes() - resident) as f64 / count as f64;
    drop(built);
    (live, resident)
}

/// Prints what `bytes_per_item` measured. Each figure comes from a test of its own, to be
/// run alone (`--exact`), so the resident figure starts from a fresh process: memory a
/// previous measurement freed stays resident and would be reused. The vectors that hold
/// the variables add 8 bytes per variable to both figures.
fn report(what: &str, (live, resident): (f64, f64)) {
    println!("{what}: {live:.0} live bytes, {resident:.0} resident bytes each");
}

const N: usize = 1_000_000;

#[test]
#[ignore = "a measurement, not a check: run it by name"]
fn memory_per_tvar_u64() {
    let made = || (0..N as u64).map(braid::stm::TVar::new).collect::<Vec<_>>();
    report("TVar<u64>", bytes_per_item(N, made));
}

#[test]
#[ignore = "a measurement, not a check: run it by name"]
fn memory_per_tvar_string() {
    let made = || {
        (0..N)
            .map(|_| braid::stm::TVar::new(String::new()))
            .collect::<Vec<_>>()
    };
    report("TVar<String> (empty)", bytes_per_item(N, made));
}

#[test]
#[ignore = "a measurement, not a check: run it by name"]
fn memory_per_tmap_entry() {
    let made = || (0..N as u64).map(|k| (k, k)).collect::<TMap<_, _>>();
    report("TMap<u64, u64> entry", bytes_per_item(N, made));
}

#[test]
#[ignore = "a measurement, not a check: run it by name"]
fn memory_per_tqueue_item() {
    use braid::stm::{atomically, TQueue};
    let made = || {
        let queue = TQueue::new();
        for chunk in 0..N as u64 / 1000 {
            atomically(|tx| (0..1000).try_for_each(|i| queue.push(tx, chunk * 1000 + i)));
        }
        queue
    };
    report("TQueue<u64> item", bytes_per_item(N, made));
}

// The predication prototype of `benches/predicated/mod.rs` (issue 29 item 5), measured
// the same way; `tests/stm_map_predicated.rs` checks that it is a correct map.
#[allow(dead_code)]
#[path = "../benches/predicated/mod.rs"]
mod predicated;

#[test]
#[ignore = "a measurement, not a check: run it by name"]
fn memory_per_predicated_entry_option() {
    report_predicated::<predicated::Optional>("predicated entry, Option<u64>");
}

#[test]
#[ignore = "a measurement, not a check: run it by name"]
fn memory_per_predicated_entry_word() {
    report_predicated::<predicated::Word>("predicated entry, a word");
}

/// Prints the bytes per entry of a prototype map of `N` `u64 -> u64` entries whose
/// variables say "absent" as `P` does.
fn report_predicated<P: predicated::Presence<u64>>(what: &str) {
    let made = || {
        (0..N as u64)
            .map(|k| (k, k))
            .collect::<predicated::PredicatedMap<u64, u64, P>>()
    };
    report(what, bytes_per_item(N, made));
}
