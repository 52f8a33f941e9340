//! A persistent (immutable, structurally shared) stack: the building block of `TQueue`.
//!
//! A `TVar` read clones its value, so a queue kept as a `Vec` would cost O(n) per
//! operation. A persistent stack clones in O(1) (one reference count), and pushing
//! shares the old stack as the tail of the new one. `TQueue` keeps two of them, as GHC's
//! `TQueue` does (Okasaki's banker's queue): pushes go on one, pops come off the other,
//! and the push stack is reversed into the pop stack when the pop stack runs dry.

use std::iter;

use crate::sync::Arc;

/// An immutable stack of `T` with O(1) `clone`, `push` and `pop`.
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

    /// This stack with `value` on top; `self` is shared, not copied.
    pub(crate) fn push(&self, value: T) -> Stack<T> {
        Stack {
            len: self.len + 1,
            top: Some(Arc::new(Node {
                value,
                next: self.top.clone(),
            })),
        }
    }

    /// The top value (cloned) and the rest of the stack.
    pub(crate) fn pop(&self) -> Option<(T, Stack<T>)> {
        let top = self.top.as_ref()?;
        let rest = Stack {
            len: self.len - 1,
            top: top.next.clone(),
        };
        Some((top.value.clone(), rest))
    }

    /// The top value, cloned.
    pub(crate) fn peek(&self) -> Option<T> {
        self.top.as_ref().map(|top| top.value.clone())
    }

    /// A new stack with the values in the opposite order. O(n).
    pub(crate) fn reversed(&self) -> Stack<T> {
        self.iter().fold(Stack::new(), |acc, value| acc.push(value))
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
    fn push_pop_and_reverse_keep_order() {
        let s = Stack::new().push(1).push(2).push(3);
        assert_eq!(s.len(), 3);
        assert_eq!(s.iter().collect::<Vec<_>>(), [3, 2, 1]);
        assert_eq!(s.reversed().iter().collect::<Vec<_>>(), [1, 2, 3]);
        let (top, rest) = s.pop().unwrap();
        assert_eq!((top, rest.len(), rest.peek()), (3, 2, Some(2)));
        assert_eq!(s.len(), 3, "pop must not change the original");
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
