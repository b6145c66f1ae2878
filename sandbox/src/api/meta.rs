//! `GET /v1/health`, `GET /v1/account`, `GET /v1/custom_fields`.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::context::RequestSeq;
use super::guard::{self, Resource};
use super::json_response;
use super::query::Params;
use crate::app::App;

/// A `{"data": ...}` envelope.
#[derive(Serialize)]
struct Data<T> {
    data: T,
}

/// `GET /v1/health`: no credentials needed.
pub(crate) async fn health(RawQuery(query): RawQuery) -> Response {
    match Params::parse(query.as_deref(), &[]) {
        Ok(_) => json_response(br#"{"status":"ok"}"#.to_vec()),
        Err(e) => e.into_response(),
    }
}

/// `GET /v1/account`: the cheapest authenticated call.
pub(crate) async fn account(
    State(app): State<Arc<App>>,
    Extension(RequestSeq(seq)): Extension<RequestSeq>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    guard::serve(&app, &headers, Resource::Account, || {
        Params::parse(query.as_deref(), &[])?;
        Ok(json_response(
            app.outgoing_json(app.account.clone().into_bytes(), seq),
        ))
    })
    .await
}

/// `GET /v1/custom_fields`: `{"data": [field...]}`.
pub(crate) async fn custom_fields(
    State(app): State<Arc<App>>,
    Extension(RequestSeq(seq)): Extension<RequestSeq>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    guard::serve(&app, &headers, Resource::CustomFields, || {
        Params::parse(query.as_deref(), &[])?;
        let body = serde_json::to_string(&Data {
            data: app.store.fields().views(),
        })
        .expect("field views serialize");
        Ok(json_response(app.outgoing_json(body.into_bytes(), seq)))
    })
    .await
}
