//! Riding through every fault of the contract: the sync completes with
//! exactly the truth, and says what it retried and why. Faults that
//! retrying cannot fix stop at once with a clear error.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::*;
use ecommerce_sandbox::{Faults, Sandbox, SandboxConfig};
use serde_json::{Value, json};

fn patient(sandbox: &Sandbox) -> Value {
    with(
        api_key_config(sandbox),
        json!({"max_retries": 8, "max_retry_seconds": 120}),
    )
}

async fn with_faults(seed: u64, faults: Faults) -> Sandbox {
    sandbox(SandboxConfig {
        faults,
        ..small(seed)
    })
    .await
}

/// Reads every stream and checks the output against the truth.
async fn read_everything(sandbox: &Sandbox, config: &Value) -> Output {
    let output = read(config, &catalog(&STREAMS, "incremental"), None).await;
    output.assert_success();
    let oracle = sandbox.oracle();
    for stream in STREAMS {
        assert_matches_truth(
            stream,
            &latest_by_key(stream, output.records(stream)),
            &truth(&oracle, stream, true),
        );
    }
    output
}

fn rate_limited_statuses(output: &Output) -> Vec<&Value> {
    output
        .traces("STREAM_STATUS")
        .filter(|t| t["stream_status"]["reasons"][0]["type"] == "RATE_LIMITED")
        .collect()
}

/// A fault of the contract that a sync must ride out: the read of every
/// stream still equals the truth, and a LOG of `level` says what was retried.
struct RideThrough {
    seed: u64,
    faults: Faults,
    /// Config keys on top of [`patient`].
    config: Value,
    level: &'static str,
    /// Each entry: words that one log line holds together.
    says: &'static [&'static [&'static str]],
}

impl RideThrough {
    fn new(seed: u64, faults: Faults) -> Self {
        RideThrough {
            seed,
            faults,
            config: json!({}),
            level: "WARN",
            says: &[],
        }
    }

    async fn run(self) -> Output {
        let sandbox = with_faults(self.seed, self.faults).await;
        let config = with(patient(&sandbox), self.config);
        let output = read_everything(&sandbox, &config).await;
        let logs = output.logs(self.level);
        for words in self.says {
            assert!(
                logs.iter().any(|l| words.iter().all(|w| l.contains(w))),
                "a {} log saying {words:?}: {logs:?}",
                self.level
            );
        }
        output
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_429_with_retry_after_in_seconds_is_waited_out_and_reported() {
    let faults = Faults {
        status_429_every: Some(4),
        retry_after_seconds: 1,
        ..Faults::default()
    };
    let output = RideThrough {
        level: "INFO",
        says: &[&["429"]],
        ..RideThrough::new(40, faults)
    }
    .run()
    .await;

    let statuses = rate_limited_statuses(&output);
    assert!(!statuses.is_empty(), "RUNNING with reason RATE_LIMITED");
    assert_eq!(statuses[0]["stream_status"]["status"], "RUNNING");
    assert!(statuses[0]["stream_status"]["reasons"][0]["rate_limited"]["quota_reset"].is_i64());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_429_with_retry_after_as_an_http_date_is_waited_out() {
    let faults = Faults {
        status_429_every: Some(4),
        retry_after_http_date: true,
        retry_after_seconds: 1,
        ..Faults::default()
    };
    let output = RideThrough::new(41, faults).run().await;

    assert!(!rate_limited_statuses(&output).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn server_errors_are_retried_with_backoff() {
    let faults = Faults {
        status_500_every: Some(3),
        status_503_every: Some(5),
        ..Faults::default()
    };
    RideThrough {
        says: &[&["500", "retry"], &["503"]],
        ..RideThrough::new(42, faults)
    }
    .run()
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_502_with_an_html_body_is_retried() {
    let faults = Faults {
        status_502_html_every: Some(3),
        ..Faults::default()
    };
    RideThrough {
        says: &[&["502", "HTML"]],
        ..RideThrough::new(43, faults)
    }
    .run()
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_cut_off_mid_json_is_retried() {
    let faults = Faults {
        truncated_every: Some(3),
        ..Faults::default()
    };
    let output = RideThrough::new(44, faults).run().await;

    assert!(
        output
            .logs("WARN")
            .iter()
            .any(|w| w.contains("cut off") || w.contains("ends early")),
        "{:?}",
        output.logs("WARN")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_answer_slower_than_the_request_timeout_is_retried() {
    let faults = Faults {
        slow_every: Some(5),
        slow_delay: Duration::from_millis(2500),
        ..Faults::default()
    };
    RideThrough {
        config: json!({"request_timeout_seconds": 1}),
        says: &[&["timed out"]],
        ..RideThrough::new(45, faults)
    }
    .run()
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn revoked_tokens_are_renewed_and_the_request_repeated() {
    let sandbox = with_faults(
        46,
        Faults {
            revoke_token_every: Some(4),
            ..Faults::default()
        },
    )
    .await;
    for (method, config) in auth_configs(&sandbox).into_iter().skip(1) {
        let output = read_everything(&sandbox, &config).await;
        assert!(
            output.logs("INFO").iter().any(|l| l.contains("renewing")),
            "{method}: {:?}",
            output.logs("INFO")
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_of_failures_opens_the_circuit_breaker_instead_of_retrying_every_page() {
    // The window probe succeeds, then every request fails.
    let sandbox = with_faults(
        47,
        Faults {
            status_503_every: Some(1),
            after_requests: 1,
            ..Faults::default()
        },
    )
    .await;
    let (walkers, max_retries) = (8, 3);
    let config = with(
        api_key_config(&sandbox),
        json!({"max_retries": max_retries, "max_retry_seconds": 60, "page_size": 10, "max_concurrency": walkers}),
    );

    let output = read(&config, &catalog(&["orders"], "full_refresh"), None).await;

    assert_ne!(output.code, 0);
    let error = &output.errors()[0];
    assert_eq!(error["failure_type"], "transient_error");
    // Whether a probe's own retries or the breaker's probes run out first,
    // the error carries the last failure's details.
    assert!(
        error["internal_message"]
            .as_str()
            .unwrap()
            .contains("X-Request-Id"),
        "{error}"
    );
    let failed = sandbox
        .request_log()
        .iter()
        .filter(|r| r.path == "/v1/orders" && r.status == 503)
        .count();
    // Without the breaker every walker spends its own budget: 8 x 4 = 32
    // failed requests. With it: the run that opens it (4), the requests
    // already in flight then (at most 7), and 3 failed probes.
    let bound = (max_retries + 1) + (walkers - 1) + max_retries;
    assert!(failed <= bound, "{failed} failed requests, bound {bound}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_circuit_breaker_holds_requests_through_a_burst_and_the_sync_completes() {
    // The window probe succeeds, then every request fails until the API
    // recovers.
    let sandbox = with_faults(
        49,
        Faults {
            status_503_every: Some(1),
            after_requests: 1,
            ..Faults::default()
        },
    )
    .await;
    let config = with(
        api_key_config(&sandbox),
        json!({"max_retries": 3, "max_retry_seconds": 60, "page_size": 50, "max_concurrency": 4}),
    );
    // The API recovers once the breaker has opened (4 failures in a row)
    // and its first probe failed too.
    let recover = async {
        let failures = || {
            sandbox
                .request_log()
                .iter()
                .filter(|r| r.status == 503)
                .count()
        };
        let _ = tokio::time::timeout(Duration::from_secs(20), async {
            while failures() < 5 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
        sandbox.set_faults(Faults::default());
    };

    let orders = catalog(&["orders"], "full_refresh");

    let (output, ()) = tokio::join!(read(&config, &orders, None), recover);

    output.assert_success();
    assert_matches_truth(
        "orders",
        &latest_by_key("orders", output.records("orders")),
        &truth(&sandbox.oracle(), "orders", true),
    );
    assert!(
        output
            .logs("WARN")
            .iter()
            .any(|l| l.contains("circuit breaker open")),
        "{:?}",
        output.logs("WARN")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_credentials_fail_the_read_at_once_naming_the_field() {
    let sandbox = sandbox(small(48)).await;
    let cases = [
        (
            json!({"auth_type": "api_key", "api_key": "sk_nope"}),
            "credentials.api_key",
        ),
        (
            json!({"auth_type": "oauth2_client_credentials", "client_id": "x", "client_secret": "y"}),
            "credentials.client_id and credentials.client_secret",
        ),
        (
            json!({"auth_type": "signed_token", "key_id": "x", "api_secret": "y"}),
            "credentials.key_id and credentials.api_secret",
        ),
    ];
    // The API's clock comes from /v1/health, which takes no credentials.
    let with_credentials = || {
        sandbox
            .request_log()
            .iter()
            .filter(|r| r.path != "/v1/health")
            .count()
    };
    for (credentials, field) in cases {
        let before = with_credentials();
        let config = with(
            api_key_config(&sandbox),
            json!({"credentials": credentials}),
        );

        let output = read(&config, &catalog(&STREAMS, "full_refresh"), None).await;

        assert_ne!(output.code, 0);
        let errors = output.errors();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0]["failure_type"], "config_error");
        assert!(
            errors[0]["message"].as_str().unwrap().contains(field),
            "{errors:?}"
        );
        assert_eq!(
            with_credentials() - before,
            1,
            "{field}: one request with the credentials, no retries"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn clock_skew_says_that_the_clock_is_off() {
    let (url, requests) = fixed_server(
        401,
        "application/json",
        r#"{"error":{"code":"clock_skew","message":"timestamp too far from server time"}}"#,
    )
    .await;
    let config = json!({
        "base_url": url,
        "credentials": {"auth_type": "signed_token", "key_id": "k", "api_secret": "s"},
    });

    let output = read(&config, &catalog(&["orders"], "full_refresh"), None).await;

    assert_ne!(output.code, 0);
    let error = output.errors()[0];
    assert_eq!(error["failure_type"], "config_error");
    assert!(
        error["message"].as_str().unwrap().contains("clock"),
        "{error}"
    );
    assert_eq!(requests.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rejected_request_is_a_system_error_without_retries() {
    let (url, requests) = fixed_server(
        400,
        "application/json",
        r#"{"error":{"code":"invalid_parameter","message":"unknown parameter: frobnicate"}}"#,
    )
    .await;
    let config = json!({
        "base_url": url,
        "credentials": {"auth_type": "api_key", "api_key": "k"},
    });

    let output = read(&config, &catalog(&["orders"], "full_refresh"), None).await;

    assert_ne!(output.code, 0);
    let error = output.errors()[0];
    assert_eq!(error["failure_type"], "system_error");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("unknown parameter: frobnicate"),
        "{error}"
    );
    assert!(
        error["internal_message"]
            .as_str()
            .unwrap()
            .contains("req_fixed"),
        "{error}"
    );
    assert_eq!(requests.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn discover_without_permission_for_custom_fields_uses_the_static_schemas() {
    let sandbox = with_faults(
        49,
        Faults {
            forbidden_streams: ["custom_fields".to_owned()].into(),
            ..Faults::default()
        },
    )
    .await;

    let output = with_config("discover", &api_key_config(&sandbox)).await;

    output.assert_success();
    let catalog = &output.of_type("CATALOG").next().unwrap()["catalog"];
    let orders = catalog["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "orders")
        .unwrap();
    assert!(
        orders["json_schema"]["properties"]
            .get("cf_gift_wrap")
            .is_none()
    );
    assert!(output.logs("WARN").iter().any(|w| w.contains("403")));
}
