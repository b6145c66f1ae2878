//! A request to the API and its answer.

use std::time::SystemTime;

use bytes::Bytes;
use reqwest::header::{DATE, HeaderMap};

/// A GET request to the API: a path under the base URL and its query.
#[derive(Debug, Clone)]
pub struct ApiRequest<'a> {
    pub path: &'a str,
    pub query: Vec<(&'static str, String)>,
}

impl<'a> ApiRequest<'a> {
    /// A request for `path` without a query.
    pub fn new(path: &'a str) -> Self {
        ApiRequest {
            path,
            query: Vec::new(),
        }
    }

    /// Adds the query parameter `name=value`.
    pub fn param(mut self, name: &'static str, value: impl ToString) -> Self {
        self.query.push((name, value.to_string()));
        self
    }
}

/// A successful answer, body read in full.
#[derive(Debug)]
pub struct ApiResponse {
    pub status: u16,
    /// The body, decompressed.
    pub body: Bytes,
    /// What the body took on the wire (compressed, if it was).
    pub wire_bytes: usize,
    /// `X-Total-Count`: records matching the filters when the request was served.
    pub total_count: Option<u64>,
    pub request_id: Option<String>,
    pub(super) headers: HeaderMap,
}

impl ApiResponse {
    /// The server's clock when it answered (`Date` header), if it sent one.
    pub fn date(&self) -> Option<SystemTime> {
        header(&self.headers, DATE.as_str()).and_then(|d| httpdate::parse_http_date(&d).ok())
    }
}

/// What a request is, for the retry loop, its decisions and its events.
pub(super) struct Call<'a> {
    /// `GET /v1/orders`: the method and path, never the query or a secret.
    pub describe: String,
    /// The path, which keys the circuit breaker.
    pub endpoint: &'a str,
    pub stream: Option<&'a str>,
    /// True for the token request itself: a rejection there is the
    /// credentials'.
    pub token_request: bool,
}

/// A header's value, trimmed, if it is present and text.
pub(super) fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_owned())
}
