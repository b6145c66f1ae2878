//! One request-rate limiter for the whole process, shared by all streams.
//!
//! Two things slow requests down:
//! - the optional `requests_per_second` cap from the config, a strict GCRA
//!   limiter (`governor`) with a burst of one, so the cap holds over any
//!   window;
//! - what the API says about its own bucket. When `X-RateLimit-Remaining`
//!   runs low, requests are spaced at the rate the bucket refills
//!   (derived from `X-RateLimit-Limit`, `-Remaining` and `-Reset`), and after
//!   a 429 every request waits until the `Retry-After` instant.

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter as Gcra};

/// The share of `requests_per_second` the limiter aims at.
const CAP_MARGIN: f64 = 0.97;

/// See the module documentation.
pub struct RateLimiter {
    cap: Option<DefaultDirectRateLimiter>,
    server: Mutex<ServerBucket>,
    /// Requests that may be in flight at once; the low-water mark must leave
    /// room for all of them.
    concurrency: u32,
}

#[derive(Debug, Default)]
struct ServerBucket {
    /// No request starts before this instant (after a 429).
    paused_until: Option<Instant>,
    /// When the API's bucket runs low: the time one token takes to refill.
    spacing: Option<Duration>,
    /// The earliest start of the next request while spacing applies.
    next_slot: Option<Instant>,
}

/// The API's rate-limit headers of one response.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimitHeaders {
    pub limit: u64,
    pub remaining: u64,
    /// Seconds from now until the bucket is full again.
    pub seconds_to_full: f64,
}

impl RateLimiter {
    /// A limiter capped at `requests_per_second` (if set) for `concurrency`
    /// requests in flight.
    pub fn new(requests_per_second: Option<f64>, concurrency: usize) -> Self {
        let cap = requests_per_second
            .filter(|rps| rps.is_finite() && *rps > 0.0)
            .map(|rps| {
                // A request allowed now reaches the server a few milliseconds
                // later, by a varying amount; spacing requests 3% wider keeps
                // the rate the server sees under the cap in every window.
                // The spec bounds the rate; the clamp keeps any value a
                // representable, non-zero period all the same.
                let seconds = (1.0 / (rps * CAP_MARGIN)).clamp(1e-6, 1e6);
                let quota = Quota::with_period(Duration::from_secs_f64(seconds))
                    .expect("a period of at least a microsecond is positive")
                    .allow_burst(NonZeroU32::MIN);
                Gcra::direct(quota)
            });
        RateLimiter {
            cap,
            server: Mutex::new(ServerBucket::default()),
            concurrency: u32::try_from(concurrency).unwrap_or(u32::MAX).max(1),
        }
    }

    /// Waits until a request may start.
    pub async fn acquire(&self) {
        if let Some(cap) = &self.cap {
            cap.until_ready().await;
        }
        loop {
            let wait = self.reserve(Instant::now());
            if wait.is_zero() {
                return;
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// How long to wait before starting a request at `now`; reserves the slot
    /// when spacing applies and the answer is zero.
    fn reserve(&self, now: Instant) -> Duration {
        let mut bucket = self.server.lock().expect("limiter lock");
        if let Some(until) = bucket.paused_until {
            if until > now {
                return until - now;
            }
            bucket.paused_until = None;
        }
        let Some(spacing) = bucket.spacing else {
            return Duration::ZERO;
        };
        let slot = bucket.next_slot.map_or(now, |s| s.max(now));
        if slot > now {
            return slot - now;
        }
        bucket.next_slot = Some(slot + spacing);
        Duration::ZERO
    }

    /// Learns from a response's rate-limit headers.
    pub fn observe(&self, headers: RateLimitHeaders) {
        let low_water = (headers.limit / 10).max(u64::from(self.concurrency) + 1);
        let mut bucket = self.server.lock().expect("limiter lock");
        if headers.remaining > low_water {
            bucket.spacing = None;
            bucket.next_slot = None;
            return;
        }
        let missing = headers.limit.saturating_sub(headers.remaining).max(1);
        // The bucket refills `missing` tokens in `seconds_to_full`; Reset has
        // whole-second precision, so never assume it refills faster than
        // one token per 1/limit seconds.
        let per_token = (headers.seconds_to_full.max(1.0) / missing as f64)
            .max(1.0 / headers.limit.max(1) as f64);
        bucket.spacing = Some(Duration::from_secs_f64(per_token));
    }

    /// Makes every request wait until `until` (a 429's `Retry-After`).
    pub fn pause_until(&self, until: Instant) {
        let mut bucket = self.server.lock().expect("limiter lock");
        if bucket.paused_until.is_none_or(|p| p < until) {
            bucket.paused_until = Some(until);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(limit: u64, remaining: u64, seconds_to_full: f64) -> RateLimitHeaders {
        RateLimitHeaders {
            limit,
            remaining,
            seconds_to_full,
        }
    }

    #[test]
    fn a_full_bucket_lets_requests_through_at_once() {
        let limiter = RateLimiter::new(None, 4);
        limiter.observe(headers(40, 39, 1.0));
        let now = Instant::now();
        assert_eq!(limiter.reserve(now), Duration::ZERO);
        assert_eq!(limiter.reserve(now), Duration::ZERO);
    }

    #[test]
    fn a_low_bucket_spaces_requests_at_its_refill_rate() {
        let limiter = RateLimiter::new(None, 1);
        // 36 tokens missing, full in 2 s: one token every 1/18 s.
        limiter.observe(headers(40, 4, 2.0));
        let now = Instant::now();
        assert_eq!(limiter.reserve(now), Duration::ZERO);
        let wait = limiter.reserve(now);
        assert!(
            (wait.as_secs_f64() - 2.0 / 36.0).abs() < 1e-3,
            "waited {wait:?}"
        );
    }

    #[test]
    fn a_429_pauses_every_request_until_its_retry_after() {
        let limiter = RateLimiter::new(None, 1);
        let now = Instant::now();
        limiter.pause_until(now + Duration::from_secs(3));
        assert_eq!(limiter.reserve(now), Duration::from_secs(3));
        assert_eq!(
            limiter.reserve(now + Duration::from_secs(3)),
            Duration::ZERO
        );
    }

    #[test]
    fn the_low_water_mark_leaves_room_for_requests_in_flight() {
        let limiter = RateLimiter::new(None, 8);
        // 9 remaining with 8 in flight is already low.
        limiter.observe(headers(40, 9, 2.0));
        let now = Instant::now();
        limiter.reserve(now);
        assert!(limiter.reserve(now) > Duration::ZERO);
    }

    #[tokio::test]
    async fn the_configured_cap_is_never_exceeded() {
        let limiter = RateLimiter::new(Some(50.0), 4);
        let start = Instant::now();
        for _ in 0..11 {
            limiter.acquire().await;
        }
        // 11 requests at 50/s: the 11th may start 200 ms after the first.
        assert!(
            start.elapsed() >= Duration::from_millis(195),
            "{:?}",
            start.elapsed()
        );
    }
}
