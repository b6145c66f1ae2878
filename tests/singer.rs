//! The Singer tap (`tap-ecommerce`) against the sandbox: every stdout line
//! is a Singer message, SCHEMA precedes records, STATE carries every
//! stream's bookmarks and comes only at safe points, selection follows the
//! catalog's metadata, and errors and secrets stay where they belong.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

const TAP: &str = env!("CARGO_BIN_EXE_tap-ecommerce");

/// What one run of the tap printed, stdout parsed as Singer messages.
struct TapOutput {
    code: i32,
    stdout: String,
    stderr: String,
    messages: Vec<Value>,
}

impl TapOutput {
    fn records<'a>(&'a self, stream: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.messages
            .iter()
            .filter(move |m| m["type"] == "RECORD" && m["stream"] == stream)
            .map(|m| &m["record"])
    }

    fn states(&self) -> Vec<&Value> {
        self.messages
            .iter()
            .filter(|m| m["type"] == "STATE")
            .map(|m| &m["value"])
            .collect()
    }

    fn last_state(&self) -> Value {
        self.states().last().copied().cloned().expect("a STATE")
    }

    fn assert_success(&self) -> &Self {
        assert_eq!(self.code, 0, "exit code; stderr: {:.2000}", self.stderr);
        self
    }
}

/// Fails unless `message` is a Singer message as the specification
/// describes it (and nothing else: no Airbyte message, no log line).
fn assert_singer_message(message: &Value, line: &str) {
    let object = message
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {line:.300}"));
    let keys: Vec<&str> = object.keys().map(String::as_str).collect();
    let strings = |v: &Value| v.as_array().is_some_and(|a| a.iter().all(Value::is_string));
    match message["type"].as_str() {
        Some("RECORD") => {
            assert!(message["stream"].is_string(), "{line:.300}");
            assert!(message["record"].is_object(), "{line:.300}");
            let extracted = message["time_extracted"].as_str().expect("time_extracted");
            chrono::DateTime::parse_from_rfc3339(extracted).expect("time_extracted is RFC 3339");
            assert_eq!(keys, ["type", "stream", "record", "time_extracted"]);
        }
        Some("SCHEMA") => {
            assert!(message["stream"].is_string(), "{line:.300}");
            assert!(message["schema"].is_object(), "{line:.300}");
            assert!(strings(&message["key_properties"]), "{line:.300}");
            assert!(strings(&message["bookmark_properties"]), "{line:.300}");
        }
        Some("STATE") => {
            assert!(message["value"].is_object(), "{line:.300}");
            assert!(message["value"]["bookmarks"].is_object(), "{line:.300}");
            assert_eq!(keys, ["type", "value"]);
        }
        _ => panic!("not a Singer message: {line:.300}"),
    }
}

fn parse_stdout(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .enumerate()
        .map(|(number, line)| {
            let message: Value = serde_json::from_str(line).unwrap_or_else(|e| {
                panic!("stdout line {} is not JSON ({e}): {line:.300}", number + 1)
            });
            assert_singer_message(&message, line);
            message
        })
        .collect()
}

async fn tap(args: &[&str]) -> TapOutput {
    let output = tokio::time::timeout(
        Duration::from_secs(300),
        tokio::process::Command::new(TAP)
            .args(args)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the tap finishes within 5 minutes")
    .expect("the tap runs");
    TapOutput {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8(output.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        messages: Vec::new(),
    }
}

/// `--discover`: stdout must be the catalog and nothing else.
async fn discover(config: &Value) -> Value {
    let inputs = Inputs::new();
    let config = inputs.write("config.json", config);
    let output = tap(&["--config", config.to_str().unwrap(), "--discover"]).await;
    output.assert_success();
    serde_json::from_str(&output.stdout).expect("--discover prints one JSON document")
}

/// A read with these inputs; every stdout line is checked.
async fn read_tap(config: &Value, catalog: &Value, state: Option<&Value>) -> TapOutput {
    let inputs = Inputs::new();
    let flags = inputs.read_flags(config, catalog, state);
    let args: Vec<&str> = flags.iter().map(String::as_str).collect();
    let mut output = tap(&args).await;
    output.messages = parse_stdout(&output.stdout);
    output
}

/// The discovered catalog with only `streams` selected.
fn selecting(catalog: &Value, streams: &[&str]) -> Value {
    let mut catalog = catalog.clone();
    for stream in catalog["streams"].as_array_mut().unwrap() {
        let chosen = streams.contains(&stream["tap_stream_id"].as_str().unwrap());
        stream["metadata"][0]["metadata"]["selected"] = json!(chosen);
    }
    catalog
}

#[tokio::test(flavor = "multi_thread")]
async fn every_stdout_line_is_a_singer_message_and_schema_precedes_each_streams_records() {
    let sandbox = sandbox(small(61)).await;
    let config = api_key_config(&sandbox);
    let catalog = discover(&config).await;
    let output = read_tap(&config, &catalog, None).await;
    output.assert_success();

    let mut schemas: BTreeMap<String, jsonschema::Validator> = BTreeMap::new();
    for message in &output.messages {
        let stream = message["stream"].as_str().unwrap_or_default();
        match message["type"].as_str().unwrap() {
            "SCHEMA" => {
                assert!(!schemas.contains_key(stream), "a second SCHEMA of {stream}");
                schemas.insert(
                    stream.to_owned(),
                    jsonschema::draft7::options()
                        .should_validate_formats(true)
                        .build(&message["schema"])
                        .expect("the SCHEMA's schema compiles"),
                );
            }
            "RECORD" => {
                let schema = schemas
                    .get(stream)
                    .unwrap_or_else(|| panic!("a {stream} RECORD before its SCHEMA"));
                let errors: Vec<String> = schema
                    .iter_errors(&message["record"])
                    .map(|e| e.to_string())
                    .collect();
                assert!(errors.is_empty(), "{stream}: {errors:?}");
            }
            _ => {}
        }
    }
    let schema_of = |stream: &str| {
        output
            .messages
            .iter()
            .find(|m| m["type"] == "SCHEMA" && m["stream"] == stream)
            .cloned()
            .unwrap()
    };
    assert_eq!(
        schema_of("order_events")["key_properties"],
        json!(["event_id"])
    );
    assert_eq!(
        schema_of("order_events")["bookmark_properties"],
        json!(["timestamp"])
    );
    // Everything else is on stderr, as text.
    assert!(
        output.stderr.contains("INFO orders: COMPLETE"),
        "{}",
        output.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_read_delivers_every_record_as_the_airbyte_source_does() {
    let sandbox = sandbox(small(62)).await;
    let config = api_key_config(&sandbox);
    let output = read_tap(&config, &discover(&config).await, None).await;
    output.assert_success();
    for stream in STREAMS {
        let emitted = latest_by_key(stream, output.records(stream));
        assert_matches_truth(stream, &emitted, &truth(&sandbox.oracle(), stream, true));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn discover_prints_the_catalog_with_selection_metadata_and_custom_fields() {
    let sandbox = sandbox(small(63)).await;
    let catalog = discover(&api_key_config(&sandbox)).await;
    let streams = catalog["streams"].as_array().unwrap();
    let names: Vec<&str> = streams
        .iter()
        .map(|s| s["tap_stream_id"].as_str().unwrap())
        .collect();
    assert_eq!(names, STREAMS);
    let orders = &streams[2];
    assert!(orders["schema"]["properties"]["cf_gift_wrap"].is_object());
    let root = &orders["metadata"][0];
    assert_eq!(root["breadcrumb"], json!([]));
    for key in [
        "selected",
        "inclusion",
        "forced-replication-method",
        "valid-replication-keys",
    ] {
        assert!(root["metadata"].get(key).is_some(), "{key}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stream_not_selected_is_not_read() {
    let sandbox = sandbox(small(64)).await;
    let config = api_key_config(&sandbox);
    let catalog = selecting(&discover(&config).await, &["products"]);
    let output = read_tap(&config, &catalog, None).await;
    output.assert_success();
    let streams: std::collections::BTreeSet<&str> = output
        .messages
        .iter()
        .filter_map(|m| m["stream"].as_str())
        .collect();
    assert_eq!(streams.into_iter().collect::<Vec<_>>(), ["products"]);
    let requests = sandbox.request_log();
    assert!(
        requests.iter().all(|r| !r.path.starts_with("/v1/orders")),
        "orders was requested"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_state_carries_the_bookmarks_of_all_streams_input_ones_included() {
    let sandbox = sandbox(small(65)).await;
    let config = with(
        api_key_config(&sandbox),
        json!({"checkpoint_interval": 500}),
    );
    let discovered = discover(&config).await;
    let first = read_tap(&config, &selecting(&discovered, &["products"]), None).await;
    first.assert_success();
    let products = first.last_state()["bookmarks"]["products"].clone();
    assert!(products["cursor"].is_string(), "{products}");

    // A later run reads other streams; products' bookmark must survive it,
    // and so must one of a stream this tap does not know.
    let mut input = first.last_state();
    input["bookmarks"]["retired_stream"] = json!({"anything": 1});
    let second = read_tap(
        &config,
        &selecting(&discovered, &["orders", "customers"]),
        Some(&input),
    )
    .await;
    second.assert_success();
    let states = second.states();
    assert!(states.len() > 2, "checkpoints every 500 records");
    for state in &states {
        assert_eq!(state["bookmarks"]["products"], products);
        assert_eq!(state["bookmarks"]["retired_stream"], json!({"anything": 1}));
    }
    let last = second.last_state();
    for stream in ["orders", "customers"] {
        assert!(
            last["bookmarks"][stream]["cursor"].is_string(),
            "{stream}: {last}"
        );
    }
}

/// Runs the tap and SIGKILLs it right after its `states`-th STATE; returns
/// the messages up to that STATE.
async fn read_killed_after_state(
    config: &Value,
    catalog: &Value,
    state: Option<&Value>,
    states: usize,
) -> Vec<Value> {
    let inputs = Inputs::new();
    let mut args = vec![
        "--config".to_owned(),
        inputs.write("config.json", config).display().to_string(),
        "--catalog".to_owned(),
        inputs.write("catalog.json", catalog).display().to_string(),
    ];
    if let Some(state) = state {
        args.extend([
            "--state".to_owned(),
            inputs.write("state.json", state).display().to_string(),
        ]);
    }
    let mut child = tokio::process::Command::new(TAP)
        .args(&args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut messages = Vec::new();
    let mut seen = 0;
    while seen < states {
        match tokio::time::timeout(Duration::from_secs(60), reader.next_line()).await {
            Ok(Ok(Some(line))) => {
                let message: Value = serde_json::from_str(&line).unwrap();
                assert_singer_message(&message, &line);
                seen += usize::from(message["type"] == "STATE");
                messages.push(message);
            }
            _ => break,
        }
    }
    child.start_kill().unwrap(); // SIGKILL
    let _ = child.wait().await;
    messages
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tap_killed_after_a_state_resumes_from_it_without_losing_a_record() {
    let sandbox = sandbox(small(66)).await;
    let config = with(
        api_key_config(&sandbox),
        json!({"checkpoint_interval": 300}),
    );
    let catalog = discover(&config).await;
    for kill_after in [1, 4, 9] {
        let killed = read_killed_after_state(&config, &catalog, None, kill_after).await;
        let last_state = killed
            .iter()
            .rev()
            .find(|m| m["type"] == "STATE")
            .map(|m| m["value"].clone())
            .expect("a STATE before the kill");
        let resumed = read_tap(&config, &catalog, Some(&last_state)).await;
        resumed.assert_success();
        for stream in STREAMS {
            let before = killed
                .iter()
                .filter(|m| m["type"] == "RECORD" && m["stream"] == stream)
                .map(|m| &m["record"]);
            let emitted = latest_by_key(stream, before.chain(resumed.records(stream)));
            assert_matches_truth(stream, &emitted, &truth(&sandbox.oracle(), stream, true));
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_config_error_names_the_field_on_stderr_and_prints_nothing_on_stdout() {
    let sandbox = sandbox(small(67)).await;
    let config = api_key_config(&sandbox);
    let catalog = discover(&config).await;
    let output = read_tap(&with(config, json!({"page_size": 0})), &catalog, None).await;
    assert_eq!(output.code, 1);
    assert!(output.stdout.is_empty(), "{}", output.stdout);
    assert!(output.stderr.contains("config_error"), "{}", output.stderr);
    assert!(output.stderr.contains("page_size"), "{}", output.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn rejected_credentials_are_a_config_error_and_no_secret_is_printed() {
    let sandbox = sandbox(small(68)).await;
    let secret = "sk_live_wrong_but_secret_42";
    let config = json!({
        "base_url": sandbox.url(),
        "credentials": {"auth_type": "api_key", "api_key": secret},
    });
    let inputs = Inputs::new();
    let config_path = inputs.write("config.json", &config);
    let catalog = inputs.write("catalog.json", &discover(&api_key_config(&sandbox)).await);
    let output = tap(&[
        "--config",
        config_path.to_str().unwrap(),
        "--catalog",
        catalog.to_str().unwrap(),
        "--log-level",
        "debug",
    ])
    .await;
    assert_eq!(output.code, 1, "{}", output.stderr);
    assert!(output.stderr.contains("config_error"), "{}", output.stderr);
    assert!(!output.stderr.contains(secret) && !output.stdout.contains(secret));
}

#[tokio::test(flavor = "multi_thread")]
async fn about_describes_capabilities_and_dotted_sensitive_settings() {
    let output = tap(&["--about", "--format", "json"]).await;
    output.assert_success();
    let about: Value = serde_json::from_str(&output.stdout).unwrap();
    assert_eq!(
        about["capabilities"],
        json!(["catalog", "discover", "state", "about"])
    );
    let api_key = about["setting_list"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "credentials.api_key")
        .expect("credentials.api_key");
    assert_eq!(api_key["sensitive"], true);
    let markdown = tap(&["--about", "--format", "markdown"]).await;
    markdown.assert_success();
    assert!(markdown.stdout.starts_with("# tap-ecommerce"));
}

#[tokio::test(flavor = "multi_thread")]
async fn reading_without_a_catalog_is_a_usage_error() {
    let output = tap(&["--config", "config.json"]).await;
    assert_eq!(output.code, 2);
    assert!(output.stdout.is_empty());
    assert!(output.stderr.contains("--catalog"), "{}", output.stderr);
}
