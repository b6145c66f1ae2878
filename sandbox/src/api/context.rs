//! Per-request context: the `X-Request-Id` and the request log.

use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

use super::compress;
use crate::app::App;
use crate::requestlog::LoggedRequest;

/// The request's sequence number, for handlers (seeds its offset choices).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RequestSeq(pub u64);

/// Middleware: gives every response (errors and health too) a unique
/// `X-Request-Id`, records the request in the log, delays the answer by the
/// configured latency and gzip-compresses it when the request accepts gzip.
pub(crate) async fn request_context(
    State(app): State<Arc<App>>,
    mut request: Request,
    next: Next,
) -> Response {
    let at = SystemTime::now();
    let (seq, request_id) = app.log.next_id();
    let method = request.method().to_string();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().unwrap_or_default().to_owned();
    request.extensions_mut().insert(RequestSeq(seq));
    let gzip = app.compression && compress::accepts_gzip(request.headers());
    let mut response = next.run(request).await;
    if gzip {
        response = compress::gzip(response).await;
    }
    if !app.latency.is_zero() {
        tokio::time::sleep(app.latency).await;
    }
    response.headers_mut().insert(
        "x-request-id",
        HeaderValue::from_str(&request_id).expect("request ids are ASCII"),
    );
    app.log.record(LoggedRequest {
        at,
        method,
        path,
        query,
        status: response.status().as_u16(),
        request_id,
    });
    response
}
