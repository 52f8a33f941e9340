//! `TChan<T>`: a transactional broadcast channel (Haskell's `newBroadcastTChan`).
//!
//! Messages form a linked list of nodes. Each node has a message slot (a `TVar`, empty
//! until a sender fills it) and a link to the next node, made on first use. The channel
//! holds the *hole*: the first node whose slot is empty. `send` fills the hole's slot and
//! moves the channel on to the next node; each receiver holds its own position and walks
//! forward as it receives.
//!
//! So `send` costs the same with one subscriber or a thousand (it never looks at them),
//! and a subscriber sees exactly the messages sent after it subscribed, in order.
//!
//! # Freeing what everyone has read
//! The links between nodes are plain reference-counted pointers, not `TVar`s, and a
//! node's slot holds only its message. So when the slowest receiver moves past a node,
//! the node is freed (after the usual epoch delay for the receiver's old position), and
//! freeing it never has to wait for its neighbours. Had the links been `TVar`s, each
//! link would hold the next one inside an epoch-deferred value, and freeing a long run
//! of read messages (say, when a slow receiver is dropped) would take one epoch per
//! message. A slow receiver keeps alive only the messages it has not read.

use std::fmt;

use super::{retry, StmResult, TVar, Transaction};
use crate::sync::{lock, Arc, Mutex};

/// One message's place in the list.
struct Node<T> {
    /// Empty until a sender's transaction fills it; filled once.
    slot: TVar<Option<T>>,
    /// The node after this one, made by whoever needs it first. Making it early (in a
    /// transaction that then aborts) is harmless: an empty node means nothing.
    next: Mutex<Option<Arc<Node<T>>>>,
}

impl<T: Clone + Send + Sync + 'static> Node<T> {
    fn new() -> Arc<Node<T>> {
        Arc::new(Node {
            slot: TVar::new(None),
            next: Mutex::new(None),
        })
    }

    fn next(&self) -> Arc<Node<T>> {
        lock(&self.next).get_or_insert_with(Node::new).clone()
    }
}

impl<T> Drop for Node<T> {
    /// Frees the run of nodes that only this one kept alive, one at a time: the default
    /// recursive drop would overflow the stack on a long unread run.
    fn drop(&mut self) {
        let mut next = lock(&self.next).take();
        while let Some(node) = next {
            match Arc::try_unwrap(node) {
                Ok(node) => next = lock(&node.next).take(),
                // Someone else still holds it, and with it the rest of the list.
                Err(_) => break,
            }
        }
    }
}

/// The sending end of a broadcast channel: every subscribed receiver gets every message.
/// Cloning shares the channel.
///
/// ```
/// use braid::stm::{atomically, TChan};
///
/// let news = TChan::new();
/// let (alice, bob) = (news.subscribe(), news.subscribe());
/// atomically(|tx| { news.send(tx, "hello")?; news.send(tx, "world") });
/// assert_eq!(atomically(|tx| alice.recv(tx)), "hello");
/// assert_eq!(atomically(|tx| bob.recv(tx)), "hello");
/// assert_eq!(atomically(|tx| alice.recv(tx)), "world");
/// ```
pub struct TChan<T> {
    hole: TVar<Arc<Node<T>>>,
}

/// One subscriber's receiving end of a [`TChan`]: it sees every message sent after it
/// was made, in order. Cloning gives an independent receiver at the same position.
///
/// ```
/// use braid::stm::{atomically, TChan};
///
/// let chan = TChan::new();
/// let first = chan.subscribe();
/// atomically(|tx| chan.send(tx, 1));
/// let copy = first.clone(); // same position: both will read 1
/// assert_eq!(atomically(|tx| first.recv(tx)), 1);
/// assert_eq!(atomically(|tx| copy.recv(tx)), 1);
/// ```
pub struct TChanReceiver<T> {
    position: TVar<Arc<Node<T>>>,
}

impl<T: Clone + Send + Sync + 'static> TChan<T> {
    /// A channel with no messages and no subscribers.
    ///
    /// ```
    /// let chan: braid::stm::TChan<u32> = braid::stm::TChan::new();
    /// let rx = chan.subscribe();
    /// assert_eq!(braid::stm::atomically(|tx| rx.try_recv(tx)), None);
    /// ```
    pub fn new() -> TChan<T> {
        TChan {
            hole: TVar::new(Node::new()),
        }
    }

    /// Sends `value` to every current subscriber. Never waits.
    ///
    /// ```
    /// use braid::stm::{atomically, TChan};
    /// let chan = TChan::new();
    /// let rx = chan.subscribe();
    /// atomically(|tx| chan.send(tx, 42));
    /// assert_eq!(atomically(|tx| rx.recv(tx)), 42);
    /// ```
    pub fn send(&self, tx: &mut Transaction, value: T) -> StmResult<()> {
        let hole = self.hole.read(tx)?;
        hole.slot.write(tx, Some(value))?;
        self.hole.write(tx, hole.next())
    }

    /// A receiver that will see every message sent from now on.
    ///
    /// Not a transactional operation: it reads the channel's end with
    /// [`TVar::load`], so it may be called inside or outside a transaction.
    ///
    /// ```
    /// use braid::stm::{atomically, TChan};
    /// let chan = TChan::new();
    /// atomically(|tx| chan.send(tx, "before"));
    /// let late = chan.subscribe();
    /// atomically(|tx| chan.send(tx, "after"));
    /// assert_eq!(atomically(|tx| late.recv(tx)), "after");
    /// ```
    pub fn subscribe(&self) -> TChanReceiver<T> {
        TChanReceiver {
            position: TVar::new(self.hole.load()),
        }
    }
}

impl<T: Clone + Send + Sync + 'static> TChanReceiver<T> {
    /// Receives the next message; retries while there is none.
    ///
    /// ```
    /// use braid::stm::{atomically, TChan};
    /// use std::thread;
    /// let chan = TChan::new();
    /// let rx = chan.subscribe();
    /// let listener = thread::spawn(move || atomically(|tx| rx.recv(tx)));
    /// atomically(|tx| chan.send(tx, 'x'));
    /// assert_eq!(listener.join().unwrap(), 'x');
    /// ```
    pub fn recv(&self, tx: &mut Transaction) -> StmResult<T> {
        match self.try_recv(tx)? {
            Some(value) => Ok(value),
            None => retry(),
        }
    }

    /// Receives the next message, or `None` if there is none yet.
    ///
    /// ```
    /// use braid::stm::{atomically, TChan};
    /// let chan: TChan<u8> = TChan::new();
    /// let rx = chan.subscribe();
    /// assert_eq!(atomically(|tx| rx.try_recv(tx)), None);
    /// ```
    pub fn try_recv(&self, tx: &mut Transaction) -> StmResult<Option<T>> {
        let node = self.position.read(tx)?;
        let Some(value) = node.slot.read(tx)? else {
            return Ok(None);
        };
        self.position.write(tx, node.next())?;
        Ok(Some(value))
    }
}

impl<T: Clone + Send + Sync + 'static> Default for TChan<T> {
    fn default() -> Self {
        TChan::new()
    }
}

impl<T> Clone for TChan<T> {
    fn clone(&self) -> Self {
        TChan {
            hole: self.hole.clone(),
        }
    }
}

impl<T: Clone + Send + Sync + 'static> Clone for TChanReceiver<T> {
    /// An independent receiver at the same position: both will see the same messages.
    fn clone(&self) -> Self {
        TChanReceiver {
            position: TVar::new(self.position.load()),
        }
    }
}

impl<T> fmt::Debug for TChan<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TChan").finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for TChanReceiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TChanReceiver").finish_non_exhaustive()
    }
}
