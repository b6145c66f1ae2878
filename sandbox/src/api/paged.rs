//! Page-number lists: `GET /v1/products` and `GET /v1/orders`.
//!
//! Pages are cut afresh at every request from the current sort order, so an
//! order updated while a client walks moves to the end and the records after
//! it shift one place towards the front (the contract's page-shift quirk).

use std::sync::Arc;

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
use crate::store::{ListQuery, Start};
use crate::stream::Stream;

/// `GET /v1/products`: sorted by id, no time filter.
pub(crate) async fn products(
    State(app): State<Arc<App>>,
    Extension(RequestSeq(seq)): Extension<RequestSeq>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    guard::serve(&app, &headers, Resource::List(Stream::Products), || {
        let params = Params::parse(query.as_deref(), &["page", "limit"])?;
        // Products are never deleted; counting deleted ones changes nothing.
        page(&app, &params, seq, Stream::Products, None, None, true)
    })
    .await
}

/// `GET /v1/orders`: sorted by `(updated_at, id)`, filterable.
pub(crate) async fn orders(
    State(app): State<Arc<App>>,
    Extension(RequestSeq(seq)): Extension<RequestSeq>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    guard::serve(&app, &headers, Resource::List(Stream::Orders), || {
        let params = Params::parse(
            query.as_deref(),
            &[
                "page",
                "limit",
                "updated_after",
                "updated_before",
                "include_deleted",
            ],
        )?;
        let min_ts = params.instant("updated_after")?.map(exclusive_lower_bound);
        let max_ts = params.instant("updated_before")?;
        let include_deleted = params.flag("include_deleted")?.unwrap_or(false);
        page(
            &app,
            &params,
            seq,
            Stream::Orders,
            min_ts,
            max_ts,
            include_deleted,
        )
    })
    .await
}

fn page(
    app: &App,
    params: &Params,
    seq: u64,
    stream: Stream,
    min_ts: Option<i64>,
    max_ts: Option<i64>,
    include_deleted: bool,
) -> Result<Response, ApiError> {
    let limit = params.limit()?;
    let page = params.page()?;
    let query = ListQuery {
        min_ts,
        max_ts,
        include_deleted,
        start: Start::Skip((page - 1).saturating_mul(limit)),
        limit,
    };
    let mut body = Vec::with_capacity(limit * 1024 + 64);
    body.extend_from_slice(b"{\"data\":[");
    let result = app.store.list(stream, &query, &mut body);
    body.extend_from_slice(
        format!("],\"page\":{page},\"has_more\":{}}}", result.has_more).as_bytes(),
    );
    Ok(list_response(app.outgoing_json(body, seq), result.total))
}
