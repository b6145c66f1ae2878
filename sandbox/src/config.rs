//! The knobs of a sandbox.

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

/// Everything a sandbox is started with. `Default` gives small sizes and
/// every optional behaviour off (except the seeded custom fields and the
/// contract's default rate limit).
#[derive(Clone, Debug)]
pub struct SandboxConfig {
    /// Seed of the generated data and of tokens; default 42.
    pub seed: u64,
    /// How many records each stream starts with.
    pub sizes: Sizes,
    /// The accepted credentials.
    pub credentials: Credentials,
    /// Per-credential token bucket.
    pub rate_limit: RateLimit,
    /// Lifetime of keyset page tokens; default 10 minutes.
    pub page_token_ttl: Duration,
    /// Lifetime of OAuth access tokens; default 3600 s.
    pub oauth_token_ttl: Duration,
    /// Lifetime of signed-exchange access tokens; default 900 s.
    pub signed_token_ttl: Duration,
    /// Render each timestamp in a random UTC offset (same instant).
    pub mixed_offsets: bool,
    /// Seed the custom fields `cf_loyalty_tier`, `cf_birthday` (customers) and
    /// `cf_gift_wrap`, `cf_delivery_slot`, `cf_priority` (orders); default true.
    pub custom_fields: bool,
    /// Injected failures; all off by default, changeable at runtime.
    pub faults: Faults,
    /// Concurrent writes while clients read; `None` = static data.
    pub writes: Option<WriteLoad>,
    /// Keep every served request for [`crate::Sandbox::request_log`]; default
    /// true. Long-running servers (the binary) turn it off to bound memory.
    pub log_requests: bool,
    /// Print one line per served request on stderr; default false.
    pub trace_requests: bool,
    /// Added to every answer before it is sent, as a network and server
    /// round trip would; default zero.
    pub latency: Duration,
    /// Gzip answers to requests that accept it, as the contract says;
    /// default true. Off, the server answers plainly whatever the request
    /// asks, as a server behind a proxy that strips compression does (and
    /// the benchmark can tell the cost of inflating from the rest).
    pub compression: bool,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            seed: 42,
            sizes: Sizes::default(),
            credentials: Credentials::default(),
            rate_limit: RateLimit::default(),
            page_token_ttl: Duration::from_secs(600),
            oauth_token_ttl: Duration::from_secs(3600),
            signed_token_ttl: Duration::from_secs(900),
            mixed_offsets: false,
            custom_fields: true,
            faults: Faults::default(),
            writes: None,
            log_requests: true,
            trace_requests: false,
            latency: Duration::ZERO,
            compression: true,
        }
    }
}

impl SandboxConfig {
    /// Rejects settings that cannot work (zero burst, non-positive rates, ...).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let rps = self.rate_limit.requests_per_second;
        if rps.is_nan() || rps <= 0.0 {
            return Err(ConfigError(
                "rate_limit.requests_per_second must be > 0".into(),
            ));
        }
        if self.rate_limit.burst == 0 {
            return Err(ConfigError("rate_limit.burst must be >= 1".into()));
        }
        if let Some(w) = &self.writes {
            w.validate()?;
        }
        for (name, ttl) in [
            ("page_token_ttl", self.page_token_ttl),
            ("oauth_token_ttl", self.oauth_token_ttl),
            ("signed_token_ttl", self.signed_token_ttl),
        ] {
            if ttl.is_zero() {
                return Err(ConfigError(format!("{name} must be > 0")));
            }
        }
        Ok(())
    }
}

/// A setting that cannot work.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid sandbox configuration: {0}")]
pub struct ConfigError(String);

/// Initial record counts per stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sizes {
    /// Generated customers (about 3% soft-deleted).
    pub customers: usize,
    /// Generated products.
    pub products: usize,
    /// Generated orders (about 3% soft-deleted).
    pub orders: usize,
    /// Generated order events, spread evenly over the orders (none without orders).
    pub order_events: usize,
}

impl Default for Sizes {
    fn default() -> Self {
        Sizes {
            customers: 200,
            products: 50,
            orders: 2_000,
            order_events: 4_000,
        }
    }
}

/// The credentials the sandbox accepts. `Debug` redacts the secrets.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// API key for `Authorization: Bearer <api_key>`.
    pub api_key: String,
    /// OAuth client id.
    pub client_id: String,
    /// OAuth client secret.
    pub client_secret: String,
    /// Key id of the signed token exchange (`API-Key` header).
    pub key_id: String,
    /// HMAC-SHA256 key of the signed token exchange.
    pub api_secret: String,
}

impl Default for Credentials {
    fn default() -> Self {
        Credentials {
            api_key: "sk_test_sandbox_0123456789".into(),
            client_id: "sandbox-client".into(),
            client_secret: "cs_test_sandbox_secret".into(),
            key_id: "key_test_sandbox".into(),
            api_secret: "as_test_sandbox_hmac_secret".into(),
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const REDACTED: &str = "<redacted>";
        f.debug_struct("Credentials")
            .field("api_key", &REDACTED)
            .field("client_id", &self.client_id)
            .field("client_secret", &REDACTED)
            .field("key_id", &self.key_id)
            .field("api_secret", &REDACTED)
            .finish()
    }
}

/// A per-credential token bucket.
#[derive(Clone, Debug, PartialEq)]
pub struct RateLimit {
    /// Refill rate; `f64::INFINITY` turns limiting off.
    pub requests_per_second: f64,
    /// Bucket size: requests allowed at once after a pause.
    pub burst: u32,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit {
            requests_per_second: 20.0,
            burst: 40,
        }
    }
}

impl RateLimit {
    /// No limiting (the headers are still sent, always showing a full bucket).
    pub fn disabled() -> Self {
        RateLimit {
            requests_per_second: f64::INFINITY,
            ..RateLimit::default()
        }
    }

    /// Whether limiting is off.
    pub fn is_disabled(&self) -> bool {
        self.requests_per_second.is_infinite()
    }
}

/// Injected failures. Counters restart whenever faults are set, so "every
/// n-th" counts from then. `Some(0)` is treated as off.
///
/// "Data requests" are authenticated requests to the list endpoints and to
/// `GET /v1/custom_fields` that passed authentication, rate limiting and
/// scope checks. One counter serves all status faults; when several match
/// the same request, the first in field order wins.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Faults {
    /// Every n-th data request answers 429 `rate_limited` with `Retry-After`.
    pub status_429_every: Option<u32>,
    /// `Retry-After` as an HTTP date instead of seconds (also for the real limiter).
    pub retry_after_http_date: bool,
    /// `Retry-After` of injected 429s, in seconds; default 1.
    pub retry_after_seconds: u64,
    /// Every n-th data request answers 500 `internal`.
    pub status_500_every: Option<u32>,
    /// Every n-th data request answers 503 `unavailable`.
    pub status_503_every: Option<u32>,
    /// Every n-th data request answers 502 with an HTML proxy page.
    pub status_502_html_every: Option<u32>,
    /// Every n-th data request answers 200 with a body cut off mid-JSON,
    /// alternating between a `Content-Length` that promises more and a
    /// chunked body that ends early; the connection is closed either way.
    pub truncated_every: Option<u32>,
    /// Every n-th data request is answered only after `slow_delay`.
    pub slow_every: Option<u32>,
    /// Delay of slow responses; default 1 s.
    pub slow_delay: std::time::Duration,
    /// Every n-th request made with an OAuth or signed token revokes that
    /// token first and answers 401 `token_expired`.
    pub revoke_token_every: Option<u32>,
    /// Streams whose list endpoint answers 403 `forbidden`, e.g. `"customers"`;
    /// `"custom_fields"` makes `GET /v1/custom_fields` answer 403.
    pub forbidden_streams: BTreeSet<String>,
    /// The first this-many data requests are served normally; "every n-th"
    /// counts from the request after them. Lets a test fail a walk midway.
    pub after_requests: u64,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            status_429_every: None,
            retry_after_http_date: false,
            retry_after_seconds: 1,
            status_500_every: None,
            status_503_every: None,
            status_502_html_every: None,
            truncated_every: None,
            slow_every: None,
            slow_delay: std::time::Duration::from_secs(1),
            revoke_token_every: None,
            after_requests: 0,
            forbidden_streams: BTreeSet::new(),
        }
    }
}

/// Writes applied by a background task while the server runs.
#[derive(Clone, Debug, PartialEq)]
pub struct WriteLoad {
    /// Total writes per second: a seeded mix of customer and order updates,
    /// inserts and soft deletes, product updates and inserts, and new events.
    pub writes_per_second: f64,
    /// New events get a timestamp up to 5 minutes in the past.
    pub late_events: bool,
    /// After this delay (from when the load starts) add the orders custom
    /// field `cf_late_field` (string) and fill it on later order writes.
    pub add_custom_field_after: Option<Duration>,
}

impl Default for WriteLoad {
    fn default() -> Self {
        WriteLoad {
            writes_per_second: 10.0,
            late_events: false,
            add_custom_field_after: None,
        }
    }
}

impl WriteLoad {
    fn validate(&self) -> Result<(), ConfigError> {
        let w = self.writes_per_second;
        if w.is_nan() || w < 0.0 || w.is_infinite() {
            return Err(ConfigError(
                "writes.writes_per_second must be finite and >= 0".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_of_credentials_redacts_secrets() {
        let shown = format!("{:?}", Credentials::default());
        assert!(shown.contains("sandbox-client"));
        for secret in [
            "sk_test_sandbox_0123456789",
            "cs_test_sandbox_secret",
            "as_test_sandbox_hmac_secret",
        ] {
            assert!(!shown.contains(secret), "{shown}");
        }
        let config = format!("{:?}", SandboxConfig::default());
        assert!(!config.contains("cs_test_sandbox_secret"));
    }

    #[test]
    fn defaults_match_the_documented_values() {
        let c = SandboxConfig::default();
        assert_eq!(c.seed, 42);
        assert_eq!(c.sizes.orders, 2_000);
        assert_eq!(
            c.rate_limit,
            RateLimit {
                requests_per_second: 20.0,
                burst: 40
            }
        );
        assert!(c.custom_fields && !c.mixed_offsets && c.writes.is_none());
        assert_eq!(c.faults, Faults::default());
        assert!(c.validate().is_ok());
    }

    #[test]
    fn disabled_rate_limit_is_recognised() {
        assert!(RateLimit::disabled().is_disabled());
        assert!(!RateLimit::default().is_disabled());
    }

    #[test]
    fn impossible_settings_are_rejected() {
        let zero_burst = SandboxConfig {
            rate_limit: RateLimit {
                requests_per_second: 1.0,
                burst: 0,
            },
            ..SandboxConfig::default()
        };
        let nan_writes = SandboxConfig {
            writes: Some(WriteLoad {
                writes_per_second: f64::NAN,
                ..WriteLoad::default()
            }),
            ..SandboxConfig::default()
        };
        let zero_ttl = SandboxConfig {
            page_token_ttl: Duration::ZERO,
            ..SandboxConfig::default()
        };
        for config in [zero_burst, nan_writes, zero_ttl] {
            assert!(config.validate().is_err(), "{config:?}");
        }
    }
}
