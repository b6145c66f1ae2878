//! `POST /v1/oauth/token` and `POST /v1/auth/token`.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::error::ApiError;
use super::json_response;
use super::query::Params;
use crate::app::App;
use crate::auth::SignedRequest;
use crate::timefmt;

/// OAuth 2.0 client credentials grant (RFC 6749 §4.4).
pub(crate) async fn oauth(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    if let Err(e) = Params::parse(query.as_deref(), &[]) {
        return e.into_response();
    }
    let basic = header_str(&headers, header::AUTHORIZATION.as_str())
        .filter(|h| h.get(..6).is_some_and(|p| p.eq_ignore_ascii_case("basic ")));
    match app.auth.issue_oauth(&body, basic, Instant::now()) {
        Ok(issued) => token_response(&OAuthToken {
            access_token: &issued.access_token,
            token_type: "Bearer",
            expires_in: issued.expires_in,
        }),
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// Signed token exchange: `API-Key`, `API-Timestamp`, `API-Signature`.
pub(crate) async fn signed(
    State(app): State<Arc<App>>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    if let Err(e) = Params::parse(query.as_deref(), &[]) {
        return e.into_response();
    }
    let request = SignedRequest {
        key_id: header_str(&headers, "api-key"),
        timestamp: header_str(&headers, "api-timestamp"),
        signature: header_str(&headers, "api-signature"),
        method: method.as_str(),
        body: &body,
    };
    match app
        .auth
        .issue_signed(&request, timefmt::now_secs(), Instant::now())
    {
        Ok(issued) => token_response(&SignedToken {
            access_token: &issued.access_token,
            expires_in: issued.expires_in,
        }),
        Err(e) => ApiError::from(e).into_response(),
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Answer of `POST /v1/oauth/token`.
#[derive(Serialize)]
struct OAuthToken<'a> {
    access_token: &'a str,
    token_type: &'static str,
    expires_in: u64,
}

/// Answer of `POST /v1/auth/token`.
#[derive(Serialize)]
struct SignedToken<'a> {
    access_token: &'a str,
    expires_in: u64,
}

/// Token answers must not be cached (RFC 6749 §5.1).
fn token_response(body: &impl Serialize) -> Response {
    let mut response = json_response(serde_json::to_vec(body).expect("token answers serialize"));
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
