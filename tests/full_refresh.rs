//! Full refresh of every stream: exactly the sandbox's truth, every line a
//! valid Airbyte message, every record valid against its stream's schema.

mod common;

use common::*;
use ecommerce_sandbox::{RateLimit, SandboxConfig, Sizes};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn a_full_refresh_of_every_stream_emits_exactly_the_oracles_records() {
    let sandbox = sandbox(SandboxConfig {
        seed: 2,
        sizes: Sizes {
            customers: 10_000,
            products: 2_000,
            orders: 100_000,
            order_events: 200_000,
        },
        rate_limit: RateLimit::disabled(),
        ..SandboxConfig::default()
    })
    .await;
    let config = with(api_key_config(&sandbox), json!({"page_size": 1000}));
    let schemas = RecordSchemas::from_catalog(&discovered_catalog(&config).await);

    let output = read(&config, &catalog(&STREAMS, "full_refresh"), None).await;

    output.assert_success();
    let oracle = sandbox.oracle();
    for stream in STREAMS {
        let truth = truth(&oracle, stream, true);
        assert_eq!(
            output.records(stream).count(),
            truth.len(),
            "{stream}: a static full refresh emits each record once"
        );
        assert_matches_truth(
            stream,
            &latest_by_key(stream, output.records(stream)),
            &truth,
        );
        schemas.assert_valid(stream, output.records(stream));
        assert_eq!(
            output.final_state(stream),
            json!({}),
            "{stream}: a completed full refresh"
        );
        assert_eq!(
            output.statuses(stream).last().map(String::as_str),
            Some("COMPLETE")
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn without_include_deleted_soft_deleted_records_are_absent() {
    let sandbox = sandbox(small(3)).await;
    let config = with(api_key_config(&sandbox), json!({"include_deleted": false}));

    let output = read(
        &config,
        &catalog(&["customers", "orders"], "full_refresh"),
        None,
    )
    .await;

    output.assert_success();
    let oracle = sandbox.oracle();
    for stream in ["customers", "orders"] {
        let all = truth(&oracle, stream, true);
        let live = truth(&oracle, stream, false);
        assert!(
            all.len() > live.len(),
            "{stream}: the sandbox has deleted records"
        );
        assert_matches_truth(
            stream,
            &latest_by_key(stream, output.records(stream)),
            &live,
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn records_in_mixed_utc_offsets_are_the_same_instants_as_the_truth() {
    let sandbox = sandbox(SandboxConfig {
        mixed_offsets: true,
        ..small(4)
    })
    .await;
    // As sent, so the offsets reach the cursor logic and the output;
    // tests/timestamps.rs covers the default, UTC.
    let config = with(api_key_config(&sandbox), json!({"timestamps": "as_sent"}));

    let output = read(&config, &catalog(&STREAMS, "full_refresh"), None).await;

    output.assert_success();
    let oracle = sandbox.oracle();
    let offsets = output
        .records("orders")
        .filter(|r| !r["updated_at"].as_str().unwrap().ends_with('Z'))
        .count();
    assert!(offsets > 0, "the sandbox rendered some non-UTC offsets");
    for stream in STREAMS {
        assert_matches_truth(
            stream,
            &latest_by_key(stream, output.records(stream)),
            &truth(&oracle, stream, true),
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn start_date_skips_records_updated_before_it() {
    let sandbox = sandbox(small(5)).await;
    let oracle = sandbox.oracle();
    // The median order's updated_at splits the data in two.
    let mut instants: Vec<_> = oracle
        .orders
        .values()
        .map(|o| instant(&o["updated_at"]))
        .collect();
    instants.sort();
    let start = instants[instants.len() / 2];
    let config = with(
        api_key_config(&sandbox),
        json!({"start_date": start.to_rfc3339()}),
    );

    let output = read(&config, &catalog(&STREAMS, "full_refresh"), None).await;

    output.assert_success();
    for stream in STREAMS {
        let cursor = cursor_field(stream);
        let expected: std::collections::BTreeMap<_, _> = truth(&oracle, stream, true)
            .into_iter()
            .filter(|(_, r)| instant(&r[cursor]) >= start)
            .collect();
        assert!(!expected.is_empty());
        assert_matches_truth(
            stream,
            &latest_by_key(stream, output.records(stream)),
            &expected,
        );
    }
}
