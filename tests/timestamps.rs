//! Issue 11: date-times reach the destination in UTC. The sandbox renders
//! every instant in a random UTC offset; its oracle holds the canonical UTC
//! (`Z`) rendering, which every date-time value must equal byte for byte.

mod common;

use std::collections::BTreeMap;

use common::*;
use ecommerce_sandbox::SandboxConfig;
use serde_json::{Value, json};

/// The top-level fields of `record` that hold a canonical UTC instant.
fn instants(record: &Value) -> BTreeMap<String, String> {
    record
        .as_object()
        .expect("records are objects")
        .iter()
        .filter_map(|(name, value)| {
            let text = value.as_str()?;
            let canonical = text.len() == 20
                && text.ends_with('Z')
                && chrono::DateTime::parse_from_rfc3339(text).is_ok();
            canonical.then(|| (name.clone(), text.to_owned()))
        })
        .collect()
}

async fn mixed_offsets_sandbox(seed: u64) -> ecommerce_sandbox::Sandbox {
    sandbox(SandboxConfig {
        mixed_offsets: true,
        ..small(seed)
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn every_date_time_of_every_record_is_the_oracles_utc_value() {
    let sandbox = mixed_offsets_sandbox(21).await;
    let config = api_key_config(&sandbox);
    // The catalog gives no schemas, so the connector builds discover's,
    // custom fields (cf_delivery_slot is a datetime) included.
    let output = read(&config, &catalog(&STREAMS, "full_refresh"), None).await;

    output.assert_success();
    let oracle = sandbox.oracle();
    let mut checked = 0;
    for stream in STREAMS {
        let truth = oracle.stream(stream).expect("a known stream");
        let key = primary_key(stream);
        for record in output.records(stream) {
            let id = record[key].as_str().unwrap();
            let true_record = &truth[id];
            for (field, utc) in instants(true_record) {
                assert_eq!(
                    record[&field].as_str(),
                    Some(utc.as_str()),
                    "{stream} {id} {field}"
                );
                checked += 1;
            }
            assert_eq!(
                comparable(record),
                comparable(true_record),
                "{stream} {id}: the record is the oracle's"
            );
        }
    }
    assert!(checked > 10_000, "{checked} date-times checked");
    assert!(
        output.logs("WARN").is_empty(),
        "no value was left unconverted: {:?}",
        output.logs("WARN")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_configured_catalogs_schema_decides_which_fields_are_date_times() {
    let sandbox = mixed_offsets_sandbox(22).await;
    let config = api_key_config(&sandbox);
    let mut catalog = catalog(&["orders"], "full_refresh");
    // Only updated_at is declared a date-time here.
    catalog["streams"][0]["stream"]["json_schema"] = json!({
        "type": "object",
        "properties": {"updated_at": {"type": "string", "format": "date-time"}}
    });

    let output = read(&config, &catalog, None).await;

    output.assert_success();
    let records: Vec<&Value> = output.records("orders").collect();
    assert!(
        records
            .iter()
            .all(|r| r["updated_at"].as_str().unwrap().ends_with('Z'))
    );
    assert!(
        records
            .iter()
            .any(|r| !r["created_at"].as_str().unwrap().ends_with('Z')),
        "created_at is not in this schema, so it keeps its offset"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn with_as_sent_the_records_keep_the_apis_offsets() {
    let sandbox = mixed_offsets_sandbox(23).await;
    let config = with(api_key_config(&sandbox), json!({"timestamps": "as_sent"}));

    let output = read(&config, &catalog(&STREAMS, "full_refresh"), None).await;

    output.assert_success();
    let oracle = sandbox.oracle();
    for stream in STREAMS {
        let with_offsets = output
            .records(stream)
            .filter(|r| !r[cursor_field(stream)].as_str().unwrap().ends_with('Z'))
            .count();
        assert!(with_offsets > 0, "{stream}: offsets as sent");
        assert_matches_truth(
            stream,
            &latest_by_key(stream, output.records(stream)),
            &truth(&oracle, stream, true),
        );
    }
}
