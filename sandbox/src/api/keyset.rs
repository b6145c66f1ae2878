//! Keyset-paginated lists: `GET /v1/customers` and `GET /v1/order_events`.
//!
//! The page token carries the last key served plus the walk's filters, so
//! a walk is stable under writes: records after the position are read in
//! order, and a record updated meanwhile reappears later with its new key.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Extension;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;

use super::context::RequestSeq;
use super::error::ApiError;
use super::guard::{self, Resource};
use super::list_response;
use super::query::{Params, exclusive_lower_bound};
use crate::app::App;
use crate::pagetoken::PageToken;
use crate::store::{ListQuery, Start};
use crate::stream::Stream;

/// The shape of one keyset endpoint.
struct Endpoint {
    stream: Stream,
    /// The exclusive lower time bound parameter.
    after_param: &'static str,
    /// Whether `include_deleted` exists (records of the stream can be deleted).
    deletable: bool,
    allowed: &'static [&'static str],
}

const CUSTOMERS: Endpoint = Endpoint {
    stream: Stream::Customers,
    after_param: "updated_after",
    deletable: true,
    allowed: &["limit", "updated_after", "include_deleted", "page_token"],
};

const ORDER_EVENTS: Endpoint = Endpoint {
    stream: Stream::OrderEvents,
    after_param: "created_after",
    deletable: false,
    allowed: &["limit", "created_after", "page_token"],
};

/// `GET /v1/customers`.
pub(crate) async fn customers(
    State(app): State<Arc<App>>,
    Extension(RequestSeq(seq)): Extension<RequestSeq>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    guard::serve(&app, &headers, Resource::List(Stream::Customers), || {
        page(&app, query.as_deref(), seq, &CUSTOMERS)
    })
    .await
}

/// `GET /v1/order_events`.
pub(crate) async fn order_events(
    State(app): State<Arc<App>>,
    Extension(RequestSeq(seq)): Extension<RequestSeq>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    guard::serve(&app, &headers, Resource::List(Stream::OrderEvents), || {
        page(&app, query.as_deref(), seq, &ORDER_EVENTS)
    })
    .await
}

fn page(
    app: &App,
    raw_query: Option<&str>,
    seq: u64,
    endpoint: &Endpoint,
) -> Result<Response, ApiError> {
    let params = Params::parse(raw_query, endpoint.allowed)?;
    let limit = params.limit()?;
    let min_ts = params
        .instant(endpoint.after_param)?
        .map(exclusive_lower_bound);
    let include_deleted = if endpoint.deletable {
        params.flag("include_deleted")?
    } else {
        None
    };
    let now_ms = u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis(),
    )
    .unwrap_or(u64::MAX);
    let (min_ts, include_deleted, start) = match params.get("page_token") {
        None => (min_ts, include_deleted.unwrap_or(false), Start::Skip(0)),
        Some(raw) => {
            let ttl_ms = u64::try_from(app.page_token_ttl.as_millis()).unwrap_or(u64::MAX);
            let token = app
                .page_tokens
                .decode(raw, endpoint.stream, now_ms, ttl_ms)
                .map_err(|e| ApiError::invalid_parameter(e.to_string()))?;
            // Filters may be repeated alongside the token, but not changed mid-walk.
            if params.get(endpoint.after_param).is_some() && min_ts != token.min_ts {
                return Err(ApiError::invalid_parameter(format!(
                    "{} differs from the one the page_token was issued for",
                    endpoint.after_param
                )));
            }
            if include_deleted.is_some_and(|d| d != token.include_deleted) {
                return Err(ApiError::invalid_parameter(
                    "include_deleted differs from the one the page_token was issued for",
                ));
            }
            (
                token.min_ts,
                token.include_deleted,
                Start::After(token.after),
            )
        }
    };
    let query = ListQuery {
        min_ts,
        max_ts: None,
        include_deleted,
        start,
        limit,
    };
    let mut body = Vec::with_capacity(limit * 512 + 64);
    body.extend_from_slice(b"{\"data\":[");
    let result = app.store.list(endpoint.stream, &query, &mut body);
    body.extend_from_slice(b"],\"next_page_token\":");
    match result.last_key.filter(|_| result.has_more) {
        Some(after) => {
            let token = app.page_tokens.encode(&PageToken {
                stream: endpoint.stream,
                after,
                min_ts,
                include_deleted,
                issued_ms: now_ms,
            });
            body.push(b'"');
            body.extend_from_slice(token.as_bytes()); // base64url: no escaping needed
            body.push(b'"');
        }
        None => body.extend_from_slice(b"null"),
    }
    body.push(b'}');
    Ok(list_response(app.outgoing_json(body, seq), result.total))
}
