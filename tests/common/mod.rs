//! The test harness: a sandbox API in-process, the real connector binary as
//! a subprocess, and checks of what it prints against the Airbyte protocol
//! schema, the stream schemas and the sandbox's oracle.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use ecommerce_sandbox::{Oracle, Sandbox, SandboxConfig};
use serde_json::{Value, json};
use source_ecommerce::streams::ALL;

pub const BINARY: &str = env!("CARGO_BIN_EXE_source-ecommerce");

/// Every stream, in discover's order, from the connector's own list.
pub const STREAMS: [&str; ALL.len()] = {
    let mut names = [""; ALL.len()];
    let mut i = 0;
    while i < ALL.len() {
        names[i] = ALL[i].name;
        i += 1;
    }
    names
};

/// The primary key of each stream (`id` for a stream the connector does
/// not have, as tests of unknown streams write it in their catalogs).
pub fn primary_key(stream: &str) -> &'static str {
    source_ecommerce::streams::find(stream).map_or("id", |s| s.primary_key)
}

/// The cursor field of each stream (`updated_at` for an unknown one).
pub fn cursor_field(stream: &str) -> &'static str {
    source_ecommerce::streams::find(stream).map_or("updated_at", |s| s.cursor_field)
}

/// A sandbox with the rate limit off (tests of the limiter turn it on).
pub async fn sandbox(config: SandboxConfig) -> Sandbox {
    Sandbox::start(config).await.expect("the sandbox starts")
}

/// Sizes small enough for quick tests.
pub fn small(seed: u64) -> SandboxConfig {
    SandboxConfig {
        seed,
        sizes: ecommerce_sandbox::Sizes {
            customers: 300,
            products: 80,
            orders: 3_000,
            order_events: 6_000,
        },
        rate_limit: ecommerce_sandbox::RateLimit::disabled(),
        ..SandboxConfig::default()
    }
}

/// A config with the sandbox's API key, small pages and short timeouts.
pub fn api_key_config(sandbox: &Sandbox) -> Value {
    json!({
        "base_url": sandbox.url(),
        "credentials": {"auth_type": "api_key", "api_key": sandbox.credentials().api_key},
        "page_size": 200,
        "max_retries": 6,
        "max_retry_seconds": 60,
        "request_timeout_seconds": 20,
    })
}

/// Merges `overrides` into `config` (top-level keys).
pub fn with(mut config: Value, overrides: Value) -> Value {
    for (key, value) in overrides.as_object().expect("overrides are an object") {
        config[key] = value.clone();
    }
    config
}

/// A configured catalog of `streams`, each in `mode`.
pub fn catalog(streams: &[&str], mode: &str) -> Value {
    json!({
        "streams": streams.iter().map(|name| json!({
            "stream": {
                "name": name,
                "json_schema": {},
                "supported_sync_modes": ["full_refresh", "incremental"],
                "source_defined_cursor": true,
                "default_cursor_field": [cursor_field(name)],
                "source_defined_primary_key": [[primary_key(name)]],
            },
            "sync_mode": mode,
            "cursor_field": [cursor_field(name)],
            "destination_sync_mode": if mode == "incremental" { "append_dedup" } else { "overwrite" },
            "primary_key": [[primary_key(name)]],
        })).collect::<Vec<_>>()
    })
}

/// Files for one run of the binary, in a temporary directory.
pub struct Inputs {
    dir: tempfile::TempDir,
}

impl Inputs {
    pub fn new() -> Self {
        Inputs {
            dir: tempfile::tempdir().expect("a temporary directory"),
        }
    }

    pub fn write(&self, name: &str, value: &Value) -> PathBuf {
        self.write_raw(name, &serde_json::to_string_pretty(value).unwrap())
    }

    pub fn write_raw(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("writing an input file");
        path
    }

    /// Writes the inputs of a read and returns its flags: `--config`,
    /// `--catalog` and, given a state, `--state`. Airbyte's `read` and the
    /// Singer tap take the same three.
    pub fn read_flags(
        &self,
        config: &Value,
        catalog: &Value,
        state: Option<&Value>,
    ) -> Vec<String> {
        let mut flags = vec![
            "--config".to_owned(),
            self.write("config.json", config).display().to_string(),
            "--catalog".to_owned(),
            self.write("catalog.json", catalog).display().to_string(),
        ];
        if let Some(state) = state {
            flags.push("--state".to_owned());
            flags.push(self.write("state.json", state).display().to_string());
        }
        flags
    }
}

/// What one run of the binary printed.
#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub messages: Vec<Value>,
}

/// Runs the binary with `args` and collects its output. Every stdout line
/// must be an Airbyte message valid against the protocol schema.
pub async fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = tokio::process::Command::new(BINARY);
    command.args(args).kill_on_drop(true);
    for (key, value) in env {
        command.env(key, value);
    }
    let output = tokio::time::timeout(Duration::from_secs(600), command.output())
        .await
        .expect("the connector finishes within 10 minutes")
        .expect("the connector binary runs");
    let stdout = String::from_utf8(output.stdout).expect("stdout is UTF-8");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let messages = stdout
        .lines()
        .enumerate()
        .map(|(number, line)| {
            let message: Value = serde_json::from_str(line).unwrap_or_else(|e| {
                panic!("stdout line {} is not JSON ({e}): {line:.300}", number + 1)
            });
            assert_valid_message(&message, line);
            message
        })
        .collect();
    Output {
        code: output.status.code().unwrap_or(-1),
        stdout,
        stderr,
        messages,
    }
}

/// Runs `read` with these inputs.
pub async fn read(config: &Value, catalog: &Value, state: Option<&Value>) -> Output {
    let inputs = Inputs::new();
    let flags = inputs.read_flags(config, catalog, state);
    let args: Vec<&str> = std::iter::once("read")
        .chain(flags.iter().map(String::as_str))
        .collect();
    run(&args, &[]).await
}

/// Runs a subcommand that takes only `--config`.
pub async fn with_config(subcommand: &str, config: &Value) -> Output {
    let inputs = Inputs::new();
    let config = inputs.write("config.json", config);
    run(&[subcommand, "--config", config.to_str().unwrap()], &[]).await
}

impl Output {
    pub fn of_type<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.messages.iter().filter(move |m| m["type"] == kind)
    }

    /// The data of every RECORD of `stream`, in order.
    pub fn records<'a>(&'a self, stream: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.of_type("RECORD")
            .filter(move |m| m["record"]["stream"] == stream)
            .map(|m| &m["record"]["data"])
    }

    /// The STATE messages of `stream`, in order.
    pub fn states<'a>(&'a self, stream: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.of_type("STATE")
            .filter(move |m| m["state"]["stream"]["stream_descriptor"]["name"] == stream)
    }

    /// The last state blob of `stream`.
    pub fn final_state(&self, stream: &str) -> Value {
        self.states(stream)
            .last()
            .unwrap_or_else(|| panic!("no STATE for {stream}"))["state"]["stream"]["stream_state"]
            .clone()
    }

    /// The state array the platform would pass to the next sync: the last
    /// STATE message of each stream.
    pub fn state_for_next_sync(&self) -> Value {
        let mut last: BTreeMap<String, Value> = BTreeMap::new();
        for state in self.of_type("STATE") {
            let name = state["state"]["stream"]["stream_descriptor"]["name"]
                .as_str()
                .unwrap()
                .to_owned();
            last.insert(name, state["state"].clone());
        }
        Value::Array(last.into_values().collect())
    }

    /// TRACE messages of a trace type (ERROR, ESTIMATE, STREAM_STATUS).
    pub fn traces<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.of_type("TRACE")
            .filter(move |m| m["trace"]["type"] == kind)
            .map(|m| &m["trace"])
    }

    /// The statuses of `stream`, in order.
    pub fn statuses(&self, stream: &str) -> Vec<String> {
        self.traces("STREAM_STATUS")
            .filter(|t| t["stream_status"]["stream_descriptor"]["name"] == stream)
            .map(|t| t["stream_status"]["status"].as_str().unwrap().to_owned())
            .collect()
    }

    pub fn errors(&self) -> Vec<&Value> {
        self.traces("ERROR").map(|t| &t["error"]).collect()
    }

    pub fn logs(&self, level: &str) -> Vec<String> {
        self.of_type("LOG")
            .filter(|m| m["log"]["level"] == level)
            .map(|m| m["log"]["message"].as_str().unwrap().to_owned())
            .collect()
    }

    /// Fails with the output if the run did not succeed.
    pub fn assert_success(&self) -> &Self {
        assert_eq!(
            self.code,
            0,
            "exit {}; errors: {:#?}; stderr: {}",
            self.code,
            self.errors(),
            self.stderr
        );
        self
    }
}

/// The latest version of each record, by primary key: the order of the
/// output decides, as a deduplicating destination would with equal cursors.
pub fn latest_by_key<'a>(
    stream: &str,
    records: impl Iterator<Item = &'a Value>,
) -> BTreeMap<String, Value> {
    let key = primary_key(stream);
    let cursor = cursor_field(stream);
    let mut latest: BTreeMap<String, (chrono::DateTime<chrono::Utc>, Value)> = BTreeMap::new();
    for record in records {
        let id = record[key]
            .as_str()
            .unwrap_or_else(|| panic!("{stream} record without {key}: {record}"))
            .to_owned();
        let at = instant(&record[cursor]);
        match latest.get(&id) {
            Some((seen, _)) if *seen > at => {}
            _ => {
                latest.insert(id, (at, comparable(record)));
            }
        }
    }
    latest
        .into_iter()
        .map(|(id, (_, record))| (id, record))
        .collect()
}

/// The oracle's records of `stream`, normalized; without soft-deleted ones
/// unless `include_deleted`.
pub fn truth(oracle: &Oracle, stream: &str, include_deleted: bool) -> BTreeMap<String, Value> {
    oracle
        .stream(stream)
        .expect("a known stream")
        .iter()
        .filter(|(_, record)| {
            include_deleted || record.get("deleted_at").is_none_or(Value::is_null)
        })
        .map(|(id, record)| (id.clone(), comparable(record)))
        .collect()
}

/// A record as a destination sees it: timestamps in UTC, and custom fields
/// that are null left out. A custom field added later appears as null on
/// every existing record without changing its `updated_at`; in a warehouse,
/// the new column of rows synced before is null too, so both are the same.
pub fn comparable(record: &Value) -> Value {
    let mut record = normalize(record);
    if let Value::Object(map) = &mut record {
        map.retain(|key, value| !(key.starts_with("cf_") && value.is_null()));
    }
    record
}

/// Asserts that the latest emitted version of every record equals the
/// oracle, and says what differs if not.
pub fn assert_matches_truth(
    stream: &str,
    emitted: &BTreeMap<String, Value>,
    truth: &BTreeMap<String, Value>,
) {
    let missing: Vec<&String> = truth
        .keys()
        .filter(|id| !emitted.contains_key(*id))
        .collect();
    let extra: Vec<&String> = emitted
        .keys()
        .filter(|id| !truth.contains_key(*id))
        .collect();
    let stale: Vec<&String> = truth
        .iter()
        .filter(|(id, record)| emitted.get(*id).is_some_and(|e| e != *record))
        .map(|(id, _)| id)
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty() && stale.is_empty(),
        "{stream}: {} missing (e.g. {:?}), {} unexpected (e.g. {:?}), {} stale (e.g. {:?}); {} emitted, {} true",
        missing.len(),
        missing.iter().take(3).collect::<Vec<_>>(),
        extra.len(),
        extra.iter().take(3).collect::<Vec<_>>(),
        stale.len(),
        stale.first().map(|id| (emitted.get(*id), truth.get(*id))),
        emitted.len(),
        truth.len()
    );
}

/// Parses an RFC 3339 instant in any offset.
pub fn instant(value: &Value) -> chrono::DateTime<chrono::Utc> {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("not a timestamp: {value}"));
    chrono::DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("not RFC 3339 ({e}): {text}"))
        .with_timezone(&chrono::Utc)
}

/// The record with every RFC 3339 date-time rewritten in UTC, so that the
/// same instant in two offsets compares equal.
pub fn normalize(value: &Value) -> Value {
    match value {
        Value::String(text) if text.len() >= 20 && text.as_bytes().get(10) == Some(&b'T') => {
            match chrono::DateTime::parse_from_rfc3339(text) {
                Ok(t) => Value::String(
                    t.with_timezone(&chrono::Utc)
                        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
                ),
                Err(_) => value.clone(),
            }
        }
        Value::Array(items) => Value::Array(items.iter().map(normalize).collect()),
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), normalize(v))).collect())
        }
        _ => value.clone(),
    }
}

fn protocol_validator() -> &'static jsonschema::Validator {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/airbyte_protocol.yaml");
        let text = std::fs::read_to_string(path).expect("the protocol schema fixture");
        let protocol: Value = serde_norway::from_str(&text).expect("the protocol schema is YAML");
        let schema = json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "$ref": "#/definitions/AirbyteMessage",
            "definitions": protocol["definitions"],
        });
        jsonschema::draft7::options()
            .should_validate_formats(true)
            .build(&schema)
            .expect("the protocol schema compiles")
    })
}

/// Fails if `message` is not a valid Airbyte message.
pub fn assert_valid_message(message: &Value, line: &str) {
    let errors: Vec<String> = protocol_validator()
        .iter_errors(message)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "invalid Airbyte message {line:.300}: {errors:?}"
    );
}

/// Validators of each stream's record schema, from a `discover` run.
pub struct RecordSchemas(BTreeMap<String, jsonschema::Validator>);

impl RecordSchemas {
    pub fn from_catalog(catalog: &Value) -> Self {
        RecordSchemas(
            catalog["streams"]
                .as_array()
                .expect("a catalog")
                .iter()
                .map(|stream| {
                    let validator = jsonschema::draft7::options()
                        .should_validate_formats(true)
                        .build(&stream["json_schema"])
                        .expect("stream schemas compile");
                    (stream["name"].as_str().unwrap().to_owned(), validator)
                })
                .collect(),
        )
    }

    /// Fails on the first record of `stream` that its schema rejects.
    pub fn assert_valid<'a>(&self, stream: &str, records: impl Iterator<Item = &'a Value>) {
        let validator = &self.0[stream];
        for record in records {
            let errors: Vec<String> = validator
                .iter_errors(record)
                .map(|e| format!("{} at {}", e, e.instance_path()))
                .collect();
            assert!(
                errors.is_empty(),
                "{stream} record {record} breaks its schema: {errors:?}"
            );
        }
    }
}

/// Runs discover and returns its catalog.
pub async fn discovered_catalog(config: &Value) -> Value {
    let output = with_config("discover", config).await;
    output.assert_success();
    output
        .of_type("CATALOG")
        .next()
        .expect("discover prints a CATALOG")["catalog"]
        .clone()
}

/// A web server that answers every request with `status` and an HTML page,
/// like a website or a proxy at a wrong base URL.
pub async fn html_server(status: u16) -> String {
    fixed_server(
        status,
        "text/html; charset=utf-8",
        "<!doctype html><html><body><h1>Not the API</h1></body></html>",
    )
    .await
    .0
}

/// A server that answers every request with the same status and body; the
/// counter tells how many requests it got.
pub async fn fixed_server(
    status: u16,
    content_type: &'static str,
    body: &'static str,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let requests = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = requests.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut buffer = [0u8; 8192];
                let _ = socket.read(&mut buffer).await;
                counter.fetch_add(1, Ordering::SeqCst);
                let response = format!(
                    "HTTP/1.1 {status} Whatever\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nX-Request-Id: req_fixed\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    (url, requests)
}

/// The configs of the three auth methods against `sandbox`.
pub fn auth_configs(sandbox: &Sandbox) -> Vec<(&'static str, Value)> {
    let credentials = sandbox.credentials();
    let base = api_key_config(sandbox);
    vec![
        ("api_key", base.clone()),
        (
            "oauth2_client_credentials",
            with(
                base.clone(),
                json!({"credentials": {
                    "auth_type": "oauth2_client_credentials",
                    "client_id": credentials.client_id,
                    "client_secret": credentials.client_secret,
                }}),
            ),
        ),
        (
            "signed_token",
            with(
                base,
                json!({"credentials": {
                    "auth_type": "signed_token",
                    "key_id": credentials.key_id,
                    "api_secret": credentials.api_secret,
                }}),
            ),
        ),
    ]
}
