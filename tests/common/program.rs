//! Random transaction programs, run on braid and on a sequential model.
//!
//! A program is decoded from bytes, so the fuzz target and the property tests share it.
//! Each transaction is a list of operations on a few `i64` variables, with `or_else`
//! branches and conditional retries. The model runs a transaction on a copy of the state;
//! braid runs it in `atomically`. Reads are logged, so the two are compared on what each
//! transaction saw as well as on the final state.
//!
//! braid holds a variable's value in one of two ways: a primitive scalar in the
//! variable's own word, anything else in a heap node. So braid's side runs on either
//! value type: `i64` (a word) or [`InNode`] (the same number in a node).

use braid::stm::{or_else, retry, StmResult, TVar, Transaction};

pub const VARS: usize = 4;

/// A variable's value in braid's side of the comparison: a number, in one of braid's two
/// representations.
pub trait Value: Clone + Send + Sync + 'static {
    fn from_i64(x: i64) -> Self;
    fn get(&self) -> i64;
}

/// `i64` is a primitive scalar: braid keeps it in the variable's word.
impl Value for i64 {
    fn from_i64(x: i64) -> Self {
        x
    }
    fn get(&self) -> i64 {
        *self
    }
}

/// A number in a type of its own, which braid keeps in a heap node (every type that is
/// not a primitive scalar): writes allocate, commits retire, reads clone from the node.
#[derive(Clone, Debug, PartialEq)]
pub struct InNode(pub i64);

impl Value for InNode {
    fn from_i64(x: i64) -> Self {
        InNode(x)
    }
    fn get(&self) -> i64 {
        self.0
    }
}

/// `count` variables numbered from 0.
pub fn numbered_vars<V: Value>(count: usize) -> Vec<TVar<V>> {
    (0..count)
        .map(|i| TVar::new(V::from_i64(i as i64)))
        .collect()
}

/// The variables' current values.
pub fn values<V: Value>(vars: &[TVar<V>]) -> Vec<i64> {
    vars.iter().map(|var| var.load().get()).collect()
}

#[derive(Debug, Clone)]
pub enum Op {
    Read(usize),
    Write(usize, i64),
    /// `vars[a] += vars[b]`
    Add(usize, usize),
    /// Retry this branch when `vars[v] < bound`.
    RetryIfBelow(usize, i64),
    OrElse(Vec<Op>, Vec<Op>),
}

/// Decodes a program from bytes: a list of transactions, each a list of ops.
pub fn decode(bytes: &[u8]) -> Vec<Vec<Op>> {
    let mut input = bytes.iter().copied();
    let mut program = Vec::new();
    while let Some(len) = input.next() {
        let ops = decode_ops(&mut input, (len % 6) as usize, 0);
        program.push(ops);
    }
    program
}

fn decode_ops(input: &mut impl Iterator<Item = u8>, count: usize, depth: u32) -> Vec<Op> {
    let mut ops = Vec::new();
    for _ in 0..count {
        let Some(tag) = input.next() else { break };
        let arg = input.next().unwrap_or(0);
        let var = (arg as usize) % VARS;
        let op = match tag % 5 {
            0 => Op::Read(var),
            1 => Op::Write(var, (arg as i64) - 128),
            2 => Op::Add(var, (arg as usize / VARS) % VARS),
            3 => Op::RetryIfBelow(var, (arg as i64 % 7) - 3),
            _ if depth < 3 => {
                let first = decode_ops(input, (arg % 4) as usize, depth + 1);
                let second = decode_ops(input, ((arg / 4) % 4) as usize, depth + 1);
                Op::OrElse(first, second)
            }
            _ => Op::Read(var),
        };
        ops.push(op);
    }
    ops
}

/// What one transaction did: the values it read and whether it retried as a whole.
#[derive(Debug, PartialEq, Eq, Clone)]
pub struct Outcome {
    pub reads: Vec<i64>,
    pub retried: bool,
}

/// The sequential model: returns `None` when the ops retry.
fn model_ops(state: &mut [i64; VARS], ops: &[Op], log: &mut Vec<i64>) -> Option<()> {
    for op in ops {
        match *op {
            Op::Read(v) => log.push(state[v]),
            Op::Write(v, x) => state[v] = x,
            Op::Add(a, b) => state[a] = state[a].wrapping_add(state[b]),
            Op::RetryIfBelow(v, bound) => {
                if state[v] < bound {
                    return None;
                }
            }
            Op::OrElse(ref first, ref second) => {
                let mut scratch = *state;
                match model_ops(&mut scratch, first, log) {
                    Some(()) => *state = scratch,
                    None => model_ops(state, second, log)?,
                }
            }
        }
    }
    Some(())
}

/// Runs one transaction on the model; a transaction that retries changes nothing.
pub fn model_transaction(state: &mut [i64; VARS], ops: &[Op]) -> Outcome {
    let mut reads = Vec::new();
    let mut scratch = *state;
    let retried = model_ops(&mut scratch, ops, &mut reads).is_none();
    if !retried {
        *state = scratch;
    }
    Outcome { reads, retried }
}

fn braid_ops<V: Value>(
    tx: &mut Transaction,
    vars: &[TVar<V>],
    ops: &[Op],
    log: &mut Vec<i64>,
) -> StmResult<()> {
    for op in ops {
        match *op {
            Op::Read(v) => log.push(vars[v].read(tx)?.get()),
            Op::Write(v, x) => vars[v].write(tx, V::from_i64(x))?,
            Op::Add(a, b) => {
                let add = vars[b].read(tx)?.get();
                vars[a].modify(tx, |x| V::from_i64(x.get().wrapping_add(add)))?;
            }
            Op::RetryIfBelow(v, bound) => {
                if vars[v].read(tx)?.get() < bound {
                    return retry();
                }
            }
            Op::OrElse(ref first, ref second) => {
                // Both branches log into the same log, like the model.
                let log_cell = std::cell::RefCell::new(std::mem::take(log));
                let result = or_else(
                    tx,
                    |tx| braid_ops(tx, vars, first, &mut log_cell.borrow_mut()),
                    |tx| braid_ops(tx, vars, second, &mut log_cell.borrow_mut()),
                );
                *log = log_cell.into_inner();
                result?;
            }
        }
    }
    Ok(())
}

/// Runs one transaction in braid. A retry of the whole body is turned into a committed
/// no-op by an outer `or_else`, so a single thread never blocks.
pub fn braid_transaction<V: Value>(vars: &[TVar<V>], ops: &[Op]) -> Outcome {
    braid::stm::atomically(|tx| {
        let mut reads = Vec::new();
        let retried = or_else(
            tx,
            |tx| braid_ops(tx, vars, ops, &mut reads).map(|()| false),
            |_| Ok(true),
        )?;
        Ok(Outcome {
            reads: reads.clone(),
            retried,
        })
    })
}

/// Runs `program` on the model and on braid variables holding `V`, and panics at the
/// first difference.
pub fn check_against_model<V: Value>(program: &[Vec<Op>]) {
    let vars = numbered_vars::<V>(VARS);
    let mut state: [i64; VARS] = std::array::from_fn(|i| i as i64);
    for (i, ops) in program.iter().enumerate() {
        let expected = model_transaction(&mut state, ops);
        let actual = braid_transaction(&vars, ops);
        assert_eq!(actual, expected, "transaction {i} diverged: {ops:?}");
        assert_eq!(
            values(&vars),
            state,
            "state after transaction {i} diverged: {ops:?}"
        );
    }
}
