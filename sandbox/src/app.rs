//! Shared state of a running sandbox.

use std::sync::Arc;
use std::time::Duration;

use crate::auth::Auth;
use crate::config::SandboxConfig;
use crate::faults::FaultInjector;
use crate::offsets;
use crate::pagetoken::PageTokenCodec;
use crate::ratelimit::RateLimiter;
use crate::requestlog::RequestLog;
use crate::rng::{Purpose, Rng};
use crate::store::Store;

/// Everything request handlers share.
#[derive(Debug)]
pub(crate) struct App {
    pub store: Arc<Store>,
    pub auth: Auth,
    pub limiter: RateLimiter,
    pub faults: FaultInjector,
    pub page_tokens: PageTokenCodec,
    pub page_token_ttl: Duration,
    pub mixed_offsets: bool,
    pub seed: u64,
    /// Canonical JSON of `GET /v1/account`.
    pub account: String,
    pub log: RequestLog,
    /// Added to every answer (see `SandboxConfig::latency`).
    pub latency: Duration,
    /// See `SandboxConfig::compression`.
    pub compression: bool,
}

impl App {
    /// The state for `config` over `store`.
    pub(crate) fn new(config: &SandboxConfig, store: Arc<Store>) -> App {
        let account = serde_json::to_string(&crate::generate::account(config.seed))
            .expect("accounts serialize");
        App {
            store,
            auth: Auth::new(
                config.credentials.clone(),
                config.seed,
                config.oauth_token_ttl,
                config.signed_token_ttl,
            ),
            limiter: RateLimiter::new(config.rate_limit.clone()),
            faults: FaultInjector::new(config.faults.clone()),
            page_tokens: PageTokenCodec::new(config.seed),
            page_token_ttl: config.page_token_ttl,
            mixed_offsets: config.mixed_offsets,
            seed: config.seed,
            account,
            log: RequestLog::new(config.log_requests, config.trace_requests),
            latency: config.latency,
            compression: config.compression,
        }
    }

    /// A canonical JSON body as sent for request `seq`: with mixed offsets on,
    /// its timestamps are re-rendered in random offsets.
    pub(crate) fn outgoing_json(&self, canonical: Vec<u8>, seq: u64) -> Vec<u8> {
        if self.mixed_offsets {
            offsets::mix_offsets(
                &canonical,
                &mut Rng::keyed(self.seed, Purpose::Offsets, seq),
            )
        } else {
            canonical
        }
    }
}
