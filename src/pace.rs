//! How fast the sweep starts recipes: a launch rate that grows while AWS admits every call and
//! shrinks the moment any attempt is throttled (the SDK's own retries included). Pure: the caller
//! passes the clock and the running count of throttled attempts.
//!
//! Rate, not concurrency: AWS limits calls per second per operation with token buckets, and a
//! rate that creeps up into a bucket's refill rate drains its burst slowly, so the first refusal
//! arrives long before many follow; one cut then brings the rate back under the refill. (The SDK's
//! adaptive retry mode limits per client, not per operation, and only after it has been throttled.)

use std::time::{Duration, Instant};

/// Recipes per second at the start, and the bounds.
const START_RATE: f64 = 8.0;
const MIN_RATE: f64 = 0.25;
const MAX_RATE: f64 = 2000.0;
/// Until the first throttle the rate grows by half every second (slow start); after it, by this
/// many recipes per second, each second.
const SLOW_START_GROWTH: f64 = 1.5;
const INCREASE_PER_SECOND: f64 = 1.5;
/// The cut on a throttle; the first one halves (slow start overshoots: a full bucket hides the
/// excess until its burst is spent).
const DECREASE: f64 = 0.8;
const FIRST_DECREASE: f64 = 0.5;
/// After a cut, throttles within this time are the same episode (calls already in flight).
const COOLDOWN: Duration = Duration::from_millis(750);

#[derive(Debug, Clone)]
pub struct Pacer {
    rate: f64,
    next: Instant,
    grown_at: Instant,
    cut_at: Option<Instant>,
    throttled_seen: u64,
}

impl Pacer {
    pub fn new(now: Instant) -> Pacer {
        Pacer {
            rate: START_RATE,
            next: now,
            grown_at: now,
            cut_at: None,
            throttled_seen: 0,
        }
    }

    /// Recipes per second now.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// When the next recipe may start.
    pub fn next_launch(&self) -> Instant {
        self.next
    }

    pub fn may_launch(&self, now: Instant) -> bool {
        now >= self.next
    }

    /// One recipe started at `now`. Time spent idle (waiting for a page) earns no burst.
    pub fn launched(&mut self, now: Instant) {
        self.next = self.next.max(now) + Duration::from_secs_f64(1.0 / self.rate);
    }

    /// Takes in the sweep's running count of throttled attempts: grows the rate for the time
    /// since the last look if nothing new was throttled, else cuts it (once per episode).
    pub fn observe(&mut self, throttled_total: u64, now: Instant) {
        let dt = now.saturating_duration_since(self.grown_at).as_secs_f64();
        self.grown_at = now;
        if throttled_total > self.throttled_seen {
            self.throttled_seen = throttled_total;
            if self
                .cut_at
                .is_none_or(|at| now.saturating_duration_since(at) >= COOLDOWN)
            {
                let cut = if self.cut_at.is_none() {
                    FIRST_DECREASE
                } else {
                    DECREASE
                };
                self.rate = (self.rate * cut).max(MIN_RATE);
                self.cut_at = Some(now);
                // The cut applies to the next launch already.
                self.next = self.next.min(now + Duration::from_secs_f64(1.0 / self.rate));
            }
            return;
        }
        self.rate = match self.cut_at {
            None => self.rate * SLOW_START_GROWTH.powf(dt),
            Some(_) => self.rate + INCREASE_PER_SECOND * dt,
        }
        .min(MAX_RATE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A token bucket like AWS's (and the stand-in's): `limit` per second, `burst` deep.
    struct Bucket {
        tokens: f64,
        limit: f64,
        burst: f64,
    }

    impl Bucket {
        fn take(&mut self, dt: f64) -> bool {
            self.tokens = (self.tokens + dt * self.limit).min(self.burst);
            if self.tokens >= 1.0 {
                self.tokens -= 1.0;
                true
            } else {
                false
            }
        }
    }

    #[test]
    fn slow_start_then_additive_growth_and_one_cut_per_episode() {
        let t0 = Instant::now();
        let mut p = Pacer::new(t0);
        p.observe(0, t0 + Duration::from_secs(2));
        let grown = START_RATE * SLOW_START_GROWTH * SLOW_START_GROWTH;
        assert!((p.rate() - grown).abs() < 1e-6, "grew twice: {}", p.rate());
        let t = t0 + Duration::from_secs(2);
        p.observe(3, t);
        assert!((p.rate() - grown * FIRST_DECREASE).abs() < 1e-6, "the first cut halves");
        let cut = p.rate();
        p.observe(9, t + Duration::from_millis(100));
        assert_eq!(p.rate(), cut, "the same episode is cut once");
        p.observe(9, t + Duration::from_millis(3100));
        assert!(
            (p.rate() - (cut + 3.0 * INCREASE_PER_SECOND)).abs() < 1e-6,
            "{}",
            p.rate()
        );
        p.observe(10, t + Duration::from_secs(4));
        assert!(p.rate() < cut + 3.0 * INCREASE_PER_SECOND, "a new episode cuts again");
        for i in 0..200 {
            p.observe(11 + i, t + Duration::from_secs(5 + i));
        }
        assert_eq!(p.rate(), MIN_RATE, "never below the floor");
    }

    #[test]
    fn launches_follow_the_rate_and_idle_time_earns_no_burst() {
        let t0 = Instant::now();
        let mut p = Pacer::new(t0);
        assert!(p.may_launch(t0));
        p.launched(t0);
        assert!(!p.may_launch(t0));
        assert_eq!(p.next_launch(), t0 + Duration::from_secs_f64(1.0 / START_RATE));
        let later = t0 + Duration::from_secs(60);
        p.launched(later);
        assert_eq!(
            p.next_launch(),
            later + Duration::from_secs_f64(1.0 / START_RATE),
            "no credit for the idle minute"
        );
    }

    /// Simulated against a bucket of 150 calls/s, 150 deep, two calls per recipe: the rate
    /// settles under the limit, nearly all of it used, almost nothing refused.
    #[test]
    fn against_a_token_bucket_it_uses_the_limit_and_is_rarely_refused() {
        let (limit, calls_per_recipe) = (150.0, 2);
        let mut bucket = Bucket {
            tokens: limit,
            limit,
            burst: limit,
        };
        let t0 = Instant::now();
        let mut p = Pacer::new(t0);
        let (mut now, mut last, mut admitted, mut refused) = (t0, t0, 0u64, 0u64);
        let end = t0 + Duration::from_secs(300);
        while now < end {
            now = p.next_launch().max(now + Duration::from_micros(100));
            let dt = now.duration_since(last).as_secs_f64();
            last = now;
            p.launched(now);
            for i in 0..calls_per_recipe {
                // A refused call is retried at once, as the SDK would after its backoff.
                while !bucket.take(if i == 0 { dt } else { 0.0 }) {
                    refused += 1;
                    p.observe(refused, now);
                    now += Duration::from_millis(20);
                    let dt = now.duration_since(last).as_secs_f64();
                    last = now;
                    bucket.tokens = (bucket.tokens + dt * limit).min(limit);
                }
                admitted += 1;
            }
            p.observe(refused, now);
        }
        let seconds = now.duration_since(t0).as_secs_f64();
        let used = admitted as f64 / seconds / limit;
        let refused_share = refused as f64 / (admitted + refused) as f64;
        assert!(used >= 0.9, "used {:.1}% of the limit", used * 100.0);
        assert!(refused_share < 0.01, "refused {:.2}%", refused_share * 100.0);
    }
}
