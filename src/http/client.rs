//! [`ApiClient`]: every request to the API goes through here.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, DATE, HeaderMap};
use url::Url;

use super::auth::{Authenticator, Bearer, TokenAnswer};
use super::breaker::{Admission, CircuitBreaker};
use super::error::{ApiError, BodyError};
use super::limiter::{RateLimitHeaders, RateLimiter};
use super::retry::{self, RetryPolicy, Verdict};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::protocol::{
    Emitter, FailureType, LogLevel, Message, StatusReason, StreamDescriptor, StreamStatus,
    StreamStatusTrace, TraceBody, TraceMessage,
};

/// A GET request to the API: a path under the base URL and its query.
#[derive(Debug, Clone)]
pub struct ApiRequest<'a> {
    pub path: &'a str,
    pub query: Vec<(&'static str, String)>,
}

impl<'a> ApiRequest<'a> {
    pub fn new(path: &'a str) -> Self {
        ApiRequest {
            path,
            query: Vec::new(),
        }
    }

    pub fn param(mut self, name: &'static str, value: impl ToString) -> Self {
        self.query.push((name, value.to_string()));
        self
    }
}

/// A successful answer, body read in full.
#[derive(Debug)]
pub struct ApiResponse {
    pub status: u16,
    pub body: Bytes,
    /// `X-Total-Count`: records matching the filters when the request was served.
    pub total_count: Option<u64>,
    pub request_id: Option<String>,
    headers: HeaderMap,
}

impl ApiResponse {
    /// The server's clock when it answered (`Date` header), if it sent one.
    pub fn date(&self) -> Option<SystemTime> {
        header(&self.headers, DATE.as_str()).and_then(|d| httpdate::parse_http_date(&d).ok())
    }
}

/// The API client, cheap to clone; clones share the connection pool, the
/// token cache, the rate limiter and the circuit breaker.
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
    emitter: Emitter,
}

/// How many times one request renews a revoked token before giving up.
const MAX_TOKEN_RENEWALS: u32 = 3;

impl ApiClient {
    /// A client for `config`, logging through `emitter`.
    pub fn new(config: &Config, emitter: Emitter) -> Result<Self> {
        let policy = RetryPolicy::new(
            config.max_retries,
            Duration::from_secs(config.max_retry_seconds),
        );
        Self::with_policy(config, emitter, policy)
    }

    /// A client with its own retry policy (`check` answers faster than a sync).
    pub fn with_policy(config: &Config, emitter: Emitter, policy: RetryPolicy) -> Result<Self> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("source-ecommerce/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(config.connect_timeout())
            .timeout(config.request_timeout())
            .pool_max_idle_per_host(config.max_concurrency.get() * 2)
            .tcp_nodelay(true)
            // A redirect would carry the API key header or the token
            // request's form to wherever it points; the API never redirects.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| {
                Error::system("Could not set up the HTTP client.").with_internal(chain(&e))
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
                limiter: RateLimiter::new(config.requests_per_second, config.max_concurrency.get()),
                policy,
                breaker,
                emitter,
            }),
        })
    }

    /// Sends `request` and hands the answer to `parse`, retrying transient
    /// failures, a body that `parse` rejects included. `stream` names the
    /// stream in logs and rate-limit statuses.
    pub async fn get<T>(
        &self,
        request: &ApiRequest<'_>,
        stream: Option<&str>,
        parse: impl FnMut(&ApiResponse) -> std::result::Result<T, BodyError>,
    ) -> Result<T> {
        let url = self.url(request.path)?;
        let query = &request.query;
        let send = move |http: &reqwest::Client, bearer: Option<&Bearer>| {
            let mut builder = http
                .get(url.clone())
                .query(query)
                .header(ACCEPT, "application/json");
            if let Some(bearer) = bearer {
                builder =
                    builder.header(AUTHORIZATION, format!("Bearer {}", bearer.token.expose()));
            }
            builder
        };
        self.execute(
            Call {
                describe: format!("GET {}", request.path),
                endpoint: request.path,
                stream,
                authenticated: true,
            },
            send,
            parse,
        )
        .await
    }

    /// Checks the credentials with `GET /v1/account` (fetching a token first
    /// for the token flows), so that bad credentials fail before any stream
    /// starts. Returns the server's clock from the answer's `Date` header.
    pub async fn verify_credentials(&self) -> Result<Option<SystemTime>> {
        self.get(&ApiRequest::new("/v1/account"), None, |response| {
            Ok(response.date())
        })
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

    /// The bearer token for the next request, fetching one if needed.
    fn bearer<'a>(
        &'a self,
        stream: Option<&'a str>,
    ) -> Pin<Box<dyn Future<Output = Result<Bearer>> + Send + 'a>> {
        Box::pin(async move {
            let auth = &self.inner.auth;
            if let Some(bearer) = auth.cached().await {
                return Ok(bearer);
            }
            let mut guard = auth.lock_for_fetch().await;
            if let Some(bearer) = Authenticator::still_valid(&guard) {
                return Ok(bearer);
            }
            let token_request = auth
                .token_request()
                .expect("only the token flows lack a cached bearer");
            let url = self.url(token_request.path)?;
            let build = &token_request.build;
            let send =
                move |http: &reqwest::Client, _: Option<&Bearer>| build(http.post(url.clone()));
            let answer: TokenAnswer = self
                .execute(
                    Call {
                        describe: format!("POST {}", token_request.path),
                        endpoint: token_request.path,
                        stream,
                        authenticated: false,
                    },
                    send,
                    |response| Ok(serde_json::from_slice(&response.body)?),
                )
                .await?;
            self.inner
                .emitter
                .log(LogLevel::Debug, "fetched a new access token")
                .await;
            Ok(auth.store(&mut guard, answer))
        })
    }

    /// The retry loop shared by every request.
    async fn execute<T>(
        &self,
        call: Call<'_>,
        send: impl Fn(&reqwest::Client, Option<&Bearer>) -> reqwest::RequestBuilder,
        mut parse: impl FnMut(&ApiResponse) -> std::result::Result<T, BodyError>,
    ) -> Result<T> {
        let inner = &*self.inner;
        let mut backoff = inner.policy.backoff();
        let started = Instant::now();
        let mut attempts = 0u32;
        let mut renewals = 0u32;
        loop {
            attempts += 1;
            let probe = match inner.breaker.admit(call.endpoint, Instant::now()) {
                Admission::Send => false,
                Admission::Probe => true,
                Admission::WaitUntil(at) => {
                    let wait = at.saturating_duration_since(Instant::now());
                    if started.elapsed() + wait > inner.policy.max_total_wait {
                        return Err(Error::transient(format!(
                            "{} kept failing for longer than max_retry_seconds ({} s) while the circuit breaker held requests; the API seems to be down. Retry the sync later.",
                            call.describe,
                            inner.policy.max_total_wait.as_secs()
                        )));
                    }
                    attempts -= 1;
                    tokio::time::sleep(wait).await;
                    continue;
                }
                Admission::GiveUp { internal, status } => {
                    let error = Error::transient(format!(
                        "Stopped calling {} after {} failures in a row and {} failed probes (circuit breaker); the API seems to be down. Retry the sync later.",
                        call.describe,
                        inner.breaker.threshold(),
                        inner.policy.max_retries
                    ))
                    .with_status(status);
                    return Err(match internal {
                        Some(internal) => error.with_internal(internal),
                        None => error,
                    });
                }
            };
            inner.limiter.acquire().await;
            let bearer = if call.authenticated {
                Some(self.bearer(call.stream).await?)
            } else {
                None
            };
            let sent = Instant::now();
            let outcome = self.send_once(&call, &send, bearer.as_ref()).await;
            if inner.emitter.enabled(LogLevel::Debug) {
                let answer = match &outcome {
                    Ok(response) => format!(
                        "{} ({} bytes, X-Request-Id {})",
                        response.status,
                        response.body.len(),
                        response.request_id.as_deref().unwrap_or("-")
                    ),
                    Err((_, failure)) => failure.summary(),
                };
                inner
                    .emitter
                    .log(
                        LogLevel::Debug,
                        format!(
                            "{}{} -> {answer} in {} ms",
                            call.stream.map(|s| format!("{s}: ")).unwrap_or_default(),
                            call.describe,
                            sent.elapsed().as_millis()
                        ),
                    )
                    .await;
            }
            let failure = match outcome {
                Err((TransportKind::Tls, failure)) => {
                    return Err(failure.into_error(
                        FailureType::Config,
                        format!(
                            "Could not open a TLS connection to {}: the certificate is not trusted or the server does not speak HTTPS; check base_url (https:// vs http://) and the CA certificates.",
                            self.inner.base
                        ),
                    ));
                }
                Err((_, failure)) => failure,
                Ok(response) => {
                    let api = error_of(&call, &response);
                    match retry::classify(response.status, api.code.as_deref()) {
                        Verdict::Success => match parse(&response) {
                            Ok(value) => {
                                inner.breaker.success(call.endpoint);
                                return Ok(value);
                            }
                            Err(body) if !body.retryable => {
                                let message = format!(
                                    "{} answered with a body that is not what the API documents ({}). This points to an API change or a connector defect; report it with the request id.",
                                    call.describe, body.detail
                                );
                                let status = api.status;
                                return Err(ApiError {
                                    detail: body.detail,
                                    ..api
                                }
                                .into_error(FailureType::System, message)
                                .with_status(status));
                            }
                            Err(body) => ApiError {
                                detail: body.detail,
                                ..api
                            },
                        },
                        Verdict::RenewToken if renewals < MAX_TOKEN_RENEWALS => {
                            renewals += 1;
                            attempts -= 1;
                            if let Some(bearer) = &bearer {
                                inner.auth.invalidate(bearer.generation).await;
                            }
                            inner
                                .emitter
                                .log(
                                    LogLevel::Info,
                                    format!(
                                        "{}: the access token expired or was revoked; renewing it",
                                        call.describe
                                    ),
                                )
                                .await;
                            continue;
                        }
                        Verdict::RateLimited => {
                            let wait = retry::rate_limit_wait(
                                &response.headers,
                                SystemTime::now(),
                                inner.policy.max_retry_after,
                            );
                            if started.elapsed() + wait > inner.policy.max_total_wait {
                                return Err(api.into_error(
                                    FailureType::Transient,
                                    format!("The API kept rate-limiting {} for longer than max_retry_seconds ({} s). Lower requests_per_second or retry later.",
                                        call.describe, inner.policy.max_total_wait.as_secs()),
                                ).with_status(Some(429)));
                            }
                            attempts -= 1;
                            self.wait_for_rate_limit(&call, wait).await;
                            continue;
                        }
                        Verdict::Retry => api,
                        verdict => return Err(self.fatal(&call, verdict, api)),
                    }
                }
            };
            let opened = inner.breaker.failure(
                call.endpoint,
                Instant::now(),
                probe,
                failure.internal(),
                failure.status,
            );
            if opened {
                inner
                    .emitter
                    .log(
                        LogLevel::Warn,
                        format!(
                            "{} failed {} times in a row; holding its requests and probing it one at a time (circuit breaker open)",
                            call.describe,
                            inner.breaker.threshold()
                        ),
                    )
                    .await;
            }
            let delay = backoff
                .next()
                .filter(|delay| started.elapsed() + *delay <= inner.policy.max_total_wait);
            let Some(delay) = delay else {
                let elapsed = started.elapsed().as_secs();
                let status = failure.status;
                let message = if status.is_none() {
                    format!(
                        "Could not reach the API at {} ({}) after {attempts} attempts over {elapsed} s; check base_url and the network, or retry later.",
                        self.inner.base,
                        failure.summary()
                    )
                } else {
                    format!(
                        "{} kept failing ({}) after {attempts} attempts over {elapsed} s; the API seems unavailable. Retry the sync later.",
                        call.describe,
                        failure.summary()
                    )
                };
                return Err(failure
                    .into_error(FailureType::Transient, message)
                    .with_status(status));
            };
            inner
                .emitter
                .log(
                    LogLevel::Warn,
                    format!(
                        "{}{} failed ({}); retry {attempts} of {} in {:.1} s",
                        call.stream.map(|s| format!("{s}: ")).unwrap_or_default(),
                        call.describe,
                        failure.internal(),
                        inner.policy.max_retries,
                        delay.as_secs_f64()
                    ),
                )
                .await;
            tokio::time::sleep(delay).await;
        }
    }

    /// One HTTP exchange, body read in full.
    async fn send_once(
        &self,
        call: &Call<'_>,
        send: &impl Fn(&reqwest::Client, Option<&Bearer>) -> reqwest::RequestBuilder,
        bearer: Option<&Bearer>,
    ) -> std::result::Result<ApiResponse, (TransportKind, ApiError)> {
        let transport =
            |detail: String, request_id: Option<String>, status: Option<u16>| ApiError {
                request: call.describe.clone(),
                status,
                code: None,
                detail,
                request_id,
                html: false,
            };
        let response = send(&self.inner.http, bearer).send().await.map_err(|e| {
            let (kind, detail) = describe_transport(&e);
            (kind, transport(detail, None, None))
        })?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let request_id = header(&headers, "x-request-id");
        if let Some(limits) = rate_limit_headers(&headers) {
            self.inner.limiter.observe(limits);
        }
        let body = response.bytes().await.map_err(|e| {
            let (_, detail) = describe_transport(&e);
            (
                TransportKind::Body,
                transport(
                    format!("the answer was cut off: {detail}"),
                    request_id.clone(),
                    Some(status),
                ),
            )
        })?;
        Ok(ApiResponse {
            status,
            total_count: header(&headers, "x-total-count").and_then(|v| v.parse().ok()),
            request_id,
            body,
            headers,
        })
    }

    async fn wait_for_rate_limit(&self, call: &Call<'_>, wait: Duration) {
        let inner = &*self.inner;
        inner.limiter.pause_until(Instant::now() + wait);
        let reset_ms = chrono::Utc::now().timestamp_millis() + wait.as_millis() as i64;
        if let Some(stream) = call.stream {
            inner
                .emitter
                .message(&Message::Trace {
                    trace: TraceMessage::new(TraceBody::StreamStatus {
                        stream_status: StreamStatusTrace {
                            stream_descriptor: StreamDescriptor { name: stream },
                            status: StreamStatus::Running,
                            reasons: vec![StatusReason::rate_limited(Some(reset_ms))],
                        },
                    }),
                })
                .await;
        }
        inner
            .emitter
            .log(
                LogLevel::Info,
                format!(
                    "{}{} was rate-limited (429); waiting {:.1} s as Retry-After asks",
                    call.stream.map(|s| format!("{s}: ")).unwrap_or_default(),
                    call.describe,
                    wait.as_secs_f64()
                ),
            )
            .await;
        tokio::time::sleep(wait).await;
    }

    /// The error for an answer that retrying cannot fix.
    fn fatal(&self, call: &Call<'_>, verdict: Verdict, api: ApiError) -> Error {
        let auth = &self.inner.auth;
        let status = api.status;
        let what = api.summary();
        let api_message = if api.detail.is_empty() {
            String::new()
        } else {
            format!(" ({})", api.detail)
        };
        let (failure_type, message) = match verdict {
            Verdict::RenewToken => (
                FailureType::Config,
                format!(
                    "{what}: the API revoked {MAX_TOKEN_RENEWALS} fresh access tokens in a row for {}; check that {} are valid and not revoked.",
                    call.describe,
                    auth.credential_fields()
                ),
            ),
            Verdict::BadCredentials => (
                FailureType::Config,
                format!(
                    "{what}: {} was rejected; check {}.",
                    auth.describe(),
                    auth.credential_fields()
                ),
            ),
            Verdict::ClockSkew => (
                FailureType::Config,
                format!(
                    "{what}: the API rejected the signed token request because this machine's clock is more than 5 minutes off; synchronise the clock (NTP) and retry."
                ),
            ),
            Verdict::Forbidden => (
                FailureType::Config,
                format!(
                    "{what}: the credentials may not read {}{api_message}; grant the missing scope or deselect this stream.",
                    call.endpoint
                ),
            ),
            Verdict::NotFound if api.html => (
                FailureType::Config,
                format!(
                    "404 with an HTML page for {}: base_url ({}) points at a website, not the E-commerce API; set it to the API's root URL.",
                    call.endpoint, self.inner.base
                ),
            ),
            Verdict::NotFound => (
                FailureType::Config,
                format!(
                    "{what} for {}: base_url ({}) does not serve the E-commerce API v1; check base_url.",
                    call.endpoint, self.inner.base
                ),
            ),
            Verdict::Rejected if !call.authenticated => (
                FailureType::Config,
                format!(
                    "{what}: the API rejected the token request{api_message}; check {}.",
                    auth.credential_fields()
                ),
            ),
            _ => (
                FailureType::System,
                format!(
                    "{what}: the API rejected {}{api_message}. This points to a connector defect or an API change; report it with the request id.",
                    call.describe
                ),
            ),
        };
        api.into_error(failure_type, message).with_status(status)
    }
}

/// What a request is, for the retry loop and its messages.
struct Call<'a> {
    /// `GET /v1/orders`: the method and path, never the query or a secret.
    describe: String,
    /// The path, which keys the circuit breaker.
    endpoint: &'a str,
    stream: Option<&'a str>,
    authenticated: bool,
}

/// The API's error details of an answer (empty for a success).
fn error_of(call: &Call<'_>, response: &ApiResponse) -> ApiError {
    #[derive(serde::Deserialize)]
    struct Body {
        error: Detail,
    }
    #[derive(serde::Deserialize)]
    struct Detail {
        code: Option<String>,
        message: Option<String>,
    }
    let mut api = ApiError {
        request: call.describe.clone(),
        status: Some(response.status),
        code: None,
        detail: String::new(),
        request_id: response.request_id.clone(),
        html: false,
    };
    api.html = header(&response.headers, CONTENT_TYPE.as_str()).is_some_and(|t| t.contains("html"))
        || response.body.trim_ascii_start().starts_with(b"<");
    if (200..300).contains(&response.status) {
        return api;
    }
    match serde_json::from_slice::<Body>(&response.body) {
        Ok(body) => {
            api.code = body.error.code;
            api.detail = body.error.message.unwrap_or_default();
        }
        Err(_) if api.html => api.detail = "the body is an HTML page, not the API's JSON".into(),
        Err(_) => api.detail = "the body is not the API's JSON error".into(),
    }
    api
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_owned())
}

fn rate_limit_headers(headers: &HeaderMap) -> Option<RateLimitHeaders> {
    let limit = header(headers, "x-ratelimit-limit")?.parse().ok()?;
    let remaining = header(headers, "x-ratelimit-remaining")?.parse().ok()?;
    let reset: i64 = header(headers, "x-ratelimit-reset")?.parse().ok()?;
    let now = chrono::Utc::now().timestamp_millis() as f64 / 1000.0;
    Some(RateLimitHeaders {
        limit,
        remaining,
        seconds_to_full: (reset as f64 - now).max(0.0),
    })
}

/// Why no usable answer arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TransportKind {
    Timeout,
    /// Retrying cannot fix an untrusted certificate or a plain-HTTP server.
    Tls,
    Dns,
    Connect,
    /// The connection broke while the body was read.
    Body,
    Other,
}

/// Classifies a transport failure and describes it in one line. reqwest's
/// own text names the URL, so only the causes are used.
fn describe_transport(error: &reqwest::Error) -> (TransportKind, String) {
    let causes = chain(error);
    let lower = causes.to_lowercase();
    // Only a failure while connecting can be the handshake: a connection
    // dropped later (rustls says "peer closed connection without sending
    // TLS close_notify") is a reset, and is retried.
    let (kind, text) = if error.is_timeout() {
        (TransportKind::Timeout, "timed out")
    } else if error.is_connect()
        && (lower.contains("certificate")
            || lower.contains("tls")
            || lower.contains("handshake")
            || lower.contains("invalidcontenttype")
            || lower.contains("corrupt message"))
    {
        (TransportKind::Tls, "TLS handshake failed")
    } else if error.is_connect()
        && (lower.contains("dns") || lower.contains("lookup") || lower.contains("resolve"))
    {
        (TransportKind::Dns, "the host name could not be resolved")
    } else if error.is_connect() {
        (TransportKind::Connect, "could not connect")
    } else if error.is_body() || error.is_decode() {
        (
            TransportKind::Body,
            "the connection broke while the body was read",
        )
    } else {
        (TransportKind::Other, "the request failed")
    };
    let detail = if causes.is_empty() {
        text.to_owned()
    } else {
        format!("{text}: {causes}")
    };
    (kind, detail)
}

/// The causes of an error, outermost first, without reqwest's URL.
fn chain(error: &reqwest::Error) -> String {
    let mut parts = Vec::new();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.contains(&text) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
}
