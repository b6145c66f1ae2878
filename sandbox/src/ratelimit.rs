//! Per-credential token buckets and the `X-RateLimit-*` numbers.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use crate::config::RateLimit;

/// The outcome of one request against its bucket.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Decision {
    pub allowed: bool,
    /// `X-RateLimit-Limit`: the bucket size.
    pub limit: u32,
    /// `X-RateLimit-Remaining`: whole requests left now.
    pub remaining: u32,
    /// `X-RateLimit-Reset`: unix seconds when the bucket is full again.
    pub reset_unix: i64,
    /// Seconds until one request is allowed again (when refused).
    pub retry_after_secs: u64,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    refilled: Instant,
}

/// Token buckets keyed by credential.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    config: RateLimit,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    /// Buckets of the given size and refill rate.
    pub(crate) fn new(config: RateLimit) -> RateLimiter {
        RateLimiter {
            config,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one request from `credential`'s bucket if it has one.
    /// `now_unix` is the wall clock in (fractional) unix seconds.
    pub(crate) fn check(&self, credential: &str, now: Instant, now_unix: f64) -> Decision {
        let burst = f64::from(self.config.burst);
        let rate = self.config.requests_per_second;
        if self.config.is_disabled() {
            return Decision {
                allowed: true,
                limit: self.config.burst,
                remaining: self.config.burst,
                reset_unix: now_unix.ceil() as i64,
                retry_after_secs: 0,
            };
        }
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let bucket = buckets.entry(credential.to_owned()).or_insert(Bucket {
            tokens: burst,
            refilled: now,
        });
        let elapsed = now.saturating_duration_since(bucket.refilled).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(burst);
        bucket.refilled = now;
        let allowed = bucket.tokens >= 1.0;
        if allowed {
            bucket.tokens -= 1.0;
        }
        Decision {
            allowed,
            limit: self.config.burst,
            remaining: bucket.tokens.floor() as u32,
            reset_unix: (now_unix + (burst - bucket.tokens) / rate).ceil() as i64,
            retry_after_secs: if allowed {
                0
            } else {
                ((1.0 - bucket.tokens) / rate).ceil().max(1.0) as u64
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const T0: f64 = 1_700_000_000.0;

    #[test]
    fn a_full_bucket_allows_the_burst_then_refuses() {
        let limiter = RateLimiter::new(RateLimit {
            requests_per_second: 2.0,
            burst: 3,
        });
        let now = Instant::now();
        let remaining: Vec<u32> = (0..3)
            .map(|_| limiter.check("k", now, T0).remaining)
            .collect();
        assert_eq!(remaining, [2, 1, 0]);
        let refused = limiter.check("k", now, T0);
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after_secs, 1);
        assert_eq!(refused.reset_unix, T0 as i64 + 2); // 3 tokens at 2/s: 1.5 s, rounded up
    }

    #[test]
    fn buckets_refill_over_time_and_are_per_credential() {
        let limiter = RateLimiter::new(RateLimit {
            requests_per_second: 10.0,
            burst: 1,
        });
        let now = Instant::now();
        assert!(limiter.check("a", now, T0).allowed);
        assert!(!limiter.check("a", now, T0).allowed);
        assert!(limiter.check("b", now, T0).allowed);
        assert!(
            limiter
                .check("a", now + Duration::from_millis(100), T0 + 0.1)
                .allowed
        );
    }

    #[test]
    fn a_disabled_limit_always_allows_and_reports_a_full_bucket() {
        let limiter = RateLimiter::new(RateLimit::disabled());
        let now = Instant::now();
        for _ in 0..1_000 {
            let d = limiter.check("k", now, T0);
            assert!(d.allowed);
            assert_eq!(d.remaining, d.limit);
        }
    }
}
