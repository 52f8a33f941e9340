//! What the `TMap` models share: values loom tracks, and keys that hash to themselves.

use std::hash::{BuildHasher, Hasher};

use loom::alloc::Track;

/// A value loom tracks (the `Track` is only held, for its drop): a leak of any copy fails
/// the model.
pub struct Tracked(pub u32, #[allow(dead_code)] Track<()>);

pub fn tracked(n: u32) -> Tracked {
    Tracked(n, Track::new(()))
}

impl Clone for Tracked {
    fn clone(&self) -> Self {
        tracked(self.0)
    }
}

/// Hashes a `u32` key to itself: under loom every such key is in the index's first
/// shard, and keys equal modulo a table's size share a probe chain.
#[derive(Clone, Default)]
pub struct Identity;
pub struct IdentityHasher(u64);
impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, _: &[u8]) {
        unreachable!("only u32 keys")
    }
    fn write_u32(&mut self, n: u32) {
        self.0 = u64::from(n);
    }
}
impl BuildHasher for Identity {
    type Hasher = IdentityHasher;
    fn build_hasher(&self) -> IdentityHasher {
        IdentityHasher(0)
    }
}
