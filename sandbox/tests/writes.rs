//! The write load: page shifts on orders, stable keyset pages, late events,
//! custom fields added at runtime, and stopping.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{by_id, config, instant, start};
use ecommerce_sandbox::{SandboxConfig, WriteLoad};
use serde_json::Value;

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn load(writes_per_second: f64) -> WriteLoad {
    WriteLoad {
        writes_per_second,
        ..WriteLoad::default()
    }
}

#[tokio::test]
async fn a_naive_page_walk_of_orders_skips_records_under_writes() {
    let (sandbox, client) = start(config()).await;
    let walk_start = now_secs();
    sandbox.set_writes(Some(load(400.0)));
    let mut seen = HashSet::new();
    for page in 1.. {
        let answer = client.ok(&format!("/v1/orders?limit=25&page={page}")).await;
        for order in answer.body["data"].as_array().unwrap() {
            seen.insert(order["id"].as_str().unwrap().to_owned());
        }
        if !answer.body["has_more"].as_bool().unwrap() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    sandbox.set_writes(None);
    // Orders untouched since before the walk must have been seen by a correct
    // client; the naive one lost some because pages shifted under it.
    let untouched: Vec<String> = sandbox
        .oracle()
        .orders
        .values()
        .filter(|o| o["deleted_at"].is_null() && instant(&o["updated_at"]) < walk_start)
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect();
    let missed = untouched.iter().filter(|id| !seen.contains(*id)).count();
    assert!(
        missed > 0,
        "no order was skipped; the page-shift quirk did not happen"
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_keyset_walk_sees_every_record_written_before_its_last_request() {
    let (sandbox, client) = start(config()).await;
    sandbox.set_writes(Some(load(300.0)));
    let mut versions: BTreeMap<String, Value> = BTreeMap::new();
    let mut answer = client
        .ok("/v1/customers?limit=10&include_deleted=true")
        .await;
    let last_request_at = loop {
        for customer in answer.body["data"].as_array().unwrap() {
            versions.insert(
                customer["id"].as_str().unwrap().to_owned(),
                customer.clone(),
            );
        }
        let Some(token) = answer.body["next_page_token"].as_str().map(str::to_owned) else {
            unreachable!("the loop ends when the last page was requested")
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        let sent_at = now_secs();
        answer = client
            .ok(&format!(
                "/v1/customers?limit=10&include_deleted=true&page_token={token}"
            ))
            .await;
        if answer.body["next_page_token"].is_null() {
            for customer in answer.body["data"].as_array().unwrap() {
                versions.insert(
                    customer["id"].as_str().unwrap().to_owned(),
                    customer.clone(),
                );
            }
            break sent_at;
        }
    };
    sandbox.set_writes(None);
    let oracle = sandbox.oracle();
    let written_during_walk = oracle
        .customers
        .values()
        .filter(|c| instant(&c["updated_at"]) >= last_request_at - 60)
        .count();
    assert!(written_during_walk > 0, "the write load wrote customers");
    // Everything as of a second before the last request is in the walk, in its latest version.
    for (id, truth) in &oracle.customers {
        if instant(&truth["updated_at"]) < last_request_at {
            assert_eq!(versions.get(id), Some(truth), "{id}");
        }
    }
    sandbox.shutdown().await;
}

#[tokio::test]
async fn stopping_the_write_load_is_effective_when_set_writes_returns() {
    let (sandbox, _) = start(config()).await;
    sandbox.set_writes(Some(load(2_000.0)));
    tokio::time::sleep(Duration::from_millis(300)).await;
    sandbox.set_writes(None);
    let stopped = sandbox.oracle();
    assert!(
        stopped.orders.len() > 700 || stopped.customers.len() > 120,
        "writes happened"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(sandbox.oracle(), stopped);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn writes_stamp_now_and_deletes_set_deleted_at() {
    let (sandbox, client) = start(config()).await;
    let before = now_secs();
    sandbox.set_writes(Some(load(1_000.0)));
    tokio::time::sleep(Duration::from_millis(500)).await;
    sandbox.set_writes(None);
    let after = now_secs();
    let oracle = sandbox.oracle();
    let fresh: Vec<&Value> = oracle
        .orders
        .values()
        .filter(|o| instant(&o["updated_at"]) >= before)
        .collect();
    assert!(!fresh.is_empty());
    assert!(fresh.iter().all(|o| instant(&o["updated_at"]) <= after));
    assert!(
        fresh.iter().any(|o| !o["deleted_at"].is_null()),
        "some orders were deleted"
    );
    assert!(
        oracle
            .products
            .values()
            .any(|p| instant(&p["updated_at"]) >= before)
    );
    // The API agrees with the oracle once writes stopped.
    let walked = client
        .walk_pages("/v1/orders?limit=500&include_deleted=true")
        .await;
    assert_eq!(by_id(&walked, "id"), oracle.orders);
    let events = client.walk_keyset("/v1/order_events?limit=1000").await;
    assert_eq!(by_id(&events, "event_id"), oracle.order_events);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn late_events_appear_with_timestamps_up_to_five_minutes_old() {
    let (sandbox, client) = start(config()).await;
    let before = now_secs();
    let first = client
        .walk_keyset(&format!(
            "/v1/order_events?limit=1000&created_after={}",
            "2025-01-01T00:00:00Z"
        ))
        .await;
    assert!(first.is_empty(), "generated events lie in the past range");
    sandbox.set_writes(Some(WriteLoad {
        writes_per_second: 1_000.0,
        late_events: true,
        add_custom_field_after: None,
    }));
    tokio::time::sleep(Duration::from_millis(600)).await;
    sandbox.set_writes(None);
    let fresh = client
        .walk_keyset("/v1/order_events?limit=1000&created_after=2025-01-01T00:00:00Z")
        .await;
    assert!(fresh.len() > 10);
    assert!(
        fresh
            .iter()
            .all(|e| instant(&e["timestamp"]) >= before - 301)
    );
    assert!(
        fresh.iter().any(|e| instant(&e["timestamp"]) < before - 5),
        "some events are older than the walk that first could have seen them"
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_custom_field_added_at_runtime_shows_up_and_gets_filled() {
    let (sandbox, client) = start(SandboxConfig {
        writes: Some(WriteLoad {
            writes_per_second: 500.0,
            late_events: false,
            add_custom_field_after: Some(Duration::from_millis(200)),
        }),
        ..config()
    })
    .await;
    let fields = client.ok("/v1/custom_fields").await;
    assert_eq!(fields.body["data"].as_array().unwrap().len(), 5);
    tokio::time::sleep(Duration::from_millis(900)).await;
    sandbox.set_writes(None);
    let fields = client.ok("/v1/custom_fields").await;
    let late = fields.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "late_field")
        .expect("the late field exists");
    assert_eq!(
        (late["object"].as_str(), late["type"].as_str()),
        (Some("orders"), Some("string"))
    );
    let orders = client
        .walk_pages("/v1/orders?limit=1000&include_deleted=true")
        .await;
    assert!(
        orders
            .iter()
            .all(|o| o.as_object().unwrap().contains_key("cf_late_field"))
    );
    assert!(orders.iter().any(|o| o["cf_late_field"].is_string()));
    assert!(orders.iter().any(|o| o["cf_late_field"].is_null()));
    sandbox.shutdown().await;
}
