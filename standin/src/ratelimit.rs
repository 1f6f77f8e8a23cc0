//! Per-operation token buckets behind [`Options::rate_limit`](crate::Options::rate_limit).
//!
//! Each bucket starts full with `burst` tokens and refills continuously at `per_second` tokens
//! per second, measured on the monotonic clock ([`Instant`]) with fractional tokens kept, never
//! holding more than `burst`; a call takes one whole token or is throttled. Buckets live behind
//! the stand-in's lock and read the clock inside it, so concurrent calls are admitted in a
//! single order and the admitted rate converges to `per_second` under any load.
//!
//! Kept hand-written rather than on `governor`: its `Quota` takes a non-zero burst and a
//! non-zero replenish interval, so burst 0, rate 0 and an infinite rate cannot be expressed,
//! its clock is its own (not the caller's `Instant`), and it would bring its own dependency
//! tree for thirty lines of arithmetic.

use std::time::Instant;

use crate::RateLimit;

/// Tolerance for the float sum of many small refills that should add up to a whole token.
const EPSILON: f64 = 1e-9;

#[derive(Debug, Clone, Copy)]
pub(crate) struct TokenBucket {
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub(crate) fn new(limit: RateLimit, now: Instant) -> TokenBucket {
        TokenBucket {
            tokens: f64::from(limit.burst),
            last: now,
        }
    }

    /// Refills for the time since the last call and takes one token if there is one. A
    /// `per_second` of +infinity never throttles (while `burst` ≥ 1); NaN, zero or negative
    /// rates never refill; a `burst` of 0 throttles every call.
    pub(crate) fn try_take(&mut self, limit: RateLimit, now: Instant) -> bool {
        let cap = f64::from(limit.burst);
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = self.last.max(now);
        let rate = limit.per_second;
        if rate == f64::INFINITY {
            self.tokens = cap;
        } else if rate > 0.0 {
            self.tokens = (self.tokens + elapsed * rate).min(cap);
        }
        if self.tokens + EPSILON >= 1.0 {
            self.tokens = (self.tokens - 1.0).max(0.0);
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn admitted(b: &mut TokenBucket, limit: RateLimit, at: Instant, n: usize) -> usize {
        (0..n).filter(|_| b.try_take(limit, at)).count()
    }

    #[test]
    fn burst_then_steady_rate_with_fractional_refill() {
        let limit = RateLimit {
            per_second: 50.0,
            burst: 5,
        };
        let t0 = Instant::now();
        let mut b = TokenBucket::new(limit, t0);
        assert_eq!(admitted(&mut b, limit, t0, 100), 5);
        // 10 ms = half a token: nothing yet; 20 ms = one token.
        assert_eq!(admitted(&mut b, limit, t0 + Duration::from_millis(10), 10), 0);
        assert_eq!(admitted(&mut b, limit, t0 + Duration::from_millis(20), 10), 1);
        // Capped at burst however long the pause.
        assert_eq!(admitted(&mut b, limit, t0 + Duration::from_secs(60), 100), 5);
        // Calls every 1 ms for one second: 50 admitted (the bucket was empty at the start).
        let start = t0 + Duration::from_secs(60);
        let steady: usize = (1..=1000)
            .map(|ms| admitted(&mut b, limit, start + Duration::from_millis(ms), 1))
            .sum();
        assert_eq!(steady, 50);
    }

    #[test]
    fn odd_limits() {
        let t0 = Instant::now();
        let later = t0 + Duration::from_secs(10);
        let none = RateLimit {
            per_second: 1000.0,
            burst: 0,
        };
        let mut b = TokenBucket::new(none, t0);
        assert_eq!(admitted(&mut b, none, later, 10), 0);
        let frozen = RateLimit {
            per_second: 0.0,
            burst: 2,
        };
        let mut b = TokenBucket::new(frozen, t0);
        assert_eq!(admitted(&mut b, frozen, later, 10), 2);
        let nan = RateLimit {
            per_second: f64::NAN,
            burst: 1,
        };
        let mut b = TokenBucket::new(nan, t0);
        assert_eq!(admitted(&mut b, nan, later, 10), 1);
        let unlimited = RateLimit {
            per_second: f64::INFINITY,
            burst: 1,
        };
        let mut b = TokenBucket::new(unlimited, t0);
        assert!((0..10).all(|_| b.try_take(unlimited, t0)));
        // A clock reading older than the last one refills nothing and does not panic.
        let mut b = TokenBucket::new(frozen, later);
        assert_eq!(admitted(&mut b, frozen, t0, 3), 2);
    }
}
