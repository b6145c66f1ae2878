//! Issue 12: privacy at the source. A policy blocks and hashes fields on
//! every stream (nested ones and custom fields included); no clear value of
//! those fields reaches any output line, at debug level and with faults on;
//! every hash equals an HMAC computed here, independently of the connector;
//! syncs with writes and deletes still equal the truth on every other field;
//! the catalogs say what the records hold; and each rule of the policy is a
//! config error before any request.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use common::*;
use ecommerce_sandbox::{Faults, Oracle, SandboxConfig, WriteLoad};
use hmac::{KeyInit, Mac};
use serde_json::{Map, Value, json};

const HASH_KEY: &str = "privacy-test-hash-key-2026";

/// Values shorter than this are not looked for: `gold` or `US` occur in
/// any output by chance.
const DISTINCTIVE_CHARS: usize = 6;

/// Blocks and hashes on every stream: top-level, nested in objects and in
/// arrays, inside the free-form `properties`, every custom field of orders,
/// and the primary keys of all but orders (hashed consistently with the
/// fields of other streams that refer to them, so joins still work).
fn policy() -> Value {
    json!([
        {"stream": "customers", "field": "id", "action": "hash"},
        {"stream": "customers", "field": "email", "action": "hash", "normalize": "email"},
        {"stream": "customers", "field": "first_name", "action": "block"},
        {"stream": "customers", "field": "last_name", "action": "block"},
        {"stream": "customers", "field": "phone", "action": "hash"},
        {"stream": "customers", "field": "addresses[].line1", "action": "block"},
        {"stream": "products", "field": "id", "action": "hash"},
        {"stream": "products", "field": "sku", "action": "hash"},
        {"stream": "products", "field": "description", "action": "block"},
        {"stream": "orders", "field": "customer_id", "action": "hash"},
        {"stream": "orders", "field": "shipping_address", "action": "block"},
        {"stream": "orders", "field": "line_items[].product_id", "action": "hash"},
        {"stream": "orders", "field": "line_items[].sku", "action": "hash"},
        {"stream": "orders", "field": "cf_*", "action": "block"},
        {"stream": "order_events", "field": "event_id", "action": "hash"},
        {"stream": "order_events", "field": "properties.tracking_number", "action": "hash"},
        {"stream": "order_events", "field": "properties.note", "action": "block"},
    ])
}

fn policy_config(sandbox: &ecommerce_sandbox::Sandbox) -> Value {
    with(
        api_key_config(sandbox),
        json!({"field_policies": policy(), "hash_key": HASH_KEY}),
    )
}

/// HMAC-SHA256 keyed with [`HASH_KEY`], lowercase hex: computed here with
/// the `hmac` crate, not with the connector's code.
fn hmac_hex(text: &str) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(HASH_KEY.as_bytes()).unwrap();
    mac.update(text.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// A value as the policy hashes it: a string's text (trimmed and
/// lowercased for emails), anything else its compact JSON; null stays null.
fn hashed(value: &Value, email: bool) -> Value {
    match value {
        Value::Null => Value::Null,
        Value::String(text) if email => json!(hmac_hex(&text.trim().to_lowercase())),
        Value::String(text) => json!(hmac_hex(text)),
        other => json!(hmac_hex(&other.to_string())),
    }
}

fn hash_field(record: &mut Map<String, Value>, field: &str, email: bool) {
    if let Some(value) = record.get_mut(field) {
        *value = hashed(value, email);
    }
}

/// Every object of the array `field` of `record`.
fn items<'a>(
    record: &'a mut Map<String, Value>,
    field: &str,
) -> impl Iterator<Item = &'a mut Map<String, Value>> {
    record
        .get_mut(field)
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object_mut)
}

/// The truth's record as the policy should deliver it, written out here
/// field by field.
fn expected(stream: &str, record: &Value) -> Value {
    let mut record = record.clone();
    let fields = record.as_object_mut().unwrap();
    match stream {
        "customers" => {
            hash_field(fields, "id", false);
            hash_field(fields, "email", true);
            fields.remove("first_name");
            fields.remove("last_name");
            hash_field(fields, "phone", false);
            for address in items(fields, "addresses") {
                address.remove("line1");
            }
        }
        "products" => {
            hash_field(fields, "id", false);
            hash_field(fields, "sku", false);
            fields.remove("description");
        }
        "orders" => {
            hash_field(fields, "customer_id", false);
            fields.remove("shipping_address");
            for item in items(fields, "line_items") {
                hash_field(item, "product_id", false);
                hash_field(item, "sku", false);
            }
            fields.retain(|name, _| !name.starts_with("cf_"));
        }
        "order_events" => {
            hash_field(fields, "event_id", false);
            if let Some(properties) = fields.get_mut("properties").and_then(Value::as_object_mut) {
                hash_field(properties, "tracking_number", false);
                properties.remove("note");
            }
        }
        _ => unreachable!("{stream}"),
    }
    record
}

/// The truth of `stream` as the policy delivers it, by (hashed) key.
fn expected_truth(oracle: &Oracle, stream: &str) -> BTreeMap<String, Value> {
    let key = primary_key(stream);
    oracle
        .stream(stream)
        .unwrap()
        .values()
        .map(|record| {
            let record = comparable(&expected(stream, record));
            (record[key].as_str().unwrap().to_owned(), record)
        })
        .collect()
}

/// The clear values of the blocked and hashed fields of `record`.
fn clear_values_of(stream: &str, record: &Value, out: &mut BTreeSet<String>) {
    let mut add = |value: &Value| {
        if let Some(text) = value.as_str() {
            out.insert(text.to_owned());
            out.insert(text.trim().to_lowercase());
        }
    };
    let each = |field: &str| record[field].as_array().cloned().unwrap_or_default();
    match stream {
        "customers" => {
            for field in ["id", "email", "first_name", "last_name", "phone"] {
                add(&record[field]);
            }
            for address in each("addresses") {
                add(&address["line1"]);
            }
        }
        "products" => {
            for field in ["id", "sku", "description"] {
                add(&record[field]);
            }
        }
        "orders" => {
            add(&record["customer_id"]);
            add(&record["shipping_address"]["line1"]);
            for item in each("line_items") {
                add(&item["product_id"]);
                add(&item["sku"]);
            }
        }
        "order_events" => {
            add(&record["event_id"]);
            add(&record["properties"]["tracking_number"]);
            add(&record["properties"]["note"]);
        }
        _ => unreachable!("{stream}"),
    }
}

/// Distinctive clear values, indexed by their first bytes so that every
/// output byte is looked up once rather than every value searched for.
struct ClearValues {
    by_prefix: HashMap<[u8; DISTINCTIVE_CHARS], Vec<String>>,
    count: usize,
}

impl ClearValues {
    /// The clear values of every truth in `oracles`, without those that
    /// the correct output holds by coincidence (a value equal to an
    /// unblocked field somewhere else).
    fn of(oracles: &[&Oracle]) -> Self {
        let mut values = BTreeSet::new();
        let mut correct_output = String::new();
        for oracle in oracles {
            for stream in STREAMS {
                for record in oracle.stream(stream).unwrap().values() {
                    clear_values_of(stream, record, &mut values);
                    correct_output.push_str(&expected(stream, record).to_string());
                }
            }
        }
        let mut forms = BTreeSet::new();
        for value in values {
            // As JSON writes it, too, in case the output escapes it.
            let escaped = serde_json::to_string(&value).unwrap();
            forms.insert(escaped[1..escaped.len() - 1].to_owned());
            forms.insert(value);
        }
        forms.retain(|v| v.len() >= DISTINCTIVE_CHARS);
        let mut clear = ClearValues {
            by_prefix: HashMap::new(),
            count: 0,
        };
        for form in forms {
            let prefix: [u8; DISTINCTIVE_CHARS] =
                form.as_bytes()[..DISTINCTIVE_CHARS].try_into().unwrap();
            clear.by_prefix.entry(prefix).or_default().push(form);
            clear.count += 1;
        }
        let coincidences: BTreeSet<String> = clear.found_in(&correct_output).into_iter().collect();
        for values in clear.by_prefix.values_mut() {
            values.retain(|v| !coincidences.contains(v));
        }
        clear.count -= coincidences.len();
        clear
    }

    /// The clear values `text` contains.
    fn found_in(&self, text: &str) -> Vec<String> {
        let bytes = text.as_bytes();
        let mut found = Vec::new();
        for at in 0..bytes.len().saturating_sub(DISTINCTIVE_CHARS - 1) {
            let prefix: &[u8; DISTINCTIVE_CHARS] =
                bytes[at..at + DISTINCTIVE_CHARS].try_into().unwrap();
            if let Some(values) = self.by_prefix.get(prefix) {
                found.extend(
                    values
                        .iter()
                        .filter(|v| bytes[at..].starts_with(v.as_bytes()))
                        .cloned(),
                );
            }
        }
        found
    }

    fn assert_absent(&self, what: &str, output: &Output) {
        for (name, text) in [("stdout", &output.stdout), ("stderr", &output.stderr)] {
            for line in text.lines() {
                let found = self.found_in(line);
                assert!(
                    found.is_empty(),
                    "{what}: {name} holds the clear value(s) {found:?} in: {line:.400}"
                );
            }
        }
    }
}

/// Runs `read` at debug level.
async fn read_debug(config: &Value, catalog: &Value, state: Option<&Value>) -> Output {
    let inputs = Inputs::new();
    let config = inputs.write("config.json", config);
    let catalog = inputs.write("catalog.json", catalog);
    let state = state.map(|s| inputs.write("state.json", s));
    let mut args = vec![
        "read",
        "--config",
        config.to_str().unwrap(),
        "--catalog",
        catalog.to_str().unwrap(),
    ];
    if let Some(state) = &state {
        args.extend(["--state", state.to_str().unwrap()]);
    }
    run(&args, &[("LOG_LEVEL", "DEBUG")]).await
}

fn faults() -> Faults {
    Faults {
        status_500_every: Some(7),
        status_502_html_every: Some(13),
        truncated_every: Some(11),
        slow_every: Some(9),
        slow_delay: std::time::Duration::from_millis(500),
        ..Faults::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn no_clear_value_reaches_any_output_and_syncs_still_equal_the_truth() {
    let sandbox = sandbox(SandboxConfig {
        mixed_offsets: true,
        faults: faults(),
        ..small(120)
    })
    .await;
    let config = with(
        policy_config(&sandbox),
        json!({"page_size": 50, "checkpoint_interval": 100, "max_retries": 10}),
    );
    let before = sandbox.oracle();

    // A full refresh of the still data set.
    let full = read_debug(&config, &catalog(&STREAMS, "full_refresh"), None).await;
    full.assert_success();
    assert!(!full.logs("DEBUG").is_empty(), "debug logging was on");
    for stream in STREAMS {
        let emitted = latest_by_key(stream, full.records(stream));
        assert_matches_truth(stream, &emitted, &expected_truth(&before, stream));
    }

    // Incremental syncs during updates, inserts and deletes, then a quiet one.
    sandbox.set_writes(Some(WriteLoad {
        writes_per_second: 200.0,
        late_events: false,
        ..WriteLoad::default()
    }));
    let catalog = catalog(&STREAMS, "incremental");
    let first = read_debug(&config, &catalog, None).await;
    first.assert_success();
    sandbox.set_writes(None);
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let second = read_debug(&config, &catalog, Some(&first.state_for_next_sync())).await;
    second.assert_success();
    let after = sandbox.oracle();

    for stream in STREAMS {
        let emitted = latest_by_key(stream, first.records(stream).chain(second.records(stream)));
        assert_matches_truth(stream, &emitted, &expected_truth(&after, stream));
    }
    assert!(
        after
            .stream("customers")
            .unwrap()
            .values()
            .any(|c| !c["deleted_at"].is_null()),
        "some customers were deleted"
    );
    // Events are remembered by their hashed keys: none comes twice.
    let mut seen = BTreeSet::new();
    for event in first
        .records("order_events")
        .chain(second.records("order_events"))
    {
        let key = event["event_id"].as_str().unwrap();
        assert!(seen.insert(key.to_owned()), "event {key} emitted twice");
    }
    assert!(
        second.final_state("order_events")["emitted"]
            .as_object()
            .is_some_and(|seconds| !seconds.is_empty()),
        "the events state remembers the window"
    );

    let clear = ClearValues::of(&[&before, &after]);
    assert!(
        clear.count > 5_000,
        "{} clear values looked for",
        clear.count
    );
    // The search finds what it looks for: the API's own records hold them.
    let sent = serde_json::to_string(before.stream("customers").unwrap()).unwrap();
    assert!(
        clear.found_in(&sent).len() > 1_000,
        "the search finds clear values"
    );
    assert!(
        sandbox.request_log().iter().any(|r| r.status >= 500),
        "faults were on"
    );
    for (what, output) in [
        ("full refresh", &full),
        ("first incremental sync", &first),
        ("second incremental sync", &second),
    ] {
        clear.assert_absent(what, output);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_walk_restarted_after_an_expired_page_token_skips_the_hashed_keys_it_emitted() {
    let sandbox = sandbox(SandboxConfig {
        // Slow answers outlive page tokens: the customers walk restarts and
        // re-reads a second, skipping the keys it remembers, which are the
        // hashed ones.
        page_token_ttl: std::time::Duration::from_millis(400),
        faults: Faults {
            slow_every: Some(3),
            slow_delay: std::time::Duration::from_millis(600),
            ..Faults::default()
        },
        ..small(127)
    })
    .await;
    sandbox.set_writes(Some(WriteLoad {
        writes_per_second: 200.0,
        late_events: false,
        ..WriteLoad::default()
    }));
    let config = with(
        policy_config(&sandbox),
        json!({"page_size": 50, "checkpoint_interval": 100, "max_concurrency": 1}),
    );

    let output = read(&config, &catalog(&["customers"], "incremental"), None).await;

    output.assert_success();
    assert!(
        sandbox.request_log().iter().any(|r| r.status == 400),
        "some page token expired"
    );
    let mut seen = BTreeSet::new();
    for customer in output.records("customers") {
        let key = customer["id"].as_str().unwrap();
        assert_eq!(key.len(), 64, "the key is hashed");
        assert!(seen.insert(key.to_owned()), "customer {key} emitted twice");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hashed_email_joins_on_the_hmac_of_the_trimmed_lowercased_address() {
    let sandbox = sandbox(small(121)).await;
    let output = read(
        &policy_config(&sandbox),
        &catalog(&["customers", "orders"], "full_refresh"),
        None,
    )
    .await;
    output.assert_success();
    let truth = sandbox.oracle();
    let by_hashed_id: BTreeMap<String, &Value> = truth
        .stream("customers")
        .unwrap()
        .values()
        .map(|c| (hmac_hex(c["id"].as_str().unwrap()), c))
        .collect();
    let mut checked = 0;
    for customer in output.records("customers") {
        let clear = by_hashed_id[customer["id"].as_str().unwrap()];
        let email = clear["email"].as_str().unwrap();
        assert_eq!(
            customer["email"],
            json!(hmac_hex(&email.trim().to_lowercase()))
        );
        assert_eq!(customer["email"].as_str().unwrap().len(), 64);
        assert!(customer.get("first_name").is_none() && customer.get("last_name").is_none());
        match &clear["phone"] {
            Value::Null => assert_eq!(customer["phone"], Value::Null, "null stays null"),
            phone => assert_eq!(customer["phone"], json!(hmac_hex(phone.as_str().unwrap()))),
        }
        checked += 1;
    }
    assert!(checked >= 300, "{checked}");
    // Orders refer to customers by the same hash.
    let customers: BTreeSet<&str> = output
        .records("customers")
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    for order in output.records("orders") {
        assert!(
            customers.contains(order["customer_id"].as_str().unwrap()),
            "{order}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_discovered_catalog_reflects_the_policy() {
    let sandbox = sandbox(small(122)).await;
    let config = policy_config(&sandbox);

    let catalog = discovered_catalog(&config).await;

    insta::assert_json_snapshot!("discovered_catalog_with_a_policy", catalog);
    let schema = |stream: &str| {
        catalog["streams"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == stream)
            .unwrap()["json_schema"]
            .clone()
    };
    assert!(
        schema("orders")["properties"]
            .get("shipping_address")
            .is_none()
    );
    assert!(
        !schema("orders")["properties"]
            .as_object()
            .unwrap()
            .keys()
            .any(|k| k.starts_with("cf_")),
        "cf_* blocks every custom field of orders"
    );
    assert!(
        schema("customers")["properties"]
            .as_object()
            .unwrap()
            .keys()
            .any(|k| k.starts_with("cf_")),
        "customers keep theirs"
    );
    // The records of a read agree with the discovered schemas.
    let output = read(&config, &catalog_of_discovered(&catalog), None).await;
    output.assert_success();
    let schemas = RecordSchemas::from_catalog(&catalog);
    for stream in STREAMS {
        assert!(output.records(stream).count() > 0, "{stream}");
        schemas.assert_valid(stream, output.records(stream));
    }
}

/// A full-refresh configured catalog of every stream of `discovered`,
/// schemas included.
fn catalog_of_discovered(discovered: &Value) -> Value {
    json!({
        "streams": discovered["streams"].as_array().unwrap().iter().map(|stream| json!({
            "stream": stream,
            "sync_mode": "full_refresh",
            "destination_sync_mode": "overwrite",
        })).collect::<Vec<_>>()
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn the_singer_tap_applies_the_same_policy_to_its_catalog_and_records() {
    const TAP: &str = env!("CARGO_BIN_EXE_tap-ecommerce");
    let sandbox = sandbox(small(123)).await;
    let config = policy_config(&sandbox);
    let inputs = Inputs::new();
    let config_path = inputs.write("config.json", &config);
    let discovered = tokio::process::Command::new(TAP)
        .args(["--config", config_path.to_str().unwrap(), "--discover"])
        .output()
        .await
        .unwrap();
    assert!(discovered.status.success());
    let singer_catalog: Value = serde_json::from_slice(&discovered.stdout).unwrap();
    let airbyte_catalog = discovered_catalog(&config).await;
    for stream in STREAMS {
        let find = |catalog: &Value, name_key: &str, schema_key: &str| {
            catalog["streams"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s[name_key] == stream)
                .unwrap()[schema_key]
                .clone()
        };
        assert_eq!(
            find(&singer_catalog, "tap_stream_id", "schema"),
            find(&airbyte_catalog, "name", "json_schema"),
            "{stream}: one schema for both"
        );
    }
    let catalog_path = inputs.write("catalog.json", &singer_catalog);
    let read = tokio::process::Command::new(TAP)
        .args([
            "--config",
            config_path.to_str().unwrap(),
            "--catalog",
            catalog_path.to_str().unwrap(),
        ])
        .output()
        .await
        .unwrap();
    assert!(
        read.status.success(),
        "{}",
        String::from_utf8_lossy(&read.stderr)
    );
    let stdout = String::from_utf8(read.stdout).unwrap();
    let output = Output {
        code: 0,
        stdout,
        stderr: String::from_utf8_lossy(&read.stderr).into_owned(),
        messages: Vec::new(),
    };
    ClearValues::of(&[&sandbox.oracle()]).assert_absent("tap-ecommerce", &output);
    let mut orders = 0;
    for line in output.stdout.lines() {
        let message: Value = serde_json::from_str(line).unwrap();
        if message["type"] == "RECORD" && message["stream"] == "orders" {
            assert!(message["record"].get("shipping_address").is_none());
            orders += 1;
        }
        if message["type"] == "SCHEMA" && message["stream"] == "orders" {
            assert!(
                message["schema"]["properties"]
                    .get("shipping_address")
                    .is_none()
            );
        }
    }
    assert!(orders > 0);
}

/// A config with `policy` (and the test's hash key unless `hash_key` is false).
fn config_with(sandbox: &ecommerce_sandbox::Sandbox, policy: Value, hash_key: bool) -> Value {
    let mut config = with(api_key_config(sandbox), json!({"field_policies": policy}));
    if hash_key {
        config["hash_key"] = json!(HASH_KEY);
    }
    config
}

/// Each rule, with what its message must say.
fn broken_policies() -> Vec<(Value, bool, &'static str)> {
    vec![
        (
            json!([{"stream": "customers", "field": "addresses[].line9", "action": "block"}]),
            true,
            "field_policies[0] (customers.addresses[].line9): addresses[] has no field line9",
        ),
        (
            json!([{"stream": "orders", "field": "id", "action": "block"}]),
            true,
            "field_policies[0] (orders.id): id is the stream's primary key",
        ),
        (
            json!([{"stream": "products", "field": "updated_at", "action": "block"}]),
            true,
            "field_policies[0] (products.updated_at): updated_at is the stream's cursor",
        ),
        (
            json!([{"stream": "order_events", "field": "timestamp", "action": "hash"}]),
            true,
            "field_policies[0] (order_events.timestamp): timestamp is the stream's cursor",
        ),
        (
            json!([{"stream": "customers", "field": "email", "action": "hash"}]),
            false,
            "field_policies[0] (customers.email): hashing needs hash_key",
        ),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn check_fails_naming_the_entry_of_each_broken_rule() {
    let sandbox = sandbox(small(124)).await;
    for (policy, hash_key, says) in broken_policies() {
        let output = with_config("check", &config_with(&sandbox, policy, hash_key)).await;
        output.assert_success();
        let status = &output.of_type("CONNECTION_STATUS").next().unwrap()["connectionStatus"];
        assert_eq!(status["status"], "FAILED", "{says}");
        let message = status["message"].as_str().unwrap();
        assert!(message.contains(says), "{says}: {message}");
    }
    assert!(sandbox.request_log().is_empty(), "no check reached the API");
    // A key inside a free-form object is any key.
    let output = with_config(
        "check",
        &config_with(
            &sandbox,
            json!([{"stream": "order_events", "field": "properties.gift_note", "action": "hash"}]),
            true,
        ),
    )
    .await;
    assert_eq!(
        output.of_type("CONNECTION_STATUS").next().unwrap()["connectionStatus"]["status"],
        "SUCCEEDED"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn read_refuses_each_broken_rule_before_any_request() {
    let sandbox = sandbox(small(125)).await;
    for (policy, hash_key, says) in broken_policies() {
        let output = read(
            &config_with(&sandbox, policy, hash_key),
            &catalog(&STREAMS, "incremental"),
            None,
        )
        .await;
        assert_ne!(output.code, 0, "{says}");
        let errors = output.errors();
        assert_eq!(errors.len(), 1, "{says}: {errors:?}");
        assert_eq!(errors[0]["failure_type"], "config_error", "{says}");
        assert!(
            errors[0]["message"].as_str().unwrap().contains(says),
            "{says}: {errors:?}"
        );
        assert_eq!(output.of_type("RECORD").count(), 0);
    }
    assert!(sandbox.request_log().is_empty(), "no read reached the API");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_hash_key_never_appears_in_any_output() {
    let sandbox = sandbox(SandboxConfig {
        faults: faults(),
        ..small(126)
    })
    .await;
    let config = with(policy_config(&sandbox), json!({"page_size": 100}));
    let read = read_debug(&config, &catalog(&STREAMS, "full_refresh"), None).await;
    read.assert_success();
    let broken = with(
        config.clone(),
        json!({"field_policies": [{"stream": "orders", "field": "id", "action": "block"}]}),
    );
    let check = with_config("check", &broken).await;
    for output in [&read, &check] {
        assert!(
            !output.stdout.contains(HASH_KEY),
            "the hash key is in stdout"
        );
        assert!(
            !output.stderr.contains(HASH_KEY),
            "the hash key is in stderr"
        );
    }
}
