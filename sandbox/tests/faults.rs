//! Rate limiting and every injected fault.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant, SystemTime};

use common::{config, start};
use ecommerce_sandbox::{Faults, RateLimit, SandboxConfig};
use reqwest::StatusCode;

#[tokio::test]
async fn the_token_bucket_answers_429_with_retry_after_and_rate_headers() {
    let (sandbox, client) = start(SandboxConfig {
        rate_limit: RateLimit {
            requests_per_second: 1.0,
            burst: 3,
        },
        ..config()
    })
    .await;
    let mut remaining = Vec::new();
    for _ in 0..3 {
        let answer = client.ok("/v1/orders?limit=1").await;
        assert_eq!(answer.header("x-ratelimit-limit"), Some("3"));
        let reset: i64 = answer.header("x-ratelimit-reset").unwrap().parse().unwrap();
        assert!(reset >= chrono::Utc::now().timestamp());
        remaining.push(answer.header("x-ratelimit-remaining").unwrap().to_owned());
    }
    assert_eq!(remaining, ["2", "1", "0"]);
    let limited = client.get("/v1/orders?limit=1").await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.error_code(), "rate_limited");
    assert_eq!(limited.header("retry-after"), Some("1"));
    assert_eq!(limited.header("x-ratelimit-remaining"), Some("0"));
    // Health needs no credentials and is not limited.
    let health = client
        .http
        .get(format!("{}/v1/health", client.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    assert!(health.headers().get("x-ratelimit-limit").is_none());
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    client.ok("/v1/orders?limit=1").await;
    sandbox.shutdown().await;
}

#[tokio::test]
async fn injected_429s_carry_retry_after_in_seconds_or_as_an_http_date() {
    let (sandbox, client) = start(config()).await;
    sandbox.set_faults(Faults {
        status_429_every: Some(2),
        retry_after_seconds: 2,
        ..Faults::default()
    });
    client.ok("/v1/products").await;
    let limited = client.get("/v1/products").await;
    assert_eq!(
        (limited.status, limited.error_code()),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
    );
    assert_eq!(limited.header("retry-after"), Some("2"));
    assert!(limited.header("x-ratelimit-limit").is_some());

    sandbox.set_faults(Faults {
        status_429_every: Some(1),
        retry_after_http_date: true,
        retry_after_seconds: 2,
        ..Faults::default()
    });
    let dated = client.get("/v1/products").await;
    let at = httpdate::parse_http_date(dated.header("retry-after").unwrap()).unwrap();
    let ahead = at.duration_since(SystemTime::now()).unwrap();
    assert!(
        ahead > Duration::from_secs(1) && ahead <= Duration::from_secs(3),
        "{ahead:?}"
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn every_nth_data_request_fails_with_the_configured_status() {
    let (sandbox, client) = start(config()).await;
    for (faults, status, code) in [
        (
            Faults {
                status_500_every: Some(3),
                ..Faults::default()
            },
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
        ),
        (
            Faults {
                status_503_every: Some(3),
                ..Faults::default()
            },
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
        ),
    ] {
        sandbox.set_faults(faults);
        let mut failed = Vec::new();
        for i in 0..6 {
            let answer = client.get("/v1/customers?limit=1").await;
            if answer.status != StatusCode::OK {
                assert_eq!((answer.status, answer.error_code()), (status, code));
                failed.push(i);
            }
        }
        assert_eq!(failed, [2, 5]);
    }
    // When several faults are due, the first in field order wins.
    sandbox.set_faults(Faults {
        status_500_every: Some(1),
        status_503_every: Some(1),
        ..Faults::default()
    });
    assert_eq!(client.get("/v1/orders").await.error_code(), "internal");
    // The account check is not a data request: faults never hit it.
    client.ok("/v1/account").await;
    sandbox.shutdown().await;
}

#[tokio::test]
async fn bad_gateway_comes_with_an_html_body() {
    let (sandbox, client) = start(config()).await;
    sandbox.set_faults(Faults {
        status_502_html_every: Some(1),
        ..Faults::default()
    });
    let response = client
        .http
        .get(format!("{}/v1/orders", client.base))
        .bearer_auth(common::API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(response.headers().get("x-request-id").is_some());
    let body = response.text().await.unwrap();
    assert!(body.contains("<html>") && serde_json::from_str::<serde_json::Value>(&body).is_err());
    sandbox.shutdown().await;
}

#[tokio::test]
async fn truncated_bodies_break_off_mid_json_with_both_framings() {
    let (sandbox, client) = start(config()).await;
    sandbox.set_faults(Faults {
        truncated_every: Some(1),
        ..Faults::default()
    });
    let mut framings = Vec::new();
    for _ in 0..2 {
        let response = client
            .http
            .get(format!("{}/v1/orders?limit=50", client.base))
            .bearer_auth(common::API_KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        framings.push(response.headers().get("content-length").is_some());
        assert!(
            response.bytes().await.is_err(),
            "the body must not arrive whole"
        );
    }
    assert_eq!(
        framings,
        [true, false],
        "first Content-Length, then chunked"
    );
    sandbox.set_faults(Faults::default());
    client.ok("/v1/orders?limit=50").await;
    sandbox.shutdown().await;
}

#[tokio::test]
async fn slow_answers_arrive_after_the_delay() {
    let (sandbox, client) = start(config()).await;
    sandbox.set_faults(Faults {
        slow_every: Some(2),
        slow_delay: Duration::from_millis(400),
        ..Faults::default()
    });
    let started = Instant::now();
    client.ok("/v1/products").await;
    assert!(started.elapsed() < Duration::from_millis(300));
    let started = Instant::now();
    client.ok("/v1/products").await;
    assert!(started.elapsed() >= Duration::from_millis(400));
    sandbox.shutdown().await;
}

#[tokio::test]
async fn forbidden_streams_answer_403_while_others_work() {
    let (sandbox, client) = start(config()).await;
    sandbox.set_faults(Faults {
        forbidden_streams: BTreeSet::from(["customers".to_owned()]),
        ..Faults::default()
    });
    let forbidden = client.get("/v1/customers").await;
    assert_eq!(
        (forbidden.status, forbidden.error_code()),
        (StatusCode::FORBIDDEN, "forbidden")
    );
    client.ok("/v1/orders?limit=1").await;
    assert_eq!(sandbox.faults().forbidden_streams.len(), 1);
    sandbox.shutdown().await;
}
