//! The hierarchical timing wheel behind every braid timer: plain data, no locking, no
//! clock. Time is counted in ticks (milliseconds since the timer started).
//!
//! Six levels of 64 slots; a slot of level `l` spans `64^l` ticks, so the wheel reaches
//! `64^6` ticks (about 2.2 years) ahead. An entry goes to the level of the highest 6-bit
//! group in which its tick differs from `elapsed` (the time the wheel has been advanced
//! to), and to the slot that group names. Every entry on level 0 is due before any entry
//! on level 1, and so on up, so the next slot to expire is the first occupied slot of the
//! lowest occupied level: a bitmap per level finds it in one instruction. When time
//! reaches a slot above level 0, its entries move down (they are now close), and each
//! entry moves at most five times in its life. tokio's timer wheel has the same shape.
//!
//! Entries live in a slab (`Vec` plus a free list) and each slot is a doubly linked list
//! through the slab by index, so insert and cancel are O(1) however many entries are
//! pending, with no allocation once the slab has grown, and no `unsafe`. A key carries a
//! generation, so a stale key (its entry fired, its slot reused) is recognized.

use std::task::Waker;

const LEVELS: usize = 6;
const SLOT_BITS: u32 = 6;
const SLOTS: usize = 1 << SLOT_BITS;
/// The first tick past the wheel's reach, counted from `elapsed`.
pub(crate) const MAX_AHEAD: u64 = 1 << (SLOT_BITS as usize * LEVELS);
const NIL: u32 = u32::MAX;

/// Which entry a registration owns: its slab index and the generation it was made in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Key {
    index: u32,
    generation: u32,
}

struct Entry {
    tick: u64,
    waker: Option<Waker>,
    prev: u32,
    next: u32,
    /// `level * SLOTS + slot` while in the wheel; `NIL` while free.
    slot: u32,
    generation: u32,
}

pub(crate) struct Wheel {
    entries: Vec<Entry>,
    /// Free slab indices (their entries have `slot == NIL`).
    free: Vec<u32>,
    heads: Box<[u32; LEVELS * SLOTS]>,
    occupied: [u64; LEVELS],
    elapsed: u64,
    len: usize,
}

/// Where a tick goes, relative to `elapsed`: `(level, slot)`.
fn position(elapsed: u64, tick: u64) -> (usize, usize) {
    // `| (SLOTS - 1)`: a tick in the current level-0 window still has a level (0).
    let masked = ((elapsed ^ tick) | (SLOTS as u64 - 1)).min(MAX_AHEAD - 1);
    let significant = 63 - masked.leading_zeros();
    let level = (significant / SLOT_BITS) as usize;
    let slot = ((tick >> (level as u32 * SLOT_BITS)) as usize) & (SLOTS - 1);
    (level, slot)
}

fn slot_span(level: usize) -> u64 {
    1 << (level as u32 * SLOT_BITS)
}

impl Wheel {
    pub(crate) fn new() -> Wheel {
        Wheel {
            entries: Vec::new(),
            free: Vec::new(),
            heads: Box::new([NIL; LEVELS * SLOTS]),
            occupied: [0; LEVELS],
            elapsed: 0,
            len: 0,
        }
    }

    /// How many entries are pending.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The tick the wheel has been advanced to: anything at or before it is due.
    #[cfg(test)]
    pub(crate) fn elapsed(&self) -> u64 {
        self.elapsed
    }

    /// Adds an entry that wakes `waker` at `tick`, or gives the waker back if `tick` is
    /// already due. A tick past the wheel's reach is clamped to its last tick: the entry
    /// then fires early, and its owner registers again (see `Sleep`).
    pub(crate) fn insert(&mut self, tick: u64, waker: Waker) -> Result<Key, Waker> {
        if tick <= self.elapsed {
            return Err(waker);
        }
        let tick = tick.min(self.elapsed.saturating_add(MAX_AHEAD - 1));
        let index = match self.free.pop() {
            Some(index) => index,
            None => {
                let index = u32::try_from(self.entries.len())
                    .ok()
                    .filter(|&index| index != NIL)
                    .expect("braid::time: more than 4 billion timers pending at once");
                self.entries.push(Entry {
                    tick: 0,
                    waker: None,
                    prev: NIL,
                    next: NIL,
                    slot: NIL,
                    generation: 0,
                });
                index
            }
        };
        let entry = &mut self.entries[index as usize];
        entry.tick = tick;
        entry.waker = Some(waker);
        self.link(index);
        self.len += 1;
        Ok(Key {
            index,
            generation: self.entries[index as usize].generation,
        })
    }

    /// Whether `key`'s entry is still pending (not fired, not cancelled).
    pub(crate) fn contains(&self, key: Key) -> bool {
        self.entries
            .get(key.index as usize)
            .is_some_and(|entry| entry.generation == key.generation && entry.slot != NIL)
    }

    /// Replaces the waker of `key`'s entry, returning the old one (for the caller to drop
    /// outside its lock), or gives `waker` back if the entry is no longer pending.
    pub(crate) fn replace_waker(&mut self, key: Key, waker: Waker) -> Result<Waker, Waker> {
        if !self.contains(key) {
            return Err(waker);
        }
        let slot = &mut self.entries[key.index as usize].waker;
        Ok(slot
            .replace(waker)
            .expect("a pending entry holds its waker"))
    }

    /// Removes `key`'s entry if it is still pending, returning its waker.
    pub(crate) fn cancel(&mut self, key: Key) -> Option<Waker> {
        if !self.contains(key) {
            return None;
        }
        self.unlink(key.index);
        Some(self.release(key.index))
    }

    /// The earliest tick at which some entry may be due: the start of the next occupied
    /// slot (an entry in a higher level's slot is due no earlier than the slot starts).
    pub(crate) fn next_expiration(&self) -> Option<u64> {
        self.next_slot().map(|(_, _, start)| start)
    }

    /// Advances the wheel to `now`, handing every due entry's waker to `fire`.
    pub(crate) fn advance(&mut self, now: u64, mut fire: impl FnMut(Waker)) {
        while let Some((level, slot, start)) = self.next_slot() {
            if start > now {
                break;
            }
            self.elapsed = self.elapsed.max(start);
            // Take the slot's whole list, then fire or move down each entry.
            let bucket = level * SLOTS + slot;
            let mut index = std::mem::replace(&mut self.heads[bucket], NIL);
            self.occupied[level] &= !(1 << slot);
            while index != NIL {
                let entry = &mut self.entries[index as usize];
                let next = entry.next;
                if entry.tick <= now {
                    fire(self.release(index));
                } else {
                    self.link(index);
                }
                index = next;
            }
        }
        self.elapsed = self.elapsed.max(now);
    }

    /// The next occupied slot: `(level, slot, first tick it spans)`.
    fn next_slot(&self) -> Option<(usize, usize, u64)> {
        let level = self.occupied.iter().position(|&bits| bits != 0)?;
        let span = slot_span(level);
        let now_slot = ((self.elapsed / span) as usize) & (SLOTS - 1);
        let rotated = self.occupied[level].rotate_right(now_slot as u32);
        let slot = (rotated.trailing_zeros() as usize + now_slot) & (SLOTS - 1);
        let level_span = span << SLOT_BITS;
        let mut start = (self.elapsed & !(level_span - 1)) + slot as u64 * span;
        if start <= self.elapsed && level == LEVELS - 1 {
            // The top level wraps around: a slot behind the current one is a turn ahead.
            start += level_span;
        }
        Some((level, slot, start))
    }

    fn link(&mut self, index: u32) {
        let (level, slot) = position(self.elapsed, self.entries[index as usize].tick);
        let bucket = level * SLOTS + slot;
        let head = self.heads[bucket];
        if head != NIL {
            self.entries[head as usize].prev = index;
        }
        let entry = &mut self.entries[index as usize];
        entry.prev = NIL;
        entry.next = head;
        entry.slot = bucket as u32;
        self.heads[bucket] = index;
        self.occupied[level] |= 1 << slot;
    }

    fn unlink(&mut self, index: u32) {
        let entry = &self.entries[index as usize];
        let (prev, next, bucket) = (entry.prev, entry.next, entry.slot as usize);
        if prev == NIL {
            self.heads[bucket] = next;
            if next == NIL {
                self.occupied[bucket / SLOTS] &= !(1 << (bucket % SLOTS));
            }
        } else {
            self.entries[prev as usize].next = next;
        }
        if next != NIL {
            self.entries[next as usize].prev = prev;
        }
    }

    /// Frees an entry already out of its slot's list and returns its waker.
    fn release(&mut self, index: u32) -> Waker {
        let entry = &mut self.entries[index as usize];
        entry.slot = NIL;
        entry.generation = entry.generation.wrapping_add(1);
        self.free.push(index);
        self.len -= 1;
        entry.waker.take().expect("a pending entry holds its waker")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::waker_fn;
    use crate::sync::Arc;
    use std::sync::Mutex;

    /// A waker that records `id` into `log` when woken.
    fn recorder(log: &Arc<Mutex<Vec<u64>>>, id: u64) -> Waker {
        let log = log.clone();
        waker_fn(move || log.lock().unwrap().push(id))
    }

    fn fire_all(wheel: &mut Wheel, now: u64) {
        wheel.advance(now, Waker::wake);
    }

    #[test]
    fn entries_fire_at_their_tick_in_deadline_order_across_levels() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut wheel = Wheel::new();
        let ticks = [5, 1, 64, 63, 4096, 70, 262_143, 1_000_000, 2];
        for &tick in &ticks {
            wheel.insert(tick, recorder(&log, tick)).unwrap();
        }
        assert_eq!(wheel.len(), ticks.len());
        let mut now = 0;
        while wheel.len() > 0 {
            let next = wheel.next_expiration().unwrap();
            assert!(next > now || next == wheel.elapsed(), "{next} after {now}");
            now = next;
            fire_all(&mut wheel, now);
            // Nothing fires before its tick.
            assert!(log.lock().unwrap().iter().all(|&tick| tick <= now));
        }
        let mut sorted = ticks.to_vec();
        sorted.sort_unstable();
        assert_eq!(*log.lock().unwrap(), sorted);
    }

    #[test]
    fn a_due_tick_is_refused_and_a_cancelled_entry_never_fires() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut wheel = Wheel::new();
        fire_all(&mut wheel, 10);
        assert!(wheel.insert(10, recorder(&log, 10)).is_err());
        let key = wheel.insert(11, recorder(&log, 11)).unwrap();
        let kept = wheel.insert(12, recorder(&log, 12)).unwrap();
        assert!(wheel.cancel(key).is_some());
        assert!(wheel.cancel(key).is_none(), "cancelled twice");
        fire_all(&mut wheel, 100);
        assert_eq!(*log.lock().unwrap(), [12]);
        assert!(!wheel.contains(kept), "fired entries are no longer pending");
        assert_eq!(wheel.len(), 0);
        // A reused slot does not answer to the stale key.
        let reused = wheel.insert(200, recorder(&log, 200)).unwrap();
        assert!(!wheel.contains(kept) || reused == kept);
        assert!(wheel.contains(reused));
    }

    #[test]
    fn a_tick_past_the_reach_is_clamped_to_fire_early() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut wheel = Wheel::new();
        wheel.insert(u64::MAX, recorder(&log, 1)).unwrap();
        let next = wheel.next_expiration().unwrap();
        assert!(next < MAX_AHEAD, "{next}");
        fire_all(&mut wheel, MAX_AHEAD);
        assert_eq!(*log.lock().unwrap(), [1]);
    }

    #[test]
    fn the_top_level_wraps_around() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut wheel = Wheel::new();
        let start = MAX_AHEAD * 3 + 12345;
        fire_all(&mut wheel, start);
        let far = start + MAX_AHEAD - 10;
        wheel.insert(far, recorder(&log, far)).unwrap();
        wheel.insert(start + 5, recorder(&log, start + 5)).unwrap();
        let mut now = start;
        while wheel.len() > 0 {
            now = wheel.next_expiration().unwrap().max(now);
            fire_all(&mut wheel, now);
        }
        assert_eq!(*log.lock().unwrap(), [start + 5, far]);
        assert_eq!(now, far);
    }
}
