//! State: what the platform hands back from earlier syncs, in every shape it
//! uses, parsed once into one typed [`StreamState`] per stream.
//!
//! The connector writes only `STREAM` states. Their blob is a [`StreamState`]:
//! - incremental: `{"cursor": "<RFC 3339 UTC>"}`: every record whose cursor
//!   field is at or before this instant has been emitted;
//! - a walk that was interrupted also carries `"resume"`, the position to
//!   continue from (a full refresh writes only `resume`, and `{}` once it is
//!   complete, the platform's convention for resumable full refresh);
//! - order events also carry `"emitted"`: the events of the lookback window
//!   already emitted, so that the next sync, which reads the window again,
//!   emits only the ones it has not (absent in states of older versions,
//!   which then re-emit the window once).

use std::collections::HashMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};

mod emitted_keys;

pub use emitted_keys::EmittedKeys;

/// The state of one stream, as read and as written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StreamState {
    /// Incremental syncs: every record at or before this instant was emitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<DateTime<Utc>>,
    /// Where an interrupted walk continues.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume: Option<Resume>,
    /// Streams with a lookback: the records of the window already emitted.
    #[serde(default, skip_serializing_if = "EmittedKeys::is_empty")]
    pub emitted: EmittedKeys,
}

/// The position of an interrupted walk.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Resume {
    /// Time-ordered streams: every record at or before this instant was emitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<DateTime<Utc>>,
    /// Page-numbered walks: the next page to read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<u32>,
    /// Page-numbered walks: the last id emitted, to skip records seen again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_id: Option<String>,
    /// Page-numbered walks: `X-Total-Count` at the last page, to notice a
    /// list that shrank while the walk was interrupted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// Client-side incremental walks: the upper bound of the interrupted
    /// sync's window, kept so the resumed walk filters the same window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upper: Option<DateTime<Utc>>,
    /// Client-side incremental walks: the latest cursor emitted so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high_water: Option<DateTime<Utc>>,
}

impl StreamState {
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).expect("stream state always serializes")
    }
}

/// The state file's contents, per stream, not yet interpreted.
#[derive(Debug, Default)]
pub struct InputState {
    blobs: HashMap<String, Value>,
}

/// The JSON of a `--state` file; `None` without the flag or for a file
/// that holds only white space (what platforms pass for "no state").
/// Shared by the Airbyte and Singer sides, which read different shapes.
pub fn read_state_file(path: Option<&Path>) -> Result<Option<Value>> {
    let Some(path) = path else {
        return Ok(None);
    };
    let bytes = std::fs::read(path).map_err(|e| {
        Error::config(format!(
            "Could not read the state file {}: {e}.",
            path.display()
        ))
    })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    crate::config::read_json_file(path, "state").map(Some)
}

impl InputState {
    /// Reads `--state`; no flag, an empty file, `null` and `[]` all mean no state.
    pub fn load(path: Option<&Path>) -> Result<InputState> {
        match read_state_file(path)? {
            Some(value) => InputState::from_value(value),
            None => Ok(InputState::default()),
        }
    }

    /// Accepts an array of `STREAM` states, an array with a `GLOBAL` state,
    /// a `LEGACY` message, or a legacy object keyed by stream name.
    pub fn from_value(value: Value) -> Result<InputState> {
        let mut blobs = HashMap::new();
        match value {
            Value::Null => {}
            Value::Array(messages) => {
                for (index, message) in messages.into_iter().enumerate() {
                    collect_message(message, &mut blobs).map_err(|why| {
                        invalid(format!("entry {index} of the state array {why}"))
                    })?;
                }
            }
            Value::Object(map) if is_state_message(&map) => {
                collect_message(Value::Object(map), &mut blobs)
                    .map_err(|why| invalid(format!("the state message {why}")))?;
            }
            Value::Object(legacy) => collect_legacy(legacy, &mut blobs)?,
            _ => {
                return Err(invalid(
                    "it must be a JSON array of state messages or an object keyed by stream name"
                        .into(),
                ));
            }
        }
        Ok(InputState { blobs })
    }

    /// The state of `stream`, typed; `None` if the state file has none.
    pub fn stream(&self, stream: &str) -> Result<Option<StreamState>> {
        let Some(blob) = self.blobs.get(stream) else {
            return Ok(None);
        };
        if !blob.is_object() {
            return Err(invalid(format!(
                "the state of stream {stream} is not a JSON object"
            )));
        }
        StreamState::deserialize(blob)
            .map(Some)
            .map_err(|e| invalid(format!("the state of stream {stream} is not usable: {e}")))
    }
}

fn invalid(why: String) -> Error {
    Error::config(format!(
        "Invalid state: {why}. Fix or remove the state (a reset of the stream) to continue."
    ))
}

fn is_state_message(map: &serde_json::Map<String, Value>) -> bool {
    ["type", "stream", "global", "data"]
        .iter()
        .any(|key| map.contains_key(*key))
        && map
            .get("type")
            .is_none_or(|t| matches!(t.as_str(), Some("STREAM" | "GLOBAL" | "LEGACY")))
}

fn collect_message(message: Value, blobs: &mut HashMap<String, Value>) -> Result<(), String> {
    let Value::Object(mut message) = message else {
        return Err("is not a JSON object".into());
    };
    let state_type = message
        .get("type")
        .and_then(Value::as_str)
        .map(str::to_owned);
    match state_type.as_deref() {
        Some("STREAM") => {
            let stream = message.remove("stream").ok_or("has no \"stream\"")?;
            collect_stream_state(stream, blobs)
        }
        Some("GLOBAL") => {
            let global = message.remove("global").ok_or("has no \"global\"")?;
            let Value::Object(mut global) = global else {
                return Err("has a \"global\" that is not an object".into());
            };
            let Some(Value::Array(states)) = global.remove("stream_states") else {
                return Err("has no \"global.stream_states\" array".into());
            };
            states
                .into_iter()
                .try_for_each(|state| collect_stream_state(state, blobs))
        }
        Some("LEGACY") | None => {
            let Some(Value::Object(data)) = message.remove("data") else {
                return Err("has neither a known \"type\" nor a \"data\" object".into());
            };
            collect_legacy(data, blobs).map_err(|e| e.message().to_owned())
        }
        Some(other) => Err(format!("has an unknown type {other:?}")),
    }
}

fn collect_stream_state(state: Value, blobs: &mut HashMap<String, Value>) -> Result<(), String> {
    let name = state
        .pointer("/stream_descriptor/name")
        .and_then(Value::as_str)
        .ok_or("has no stream_descriptor.name")?
        .to_owned();
    match state.get("stream_state") {
        None | Some(Value::Null) => {}
        Some(blob) => {
            blobs.insert(name, blob.clone());
        }
    }
    Ok(())
}

fn collect_legacy(
    legacy: serde_json::Map<String, Value>,
    blobs: &mut HashMap<String, Value>,
) -> Result<()> {
    for (name, blob) in legacy {
        if !blob.is_null() {
            blobs.insert(name, blob);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cursor_of(state: &InputState, stream: &str) -> Option<String> {
        state
            .stream(stream)
            .unwrap()
            .and_then(|s| s.cursor)
            .map(|c| c.to_rfc3339())
    }

    #[test]
    fn an_array_of_stream_states_is_read_per_stream() {
        let state = InputState::from_value(json!([
            {"type": "STREAM", "stream": {"stream_descriptor": {"name": "orders"}, "stream_state": {"cursor": "2024-03-01T10:00:00Z"}}},
            {"type": "STREAM", "stream": {"stream_descriptor": {"name": "customers"}, "stream_state": {"cursor": "2024-02-01T00:00:00Z"}}}
        ]))
        .unwrap();
        assert_eq!(
            cursor_of(&state, "orders").unwrap(),
            "2024-03-01T10:00:00+00:00"
        );
        assert_eq!(
            cursor_of(&state, "customers").unwrap(),
            "2024-02-01T00:00:00+00:00"
        );
        assert_eq!(cursor_of(&state, "products"), None);
    }

    #[test]
    fn a_global_state_is_split_into_its_stream_states() {
        let state = InputState::from_value(json!([
            {"type": "GLOBAL", "global": {"shared_state": {}, "stream_states": [
                {"stream_descriptor": {"name": "orders"}, "stream_state": {"cursor": "2024-03-01T10:00:00Z"}}
            ]}}
        ]))
        .unwrap();
        assert!(cursor_of(&state, "orders").is_some());
    }

    #[test]
    fn a_legacy_object_is_keyed_by_stream_name() {
        let state =
            InputState::from_value(json!({"orders": {"cursor": "2024-03-01T10:00:00Z"}})).unwrap();
        assert!(cursor_of(&state, "orders").is_some());
    }

    #[test]
    fn a_legacy_message_carries_its_blob_in_data() {
        let state = InputState::from_value(
            json!([{"type": "LEGACY", "data": {"orders": {"cursor": "2024-03-01T10:00:00Z"}}}]),
        )
        .unwrap();
        assert!(cursor_of(&state, "orders").is_some());
    }

    #[test]
    fn an_empty_array_or_null_means_no_state() {
        assert!(InputState::from_value(json!([])).unwrap().blobs.is_empty());
        assert!(
            InputState::from_value(Value::Null)
                .unwrap()
                .blobs
                .is_empty()
        );
    }

    #[test]
    fn an_empty_file_or_no_flag_means_no_state() {
        let file = tempfile::NamedTempFile::new().unwrap();
        assert!(
            InputState::load(Some(file.path()))
                .unwrap()
                .blobs
                .is_empty()
        );
        assert!(InputState::load(None).unwrap().blobs.is_empty());
    }

    #[test]
    fn malformed_json_is_a_config_error_naming_the_position() {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), "[{\"type\": ").unwrap();
        let error = InputState::load(Some(file.path())).unwrap_err();
        assert_eq!(error.failure_type(), crate::protocol::FailureType::Config);
        assert!(error.message().contains("line 1"), "{}", error.message());
    }

    #[test]
    fn cursors_in_any_offset_are_read_as_utc_instants() {
        let state =
            InputState::from_value(json!({"orders": {"cursor": "2024-03-01T12:00:00+02:00"}}))
                .unwrap();
        assert_eq!(
            cursor_of(&state, "orders").unwrap(),
            "2024-03-01T10:00:00+00:00"
        );
    }

    #[test]
    fn a_cursor_that_is_not_an_instant_names_the_stream() {
        let state = InputState::from_value(json!({"orders": {"cursor": "last tuesday"}})).unwrap();
        let error = state.stream("orders").unwrap_err();
        assert_eq!(error.failure_type(), crate::protocol::FailureType::Config);
        assert!(
            error.message().contains("stream orders"),
            "{}",
            error.message()
        );
    }

    #[test]
    fn a_stream_state_that_is_not_an_object_is_rejected() {
        let state = InputState::from_value(json!({"orders": "2024-03-01"})).unwrap();
        assert!(state.stream("orders").is_err());
    }

    #[test]
    fn a_state_that_is_neither_array_nor_object_is_rejected() {
        assert!(InputState::from_value(json!("cursor")).is_err());
        assert!(InputState::from_value(json!(42)).is_err());
    }

    #[test]
    fn a_stream_state_without_a_descriptor_is_rejected() {
        let error =
            InputState::from_value(json!([{"type": "STREAM", "stream": {"stream_state": {}}}]))
                .unwrap_err();
        assert!(
            error.message().contains("stream_descriptor"),
            "{}",
            error.message()
        );
    }

    #[test]
    fn cursors_are_written_in_utc_with_z() {
        let state = StreamState {
            cursor: Some("2024-03-01T12:00:00+02:00".parse().unwrap()),
            ..StreamState::default()
        };
        assert_eq!(state.to_value(), json!({"cursor": "2024-03-01T10:00:00Z"}));
    }

    #[test]
    fn a_state_without_emitted_events_remembers_none() {
        let state =
            InputState::from_value(json!({"order_events": {"cursor": "2024-03-01T10:00:00Z"}}))
                .unwrap();
        let state = state.stream("order_events").unwrap().unwrap();
        assert!(state.emitted.is_empty());
        assert_eq!(state.to_value(), json!({"cursor": "2024-03-01T10:00:00Z"}));
    }

    #[test]
    fn emitted_events_are_read_and_written_back_by_second() {
        let blob = json!({
            "cursor": "2024-03-01T10:00:00Z",
            "emitted": {"2024-03-01T09:59:00Z": ["evt_1", "evt_2"]}
        });
        let state = InputState::from_value(json!({"order_events": blob.clone()})).unwrap();
        let state = state.stream("order_events").unwrap().unwrap();
        assert!(
            state
                .emitted
                .contains("2024-03-01T09:59:00Z".parse().unwrap(), "evt_2")
        );
        assert_eq!(state.to_value(), blob);
    }

    #[test]
    fn a_completed_full_refresh_writes_an_empty_object() {
        assert_eq!(StreamState::default().to_value(), json!({}));
    }
}
