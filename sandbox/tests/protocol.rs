//! Protocol-level behaviour: mixed offsets, request ids, the request log,
//! health, HTTP/2.

mod common;

use std::collections::HashSet;

use common::{by_id, config, start};
use ecommerce_sandbox::SandboxConfig;
use reqwest::StatusCode;
use serde_json::Value;

/// Re-renders every RFC 3339 instant string (with a time part) in UTC `Z`.
fn canonical(value: &Value) -> Value {
    match value {
        Value::String(s) if s.len() >= 20 && s.as_bytes()[10] == b'T' => {
            chrono::DateTime::parse_from_rfc3339(s)
                .map(|t| {
                    Value::String(
                        t.to_utc()
                            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    )
                })
                .unwrap_or_else(|_| value.clone())
        }
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), canonical(v))).collect())
        }
        other => other.clone(),
    }
}

#[tokio::test]
async fn mixed_offsets_render_the_same_instants_as_the_oracle() {
    let (sandbox, client) = start(SandboxConfig {
        mixed_offsets: true,
        ..config()
    })
    .await;
    let oracle = sandbox.oracle();
    let orders = client
        .walk_pages("/v1/orders?limit=200&include_deleted=true")
        .await;
    let offsets: HashSet<String> = orders
        .iter()
        .map(|o| o["updated_at"].as_str().unwrap()[19..].to_owned())
        .collect();
    assert!(offsets.len() > 3, "several offsets are used: {offsets:?}");
    assert!(offsets.contains("Z"));
    let normalized: Vec<Value> = orders.iter().map(canonical).collect();
    assert_eq!(by_id(&normalized, "id"), oracle.orders);
    let customers = client
        .walk_keyset("/v1/customers?limit=50&include_deleted=true")
        .await;
    let normalized: Vec<Value> = customers.iter().map(canonical).collect();
    assert_eq!(by_id(&normalized, "id"), oracle.customers);
    let account = client.ok("/v1/account").await;
    assert_eq!(
        canonical(&account.body)["created_at"],
        "2022-11-03T09:15:00Z"
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn every_response_has_a_unique_request_id_and_is_logged_in_order() {
    let (sandbox, client) = start(config()).await;
    let mut ids = Vec::new();
    for path in [
        "/v1/health",
        "/v1/orders?limit=1",
        "/v1/nowhere",
        "/v1/orders?bogus=1",
    ] {
        let answer = client.get(path).await;
        ids.push(
            answer
                .header("x-request-id")
                .expect("X-Request-Id")
                .to_owned(),
        );
    }
    let unauthenticated = client.with_bearer("nope").get("/v1/orders").await;
    ids.push(unauthenticated.header("x-request-id").unwrap().to_owned());
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), ids.len());

    let log = sandbox.request_log();
    let logged: Vec<(&str, &str, u16, &str)> = log
        .iter()
        .map(|r| {
            (
                r.path.as_str(),
                r.query.as_str(),
                r.status,
                r.request_id.as_str(),
            )
        })
        .collect();
    assert_eq!(
        logged,
        [
            ("/v1/health", "", 200, ids[0].as_str()),
            ("/v1/orders", "limit=1", 200, ids[1].as_str()),
            ("/v1/nowhere", "", 404, ids[2].as_str()),
            ("/v1/orders", "bogus=1", 400, ids[3].as_str()),
            ("/v1/orders", "", 401, ids[4].as_str()),
        ]
    );
    assert!(log.windows(2).all(|w| w[0].at <= w[1].at));
    assert!(log.iter().all(|r| r.method == "GET"));
    sandbox.shutdown().await;
}

#[tokio::test]
async fn health_needs_no_credentials() {
    let (sandbox, client) = start(config()).await;
    let response = client
        .http
        .get(format!("{}/v1/health", client.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        serde_json::json!({"status": "ok"})
    );
    assert!(!sandbox.url().ends_with('/'));
    sandbox.shutdown().await;
}

#[tokio::test]
async fn http2_with_prior_knowledge_is_served() {
    let (sandbox, _) = start(config()).await;
    let client = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let response = client
        .get(format!("{}/v1/orders?limit=5", sandbox.url()))
        .bearer_auth(common::API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"].as_array().unwrap().len(), 5);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn the_sandbox_answers_while_the_callers_runtime_is_blocked() {
    use std::io::{Read as _, Write as _};
    let (sandbox, _) = start(config()).await;
    // Blocking I/O on this single-threaded test runtime, as a test waiting
    // for a connector process with std::process::Command would do.
    let mut stream = std::net::TcpStream::connect(sandbox.addr()).unwrap();
    stream
        .write_all(b"GET /v1/health HTTP/1.1\r\nHost: sandbox\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    assert!(response.ends_with(r#"{"status":"ok"}"#));
    drop(sandbox); // dropping without shutdown inside a runtime must not panic
}

#[tokio::test]
async fn a_busy_port_is_an_error_not_a_panic() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let result = ecommerce_sandbox::Sandbox::start_on(config(), taken.local_addr().unwrap()).await;
    let error = result.expect_err("the port is taken");
    assert!(format!("{error:#}").contains("cannot listen"), "{error:#}");
}

#[tokio::test]
async fn a_list_asked_for_gzip_comes_compressed_and_inflates_to_the_same_page() {
    use std::io::Read as _;
    let (sandbox, client) = start(config()).await;
    let url = format!("{}/v1/orders?limit=200", sandbox.url());
    let plain = client.ok("/v1/orders?limit=200").await.body;
    let response = client
        .http
        .get(&url)
        .bearer_auth(&client.bearer)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-encoding"], "gzip");
    let length: usize = response.headers()["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let wire = response.bytes().await.unwrap();
    assert_eq!(wire.len(), length, "Content-Length is the compressed size");
    let mut inflated = String::new();
    flate2::read::GzDecoder::new(&wire[..])
        .read_to_string(&mut inflated)
        .unwrap();
    assert!(
        wire.len() * 4 < inflated.len(),
        "{} of {}",
        wire.len(),
        inflated.len()
    );
    assert_eq!(serde_json::from_str::<Value>(&inflated).unwrap(), plain);
}

#[tokio::test]
async fn with_compression_off_a_request_for_gzip_gets_the_plain_body() {
    let (sandbox, client) = start(SandboxConfig {
        compression: false,
        ..config()
    })
    .await;
    let response = client
        .http
        .get(format!("{}/v1/orders?limit=5", sandbox.url()))
        .bearer_auth(&client.bearer)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert!(response.headers().get("content-encoding").is_none());
    let body: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    assert_eq!(body["data"].as_array().unwrap().len(), 5);
}

#[tokio::test]
async fn other_encodings_are_ignored_and_the_body_is_sent_as_is() {
    let (sandbox, client) = start(config()).await;
    let response = client
        .http
        .get(format!("{}/v1/orders?limit=5", sandbox.url()))
        .bearer_auth(&client.bearer)
        .header("accept-encoding", "br")
        .send()
        .await
        .unwrap();
    assert!(response.headers().get("content-encoding").is_none());
    let body: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    assert_eq!(body["data"].as_array().unwrap().len(), 5);
}

#[tokio::test]
async fn the_latency_knob_delays_every_answer() {
    let (sandbox, _) = start(SandboxConfig {
        latency: std::time::Duration::from_millis(120),
        ..config()
    })
    .await;
    let started = std::time::Instant::now();
    let health = reqwest::get(format!("{}/v1/health", sandbox.url()))
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    assert!(started.elapsed() >= std::time::Duration::from_millis(120));
}
