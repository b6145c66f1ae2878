//! One request-rate limiter for the whole process, shared by all streams.
//!
//! Two things slow requests down:
//! - the optional `requests_per_second` cap from the config, a strict GCRA
//!   limiter (`governor`) with a burst of one, so the cap holds over any
//!   window;
//! - what the API says about its own bucket in `X-RateLimit-Limit`,
//!   `-Remaining` and `-Reset`. Requests go out freely while the bucket holds
//!   more tokens than requests may be in flight (the burst is used); below
//!   that they are paced at the bucket's refill rate, learned from the
//!   headers, and slower still the emptier the bucket gets, so that others
//!   spending on the same credential slow us down smoothly instead of
//!   provoking 429s ([`pace`], a pure function). After a 429 every request
//!   waits until the `Retry-After` instant.
//!
//! The limiter only says how long a request would wait ([`RateLimiter::reserve`]);
//! the client decides whether that fits the request's time budget.

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter as Gcra};

/// The share of `requests_per_second` the limiter aims at.
const CAP_MARGIN: f64 = 0.97;

/// No wait the API's numbers imply is taken as longer than this (a year);
/// it keeps every instant and duration representable.
const LONGEST_WAIT: Duration = Duration::from_secs(365 * 24 * 3600);

/// Keeps the pace of an empty bucket finite: with a reserve of `r` tokens it
/// is `EMPTY_SHARE / (r + EMPTY_SHARE)` of the refill rate.
const EMPTY_SHARE: f64 = 0.05;

/// See the module documentation.
pub struct RateLimiter {
    cap: Option<DefaultDirectRateLimiter>,
    server: Mutex<ServerBucket>,
    /// Requests that may be in flight at once: the reserve of tokens kept
    /// for them before pacing starts.
    concurrency: u32,
}

#[derive(Debug, Default)]
struct ServerBucket {
    /// No request starts before this instant (after a 429).
    paused_until: Option<Instant>,
    /// The time between requests while the bucket is low.
    spacing: Option<Duration>,
    /// The earliest start of the next request while spacing applies.
    next_slot: Option<Instant>,
    /// The bucket size the refill estimate belongs to.
    limit: u64,
    /// The highest refill rate (tokens/s) the headers proved so far.
    refill: Option<f64>,
    /// When the API says its bucket is full again.
    full_at: Option<SystemTime>,
    /// The tokens the bucket held at the last answer, as we believe it.
    believed: Option<(f64, Instant)>,
}

/// The API's rate-limit headers of one response.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimitHeaders {
    pub limit: u64,
    pub remaining: u64,
    /// Seconds from now until the bucket is full again (`Reset` minus now).
    pub seconds_to_full: f64,
}

/// How requests may go out, from what the bucket holds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pace {
    /// As fast as they come: the bucket holds more than may be in flight.
    Free,
    /// One request per this long.
    Every(Duration),
}

/// A lower bound of the bucket's refill rate (tokens/s) from one answer,
/// when it tells one. `Remaining` is rounded down and `Reset` up to whole
/// seconds, so the bucket misses more than `limit - remaining - 1` tokens
/// and refills them in at most `seconds_to_full`.
pub fn refill_floor(headers: RateLimitHeaders) -> Option<f64> {
    let missing = headers.limit.saturating_sub(headers.remaining);
    let seconds = headers.seconds_to_full;
    (missing >= 2 && seconds.is_finite() && seconds > 0.0)
        .then(|| (missing - 1) as f64 / seconds)
        .filter(|rate| rate.is_finite() && *rate > 0.0)
}

/// The pace for a bucket with `remaining` tokens that refills at `refill`
/// tokens/s, with up to `in_flight` requests under way. Above the reserve
/// (`in_flight` tokens) the burst is spent freely; at or below it requests
/// go at the refill rate scaled down by how empty the bucket is, to a
/// twentieth when it is empty, so that the rate we take shrinks smoothly
/// when others spend on the same credential.
pub fn pace(remaining: u64, refill: f64, in_flight: u32) -> Pace {
    // The other requests in flight may each take a token before ours
    // arrives (`in_flight - 1` of them), and `remaining` is already stale
    // by the time its answer is read: one more token is kept spare.
    let reserve = u64::from(in_flight.max(1));
    if remaining > reserve {
        return Pace::Free;
    }
    let share = ((remaining as f64 + EMPTY_SHARE) / (reserve as f64 + EMPTY_SHARE)).min(1.0);
    Pace::Every(seconds(1.0 / (refill * share)))
}

/// The tokens to believe the bucket holds after an answer: what it says,
/// but never more than the last belief plus what refilled since. Answers of
/// requests in flight together arrive in any order, and an older one (more
/// tokens left when the server counted) must not undo a newer, lower count.
fn believed_remaining(
    before: Option<(f64, Instant)>,
    headers: RateLimitHeaders,
    refill: f64,
    now: Instant,
) -> f64 {
    let said = headers.remaining as f64;
    let Some((tokens, at)) = before else {
        return said;
    };
    let refilled = refill.max(0.0) * now.saturating_duration_since(at).as_secs_f64();
    let most = (tokens + refilled).min(headers.limit as f64);
    if most.is_finite() {
        said.min(most)
    } else {
        said
    }
}

/// `secs` as a duration, NaN and negatives as zero, at most [`LONGEST_WAIT`].
fn seconds(secs: f64) -> Duration {
    if secs.is_nan() || secs <= 0.0 {
        return Duration::ZERO;
    }
    Duration::from_secs_f64(secs.min(LONGEST_WAIT.as_secs_f64()))
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

    /// Waits for the configured cap (which the config bounds to short waits).
    pub async fn acquire_cap(&self) {
        if let Some(cap) = &self.cap {
            cap.until_ready().await;
        }
    }

    /// How long a request starting at `now` must wait for the API's bucket;
    /// reserves its slot when the answer is zero.
    pub fn reserve(&self, now: Instant) -> Duration {
        let mut bucket = self.server.lock().unwrap_or_else(|e| e.into_inner());
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
        bucket.next_slot = slot.checked_add(spacing);
        Duration::ZERO
    }

    /// When the API last said its bucket would be full again.
    pub fn full_at(&self) -> Option<SystemTime> {
        self.server
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .full_at
    }

    /// Learns from a response's rate-limit headers.
    pub fn observe(&self, headers: RateLimitHeaders) {
        let mut bucket = self.server.lock().unwrap_or_else(|e| e.into_inner());
        if bucket.limit != headers.limit {
            // Another bucket (the account changed plan): learn it anew.
            bucket.limit = headers.limit;
            bucket.refill = None;
        }
        if let Some(floor) = refill_floor(headers) {
            bucket.refill = Some(bucket.refill.map_or(floor, |r| r.max(floor)));
        }
        bucket.full_at = SystemTime::now().checked_add(seconds(headers.seconds_to_full));
        // Without a proven rate: the whole bucket over the time to full,
        // and never faster than the bucket size per second.
        let refill = bucket
            .refill
            .unwrap_or_else(|| headers.limit.max(1) as f64 / headers.seconds_to_full.max(1.0));
        let remaining = believed_remaining(bucket.believed, headers, refill, Instant::now());
        bucket.believed = Some((remaining, Instant::now()));
        match pace(remaining as u64, refill, self.concurrency) {
            Pace::Free => {
                bucket.spacing = None;
                bucket.next_slot = None;
            }
            Pace::Every(spacing) => bucket.spacing = Some(spacing),
        }
    }

    /// Makes every request wait until `until` (a 429's `Retry-After`).
    pub fn pause_until(&self, until: Instant) {
        let mut bucket = self.server.lock().unwrap_or_else(|e| e.into_inner());
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

    fn every(pace: Pace) -> f64 {
        match pace {
            Pace::Every(d) => d.as_secs_f64(),
            Pace::Free => panic!("expected pacing"),
        }
    }

    #[test]
    fn the_burst_is_spent_freely_while_the_bucket_holds_more_than_may_be_in_flight() {
        assert_eq!(pace(40, 20.0, 4), Pace::Free);
        assert_eq!(pace(5, 20.0, 4), Pace::Free);
    }

    #[test]
    fn at_the_reserve_requests_go_at_the_refill_rate() {
        assert!((every(pace(4, 20.0, 4)) - 0.05).abs() < 1e-9);
    }

    #[test]
    fn the_emptier_the_bucket_the_slower_the_pace() {
        let paces: Vec<f64> = (0..=4).map(|left| every(pace(left, 20.0, 4))).collect();
        assert!(paces.windows(2).all(|w| w[0] > w[1]), "{paces:?}");
        // Empty: about an eightieth of the refill rate, some four seconds.
        assert!(paces[0] > 3.5 && paces[0] < 4.5, "{paces:?}");
    }

    #[test]
    fn a_pace_from_absurd_numbers_is_a_bounded_wait() {
        assert_eq!(pace(0, 0.0, 4), Pace::Every(LONGEST_WAIT));
        assert_eq!(pace(0, f64::NAN, 4), Pace::Every(Duration::ZERO));
        assert_eq!(pace(0, f64::INFINITY, 4), Pace::Every(Duration::ZERO));
        assert_eq!(pace(u64::MAX, 1.0, u32::MAX), Pace::Free);
    }

    #[test]
    fn an_older_answer_with_more_tokens_left_does_not_undo_a_lower_count() {
        let now = Instant::now();
        let low = Some((2.0, now));
        assert_eq!(
            believed_remaining(low, headers(40, 30, 1.0), 20.0, now),
            2.0
        );
        let later = now + Duration::from_millis(500);
        assert_eq!(
            believed_remaining(low, headers(40, 30, 1.0), 20.0, later),
            12.0
        );
        assert_eq!(
            believed_remaining(None, headers(40, 30, 1.0), 20.0, now),
            30.0
        );
    }

    #[test]
    fn the_refill_floor_allows_for_rounded_headers() {
        // 36 missing, full within 2 s: more than 35 tokens in 2 s.
        assert_eq!(refill_floor(headers(40, 4, 2.0)), Some(17.5));
        assert_eq!(refill_floor(headers(40, 39, 1.0)), None);
        assert_eq!(refill_floor(headers(40, 0, 0.0)), None);
        assert_eq!(refill_floor(headers(40, 80, 1.0)), None);
        assert!(refill_floor(headers(u64::MAX, 0, f64::MAX)).is_some_and(f64::is_finite));
    }

    #[test]
    fn a_low_bucket_spaces_requests_at_its_refill_rate() {
        let limiter = RateLimiter::new(None, 1);
        // 40 missing, full in 2 s: a floor of 19.5 tokens/s, the highest seen.
        limiter.observe(headers(40, 3, 2.0));
        limiter.observe(headers(40, 0, 2.0));
        let now = Instant::now();
        assert_eq!(limiter.reserve(now), Duration::ZERO);
        let wait = limiter.reserve(now).as_secs_f64();
        let expected = every(pace(0, 19.5, 1));
        assert!(
            (wait - expected).abs() < 1e-3,
            "waited {wait}, not {expected}"
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
    fn extreme_headers_neither_panic_nor_overflow_a_wait() {
        let limiter = RateLimiter::new(None, 4);
        for h in [
            headers(0, 0, 0.0),
            headers(u64::MAX, 0, f64::MAX),
            headers(40, 0, 1e300),
            headers(40, 0, -5.0),
            headers(1, 0, f64::INFINITY),
            headers(40, 0, f64::NAN),
        ] {
            limiter.observe(h);
            let now = Instant::now();
            limiter.reserve(now);
            assert!(limiter.reserve(now) <= LONGEST_WAIT, "{h:?}");
        }
    }

    #[tokio::test]
    async fn the_configured_cap_is_never_exceeded() {
        let limiter = RateLimiter::new(Some(50.0), 4);
        let start = Instant::now();
        for _ in 0..11 {
            limiter.acquire_cap().await;
        }
        // 11 requests at 50/s: the 11th may start 200 ms after the first.
        assert!(
            start.elapsed() >= Duration::from_millis(195),
            "{:?}",
            start.elapsed()
        );
    }
}
