//! The HTTP API: routes, shared response helpers.

mod compress;
mod context;
mod error;
mod guard;
mod keyset;
mod meta;
mod paged;
mod query;
mod tokens;
mod truncate;

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::app::App;
use error::ApiError;

/// The router of the whole API over `app`.
pub(crate) fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/v1/health", get(meta::health))
        .route("/v1/account", get(meta::account))
        .route("/v1/custom_fields", get(meta::custom_fields))
        .route("/v1/customers", get(keyset::customers))
        .route("/v1/order_events", get(keyset::order_events))
        .route("/v1/products", get(paged::products))
        .route("/v1/orders", get(paged::orders))
        .route("/v1/oauth/token", post(tokens::oauth))
        .route("/v1/auth/token", post(tokens::signed))
        .fallback(not_found)
        .method_not_allowed_fallback(not_found)
        // After the routes and fallbacks, so that every answer gets an id.
        .layer(middleware::from_fn_with_state(
            Arc::clone(&app),
            context::request_context,
        ))
        .with_state(app)
}

/// Unknown paths and methods: 404 `not_found`.
async fn not_found(request: Request) -> Response {
    ApiError::not_found(format!(
        "no such endpoint: {} {}",
        request.method(),
        request.uri().path()
    ))
    .into_response()
}

/// A 200 answer with a JSON body.
fn json_response(body: Vec<u8>) -> Response {
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

/// A 200 list answer with `X-Total-Count`.
fn list_response(body: Vec<u8>, total: usize) -> Response {
    let mut response = json_response(body);
    response
        .headers_mut()
        .insert("x-total-count", HeaderValue::from(total));
    response
}
