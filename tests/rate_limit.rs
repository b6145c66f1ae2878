//! The request rate: the configured cap is never exceeded, and the API's own
//! limit is met without a storm of 429s.

mod common;

use std::time::Duration;

use common::*;
use ecommerce_sandbox::{RateLimit, SandboxConfig};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn requests_per_second_is_never_exceeded_over_a_sustained_read() {
    let sandbox = sandbox(small(60)).await;
    let cap = 10.0;
    let config = with(
        api_key_config(&sandbox),
        json!({"requests_per_second": cap, "page_size": 50, "max_concurrency": 4}),
    );

    let output = read(
        &config,
        &catalog(&["orders", "customers"], "full_refresh"),
        None,
    )
    .await;

    output.assert_success();
    let mut times: Vec<_> = sandbox
        .request_log()
        .into_iter()
        .filter(|r| r.path != "/v1/health")
        .map(|r| r.at)
        .collect();
    times.sort();
    assert!(
        times.len() > 40,
        "a sustained read: {} requests",
        times.len()
    );
    let n = cap as usize;
    // Any n + 1 consecutive requests span at least a second (less a little
    // for the gap between the client sending and the server logging).
    for window in times.windows(n + 1) {
        let span = window[n].duration_since(window[0]).unwrap();
        assert!(
            span >= Duration::from_millis(950),
            "{} requests in {span:?}",
            n + 1
        );
    }
    let elapsed = times
        .last()
        .unwrap()
        .duration_since(times[0])
        .unwrap()
        .as_secs_f64();
    let rate = (times.len() - 1) as f64 / elapsed;
    assert!(rate >= 0.8 * cap, "the cap was reached: {rate:.1}/s");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_apis_own_limit_is_followed_with_few_429s() {
    let sandbox = sandbox(SandboxConfig {
        rate_limit: RateLimit {
            requests_per_second: 20.0,
            burst: 40,
        },
        ..small(61)
    })
    .await;
    let config = with(api_key_config(&sandbox), json!({"page_size": 20}));

    let output = read(&config, &catalog(&["orders"], "full_refresh"), None).await;

    output.assert_success();
    let log = sandbox.request_log();
    let throttled = log.iter().filter(|r| r.status == 429).count();
    assert!(log.len() > 150, "{} requests", log.len());
    assert!(
        throttled <= 3,
        "{throttled} answers were 429 out of {}",
        log.len()
    );
    assert_matches_truth(
        "orders",
        &latest_by_key("orders", output.records("orders")),
        &truth(&sandbox.oracle(), "orders", true),
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn alone_on_the_credential_the_bucket_is_paced_without_a_429() {
    read_alone_on_the_default_bucket(62, Duration::ZERO).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn alone_on_the_credential_over_a_slow_network_the_bucket_is_paced_without_a_429() {
    // Each answer takes 50 ms: the refill of a round trip is credited to
    // the limiter's belief, and must not make it take a token too many.
    read_alone_on_the_default_bucket(64, Duration::from_millis(50)).await;
}

/// Reads the orders of sandbox `seed`, answering after `latency`, alone on
/// the contract's default bucket: more than 60 requests, none answered 429.
async fn read_alone_on_the_default_bucket(seed: u64, latency: Duration) {
    let sandbox = sandbox(SandboxConfig {
        rate_limit: RateLimit {
            requests_per_second: 20.0,
            burst: 40,
        },
        latency,
        ..small(seed)
    })
    .await;
    let config = with(api_key_config(&sandbox), json!({"page_size": 20}));

    let output = read(&config, &catalog(&["orders"], "full_refresh"), None).await;

    output.assert_success();
    let log = sandbox.request_log();
    assert!(log.len() > 60, "{} requests", log.len());
    let throttled = log.iter().filter(|r| r.status == 429).count();
    assert_eq!(throttled, 0, "of {} requests", log.len());
}

#[tokio::test(flavor = "multi_thread")]
async fn another_client_on_the_credential_slows_the_read_down_instead_of_provoking_429s() {
    let sandbox = sandbox(SandboxConfig {
        rate_limit: RateLimit {
            requests_per_second: 20.0,
            burst: 40,
        },
        ..small(63)
    })
    .await;
    // Another client spends 8 of the 20 tokens a second on the same key.
    let (url, key) = (sandbox.url(), sandbox.credentials().api_key.clone());
    let other = tokio::spawn(async move {
        let http = reqwest::Client::new();
        let mut tick = tokio::time::interval(Duration::from_millis(125));
        loop {
            tick.tick().await;
            let _ = http
                .get(format!("{url}/v1/account"))
                .bearer_auth(&key)
                .send()
                .await;
        }
    });
    let config = with(api_key_config(&sandbox), json!({"page_size": 20}));

    let output = read(&config, &catalog(&["orders"], "full_refresh"), None).await;
    other.abort();

    output.assert_success();
    let ours: Vec<_> = sandbox
        .request_log()
        .into_iter()
        .filter(|r| r.path == "/v1/orders")
        .collect();
    let throttled = ours.iter().filter(|r| r.status == 429).count();
    assert!(
        throttled <= 2,
        "{throttled} of our {} requests were 429",
        ours.len()
    );
}
