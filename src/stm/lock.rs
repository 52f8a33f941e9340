//! The versioned lock word every `TVar` carries (TL2's "versioned write-lock").
//!
//! One `u64`: bit 0 is the lock bit, held by a committer while it publishes; bits 4..64
//! are the version, the global-clock value of the commit that wrote the current value.
//! A reader that sees the same unlocked word before and after loading the value knows
//! the value belongs to that version.
//!
//! Bits 1 to 3 belong to `TMap`'s per-key variables (`map/tmap.rs`), and are clear in
//! every other variable:
//! - **absent**: the key is not in the map. It is published with the value, by the same
//!   store that unlocks, so a consistent read sees a value and its presence together,
//!   and a word value needs no spare bit pattern to say "absent".
//! - **dead**: the variable was unlinked from the map's index (Bronson's "embalmed"), so
//!   no transaction may use it again; set together with a new version, so every
//!   transaction that read it earlier fails validation.
//! - **claimed**: a new key's variable, made by a transaction that is about to write it,
//!   which the index must not sweep yet: it is absent only until that transaction
//!   commits. The commit's unlocking store clears it (it writes a whole new word); a
//!   transaction that ends without committing it clears it too (`tx/write.rs`), so an
//!   abandoned variable can be swept.

use std::fmt;

/// A decoded lock word. The atomic itself lives in the variable's core; this is a value.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct LockWord(u64);

impl LockWord {
    const LOCKED: u64 = 1;
    const ABSENT: u64 = 1 << 1;
    const DEAD: u64 = 1 << 2;
    const CLAIMED: u64 = 1 << 3;
    const VERSION_SHIFT: u32 = 4;

    /// The word of an unlocked variable last written at `version`, holding a value.
    pub(crate) const fn unlocked(version: u64) -> LockWord {
        LockWord(version << Self::VERSION_SHIFT)
    }

    /// This word with the absent bit set as `absent` says.
    pub(crate) const fn with_absent(self, absent: bool) -> LockWord {
        LockWord(self.0 & !Self::ABSENT | (absent as u64) << 1)
    }

    /// This word with the dead bit set.
    pub(crate) const fn dead(self) -> LockWord {
        LockWord(self.0 | Self::DEAD)
    }

    /// This word with the claimed bit set.
    pub(crate) const fn claimed(self) -> LockWord {
        LockWord(self.0 | Self::CLAIMED)
    }

    /// This word with the claimed bit clear.
    pub(crate) const fn unclaimed(self) -> LockWord {
        LockWord(self.0 & !Self::CLAIMED)
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
        self.0 >> Self::VERSION_SHIFT
    }

    /// A map variable whose key is not in the map.
    pub(crate) const fn is_absent(self) -> bool {
        self.0 & Self::ABSENT != 0
    }

    /// A map variable unlinked from its map: see the module docs.
    pub(crate) const fn is_dead(self) -> bool {
        self.0 & Self::DEAD != 0
    }

    /// A new map variable that its maker has not committed yet: see the module docs.
    pub(crate) const fn is_claimed(self) -> bool {
        self.0 & Self::CLAIMED != 0
    }

    /// The same word with the lock bit set.
    pub(crate) const fn locked(self) -> LockWord {
        LockWord(self.0 | Self::LOCKED)
    }

    /// The same word with the lock bit clear: how a commit that changed nothing unlocks.
    pub(crate) const fn unlocked_unchanged(self) -> LockWord {
        LockWord(self.0 & !Self::LOCKED)
    }
}

impl fmt::Debug for LockWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockWord")
            .field("version", &self.version())
            .field("locked", &self.is_locked())
            .field("absent", &self.is_absent())
            .field("dead", &self.is_dead())
            .field("claimed", &self.is_claimed())
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
            "LockWord { version: 41, locked: true, absent: false, dead: false, claimed: false }"
        );
    }

    #[test]
    fn absent_and_dead_bits_leave_the_version_and_lock_alone() {
        let word = LockWord::unlocked(u64::MAX >> 4).with_absent(true);
        assert!(word.is_absent() && !word.is_dead() && !word.is_locked() && !word.is_claimed());
        assert_eq!(word.version(), u64::MAX >> 4);
        let held = word.dead().claimed().locked();
        assert!(held.is_absent() && held.is_dead() && held.is_claimed() && held.is_locked());
        let back = held.unlocked_unchanged();
        assert!(back.is_absent() && back.is_dead() && back.is_claimed() && !back.is_locked());
        assert_eq!(back.version(), u64::MAX >> 4);
        assert!(!back.with_absent(false).is_absent());
        assert!(!back.unclaimed().is_claimed() && back.unclaimed().is_dead());
    }
}
