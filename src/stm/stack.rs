//! Persistent (immutable, structurally shared) sequences: the building blocks of `TQueue`.
//!
//! A `TVar` read clones its value, so a queue kept as a `Vec` would cost O(n) per
//! operation. These clone in O(1) (one reference count):
//! - `Stack`: a persistent stack. Pushing makes the old stack the tail of the new one.
//! - `Run`: a read-only run of values with a cursor. Popping shares the same buffer and
//!   moves the cursor, so it allocates nothing.
//!
//! `TQueue` keeps a `Stack` for pushes and a `Run` for pops, as GHC's `TQueue` keeps two
//! lists (Okasaki's banker's queue): when the run is used up, a pop turns the whole push
//! stack into a new run, one buffer for the batch instead of one node per value.

use std::iter;

use crate::sync::Arc;

/// An immutable stack of `T` with O(1) `clone` and `push`.
pub(crate) struct Stack<T> {
    len: usize,
    top: Option<Arc<Node<T>>>,
}

struct Node<T> {
    value: T,
    next: Option<Arc<Node<T>>>,
}

impl<T: Clone> Stack<T> {
    pub(crate) fn new() -> Stack<T> {
        Stack { len: 0, top: None }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// This stack with `value` on top. Consumes `self` so that its reference to the old
    /// top moves into the new node instead of being counted up and down again (the
    /// old top may sit on a cache line the consumer is using).
    pub(crate) fn push(mut self, value: T) -> Stack<T> {
        Stack {
            len: self.len + 1,
            top: Some(Arc::new(Node {
                value,
                next: self.top.take(),
            })),
        }
    }

    /// The values from top to bottom, cloned.
    pub(crate) fn iter(&self) -> impl Iterator<Item = T> + '_ {
        let mut node = self.top.as_deref();
        iter::from_fn(move || {
            let current = node?;
            node = current.next.as_deref();
            Some(current.value.clone())
        })
    }
}

/// A read-only run of values, front first, with a cursor: O(1) `clone` and `pop`.
pub(crate) struct Run<T> {
    /// `None` for the empty run, so making one allocates nothing.
    items: Option<Arc<Vec<T>>>,
    next: usize,
}

impl<T: Clone> Run<T> {
    pub(crate) fn new() -> Run<T> {
        Run {
            items: None,
            next: 0,
        }
    }

    /// The stack's values as a run, bottom (oldest push) first. O(n), one allocation.
    pub(crate) fn from_stack(stack: &Stack<T>) -> Run<T> {
        if stack.is_empty() {
            return Run::new();
        }
        let mut items: Vec<T> = stack.iter().collect();
        items.reverse();
        Run {
            items: Some(Arc::new(items)),
            next: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.items
            .as_ref()
            .map_or(0, |items| items.len() - self.next)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The front value (cloned) and the rest of the run, which keeps the same buffer.
    pub(crate) fn pop(self) -> Option<(T, Run<T>)> {
        let value = self.peek()?;
        let rest = Run {
            items: self.items,
            next: self.next + 1,
        };
        Some((value, rest))
    }

    /// The front value, cloned.
    pub(crate) fn peek(&self) -> Option<T> {
        self.items.as_ref()?.get(self.next).cloned()
    }

    /// The values from front to back, cloned.
    pub(crate) fn iter(&self) -> impl Iterator<Item = T> + '_ {
        let rest = self
            .items
            .as_deref()
            .map_or(&[][..], |items| &items[self.next..]);
        rest.iter().cloned()
    }
}

impl<T> Clone for Run<T> {
    fn clone(&self) -> Self {
        Run {
            items: self.items.clone(),
            next: self.next,
        }
    }
}

impl<T> Clone for Stack<T> {
    fn clone(&self) -> Self {
        Stack {
            len: self.len,
            top: self.top.clone(),
        }
    }
}

impl<T> Drop for Stack<T> {
    /// Unlinks the nodes this stack owns alone one at a time: the default recursive drop
    /// would overflow the thread's stack on a long queue.
    fn drop(&mut self) {
        let mut next = self.top.take();
        while let Some(node) = next {
            match Arc::try_unwrap(node) {
                Ok(mut node) => next = node.next.take(),
                // Shared with another stack, which will drop the rest.
                Err(_) => break,
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn push_shares_the_old_stack() {
        let s = Stack::new().push(1).push(2);
        let t = s.clone().push(3);
        assert_eq!(
            s.iter().collect::<Vec<_>>(),
            [2, 1],
            "push must not change the original"
        );
        assert_eq!((t.len(), t.iter().collect::<Vec<_>>()), (3, vec![3, 2, 1]));
    }

    #[test]
    fn a_run_pops_in_push_order_and_shares_its_buffer() {
        let s = Stack::new().push(1).push(2).push(3);
        let run = Run::from_stack(&s);
        assert_eq!(run.iter().collect::<Vec<_>>(), [1, 2, 3]);
        let (first, rest) = run.clone().pop().unwrap();
        assert_eq!((first, rest.len(), rest.peek()), (1, 2, Some(2)));
        assert_eq!(run.len(), 3, "pop must not change the original");
        assert!(Run::<u8>::from_stack(&Stack::new()).is_empty());
    }

    #[test]
    fn dropping_a_long_stack_does_not_overflow() {
        let mut s = Stack::new();
        for i in 0..1_000_000 {
            s = s.push(i);
        }
        drop(s);
    }
}
