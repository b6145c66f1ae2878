//! List endpoints over static data: filters, pagination, validation, the oracle.

mod common;

use std::time::Duration;

use common::{by_id, config, instant, start};
use ecommerce_sandbox::{Sandbox, SandboxConfig, Sizes};
use reqwest::StatusCode;

#[tokio::test]
async fn the_oracle_equals_a_full_walk_of_every_stream_when_static() {
    let (sandbox, client) = start(config()).await;
    let oracle = sandbox.oracle();
    let customers = client
        .walk_keyset("/v1/customers?limit=37&include_deleted=true")
        .await;
    let products = client.walk_pages("/v1/products?limit=7").await;
    let orders = client
        .walk_pages("/v1/orders?limit=100&include_deleted=true")
        .await;
    let events = client.walk_keyset("/v1/order_events?limit=250").await;
    assert_eq!(customers.len(), 120);
    assert_eq!(by_id(&customers, "id"), oracle.customers);
    assert_eq!(by_id(&products, "id"), oracle.products);
    assert_eq!(by_id(&orders, "id"), oracle.orders);
    assert_eq!(by_id(&events, "event_id"), oracle.order_events);
    let fields = client.ok("/v1/custom_fields").await;
    assert_eq!(
        fields.body["data"].as_array().unwrap(),
        &oracle.custom_fields
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn lists_are_sorted_by_time_then_id_and_products_by_id() {
    let (sandbox, client) = start(config()).await;
    for (records, time) in [
        (
            client
                .walk_keyset("/v1/customers?limit=1000&include_deleted=true")
                .await,
            "updated_at",
        ),
        (
            client
                .walk_pages("/v1/orders?limit=1000&include_deleted=true")
                .await,
            "updated_at",
        ),
    ] {
        let keys: Vec<(i64, String)> = records
            .iter()
            .map(|r| (instant(&r[time]), r["id"].as_str().unwrap().to_owned()))
            .collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
    }
    let events = client.walk_keyset("/v1/order_events?limit=1000").await;
    let keys: Vec<(i64, &str)> = events
        .iter()
        .map(|e| (instant(&e["timestamp"]), e["event_id"].as_str().unwrap()))
        .collect();
    assert!(keys.windows(2).all(|w| w[0] < w[1]));
    let products = client.walk_pages("/v1/products?limit=1000").await;
    assert!(
        products
            .windows(2)
            .all(|w| w[0]["id"].as_str() < w[1]["id"].as_str())
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn include_deleted_adds_the_soft_deleted_records_with_deleted_at_equal_to_updated_at() {
    let (sandbox, client) = start(SandboxConfig {
        sizes: Sizes {
            customers: 1_000,
            orders: 2_000,
            ..config().sizes
        },
        ..config()
    })
    .await;
    let oracle = sandbox.oracle();
    for (path, all) in [
        ("/v1/orders?limit=1000", &oracle.orders),
        ("/v1/customers?limit=1000", &oracle.customers),
    ] {
        let live = all.values().filter(|r| r["deleted_at"].is_null()).count();
        assert!(live < all.len(), "{path}: some records are deleted");
        let first = client.ok(path).await;
        assert_eq!(first.total(), live);
        let with_deleted = client.ok(&format!("{path}&include_deleted=true")).await;
        assert_eq!(with_deleted.total(), all.len());
    }
    let orders = client.walk_pages("/v1/orders?limit=1000").await;
    assert!(orders.iter().all(|o| o["deleted_at"].is_null()));
    for deleted in oracle
        .orders
        .values()
        .filter(|o| !o["deleted_at"].is_null())
    {
        assert_eq!(deleted["deleted_at"], deleted["updated_at"]);
    }
    sandbox.shutdown().await;
}

#[tokio::test]
async fn time_filters_are_exclusive_after_and_inclusive_before_in_any_offset() {
    let (sandbox, client) = start(config()).await;
    let oracle = sandbox.oracle();
    let orders: Vec<_> = oracle
        .orders
        .values()
        .filter(|o| o["deleted_at"].is_null())
        .collect();
    let pivot = orders[orders.len() / 2]["updated_at"]
        .as_str()
        .unwrap()
        .to_owned();
    let pivot_secs = instant(&serde_json::json!(pivot));
    let after = orders
        .iter()
        .filter(|o| instant(&o["updated_at"]) > pivot_secs)
        .count();
    let until = orders
        .iter()
        .filter(|o| instant(&o["updated_at"]) <= pivot_secs)
        .count();
    assert_eq!(
        client
            .ok(&format!("/v1/orders?updated_after={pivot}"))
            .await
            .total(),
        after
    );
    assert_eq!(
        client
            .ok(&format!("/v1/orders?updated_before={pivot}"))
            .await
            .total(),
        until
    );
    // The same instant written in +02:00 selects the same records.
    let shifted = chrono::DateTime::parse_from_rfc3339(&pivot)
        .unwrap()
        .with_timezone(&chrono::FixedOffset::east_opt(7_200).unwrap())
        .to_rfc3339();
    let encoded = shifted.replace('+', "%2B");
    assert_eq!(
        client
            .ok(&format!("/v1/orders?updated_after={encoded}"))
            .await
            .total(),
        after
    );
    let walked = client
        .walk_keyset(&format!("/v1/customers?limit=50&updated_after={encoded}"))
        .await;
    assert!(
        walked
            .iter()
            .all(|c| instant(&c["updated_at"]) > pivot_secs)
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn x_total_count_counts_the_filter_not_the_page() {
    let (sandbox, client) = start(config()).await;
    let first = client.ok("/v1/order_events?limit=10").await;
    let token = first.body["next_page_token"].as_str().unwrap();
    let second = client
        .ok(&format!("/v1/order_events?limit=10&page_token={token}"))
        .await;
    assert_eq!(first.total(), 1_500);
    assert_eq!(second.total(), 1_500);
    assert_eq!(client.ok("/v1/products?limit=5&page=3").await.total(), 30);
    let last = client.ok("/v1/products?limit=7&page=5").await;
    assert_eq!(last.body["data"].as_array().unwrap().len(), 2);
    assert_eq!(last.body["has_more"], false);
    assert_eq!(last.body["page"], 5);
    let beyond = client.ok("/v1/products?limit=7&page=99").await;
    assert!(beyond.body["data"].as_array().unwrap().is_empty());
    sandbox.shutdown().await;
}

#[tokio::test]
async fn bad_parameters_are_rejected_with_invalid_parameter() {
    let (sandbox, client) = start(config()).await;
    for path in [
        "/v1/orders?foo=1",
        "/v1/orders?limit=1001",
        "/v1/orders?limit=0",
        "/v1/orders?page=0",
        "/v1/orders?updated_after=yesterday",
        "/v1/orders?updated_before=2024-01-01",
        "/v1/orders?include_deleted=maybe",
        "/v1/orders?page_token=abc",
        "/v1/products?updated_after=2024-01-01T00:00:00Z",
        "/v1/customers?page=2",
        "/v1/customers?page_token=garbage",
        "/v1/order_events?include_deleted=true",
        "/v1/account?verbose=1",
        "/v1/custom_fields?object=orders",
    ] {
        let answer = client.get(path).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(answer.error_code(), "invalid_parameter", "{path}");
        assert!(answer.body["error"]["message"].is_string());
        assert_eq!(answer.body["error"].as_object().unwrap().len(), 2);
    }
    let missing = client.get("/v1/refunds").await;
    assert_eq!(
        (missing.status, missing.error_code()),
        (StatusCode::NOT_FOUND, "not_found")
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn page_tokens_expire_and_belong_to_their_endpoint_and_filters() {
    let (sandbox, client) = start(SandboxConfig {
        page_token_ttl: Duration::from_secs(1),
        ..config()
    })
    .await;
    let first = client
        .ok("/v1/customers?limit=5&include_deleted=true")
        .await;
    let token = first.body["next_page_token"].as_str().unwrap().to_owned();
    client
        .ok(&format!("/v1/customers?limit=5&page_token={token}"))
        .await;
    // Repeating the filters is fine; changing them mid-walk is not.
    client
        .ok(&format!(
            "/v1/customers?limit=5&include_deleted=true&page_token={token}"
        ))
        .await;
    let changed = client
        .get(&format!(
            "/v1/customers?include_deleted=false&page_token={token}"
        ))
        .await;
    assert_eq!(changed.status, StatusCode::BAD_REQUEST);
    let elsewhere = client
        .get(&format!("/v1/order_events?page_token={token}"))
        .await;
    assert_eq!(elsewhere.status, StatusCode::BAD_REQUEST);
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let expired = client
        .get(&format!("/v1/customers?limit=5&page_token={token}"))
        .await;
    assert_eq!(expired.status, StatusCode::BAD_REQUEST);
    assert_eq!(expired.error_code(), "invalid_parameter");
    sandbox.shutdown().await;
}

#[tokio::test]
async fn large_streams_have_bursts_of_more_than_a_thousand_records_in_one_second() {
    let (sandbox, _) = start(SandboxConfig {
        sizes: Sizes {
            customers: 6_000,
            products: 10,
            orders: 6_000,
            order_events: 6_000,
        },
        ..config()
    })
    .await;
    let oracle = sandbox.oracle();
    for (name, time) in [
        ("customers", "updated_at"),
        ("orders", "updated_at"),
        ("order_events", "timestamp"),
    ] {
        let mut per_second = std::collections::HashMap::<i64, usize>::new();
        for record in oracle.stream(name).unwrap().values() {
            *per_second.entry(instant(&record[time])).or_default() += 1;
        }
        let largest = per_second.values().max().copied().unwrap();
        assert!(largest > 1_000, "{name}: largest burst {largest}");
    }
    sandbox.shutdown().await;
}

#[tokio::test]
async fn the_same_seed_answers_byte_identical_bodies() {
    async fn bodies(seed: u64) -> Vec<String> {
        let sandbox = Sandbox::start(SandboxConfig { seed, ..config() })
            .await
            .unwrap();
        let client = reqwest::Client::new();
        let mut out = Vec::new();
        for path in [
            "/v1/customers?limit=50",
            "/v1/products?page=2&limit=10",
            "/v1/orders?limit=100&page=3&include_deleted=true",
            "/v1/order_events?limit=100",
            "/v1/custom_fields",
            "/v1/account",
        ] {
            let response = client
                .get(format!("{}{path}", sandbox.url()))
                .bearer_auth(common::API_KEY)
                .send()
                .await
                .unwrap();
            out.push(response.text().await.unwrap());
        }
        sandbox.shutdown().await;
        out
    }
    let a = bodies(7).await;
    let b = bodies(7).await;
    // Page tokens embed their issue time; compare everything else byte for byte.
    let strip = |s: &String| s.split("\"next_page_token\"").next().unwrap().to_owned();
    assert_eq!(
        a.iter().map(strip).collect::<Vec<_>>(),
        b.iter().map(strip).collect::<Vec<_>>()
    );
    assert_eq!(a[1..3], b[1..3]);
    assert_ne!(bodies(8).await[2], a[2]);
}

#[tokio::test]
async fn custom_fields_can_be_turned_off() {
    let (sandbox, client) = start(SandboxConfig {
        custom_fields: false,
        ..config()
    })
    .await;
    assert_eq!(
        client.ok("/v1/custom_fields").await.body["data"],
        serde_json::json!([])
    );
    let order = &client.ok("/v1/orders?limit=1").await.body["data"][0];
    assert!(
        order
            .as_object()
            .unwrap()
            .keys()
            .all(|k| !k.starts_with("cf_"))
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn events_reference_real_orders_and_never_precede_them() {
    let (sandbox, _) = start(config()).await;
    let oracle = sandbox.oracle();
    for event in oracle.order_events.values() {
        let order = &oracle.orders[event["order_id"].as_str().unwrap()];
        assert!(instant(&event["timestamp"]) >= instant(&order["created_at"]));
    }
    for order in oracle.orders.values() {
        assert!(
            oracle
                .customers
                .contains_key(order["customer_id"].as_str().unwrap())
        );
        for line in order["line_items"].as_array().unwrap() {
            assert!(
                oracle
                    .products
                    .contains_key(line["product_id"].as_str().unwrap())
            );
        }
    }
    sandbox.shutdown().await;
}
