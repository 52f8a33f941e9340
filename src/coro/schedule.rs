//! Which ready task a [`Scheduler`](super::Scheduler) runs next.
//!
//! A `Schedule` is a plan, not a running state: cloning it and running the same program
//! under each clone gives the same interleaving, on every machine (no hashing, no clock,
//! no thread ids: only the plan and a step counter decide). The Scheduler keeps a
//! [`Picker`] made from its schedule and asks it at every step where there is a choice.
//!
//! # What a step is
//! The Scheduler runs tasks in rounds: the tasks ready when a round starts, then (next
//! round) those they woke. At each step of a round the candidates are the round's tasks
//! not yet run, in order, followed by the tasks woken during this round, in wake order.
//! The picker names one by index; index 0 is round robin. A step with one candidate is no
//! choice and is not counted, so a plan of choices is spent only where it can matter.
//!
//! `block_on`'s own future and timers are outside the plan: they run between rounds, as
//! under round robin.

use std::fmt;

/// The order in which a [`Scheduler`](super::Scheduler) runs its ready tasks.
///
/// [`Schedule::round_robin`] is the order [`Scheduler::new`](super::Scheduler::new)
/// uses; [`Schedule::from_seed`] picks pseudo-randomly among the ready tasks at every
/// step; [`Schedule::from_choices`] follows an explicit list (what the proptest
/// strategy in `braid::testing` generates and shrinks). The same schedule and the same
/// program give the same interleaving every time. `Debug` prints the Rust expression
/// that rebuilds the schedule, so a failing one can be replayed by pasting it.
///
/// ```
/// use braid::coro::{yield_now, Schedule, Scheduler};
/// use std::cell::RefCell;
/// use std::rc::Rc;
///
/// fn run(schedule: Schedule) -> Vec<char> {
///     let log = Rc::new(RefCell::new(Vec::new()));
///     let mut scheduler = Scheduler::with_schedule(schedule);
///     for name in ['a', 'b', 'c'] {
///         let log = log.clone();
///         scheduler.spawn(async move {
///             for _ in 0..2 {
///                 log.borrow_mut().push(name);
///                 yield_now().await;
///             }
///         });
///     }
///     scheduler.run().unwrap();
///     let order = log.borrow().clone();
///     order
/// }
///
/// assert_eq!(run(Schedule::round_robin()), ['a', 'b', 'c', 'a', 'b', 'c']);
/// // A seed gives its own order, the same one on every run.
/// assert_eq!(run(Schedule::from_seed(7)), run(Schedule::from_seed(7)));
/// // Choices name the candidate to run at each step: here `c` first, then `b`; the next
/// // round runs them in the order they yielded.
/// assert_eq!(run(Schedule::from_choices([2, 1])), ['c', 'b', 'a', 'c', 'b', 'a']);
/// println!("{:?}", Schedule::from_seed(7)); // Schedule::from_seed(7)
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Schedule {
    plan: Plan,
}

#[derive(Clone, PartialEq, Eq, Hash)]
enum Plan {
    RoundRobin,
    Seeded(u64),
    Choices(Vec<u32>),
}

impl Schedule {
    /// FIFO: the tasks ready at a round's start in order, then those they woke. The
    /// default, and what [`Scheduler::new`](super::Scheduler::new) uses.
    pub fn round_robin() -> Schedule {
        Schedule {
            plan: Plan::RoundRobin,
        }
    }

    /// A pseudo-random choice among the candidates at every step, from `seed`. Different
    /// seeds give varied interleavings; the same seed gives the same one, everywhere.
    pub fn from_seed(seed: u64) -> Schedule {
        Schedule {
            plan: Plan::Seeded(seed),
        }
    }

    /// An explicit plan: at the `i`-th step with a choice, run candidate `choices[i]`,
    /// or the last one if there are fewer (0 is round robin's pick); round robin once the
    /// list runs out. An empty list is round robin.
    ///
    /// A smaller choice is never further from round robin than a larger one (a choice
    /// past the last candidate means the last, not a wrap-around to the first), which is
    /// what lets proptest shrink a plan toward round robin one number at a time.
    pub fn from_choices(choices: impl IntoIterator<Item = u32>) -> Schedule {
        let choices: Vec<u32> = choices.into_iter().collect();
        if choices.is_empty() {
            return Schedule::round_robin();
        }
        Schedule {
            plan: Plan::Choices(choices),
        }
    }

    /// Whether this is plain round robin (every choice is the first candidate).
    pub fn is_round_robin(&self) -> bool {
        match &self.plan {
            Plan::RoundRobin => true,
            Plan::Seeded(_) => false,
            Plan::Choices(choices) => choices.iter().all(|&c| c == 0),
        }
    }

    /// The seed, for a schedule made by [`Schedule::from_seed`].
    pub fn seed(&self) -> Option<u64> {
        match self.plan {
            Plan::Seeded(seed) => Some(seed),
            _ => None,
        }
    }

    /// Parses what `BRAID_SCHEDULE` may hold: `round_robin`, a seed (`42`), or a list of
    /// choices (`choices:2,0,1`).
    pub(crate) fn parse(text: &str) -> Option<Schedule> {
        let text = text.trim();
        if text == "round_robin" {
            return Some(Schedule::round_robin());
        }
        if let Some(list) = text.strip_prefix("choices:") {
            let choices: Result<Vec<u32>, _> = list
                .split(',')
                .filter(|c| !c.trim().is_empty())
                .map(|c| c.trim().parse())
                .collect();
            return choices.ok().map(Schedule::from_choices);
        }
        text.parse().ok().map(Schedule::from_seed)
    }

    /// The text for `BRAID_SCHEDULE` that replays this schedule (see [`Schedule::parse`]).
    pub(crate) fn replay_text(&self) -> String {
        match &self.plan {
            Plan::RoundRobin => "round_robin".to_owned(),
            Plan::Seeded(seed) => seed.to_string(),
            Plan::Choices(choices) => {
                let list: Vec<String> = choices.iter().map(u32::to_string).collect();
                format!("choices:{}", list.join(","))
            }
        }
    }

    pub(crate) fn picker(&self) -> Picker {
        Picker {
            plan: self.plan.clone(),
            step: 0,
            state: match self.plan {
                Plan::Seeded(seed) => seed,
                _ => 0,
            },
        }
    }
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule::round_robin()
    }
}

impl fmt::Debug for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.plan {
            Plan::RoundRobin => write!(f, "Schedule::round_robin()"),
            Plan::Seeded(seed) => write!(f, "Schedule::from_seed({seed})"),
            Plan::Choices(choices) => write!(f, "Schedule::from_choices({choices:?})"),
        }
    }
}

/// A schedule being followed: the plan and how far along it is.
pub(crate) struct Picker {
    plan: Plan,
    /// Steps with a choice taken so far.
    step: usize,
    /// The generator's state, for a seeded plan.
    state: u64,
}

impl Picker {
    /// Which of `candidates` (at least one) runs next: an index below `candidates`.
    #[inline]
    pub(crate) fn pick(&mut self, candidates: usize) -> usize {
        debug_assert!(candidates > 0);
        if candidates == 1 {
            return 0;
        }
        let step = self.step;
        self.step += 1;
        match &self.plan {
            Plan::RoundRobin => 0,
            Plan::Seeded(_) => (splitmix64(&mut self.state) % candidates as u64) as usize,
            Plan::Choices(choices) => choices
                .get(step)
                .map_or(0, |&choice| (choice as usize).min(candidates - 1)),
        }
    }
}

/// SplitMix64 (Steele, Lea and Flood 2014): a tiny generator whose every seed, zero
/// included, gives a well-mixed sequence; the schedule needs no more than that.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_robin_always_picks_the_first_candidate() {
        let mut picker = Schedule::round_robin().picker();
        assert!((1..10).all(|n| picker.pick(n) == 0));
    }

    #[test]
    fn a_seed_gives_the_same_picks_every_time_and_seeds_differ() {
        let picks = |seed| {
            let mut picker = Schedule::from_seed(seed).picker();
            (0..64).map(|_| picker.pick(3)).collect::<Vec<_>>()
        };
        assert_eq!(picks(5), picks(5));
        assert_ne!(picks(5), picks(6));
        assert!(picks(5).iter().all(|&p| p < 3));
        assert!((0..3).all(|c| picks(5).contains(&c)));
    }

    #[test]
    fn choices_are_spent_only_on_steps_with_a_choice_then_round_robin() {
        let mut picker = Schedule::from_choices([1, 5]).picker();
        assert_eq!(picker.pick(1), 0); // no choice: not a step
        assert_eq!(picker.pick(2), 1);
        assert_eq!(picker.pick(3), 2); // past the last candidate: the last
        assert_eq!(picker.pick(3), 0); // the list ran out
    }

    #[test]
    fn replay_text_parses_back_to_the_same_schedule() {
        for schedule in [
            Schedule::round_robin(),
            Schedule::from_seed(u64::MAX),
            Schedule::from_choices([3, 0, 1]),
        ] {
            assert_eq!(Schedule::parse(&schedule.replay_text()), Some(schedule));
        }
        assert_eq!(Schedule::parse("not a schedule"), None);
        assert_eq!(Schedule::from_choices([]), Schedule::round_robin());
    }
}
