//! The connector's configuration: checked against `specs/spec.json`, then
//! parsed into types that carry meaning (URLs, instants, secrets).

use std::fmt;
use std::num::{NonZeroU64, NonZeroUsize};
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Deserialize;
use serde_json::Value;
use url::Url;

use crate::error::{Error, Result};

/// The connector specification, embedded at compile time.
pub const SPEC_JSON: &str = include_str!("../specs/spec.json");

/// A secret string. It prints as `***` in `Debug` and has no `Display`, so it
/// cannot end up in a log line or an error message by accident; and every
/// one made is registered with [`crate::secrets`], which masks it in all
/// output should it get there anyway.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret::from_value)
    }
}

impl Secret {
    #[cfg(test)]
    pub fn new(value: impl Into<String>) -> Self {
        Secret::from_value(value.into())
    }

    /// A secret, registered with the output's scrubber.
    pub fn from_value(value: String) -> Self {
        crate::secrets::register(&value);
        Secret(value)
    }

    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// How the connector authenticates; see the `credentials` property of the spec.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "auth_type", rename_all = "snake_case")]
pub enum Credentials {
    ApiKey {
        api_key: Secret,
    },
    #[serde(rename = "oauth2_client_credentials")]
    OAuth2 {
        client_id: String,
        client_secret: Secret,
        #[serde(default)]
        scope: Option<String>,
    },
    SignedToken {
        key_id: Secret,
        api_secret: Secret,
    },
}

impl Credentials {
    /// The API key and the key id travel in HTTP headers, which cannot carry
    /// line breaks, control characters or non-ASCII text (a copy-paste
    /// accident, usually). Caught here, it names the field; caught by the
    /// HTTP client, it would look like a network failure.
    fn check_header_safe(&self) -> Result<()> {
        let (field, value) = match self {
            Credentials::ApiKey { api_key } => ("credentials.api_key", api_key),
            Credentials::SignedToken { key_id, .. } => ("credentials.key_id", key_id),
            Credentials::OAuth2 { .. } => return Ok(()),
        };
        if value.expose().bytes().all(|b| b.is_ascii_graphic()) {
            Ok(())
        } else {
            Err(Error::config(format!(
                "Invalid config: {field} contains spaces, line breaks or characters outside ASCII, which an HTTP header cannot carry; paste it again without them."
            )))
        }
    }
}

/// The parsed configuration, in the types its users need. Defaults are
/// not repeated here: [`Config::from_value`] fills them in from
/// `specs/spec.json`, and the spec's bounds are checked before parsing, so
/// no consumer needs to clamp a value again.
#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    #[serde(deserialize_with = "deserialize_base_url")]
    pub base_url: Url,
    pub credentials: Credentials,
    #[serde(default)]
    pub start_date: Option<DateTime<Utc>>,
    pub include_deleted: bool,
    pub page_size: u32,
    #[serde(default)]
    pub requests_per_second: Option<f64>,
    /// How far before its cursor an incremental sync of order events
    /// re-reads (`events_lookback_minutes`).
    #[serde(
        rename = "events_lookback_minutes",
        deserialize_with = "deserialize_minutes"
    )]
    pub events_lookback: TimeDelta,
    pub max_concurrency: NonZeroUsize,
    /// Records per stream between two checkpoints.
    pub checkpoint_interval: NonZeroU64,
    /// One request, body included (`request_timeout_seconds`).
    #[serde(
        rename = "request_timeout_seconds",
        deserialize_with = "deserialize_seconds"
    )]
    pub request_timeout: Duration,
    /// Opening one connection (`connect_timeout_seconds`).
    #[serde(
        rename = "connect_timeout_seconds",
        deserialize_with = "deserialize_seconds"
    )]
    pub connect_timeout: Duration,
    pub max_retries: u32,
    /// The most one request may spend waiting between its attempts
    /// (`max_retry_seconds`).
    #[serde(rename = "max_retry_seconds", deserialize_with = "deserialize_seconds")]
    pub max_retry_wait: Duration,
    #[serde(default)]
    pub timestamps: TimestampMode,
    /// The most bytes one response body may take, on the wire and
    /// decompressed (`max_response_mb`).
    #[serde(rename = "max_response_mb", deserialize_with = "deserialize_mebibytes")]
    pub max_response_bytes: usize,
    pub compression: Compression,
    /// `field_policies` as written; [`Config::privacy`] is what they mean.
    #[serde(default, rename = "field_policies")]
    pub field_policy_entries: Vec<crate::privacy::FieldPolicyEntry>,
    /// The key of every hash of `field_policies`.
    #[serde(default)]
    pub hash_key: Option<Secret>,
    /// The fields each stream blocks or hashes, checked against the
    /// schemas when the config is parsed.
    #[serde(skip)]
    pub privacy: crate::privacy::FieldPolicies,
}

/// Whether answers are asked for compressed (`compression` in the spec).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    /// `Accept-Encoding: gzip`: fewer bytes on the wire, CPU to inflate.
    Gzip,
    /// Plain answers.
    None,
}

/// How date-time values are written (`timestamps` in the spec).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimestampMode {
    /// The same instant in UTC, with `Z`: what a warehouse that drops the
    /// offset still stores correctly.
    #[default]
    Utc,
    /// Exactly as the API sent them, in any offset.
    AsSent,
}

fn deserialize_minutes<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<TimeDelta, D::Error> {
    let minutes = u32::deserialize(deserializer)?;
    Ok(TimeDelta::minutes(i64::from(minutes)))
}

fn deserialize_seconds<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Duration, D::Error> {
    u64::deserialize(deserializer).map(Duration::from_secs)
}

fn deserialize_mebibytes<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<usize, D::Error> {
    let mebibytes = u64::deserialize(deserializer)?;
    Ok(usize::try_from(mebibytes.saturating_mul(1 << 20)).unwrap_or(usize::MAX))
}

fn deserialize_base_url<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Url, D::Error> {
    let raw = String::deserialize(deserializer)?;
    parse_base_url(&raw).map_err(serde::de::Error::custom)
}

/// Parses the base URL and strips a trailing `/v1` or slash, so that both
/// `https://api.example.com` and `https://api.example.com/v1/` work.
fn parse_base_url(raw: &str) -> std::result::Result<Url, String> {
    let mut url = Url::parse(raw.trim()).map_err(|e| format!("base_url is not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(
            "base_url must start with https:// (or http:// for a local test server)".into(),
        );
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("base_url must not have a query or fragment".into());
    }
    // A user or password in the URL would be printed with every message
    // that names base_url; credentials belong in the credentials field.
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "base_url must not contain a user name or password; put credentials in the credentials field".into(),
        );
    }
    let path = url.path().trim_end_matches('/');
    let path = path.strip_suffix("/v1").unwrap_or(path).to_owned();
    url.set_path(&path);
    Ok(url)
}

impl Config {
    /// Reads, validates and parses the config file.
    pub fn load(path: &Path) -> Result<Config> {
        let value = read_json_file(path, "config")?;
        Config::from_value(&value)
    }

    /// Validates `value` against the spec, then parses it.
    pub fn from_value(value: &Value) -> Result<Config> {
        validate_against_spec(value)?;
        let value = with_spec_defaults(value);
        // Validation already caught wrong types, so a failure here is a
        // value the schema cannot express (an invalid URL, say). Its
        // message names the field; serde's own text could quote a value,
        // so only our own messages are used.
        let config = Config::deserialize(&value).map_err(|e| {
            let text = e.to_string();
            let safe = if text.starts_with("base_url") {
                text
            } else {
                "the config has a value of the wrong shape".to_owned()
            };
            Error::config(format!("Invalid config: {safe}."))
        })?;
        config.credentials.check_header_safe()?;
        let mut config = config;
        config.privacy = crate::privacy::FieldPolicies::compile(
            &config.field_policy_entries,
            config.hash_key.as_ref(),
            config.timestamps,
        )?;
        Ok(config)
    }
}

/// Reads a JSON file given on the command line. Errors are `config_error`s
/// that name the file and the position of a syntax error, never its content.
pub fn read_json_file(path: &Path, what: &str) -> Result<Value> {
    let bytes = std::fs::read(path).map_err(|e| {
        Error::config(format!(
            "Could not read the {what} file {}: {e}.",
            path.display()
        ))
    })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::config(format!(
            "The {what} file {} is empty.",
            path.display()
        )));
    }
    serde_json::from_slice(&bytes).map_err(|e| {
        Error::config(format!(
            "The {what} file {} is not valid JSON: {} at line {}, column {}.",
            path.display(),
            match e.classify() {
                serde_json::error::Category::Eof => "it ends early",
                _ => "syntax error",
            },
            e.line(),
            e.column()
        ))
    })
}

fn connection_specification() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(|| {
        let spec: Value = serde_json::from_str(SPEC_JSON).expect("specs/spec.json is valid JSON");
        spec["connectionSpecification"].clone()
    })
}

/// `value` with every top-level property it leaves out set to the spec's
/// `default`, the one place defaults are written down; the same for the
/// objects of an array property (`normalize` of each `field_policies` entry).
fn with_spec_defaults(value: &Value) -> Value {
    let mut value = value.clone();
    if let (Some(object), Some(properties)) = (
        value.as_object_mut(),
        connection_specification()["properties"].as_object(),
    ) {
        for (name, property) in properties {
            if let Some(default) = property.get("default") {
                object
                    .entry(name.as_str())
                    .or_insert_with(|| default.clone());
            }
            if let (Some(item_properties), Some(Value::Array(items))) = (
                property["items"]["properties"].as_object(),
                object.get_mut(name.as_str()),
            ) {
                for item in items.iter_mut().filter_map(Value::as_object_mut) {
                    for (field, schema) in item_properties {
                        if let Some(default) = schema.get("default") {
                            item.entry(field.as_str())
                                .or_insert_with(|| default.clone());
                        }
                    }
                }
            }
        }
    }
    value
}

/// Checks `value` against the spec's `connectionSpecification`. Messages name
/// the field (`credentials.api_key`) and what is wrong, with values masked.
fn validate_against_spec(value: &Value) -> Result<()> {
    let schema = connection_specification();
    if !value.is_object() {
        return Err(Error::config(
            "Invalid config: it must be a JSON object with base_url and credentials.",
        ));
    }
    let mut problems = schema_problems(schema, value, "");
    // A failed oneOf says little. Validate the credentials against the branch
    // their auth_type selects instead, and say what that branch is missing.
    if let Some(credentials) = value.get("credentials") {
        problems.retain(|p| !p.starts_with("credentials"));
        problems.extend(credential_problems(schema, credentials));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::config(format!(
            "Invalid config: {}.",
            problems.join("; ")
        )))
    }
}

fn credential_problems(schema: &Value, credentials: &Value) -> Vec<String> {
    let branches = schema["properties"]["credentials"]["oneOf"]
        .as_array()
        .expect("the spec's credentials property is a oneOf");
    let auth_type = credentials.get("auth_type").and_then(Value::as_str);
    let allowed: Vec<&str> = branches
        .iter()
        .filter_map(|b| b["properties"]["auth_type"]["const"].as_str())
        .collect();
    let Some(auth_type) = auth_type else {
        return vec![format!(
            "credentials.auth_type is required: one of {}",
            allowed.join(", ")
        )];
    };
    match branches
        .iter()
        .find(|b| b["properties"]["auth_type"]["const"] == auth_type)
    {
        Some(branch) => schema_problems(branch, credentials, "credentials"),
        None => vec![format!(
            "credentials.auth_type must be one of {}",
            allowed.join(", ")
        )],
    }
}

fn schema_problems(schema: &Value, value: &Value, prefix: &str) -> Vec<String> {
    let validator = jsonschema::draft7::options()
        .should_validate_formats(true)
        .build(schema)
        .expect("the spec is a valid draft-07 schema");
    validator
        .iter_errors(value)
        .map(|error| {
            let mut field = prefix.to_owned();
            for segment in error.instance_path().iter() {
                let segment = match segment {
                    jsonschema::paths::LocationSegment::Property(p) => p.to_string(),
                    jsonschema::paths::LocationSegment::Index(i) => i.to_string(),
                };
                if !field.is_empty() {
                    field.push('.');
                }
                field.push_str(&segment);
            }
            let what = error.masked_with("the value").to_string();
            if field.is_empty() {
                what
            } else {
                format!("{field}: {what}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn valid() -> Value {
        json!({
            "base_url": "https://api.shop.example.com",
            "credentials": {"auth_type": "api_key", "api_key": "sk_live_abc"}
        })
    }

    fn error_of(value: Value) -> Error {
        Config::from_value(&value).unwrap_err()
    }

    #[test]
    fn a_minimal_config_gets_the_spec_defaults() {
        let config = Config::from_value(&valid()).unwrap();
        assert_eq!(config.page_size, 1000);
        assert!(config.include_deleted);
        assert_eq!(config.events_lookback, TimeDelta::minutes(10));
        assert_eq!(config.checkpoint_interval.get(), 10_000);
        assert!(config.start_date.is_none());
        assert!(config.requests_per_second.is_none());
        assert_eq!(config.timestamps, TimestampMode::Utc);
    }

    #[test]
    fn timestamps_may_be_kept_as_sent_and_nothing_else() {
        let mut value = valid();
        value["timestamps"] = json!("as_sent");
        assert_eq!(
            Config::from_value(&value).unwrap().timestamps,
            TimestampMode::AsSent
        );
        value["timestamps"] = json!("local");
        assert!(error_of(value).message().contains("timestamps"));
    }

    #[test]
    fn every_spec_default_is_the_configs_default() {
        let config = Config::from_value(&valid()).unwrap();
        let properties = connection_specification()["properties"]
            .as_object()
            .unwrap();
        let defaults: Vec<(&str, &Value)> = properties
            .iter()
            .filter_map(|(name, p)| Some((name.as_str(), p.get("default")?)))
            .collect();
        let from_config = |name: &str| -> Value {
            match name {
                "include_deleted" => json!(config.include_deleted),
                "page_size" => json!(config.page_size),
                "events_lookback_minutes" => json!(config.events_lookback.num_minutes()),
                "max_concurrency" => json!(config.max_concurrency.get()),
                "checkpoint_interval" => json!(config.checkpoint_interval.get()),
                "request_timeout_seconds" => json!(config.request_timeout.as_secs()),
                "connect_timeout_seconds" => json!(config.connect_timeout.as_secs()),
                "max_retries" => json!(config.max_retries),
                "max_retry_seconds" => json!(config.max_retry_wait.as_secs()),
                "max_response_mb" => json!(config.max_response_bytes >> 20),
                "compression" => json!(match config.compression {
                    Compression::Gzip => "gzip",
                    Compression::None => "none",
                }),
                "timestamps" => json!(match config.timestamps {
                    TimestampMode::Utc => "utc",
                    TimestampMode::AsSent => "as_sent",
                }),
                other => panic!("spec property {other} has a default the config does not read"),
            }
        };
        assert!(!defaults.is_empty());
        for (name, default) in defaults {
            assert_eq!(&from_config(name), default, "{name}");
        }
    }

    #[test]
    fn a_field_policy_without_normalize_gets_the_specs_default() {
        let mut value = valid();
        value["field_policies"] =
            json!([{"stream": "customers", "field": "phone", "action": "block"}]);
        let config = Config::from_value(&value).unwrap();
        let default = &connection_specification()["properties"]["field_policies"]["items"]["properties"]
            ["normalize"]["default"];
        assert_eq!(default, "none");
        assert_eq!(
            config.field_policy_entries[0].normalize,
            crate::privacy::Normalize::None
        );
        assert!(config.privacy.for_stream("customers").is_some());
    }

    #[test]
    fn without_field_policies_no_stream_has_a_policy() {
        let config = Config::from_value(&valid()).unwrap();
        assert!(config.privacy.is_empty());
        assert!(config.hash_key.is_none());
    }

    #[test]
    fn a_policy_the_schemas_refuse_is_a_config_error_naming_the_entry() {
        let mut value = valid();
        value["field_policies"] =
            json!([{"stream": "orders", "field": "updated_at", "action": "hash"}]);
        value["hash_key"] = json!("k".repeat(16));
        let error = error_of(value);
        assert_eq!(error.failure_type(), crate::protocol::FailureType::Config);
        assert!(
            error
                .message()
                .contains("field_policies[0] (orders.updated_at)"),
            "{}",
            error.message()
        );
    }

    #[test]
    fn the_spec_shapes_field_policies_and_hash_key() {
        for (policies, hash_key, field) in [
            (
                json!([{"stream": "invoices", "field": "x", "action": "block"}]),
                None,
                "field_policies.0.stream",
            ),
            (
                json!([{"stream": "orders", "field": "id", "action": "scramble"}]),
                None,
                "field_policies.0.action",
            ),
            (
                json!([{"stream": "orders", "field": "id"}]),
                None,
                "field_policies.0",
            ),
            (
                json!([{"stream": "customers", "field": "email", "action": "hash", "normalise": "email"}]),
                None,
                "field_policies.0",
            ),
            (json!([]), Some("short-key"), "hash_key"),
        ] {
            let mut value = valid();
            value["field_policies"] = policies;
            if let Some(key) = hash_key {
                value["hash_key"] = json!(key);
            }
            let message = error_of(value).message().to_owned();
            assert!(message.contains(field), "{field}: {message}");
            assert!(!message.contains("short-key"), "{message}");
        }
    }

    #[test]
    fn the_hash_key_is_a_secret() {
        let mut value = valid();
        value["hash_key"] = json!("hash-key-never-printed");
        let config = Config::from_value(&value).unwrap();
        assert!(!format!("{config:?}").contains("hash-key-never-printed"));
        assert_eq!(
            crate::secrets::scrub("key hash-key-never-printed"),
            "key ****"
        );
    }

    #[test]
    fn a_value_given_in_the_config_is_not_replaced_by_the_default() {
        let mut config = valid();
        config["max_concurrency"] = json!(9);
        let config = Config::from_value(&config).unwrap();
        assert_eq!(config.max_concurrency.get(), 9);
    }

    #[test]
    fn the_spec_minimum_of_the_events_lookback_is_the_streams_own_minimum() {
        let minimum =
            connection_specification()["properties"]["events_lookback_minutes"]["minimum"]
                .as_i64()
                .unwrap();
        let crate::streams::Walk::Keyset(keyset) = crate::streams::ORDER_EVENTS.walk else {
            panic!("order events are a keyset stream");
        };
        assert_eq!(
            keyset.lookback.map(|l| l.minimum),
            Some(TimeDelta::minutes(minimum))
        );
    }

    #[test]
    fn base_url_may_end_with_v1_or_a_slash() {
        for raw in [
            "https://api.example.com",
            "https://api.example.com/",
            "https://api.example.com/v1",
            "https://api.example.com/v1/",
        ] {
            assert_eq!(
                parse_base_url(raw).unwrap().as_str(),
                "https://api.example.com/"
            );
        }
    }

    #[test]
    fn start_date_accepts_any_offset_and_is_kept_in_utc() {
        let mut config = valid();
        config["start_date"] = json!("2024-03-01T12:00:00+02:00");
        let config = Config::from_value(&config).unwrap();
        assert_eq!(
            config.start_date.unwrap().to_rfc3339(),
            "2024-03-01T10:00:00+00:00"
        );
    }

    #[test]
    fn a_missing_credential_field_is_named() {
        let error = error_of(json!({
            "base_url": "https://api.example.com",
            "credentials": {"auth_type": "oauth2_client_credentials", "client_id": "abc"}
        }));
        assert_eq!(error.failure_type(), crate::protocol::FailureType::Config);
        assert!(
            error.message().contains("client_secret"),
            "{}",
            error.message()
        );
    }

    #[test]
    fn an_unknown_auth_type_lists_the_known_ones() {
        let error = error_of(json!({
            "base_url": "https://api.example.com",
            "credentials": {"auth_type": "password"}
        }));
        assert!(
            error
                .message()
                .contains("api_key, oauth2_client_credentials, signed_token"),
            "{}",
            error.message()
        );
    }

    #[test]
    fn a_page_size_out_of_range_names_the_field() {
        let mut config = valid();
        config["page_size"] = json!(5000);
        let error = error_of(config);
        assert!(error.message().contains("page_size"), "{}", error.message());
    }

    #[test]
    fn a_lookback_below_the_visibility_delay_is_rejected() {
        let mut config = valid();
        config["events_lookback_minutes"] = json!(2);
        assert!(
            error_of(config)
                .message()
                .contains("events_lookback_minutes")
        );
    }

    #[test]
    fn a_malformed_start_date_names_the_field() {
        let mut config = valid();
        config["start_date"] = json!("yesterday");
        assert!(error_of(config).message().contains("start_date"));
    }

    #[test]
    fn errors_never_quote_a_secret_of_the_wrong_type() {
        let error = error_of(json!({
            "base_url": "https://api.example.com",
            "credentials": {"auth_type": "api_key", "api_key": 918273645}
        }));
        assert!(
            error.message().contains("credentials.api_key"),
            "{}",
            error.message()
        );
        assert!(
            !error.message().contains("918273645"),
            "{}",
            error.message()
        );
    }

    #[test]
    fn a_non_http_base_url_says_what_is_expected() {
        let mut config = valid();
        config["base_url"] = json!("ftp://api.example.com");
        assert!(error_of(config).message().contains("base_url"));
    }

    #[test]
    fn a_base_url_with_a_password_is_rejected_without_quoting_it() {
        let mut config = valid();
        config["base_url"] = json!("https://shop:hunter2@api.shop.example.com");
        let message = error_of(config).message().to_owned();
        assert!(message.contains("base_url must not contain a user name or password"));
        assert!(!message.contains("hunter2"), "{message}");
    }

    #[test]
    fn an_api_key_that_cannot_be_a_header_names_the_field_without_quoting_it() {
        let mut config = valid();
        config["credentials"]["api_key"] = json!("sk_live_abc\n");
        let message = error_of(config).message().to_owned();
        assert!(message.contains("credentials.api_key"), "{message}");
        assert!(!message.contains("sk_live_abc"), "{message}");
    }

    #[test]
    fn secrets_do_not_show_in_debug_output() {
        let config = Config::from_value(&valid()).unwrap();
        let debug = format!("{config:?}");
        assert!(!debug.contains("sk_live_abc"), "{debug}");
        assert!(debug.contains("***"));
    }
}
