//! One HTTP exchange, and what a transport failure was.

use std::time::{Duration, Instant};

use reqwest::header::{CONTENT_ENCODING, CONTENT_LENGTH};

use super::body::{BodyFault, BodyReader};
use super::error::ApiError;
use super::limiter::{RateLimitHeaders, Ticket};
use super::request::{ApiResponse, header};

/// Why no usable answer arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    Timeout,
    /// Retrying cannot fix an untrusted certificate or a plain-HTTP server.
    Tls,
    Dns,
    Connect,
    /// The connection broke while the body was read.
    Body,
    /// The body grew past `max_response_mb`; repeating the request would
    /// fetch the same.
    TooLarge,
    Other,
}

/// A failure before a usable answer arrived.
pub type TransportFailure = (TransportKind, ApiError);

/// One exchange: the answer (or why there was none) and how long it took.
pub struct Exchange {
    pub outcome: Result<ApiResponse, TransportFailure>,
    pub took: Duration,
}

/// Sends `builder` and reads the body in full, inflating gzip and refusing
/// more than `max_body` bytes (on the wire or inflated); `request` names it
/// in errors. `ticket` is the rate limiter's: it hears when the request
/// goes out and the rate-limit headers of its answer, and ends with it.
pub async fn exchange(
    builder: reqwest::RequestBuilder,
    request: &str,
    ticket: Ticket<'_>,
    max_body: usize,
) -> Exchange {
    let sent = Instant::now();
    let sent_unix = chrono::Utc::now().timestamp_micros() as f64 / 1e6;
    ticket.sending(sent);
    let outcome = send(builder, request, &ticket, max_body, sent_unix).await;
    Exchange {
        outcome,
        took: sent.elapsed(),
    }
}

async fn send(
    builder: reqwest::RequestBuilder,
    request: &str,
    ticket: &Ticket<'_>,
    max_body: usize,
    sent_unix: f64,
) -> Result<ApiResponse, TransportFailure> {
    let transport = |detail: String, request_id: Option<String>, status: Option<u16>| ApiError {
        request: request.to_owned(),
        status,
        code: None,
        detail,
        request_id,
        html: false,
    };
    let response = builder.send().await.map_err(|e| {
        let (kind, detail) = describe_transport(&e);
        (kind, transport(detail, None, None))
    })?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let request_id = header(&headers, "x-request-id");
    if let Some(limits) = rate_limit_headers(&headers, sent_unix) {
        ticket.answered(limits);
    }
    let gzip =
        header(&headers, CONTENT_ENCODING.as_str()).is_some_and(|e| e.eq_ignore_ascii_case("gzip"));
    let mut reader = BodyReader::new(gzip, max_body);
    let content_length = header(&headers, CONTENT_LENGTH.as_str()).and_then(|v| v.parse().ok());
    let body_failure = |fault: BodyFault| {
        let (kind, detail) = match fault {
            BodyFault::TooLarge { inflated, limit } => (
                TransportKind::TooLarge,
                format!(
                    "a body larger than max_response_mb ({} MB){}",
                    limit >> 20,
                    if inflated { " once decompressed" } else { "" }
                ),
            ),
            BodyFault::Corrupt(detail) => (TransportKind::Body, detail),
        };
        (kind, transport(detail, request_id.clone(), Some(status)))
    };
    reader.expect(content_length).map_err(body_failure)?;
    let mut response = response;
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => reader.push(&chunk).map_err(body_failure)?,
            Ok(None) => break,
            Err(e) => {
                let (_, detail) = describe_transport(&e);
                return Err((
                    TransportKind::Body,
                    transport(
                        format!("the answer was cut off: {detail}"),
                        request_id.clone(),
                        Some(status),
                    ),
                ));
            }
        }
    }
    let (body, wire_bytes) = reader.finish().map_err(body_failure)?;
    Ok(ApiResponse {
        status,
        total_count: header(&headers, "x-total-count").and_then(|v| v.parse().ok()),
        request_id,
        body,
        wire_bytes,
        headers,
    })
}

/// The rate-limit headers of an answer to a request sent at `sent_unix`
/// (unix seconds). The time to full is counted from the send, which is
/// before the server counted: the refill rate it implies errs low.
fn rate_limit_headers(
    headers: &reqwest::header::HeaderMap,
    sent_unix: f64,
) -> Option<RateLimitHeaders> {
    // Any integer is taken, clamped: a negative count is an empty bucket.
    let count = |name: &str| -> Option<u64> {
        let value: i128 = header(headers, name)?.parse().ok()?;
        Some(u64::try_from(value.max(0)).unwrap_or(u64::MAX))
    };
    let limit = count("x-ratelimit-limit")?;
    let remaining = count("x-ratelimit-remaining")?;
    let reset: i128 = header(headers, "x-ratelimit-reset")?.parse().ok()?;
    Some(RateLimitHeaders {
        limit,
        remaining,
        seconds_to_full: (reset as f64 - sent_unix).max(0.0),
    })
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
pub fn chain(error: &reqwest::Error) -> String {
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
