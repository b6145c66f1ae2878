//! [`ApiClient`]: every request to the API goes through here.
//!
//! The client carries out what [`decision`](super::decision) decides: it asks
//! the circuit breaker and the rate limiter, sends, waits, renews the token,
//! and reports what happened to its [`ClientEvents`] sink.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use reqwest::header::{ACCEPT, ACCEPT_ENCODING, AUTHORIZATION, HeaderMap, HeaderValue};
use url::Url;

use super::auth::{Authenticator, TokenAnswer, TokenRequest};
use super::breaker::CircuitBreaker;
use super::credentials::CredentialGate;
use super::decision::{self, Admitted, Context, Next, Outcome, Paced, Progress};
use super::error::BodyError;
use super::events::{Answer, ClientEvent, ClientEvents};
use super::limiter::{RateLimiter, Ticket};
use super::request::{ApiRequest, ApiResponse, Call};
use super::retry::RetryPolicy;
use super::transport::{self, Exchange};
use crate::config::{Compression, Config};
use crate::error::{Error, Result};

/// The API client, cheap to clone; clones share the connection pool, the
/// token cache, the rate limiter, the circuit breaker and the events sink.
#[derive(Clone)]
pub struct ApiClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base: Url,
    auth: Authenticator,
    limiter: RateLimiter,
    policy: RetryPolicy,
    breaker: CircuitBreaker,
    /// Requests wait here until an answer proves the credentials.
    credentials: CredentialGate,
    events: Box<dyn ClientEvents>,
    /// `max_response_mb` in bytes.
    max_body: usize,
}

/// Rejections of a token another request's rejection had already forgotten
/// that one request takes before they count as its own.
const MAX_SHARED_REJECTIONS: u32 = 4 * decision::MAX_TOKEN_RENEWALS;

/// One attempt's exchange, and the generation of the token it carried.
struct Sent {
    exchange: Exchange,
    token_generation: Option<u64>,
}

/// The headers of every request. List pages compress about 5x; `transport`
/// inflates a compressed answer as it streams, within max_response_mb, and
/// takes a plain one as it comes whatever was asked.
fn default_headers(compression: Compression) -> HeaderMap {
    match compression {
        Compression::Gzip => {
            HeaderMap::from_iter([(ACCEPT_ENCODING, HeaderValue::from_static("gzip"))])
        }
        Compression::None => HeaderMap::new(),
    }
}

impl ApiClient {
    /// A client for `config`, reporting what it does to `events`.
    pub fn new(config: &Config, events: impl ClientEvents + 'static) -> Result<Self> {
        let policy = RetryPolicy::new(config.max_retries, config.max_retry_wait);
        Self::with_policy(config, events, policy)
    }

    /// A client with its own retry policy (`check` answers faster than a sync).
    pub fn with_policy(
        config: &Config,
        events: impl ClientEvents + 'static,
        policy: RetryPolicy,
    ) -> Result<Self> {
        let mut builder = reqwest::Client::builder();
        if config.base_url.scheme() == "http" {
            // No request leaves the base URL (redirects are off below), so a
            // plain one never needs the system's roots; reading and parsing
            // them costs every start a few milliseconds.
            builder = builder.tls_certs_only([]);
        }
        let http = builder
            .user_agent(concat!("source-ecommerce/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .pool_max_idle_per_host(config.max_concurrency.get() * 2)
            .tcp_nodelay(true)
            .default_headers(default_headers(config.compression))
            // A redirect would carry the API key header or the token
            // request's form to wherever it points; the API never redirects.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| {
                Error::system("Could not set up the HTTP client.")
                    .with_internal(transport::chain(&e))
            })?;
        // Opens after as many failures in a row as one request may make, then
        // probes the endpoint the way one request retries: an outage costs
        // the API about one request's retries, however many slices wait.
        let breaker = CircuitBreaker::new(
            config.max_retries + 1,
            config.max_retries,
            policy.initial_delay,
            policy.max_delay,
        );
        Ok(ApiClient {
            inner: Arc::new(Inner {
                http,
                base: config.base_url.clone(),
                auth: Authenticator::new(&config.credentials),
                limiter: RateLimiter::new(config.requests_per_second),
                policy,
                breaker,
                credentials: CredentialGate::new(),
                events: Box::new(events),
                max_body: config.max_response_bytes,
            }),
        })
    }

    /// Sends `request` and hands the answer to `parse`, retrying transient
    /// failures, a body that `parse` rejects included. `stream` names the
    /// stream in logs and rate-limit statuses. The first request checks the
    /// credentials: others wait for its answer, and once the API rejected
    /// them, end with its error unsent.
    pub async fn get<T>(
        &self,
        request: &ApiRequest<'_>,
        stream: Option<&str>,
        parse: impl FnMut(&ApiResponse) -> std::result::Result<T, BodyError>,
    ) -> Result<T> {
        let url = &self.url(request.path)?;
        let call = &Call {
            describe: format!("GET {}", request.path),
            endpoint: request.path,
            stream,
            token_request: false,
        };
        let inner = &*self.inner;
        let turn = inner.credentials.enter().await?;
        let send = move |ticket| async move {
            let bearer = inner
                .auth
                .bearer(|token_request| self.fetch_token(token_request, stream))
                .await?;
            let builder = inner
                .http
                .get(url.clone())
                .query(&request.query)
                .header(ACCEPT, "application/json")
                .header(AUTHORIZATION, format!("Bearer {}", bearer.token.expose()));
            Ok(Sent {
                exchange: transport::exchange(builder, &call.describe, ticket, inner.max_body)
                    .await,
                token_generation: Some(bearer.generation),
            })
        };
        let outcome = self.execute(call, send, parse).await;
        if let Some(turn) = turn {
            turn.settle(&outcome);
        }
        outcome
    }

    /// The API's clock, from the `Date` header of `GET /v1/health`: it
    /// needs no credentials, so it spends nothing of the rate budget. Its
    /// body is not read: a 200 from something other than the API (a website
    /// at base_url) is told apart by the first data request, whose errors
    /// say so.
    pub async fn server_clock(&self) -> Result<Option<SystemTime>> {
        let path = "/v1/health";
        let url = &self.url(path)?;
        let call = &Call {
            describe: format!("GET {path}"),
            endpoint: path,
            stream: None,
            token_request: false,
        };
        let inner = &*self.inner;
        let send = move |ticket| async move {
            let builder = inner
                .http
                .get(url.clone())
                .header(ACCEPT, "application/json");
            Ok(Sent {
                exchange: transport::exchange(builder, &call.describe, ticket, inner.max_body)
                    .await,
                token_generation: None,
            })
        };
        self.execute(call, send, |response| Ok(response.date()))
            .await
    }

    fn url(&self, path: &str) -> Result<Url> {
        let base = self.inner.base.as_str().trim_end_matches('/');
        Url::parse(&format!("{base}{path}")).map_err(|e| {
            Error::config(format!(
                "base_url {} cannot be joined with {path}: {e}.",
                self.inner.base
            ))
        })
    }

    /// Sends the token request the authenticator asks for, with the same
    /// retries as any request (but no token of its own).
    async fn fetch_token(&self, token: TokenRequest, stream: Option<&str>) -> Result<TokenAnswer> {
        let url = &self.url(token.path)?;
        let call = &Call {
            describe: format!("POST {}", token.path),
            endpoint: token.path,
            stream,
            token_request: true,
        };
        let (inner, build) = (&*self.inner, &token.build);
        let send = move |ticket| async move {
            let builder = build(inner.http.post(url.clone()));
            Ok(Sent {
                exchange: transport::exchange(builder, &call.describe, ticket, inner.max_body)
                    .await,
                token_generation: None,
            })
        };
        let answer = self
            .execute(call, send, |response| {
                Ok(serde_json::from_slice(&response.body)?)
            })
            .await?;
        inner.events.report(ClientEvent::TokenRenewed).await;
        Ok(answer)
    }

    /// The retry loop shared by every request: `send` makes one attempt
    /// with the rate limiter's ticket (an error from it, a failed token
    /// fetch, ends the request).
    async fn execute<'l, T, S, F>(
        &'l self,
        call: &Call<'_>,
        send: S,
        mut parse: impl FnMut(&ApiResponse) -> std::result::Result<T, BodyError>,
    ) -> Result<T>
    where
        S: Fn(Ticket<'l>) -> F,
        F: Future<Output = Result<Sent>>,
    {
        let inner = &*self.inner;
        let ctx = Context {
            call,
            base: &inner.base,
            credential: inner.auth.describe(),
            credential_fields: inner.auth.credential_fields(),
            policy: &inner.policy,
            breaker_threshold: inner.breaker.threshold(),
        };
        let events = &*inner.events;
        let mut backoff = inner.policy.backoff();
        let started = Instant::now();
        let mut progress = Progress {
            attempts: 0,
            renewals: 0,
            elapsed: Duration::ZERO,
        };
        let mut shared_rejections = 0;
        loop {
            let now = Instant::now();
            let admission = inner.breaker.admit(call.endpoint, now);
            let probe = match decision::admit(admission, now, started.elapsed(), &ctx) {
                Admitted::Send { probe } => probe,
                Admitted::Wait(wait) => {
                    tokio::time::sleep(wait).await;
                    continue;
                }
                Admitted::Fail(error) => return Err(error),
            };
            progress.attempts += 1;
            inner.limiter.acquire_cap().await;
            let ticket = self.wait_for_bucket(call, &ctx, started).await?;
            let Sent {
                exchange,
                token_generation,
            } = send(ticket).await?;
            events.report(request_done(call, &exchange)).await;
            let outcome = match exchange.outcome {
                Err(failure) => Outcome::Unreachable(failure),
                Ok(response) => Outcome::of_answer(
                    call,
                    &response,
                    &mut parse,
                    SystemTime::now(),
                    inner.policy.max_retry_after,
                ),
            };
            progress.elapsed = started.elapsed();
            match decision::decide(outcome, progress, &ctx, &mut backoff) {
                Next::Return(value) => {
                    inner.breaker.success(call.endpoint);
                    return Ok(value);
                }
                Next::Fail(error) => return Err(error),
                Next::RenewToken => {
                    progress.attempts -= 1;
                    let forgot = match token_generation {
                        Some(generation) => inner.auth.invalidate(generation).await,
                        None => true,
                    };
                    // Requests in flight share a token: one revocation
                    // rejects them all, and counts against the request
                    // whose rejection forgot it. The others' rejections are
                    // bounded apart, in case the API never keeps a token.
                    if forgot || shared_rejections >= MAX_SHARED_REJECTIONS {
                        progress.renewals += 1;
                    } else {
                        shared_rejections += 1;
                    }
                    let request = &call.describe;
                    events.report(ClientEvent::TokenRejected { request }).await;
                }
                Next::WaitForRateLimit(wait) => {
                    progress.attempts -= 1;
                    inner.limiter.pause_until(Instant::now() + wait);
                    let event = ClientEvent::RateLimited {
                        stream: call.stream,
                        request: &call.describe,
                        wait,
                        resets_at: SystemTime::now() + wait,
                    };
                    events.report(event).await;
                    tokio::time::sleep(wait).await;
                }
                Next::Retry { failure, delay } => {
                    let internal = failure.internal();
                    self.count_failure(call, probe, internal.clone(), failure.status)
                        .await;
                    let event = ClientEvent::Retrying {
                        stream: call.stream,
                        request: &call.describe,
                        failure: &internal,
                        retry: progress.attempts,
                        max_retries: inner.policy.max_retries,
                        delay,
                    };
                    events.report(event).await;
                    tokio::time::sleep(delay).await;
                }
                Next::GiveUp(error) => {
                    let internal = error.internal().unwrap_or_default().to_owned();
                    self.count_failure(call, probe, internal, error.status())
                        .await;
                    return Err(error);
                }
            }
        }
    }

    /// Waits for the API's bucket as the limiter paces it, announcing long
    /// waits and failing one that would outlast the request's time budget.
    async fn wait_for_bucket(
        &self,
        call: &Call<'_>,
        ctx: &Context<'_>,
        started: Instant,
    ) -> Result<Ticket<'_>> {
        let limiter = &self.inner.limiter;
        loop {
            let wait = match limiter.reserve(Instant::now()) {
                Ok(ticket) => return Ok(ticket),
                Err(wait) => wait,
            };
            match decision::pace(wait, started.elapsed(), limiter.full_at(), ctx) {
                Paced::Go => continue,
                Paced::Fail(error) => return Err(error),
                Paced::Wait { wait, announce } => {
                    if announce {
                        let event = ClientEvent::Paced {
                            stream: call.stream,
                            request: &call.describe,
                            wait,
                            resets_at: limiter
                                .full_at()
                                .unwrap_or_else(|| SystemTime::now() + wait),
                        };
                        self.inner.events.report(event).await;
                    }
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// Counts a failure against the circuit breaker; reports it opening.
    async fn count_failure(
        &self,
        call: &Call<'_>,
        probe: bool,
        internal: String,
        status: Option<u16>,
    ) {
        let breaker = &self.inner.breaker;
        if breaker.failure(call.endpoint, Instant::now(), probe, internal, status) {
            let event = ClientEvent::BreakerOpened {
                request: &call.describe,
                failures: breaker.threshold(),
            };
            self.inner.events.report(event).await;
        }
    }
}

/// The event of one finished exchange.
fn request_done<'a>(call: &'a Call<'_>, exchange: &'a Exchange) -> ClientEvent<'a> {
    let answer = match &exchange.outcome {
        Ok(response) => Answer::Status {
            status: response.status,
            bytes: response.body.len(),
            request_id: response.request_id.as_deref(),
        },
        Err((_, failure)) => Answer::Failed {
            summary: failure.summary(),
        },
    };
    ClientEvent::RequestDone {
        stream: call.stream,
        request: &call.describe,
        answer,
        took: exchange.took,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_compression_asks_for_gzip() {
        let headers = default_headers(Compression::Gzip);
        assert_eq!(headers[ACCEPT_ENCODING], "gzip");
    }

    #[test]
    fn no_compression_asks_for_nothing() {
        assert!(
            default_headers(Compression::None)
                .get(ACCEPT_ENCODING)
                .is_none()
        );
    }
}
