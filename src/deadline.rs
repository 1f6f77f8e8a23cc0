//! Time: the invocation deadline that bounds every call and wait, and the jittered pause between
//! two looks at a state RAM has not reached yet (polling, not retrying: the SDK retries).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A point in time after which no more work may start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Deadline(Instant);

impl Deadline {
    /// The deadline `d` from now.
    pub fn after(d: Duration) -> Self {
        Deadline(Instant::now() + d)
    }

    /// Converts Lambda's epoch-milliseconds deadline into a monotonic one.
    pub fn from_epoch_ms(deadline_ms: u64) -> Self {
        Deadline::after(Duration::from_millis(deadline_ms.saturating_sub(now_epoch_ms())))
    }

    /// Time left, zero once passed.
    pub fn remaining(&self) -> Duration {
        self.0.saturating_duration_since(Instant::now())
    }

    /// True once the deadline has passed.
    pub fn is_past(&self) -> bool {
        self.remaining().is_zero()
    }

    /// A deadline `d` earlier than this one.
    pub fn earlier_by(&self, d: Duration) -> Self {
        Deadline(self.0.checked_sub(d).unwrap_or_else(|| self.0.min(Instant::now())))
    }

    /// The monotonic instant, for `tokio::time::timeout_at`.
    pub fn instant(&self) -> Instant {
        self.0
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_epoch_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64
}

/// Exponential backoff with "equal jitter": half the step fixed, half random, so polls spread out
/// across concurrent invocations but never collapse to zero.
pub fn backoff(base: Duration, attempt: u32, cap: Duration) -> Duration {
    let step = base.saturating_mul(1u32 << attempt.min(16)).min(cap);
    let half = step / 2;
    half + half.mul_f64(fastrand::f64())
}

/// Time a poll needs after its wait to be worth starting: a read the deadline would cut off
/// mid-flight tells nothing.
const ROOM_FOR_A_CALL: Duration = Duration::from_millis(150);

/// Sleeps for `d`; false (without sleeping) when the deadline leaves no room for a call after it.
pub async fn pause(deadline: &Deadline, d: Duration) -> bool {
    if deadline.remaining() <= d + ROOM_FOR_A_CALL {
        return false;
    }
    tokio::time::sleep(d).await;
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_never_zero() {
        let base = Duration::from_millis(100);
        let cap = Duration::from_secs(2);
        for (attempt, lo, hi) in [
            (0, 50, 100),
            (1, 100, 200),
            (3, 400, 800),
            (10, 1000, 2000),
            (40, 1000, 2000),
        ] {
            for _ in 0..50 {
                let d = backoff(base, attempt, cap).as_millis() as u64;
                assert!((lo..=hi).contains(&d), "attempt {attempt}: {d}ms not in {lo}..={hi}");
            }
        }
    }

    #[test]
    fn deadlines() {
        let d = Deadline::after(Duration::from_secs(10));
        assert!(d.remaining() > Duration::from_secs(9));
        let e = d.earlier_by(Duration::from_secs(4));
        assert!(e.remaining() <= Duration::from_secs(6) && e.remaining() > Duration::from_secs(5));
        assert!(d.earlier_by(Duration::from_secs(60)).is_past());
        assert!(Deadline::from_epoch_ms(0).is_past());
        let r = Deadline::from_epoch_ms(now_epoch_ms() + 3000).remaining();
        assert!(r > Duration::from_millis(2500) && r <= Duration::from_millis(3000));
    }

    #[tokio::test]
    async fn pause_refuses_to_sleep_past_the_deadline() {
        let d = Deadline::after(Duration::from_millis(400));
        assert!(
            !pause(&d, Duration::from_millis(300)).await,
            "no room for a call after the wait"
        );
        assert!(pause(&d, Duration::from_millis(10)).await);
    }
}
