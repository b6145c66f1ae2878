//! What `read` tells the platform besides records: statuses, estimates,
//! states, errors, logs.

mod common;

use common::*;
use ecommerce_sandbox::Faults;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn only_the_streams_of_the_catalog_are_read_and_started_in_its_order() {
    let sandbox = sandbox(small(10)).await;
    let config = with(api_key_config(&sandbox), json!({"max_concurrency": 1}));

    let output = read(
        &config,
        &catalog(&["orders", "customers"], "full_refresh"),
        None,
    )
    .await;

    output.assert_success();
    assert_eq!(output.records("products").count(), 0);
    assert_eq!(output.records("order_events").count(), 0);
    let started: Vec<&str> = output
        .traces("STREAM_STATUS")
        .filter(|t| t["stream_status"]["status"] == "STARTED")
        .map(|t| {
            t["stream_status"]["stream_descriptor"]["name"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(started, ["orders", "customers"]);
    let paths: Vec<String> = sandbox.request_log().into_iter().map(|r| r.path).collect();
    assert!(
        !paths
            .iter()
            .any(|p| p.contains("products") || p.contains("order_events"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn each_stream_goes_started_running_complete_with_an_estimate_from_the_total_count() {
    let sandbox = sandbox(small(11)).await;
    let config = api_key_config(&sandbox);

    let output = read(&config, &catalog(&STREAMS, "full_refresh"), None).await;

    output.assert_success();
    let oracle = sandbox.oracle();
    for stream in STREAMS {
        let statuses = output.statuses(stream);
        assert_eq!(
            statuses.first().map(String::as_str),
            Some("STARTED"),
            "{stream}"
        );
        assert!(
            statuses.contains(&"RUNNING".to_owned()),
            "{stream}: {statuses:?}"
        );
        assert_eq!(
            statuses.last().map(String::as_str),
            Some("COMPLETE"),
            "{stream}"
        );
        let estimate = output
            .traces("ESTIMATE")
            .find(|t| t["estimate"]["name"] == stream)
            .unwrap_or_else(|| panic!("{stream} has an ESTIMATE"));
        assert_eq!(estimate["estimate"]["type"], "STREAM");
        assert_eq!(
            estimate["estimate"]["row_estimate"].as_u64().unwrap(),
            oracle.stream(stream).unwrap().len() as u64,
            "{stream}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_state_counts_the_records_since_the_previous_one_and_never_repeats_it() {
    let sandbox = sandbox(small(12)).await;
    let config = with(
        api_key_config(&sandbox),
        json!({"checkpoint_interval": 500}),
    );

    let output = read(&config, &catalog(&STREAMS, "incremental"), None).await;

    output.assert_success();
    for stream in STREAMS {
        let mut since_state = 0u64;
        let mut states = 0;
        let mut previous: Option<&serde_json::Value> = None;
        let total = output.records(stream).count();
        for message in &output.messages {
            match message["type"].as_str().unwrap() {
                "RECORD" if message["record"]["stream"] == stream => since_state += 1,
                "STATE" if message["state"]["stream"]["stream_descriptor"]["name"] == stream => {
                    assert_eq!(message["state"]["type"], "STREAM");
                    assert_eq!(
                        message["state"]["sourceStats"]["recordCount"]
                            .as_f64()
                            .unwrap(),
                        since_state as f64,
                        "{stream}"
                    );
                    let blob = &message["state"]["stream"]["stream_state"];
                    if since_state > 0 {
                        assert_ne!(
                            previous,
                            Some(blob),
                            "{stream}: a repeated state after records"
                        );
                    }
                    previous = Some(blob);
                    since_state = 0;
                    states += 1;
                }
                _ => {}
            }
        }
        assert_eq!(since_state, 0, "{stream}: records after the last state");
        if total > 1_000 {
            assert!(
                states >= 2,
                "{stream}: checkpoints every 500 records, got {states} states"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_stream_is_a_config_error_before_any_request() {
    let sandbox = sandbox(small(13)).await;
    let config = api_key_config(&sandbox);

    let output = read(
        &config,
        &catalog(&["orders", "invoices"], "full_refresh"),
        None,
    )
    .await;

    assert_ne!(output.code, 0);
    let errors = output.errors();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["failure_type"], "config_error");
    assert!(errors[0]["message"].as_str().unwrap().contains("invoices"));
    assert!(sandbox.request_log().is_empty(), "no request was sent");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_api_that_keeps_failing_ends_the_read_with_a_transient_error_naming_status_and_request_id()
 {
    let sandbox = sandbox(small(14)).await;
    sandbox.set_faults(Faults {
        status_503_every: Some(1),
        ..Faults::default()
    });
    let config = with(
        api_key_config(&sandbox),
        json!({"max_retries": 1, "max_retry_seconds": 5}),
    );

    let output = read(&config, &catalog(&["customers"], "full_refresh"), None).await;

    assert_ne!(output.code, 0);
    let errors = output.errors();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["failure_type"], "transient_error");
    let internal = errors[0]["internal_message"].as_str().unwrap();
    assert!(internal.contains("503"), "{internal}");
    assert!(internal.contains("X-Request-Id"), "{internal}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forbidden_stream_is_skipped_with_a_warning_and_the_others_complete() {
    let sandbox = sandbox(ecommerce_sandbox::SandboxConfig {
        faults: Faults {
            forbidden_streams: ["customers".to_owned()].into(),
            ..Faults::default()
        },
        ..small(15)
    })
    .await;
    let config = api_key_config(&sandbox);

    let output = read(
        &config,
        &catalog(&["customers", "orders"], "full_refresh"),
        None,
    )
    .await;

    assert_eq!(
        output.code,
        0,
        "one stream was readable: {:?}",
        output.errors()
    );
    assert_eq!(
        output.statuses("customers").last().map(String::as_str),
        Some("INCOMPLETE")
    );
    assert_eq!(
        output.statuses("orders").last().map(String::as_str),
        Some("COMPLETE")
    );
    assert!(
        output
            .logs("WARN")
            .iter()
            .any(|l| l.contains("customers") && l.contains("403"))
    );
    assert!(output.errors().is_empty());
    assert_eq!(
        output.records("orders").count(),
        sandbox.oracle().orders.len()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn when_every_stream_is_forbidden_the_read_fails() {
    let sandbox = sandbox(ecommerce_sandbox::SandboxConfig {
        faults: Faults {
            forbidden_streams: ["customers".to_owned()].into(),
            ..Faults::default()
        },
        ..small(16)
    })
    .await;

    let output = read(
        &api_key_config(&sandbox),
        &catalog(&["customers"], "full_refresh"),
        None,
    )
    .await;

    assert_ne!(output.code, 0);
    assert_eq!(output.errors()[0]["failure_type"], "config_error");
}

#[tokio::test(flavor = "multi_thread")]
async fn debug_logs_appear_only_when_asked_for() {
    let sandbox = sandbox(small(17)).await;
    let inputs = Inputs::new();
    let config = inputs.write("config.json", &api_key_config(&sandbox));
    let catalog = inputs.write("catalog.json", &catalog(&["products"], "full_refresh"));
    let args = [
        "read",
        "--config",
        config.to_str().unwrap(),
        "--catalog",
        catalog.to_str().unwrap(),
    ];

    let quiet = run(&args, &[]).await;
    let verbose = run(&args, &[("LOG_LEVEL", "debug")]).await;

    assert!(quiet.logs("DEBUG").is_empty());
    assert!(!verbose.logs("DEBUG").is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn emitted_at_is_milliseconds_since_the_epoch() {
    let sandbox = sandbox(small(18)).await;
    let before = chrono::Utc::now().timestamp_millis();

    let output = read(
        &api_key_config(&sandbox),
        &catalog(&["products"], "full_refresh"),
        None,
    )
    .await;

    let after = chrono::Utc::now().timestamp_millis();
    for message in output.of_type("RECORD") {
        let at = message["record"]["emitted_at"].as_i64().unwrap();
        assert!(
            (before..=after).contains(&at),
            "{at} not in [{before}, {after}]"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_stream_ends_with_an_error_trace_and_the_others_still_complete() {
    // Products (one page) is served; from then on every request fails.
    let sandbox = sandbox(ecommerce_sandbox::SandboxConfig {
        faults: Faults {
            status_500_every: Some(1),
            after_requests: 1,
            ..Faults::default()
        },
        ..small(19)
    })
    .await;
    let config = with(
        api_key_config(&sandbox),
        json!({"max_concurrency": 1, "max_retries": 1, "max_retry_seconds": 5}),
    );

    let output = read(
        &config,
        &catalog(&["products", "orders"], "full_refresh"),
        None,
    )
    .await;

    assert_ne!(output.code, 0);
    assert_eq!(
        output.statuses("products").last().map(String::as_str),
        Some("COMPLETE")
    );
    assert_eq!(
        output.statuses("orders").last().map(String::as_str),
        Some("INCOMPLETE")
    );
    let errors = output.errors();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["stream_descriptor"]["name"], "orders");
    assert_eq!(errors[0]["failure_type"], "transient_error");
    assert!(
        errors[0]["internal_message"]
            .as_str()
            .unwrap()
            .contains("500")
    );
}
