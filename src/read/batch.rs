//! RECORD lines of one stream, serialized by the stream's own task so that
//! serialization runs in parallel across streams and the stdout writer only
//! copies bytes.

use serde_json::value::RawValue;

use crate::protocol::{Message, Output, RecordMessage, StreamId};

/// RECORD lines of one stream, ready for the stdout writer.
pub struct Batch {
    stream: StreamId,
    name: &'static str,
    emitted_at: i64,
    bytes: Vec<u8>,
    count: u64,
}

impl Batch {
    /// An empty batch sized for a page of `body_len` bytes.
    pub fn new(stream: StreamId, name: &'static str, body_len: usize) -> Self {
        Batch {
            stream,
            name,
            emitted_at: crate::protocol::now_millis(),
            // Each record gains about 80 bytes of envelope.
            bytes: Vec::with_capacity(body_len + body_len / 4),
            count: 0,
        }
    }

    /// Appends one record as a RECORD line.
    pub fn push(&mut self, data: &RawValue) {
        let message = Message::Record {
            record: RecordMessage {
                stream: self.name,
                data,
                emitted_at: self.emitted_at,
            },
        };
        serde_json::to_writer(&mut self.bytes, &message).expect("writing to a Vec cannot fail");
        self.bytes.push(b'\n');
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

    fn raw(json: &str) -> Box<RawValue> {
        RawValue::from_string(json.to_owned()).unwrap()
    }

    #[test]
    fn a_batch_holds_one_record_line_per_record() {
        let mut batch = Batch::new(0, "orders", 100);
        batch.push(&raw(r#"{"id":"ord_1"}"#));
        batch.push(&raw(r#"{"id":"ord_2"}"#));
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
