//! Cutting a successful answer off mid-body, as an overloaded proxy would.

use std::io;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, header};
use axum::response::Response;
use futures_util::StreamExt as _;
use futures_util::stream;

use crate::faults::Truncation;

/// Pause between the partial body and the abort, so the server flushes the
/// partial body to the client before it drops the connection.
const FLUSH_PAUSE: Duration = Duration::from_millis(20);

/// `response` with only the first half of its body sent, then the connection
/// aborted. With [`Truncation::ContentLength`] the header still promises the
/// full length; with [`Truncation::Chunked`] the final chunk never comes.
pub(crate) async fn cut_off(response: Response, mode: Truncation) -> Response {
    let (mut parts, body) = response.into_parts();
    // Bodies of this server are in memory already; collecting cannot fail.
    let full = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let prefix: Bytes = full.slice(..full.len() / 2);
    parts.headers.remove(header::CONTENT_LENGTH);
    if mode == Truncation::ContentLength {
        parts
            .headers
            .insert(header::CONTENT_LENGTH, HeaderValue::from(full.len()));
    }
    let abort = stream::once(async {
        tokio::time::sleep(FLUSH_PAUSE).await;
        Err::<Bytes, io::Error>(io::Error::new(
            io::ErrorKind::ConnectionAborted,
            "injected truncation",
        ))
    });
    let body = stream::once(async move { Ok::<Bytes, io::Error>(prefix) }).chain(abort);
    Response::from_parts(parts, Body::from_stream(body))
}
