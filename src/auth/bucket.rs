//! Rate limits for the admin API: a token bucket per key (an API key's prefix), so a
//! runaway script slows down instead of starving everyone else. A bucket holds `burst`
//! tokens and refills continuously at `per_minute` tokens a minute; each request takes one.
//!
//! Stored as the bucket's "theoretical arrival time" (GCRA): one integer per key, the time
//! at which the bucket is full again, so refilling needs no timer and a full bucket is simply
//! forgotten. Memory is bounded like the login throttle's.

use std::sync::{Arc, Mutex, MutexGuard};

use super::bounded::{BoundedMap, Expiring, MAX_KEYS};
use super::{NANOS_PER_SEC, ceil_secs, unix_nanos};
use crate::clock::Clock;

/// The outcome of [`RateLimiter::take`], with what the `RateLimit-*` and `Retry-After`
/// headers need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateDecision {
    /// Whether the request may go ahead (it took a token).
    pub allowed: bool,
    /// The bucket's size, `burst`.
    pub limit: u32,
    /// Whole tokens left after this request.
    pub remaining: u32,
    /// Seconds until the bucket is full again.
    pub reset_secs: u64,
    /// When refused: seconds until one token is back.
    pub retry_after_secs: Option<u64>,
}

/// The time (Unix nanoseconds) at which a key's bucket is full again.
struct FullAt(i128);

impl Expiring for FullAt {
    fn expired(&self, now: i128) -> bool {
        now >= self.0
    }
}

/// A token bucket per key.
pub struct RateLimiter {
    per_minute: u32,
    burst: u32,
    /// Nanoseconds to refill one token (0 when unlimited).
    interval: i128,
    clock: Arc<dyn Clock>,
    buckets: Mutex<BoundedMap<FullAt>>,
}

impl RateLimiter {
    /// `per_minute` tokens a minute (0: unlimited), at most `burst` at once (at least 1).
    pub fn new(per_minute: u32, burst: u32, clock: Arc<dyn Clock>) -> RateLimiter {
        RateLimiter::with_capacity(per_minute, burst, clock, MAX_KEYS)
    }

    fn with_capacity(
        per_minute: u32,
        burst: u32,
        clock: Arc<dyn Clock>,
        keys: usize,
    ) -> RateLimiter {
        let interval = match per_minute {
            0 => 0,
            n => 60 * NANOS_PER_SEC / i128::from(n),
        };
        RateLimiter {
            per_minute,
            burst: burst.max(1),
            interval,
            clock,
            buckets: Mutex::new(BoundedMap::new(keys)),
        }
    }

    /// Tokens refilled per minute; 0 means unlimited.
    pub fn per_minute(&self) -> u32 {
        self.per_minute
    }

    /// The bucket's size.
    pub fn burst(&self) -> u32 {
        self.burst
    }

    /// Takes a token from `key`'s bucket if it has one.
    pub fn take(&self, key: &str) -> RateDecision {
        if self.per_minute == 0 {
            return RateDecision {
                allowed: true,
                limit: self.burst,
                remaining: self.burst,
                reset_secs: 0,
                retry_after_secs: None,
            };
        }
        let now = unix_nanos(self.clock.now());
        let capacity = i128::from(self.burst) * self.interval;
        let mut buckets = self.lock();
        // A new (or forgotten) bucket is full: full since now.
        let full_at = buckets.entry(key, now, || FullAt(now));
        let current = full_at.0.max(now);
        let after = current + self.interval;
        // Taking a token must leave the bucket no emptier than empty.
        let allowed_from = after - capacity;
        if now < allowed_from {
            return RateDecision {
                allowed: false,
                limit: self.burst,
                remaining: 0,
                reset_secs: ceil_secs(current - now),
                retry_after_secs: Some(ceil_secs(allowed_from - now).max(1)),
            };
        }
        full_at.0 = after;
        let remaining = (now - allowed_from) / self.interval;
        RateDecision {
            allowed: true,
            limit: self.burst,
            remaining: u32::try_from(remaining).unwrap_or(self.burst),
            reset_secs: ceil_secs(after - now),
            retry_after_secs: None,
        }
    }

    fn lock(&self) -> MutexGuard<'_, BoundedMap<FullAt>> {
        // The map is consistent after any panic (plain field writes), so poison is moot.
        self.buckets.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FixedClock;

    const T0: u64 = 1_700_000_000;

    fn limiter(per_minute: u32, burst: u32) -> (RateLimiter, Arc<FixedClock>) {
        let clock = Arc::new(FixedClock::at(T0));
        (RateLimiter::new(per_minute, burst, clock.clone()), clock)
    }

    fn allowed(remaining: u32, reset_secs: u64) -> RateDecision {
        RateDecision {
            allowed: true,
            limit: 3,
            remaining,
            reset_secs,
            retry_after_secs: None,
        }
    }

    fn refused(reset_secs: u64, retry_after: u64) -> RateDecision {
        RateDecision {
            allowed: false,
            limit: 3,
            remaining: 0,
            reset_secs,
            retry_after_secs: Some(retry_after),
        }
    }

    #[test]
    fn burst_then_refill() {
        let (l, clock) = limiter(60, 3);
        assert_eq!(l.take("tsk_aaaaaaaa"), allowed(2, 1));
        assert_eq!(l.take("tsk_aaaaaaaa"), allowed(1, 2));
        assert_eq!(l.take("tsk_aaaaaaaa"), allowed(0, 3));
        assert_eq!(l.take("tsk_aaaaaaaa"), refused(3, 1));
        // Another key has its own bucket.
        assert_eq!(l.take("tsk_bbbbbbbb"), allowed(2, 1));
        // One token a second.
        clock.set(T0 + 1);
        assert_eq!(l.take("tsk_aaaaaaaa"), allowed(0, 3));
        assert_eq!(l.take("tsk_aaaaaaaa"), refused(3, 1));
        clock.set(T0 + 3);
        assert_eq!(l.take("tsk_aaaaaaaa"), allowed(1, 2));
        // Never more than the burst.
        clock.set(T0 + 1000);
        assert_eq!(l.take("tsk_aaaaaaaa"), allowed(2, 1));
    }

    #[test]
    fn slow_refill() {
        // One token every two seconds.
        let (l, clock) = limiter(30, 3);
        for _ in 0..3 {
            assert!(l.take("k").allowed);
        }
        assert_eq!(l.take("k"), refused(6, 2));
        clock.set(T0 + 1);
        assert_eq!(l.take("k"), refused(5, 1));
        clock.set(T0 + 2);
        assert_eq!(l.take("k"), allowed(0, 6));
    }

    #[test]
    fn fractional_rates_round_up() {
        // 7 a minute: one token every 8.57 seconds.
        let (l, clock) = limiter(7, 1);
        let first = l.take("k");
        assert_eq!((first.allowed, first.limit, first.remaining), (true, 1, 0));
        assert_eq!(first.reset_secs, 9);
        assert_eq!(l.take("k").retry_after_secs, Some(9));
        clock.set(T0 + 8);
        assert_eq!(l.take("k").retry_after_secs, Some(1));
        clock.set(T0 + 9);
        assert!(l.take("k").allowed);
    }

    #[test]
    fn zero_is_unlimited() {
        let (l, _clock) = limiter(0, 3);
        for _ in 0..1000 {
            assert_eq!(l.take("k"), allowed(3, 0));
        }
        assert_eq!(l.lock().len(), 0);
    }

    #[test]
    fn burst_is_at_least_one() {
        let (l, _clock) = limiter(60, 0);
        assert_eq!(l.burst(), 1);
        assert!(l.take("k").allowed);
        assert!(!l.take("k").allowed);
    }

    #[test]
    fn memory_is_bounded() {
        let clock = Arc::new(FixedClock::at(T0));
        let l = RateLimiter::with_capacity(60, 3, clock.clone(), 2);
        for key in ["a", "a", "a", "b", "c"] {
            l.take(key);
        }
        assert_eq!(l.lock().len(), 2);
        // "a" was dropped for "c": its bucket is full again.
        assert_eq!(l.take("a"), allowed(2, 1));
        // Full buckets are swept out a minute on.
        clock.set(T0 + 60);
        l.take("d");
        assert_eq!(l.lock().len(), 1);
    }
}
