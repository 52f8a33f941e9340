//! A recorded history of STM transactions, and its checker: Adya's dependency graph
//! (Adya, "Weak Consistency", MIT 1999), checked for cycles as Jepsen's Elle checks a
//! database's history.
//!
//! # What a history holds
//! Every *attempt* of a transaction (the body's first run and each re-run) gets a unique
//! tag, and every value it writes is that tag, so each read names the attempt that wrote
//! what it saw. Every write is a read-modify-write (`TVar::replace`): the value it
//! replaced names the version it overwrote, so each object's versions form a chain the
//! checker knows exactly, with no guessing of the version order. Tag 0 is the initial
//! version of every object.
//!
//! Above the objects, an attempt may record *facts*: what it saw of a structure (a map
//! entry, a queue's item) beside the object that orders that structure (the entry's
//! generation, the queue's head). The checker holds each fact against the versions.
//!
//! # What the checker proves
//! 1. Every read names the initial version or a committed attempt that wrote that
//!    object: no attempt saw an aborted or unfinished write (Adya's G1a).
//! 2. No version is overwritten twice (a lost update).
//! 3. The graph of committed transactions, with ww (version order), wr (read-from) and
//!    rw (anti-dependency: read a version another transaction overwrote) edges, is
//!    acyclic (G0, G1c, G2): some serial order explains every committed transaction.
//! 4. Opacity: every attempt that ran, committed or aborted, read a consistent cut.
//!    Added to the graph as a read-only transaction (wr edges in, rw edges out) it closes
//!    no cycle; equivalently its reads agree with a prefix of a serial order.
//! 5. Every fact agrees with the versions beside it (see [`Fact`]).
//!
//! A violation comes back as a message naming the transactions, objects and versions.
#![allow(dead_code)]

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// An object's id: which variable of the workload.
pub type Obj = u32;
/// A version: the tag of the attempt that wrote it; [`INITIAL`] for the first one.
pub type Tag = u64;
/// Every object's initial version.
pub const INITIAL: Tag = 0;

/// Tags for attempts, unique in the process (rounds share it).
static NEXT_TAG: AtomicU64 = AtomicU64::new(1);
/// The order in which committed transactions returned to their callers: the checker's
/// tie-break when it picks a serial order, never a source of edges.
static NEXT_TICKET: AtomicU64 = AtomicU64::new(0);

/// What an attempt saw of a structure, checked against the object that orders it.
#[derive(Clone, Debug, PartialEq)]
pub enum Fact {
    /// A map entry looked up (or listed) as `seen`, while the entry's generation object
    /// `gen_obj` was at version `gen`. The attempt `gen` names last wrote the entry: it
    /// must have inserted `seen` (its own tag) or, if `seen` is `None`, removed it; the
    /// initial generation goes with an absent entry.
    MapEntry {
        key: u64,
        gen_obj: Obj,
        gen: Tag,
        seen: Option<Tag>,
    },
    /// This attempt inserted (its tag) or removed the entry `key`.
    MapWrite { key: u64, inserted: bool },
    /// Popped `item` from a queue whose head object `head_obj` was at version `head`, and
    /// whose pushes are ordered by the tail object `tail_obj` (a push writes its tag as
    /// the item and as the tail). FIFO: if `head` is the k-th version of the head (the
    /// initial one is the 0th), `item` is the tag of the tail's (k+1)-th version.
    Pop {
        head_obj: Obj,
        tail_obj: Obj,
        head: Tag,
        item: Tag,
    },
}

/// One run of a transaction's body.
#[derive(Clone, Debug, Default)]
pub struct Attempt {
    /// This attempt's tag: the value of everything it writes.
    pub tag: Tag,
    /// Each object read and the version seen (reads of its own writes left out).
    pub reads: Vec<(Obj, Tag)>,
    /// Each object written.
    pub writes: Vec<Obj>,
    /// What it saw of structures.
    pub facts: Vec<Fact>,
    /// Whether this attempt is the one that committed.
    pub committed: bool,
    /// For a committed attempt: when its transaction returned (a tie-break only).
    pub ticket: u64,
}

/// Records the attempts of one worker's transactions. A body calls [`Recorder::begin`]
/// first, then records what it reads and writes; after `atomically` returns, the caller
/// calls [`Recorder::committed`]: the last attempt begun is the one that committed.
#[derive(Default)]
pub struct Recorder {
    attempts: Vec<Attempt>,
}

impl Recorder {
    /// Starts a new attempt and returns its tag, the value it must write.
    pub fn begin(&mut self) -> Tag {
        let tag = NEXT_TAG.fetch_add(1, Relaxed);
        self.attempts.push(Attempt {
            tag,
            ..Attempt::default()
        });
        tag
    }

    /// The running attempt's tag.
    pub fn tag(&self) -> Tag {
        self.current().tag
    }

    fn current(&self) -> &Attempt {
        self.attempts
            .last()
            .expect("Recorder::begin starts an attempt")
    }

    fn current_mut(&mut self) -> &mut Attempt {
        self.attempts
            .last_mut()
            .expect("Recorder::begin starts an attempt")
    }

    /// Records that the running attempt read version `seen` of `obj`.
    pub fn read(&mut self, obj: Obj, seen: Tag) {
        let attempt = self.current_mut();
        if seen != attempt.tag {
            attempt.reads.push((obj, seen));
        }
    }

    /// Records that the running attempt wrote `obj` (its tag).
    pub fn write(&mut self, obj: Obj) {
        let attempt = self.current_mut();
        if !attempt.writes.contains(&obj) {
            attempt.writes.push(obj);
        }
    }

    /// Records what the running attempt saw of a structure.
    pub fn fact(&mut self, fact: Fact) {
        self.current_mut().facts.push(fact);
    }

    /// Marks the last attempt begun as committed: call it when `atomically` returns.
    pub fn committed(&mut self) {
        let ticket = NEXT_TICKET.fetch_add(1, Relaxed);
        let attempt = self.current_mut();
        attempt.committed = true;
        attempt.ticket = ticket;
    }

    /// Every attempt recorded, in the order begun.
    pub fn into_attempts(self) -> Vec<Attempt> {
        self.attempts
    }
}

/// What a successful check covered.
#[derive(Clone, Copy, Debug, Default)]
pub struct Checked {
    /// Committed transactions.
    pub committed: usize,
    /// Attempts checked for a consistent snapshot (committed and aborted).
    pub attempts: usize,
    /// Dependency edges in the graph (ww, wr and rw).
    pub edges: usize,
}

#[derive(Clone, Copy, Debug)]
enum Edge {
    Ww,
    Wr,
    Rw,
}

/// The checker's view of a history.
struct Graph<'h> {
    attempts: &'h [Attempt],
    /// Tag → index into `attempts`.
    by_tag: HashMap<Tag, usize>,
    /// Committed attempts' indices; a node of the graph is a position in this list.
    nodes: Vec<usize>,
    /// Tag → node, for committed attempts.
    node_of: HashMap<Tag, usize>,
    /// (object, version) → the version that overwrote it.
    next: HashMap<(Obj, Tag), Tag>,
    /// Out-edges of each node: (target node, kind, object).
    out: Vec<Vec<(usize, Edge, Obj)>>,
    /// Each node's place in the serial order found (after `order`).
    pos: Vec<usize>,
}

/// Checks a whole history (see the module documentation). `Err` names the violation.
pub fn check(attempts: &[Attempt]) -> Result<Checked, String> {
    let mut g = Graph::new(attempts)?;
    g.check_reads()?;
    let edges = g.build_edges();
    g.order()?;
    g.check_facts()?;
    g.check_snapshots()?;
    Ok(Checked {
        committed: g.nodes.len(),
        attempts: attempts.len(),
        edges,
    })
}

impl<'h> Graph<'h> {
    /// Indexes the attempts and builds each object's version chain (check 2).
    fn new(attempts: &'h [Attempt]) -> Result<Self, String> {
        let mut by_tag = HashMap::with_capacity(attempts.len());
        let mut nodes = Vec::new();
        let mut node_of = HashMap::new();
        for (i, a) in attempts.iter().enumerate() {
            if by_tag.insert(a.tag, i).is_some() {
                return Err(format!("tag {} recorded twice", a.tag));
            }
            if a.committed {
                node_of.insert(a.tag, nodes.len());
                nodes.push(i);
            }
        }
        let mut next = HashMap::new();
        for &i in &nodes {
            let a = &attempts[i];
            for &obj in &a.writes {
                let Some(&(_, pred)) = a.reads.iter().find(|(o, _)| *o == obj) else {
                    return Err(format!(
                        "transaction {} wrote object {obj} without reading it: \
                         the workload must read what it writes",
                        a.tag
                    ));
                };
                if let Some(other) = next.insert((obj, pred), a.tag) {
                    return Err(format!(
                        "lost update: version {pred} of object {obj} was overwritten twice, \
                         by transactions {other} and {}\n{}\n{}",
                        a.tag,
                        describe(&attempts[by_tag[&other]]),
                        describe(a)
                    ));
                }
            }
        }
        let n = nodes.len();
        Ok(Graph {
            attempts,
            by_tag,
            nodes,
            node_of,
            next,
            out: vec![Vec::new(); n],
            pos: vec![0; n],
        })
    }

    /// Check 1: every read of every attempt names the initial version or a committed
    /// writer of that object.
    fn check_reads(&self) -> Result<(), String> {
        for a in self.attempts {
            for &(obj, seen) in &a.reads {
                if seen == INITIAL {
                    continue;
                }
                let Some(&w) = self.by_tag.get(&seen) else {
                    return Err(format!(
                        "attempt {} read version {seen} of object {obj}, which no attempt wrote",
                        a.tag
                    ));
                };
                let writer = &self.attempts[w];
                if !writer.writes.contains(&obj) {
                    return Err(format!(
                        "attempt {} read version {seen} of object {obj}, but attempt {seen} \
                         did not write object {obj}",
                        a.tag
                    ));
                }
                if !writer.committed {
                    return Err(format!(
                        "attempt {} read object {obj} as written by attempt {seen}, \
                         which never committed (an aborted read, G1a)\n{}",
                        a.tag,
                        describe(writer)
                    ));
                }
            }
        }
        Ok(())
    }

    /// The ww, wr and rw edges between committed transactions. Returns their number.
    fn build_edges(&mut self) -> usize {
        let mut count = 0;
        for node in 0..self.nodes.len() {
            let a = &self.attempts[self.nodes[node]];
            for &(obj, seen) in &a.reads {
                let wrote = a.writes.contains(&obj);
                if seen != INITIAL {
                    let writer = self.node_of[&seen];
                    // A read by the transaction that overwrites it: the writer precedes it
                    // in version order too (ww), else only read-from (wr).
                    let kind = if wrote { Edge::Ww } else { Edge::Wr };
                    self.out[writer].push((node, kind, obj));
                    count += 1;
                }
                match self.next.get(&(obj, seen)) {
                    Some(&over) if over != a.tag => {
                        self.out[node].push((self.node_of[&over], Edge::Rw, obj));
                        count += 1;
                    }
                    _ => {}
                }
            }
        }
        count
    }

    /// Check 3: a serial order of the committed transactions, by Kahn's algorithm with the
    /// return order as tie-break, or the cycle that prevents one.
    fn order(&mut self) -> Result<(), String> {
        let n = self.nodes.len();
        let mut indegree = vec![0usize; n];
        for edges in &self.out {
            for &(to, _, _) in edges {
                indegree[to] += 1;
            }
        }
        let ticket = |node: usize| self.attempts[self.nodes[node]].ticket;
        let mut ready: BinaryHeap<_> = (0..n)
            .filter(|&v| indegree[v] == 0)
            .map(|v| Reverse((ticket(v), v)))
            .collect();
        let mut placed = 0;
        while let Some(Reverse((_, v))) = ready.pop() {
            self.pos[v] = placed;
            placed += 1;
            for &(to, _, _) in &self.out[v] {
                indegree[to] -= 1;
                if indegree[to] == 0 {
                    ready.push(Reverse((ticket(to), to)));
                }
            }
        }
        if placed == n {
            return Ok(());
        }
        let stuck: HashSet<usize> = (0..n).filter(|&v| indegree[v] > 0).collect();
        Err(self.describe_cycle(&stuck))
    }

    /// A cycle among the `stuck` nodes (each has an in-edge from another stuck node).
    fn describe_cycle(&self, stuck: &HashSet<usize>) -> String {
        // Walk backwards along in-edges inside `stuck` until a node repeats.
        let mut into: HashMap<usize, (usize, Edge, Obj)> = HashMap::new();
        for (&from, edges) in stuck.iter().map(|v| (v, &self.out[*v])) {
            for &(to, kind, obj) in edges {
                if stuck.contains(&to) {
                    into.entry(to).or_insert((from, kind, obj));
                }
            }
        }
        let mut seen_at = HashMap::new();
        let mut path = Vec::new();
        let mut v = *stuck.iter().min().expect("a cycle has nodes");
        while !seen_at.contains_key(&v) {
            seen_at.insert(v, path.len());
            let (from, kind, obj) = into[&v];
            path.push((from, kind, obj, v));
            v = from;
        }
        let mut cycle: Vec<_> = path[seen_at[&v]..].to_vec();
        cycle.reverse();
        let tag = |node: usize| self.attempts[self.nodes[node]].tag;
        let mut msg = format!(
            "not serializable: a dependency cycle of {} transactions:\n  ",
            cycle.len()
        );
        for &(from, kind, obj, _) in &cycle {
            let _ = write!(msg, "{} -{kind:?}(object {obj})-> ", tag(from));
        }
        let _ = writeln!(msg, "{}", tag(cycle[0].0));
        for &(from, ..) in &cycle {
            let _ = writeln!(msg, "{}", describe(&self.attempts[self.nodes[from]]));
        }
        msg
    }

    /// The version of `obj` that follows `version` in the version chains, as a node.
    fn overwriter(&self, obj: Obj, version: Tag) -> Option<usize> {
        self.next.get(&(obj, version)).map(|t| self.node_of[t])
    }

    /// The chain of `obj`'s versions, from the initial one.
    fn chain(&self, obj: Obj) -> Vec<Tag> {
        let mut chain = vec![INITIAL];
        while let Some(&t) = self.next.get(&(obj, *chain.last().unwrap())) {
            chain.push(t);
        }
        chain
    }

    /// Check 5: every fact of every attempt agrees with the versions beside it.
    fn check_facts(&self) -> Result<(), String> {
        let written: HashSet<Obj> = self.next.keys().map(|&(obj, _)| obj).collect();
        let chains: HashMap<Obj, Vec<Tag>> = written
            .into_iter()
            .map(|obj| (obj, self.chain(obj)))
            .collect();
        let index_in_chain = |obj: Obj, version: Tag| match chains.get(&obj) {
            Some(chain) => chain.iter().position(|&t| t == version),
            None => (version == INITIAL).then_some(0),
        };
        let nth_version = |obj: Obj, n: usize| match chains.get(&obj) {
            Some(chain) => chain.get(n).copied(),
            None => (n == 0).then_some(INITIAL),
        };
        for a in self.attempts {
            for fact in &a.facts {
                let bad = |why: String| {
                    Err(format!(
                        "attempt {} saw {fact:?}, but {why}\n{}",
                        a.tag,
                        describe(a)
                    ))
                };
                match *fact {
                    Fact::MapEntry { key, gen, seen, .. } => {
                        let expected = if gen == INITIAL {
                            None
                        } else {
                            let writer = &self.attempts[self.by_tag[&gen]];
                            let wrote = writer.facts.iter().find_map(|f| match *f {
                                Fact::MapWrite { key: k, inserted } if k == key => Some(inserted),
                                _ => None,
                            });
                            match wrote {
                                Some(true) => Some(gen),
                                Some(false) => None,
                                None => {
                                    return bad(format!("attempt {gen} did not write key {key}"))
                                }
                            }
                        };
                        if seen != expected {
                            return bad(format!(
                                "the generation it read says the entry was {expected:?}"
                            ));
                        }
                    }
                    Fact::MapWrite { .. } => {}
                    Fact::Pop {
                        head_obj,
                        tail_obj,
                        head,
                        item,
                    } => {
                        let Some(k) = index_in_chain(head_obj, head) else {
                            return bad(format!("version {head} of the head is not in its chain"));
                        };
                        let pushed = nth_version(tail_obj, k + 1);
                        if pushed != Some(item) {
                            return bad(format!(
                                "pop number {} of that queue should get item {pushed:?} (FIFO)",
                                k + 1
                            ));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Check 4: every attempt read a consistent cut. Fast path: its reads fit between two
    /// places of the serial order found. Otherwise the exact test: no path leads from a
    /// transaction that overwrote something it read to one that wrote something it read.
    fn check_snapshots(&self) -> Result<(), String> {
        for a in self.attempts {
            // The cut must come after every writer it saw and before every overwriter.
            let mut after: Vec<usize> = Vec::new();
            let mut before: Vec<(usize, Obj, Tag)> = Vec::new();
            for &(obj, seen) in &a.reads {
                if seen != INITIAL {
                    after.push(self.node_of[&seen]);
                }
                if let Some(over) = self.overwriter(obj, seen) {
                    if self.attempts[self.nodes[over]].tag != a.tag {
                        before.push((over, obj, seen));
                    }
                }
            }
            let latest = after.iter().map(|&v| self.pos[v]).max();
            let earliest = before.iter().map(|&(v, ..)| self.pos[v]).min();
            match (latest, earliest) {
                (Some(l), Some(e)) if l >= e => {}
                _ => continue,
            }
            let writers: HashSet<usize> = after.iter().copied().collect();
            let limit = latest.unwrap();
            // Depth-first search from the overwriters; a path only climbs in `pos`.
            let mut stack: Vec<usize> = before.iter().map(|&(v, ..)| v).collect();
            let mut visited: HashSet<usize> = stack.iter().copied().collect();
            while let Some(v) = stack.pop() {
                if writers.contains(&v) {
                    return Err(format!(
                        "opacity: attempt {} ({}) saw no consistent snapshot: transaction {} \
                         overwrote a version it read, yet leads to transaction {}, \
                         whose write it also read\n{}",
                        a.tag,
                        if a.committed { "committed" } else { "aborted" },
                        before
                            .iter()
                            .map(|&(v, obj, seen)| format!(
                                "{} (object {obj} after version {seen})",
                                self.attempts[self.nodes[v]].tag
                            ))
                            .collect::<Vec<_>>()
                            .join(" or "),
                        self.attempts[self.nodes[v]].tag,
                        describe(a)
                    ));
                }
                for &(to, ..) in &self.out[v] {
                    if self.pos[to] <= limit && visited.insert(to) {
                        stack.push(to);
                    }
                }
            }
        }
        Ok(())
    }
}

/// One attempt, for messages.
fn describe(a: &Attempt) -> String {
    format!(
        "  attempt {} ({}): reads {:?}, writes {:?}, facts {:?}",
        a.tag,
        if a.committed { "committed" } else { "aborted" },
        a.reads,
        a.writes,
        a.facts
    )
}
