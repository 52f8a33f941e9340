//! Instant arithmetic that never overflows. `Instant + Duration` panics when the sum is
//! past what an `Instant` can hold (`interval(Duration::MAX)`, `sleep(Duration::MAX)`);
//! every deadline in `braid::time` is computed here instead, and saturates.

use std::time::{Duration, Instant};

/// How far off a deadline that cannot be represented is put: later than anything a
/// program waits for (tokio's "far future" is the same thirty years).
const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

/// `instant + duration`, saturated: the exact sum when an `Instant` can hold it;
/// otherwise thirty years after `instant` (a wait that long is a wait without end); and
/// for an `instant` so late that even that cannot be held, the latest `Instant` after it
/// that can. Never earlier than `instant`, never a panic.
pub(super) fn add(instant: Instant, duration: Duration) -> Instant {
    instant
        .checked_add(duration)
        .or_else(|| instant.checked_add(FAR_FUTURE.min(duration)))
        .unwrap_or_else(|| latest_after(instant, duration))
}

/// The latest `instant + d` with `d <= limit` that an `Instant` can hold, to the second
/// (a binary search over seconds: at most 64 additions, and only for instants centuries
/// past any clock's reading).
fn latest_after(instant: Instant, limit: Duration) -> Instant {
    let (mut fits, mut fails) = (0u64, limit.as_secs().saturating_add(1));
    while fails - fits > 1 {
        let mid = fits + (fails - fits) / 2;
        if instant.checked_add(Duration::from_secs(mid)).is_some() {
            fits = mid;
        } else {
            fails = mid;
        }
    }
    instant + Duration::from_secs(fits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_that_fit_are_exact() {
        let now = Instant::now();
        assert_eq!(
            add(now, Duration::from_millis(5)),
            now + Duration::from_millis(5)
        );
        assert_eq!(add(now, Duration::ZERO), now);
    }

    #[test]
    fn sums_past_the_limit_saturate() {
        let now = Instant::now();
        assert_eq!(add(now, Duration::MAX), now + FAR_FUTURE);
        let last = latest_after(now, Duration::MAX);
        assert!(last.checked_add(Duration::from_secs(1)).is_none());
        assert_eq!(add(last, Duration::MAX), last);
        assert_eq!(add(last, Duration::from_secs(1)), last);
    }
}
