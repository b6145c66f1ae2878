//! Singer's output format: `SCHEMA` before a stream's first `RECORD`,
//! `RECORD` with `time_extracted`, and `STATE` carrying the bookmarks of
//! every stream, on stdout; logs, statuses and errors as text on stderr.
//!
//! The Airbyte side decides when a state is safe; each of its per-stream
//! states becomes one `STATE` whose bookmarks are the input bookmarks with
//! every stream's latest checkpoint laid over them, because Meltano replaces
//! its stored state whole with the last `STATE` the loader confirms.

use std::io::{self, Write};

use chrono::{SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

use super::catalog::{self, SelectedStream};
use super::state::Bookmarks;
use crate::protocol::{Format, FormatWriter, RecordFrame, StreamId};

/// The Singer format for `streams` (indexed by [`StreamId`]), starting from
/// `bookmarks`.
pub struct Singer {
    streams: Vec<SelectedStream>,
    bookmarks: Bookmarks,
}

impl Singer {
    pub fn new(streams: Vec<SelectedStream>, bookmarks: Bookmarks) -> Self {
        Singer { streams, bookmarks }
    }
}

impl Format for Singer {
    fn record_frame(&self, stream: &str) -> RecordFrame {
        singer_record_frame(
            stream,
            &Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true),
        )
    }

    fn writer(&self) -> Box<dyn FormatWriter> {
        Box::new(SingerWriter {
            schema_sent: vec![false; self.streams.len()],
            streams: self.streams.clone(),
            bookmarks: self.bookmarks.0.clone(),
            log: Box::new(io::stderr()),
        })
    }
}

/// A Singer RECORD line of `stream` extracted at `time_extracted`.
fn singer_record_frame(stream: &str, time_extracted: &str) -> RecordFrame {
    let mut prefix = br#"{"type":"RECORD","stream":"#.to_vec();
    serde_json::to_writer(&mut prefix, stream).expect("writing to a Vec cannot fail");
    prefix.extend_from_slice(br#","record":"#);
    let mut suffix = br#","time_extracted":"#.to_vec();
    serde_json::to_writer(&mut suffix, time_extracted).expect("writing to a Vec cannot fail");
    suffix.extend_from_slice(b"}\n");
    RecordFrame::new(prefix, suffix)
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
enum SingerMessage<'a> {
    Schema {
        stream: &'a str,
        schema: &'a Value,
        key_properties: Vec<&'static str>,
        bookmark_properties: Vec<&'static str>,
    },
    State {
        value: StateValue<'a>,
    },
}

#[derive(Serialize)]
struct StateValue<'a> {
    bookmarks: &'a Map<String, Value>,
}

struct SingerWriter {
    streams: Vec<SelectedStream>,
    schema_sent: Vec<bool>,
    bookmarks: Map<String, Value>,
    /// Where logs go: stderr, never stdout.
    log: Box<dyn Write + Send>,
}

impl SingerWriter {
    fn write_message(out: &mut dyn Write, message: &SingerMessage<'_>) -> io::Result<()> {
        serde_json::to_writer(&mut *out, message)?;
        out.write_all(b"\n")
    }

    fn log_line(&mut self, text: &str) {
        // A closed stderr must not stop the records. The line was scrubbed
        // as JSON; scrubbing the text too covers what unescaping revealed.
        let _ = writeln!(self.log, "{}", crate::secrets::scrub(text));
    }
}

impl FormatWriter for SingerWriter {
    fn records(
        &mut self,
        out: &mut dyn Write,
        stream: StreamId,
        _count: u64,
        bytes: &[u8],
    ) -> io::Result<()> {
        if !self.schema_sent[stream] {
            let selected = &self.streams[stream];
            Self::write_message(
                out,
                &SingerMessage::Schema {
                    stream: selected.def.name,
                    schema: &selected.schema,
                    key_properties: selected.key_properties(),
                    bookmark_properties: selected.bookmark_properties(),
                },
            )?;
            self.schema_sent[stream] = true;
        }
        out.write_all(bytes)
    }

    fn state(&mut self, out: &mut dyn Write, stream: StreamId, blob: &Value) -> io::Result<()> {
        self.bookmarks
            .insert(self.streams[stream].def.name.to_owned(), blob.clone());
        Self::write_message(
            out,
            &SingerMessage::State {
                value: StateValue {
                    bookmarks: &self.bookmarks,
                },
            },
        )
    }

    fn line(&mut self, out: &mut dyn Write, line: &[u8]) -> io::Result<()> {
        let Ok(message) = serde_json::from_slice::<Value>(line) else {
            self.log_line(&String::from_utf8_lossy(line));
            return Ok(());
        };
        if message["type"] == "CATALOG" {
            serde_json::to_writer(&mut *out, &catalog::from_discovered(&message["catalog"]))?;
            return out.write_all(b"\n");
        }
        if let Some(text) = log_text(&message) {
            self.log_line(&text);
        }
        Ok(())
    }
}

/// What an Airbyte message other than a record, state or catalog says, as
/// one line of text for stderr (`LEVEL text`, as Meltano shows tap logs).
fn log_text(message: &Value) -> Option<String> {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    match message["type"].as_str()? {
        "LOG" => Some(format!(
            "{} {}",
            text(&message["log"]["level"]),
            text(&message["log"]["message"])
        )),
        "TRACE" => {
            let trace = &message["trace"];
            match trace["type"].as_str()? {
                "ERROR" => {
                    let error = &trace["error"];
                    let mut line = format!(
                        "ERROR [{}] {}",
                        text(&error["failure_type"]),
                        text(&error["message"])
                    );
                    if let Some(internal) = error["internal_message"].as_str() {
                        line.push_str(&format!(" ({internal})"));
                    }
                    Some(line)
                }
                "STREAM_STATUS" => {
                    let status = &trace["stream_status"];
                    let reasons: Vec<String> = status["reasons"]
                        .as_array()
                        .map(Vec::as_slice)
                        .unwrap_or_default()
                        .iter()
                        .filter_map(|r| r["type"].as_str().map(str::to_owned))
                        .collect();
                    let mut line = format!(
                        "INFO {}: {}",
                        text(&status["stream_descriptor"]["name"]),
                        text(&status["status"])
                    );
                    if !reasons.is_empty() {
                        line.push_str(&format!(" ({})", reasons.join(", ")));
                    }
                    Some(line)
                }
                "ESTIMATE" => Some(format!(
                    "INFO {}: about {} records to read",
                    text(&trace["estimate"]["name"]),
                    trace["estimate"]["row_estimate"]
                )),
                _ => None,
            }
        }
        "CONNECTION_STATUS" => Some(format!("INFO connection {}", message["connectionStatus"])),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Captured;
    use crate::protocol::SyncMode;
    use serde_json::json;

    impl Captured {
        fn lines(&self) -> Vec<Value> {
            String::from_utf8(self.0.lock().unwrap().clone())
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect()
        }
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    fn selected(name: &str) -> SelectedStream {
        let def = crate::streams::find(name).unwrap();
        SelectedStream {
            def,
            mode: SyncMode::Incremental,
            schema: json!({"type": "object", "properties": {"id": {"type": "string"}}}),
        }
    }

    fn writer(streams: &[&str], bookmarks: Value, log: Captured) -> SingerWriter {
        SingerWriter {
            streams: streams.iter().map(|s| selected(s)).collect(),
            schema_sent: vec![false; streams.len()],
            bookmarks: Bookmarks::from_value(bookmarks).unwrap().0,
            log: Box::new(log),
        }
    }

    fn record_lines(stream: &str, n: usize) -> Vec<u8> {
        let frame = singer_record_frame(stream, "2024-01-01T00:00:00.000000Z");
        let mut bytes = Vec::new();
        for i in 0..n {
            let data =
                serde_json::value::RawValue::from_string(format!(r#"{{"id":"{i}"}}"#)).unwrap();
            frame.write(&mut bytes, &data);
        }
        bytes
    }

    #[test]
    fn a_record_line_is_a_singer_record_with_time_extracted() {
        let bytes = record_lines("orders", 1);
        let line: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            line,
            json!({"type": "RECORD", "stream": "orders", "record": {"id": "0"},
                   "time_extracted": "2024-01-01T00:00:00.000000Z"})
        );
    }

    #[test]
    fn the_schema_comes_once_before_the_first_record_of_its_stream() {
        let out = Captured::default();
        let mut w = writer(&["orders", "customers"], Value::Null, Captured::default());
        w.records(&mut out.clone(), 0, 2, &record_lines("orders", 2))
            .unwrap();
        w.records(&mut out.clone(), 1, 1, &record_lines("customers", 1))
            .unwrap();
        w.records(&mut out.clone(), 0, 1, &record_lines("orders", 1))
            .unwrap();
        let kinds: Vec<String> = out
            .lines()
            .iter()
            .map(|m| {
                format!(
                    "{} {}",
                    m["type"].as_str().unwrap(),
                    m["stream"].as_str().unwrap()
                )
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "SCHEMA orders",
                "RECORD orders",
                "RECORD orders",
                "SCHEMA customers",
                "RECORD customers",
                "RECORD orders"
            ]
        );
        let schema = &out.lines()[0];
        assert_eq!(schema["key_properties"], json!(["id"]));
        assert_eq!(schema["bookmark_properties"], json!(["updated_at"]));
        assert_eq!(schema["schema"]["properties"]["id"]["type"], "string");
    }

    #[test]
    fn every_state_carries_all_bookmarks_input_ones_included() {
        let out = Captured::default();
        let input = json!({"bookmarks": {
            "products": {"cursor": "2024-01-01T00:00:00Z"},
            "orders": {"cursor": "2024-01-02T00:00:00Z"}
        }});
        let mut w = writer(&["orders", "customers"], input, Captured::default());
        w.state(
            &mut out.clone(),
            1,
            &json!({"cursor": "2024-02-01T00:00:00Z"}),
        )
        .unwrap();
        w.state(
            &mut out.clone(),
            0,
            &json!({"cursor": "2024-02-02T00:00:00Z"}),
        )
        .unwrap();
        let states = out.lines();
        assert_eq!(
            states[0],
            json!({"type": "STATE", "value": {"bookmarks": {
                "products": {"cursor": "2024-01-01T00:00:00Z"},
                "orders": {"cursor": "2024-01-02T00:00:00Z"},
                "customers": {"cursor": "2024-02-01T00:00:00Z"}
            }}})
        );
        assert_eq!(
            states[1]["value"]["bookmarks"],
            json!({
                "products": {"cursor": "2024-01-01T00:00:00Z"},
                "orders": {"cursor": "2024-02-02T00:00:00Z"},
                "customers": {"cursor": "2024-02-01T00:00:00Z"}
            })
        );
    }

    #[test]
    fn logs_statuses_and_errors_go_to_stderr_as_text_not_to_stdout() {
        let out = Captured::default();
        let log = Captured::default();
        let mut w = writer(&[], Value::Null, log.clone());
        let lines = [
            json!({"type": "LOG", "log": {"level": "WARN", "message": "slow"}}),
            json!({"type": "TRACE", "trace": {"type": "ERROR", "emitted_at": 1.0, "error": {
                "message": "base_url is wrong", "failure_type": "config_error"}}}),
            json!({"type": "TRACE", "trace": {"type": "STREAM_STATUS", "emitted_at": 1.0, "stream_status": {
                "stream_descriptor": {"name": "orders"}, "status": "RUNNING",
                "reasons": [{"type": "RATE_LIMITED"}]}}}),
        ];
        for line in lines {
            w.line(&mut out.clone(), line.to_string().as_bytes())
                .unwrap();
        }
        assert!(out.text().is_empty(), "{}", out.text());
        assert_eq!(
            log.text(),
            "WARN slow\nERROR [config_error] base_url is wrong\nINFO orders: RUNNING (RATE_LIMITED)\n"
        );
    }

    #[test]
    fn a_catalog_becomes_the_singer_catalog_on_stdout() {
        let out = Captured::default();
        let mut w = writer(&[], Value::Null, Captured::default());
        let line = json!({"type": "CATALOG", "catalog": {"streams": [
            {"name": "orders", "json_schema": {"type": "object", "properties": {}}}
        ]}});
        w.line(&mut out.clone(), line.to_string().as_bytes())
            .unwrap();
        let catalog = &out.lines()[0];
        assert_eq!(catalog["streams"][0]["tap_stream_id"], "orders");
    }
}
