//! Why a task has no output: it panicked, or it was cancelled.

use std::any::Any;
use std::fmt;

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
pub struct JoinError {
    repr: Repr,
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
    pub(crate) fn cancelled() -> JoinError {
        JoinError {
            repr: Repr::Cancelled,
        }
    }

    pub(crate) fn panic(payload: Box<dyn Any + Send + 'static>) -> JoinError {
        JoinError {
            repr: Repr::Panic {
                message: payload_message(payload.as_ref()).map(Box::from),
                payload: Payload(payload),
            },
        }
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
        match (&self.repr, self.panic_message()) {
            (Repr::Cancelled, _) => f.write_str("task was cancelled"),
            (Repr::Panic { .. }, Some(message)) => write!(f, "task panicked: {message}"),
            (Repr::Panic { .. }, None) => f.write_str("task panicked"),
        }
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.repr, self.panic_message()) {
            (Repr::Cancelled, _) => f.write_str("JoinError::Cancelled"),
            (Repr::Panic { .. }, Some(message)) => write!(f, "JoinError::Panic({message:?})"),
            (Repr::Panic { .. }, None) => f.write_str("JoinError::Panic(..)"),
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
