//! Serde types of the messages a source writes to stdout.

/// Defined with the error it classifies; part of the protocol as `failure_type`.
pub use crate::error::FailureType;
use serde::Serialize;
use serde_json::value::RawValue;

/// Milliseconds since the Unix epoch, the unit of every `emitted_at`.
pub fn now_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// One line on stdout: `{"type": "...", "<type>": {...}}`.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Message<'a> {
    Record {
        record: RecordMessage<'a>,
    },
    State {
        state: StateMessage<'a>,
    },
    Log {
        log: LogMessage<'a>,
    },
    Spec {
        spec: &'a serde_json::Value,
    },
    ConnectionStatus {
        #[serde(rename = "connectionStatus")]
        connection_status: ConnectionStatus,
    },
    Catalog {
        catalog: &'a super::AirbyteCatalog,
    },
    Trace {
        trace: TraceMessage<'a>,
    },
}

/// A record, its data passed through as the API's raw JSON.
#[derive(Debug, Serialize)]
pub struct RecordMessage<'a> {
    pub stream: &'a str,
    pub data: &'a RawValue,
    pub emitted_at: i64,
}

/// A per-stream checkpoint. Only the `STREAM` state type is ever written.
#[derive(Debug, Serialize)]
pub struct StateMessage<'a> {
    #[serde(rename = "type")]
    pub state_type: &'static str,
    pub stream: StreamState<'a>,
    #[serde(rename = "sourceStats")]
    pub source_stats: SourceStats,
}

impl<'a> StateMessage<'a> {
    /// A `STREAM` state for `name` whose records since the previous state of
    /// that stream number `record_count`.
    pub fn stream(name: &'a str, blob: &'a serde_json::Value, record_count: u64) -> Self {
        StateMessage {
            state_type: "STREAM",
            stream: StreamState {
                stream_descriptor: StreamDescriptor { name },
                stream_state: blob,
            },
            source_stats: SourceStats {
                // The protocol types this as a number "with a decimal point".
                record_count: record_count as f64,
            },
        }
    }
}

#[derive(Debug, Serialize)]
pub struct StreamState<'a> {
    pub stream_descriptor: StreamDescriptor<'a>,
    pub stream_state: &'a serde_json::Value,
}

#[derive(Debug, Serialize)]
pub struct SourceStats {
    #[serde(rename = "recordCount")]
    pub record_count: f64,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct StreamDescriptor<'a> {
    pub name: &'a str,
}

/// Log levels of the protocol, ordered from least to most verbose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, clap::ValueEnum)]
#[serde(rename_all = "UPPERCASE")]
pub enum LogLevel {
    Fatal,
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    /// A level by name, in any case; `warning` and `critical` as Python's
    /// logging spells them.
    pub fn from_name(name: &str) -> Option<LogLevel> {
        Some(match name.trim().to_ascii_lowercase().as_str() {
            "fatal" | "critical" => LogLevel::Fatal,
            "error" => LogLevel::Error,
            "warn" | "warning" => LogLevel::Warn,
            "info" => LogLevel::Info,
            "debug" => LogLevel::Debug,
            "trace" => LogLevel::Trace,
            _ => return None,
        })
    }
}

#[derive(Debug, Serialize)]
pub struct LogMessage<'a> {
    pub level: LogLevel,
    pub message: &'a str,
}

#[derive(Debug, Serialize)]
pub struct ConnectionStatus {
    pub status: ConnectionOutcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ConnectionOutcome {
    Succeeded,
    Failed,
}

impl ConnectionStatus {
    pub fn succeeded() -> Self {
        ConnectionStatus {
            status: ConnectionOutcome::Succeeded,
            message: None,
        }
    }

    pub fn failed(message: impl Into<String>) -> Self {
        ConnectionStatus {
            status: ConnectionOutcome::Failed,
            message: Some(message.into()),
        }
    }
}

/// A TRACE message: an error, an estimate or a stream status.
#[derive(Debug, Serialize)]
pub struct TraceMessage<'a> {
    #[serde(flatten)]
    pub body: TraceBody<'a>,
    pub emitted_at: i64,
}

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TraceBody<'a> {
    Error {
        error: ErrorTrace<'a>,
    },
    Estimate {
        estimate: EstimateTrace<'a>,
    },
    StreamStatus {
        stream_status: StreamStatusTrace<'a>,
    },
}

impl<'a> TraceMessage<'a> {
    pub fn new(body: TraceBody<'a>) -> Self {
        TraceMessage {
            body,
            emitted_at: now_millis(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct ErrorTrace<'a> {
    pub message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub internal_message: Option<&'a str>,
    pub failure_type: FailureType,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_descriptor: Option<StreamDescriptor<'a>>,
}

#[derive(Debug, Serialize)]
pub struct EstimateTrace<'a> {
    pub name: &'a str,
    #[serde(rename = "type")]
    pub estimate_type: &'static str,
    pub row_estimate: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StreamStatus {
    Started,
    Running,
    Complete,
    Incomplete,
}

#[derive(Debug, Serialize)]
pub struct StreamStatusTrace<'a> {
    pub stream_descriptor: StreamDescriptor<'a>,
    pub status: StreamStatus,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<StatusReason>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StatusReason {
    #[serde(rename = "type")]
    pub reason_type: &'static str,
    pub rate_limited: RateLimitedReason,
}

#[derive(Debug, Clone, Serialize)]
pub struct RateLimitedReason {
    /// When the quota resets, in milliseconds since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quota_reset: Option<i64>,
}

impl StatusReason {
    pub fn rate_limited(quota_reset: Option<i64>) -> Self {
        StatusReason {
            reason_type: "RATE_LIMITED",
            rate_limited: RateLimitedReason { quota_reset },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(message: &Message<'_>) -> serde_json::Value {
        serde_json::to_value(message).unwrap()
    }

    #[test]
    fn log_levels_are_read_in_any_case_and_in_pythons_spelling() {
        assert_eq!(LogLevel::from_name("DEBUG"), Some(LogLevel::Debug));
        assert_eq!(LogLevel::from_name("Warning"), Some(LogLevel::Warn));
        assert_eq!(LogLevel::from_name(" info "), Some(LogLevel::Info));
        assert_eq!(LogLevel::from_name(""), None);
        assert_eq!(LogLevel::from_name("verbose"), None);
    }

    #[test]
    fn record_passes_raw_data_through_byte_for_byte() {
        let raw = RawValue::from_string(r#"{"id":"ord_1","total":10.50}"#.into()).unwrap();
        let line = serde_json::to_string(&Message::Record {
            record: RecordMessage {
                stream: "orders",
                data: &raw,
                emitted_at: 1_700_000_000_000,
            },
        })
        .unwrap();
        assert_eq!(
            line,
            r#"{"type":"RECORD","record":{"stream":"orders","data":{"id":"ord_1","total":10.50},"emitted_at":1700000000000}}"#
        );
    }

    #[test]
    fn state_record_count_is_written_with_a_decimal_point() {
        let blob = serde_json::json!({"cursor": "2024-01-01T00:00:00Z"});
        let line = serde_json::to_string(&Message::State {
            state: StateMessage::stream("orders", &blob, 3),
        })
        .unwrap();
        assert!(
            line.contains(r#""sourceStats":{"recordCount":3.0}"#),
            "{line}"
        );
        assert!(line.contains(r#""type":"STREAM""#), "{line}");
    }

    #[test]
    fn trace_carries_its_type_beside_emitted_at() {
        let value = json(&Message::Trace {
            trace: TraceMessage::new(TraceBody::Estimate {
                estimate: EstimateTrace {
                    name: "orders",
                    estimate_type: "STREAM",
                    row_estimate: 10,
                },
            }),
        });
        assert_eq!(value["type"], "TRACE");
        assert_eq!(value["trace"]["type"], "ESTIMATE");
        assert!(value["trace"]["emitted_at"].is_i64());
        assert_eq!(value["trace"]["estimate"]["row_estimate"], 10);
    }

    #[test]
    fn error_trace_names_its_failure_type_in_snake_case() {
        let value = json(&Message::Trace {
            trace: TraceMessage::new(TraceBody::Error {
                error: ErrorTrace {
                    message: "m",
                    internal_message: None,
                    failure_type: FailureType::Config,
                    stream_descriptor: None,
                },
            }),
        });
        assert_eq!(value["trace"]["error"]["failure_type"], "config_error");
    }

    #[test]
    fn connection_status_uses_the_protocols_camel_case_key() {
        let value = json(&Message::ConnectionStatus {
            connection_status: ConnectionStatus::failed("nope"),
        });
        assert_eq!(value["connectionStatus"]["status"], "FAILED");
    }
}
