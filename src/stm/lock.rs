//! The versioned lock word every `TVar` carries (TL2's "versioned write-lock").
//!
//! One `u64`: bit 0 is the lock bit, held by a committer while it publishes; bits 1..64
//! are the version, the global-clock value of the commit that wrote the current value.
//! A reader that sees the same unlocked word before and after loading the value knows
//! the value belongs to that version.

use std::fmt;

/// A decoded lock word. The atomic itself lives in the variable's core; this is a value.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct LockWord(u64);

impl LockWord {
    const LOCKED: u64 = 1;

    /// The word of an unlocked variable last written at `version`.
    pub(crate) const fn unlocked(version: u64) -> LockWord {
        LockWord(version << 1)
    }

    pub(crate) const fn from_bits(bits: u64) -> LockWord {
        LockWord(bits)
    }

    pub(crate) const fn bits(self) -> u64 {
        self.0
    }

    pub(crate) const fn is_locked(self) -> bool {
        self.0 & Self::LOCKED != 0
    }

    pub(crate) const fn version(self) -> u64 {
        self.0 >> 1
    }

    /// The same version with the lock bit set.
    pub(crate) const fn locked(self) -> LockWord {
        LockWord(self.0 | Self::LOCKED)
    }
}

impl fmt::Debug for LockWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockWord")
            .field("version", &self.version())
            .field("locked", &self.is_locked())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::LockWord;

    #[test]
    fn lock_bit_and_version_are_independent() {
        let word = LockWord::unlocked(41);
        assert!(!word.is_locked());
        assert_eq!(word.version(), 41);
        let held = word.locked();
        assert!(held.is_locked());
        assert_eq!(held.version(), 41);
        assert_eq!(LockWord::from_bits(held.bits()), held);
        assert_eq!(
            format!("{held:?}"),
            "LockWord { version: 41, locked: true }"
        );
    }
}
