//! The Python seed's `multiprocessing.Pool` demo: compute a digest of every file under a
//! directory, first in a loop, then with `Pool::map`, and print both times.
//!
//! Run with `cargo run --release --example digest_pool -- [DIRECTORY]` (default: this
//! crate's `target` directory if it is there, else its sources).

use std::path::{Path, PathBuf};
use std::time::Instant;

use braid::exec::Pool;

/// FNV-1a, 64-bit: a simple digest, enough to show the work split across cores.
fn digest(path: &Path) -> (PathBuf, Option<u64>) {
    let digest = std::fs::read(path).ok().map(|bytes| {
        bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |hash, &byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    });
    (path.to_path_buf(), digest)
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        match entry.file_type() {
            Ok(kind) if kind.is_dir() => files_under(&path, out),
            Ok(kind) if kind.is_file() => out.push(path),
            _ => {}
        }
    }
}

fn main() {
    let dir = std::env::args().nth(1).map_or_else(
        || {
            let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
            let built = crate_dir.join("target/release/deps");
            if built.is_dir() {
                built
            } else {
                crate_dir.join("src")
            }
        },
        PathBuf::from,
    );
    let mut files = Vec::new();
    files_under(&dir, &mut files);
    files.sort();
    println!("{} files under {}", files.len(), dir.display());

    let start = Instant::now();
    let sequential: Vec<_> = files.iter().map(|path| digest(path)).collect();
    let sequential_time = start.elapsed();

    let pool = Pool::default();
    let start = Instant::now();
    let pooled = pool.map(&files, |path| digest(path));
    let pooled_time = start.elapsed();

    assert_eq!(
        sequential, pooled,
        "the pool must give the same digests in the same order"
    );
    for (path, digest) in pooled.iter().take(5) {
        match digest {
            Some(digest) => println!("  {digest:016x}  {}", path.display()),
            None => println!("  (unreadable)      {}", path.display()),
        }
    }
    if pooled.len() > 5 {
        println!("  ... and {} more", pooled.len() - 5);
    }
    println!("sequential: {sequential_time:.2?}");
    println!("Pool::map on {} workers: {pooled_time:.2?}", pool.workers());
}
