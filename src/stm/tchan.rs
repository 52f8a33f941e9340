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

//!
//! # Closing
//! A `closed` variable, shared by the channel and its receivers, ends the stream: it is
//! written once, by `close`, and read by a send and by a receive that finds no message,
//! so it conflicts with nothing else. A message's slot holds it in an `Arc`, so a send
//! from outside a transaction (`put`) moves the message in once, however often its
//! transaction runs (see `parcel.rs`).

use std::fmt;

use super::parcel::{CloseFlag, Closed};
use super::stream::{Source, TChanStream, Waiting};
use super::{atomically, atomically_async, or_else, retry, StmResult, TVar, Transaction};
use crate::sync::{lock, Arc, Mutex};

/// One message's place in the list.
struct Node<T> {
    /// Empty until a sender's transaction fills it; filled once.
    slot: TVar<Option<Arc<T>>>,
    /// The node after this one, made by whoever needs it first. Making it early (in a
    /// transaction that then aborts) is harmless: an empty node means nothing.
    next: Mutex<Option<Arc<Node<T>>>>,
}

impl<T: Send + Sync + 'static> Node<T> {
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
///
/// [`close`](TChan::close) ends the stream: each receiver takes the messages sent before
/// the close and then hears "closed" ([`TChanReceiver::get`] returns `None`):
///
/// ```
/// use braid::stm::{atomically, TChan};
/// use std::thread;
///
/// let ticks = TChan::new();
/// let listeners: Vec<_> = (0..2)
///     .map(|_| {
///         let rx = ticks.subscribe();
///         thread::spawn(move || rx.iter().count())
///     })
///     .collect();
/// for n in 0..5 {
///     ticks.put(n).unwrap();
/// }
/// atomically(|tx| ticks.close(tx));
/// for listener in listeners {
///     assert_eq!(listener.join().unwrap(), 5);
/// }
/// ```
pub struct TChan<T> {
    hole: TVar<Arc<Node<T>>>,
    closed: CloseFlag,
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
    closed: CloseFlag,
}

impl<T: Send + Sync + 'static> TChan<T> {
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
            closed: CloseFlag::new(),
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
    #[track_caller]
    pub fn send(&self, tx: &mut Transaction, value: T) -> StmResult<()> {
        self.closed.assert_open(tx, "TChan::send")?;
        self.send_shared(tx, Arc::new(value))
    }

    fn send_shared(&self, tx: &mut Transaction, value: Arc<T>) -> StmResult<()> {
        let hole = self.hole.read(tx)?;
        hole.slot.write(tx, Some(value))?;
        self.hole.write(tx, hole.next())
    }

    /// Closes the channel: sends fail from now on, and each receiver, once it has taken
    /// the messages sent before the close, hears "closed" instead of waiting. Blocked
    /// receivers wake. Closing twice is harmless.
    ///
    /// ```
    /// use braid::stm::{atomically, TChan};
    /// let chan = TChan::new();
    /// let rx = chan.subscribe();
    /// chan.put("bye").unwrap();
    /// atomically(|tx| chan.close(tx));
    /// assert_eq!(rx.get(), Some("bye"));
    /// assert_eq!(rx.get(), None);
    /// ```
    pub fn close(&self, tx: &mut Transaction) -> StmResult<()> {
        self.closed.close(tx)
    }

    /// Whether the channel has been closed.
    ///
    /// ```
    /// let chan: braid::stm::TChan<u8> = braid::stm::TChan::new();
    /// assert!(!braid::stm::atomically(|tx| chan.is_closed(tx)));
    /// ```
    pub fn is_closed(&self, tx: &mut Transaction) -> StmResult<bool> {
        self.closed.is_closed(tx)
    }

    /// Broadcasts `message` from a thread or outside a transaction, moving it in once
    /// (receivers each get a clone); `Err(Closed(message))` if the channel is closed.
    /// Never waits.
    ///
    /// ```
    /// let chan = braid::stm::TChan::new();
    /// let rx = chan.subscribe();
    /// chan.put(String::from("news")).unwrap();
    /// assert_eq!(rx.get().as_deref(), Some("news"));
    /// ```
    pub fn put(&self, message: T) -> Result<(), Closed<T>> {
        let shared = Arc::new(message);
        let sent = atomically(|tx| self.send_unless_closed(tx, &shared));
        sent.map_err(|()| Closed(Self::unshared(shared)))
    }

    /// [`put`](Self::put) for a task: the same, as a future.
    ///
    /// ```
    /// use braid::exec::Pool;
    /// let chan = braid::stm::TChan::new();
    /// let rx = chan.subscribe();
    /// Pool::new(1).block_on(async move { chan.put_async(3).await.unwrap() });
    /// assert_eq!(rx.get(), Some(3));
    /// ```
    pub async fn put_async(&self, message: T) -> Result<(), Closed<T>> {
        let shared = Arc::new(message);
        let sent = atomically_async(|tx| self.send_unless_closed(tx, &shared)).await;
        sent.map_err(|()| Closed(Self::unshared(shared)))
    }

    fn send_unless_closed(
        &self,
        tx: &mut Transaction,
        message: &Arc<T>,
    ) -> StmResult<Result<(), ()>> {
        if self.closed.is_closed(tx)? {
            return Ok(Err(()));
        }
        self.send_shared(tx, message.clone()).map(Ok)
    }

    /// The message of a send that found the channel closed: the attempts' clones of it
    /// went with the attempts' writes, and no committed send published it, so this is
    /// the last handle (once the discarded writes are freed, which happens before the
    /// transaction returns).
    fn unshared(message: Arc<T>) -> T {
        Arc::try_unwrap(message)
            .unwrap_or_else(|_| unreachable!("an unsent message is shared by no channel"))
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
            closed: self.closed.clone(),
        }
    }
}

impl<T: Clone + Send + Sync + 'static> TChanReceiver<T> {
    /// Receives the next message from a thread: waits while there is none and the
    /// channel is open, and returns `None` once it is closed and this receiver has taken
    /// every message sent before the close.
    ///
    /// # Panics
    /// On a Pool worker thread, if it would wait: use [`get_async`](Self::get_async) in
    /// tasks.
    ///
    /// ```
    /// let chan = braid::stm::TChan::new();
    /// let rx = chan.subscribe();
    /// chan.put(1).unwrap();
    /// assert_eq!(rx.get(), Some(1));
    /// ```
    #[track_caller]
    pub fn get(&self) -> Option<T> {
        atomically(|tx| self.recv_or_closed(tx))
    }

    /// [`get`](Self::get) for a task: the same, as a future that suspends the task (not
    /// the thread) while it waits.
    ///
    /// ```
    /// use braid::exec::Pool;
    /// let chan = braid::stm::TChan::new();
    /// let rx = chan.subscribe();
    /// chan.put('m').unwrap();
    /// assert_eq!(Pool::new(1).block_on(async move { rx.get_async().await }), Some('m'));
    /// ```
    pub async fn get_async(&self) -> Option<T> {
        atomically_async(|tx| self.recv_or_closed(tx)).await
    }

    /// The messages as they arrive, from a thread: [`get`](Self::get) until the channel
    /// is closed and this receiver has them all.
    ///
    /// ```
    /// use braid::stm::{atomically, TChan};
    /// let chan = TChan::new();
    /// let rx = chan.subscribe();
    /// (1..=3).for_each(|n| chan.put(n).unwrap());
    /// atomically(|tx| chan.close(tx));
    /// assert_eq!(rx.iter().collect::<Vec<_>>(), [1, 2, 3]);
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = T> + '_ {
        std::iter::from_fn(|| self.get())
    }

    /// This receiver as a [`Stream`](futures_core::Stream) of its messages, for a task:
    /// [`get_async`](Self::get_async)s until the channel is closed and this receiver has
    /// every message (the async twin of [`iter`](Self::iter)). It takes the receiver, so
    /// the stream is this subscriber; for a second, independent one, `subscribe` again or
    /// clone the receiver first. Dropping the stream while it waits loses no message of
    /// other subscribers.
    ///
    /// ```
    /// use braid::exec::Pool;
    /// use braid::stm::{atomically, TChan};
    ///
    /// let pool = Pool::new(2);
    /// let news = TChan::new();
    /// let readers: Vec<_> = (0..3)
    ///     .map(|_| {
    ///         let mut stream = news.subscribe().into_stream();
    ///         pool.spawn(async move {
    ///             let mut heard = Vec::new();
    ///             while let Some(m) = stream.next().await {
    ///                 heard.push(m);
    ///             }
    ///             heard
    ///         })
    ///     })
    ///     .collect();
    /// news.put("rain").unwrap();
    /// news.put("sun").unwrap();
    /// atomically(|tx| news.close(tx));
    /// for reader in readers {
    ///     assert_eq!(reader.join().unwrap(), ["rain", "sun"]); // each hears everything
    /// }
    /// ```
    pub fn into_stream(self) -> TChanStream<T> {
        TChanStream::new(self)
    }

    /// Receives the next message inside a transaction; retries while there is none and
    /// the channel is open, and returns `None` once it is closed and drained (the
    /// transactional [`get`](Self::get)).
    ///
    /// ```
    /// use braid::stm::{atomically, TChan};
    /// let chan = TChan::new();
    /// let rx = chan.subscribe();
    /// atomically(|tx| { chan.send(tx, 'a')?; chan.close(tx) });
    /// assert_eq!(atomically(|tx| rx.recv_or_closed(tx)), Some('a'));
    /// assert_eq!(atomically(|tx| rx.recv_or_closed(tx)), None);
    /// ```
    pub fn recv_or_closed(&self, tx: &mut Transaction) -> StmResult<Option<T>> {
        match self.try_recv(tx)? {
            Some(value) => Ok(Some(value)),
            None => self.closed.nothing_left(tx),
        }
    }

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
        Ok(Some(T::clone(&value)))
    }
}

impl<T: Send + Sync + 'static> Default for TChan<T> {
    fn default() -> Self {
        TChan::new()
    }
}

impl<T> Clone for TChan<T> {
    fn clone(&self) -> Self {
        TChan {
            hole: self.hole.clone(),
            closed: self.closed.clone(),
        }
    }
}

impl<T: Clone + Send + Sync + 'static> Clone for TChanReceiver<T> {
    /// An independent receiver at the same position: both will see the same messages.
    fn clone(&self) -> Self {
        TChanReceiver {
            position: TVar::new(self.position.load()),
            closed: self.closed.clone(),
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

impl<T: Clone + Send + Sync + 'static> Source for TChanReceiver<T> {
    type Item = T;

    fn try_next(&self) -> Option<Option<T>> {
        atomically(|tx| or_else(tx, |tx| self.recv_or_closed(tx).map(Some), |_| Ok(None)))
    }

    fn next(self) -> Waiting<Self, T> {
        Box::pin(async move {
            let item = self.get_async().await;
            (self, item)
        })
    }
}
