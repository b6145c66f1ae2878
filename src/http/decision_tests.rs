//! One test per row of the README's error table that the HTTP layer decides.
//! The rows about config files, a 403 skipping one stream, and `discover`'s
//! custom fields are decided above this layer, from the errors tested here.

use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER};
use url::Url;

use super::*;
use crate::error::FailureType;

const BUDGET: Duration = Duration::from_secs(60);

fn call(token_request: bool) -> Call<'static> {
    Call {
        describe: "GET /v1/orders".into(),
        endpoint: "/v1/orders",
        stream: Some("orders"),
        token_request,
    }
}

fn base() -> Url {
    Url::parse("https://api.example.com/").unwrap()
}

/// Decides `outcome` for the first attempt of an authenticated request, with
/// one backoff delay of 400 ms left.
fn decide_first(outcome: Outcome<&'static str>) -> Next<&'static str> {
    decide_with(
        outcome,
        progress(1, 0, 0),
        false,
        &mut [ms(400)].into_iter(),
    )
}

fn decide_with(
    outcome: Outcome<&'static str>,
    progress: Progress,
    token_request: bool,
    backoff: &mut impl Iterator<Item = Duration>,
) -> Next<&'static str> {
    let (call, base, policy) = (call(token_request), base(), RetryPolicy::new(5, BUDGET));
    decide(outcome, progress, &context(&call, &base, &policy), backoff)
}

fn context<'a>(call: &'a Call<'a>, base: &'a Url, policy: &'a RetryPolicy) -> Context<'a> {
    Context {
        call,
        base,
        credential: "the API key",
        credential_fields: "credentials.api_key",
        policy,
        breaker_threshold: 6,
    }
}

fn progress(attempts: u32, renewals: u32, elapsed_secs: u64) -> Progress {
    Progress {
        attempts,
        renewals,
        elapsed: Duration::from_secs(elapsed_secs),
    }
}

fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

fn api(status: Option<u16>, code: Option<&str>, detail: &str) -> ApiError {
    ApiError {
        request: "GET /v1/orders".into(),
        status,
        code: code.map(str::to_owned),
        detail: detail.into(),
        request_id: Some("req-1".into()),
        html: false,
    }
}

fn refused(status: u16, code: Option<&str>, detail: &str) -> Outcome<&'static str> {
    Outcome::Refused(
        retry::classify(status, code),
        api(Some(status), code, detail),
    )
}

fn unreachable(kind: TransportKind) -> Outcome<&'static str> {
    Outcome::Unreachable((
        kind,
        api(None, None, "could not connect: connection refused"),
    ))
}

fn answer(
    status: u16,
    headers: &[(&'static str, &'static str)],
    body: &'static str,
) -> ApiResponse {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        map.insert(*name, HeaderValue::from_static(value));
    }
    ApiResponse {
        status,
        body: Bytes::from_static(body.as_bytes()),
        wire_bytes: body.len(),
        total_count: None,
        request_id: Some("req-1".into()),
        headers: map,
    }
}

fn outcome_of(response: &ApiResponse) -> Outcome<&'static str> {
    let parse = |r: &ApiResponse| {
        serde_json::from_slice::<serde_json::Value>(&r.body)?;
        Ok("parsed")
    };
    Outcome::of_answer(
        &call(false),
        response,
        parse,
        SystemTime::now(),
        ms(300_000),
    )
}

/// The error of a `Fail`, which must not count against the breaker.
fn failed(next: Next<&str>) -> Error {
    match next {
        Next::Fail(error) => error,
        other => panic!("expected Fail, got {other:?}"),
    }
}

/// The error of a `GiveUp`, which counts against the breaker.
fn given_up(next: Next<&str>) -> Error {
    match next {
        Next::GiveUp(error) => error,
        other => panic!("expected GiveUp, got {other:?}"),
    }
}

fn retried(next: Next<&str>) -> (ApiError, Duration) {
    match next {
        Next::Retry { failure, delay } => (failure, delay),
        other => panic!("expected Retry, got {other:?}"),
    }
}

#[test]
fn a_success_returns_what_the_parser_made_of_the_body() {
    let next = decide_first(outcome_of(&answer(200, &[], "{}")));
    assert!(matches!(next, Next::Return("parsed")), "{next:?}");
}

#[test]
fn wrong_credentials_fail_at_once_as_a_config_error_naming_the_fields() {
    let error = failed(decide_first(refused(401, Some("invalid_credentials"), "")));
    assert_eq!(error.failure_type(), FailureType::Config);
    assert_eq!(
        error.message(),
        "401 invalid_credentials: the API key was rejected; check credentials.api_key."
    );
    assert_eq!(error.status(), Some(401));
}

#[test]
fn a_clock_off_by_more_than_five_minutes_is_a_config_error_saying_so() {
    let error = failed(decide_first(refused(401, Some("clock_skew"), "")));
    assert_eq!(error.failure_type(), FailureType::Config);
    assert!(
        error.message().contains("clock is more than 5 minutes off"),
        "{}",
        error.message()
    );
}

#[test]
fn an_expired_token_is_renewed_and_the_request_repeated() {
    let next = decide_with(
        refused(401, Some("token_expired"), ""),
        progress(1, MAX_TOKEN_RENEWALS - 1, 0),
        false,
        &mut std::iter::empty(),
    );
    assert!(matches!(next, Next::RenewToken), "{next:?}");
}

#[test]
fn three_revoked_fresh_tokens_in_a_row_are_a_config_error() {
    let next = decide_with(
        refused(401, Some("token_expired"), ""),
        progress(1, MAX_TOKEN_RENEWALS, 0),
        false,
        &mut std::iter::empty(),
    );
    let error = failed(next);
    assert_eq!(error.failure_type(), FailureType::Config);
    assert!(
        error
            .message()
            .contains("revoked 3 fresh access tokens in a row"),
        "{}",
        error.message()
    );
}

#[test]
fn a_429_waits_as_long_as_retry_after_asks() {
    let outcome = outcome_of(&answer(429, &[(RETRY_AFTER.as_str(), "7")], "{}"));
    let next = decide_first(outcome);
    assert!(
        matches!(next, Next::WaitForRateLimit(wait) if wait == Duration::from_secs(7)),
        "{next:?}"
    );
}

#[test]
fn a_429_waits_at_least_a_second_and_at_most_five_minutes() {
    let wait_for = |retry_after: &'static str| match outcome_of(&answer(
        429,
        &[(RETRY_AFTER.as_str(), retry_after)],
        "{}",
    )) {
        Outcome::RateLimited(_, wait) => wait,
        other => panic!("expected RateLimited, got {other:?}"),
    };
    assert_eq!(wait_for("0"), Duration::from_secs(1));
    assert_eq!(wait_for("3600"), Duration::from_secs(300));
}

#[test]
fn a_429_wait_beyond_max_retry_seconds_is_a_transient_error() {
    let outcome = Outcome::RateLimited(
        api(Some(429), Some("rate_limited"), ""),
        Duration::from_secs(10),
    );
    let error = failed(decide_with(
        outcome,
        progress(1, 0, 55),
        false,
        &mut std::iter::empty(),
    ));
    assert_eq!(error.failure_type(), FailureType::Transient);
    assert!(
        error
            .message()
            .starts_with("The API kept rate-limiting GET /v1/orders"),
        "{}",
        error.message()
    );
    assert_eq!(error.status(), Some(429));
}

#[test]
fn server_errors_are_retried_after_the_backoff_delay() {
    let (failure, delay) = retried(decide_first(refused(503, Some("unavailable"), "")));
    assert_eq!(failure.status, Some(503));
    assert_eq!(delay, ms(400));
}

#[test]
fn timeouts_and_dropped_connections_are_retried() {
    for kind in [
        TransportKind::Timeout,
        TransportKind::Connect,
        TransportKind::Body,
        TransportKind::Dns,
    ] {
        let (failure, _) = retried(decide_first(unreachable(kind)));
        assert_eq!(failure.status, None, "{kind:?}");
    }
}

#[test]
fn a_body_cut_off_is_retried_with_what_was_wrong_with_it() {
    let (failure, _) = retried(decide_first(outcome_of(&answer(
        200,
        &[],
        r#"{"data": [{"#,
    ))));
    assert!(failure.detail.contains("cut off"), "{}", failure.detail);
}

#[test]
fn html_instead_of_json_is_retried() {
    let page = "<html>Bad Gateway</html>";
    let html = [(CONTENT_TYPE.as_str(), "text/html")];
    let (failure, _) = retried(decide_first(outcome_of(&answer(502, &html, page))));
    assert!(failure.html);
    assert_eq!(failure.summary(), "502 with an HTML body");
    let (failure, _) = retried(decide_first(outcome_of(&answer(200, &html, page))));
    assert_eq!(failure.summary(), "200 with an HTML body");
}

#[test]
fn spent_retries_are_a_transient_error_naming_the_request_status_and_request_id() {
    let next = decide_with(
        refused(503, Some("unavailable"), "try later"),
        progress(6, 0, 12),
        false,
        &mut std::iter::empty(),
    );
    let error = given_up(next);
    assert_eq!(error.failure_type(), FailureType::Transient);
    assert_eq!(
        error.message(),
        "GET /v1/orders kept failing (503 unavailable) after 6 attempts over 12 s; the API seems unavailable. Retry the sync later."
    );
    assert_eq!(
        error.internal(),
        Some("GET /v1/orders: 503 unavailable (try later); X-Request-Id req-1")
    );
    assert_eq!(error.status(), Some(503));
}

#[test]
fn a_retry_that_would_overrun_max_retry_seconds_gives_up_instead() {
    let next = decide_with(
        refused(500, None, ""),
        progress(2, 0, 59),
        false,
        &mut [Duration::from_secs(2)].into_iter(),
    );
    assert_eq!(given_up(next).failure_type(), FailureType::Transient);
}

#[test]
fn an_unreachable_host_names_base_url_and_the_network() {
    let next = decide_with(
        unreachable(TransportKind::Dns),
        progress(6, 0, 3),
        false,
        &mut std::iter::empty(),
    );
    let error = given_up(next);
    assert_eq!(error.failure_type(), FailureType::Transient);
    assert!(
        error.message().starts_with("Could not reach the API at https://api.example.com/ (could not connect: connection refused) after 6 attempts"),
        "{}",
        error.message()
    );
}

#[test]
fn a_tls_failure_is_a_config_error_at_once() {
    let error = failed(decide_first(unreachable(TransportKind::Tls)));
    assert_eq!(error.failure_type(), FailureType::Config);
    assert!(
        error
            .message()
            .starts_with("Could not open a TLS connection to https://api.example.com/"),
        "{}",
        error.message()
    );
}

#[test]
fn a_bad_request_is_a_system_error_with_the_apis_message() {
    let error = failed(decide_first(refused(
        400,
        Some("invalid_parameter"),
        "limit must be at most 1000",
    )));
    assert_eq!(error.failure_type(), FailureType::System);
    assert!(
        error.message().contains("(limit must be at most 1000)"),
        "{}",
        error.message()
    );
}

#[test]
fn a_200_whose_json_is_not_what_the_api_documents_is_a_system_error() {
    let outcome = outcome_of(&answer(200, &[], "{}"));
    let Outcome::Parsed(api, _) = outcome else {
        panic!("a 200 is parsed")
    };
    let outcome = Outcome::Parsed(api, Err(BodyError::fatal("data is missing")));
    let error = failed(decide_first(outcome));
    assert_eq!(error.failure_type(), FailureType::System);
    assert!(
        error
            .message()
            .contains("not what the API documents (data is missing)"),
        "{}",
        error.message()
    );
    assert_eq!(error.status(), Some(200));
}

#[test]
fn a_403_is_a_config_error_naming_the_endpoint_and_the_missing_scope() {
    let error = failed(decide_first(refused(
        403,
        Some("forbidden"),
        "scope orders:read required",
    )));
    assert_eq!(error.failure_type(), FailureType::Config);
    assert_eq!(
        error.message(),
        "403 forbidden: the credentials may not read /v1/orders (scope orders:read required); grant the missing scope or deselect this stream."
    );
    assert_eq!(error.status(), Some(403));
}

#[test]
fn base_url_pointing_at_a_website_is_a_config_error_saying_so() {
    let page = answer(
        404,
        &[(CONTENT_TYPE.as_str(), "text/html")],
        "<html>Not found</html>",
    );
    let error = failed(decide_first(outcome_of(&page)));
    assert_eq!(error.failure_type(), FailureType::Config);
    assert!(
        error
            .message()
            .contains("points at a website, not the E-commerce API"),
        "{}",
        error.message()
    );
}

#[test]
fn a_404_of_json_says_base_url_does_not_serve_the_api() {
    let error = failed(decide_first(outcome_of(&answer(
        404,
        &[],
        r#"{"error": {"code": "not_found"}}"#,
    ))));
    assert_eq!(error.failure_type(), FailureType::Config);
    assert!(
        error
            .message()
            .contains("does not serve the E-commerce API v1"),
        "{}",
        error.message()
    );
}

#[test]
fn a_rejected_token_request_is_a_config_error_naming_the_credentials() {
    let next = decide_with(
        refused(400, Some("invalid_client"), "unknown client"),
        progress(1, 0, 0),
        true,
        &mut std::iter::empty(),
    );
    let error = failed(next);
    assert_eq!(error.failure_type(), FailureType::Config);
    assert_eq!(
        error.message(),
        "400 invalid_client: the API rejected the token request (unknown client); check credentials.api_key."
    );
}

#[test]
fn the_apis_error_code_decides_what_a_401_means() {
    let expired = answer(
        401,
        &[],
        r#"{"error": {"code": "token_expired", "message": "expired"}}"#,
    );
    assert!(
        matches!(outcome_of(&expired), Outcome::Refused(Verdict::RenewToken, api) if api.detail == r#""expired""#)
    );
}

fn admit_at(admission: Admission, elapsed_secs: u64, now: Instant) -> Admitted {
    let (call, base, policy) = (call(false), base(), RetryPolicy::new(5, BUDGET));
    admit(
        admission,
        now,
        Duration::from_secs(elapsed_secs),
        &context(&call, &base, &policy),
    )
}

#[test]
fn a_closed_breaker_sends_and_an_open_one_sends_its_probe() {
    let now = Instant::now();
    assert!(matches!(
        admit_at(Admission::Send, 0, now),
        Admitted::Send { probe: false }
    ));
    assert!(matches!(
        admit_at(Admission::Probe, 0, now),
        Admitted::Send { probe: true }
    ));
}

#[test]
fn an_open_breaker_holds_the_request_until_the_next_probe() {
    let now = Instant::now();
    let held = admit_at(Admission::WaitUntil(now + Duration::from_secs(2)), 10, now);
    assert!(
        matches!(held, Admitted::Wait(wait) if wait == Duration::from_secs(2)),
        "{held:?}"
    );
}

#[test]
fn a_hold_beyond_max_retry_seconds_is_a_transient_error() {
    let now = Instant::now();
    let Admitted::Fail(error) =
        admit_at(Admission::WaitUntil(now + Duration::from_secs(2)), 59, now)
    else {
        panic!("expected Fail")
    };
    assert_eq!(error.failure_type(), FailureType::Transient);
    assert!(
        error
            .message()
            .contains("while the circuit breaker held requests"),
        "{}",
        error.message()
    );
}

#[test]
fn a_given_up_endpoint_fails_with_the_last_failures_details() {
    let admission = Admission::GiveUp {
        internal: Some("GET /v1/orders: 503 unavailable".into()),
        status: Some(503),
    };
    let Admitted::Fail(error) = admit_at(admission, 0, Instant::now()) else {
        panic!("expected Fail")
    };
    assert_eq!(error.failure_type(), FailureType::Transient);
    assert_eq!(
        error.message(),
        "Stopped calling GET /v1/orders after 6 failures in a row and 5 failed probes (circuit breaker); the API seems to be down. Retry the sync later."
    );
    assert_eq!(error.internal(), Some("GET /v1/orders: 503 unavailable"));
    assert_eq!(error.status(), Some(503));
}

#[test]
fn a_body_past_the_size_bound_is_a_system_error_naming_the_request() {
    let error = failed(decide_first(unreachable(TransportKind::TooLarge)));
    assert_eq!(error.failure_type(), FailureType::System);
    assert!(
        error.message().starts_with("GET /v1/orders answered with"),
        "{}",
        error.message()
    );
    assert!(
        error.message().contains("max_response_mb"),
        "{}",
        error.message()
    );
}
