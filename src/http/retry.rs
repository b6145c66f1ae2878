//! What to do after an attempt: succeed, renew the token, wait and retry, or
//! fail; and how long to wait.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use reqwest::header::{HeaderMap, RETRY_AFTER};

/// The decision for one HTTP answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Success,
    /// 401 `token_expired`: fetch a new token and repeat at once.
    RenewToken,
    /// 429: wait for `Retry-After`, then repeat.
    RateLimited,
    /// 5xx and transport failures: back off, then repeat.
    Retry,
    /// 401 `invalid_credentials` (or unknown 401).
    BadCredentials,
    /// 401 `clock_skew`.
    ClockSkew,
    /// 403: these credentials may not read this resource.
    Forbidden,
    /// 404: the base URL does not point at this API (or a path changed).
    NotFound,
    /// 400 and other 4xx: the request itself is wrong; repeating cannot help.
    Rejected,
}

/// Classifies an HTTP status and the API's error code.
pub fn classify(status: u16, code: Option<&str>) -> Verdict {
    match status {
        200..=299 => Verdict::Success,
        401 => match code {
            Some("token_expired") => Verdict::RenewToken,
            Some("clock_skew") => Verdict::ClockSkew,
            _ => Verdict::BadCredentials,
        },
        403 => Verdict::Forbidden,
        404 => Verdict::NotFound,
        // 408 Request Timeout is a transport hiccup despite its 4xx status.
        408 | 500..=599 => Verdict::Retry,
        429 => Verdict::RateLimited,
        _ => Verdict::Rejected,
    }
}

/// How often and how long to retry one request.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// The longest total wait for one request.
    pub max_total_wait: Duration,
    /// First backoff delay (before jitter).
    pub initial_delay: Duration,
    /// Largest single backoff delay (before jitter).
    pub max_delay: Duration,
    /// The longest `Retry-After` honoured in one wait.
    pub max_retry_after: Duration,
}

impl RetryPolicy {
    pub fn new(max_retries: u32, max_total_wait: Duration) -> Self {
        RetryPolicy {
            max_retries,
            max_total_wait,
            initial_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(60),
            max_retry_after: Duration::from_secs(300),
        }
    }

    /// The backoff delays of one request: exponential, capped, with full
    /// jitter (a uniform draw in `[0, delay]`), so that parallel requests
    /// that failed together do not retry together.
    pub fn backoff(&self) -> Backoff {
        let schedule = ExponentialBuilder::default()
            .with_min_delay(self.initial_delay)
            .with_max_delay(self.max_delay)
            .with_factor(2.0)
            .with_max_times(self.max_retries as usize)
            .build();
        Backoff {
            schedule: Box::new(schedule),
            rng: fastrand::Rng::new(),
        }
    }
}

/// An iterator over the waits before each retry; `None` when the retries
/// are spent.
pub struct Backoff {
    schedule: Box<dyn Iterator<Item = Duration> + Send + Sync>,
    rng: fastrand::Rng,
}

impl Iterator for Backoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        self.schedule
            .next()
            .map(|delay| delay.mul_f64(self.rng.f64()))
    }
}

/// The shortest wait after a 429, whatever `Retry-After` says.
const MIN_RATE_LIMIT_WAIT: Duration = Duration::from_secs(1);

/// How long to wait after a 429: what `Retry-After` asks, capped at `max`,
/// and at least a second, so that a `0` or a date already past by our clock
/// cannot turn into a tight loop of requests.
pub fn rate_limit_wait(headers: &HeaderMap, now: std::time::SystemTime, max: Duration) -> Duration {
    retry_after(headers, now)
        .unwrap_or(MIN_RATE_LIMIT_WAIT)
        .clamp(MIN_RATE_LIMIT_WAIT, max.max(MIN_RATE_LIMIT_WAIT))
}

/// The wait a 429 asks for: `Retry-After` in seconds or as an HTTP date.
pub fn retry_after(headers: &HeaderMap, now: std::time::SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;
    use std::time::SystemTime;

    #[test]
    fn server_errors_and_timeouts_are_retried() {
        for status in [408, 500, 502, 503, 504] {
            assert_eq!(classify(status, None), Verdict::Retry, "{status}");
        }
    }

    #[test]
    fn an_expired_token_is_renewed_not_retried() {
        assert_eq!(classify(401, Some("token_expired")), Verdict::RenewToken);
    }

    #[test]
    fn rejected_credentials_and_clock_skew_are_told_apart() {
        assert_eq!(
            classify(401, Some("invalid_credentials")),
            Verdict::BadCredentials
        );
        assert_eq!(classify(401, Some("clock_skew")), Verdict::ClockSkew);
        assert_eq!(classify(401, None), Verdict::BadCredentials);
    }

    #[test]
    fn a_bad_request_is_not_retried() {
        assert_eq!(classify(400, Some("invalid_parameter")), Verdict::Rejected);
        assert_eq!(classify(422, None), Verdict::Rejected);
    }

    #[test]
    fn retry_after_is_read_in_seconds() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(
            retry_after(&headers, SystemTime::now()),
            Some(Duration::from_secs(7))
        );
    }

    #[test]
    fn retry_after_is_read_as_an_http_date() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let at = httpdate::fmt_http_date(now + Duration::from_secs(12));
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_str(&at).unwrap());
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(12)));
    }

    #[test]
    fn a_retry_after_date_in_the_past_means_no_wait() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let at = httpdate::fmt_http_date(now - Duration::from_secs(5));
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_str(&at).unwrap());
        assert_eq!(retry_after(&headers, now), Some(Duration::ZERO));
    }

    #[test]
    fn a_rate_limit_wait_is_at_least_a_second_and_at_most_the_cap() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let cap = Duration::from_secs(300);
        let wait = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(RETRY_AFTER, HeaderValue::from_str(value).unwrap());
            rate_limit_wait(&headers, now, cap)
        };
        assert_eq!(wait("0"), Duration::from_secs(1));
        assert_eq!(
            wait(&httpdate::fmt_http_date(now - Duration::from_secs(5))),
            Duration::from_secs(1)
        );
        assert_eq!(wait("7"), Duration::from_secs(7));
        assert_eq!(wait("86400"), cap);
        assert_eq!(
            rate_limit_wait(&HeaderMap::new(), now, cap),
            Duration::from_secs(1)
        );
    }

    #[test]
    fn backoff_stops_after_the_allowed_retries_and_stays_under_the_cap() {
        let policy = RetryPolicy::new(5, Duration::from_secs(600));
        let delays: Vec<Duration> = policy.backoff().collect();
        assert_eq!(delays.len(), 5);
        // Full jitter: each delay lies in [0, 0.5 s * 2^n].
        for (n, delay) in delays.iter().enumerate() {
            assert!(
                *delay <= Duration::from_millis(500) * 2u32.pow(n as u32),
                "{delays:?}"
            );
        }
    }
}
