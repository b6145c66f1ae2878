//! RECORD lines of one stream, serialized by the stream's own task so that
//! serialization runs in parallel across streams and the stdout writer only
//! copies bytes.

use std::borrow::Cow;
use std::sync::Arc;

use crate::http::BodyError;
use crate::json_page::RawRecord;
use crate::privacy::StreamPolicy;
use crate::protocol::{Output, RecordFrame, StreamId};
use crate::timestamps::StreamTimestamps;

/// RECORD lines of one stream, ready for the stdout writer.
pub struct Batch {
    stream: StreamId,
    /// The bytes around each record's data, in the output's format.
    frame: RecordFrame,
    bytes: Vec<u8>,
    count: u64,
    /// Date-times to UTC (issue 11); `None` passes records through as sent.
    utc: Option<Arc<StreamTimestamps>>,
    /// Warnings about the records (a date-time field that holds no
    /// date-time), for the sink to log before the records go out.
    warnings: Vec<String>,
    /// The stream's field policy (issue 12); `None` keeps the fast path.
    policy: Option<Arc<StreamPolicy>>,
    /// The record the policy writes, reused from record to record.
    scratch: String,
}

impl Batch {
    /// An empty batch of lines framed by `frame`, sized for a page of
    /// `body_len` bytes.
    pub fn new(stream: StreamId, frame: RecordFrame, body_len: usize) -> Self {
        Batch {
            stream,
            frame,
            // Each record gains about 80 bytes of envelope.
            bytes: Vec::with_capacity(body_len + body_len / 4),
            count: 0,
            utc: None,
            warnings: Vec::new(),
            policy: None,
            scratch: String::new(),
        }
    }

    /// Applies the stream's field policy to every record pushed.
    pub fn with_policy(mut self, policy: Option<Arc<StreamPolicy>>) -> Self {
        self.policy = policy;
        self
    }

    /// Rewrites the date-times of every record pushed to UTC.
    pub fn with_utc(mut self, utc: Option<Arc<StreamTimestamps>>) -> Self {
        self.utc = utc;
        self
    }

    /// Appends one record as a RECORD line: date-times in UTC first, so
    /// that the policy hashes the instants the destination would get, then
    /// the policy. A record the policy cannot walk is an error that never
    /// quotes it.
    pub fn push(&mut self, data: RawRecord<'_>) -> Result<(), BodyError> {
        let Some(policy) = &self.policy else {
            match &self.utc {
                Some(utc) => {
                    let warnings = &mut self.warnings;
                    self.frame.write_with(&mut self.bytes, |out| {
                        utc.write_utc(data.get(), out, |warning| warnings.push(warning))
                    });
                    self.count += 1;
                }
                None => self.push_as_sent(data),
            }
            return Ok(());
        };
        let text = match &self.utc {
            Some(utc) => {
                let warnings = &mut self.warnings;
                utc.to_utc(data.get(), |warning| warnings.push(warning))
            }
            None => Cow::Borrowed(data.get()),
        };
        let mut out = std::mem::take(&mut self.scratch);
        out.clear();
        let applied = policy.apply(&text, &mut out);
        if applied.is_ok() {
            self.push_rewritten(&out);
        }
        self.scratch = out;
        applied.map_err(|_| {
            BodyError::fatal(
                "a record is not a JSON object the field policy can walk; it was not emitted",
            )
        })
    }

    /// The warnings gathered so far, for the sink to log.
    pub fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }

    /// A line around `data`, which is JSON: the rewrite only changed string
    /// contents of a record serde_json validated.
    fn push_rewritten(&mut self, data: &str) {
        self.frame.write_str(&mut self.bytes, data);
        self.count += 1;
    }

    fn push_as_sent(&mut self, data: RawRecord<'_>) {
        self.frame.write_str(&mut self.bytes, data.get());
        self.count += 1;
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn into_output(self) -> Output {
        Output::Records {
            stream: self.stream,
            count: self.count,
            bytes: self.bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(json: &str) -> RawRecord<'_> {
        RawRecord::new(json).expect("a JSON value")
    }

    fn lines_of(batch: Batch) -> Vec<String> {
        let Output::Records { bytes, .. } = batch.into_output() else {
            unreachable!()
        };
        String::from_utf8(bytes)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn utc_batch_of(field: &str) -> Batch {
        let schema =
            serde_json::json!({"properties": {field: {"type": "string", "format": "date-time"}}});
        let plan = crate::timestamps::DateTimePlan::from_schema(&schema);
        Batch::new(0, RecordFrame::airbyte("orders", 1), 100)
            .with_utc(Some(Arc::new(StreamTimestamps::new("orders", plan))))
    }

    #[test]
    fn a_rewritten_record_has_the_same_envelope_as_one_passed_through() {
        let mut rewritten = utc_batch_of("at");
        let mut as_sent = Batch::new(0, RecordFrame::airbyte("orders", 1), 100);
        rewritten
            .push(raw(r#"{"id":"o1","at":"2024-03-01T12:00:00+02:00"}"#))
            .unwrap();
        rewritten
            .push(raw(r#"{"id":"o2","at":"2024-03-01T10:00:00Z"}"#))
            .unwrap();
        as_sent
            .push(raw(r#"{"id":"o1","at":"2024-03-01T10:00:00Z"}"#))
            .unwrap();
        as_sent
            .push(raw(r#"{"id":"o2","at":"2024-03-01T10:00:00Z"}"#))
            .unwrap();
        assert_eq!(rewritten.count(), 2);
        assert_eq!(lines_of(rewritten), lines_of(as_sent));
    }

    #[test]
    fn without_a_rewrite_records_keep_every_offset() {
        let mut batch = Batch::new(0, RecordFrame::airbyte("orders", 1), 100);
        batch
            .push(raw(r#"{"id":"o1","at":"2024-03-01T12:00:00+02:00"}"#))
            .unwrap();
        assert!(lines_of(batch)[0].contains(r#""at":"2024-03-01T12:00:00+02:00""#));
    }

    #[test]
    fn a_field_that_is_not_a_date_time_is_warned_about_once_and_kept() {
        let mut batch = utc_batch_of("at");
        batch
            .push(raw(r#"{"id":"o1","at":"soon","n":"12:00:00+02:00"}"#))
            .unwrap();
        batch
            .push(raw(r#"{"id":"o2","at":"later","n":"12:00:00+02:00"}"#))
            .unwrap();
        assert_eq!(batch.count(), 2);
        assert_eq!(batch.take_warnings().len(), 1);
        let lines = lines_of(batch);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].contains(r#""at":"soon""#));
    }

    #[test]
    fn the_cursor_of_a_rewritten_record_is_the_instant_the_state_uses() {
        let reader = super::super::keys::KeyReader::new("id", "updated_at");
        let sent = raw(r#"{"id":"o1","updated_at":"2024-03-01T00:30:00-09:30"}"#);
        let mut batch = utc_batch_of("updated_at");
        batch.push(sent).unwrap();
        let line: serde_json::Value = serde_json::from_str(&lines_of(batch)[0]).unwrap();
        let emitted = line["record"]["data"]["updated_at"].as_str().unwrap();
        assert_eq!(emitted, "2024-03-01T10:00:00Z");
        assert_eq!(
            super::super::slice_checkpoints::api_instant(reader.read(sent).unwrap().cursor),
            emitted
        );
    }

    fn policy_of(entries: serde_json::Value) -> Arc<StreamPolicy> {
        let entries: Vec<crate::privacy::FieldPolicyEntry> =
            serde_json::from_value(entries).unwrap();
        crate::privacy::FieldPolicies::compile(
            &entries,
            Some(&crate::config::Secret::new("test-hash-key-0123456789")),
            crate::config::TimestampMode::Utc,
        )
        .unwrap()
        .for_stream("orders")
        .unwrap()
    }

    #[test]
    fn a_policy_applies_to_the_record_after_its_date_times_are_in_utc() {
        let policy = policy_of(serde_json::json!([
            {"stream": "orders", "field": "shipping_address", "action": "block", "normalize": "none"},
            {"stream": "orders", "field": "created_at", "action": "hash", "normalize": "none"},
        ]));
        let mut shifted = utc_batch_of("at").with_policy(Some(policy.clone()));
        let mut in_utc =
            Batch::new(0, RecordFrame::airbyte("orders", 1), 100).with_policy(Some(policy));
        shifted
            .push(raw(r#"{"id":"o1","at":"2024-03-01T12:00:00+02:00","created_at":"2024-03-01T12:00:00+02:00","shipping_address":{"line1":"1 Main St"}}"#))
            .unwrap();
        in_utc
            .push(raw(r#"{"id":"o1","at":"2024-03-01T10:00:00Z","created_at":"2024-03-01T10:00:00Z","shipping_address":null}"#))
            .unwrap();
        let (shifted, in_utc) = (lines_of(shifted), lines_of(in_utc));
        assert_eq!(shifted, in_utc);
        assert!(!shifted[0].contains("Main St"), "{shifted:?}");
        assert!(!shifted[0].contains("shipping_address"), "{shifted:?}");
    }

    #[test]
    fn a_record_the_policy_cannot_walk_is_an_error_without_its_text() {
        let policy = policy_of(serde_json::json!([
            {"stream": "orders", "field": "shipping_address", "action": "block", "normalize": "none"},
        ]));
        let mut batch =
            Batch::new(0, RecordFrame::airbyte("orders", 1), 100).with_policy(Some(policy));
        let error = batch.push(raw(r#"["1 Main St"]"#)).unwrap_err();
        assert!(!error.detail.contains("Main St"), "{error}");
        assert!(batch.is_empty());
    }

    #[test]
    fn a_batch_holds_one_record_line_per_record() {
        let mut batch = Batch::new(0, RecordFrame::airbyte("orders", 1), 100);
        batch.push(raw(r#"{"id":"ord_1"}"#)).unwrap();
        batch.push(raw(r#"{"id":"ord_2"}"#)).unwrap();
        assert_eq!(batch.count(), 2);
        let Output::Records { bytes, count, .. } = batch.into_output() else {
            unreachable!()
        };
        assert_eq!(count, 2);
        let text = String::from_utf8(bytes).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(
            lines[0].starts_with(
                r#"{"type":"RECORD","record":{"stream":"orders","data":{"id":"ord_1"}"#
            )
        );
    }
}
