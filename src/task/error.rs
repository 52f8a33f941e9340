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
pub struct JoinError {
    repr: Repr,
}

enum Repr {
    Cancelled,
    Panic(Box<dyn Any + Send + 'static>),
}

impl JoinError {
    pub(crate) fn cancelled() -> JoinError {
        JoinError {
            repr: Repr::Cancelled,
        }
    }

    pub(crate) fn panic(payload: Box<dyn Any + Send + 'static>) -> JoinError {
        JoinError {
            repr: Repr::Panic(payload),
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
        matches!(self.repr, Repr::Panic(_))
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
            Repr::Panic(payload) => payload_message(payload.as_ref()),
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
            Repr::Panic(payload) => payload,
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
            (Repr::Panic(_), Some(message)) => write!(f, "task panicked: {message}"),
            (Repr::Panic(_), None) => f.write_str("task panicked"),
        }
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.repr, self.panic_message()) {
            (Repr::Cancelled, _) => f.write_str("JoinError::Cancelled"),
            (Repr::Panic(_), Some(message)) => write!(f, "JoinError::Panic({message:?})"),
            (Repr::Panic(_), None) => f.write_str("JoinError::Panic(..)"),
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
