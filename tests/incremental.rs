//! Incremental syncs: state in every shape, cursors, checkpoints, and the
//! per-stream rules (page tokens, page shifts and ties, lookback, products
//! filtered on the client, resumable full refresh).

mod common;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use common::*;
use ecommerce_sandbox::{Faults, SandboxConfig, WriteLoad};
use serde_json::{Value, json};

fn cursor(state: &Value) -> DateTime<Utc> {
    instant(&state["cursor"])
}

fn stream_state(name: &str, blob: Value) -> Value {
    json!({"type": "STREAM", "stream": {"stream_descriptor": {"name": name}, "stream_state": blob}})
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_sync_without_changes_emits_nothing_new_and_keeps_the_cursors() {
    let sandbox = sandbox(small(30)).await;
    let config = api_key_config(&sandbox);
    let catalog = catalog(&STREAMS, "incremental");

    let first = read(&config, &catalog, None).await;
    first.assert_success();
    let second = read(&config, &catalog, Some(&first.state_for_next_sync())).await;
    second.assert_success();

    // Events too: the lookback window is read again, but the state
    // remembers the events of it already emitted.
    for stream in STREAMS {
        assert_eq!(second.records(stream).count(), 0, "{stream}");
    }
    let events_cursor = cursor(&first.final_state("order_events"));
    let window_start = events_cursor - chrono::Duration::minutes(10);
    assert!(
        sandbox
            .oracle()
            .order_events
            .values()
            .any(|e| instant(&e["timestamp"]) > window_start),
        "the lookback window holds events"
    );
    for stream in STREAMS {
        assert_eq!(
            second.final_state(stream),
            first.final_state(stream),
            "{stream}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cursor_in_the_future_reads_nothing_and_keeps_the_cursor() {
    let sandbox = sandbox(small(31)).await;
    let future = json!({"cursor": "2099-01-01T00:00:00Z"});
    let state = Value::Array(
        STREAMS
            .iter()
            .map(|s| stream_state(s, future.clone()))
            .collect(),
    );

    let output = read(
        &api_key_config(&sandbox),
        &catalog(&STREAMS, "incremental"),
        Some(&state),
    )
    .await;

    output.assert_success();
    for stream in STREAMS {
        assert_eq!(output.records(stream).count(), 0, "{stream}");
        assert_eq!(output.final_state(stream), future, "{stream}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_events_cursor_minutes_in_the_future_reads_no_lookback_window() {
    let sandbox = sandbox(small(30)).await;
    // Inside the lookback window of now: without the rule, the window
    // before the cursor would be read again.
    let soon = (chrono::Utc::now() + chrono::Duration::minutes(3))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let state = json!([stream_state("order_events", json!({"cursor": soon}))]);

    let output = read(
        &api_key_config(&sandbox),
        &catalog(&["order_events"], "incremental"),
        Some(&state),
    )
    .await;

    output.assert_success();
    assert_eq!(output.records("order_events").count(), 0);
    assert_eq!(output.final_state("order_events"), json!({"cursor": soon}));
    let event_requests = sandbox
        .request_log()
        .iter()
        .filter(|r| r.path == "/v1/order_events")
        .count();
    assert_eq!(event_requests, 0);
}

/// The median cursor of a stream in the oracle.
fn median_cursor(sandbox: &ecommerce_sandbox::Sandbox, stream: &str) -> DateTime<Utc> {
    let oracle = sandbox.oracle();
    let mut instants: Vec<_> = oracle
        .stream(stream)
        .unwrap()
        .values()
        .map(|r| instant(&r[cursor_field(stream)]))
        .collect();
    instants.sort();
    instants[instants.len() / 2]
}

#[tokio::test(flavor = "multi_thread")]
async fn every_state_shape_the_platform_sends_is_understood() {
    let sandbox = sandbox(small(32)).await;
    let config = api_key_config(&sandbox);
    let catalog = catalog(&["orders"], "incremental");
    let middle = median_cursor(&sandbox, "orders");
    let blob = json!({"cursor": middle.to_rfc3339()});
    let expected = sandbox
        .oracle()
        .orders
        .values()
        .filter(|o| instant(&o["updated_at"]) > middle)
        .count();

    let shapes = [
        (
            "stream array",
            json!([stream_state("orders", blob.clone())]),
        ),
        (
            "global",
            json!([{"type": "GLOBAL", "global": {"shared_state": {}, "stream_states": [
                {"stream_descriptor": {"name": "orders"}, "stream_state": blob.clone()}
            ]}}]),
        ),
        ("legacy object", json!({"orders": blob.clone()})),
        (
            "legacy message",
            json!([{"type": "LEGACY", "data": {"orders": blob.clone()}}]),
        ),
    ];
    for (shape, state) in shapes {
        let output = read(&config, &catalog, Some(&state)).await;
        output.assert_success();
        assert_eq!(output.records("orders").count(), expected, "{shape}");
    }
    let everything = sandbox.oracle().orders.len();
    for (shape, state) in [("empty array", json!([])), ("null", Value::Null)] {
        let output = read(&config, &catalog, Some(&state)).await;
        assert_eq!(output.records("orders").count(), everything, "{shape}");
    }
    let inputs = Inputs::new();
    let empty = inputs.write_raw("state.json", "");
    let config_path = inputs.write("config.json", &config);
    let catalog_path = inputs.write("catalog.json", &catalog);
    let output = run(
        &[
            "read",
            "--config",
            config_path.to_str().unwrap(),
            "--catalog",
            catalog_path.to_str().unwrap(),
            "--state",
            empty.to_str().unwrap(),
        ],
        &[],
    )
    .await;
    assert_eq!(output.records("orders").count(), everything, "empty file");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unusable_state_is_a_config_error_naming_the_stream_before_any_request() {
    let sandbox = sandbox(small(33)).await;
    let config = api_key_config(&sandbox);
    let catalog = catalog(&["orders"], "incremental");
    let bad = [
        json!([stream_state("orders", json!({"cursor": "not a time"}))]),
        json!([stream_state("orders", json!("2024-01-01"))]),
        json!([{"type": "STREAM", "stream": {"stream_state": {}}}]),
        json!([{"type": "SOMETHING"}]),
        json!(17),
    ];
    for state in bad {
        let output = read(&config, &catalog, Some(&state)).await;
        assert_ne!(output.code, 0, "{state}");
        let errors = output.errors();
        assert_eq!(errors[0]["failure_type"], "config_error", "{state}");
        assert_eq!(output.records("orders").count(), 0);
    }
    let inputs = Inputs::new();
    let output = run(
        &[
            "read",
            "--config",
            inputs.write("c.json", &config).to_str().unwrap(),
            "--catalog",
            inputs.write("k.json", &catalog).to_str().unwrap(),
            "--state",
            inputs.write_raw("s.json", "[{").to_str().unwrap(),
        ],
        &[],
    )
    .await;
    assert_eq!(output.errors()[0]["failure_type"], "config_error");
    assert!(
        sandbox.request_log().is_empty(),
        "no request before the inputs are valid"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_checkpoint_comes_after_every_record_at_or_before_its_cursor() {
    let sandbox = sandbox(small(34)).await;
    let config = with(
        api_key_config(&sandbox),
        json!({"page_size": 25, "checkpoint_interval": 100, "max_concurrency": 4}),
    );

    let output = read(
        &config,
        &catalog(&["customers", "orders", "order_events"], "incremental"),
        None,
    )
    .await;

    output.assert_success();
    let oracle = sandbox.oracle();
    for stream in ["customers", "orders", "order_events"] {
        let field = cursor_field(stream);
        let key = primary_key(stream);
        let mut emitted = std::collections::HashSet::new();
        let mut checkpoints = 0;
        for message in &output.messages {
            if message["type"] == "RECORD" && message["record"]["stream"] == stream {
                emitted.insert(message["record"]["data"][key].as_str().unwrap().to_owned());
            }
            if message["type"] == "STATE"
                && message["state"]["stream"]["stream_descriptor"]["name"] == stream
            {
                checkpoints += 1;
                let at = cursor(&message["state"]["stream"]["stream_state"]);
                for (id, record) in oracle.stream(stream).unwrap() {
                    if instant(&record[field]) <= at {
                        assert!(
                            emitted.contains(id),
                            "{stream}: state at {at} before {id} was emitted"
                        );
                    }
                }
            }
        }
        assert!(checkpoints > 3, "{stream}: {checkpoints} checkpoints");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn orders_sharing_one_second_beyond_a_page_are_all_read_once() {
    let sandbox = sandbox(SandboxConfig {
        sizes: ecommerce_sandbox::Sizes {
            customers: 10,
            products: 10,
            orders: 8_000,
            order_events: 10,
        },
        ..small(35)
    })
    .await;
    let oracle = sandbox.oracle();
    let mut per_second: BTreeMap<DateTime<Utc>, usize> = BTreeMap::new();
    for order in oracle.orders.values() {
        *per_second.entry(instant(&order["updated_at"])).or_default() += 1;
    }
    let largest_tie = per_second.values().copied().max().unwrap();
    assert!(
        largest_tie > 100,
        "the sandbox has a tie larger than a page: {largest_tie}"
    );
    let config = with(api_key_config(&sandbox), json!({"page_size": 40}));

    let output = read(&config, &catalog(&["orders"], "incremental"), None).await;

    output.assert_success();
    assert_eq!(
        output.records("orders").count(),
        oracle.orders.len(),
        "each order once"
    );
    assert_matches_truth(
        "orders",
        &latest_by_key("orders", output.records("orders")),
        &truth(&oracle, "orders", true),
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_page_token_resumes_from_the_last_cursor_instead_of_failing() {
    let sandbox = sandbox(SandboxConfig {
        page_token_ttl: std::time::Duration::from_millis(400),
        faults: Faults {
            slow_every: Some(3),
            slow_delay: std::time::Duration::from_millis(600),
            ..Faults::default()
        },
        ..small(36)
    })
    .await;
    let config = with(
        api_key_config(&sandbox),
        json!({"page_size": 20, "max_concurrency": 1}),
    );

    let output = read(&config, &catalog(&["customers"], "incremental"), None).await;

    output.assert_success();
    assert!(
        sandbox.request_log().iter().any(|r| r.status == 400),
        "some page token expired"
    );
    assert_matches_truth(
        "customers",
        &latest_by_key("customers", output.records("customers")),
        &truth(&sandbox.oracle(), "customers", true),
    );
}

/// The ids of `stream` that one sync emitted more than once.
fn keys_emitted_twice(output: &Output, stream: &str) -> Vec<String> {
    let key = primary_key(stream);
    let mut seen = std::collections::HashSet::new();
    output
        .records(stream)
        .map(|r| r[key].as_str().unwrap().to_owned())
        .filter(|id| !seen.insert(id.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn no_key_is_emitted_twice_within_one_sync_under_writes_and_faults() {
    let sandbox = sandbox(SandboxConfig {
        // Slow answers outlive page tokens: the customers walk restarts.
        page_token_ttl: std::time::Duration::from_millis(400),
        faults: Faults {
            slow_every: Some(3),
            slow_delay: std::time::Duration::from_millis(600),
            status_500_every: Some(7),
            truncated_every: Some(11),
            ..Faults::default()
        },
        ..small(40)
    })
    .await;
    sandbox.set_writes(Some(WriteLoad {
        writes_per_second: 200.0,
        late_events: true,
        ..WriteLoad::default()
    }));
    let config = with(
        api_key_config(&sandbox),
        json!({"page_size": 50, "checkpoint_interval": 100, "max_concurrency": 1, "max_retries": 8}),
    );
    let streams = ["customers", "products", "orders"];
    let catalog = catalog(&streams, "incremental");

    let first = read(&config, &catalog, None).await;
    first.assert_success();
    let second = read(&config, &catalog, Some(&first.state_for_next_sync())).await;
    second.assert_success();

    assert!(
        sandbox.request_log().iter().any(|r| r.status == 400),
        "some page token expired"
    );
    for (sync, output) in [("first", &first), ("second", &second)] {
        assert!(
            output.records("orders").count() > 0,
            "{sync} sync read orders"
        );
        for stream in streams {
            let twice = keys_emitted_twice(output, stream);
            assert!(
                twice.is_empty(),
                "{sync} sync, {stream}: {} keys emitted twice, e.g. {:?}",
                twice.len(),
                twice.first()
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn incremental_products_emit_only_products_updated_since_the_cursor() {
    let sandbox = sandbox(small(37)).await;
    let config = api_key_config(&sandbox);
    let catalog = catalog(&["products"], "incremental");
    let first = read(&config, &catalog, None).await;
    first.assert_success();
    assert_eq!(
        first.records("products").count(),
        sandbox.oracle().products.len()
    );

    sandbox.set_writes(Some(WriteLoad {
        writes_per_second: 400.0,
        ..WriteLoad::default()
    }));
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    sandbox.set_writes(None);
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;

    let second = read(&config, &catalog, Some(&first.state_for_next_sync())).await;
    second.assert_success();
    let since = cursor(&first.final_state("products"));
    let changed: BTreeMap<String, Value> = truth(&sandbox.oracle(), "products", true)
        .into_iter()
        .filter(|(_, p)| instant(&p["updated_at"]) > since)
        .collect();
    assert!(!changed.is_empty(), "the write load changed some products");
    assert_eq!(second.records("products").count(), changed.len());
    assert_matches_truth(
        "products",
        &latest_by_key("products", second.records("products")),
        &changed,
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_refresh_of_products_resumes_from_its_checkpointed_page() {
    let sandbox = sandbox(small(38)).await;
    let config = with(
        api_key_config(&sandbox),
        json!({"page_size": 10, "checkpoint_interval": 20}),
    );
    let catalog = catalog(&["products"], "full_refresh");

    let complete = read(&config, &catalog, None).await;
    complete.assert_success();
    let checkpoint = complete
        .states("products")
        .nth(1)
        .expect("several checkpoints")["state"]["stream"]["stream_state"]
        .clone();
    let page = checkpoint["resume"]["page"]
        .as_u64()
        .expect("a page position");
    assert_eq!(complete.final_state("products"), json!({}));

    let before = sandbox.request_log().len();
    let resumed = read(
        &config,
        &catalog,
        Some(&json!([stream_state("products", checkpoint)])),
    )
    .await;

    resumed.assert_success();
    let first_page = sandbox.request_log()[before..]
        .iter()
        .find(|r| r.path == "/v1/products")
        .map(|r| r.query.clone())
        .unwrap();
    assert!(first_page.contains(&format!("page={page}")), "{first_page}");
    let skipped = (page as usize - 1) * 10;
    assert_eq!(
        resumed.records("products").count(),
        sandbox.oracle().products.len() - skipped
    );
    assert_eq!(resumed.final_state("products"), json!({}));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_incremental_products_sync_ignores_a_full_refresh_position_and_reads_every_page() {
    let sandbox = sandbox(small(39)).await;
    let config = with(
        api_key_config(&sandbox),
        json!({"page_size": 10, "checkpoint_interval": 20}),
    );
    let interrupted = read(&config, &catalog(&["products"], "full_refresh"), None).await;
    let checkpoint = interrupted
        .states("products")
        .nth(1)
        .expect("several checkpoints")["state"]["stream"]["stream_state"]
        .clone();
    assert!(checkpoint["resume"]["page"].as_u64().unwrap() > 1);

    let before = sandbox.request_log().len();
    let incremental = read(
        &config,
        &catalog(&["products"], "incremental"),
        Some(&json!([stream_state("products", checkpoint)])),
    )
    .await;

    incremental.assert_success();
    let first_page = sandbox.request_log()[before..]
        .iter()
        .find(|r| r.path == "/v1/products")
        .map(|r| r.query.clone())
        .unwrap();
    assert!(first_page.contains("page=1&"), "{first_page}");
    assert_eq!(
        incremental.records("products").count(),
        sandbox.oracle().products.len()
    );
}
