//! Why a task has no output: it panicked, or it was cancelled.

use std::any::Any;
use std::fmt;
use std::panic::Location;

use super::id::TaskId;

/// A task that did not produce its output: it panicked (the payload is kept, like plac's
/// killable tasks keep their exception), or it was cancelled by
/// [`JoinHandle::abort`](crate::JoinHandle::abort) or by its executor shutting down.
///
/// ```
/// use braid::exec::Pool;
///
/// let pool = Pool::new(1);
/// let task = pool.spawn_fn(|| -> u32 { panic!("bad input: {}", 7) });
/// let error = task.join().unwrap_err();
/// assert!(error.is_panic());
/// assert_eq!(error.panic_message(), Some("bad input: 7"));
/// ```
///
/// A `JoinError` is `Send + Sync + Error`, so `?` carries it into `anyhow::Error` or
/// `Box<dyn Error + Send + Sync>`:
///
/// ```
/// use braid::exec::Pool;
///
/// fn total(pool: &Pool) -> Result<u64, Box<dyn std::error::Error + Send + Sync>> {
///     let a = pool.spawn_fn(|| 20).join()?;
///     let b = pool.spawn_fn(|| 22).join()?;
///     Ok(a + b)
/// }
/// assert_eq!(total(&Pool::new(1)).unwrap(), 42);
/// ```
///
/// The error says which task it came from ([`id`](JoinError::id)) and which spawn
/// ([`spawned_at`](JoinError::spawned_at)), which `Display` shows with the panic message:
///
/// ```
/// use braid::exec::Pool;
///
/// let pool = Pool::new(1);
/// # std::panic::set_hook(Box::new(|_| {}));
/// let task = pool.spawn_fn(|| -> () { panic!("disk full") });
/// let (line, id) = (line!() - 1, task.id());
/// let error = task.join().unwrap_err();
/// assert_eq!((error.spawned_at().line(), error.id()), (line, id));
/// assert_eq!(
///     error.to_string(),
///     format!("task {id} spawned at {} panicked: disk full", error.spawned_at())
/// );
/// ```
///
/// The panic's own location is not kept: the payload a panic carries has none, and
/// getting it would mean replacing the process's panic hook, which belongs to the
/// application (the default hook has printed it already, with the thread's name).
pub struct JoinError {
    repr: Repr,
    id: TaskId,
    spawned_at: &'static Location<'static>,
}

enum Repr {
    Cancelled,
    Panic {
        /// The payload's message, taken when the error is made: the payload itself is
        /// never reached through `&self` (see `Payload`).
        message: Option<Box<str>>,
        payload: Payload,
    },
}

/// A panic payload, reachable only by value ([`JoinError::into_panic`]) or on drop, never
/// through a shared reference. So sharing `&JoinError` between threads shares nothing of
/// it, and the error can be `Sync` although `dyn Any + Send` is not (what
/// `std::sync::Exclusive` and tokio's `SyncWrapper` do).
struct Payload(Box<dyn Any + Send + 'static>);

// SAFETY: no method takes `&Payload` to read the box; it is moved out or dropped, both of
// which need ownership, so concurrent `&Payload`s can do nothing with it.
unsafe impl Sync for Payload {}

impl JoinError {
    pub(crate) fn cancelled(id: TaskId, spawned_at: &'static Location<'static>) -> JoinError {
        JoinError {
            repr: Repr::Cancelled,
            id,
            spawned_at,
        }
    }

    pub(crate) fn task_panic(
        payload: Box<dyn Any + Send + 'static>,
        id: TaskId,
        spawned_at: &'static Location<'static>,
    ) -> JoinError {
        JoinError {
            repr: Repr::Panic {
                message: payload_message(payload.as_ref()).map(Box::from),
                payload: Payload(payload),
            },
            id,
            spawned_at,
        }
    }

    /// A panic caught outside any task (an item of `Pool::try_map`): it gets an id of its
    /// own, so errors from one call still tell apart.
    pub(crate) fn panic(
        payload: Box<dyn Any + Send + 'static>,
        spawned_at: &'static Location<'static>,
    ) -> JoinError {
        JoinError::task_panic(payload, TaskId::next(), spawned_at)
    }

    /// The id of the task that failed: the one its [`JoinHandle::id`](crate::JoinHandle::id)
    /// gave. Where one spawn line starts many tasks (a loop), this tells them apart.
    ///
    /// ```
    /// use braid::exec::Pool;
    /// use braid::JoinSet;
    ///
    /// let pool = Pool::new(2);
    /// # std::panic::set_hook(Box::new(|_| {}));
    /// let mut set = JoinSet::new();
    /// let mut names = std::collections::HashMap::new();
    /// for n in 0..3u32 {
    ///     let handle = pool.spawn(async move { assert!(n != 1, "one is bad"); n });
    ///     names.insert(handle.id(), n);
    ///     set.push(handle);
    /// }
    /// while let Some(result) = set.join_next_blocking() {
    ///     if let Err(error) = result {
    ///         assert_eq!(names[&error.id()], 1);
    ///     }
    /// }
    /// ```
    pub fn id(&self) -> TaskId {
        self.id
    }

    /// Where the task was spawned: the call in your code to `Pool::spawn`, `spawn_fn`,
    /// `spawn_blocking`, `exec::spawn`, `exec::spawn_blocking`, `Scheduler::spawn` or
    /// `coro::spawn` (for [`Pool::try_map`](crate::exec::Pool::try_map), the `try_map`
    /// call).
    ///
    /// ```
    /// use braid::coro::Scheduler;
    ///
    /// let mut scheduler = Scheduler::new();
    /// let task = scheduler.spawn(std::future::pending::<()>());
    /// let spawned_on = line!() - 1;
    /// task.abort();
    /// let error = scheduler.block_on(task).unwrap().unwrap_err();
    /// assert_eq!((error.spawned_at().file(), error.spawned_at().line()), (file!(), spawned_on));
    /// ```
    pub fn spawned_at(&self) -> &'static Location<'static> {
        self.spawned_at
    }

    /// Whether the task panicked.
    ///
    /// ```
    /// # use braid::exec::Pool;
    /// let pool = Pool::new(1);
    /// assert!(pool.spawn_fn(|| panic!("boom")).join().unwrap_err().is_panic());
    /// ```
    pub fn is_panic(&self) -> bool {
        matches!(self.repr, Repr::Panic { .. })
    }

    /// Whether the task was cancelled before it finished.
    ///
    /// ```
    /// # use braid::exec::Pool;
    /// let pool = Pool::new(1);
    /// let sleeper = pool.spawn(std::future::pending::<()>());
    /// sleeper.abort();
    /// assert!(sleeper.join().unwrap_err().is_cancelled());
    /// ```
    pub fn is_cancelled(&self) -> bool {
        matches!(self.repr, Repr::Cancelled)
    }

    /// The panic's message, when its payload is a `&str` or a `String` (what `panic!`
    /// makes); `None` for other payloads and for cancellation.
    ///
    /// ```
    /// # use braid::exec::Pool;
    /// let pool = Pool::new(1);
    /// let error = pool.spawn_fn(|| panic!("disk full")).join().unwrap_err();
    /// assert_eq!(error.panic_message(), Some("disk full"));
    /// ```
    pub fn panic_message(&self) -> Option<&str> {
        match &self.repr {
            Repr::Panic { message, .. } => message.as_deref(),
            Repr::Cancelled => None,
        }
    }

    /// The panic's payload, to re-raise it with `std::panic::resume_unwind`.
    ///
    /// # Panics
    /// If the task was cancelled rather than panicked (check [`is_panic`](Self::is_panic)).
    ///
    /// ```
    /// # use braid::exec::Pool;
    /// let pool = Pool::new(1);
    /// let error = pool.spawn_fn(|| std::panic::panic_any(42u8)).join().unwrap_err();
    /// assert_eq!(*error.into_panic().downcast::<u8>().unwrap(), 42);
    /// ```
    #[track_caller]
    pub fn into_panic(self) -> Box<dyn Any + Send + 'static> {
        match self.repr {
            Repr::Panic { payload, .. } => payload.0,
            Repr::Cancelled => {
                panic!("JoinError::into_panic: the task was cancelled, it did not panic")
            }
        }
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (id, at) = (self.id, self.spawned_at);
        match (&self.repr, self.panic_message()) {
            (Repr::Cancelled, _) => write!(f, "task {id} spawned at {at} was cancelled"),
            (Repr::Panic { .. }, Some(message)) => {
                write!(f, "task {id} spawned at {at} panicked: {message}")
            }
            (Repr::Panic { .. }, None) => write!(f, "task {id} spawned at {at} panicked"),
        }
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (id, at) = (self.id, self.spawned_at);
        match (&self.repr, self.panic_message()) {
            (Repr::Cancelled, _) => {
                write!(f, "JoinError::Cancelled {{ id: {id}, spawned_at: {at} }}")
            }
            (Repr::Panic { .. }, Some(message)) => write!(
                f,
                "JoinError::Panic {{ id: {id}, message: {message:?}, spawned_at: {at} }}"
            ),
            (Repr::Panic { .. }, None) => {
                write!(f, "JoinError::Panic {{ id: {id}, spawned_at: {at} }}")
            }
        }
    }
}

impl std::error::Error for JoinError {}

/// The message of a panic payload that is a `&str` or a `String` (what `panic!` makes).
pub(crate) fn payload_message(payload: &(dyn Any + Send)) -> Option<&str> {
    payload
        .downcast_ref::<&'static str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
}
