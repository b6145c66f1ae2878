//! The retry decision, a pure function: from what one attempt brought (and
//! how many attempts, renewals and how much time the request has spent) to
//! what happens next. The client carries it out; this module never waits,
//! sends or reports anything, so every row of the README's error table is a
//! unit test here (`decision_tests.rs`).

use std::time::{Duration, Instant, SystemTime};

use reqwest::header::CONTENT_TYPE;
use url::Url;

use super::breaker::Admission;
use super::error::{ApiError, BodyError, quoted_api_text};
use super::failures;
use super::request::{ApiResponse, Call, header};
use super::retry::{self, RetryPolicy, Verdict};
use super::transport::{TransportFailure, TransportKind};
use crate::error::Error;

/// How many times one request renews a revoked token before giving up.
pub const MAX_TOKEN_RENEWALS: u32 = 3;

/// What the decision needs to know about the request and the client.
pub struct Context<'a> {
    pub call: &'a Call<'a>,
    pub base: &'a Url,
    /// `the API key` and the like, for messages.
    pub credential: &'static str,
    /// The config fields to name when the credentials are rejected.
    pub credential_fields: &'static str,
    pub policy: &'a RetryPolicy,
    /// Failures in a row that open the circuit breaker.
    pub breaker_threshold: u32,
}

/// What the request has spent so far.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// Attempts that counted against `max_retries`, this one included.
    pub attempts: u32,
    /// Token renewals so far.
    pub renewals: u32,
    /// Time since the request started.
    pub elapsed: Duration,
}

/// What one attempt brought.
#[derive(Debug)]
pub enum Outcome<T> {
    /// No usable answer arrived.
    Unreachable(TransportFailure),
    /// A 2xx, and what the caller's parser made of its body.
    Parsed(ApiError, Result<T, BodyError>),
    /// A 429 and the wait it asks for.
    RateLimited(ApiError, Duration),
    /// Any other answer, with its verdict.
    Refused(Verdict, ApiError),
}

impl<T> Outcome<T> {
    /// Classifies an answer; `parse` runs on a 2xx only. `now` and
    /// `max_wait` bound a 429's `Retry-After`.
    pub fn of_answer(
        call: &Call<'_>,
        response: &ApiResponse,
        parse: impl FnOnce(&ApiResponse) -> Result<T, BodyError>,
        now: SystemTime,
        max_wait: Duration,
    ) -> Self {
        let api = error_of(call, response);
        match retry::classify(response.status, api.code.as_deref()) {
            Verdict::Success => Outcome::Parsed(api, parse(response)),
            Verdict::RateLimited => Outcome::RateLimited(
                api,
                retry::rate_limit_wait(&response.headers, now, max_wait),
            ),
            verdict => Outcome::Refused(verdict, api),
        }
    }
}

/// What the client does next.
#[derive(Debug)]
pub enum Next<T> {
    /// Done: the parsed answer.
    Return(T),
    /// Forget the token, fetch a new one and repeat at once (not a retry).
    RenewToken,
    /// Pause every request for this long, then repeat (not a retry).
    WaitForRateLimit(Duration),
    /// Count a failure against the circuit breaker, wait, then retry.
    Retry { failure: ApiError, delay: Duration },
    /// Count a failure against the circuit breaker (the error's internal
    /// message and status are the failure's), then fail with the error.
    GiveUp(Error),
    /// Fail at once: retrying cannot help, and the endpoint is not broken.
    Fail(Error),
}

/// Decides what follows `outcome`. `backoff` yields the next retry's delay
/// and is only drawn from for a retryable failure.
pub fn decide<T>(
    outcome: Outcome<T>,
    progress: Progress,
    ctx: &Context<'_>,
    backoff: &mut impl Iterator<Item = Duration>,
) -> Next<T> {
    let budget = ctx.policy.max_total_wait;
    let failure = match outcome {
        Outcome::Unreachable((TransportKind::Tls, failure)) => {
            return Next::Fail(failures::tls(ctx, failure));
        }
        Outcome::Unreachable((TransportKind::TooLarge, failure)) => {
            return Next::Fail(failures::too_large(ctx, failure));
        }
        Outcome::Unreachable((_, failure)) => failure,
        Outcome::Parsed(_, Ok(value)) => return Next::Return(value),
        Outcome::Parsed(api, Err(body)) if !body.retryable => {
            return Next::Fail(failures::unexpected_body(ctx, api, body));
        }
        Outcome::Parsed(api, Err(body)) => ApiError {
            detail: body.detail,
            ..api
        },
        Outcome::RateLimited(api, wait) if progress.elapsed + wait > budget => {
            return Next::Fail(failures::rate_limited_too_long(ctx, api));
        }
        Outcome::RateLimited(_, wait) => return Next::WaitForRateLimit(wait),
        Outcome::Refused(Verdict::RenewToken, _) if progress.renewals < MAX_TOKEN_RENEWALS => {
            return Next::RenewToken;
        }
        Outcome::Refused(Verdict::Retry, api) => api,
        Outcome::Refused(verdict, api) => return Next::Fail(failures::fatal(ctx, verdict, api)),
    };
    match backoff
        .next()
        .filter(|delay| progress.elapsed + *delay <= budget)
    {
        Some(delay) => Next::Retry { failure, delay },
        None => Next::GiveUp(failures::retries_spent(
            ctx,
            failure,
            progress.attempts,
            progress.elapsed.as_secs(),
        )),
    }
}

/// A wait for the API's bucket at least this long is announced (as a
/// rate-limited stream status).
pub const LONG_PACE: Duration = Duration::from_secs(1);

/// What a wait for the API's bucket means for the request.
#[derive(Debug)]
pub enum Paced {
    Go,
    /// Wait this long, then ask the limiter again; `announce`: tell the
    /// platform the stream is rate-limited meanwhile.
    Wait {
        wait: Duration,
        announce: bool,
    },
    Fail(Error),
}

/// Decides on a `wait` the rate limiter asks for, `elapsed` into the
/// request: a wait past the time budget fails the request and says when the
/// quota resets (`resets_at`, the API's `X-RateLimit-Reset`).
pub fn pace(
    wait: Duration,
    elapsed: Duration,
    resets_at: Option<SystemTime>,
    ctx: &Context<'_>,
) -> Paced {
    if wait.is_zero() {
        Paced::Go
    } else if elapsed.saturating_add(wait) > ctx.policy.max_total_wait {
        Paced::Fail(failures::quota_beyond_budget(ctx, wait, resets_at))
    } else {
        Paced::Wait {
            wait,
            announce: wait >= LONG_PACE,
        }
    }
}

/// What the circuit breaker's answer means for the request.
#[derive(Debug)]
pub enum Admitted {
    /// Send it; `probe`: as the probe of an open breaker.
    Send {
        probe: bool,
    },
    /// Wait this long, then ask the breaker again (not an attempt).
    Wait(Duration),
    Fail(Error),
}

/// Decides on the breaker's `admission` at `now`, `elapsed` into the request.
pub fn admit(admission: Admission, now: Instant, elapsed: Duration, ctx: &Context<'_>) -> Admitted {
    match admission {
        Admission::Send => Admitted::Send { probe: false },
        Admission::Probe => Admitted::Send { probe: true },
        Admission::WaitUntil(at) => {
            let wait = at.saturating_duration_since(now);
            if elapsed + wait > ctx.policy.max_total_wait {
                Admitted::Fail(failures::held_too_long(ctx))
            } else {
                Admitted::Wait(wait)
            }
        }
        Admission::GiveUp { internal, status } => {
            Admitted::Fail(failures::given_up(ctx, internal, status))
        }
    }
}

/// The longest API error code kept: codes are short identifiers.
const MAX_CODE_CHARS: usize = 64;

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
            api.code = body.error.code.map(|code| {
                code.chars()
                    .filter(|c| !c.is_control())
                    .take(MAX_CODE_CHARS)
                    .collect()
            });
            api.detail = body
                .error
                .message
                .map(|message| quoted_api_text(&message))
                .unwrap_or_default();
        }
        Err(_) if api.html => api.detail = "the body is an HTML page, not the API's JSON".into(),
        Err(_) => api.detail = "the body is not the API's JSON error".into(),
    }
    api
}

#[cfg(test)]
#[path = "decision_tests.rs"]
mod tests;
