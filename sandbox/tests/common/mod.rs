//! Helpers shared by the HTTP-level tests.

#![allow(dead_code)] // each test binary uses a different subset

use ecommerce_sandbox::{RateLimit, Sandbox, SandboxConfig, Sizes};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;

/// The default API key.
pub const API_KEY: &str = "sk_test_sandbox_0123456789";

/// Small data, no rate limit: tests that are not about limits make many requests.
pub fn config() -> SandboxConfig {
    SandboxConfig {
        rate_limit: RateLimit::disabled(),
        sizes: Sizes {
            customers: 120,
            products: 30,
            orders: 700,
            order_events: 1_500,
        },
        ..SandboxConfig::default()
    }
}

/// A started sandbox and a client with the API key.
pub async fn start(config: SandboxConfig) -> (Sandbox, Client) {
    let sandbox = Sandbox::start(config).await.expect("sandbox starts");
    let client = Client::new(&sandbox.url(), API_KEY);
    (sandbox, client)
}

/// A JSON answer.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    /// A header as a string.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// `X-Total-Count` as a number.
    pub fn total(&self) -> usize {
        self.header("x-total-count")
            .expect("list answers carry X-Total-Count")
            .parse()
            .unwrap()
    }

    /// The `error.code` of an error answer.
    pub fn error_code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or_default()
    }
}

/// A client bound to a base URL and a bearer token.
#[derive(Clone, Debug)]
pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    pub bearer: String,
}

impl Client {
    pub fn new(base: &str, bearer: &str) -> Client {
        Client {
            http: reqwest::Client::new(),
            base: base.to_owned(),
            bearer: bearer.to_owned(),
        }
    }

    /// The same server with another bearer token.
    pub fn with_bearer(&self, bearer: &str) -> Client {
        Client {
            bearer: bearer.to_owned(),
            ..self.clone()
        }
    }

    /// `GET base + path_and_query` with the bearer token.
    pub async fn get(&self, path_and_query: &str) -> Answer {
        let response = self
            .http
            .get(format!("{}{path_and_query}", self.base))
            .bearer_auth(&self.bearer)
            .send()
            .await
            .expect("request is answered");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body arrives");
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Answer {
            status,
            headers,
            body,
        }
    }

    /// `GET` that must answer 200.
    pub async fn ok(&self, path_and_query: &str) -> Answer {
        let answer = self.get(path_and_query).await;
        assert_eq!(
            answer.status,
            StatusCode::OK,
            "{path_and_query}: {:?}",
            answer.body
        );
        answer
    }

    /// Every record of a keyset list (`/v1/customers?...`), following page tokens.
    pub async fn walk_keyset(&self, path_and_query: &str) -> Vec<Value> {
        let sep = if path_and_query.contains('?') {
            '&'
        } else {
            '?'
        };
        let mut records = Vec::new();
        let mut answer = self.ok(path_and_query).await;
        loop {
            records.extend(answer.body["data"].as_array().unwrap().iter().cloned());
            match answer.body["next_page_token"].as_str() {
                Some(token) => {
                    answer = self
                        .ok(&format!("{path_and_query}{sep}page_token={token}"))
                        .await
                }
                None => return records,
            }
        }
    }

    /// Every record of a page-number list, incrementing `page` until `has_more` is false.
    pub async fn walk_pages(&self, path_and_query: &str) -> Vec<Value> {
        let sep = if path_and_query.contains('?') {
            '&'
        } else {
            '?'
        };
        let mut records = Vec::new();
        for page in 1.. {
            let answer = self.ok(&format!("{path_and_query}{sep}page={page}")).await;
            records.extend(answer.body["data"].as_array().unwrap().iter().cloned());
            if !answer.body["has_more"].as_bool().unwrap() {
                break;
            }
        }
        records
    }
}

/// Records keyed by their id property.
pub fn by_id(records: &[Value], id_field: &str) -> std::collections::BTreeMap<String, Value> {
    records
        .iter()
        .map(|r| (r[id_field].as_str().unwrap().to_owned(), r.clone()))
        .collect()
}

/// Unix seconds of an RFC 3339 instant.
pub fn instant(value: &Value) -> i64 {
    chrono::DateTime::parse_from_rfc3339(value.as_str().expect("instants are strings"))
        .expect("valid RFC 3339")
        .timestamp()
}
