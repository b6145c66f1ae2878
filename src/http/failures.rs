//! The errors a request ends with: the failure class and a message a person
//! can act on, with the API's details in `internal_message`.

use std::time::{Duration, SystemTime};

use super::decision::{Context, MAX_TOKEN_RENEWALS};
use super::error::{ApiError, BodyError};
use super::retry::Verdict;
use crate::error::{Error, FailureType};

/// An untrusted certificate, or a server that does not speak HTTPS.
pub fn tls(ctx: &Context<'_>, failure: ApiError) -> Error {
    failure.into_error(
        FailureType::Config,
        format!(
            "Could not open a TLS connection to {}: the certificate is not trusted or the server does not speak HTTPS; check base_url (https:// vs http://) and the CA certificates.",
            ctx.base
        ),
    )
}

/// A body past `max_response_mb`: the same request would bring the same.
pub fn too_large(ctx: &Context<'_>, failure: ApiError) -> Error {
    let status = failure.status;
    let message = format!(
        "{} answered with {}; raise max_response_mb or lower page_size.",
        ctx.call.describe, failure.detail
    );
    failure
        .into_error(FailureType::System, message)
        .with_status(status)
}

/// A 2xx whose body is valid JSON of another shape than documented.
pub fn unexpected_body(ctx: &Context<'_>, api: ApiError, body: BodyError) -> Error {
    let message = format!(
        "{} answered with a body that is not what the API documents ({}). This points to an API change or a connector defect; report it with the request id.",
        ctx.call.describe, body.detail
    );
    let status = api.status;
    ApiError {
        detail: body.detail,
        ..api
    }
    .into_error(FailureType::System, message)
    .with_status(status)
}

/// 429s for longer than the request's time budget.
pub fn rate_limited_too_long(ctx: &Context<'_>, api: ApiError) -> Error {
    api.into_error(
        FailureType::Transient,
        format!(
            "The API kept rate-limiting {} for longer than max_retry_seconds ({} s). Lower requests_per_second or retry later.",
            ctx.call.describe,
            ctx.policy.max_total_wait.as_secs()
        ),
    )
    .with_status(Some(429))
}

/// The API's bucket would hold the request beyond its time budget.
pub fn quota_beyond_budget(
    ctx: &Context<'_>,
    wait: Duration,
    resets_at: Option<SystemTime>,
) -> Error {
    let resets = resets_at.map_or_else(
        || format!("in {} s", wait.as_secs()),
        |at| {
            format!(
                "at {}",
                chrono::DateTime::<chrono::Utc>::from(at)
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            )
        },
    );
    Error::transient(format!(
        "The API's rate limit would hold {} for {} s, longer than max_retry_seconds ({} s) allows; the quota resets {resets}. Retry the sync then.",
        ctx.call.describe,
        wait.as_secs(),
        ctx.policy.max_total_wait.as_secs()
    ))
}

/// Retryable failures until the retries or the time budget ran out.
pub fn retries_spent(ctx: &Context<'_>, failure: ApiError, attempts: u32, elapsed: u64) -> Error {
    let status = failure.status;
    let message = if status.is_none() {
        format!(
            "Could not reach the API at {} ({}) after {attempts} attempts over {elapsed} s; check base_url and the network, or retry later.",
            ctx.base,
            failure.summary()
        )
    } else {
        format!(
            "{} kept failing ({}) after {attempts} attempts over {elapsed} s; the API seems unavailable. Retry the sync later.",
            ctx.call.describe,
            failure.summary()
        )
    };
    failure
        .into_error(FailureType::Transient, message)
        .with_status(status)
}

/// The circuit breaker would hold the request beyond its time budget.
pub fn held_too_long(ctx: &Context<'_>) -> Error {
    Error::transient(format!(
        "{} kept failing for longer than max_retry_seconds ({} s) while the circuit breaker held requests; the API seems to be down. Retry the sync later.",
        ctx.call.describe,
        ctx.policy.max_total_wait.as_secs()
    ))
}

/// The circuit breaker gave the endpoint up; the last failure's details.
pub fn given_up(ctx: &Context<'_>, internal: Option<String>, status: Option<u16>) -> Error {
    let error = Error::transient(format!(
        "Stopped calling {} after {} failures in a row and {} failed probes (circuit breaker); the API seems to be down. Retry the sync later.",
        ctx.call.describe, ctx.breaker_threshold, ctx.policy.max_retries
    ))
    .with_status(status);
    match internal {
        Some(internal) => error.with_internal(internal),
        None => error,
    }
}

/// The error for an answer that retrying cannot fix.
pub fn fatal(ctx: &Context<'_>, verdict: Verdict, api: ApiError) -> Error {
    let call = ctx.call;
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
                call.describe, ctx.credential_fields
            ),
        ),
        Verdict::BadCredentials => (
            FailureType::Config,
            format!(
                "{what}: {} was rejected; check {}.",
                ctx.credential, ctx.credential_fields
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
                call.endpoint, ctx.base
            ),
        ),
        Verdict::NotFound => (
            FailureType::Config,
            format!(
                "{what} for {}: base_url ({}) does not serve the E-commerce API v1; check base_url.",
                call.endpoint, ctx.base
            ),
        ),
        Verdict::Rejected if call.token_request => (
            FailureType::Config,
            format!(
                "{what}: the API rejected the token request{api_message}; check {}.",
                ctx.credential_fields
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
