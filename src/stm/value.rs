//! How a variable holds its value: in its own word, or in a heap node.
//!
//! A `TVar`'s value slot is one pointer-sized atomic. For the primitive scalars (integers,
//! floats, `bool`, `char`) no wider than a pointer, the slot holds the value's bits
//! themselves, as in the word-based TL2 of the paper: a write allocates nothing, a commit
//! overwrites the word, and nothing is retired, so there is nothing for the collector to
//! wait on either. Every other type lives in an immutable node (`node.rs`) that the slot
//! points to, replaced whole by each commit and freed once no reader can hold it.
//!
//! A word needs a type whose every byte is initialized (no padding: an uninitialized byte
//! must not become part of an integer) and whose `Clone` is a plain copy, and stable Rust
//! cannot ask either of a generic type. So the word types are a fixed list, recognized by
//! `TypeId`; the check compiles to a constant.
//!
//! Packed values travel as `*mut ()`: a node pointer, or a word's bits as an address
//! without provenance, never dereferenced.

use std::any::TypeId;
use std::mem::{size_of, ManuallyDrop};
use std::ptr;

use super::node;

/// Whether values of type `T` are held in the slot's word rather than in a node.
#[inline(always)]
pub(crate) fn in_word<T: 'static>() -> bool {
    if size_of::<T>() > size_of::<usize>() {
        return false;
    }
    let ty = TypeId::of::<T>();
    macro_rules! any_of {
        ($($word:ty),*) => { $(ty == TypeId::of::<$word>())||* };
    }
    any_of!(u8, u16, u32, u64, usize, i8, i16, i32, i64, isize, f32, f64, bool, char)
}

/// Packs `value` for a slot: its bits if it is a word type, else a new node owning it.
#[inline]
pub(crate) fn pack<T: 'static>(value: T) -> *mut () {
    if !in_word::<T>() {
        return node::new(value);
    }
    let value = ManuallyDrop::new(value);
    let mut bits = 0usize;
    // SAFETY: a word type fits in `usize` (checked by `in_word`) and has no padding, so
    // this copies `size_of::<T>()` initialized bytes into the low-addressed bytes of
    // `bits`; `unpack_clone` reads them back from the same place.
    unsafe {
        ptr::copy_nonoverlapping(
            ptr::from_ref(&*value).cast::<u8>(),
            ptr::from_mut(&mut bits).cast::<u8>(),
            size_of::<T>(),
        );
    }
    ptr::without_provenance_mut(bits)
}

/// The value of a word type's packed bits.
///
/// # Safety
/// `packed` came from `pack::<T>` and `in_word::<T>()` holds.
#[inline]
pub(crate) unsafe fn unpack_word<T: 'static>(packed: *mut ()) -> T {
    debug_assert!(in_word::<T>());
    let bits = packed.addr();
    // SAFETY: `bits` holds a `T`'s bytes at its start (see `pack`), and `usize` is at
    // least as aligned as every word type that fits in it. Word types are plain data,
    // so reading them out is a copy.
    unsafe { ptr::from_ref(&bits).cast::<T>().read() }
}

/// A clone of the value a packed slot holds.
///
/// # Safety
/// `packed` came from `pack::<T>`, and if it is a node, the node is alive for the whole
/// call (the caller owns it, or is pinned and loaded it from a published slot).
#[inline]
pub(crate) unsafe fn unpack_clone<T: Clone + 'static>(packed: *mut ()) -> T {
    if !in_word::<T>() {
        // SAFETY: a node holding a `T`, alive (the caller's contract).
        return unsafe { &*packed.cast::<T>() }.clone();
    }
    // SAFETY: a word type's bits (the caller's contract); plain data, so a copy is a
    // clone.
    unsafe { unpack_word::<T>(packed) }
}

/// Replaces the value held by `packed`, a slot of the caller's own (an unpublished write).
///
/// # Safety
/// `packed` came from `pack::<T>` and, if it is a node, is owned by the caller.
#[inline]
pub(crate) unsafe fn overwrite<T: 'static>(packed: &mut *mut (), value: T) {
    if in_word::<T>() {
        *packed = pack(value);
    } else {
        // SAFETY: a node holding a `T`, owned by the caller.
        unsafe { *packed.cast::<T>() = value };
    }
}

/// Drops the value held by `packed`: frees its node, if it has one.
///
/// # Safety
/// `packed` came from `pack::<T>`, and nothing else will use or free it.
pub(crate) unsafe fn drop_packed<T: 'static>(packed: *mut ()) {
    if !in_word::<T>() {
        // SAFETY: a node made by `node::new::<T>` (see `pack`), given up by the caller.
        unsafe { node::free::<T>(packed) }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn round_trip<T: Clone + PartialEq + std::fmt::Debug + 'static>(value: T) {
        let packed = pack(value.clone());
        // SAFETY: made by `pack::<T>` just above and owned here.
        assert_eq!(unsafe { unpack_clone::<T>(packed) }, value);
        // SAFETY: as above; not used again.
        unsafe { drop_packed::<T>(packed) };
    }

    #[test]
    fn primitive_scalars_are_words_and_everything_else_is_a_node() {
        assert!(in_word::<u8>() && in_word::<i64>() && in_word::<usize>());
        assert!(in_word::<f64>() && in_word::<bool>() && in_word::<char>());
        // Padding, drop glue, or a clone that is more than a copy: nodes.
        assert!(!in_word::<(u8, u16)>());
        assert!(!in_word::<Option<u32>>());
        assert!(!in_word::<String>());
        assert!(!in_word::<&'static str>());
        assert!(!in_word::<u128>());
        assert!(!in_word::<()>());
    }

    #[test]
    fn every_kind_of_value_comes_back_as_it_went_in() {
        round_trip(0u8);
        round_trip(u16::MAX - 1);
        round_trip(-7i32);
        round_trip(i64::MIN);
        round_trip(usize::MAX);
        round_trip(-0.5f32);
        round_trip(f64::MAX);
        round_trip(true);
        round_trip('λ');
        round_trip(String::from("node"));
        round_trip(Some(3u32));
        round_trip(u128::MAX);
    }

    proptest::proptest! {
        /// Any value of a word type comes back bit for bit, NaN payloads and signed zeros
        /// included.
        #[test]
        fn word_values_round_trip_bit_for_bit(
            bits in proptest::prelude::any::<u64>(),
            c in proptest::prelude::any::<char>(),
            b in proptest::prelude::any::<bool>(),
        ) {
            round_trip(bits);
            round_trip(bits as i8);
            round_trip(bits as u16);
            round_trip(bits as i32);
            round_trip(bits as usize);
            round_trip(c);
            round_trip(b);
            // SAFETY: made by `pack::<f64>` here; a word owns nothing.
            let back = unsafe { unpack_clone::<f64>(pack(f64::from_bits(bits))) };
            proptest::prop_assert_eq!(back.to_bits(), bits);
            let single = f32::from_bits(bits as u32);
            // SAFETY: made by `pack::<f32>` here; a word owns nothing.
            let back = unsafe { unpack_clone::<f32>(pack(single)) };
            proptest::prop_assert_eq!(back.to_bits(), bits as u32);
        }
    }

    #[test]
    fn overwriting_a_word_or_a_node_replaces_the_value() {
        let mut word = pack(1u32);
        // SAFETY: `word` is owned here and holds a `u32`.
        unsafe { overwrite(&mut word, 2u32) };
        // SAFETY: as above.
        assert_eq!(unsafe { unpack_clone::<u32>(word) }, 2);
        let mut node = pack(String::from("a"));
        // SAFETY: `node` is owned here and holds a `String`.
        unsafe { overwrite(&mut node, String::from("b")) };
        // SAFETY: as above; freed once, at the end.
        unsafe {
            assert_eq!(unpack_clone::<String>(node), "b");
            drop_packed::<String>(node);
        }
    }
}
